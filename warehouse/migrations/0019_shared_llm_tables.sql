-- The LLM call log and answer cache serve every stage's LLM options (pipeline/llm), not augment alone:
-- augment_llm_calls -> llm_calls, augment_llm_cache -> llm_cache. Columns unchanged.
ALTER TABLE augment_llm_calls RENAME TO llm_calls;
ALTER TABLE augment_llm_cache RENAME TO llm_cache;
