-- Issue 14, honest evaluation: the export leaves out every training pair whose image is a near-duplicate
-- of an external evaluation image (the clean stage's crop-robust search, all views), counted per set.
-- NULL: the export did not check that set (an export made with another profile), so the suite dropped
-- the set's leaking images instead (n_duplicates_removed).
ALTER TABLE train_eval_sets ADD COLUMN n_train_pairs_removed INTEGER;   -- training pairs left out for this set
ALTER TABLE train_eval_sets ADD COLUMN n_train_images_removed INTEGER;  -- their distinct images
