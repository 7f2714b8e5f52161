-- Stage 2, preprocess: images decoded and stored once by content hash; where each appears; transcripts.
CREATE TABLE preprocess_images (
    image_id VARCHAR PRIMARY KEY,       -- sha256 of the normalised (EXIF-transposed, RGB, re-encoded) bytes
    path VARCHAR NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    ext VARCHAR NOT NULL,
    bytes INTEGER NOT NULL,
    source_mode VARCHAR,
    source_format VARCHAR
);

CREATE TABLE preprocess_items (
    item_id VARCHAR PRIMARY KEY,
    unit_key VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    title VARCHAR,
    n_images INTEGER NOT NULL,
    n_segments INTEGER NOT NULL,
    meta JSON                           -- parsed document facts: pmcid, doi, licence, keywords, language, asr model
);

CREATE TABLE preprocess_image_refs (
    ref_id VARCHAR PRIMARY KEY,         -- item_id + '#' + locator
    unit_key VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    image_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,              -- keyframe | jats_figure | pdf_figure | post_image | dataset_image
    locator VARCHAR NOT NULL,           -- scene index, figure id, page/index, image path
    label VARCHAR,                      -- 'Figure 2'
    text VARCHAR,                       -- caption / post text / dataset description; NULL for keyframes
    context VARCHAR,                    -- citing paragraphs, replies
    start_s DOUBLE,                     -- keyframes: scene start
    end_s DOUBLE,                       -- keyframes: scene end
    timestamp_s DOUBLE,                 -- keyframes: the chosen frame
    meta JSON
);

CREATE TABLE preprocess_scenes (
    item_id VARCHAR NOT NULL,
    scene_index INTEGER NOT NULL,
    unit_key VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    start_s DOUBLE NOT NULL,
    end_s DOUBLE NOT NULL,
    PRIMARY KEY (item_id, scene_index)
);

CREATE TABLE preprocess_transcript_segments (
    item_id VARCHAR NOT NULL,
    seg_index INTEGER NOT NULL,
    unit_key VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    start_s DOUBLE NOT NULL,
    end_s DOUBLE NOT NULL,
    text VARCHAR NOT NULL,
    origin VARCHAR NOT NULL,            -- subtitles | asr
    model VARCHAR,                      -- e.g. faster-whisper:tiny.en
    language VARCHAR,
    avg_logprob DOUBLE,
    no_speech_prob DOUBLE,
    PRIMARY KEY (item_id, seg_index)
);
