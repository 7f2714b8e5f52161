-- De-identification of images in clean (pipeline/clean/deid.py): one decision row per image the image unit
-- checked, one row per face or line of personal text found on it. A blurred or masked copy is stored as a new
-- image (content-addressed, in preprocess_images, which clean adds to when it has a copy) and the pair stage
-- takes it in place of the original (pair.stage: COALESCE(clean_deid.out_image_id, canonical_id)), so the
-- original never reaches the export. Rows belong to the image unit and are replaced when it is redone (its
-- fingerprint holds the deid settings and the detectors' versions).
CREATE TABLE clean_deid (
    image_id VARCHAR PRIMARY KEY,       -- the original (preprocess_images.image_id)
    unit_key VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    action VARCHAR NOT NULL,            -- clean | blurred | masked | blurred+masked | rejected | kept | unchecked
    reason VARCHAR,                     -- the reject reason (deid_face, deid_face_closeup, deid_burned_in_text)
    out_image_id VARCHAR,               -- the de-identified copy the pairs use (NULL: the original is used)
    n_faces INTEGER NOT NULL,
    n_text_lines INTEGER NOT NULL,
    face_policy VARCHAR NOT NULL,       -- deid.faces: blur | reject | keep (face_region in detail)
    text_policy VARCHAR NOT NULL,       -- deid.burned_in_text: mask | reject | keep
    face_detector VARCHAR,              -- name:version of the detector that ran (NULL: none installed)
    text_reader VARCHAR,                -- name:version of the OCR that ran (NULL: none installed)
    detail VARCHAR
);

CREATE TABLE clean_deid_findings (
    image_id VARCHAR NOT NULL,
    finding_index INTEGER NOT NULL,
    unit_key VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,              -- face | text
    x INTEGER NOT NULL,                 -- box in the original image's pixels
    y INTEGER NOT NULL,
    w INTEGER NOT NULL,
    h INTEGER NOT NULL,
    confidence DOUBLE NOT NULL,         -- face: detector score 0-1; text: mean Tesseract word confidence 0-100
    labels VARCHAR,                     -- text: the personal data found on the line ([DATE],[ID],...); never the text
    detector VARCHAR NOT NULL,          -- name:version
    action VARCHAR NOT NULL,            -- blurred | masked | rejected | kept
    PRIMARY KEY (image_id, finding_index)
);
