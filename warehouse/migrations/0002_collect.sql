-- Stage 1, collect: one row per source item found in a source folder (or, later, fetched).
CREATE TABLE collect_items (
    item_id VARCHAR PRIMARY KEY,        -- '<kind>:<source id>', e.g. 'video:abc123', 'post:t3_x1'
    unit_key VARCHAR NOT NULL,          -- the source file the item came from
    run_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,              -- video | article | pdf | post | dataset_image
    source VARCHAR NOT NULL,            -- Derm1M 'source': youtube, pubmed_english, textbook_english, ...
    source_type VARCHAR NOT NULL,       -- Derm1M 'source_type': edu | knowledge | forum
    source_id VARCHAR NOT NULL,
    title VARCHAR,
    url VARCHAR,
    licence VARCHAR,
    path VARCHAR NOT NULL,              -- the item's main file
    sha256 VARCHAR NOT NULL,            -- content hash of the item (file plus sidecars, or post JSON)
    bytes BIGINT,
    meta JSON,                          -- source-specific fields
    retrieved_at TIMESTAMP NOT NULL
);
