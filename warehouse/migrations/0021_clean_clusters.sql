-- Near-duplicate clusters become rows of their own instead of edits of the image units' rows: the clean
-- stage's image units write clean_image_scores (status pending or a reject reason, as their unit decided),
-- finalize writes clean_clusters (kept or near_duplicate, the canonical image), and the view clean_images
-- joins the two as the table of that name read before. A cluster row counts only while it belongs to the
-- scores row it was computed for (scores_run_id): a redone image unit is pending again until clustered.
ALTER TABLE clean_images RENAME TO clean_image_scores;

CREATE TABLE clean_clusters (
    image_id VARCHAR PRIMARY KEY,
    scores_run_id VARCHAR NOT NULL,     -- clean_image_scores.run_id this cluster row was computed for
    status VARCHAR NOT NULL,            -- kept | near_duplicate
    canonical_id VARCHAR NOT NULL,      -- the image that stands for the cluster (also its cluster id)
    hamming INTEGER,                    -- pHash+dHash distance to the canonical image
    run_id VARCHAR NOT NULL
);

INSERT INTO clean_clusters
SELECT image_id, run_id, status, canonical_id, hamming, run_id FROM clean_image_scores
WHERE status IN ('kept', 'near_duplicate') AND canonical_id IS NOT NULL;
UPDATE clean_image_scores SET status = 'pending' WHERE status IN ('kept', 'near_duplicate');
ALTER TABLE clean_image_scores DROP COLUMN cluster_id;
ALTER TABLE clean_image_scores DROP COLUMN canonical_id;
ALTER TABLE clean_image_scores DROP COLUMN hamming;

CREATE VIEW clean_images AS
SELECT s.image_id, s.unit_key, s.run_id, s.width, s.height, s.phash, s.skin_score,
       CASE WHEN s.status = 'pending' AND c.image_id IS NOT NULL THEN c.status ELSE s.status END AS status,
       c.canonical_id AS cluster_id, c.canonical_id, c.hamming, s.image_type, s.type_confidence,
       s.type_backend, s.dedup_phash, s.dedup_dhash
FROM clean_image_scores s
LEFT JOIN clean_clusters c ON c.image_id = s.image_id AND c.scores_run_id = s.run_id;
