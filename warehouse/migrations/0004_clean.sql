-- Stage 3, clean: image scores and near-duplicate clusters; normalised texts and transcripts.
CREATE TABLE clean_images (
    image_id VARCHAR PRIMARY KEY,
    unit_key VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    phash VARCHAR NOT NULL,             -- 64-bit perceptual hash, hex
    skin_score DOUBLE NOT NULL,         -- baseline: fraction of skin-coloured pixels (YCrCb rule)
    status VARCHAR NOT NULL,            -- kept | near_duplicate | too_small | low_skin_score
    cluster_id VARCHAR,                 -- near-duplicate cluster (the canonical image's id)
    canonical_id VARCHAR,               -- the image that stands for the cluster
    hamming INTEGER                     -- distance to the canonical image
);

CREATE TABLE clean_texts (
    ref_id VARCHAR PRIMARY KEY,
    unit_key VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    image_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    text VARCHAR,
    context VARCHAR,
    changed BOOLEAN NOT NULL
);

CREATE TABLE clean_transcript_segments (
    item_id VARCHAR NOT NULL,
    seg_index INTEGER NOT NULL,
    unit_key VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    start_s DOUBLE NOT NULL,
    end_s DOUBLE NOT NULL,
    text VARCHAR NOT NULL,
    fillers_removed INTEGER NOT NULL,
    PRIMARY KEY (item_id, seg_index)
);
