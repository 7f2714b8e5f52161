-- Every Batch API job the pipeline submitted (pipeline/llm/ledger.py), recorded the moment it exists, so a
-- run killed while a batch is in flight resumes polling it instead of paying for it again: a pending input
-- (custom_id with the same input hash, prompt and model) that belongs to a batch not yet consumed is
-- attached to that batch. `consumed_at` is set once the run that read the batch's results has committed
-- them (the stage's finalize); a consumed batch is never read or submitted again.
CREATE TABLE llm_batches (
    batch_id VARCHAR PRIMARY KEY,       -- the provider's id
    input_file_id VARCHAR NOT NULL,
    prompt VARCHAR NOT NULL,            -- prompt key, e.g. ontology_labels.v2
    model VARCHAR NOT NULL,
    n_requests INTEGER NOT NULL,
    request_set_hash VARCHAR NOT NULL,  -- sha256 of `requests`
    requests JSON NOT NULL,             -- custom_id -> input hash (llm_cache.input_hash) of each request
    status VARCHAR NOT NULL,            -- the provider's: validating, in_progress, ..., completed, failed, expired, cancelled
    output_file_id VARCHAR,
    error_file_id VARCHAR,
    error VARCHAR,                      -- why it did not complete
    created_at TIMESTAMP NOT NULL,      -- UTC, when submitted
    finished_at TIMESTAMP,              -- UTC, when seen in a final status
    consumed_at TIMESTAMP               -- UTC, when its results were committed
);

-- prompt-cache hits within prompt_tokens (priced at the cached rate) and the batch a call came back in
-- (priced at the batch discount); NULL for live calls and servers that report no cache
ALTER TABLE llm_calls ADD COLUMN cached_tokens INTEGER;
ALTER TABLE llm_calls ADD COLUMN batch_id VARCHAR;
