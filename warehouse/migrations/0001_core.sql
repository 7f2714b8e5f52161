-- Bookkeeping shared by every stage.
CREATE TABLE stage_runs (
    run_id VARCHAR NOT NULL,
    stage VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    status VARCHAR NOT NULL,            -- running | ok | failed
    items_in INTEGER DEFAULT 0,         -- work units processed this run (new or changed)
    items_out INTEGER DEFAULT 0,        -- rows written to the stage's main table
    items_rejected INTEGER DEFAULT 0,   -- rows written to rejects
    items_skipped INTEGER DEFAULT 0,    -- units already done with the same fingerprint
    config_hash VARCHAR NOT NULL,
    code_version VARCHAR NOT NULL,
    error VARCHAR,
    PRIMARY KEY (run_id, stage)
);

CREATE TABLE rejects (
    stage VARCHAR NOT NULL,
    unit_key VARCHAR NOT NULL,          -- the work unit whose processing dropped the item
    item_id VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,            -- stable snake_case code
    detail VARCHAR,
    run_id VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE work_log (
    stage VARCHAR NOT NULL,
    unit_key VARCHAR NOT NULL,
    fingerprint VARCHAR NOT NULL,       -- hash of the unit's input content and the stage config
    n_out INTEGER NOT NULL,
    n_rejected INTEGER NOT NULL,
    run_id VARCHAR NOT NULL,
    done_at TIMESTAMP NOT NULL,
    PRIMARY KEY (stage, unit_key)
);
