-- Issue 4, video branch: word timings and loop score of ASR segments; logged transcript corrections;
-- timed sentences of cleaned transcripts (what pairing and the extractive caption read).
ALTER TABLE preprocess_transcript_segments ADD COLUMN words JSON;           -- [[start_s, end_s, word, p], ...]
ALTER TABLE preprocess_transcript_segments ADD COLUMN compression_ratio DOUBLE;

CREATE TABLE clean_transcript_corrections (
    item_id VARCHAR NOT NULL,
    seg_index INTEGER NOT NULL,
    corr_index INTEGER NOT NULL,        -- order within the segment
    unit_key VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    char_start INTEGER NOT NULL,        -- offset in the normalised segment text before correction
    original VARCHAR NOT NULL,          -- 'sorry asis'
    replacement VARCHAR NOT NULL,       -- 'psoriasis'
    node_id VARCHAR NOT NULL,           -- ontology condition/concept id
    method VARCHAR NOT NULL,            -- phonetic_exact | phonetic_edit1 | phonetic_edit2
    PRIMARY KEY (item_id, seg_index, corr_index)
);

CREATE TABLE clean_transcript_sentences (
    item_id VARCHAR NOT NULL,
    sent_index INTEGER NOT NULL,
    unit_key VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    start_s DOUBLE NOT NULL,
    end_s DOUBLE NOT NULL,
    text VARCHAR NOT NULL,
    PRIMARY KEY (item_id, sent_index)
);

-- keyframe pairs: the key sentences of the narration by ontology-term density (pipeline.pair.summary)
ALTER TABLE pair_image_texts ADD COLUMN caption VARCHAR;
