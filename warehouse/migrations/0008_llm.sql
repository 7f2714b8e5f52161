-- Stage 5, augment: every LLM API call as one row, append-only (successes, invalid answers and
-- failures alike), for cost, latency and error audits. Rows carry no unit_key/run_id: never replaced.
CREATE TABLE augment_llm_calls (
    call_id VARCHAR PRIMARY KEY,        -- uuid4 hex
    prompt VARCHAR NOT NULL,            -- prompt key, e.g. ontology_labels.v1
    model VARCHAR NOT NULL,
    input_hash VARCHAR NOT NULL,        -- sha256 of the rendered messages JSON
    request JSON,                       -- messages + response_format kind
    response VARCHAR,                   -- raw message content; NULL when the call failed
    parsed JSON,                        -- the validated annotation; NULL when the answer was not valid JSON
    error VARCHAR,                      -- API error, or why the answer was rejected
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    latency_ms DOUBLE,                  -- includes the client's own retries
    created_at TIMESTAMP NOT NULL       -- UTC
);
