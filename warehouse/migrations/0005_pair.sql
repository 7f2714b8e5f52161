-- Stage 4, pair: one image with one text.
CREATE TABLE pair_image_texts (
    pair_id VARCHAR PRIMARY KEY,        -- the image ref it came from
    unit_key VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    image_id VARCHAR NOT NULL,          -- canonical image of the near-duplicate cluster
    source_image_id VARCHAR NOT NULL,   -- the image as found in the source item
    cluster_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,              -- keyframe_narration | figure_caption | pdf_caption | post_text | dataset_label
    source VARCHAR NOT NULL,
    source_type VARCHAR NOT NULL,
    text VARCHAR NOT NULL,
    start_s DOUBLE,                     -- keyframes: the narration window paired
    end_s DOUBLE,
    align_score DOUBLE NOT NULL,        -- keyframes: share of the window's speech inside the scene; 1 for captions
    n_segments INTEGER
);
