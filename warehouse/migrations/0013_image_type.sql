-- Issue 5: image type (pipeline.clean.image_type) per image and the dermatology relevance of figure
-- captions (pipeline.clean.caption_relevance). clean_images.skin_score now holds the classifier's skin
-- score when the classifier runs (clean.image_type.enabled), else the YCrCb baseline.
ALTER TABLE clean_images ADD COLUMN image_type VARCHAR;          -- clinical_photo | dermoscopy | histopathology | chart_or_diagram | slide_with_text | other
ALTER TABLE clean_images ADD COLUMN type_confidence DOUBLE;      -- the backend's confidence in image_type, 0-1
ALTER TABLE clean_images ADD COLUMN type_backend VARCHAR;        -- heuristic | densenet:<version> | clip:<model>
ALTER TABLE clean_texts ADD COLUMN caption_score DOUBLE;         -- dermatology relevance of a figure caption (NULL: not scored)
ALTER TABLE clean_texts ADD COLUMN caption_reason VARCHAR;       -- which terms fired
