-- Stage 4, pair: how a keyframe's caption was written: extractive (key sentences of the narration) or
-- llm:<model> (pair.caption_method: llm, grounded in the narration; its calls are in augment_llm_calls).
ALTER TABLE pair_image_texts ADD COLUMN caption_method VARCHAR;
