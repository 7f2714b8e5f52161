-- Issue 16, licence gates: the pairs an export left out and why, and the release profile it was made for.
-- reason: licence_excluded (the profile does not admit the pair's licence; the pair is in the export's
-- release by reference, reference/pairs.parquet) or eval_leak (its image is a near-duplicate of an
-- external evaluation image, pipeline/train/external.py).
CREATE TABLE train_export_exclusions (
    export_id VARCHAR NOT NULL,
    pair_id VARCHAR NOT NULL,
    unit_key VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    licence VARCHAR NOT NULL,           -- the licence id (pipeline/train/release.py)
    reason VARCHAR NOT NULL,
    detail VARCHAR,
    PRIMARY KEY (export_id, pair_id)
);

ALTER TABLE train_exports ADD COLUMN release VARCHAR;        -- open | research | private (NULL: before 0027)
ALTER TABLE train_exports ADD COLUMN n_excluded INTEGER;     -- pairs left out, all reasons

-- Pairs left out of each export, by reason, licence and source (what the card and the report count).
CREATE OR REPLACE VIEW v_export_exclusions AS
SELECT x.export_id, e.release, x.reason, x.licence, x.source, count(*) AS pairs,
       count(DISTINCT x.item_id) AS items
FROM train_export_exclusions x
LEFT JOIN train_exports e USING (export_id)
GROUP BY ALL ORDER BY x.export_id, pairs DESC, x.reason, x.licence, x.source;
