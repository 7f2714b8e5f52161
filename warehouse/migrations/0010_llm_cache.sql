-- Stage 5, augment: LLM answers cached by (prompt version, model, input hash) so a rerun, a changed
-- config or a repeated text never pays twice, and the estimated cost of every logged call.
CREATE TABLE augment_llm_cache (
    prompt VARCHAR NOT NULL,            -- prompt key, e.g. ontology_labels.v2
    model VARCHAR NOT NULL,
    input_hash VARCHAR NOT NULL,        -- sha256 of the first-turn messages JSON (the rendered prompt)
    response JSON NOT NULL,             -- the validated annotation that resolved onto the ontology
    call_id VARCHAR,                    -- the augment_llm_calls row that produced it
    created_at TIMESTAMP NOT NULL,      -- UTC
    PRIMARY KEY (prompt, model, input_hash)
);

ALTER TABLE augment_llm_calls ADD COLUMN cost_usd DOUBLE;  -- tokens x LlmConfig prices; NULL without usage
