-- Stage 1, collect from the network: one status row per fetch attempt outcome, and incremental cursors.
CREATE TABLE collect_fetches (
    unit_key VARCHAR NOT NULL,          -- the work unit (search window, video id, URL list) that fetched it
    run_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,            -- pubmed | youtube | reddit | pdf_urls | europepmc
    item_key VARCHAR NOT NULL,          -- what the fetch was for: 'article:PMC123', 'figure:PMC123:g001', ...
    url VARCHAR NOT NULL,
    status VARCHAR NOT NULL,            -- ok | not_found | server_error | timeout | truncated | oversize | ...
    http_status INTEGER,
    error VARCHAR,
    bytes BIGINT,
    sha256 VARCHAR,                     -- content hash of the raw file
    raw_path VARCHAR,                   -- data/raw/<2 hex>/<sha256><suffix>
    licence VARCHAR,
    from_cache BOOLEAN,                 -- answered by the download ledger or API cache, not the network
    fetched_at TIMESTAMP NOT NULL
);

CREATE TABLE collect_cursors (
    unit_key VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    cursor_key VARCHAR NOT NULL,        -- hash of the query the cursor belongs to
    value VARCHAR NOT NULL,             -- e.g. the end date of a fully collected search window
    updated_at TIMESTAMP NOT NULL
);
