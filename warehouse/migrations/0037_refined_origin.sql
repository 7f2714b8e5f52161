-- Issue 15: who wrote each refined caption, so a user can keep the model's, the fallback's or both.
-- refined_method: llm:<model> | extractive; refined_reason: why the extractive caption stands although a
-- model was asked (refused, ungrounded, the server down). Rows written before this migration: NULL (unknown).
ALTER TABLE augment_captions ADD COLUMN refined_method VARCHAR;
ALTER TABLE augment_captions ADD COLUMN refined_reason VARCHAR;
