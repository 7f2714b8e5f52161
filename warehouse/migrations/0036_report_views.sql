-- Issue 16, the report's dataset-paper figures (pipeline/report/paper.py).

-- One row per pair with the attributes a dataset paper charts: its source, the type of its image (the clean
-- stage's decision on the image as found in the source; a classifier row when clean recorded none), and the
-- labels augment gave it (the 'No ... information' strings where the text states none).
CREATE OR REPLACE VIEW v_pair_attributes AS
SELECT
    p.pair_id, p.source, p.kind AS pair_kind, p.image_id, p.source_image_id,
    coalesce(ci.image_type,
             (SELECT min(v.image_type) FROM vision_image_types v WHERE v.image_id = p.source_image_id),
             'unknown') AS image_type,
    a.disease_label, a.skin_tone, a.body_location, a.age, a.gender
FROM pair_image_texts p
LEFT JOIN clean_images ci ON ci.image_id = p.source_image_id
LEFT JOIN augment_captions a ON a.pair_id = p.pair_id;

-- Every training run's metrics with its export and the export's time; run_rank 1 is the latest run (the
-- validation model the report shows), latest by its export's creation, then by run id.
CREATE OR REPLACE VIEW v_train_run_metrics AS
WITH runs AS (
    SELECT r.train_run_id, r.export_id, r.model, r.epochs, r.n_train, e.created_at,
           dense_rank() OVER (ORDER BY e.created_at DESC NULLS LAST, r.train_run_id DESC) AS run_rank
    FROM train_runs r LEFT JOIN train_exports e USING (export_id)
)
SELECT runs.*, m.model_state, m.split, m.metric, m.value
FROM runs JOIN train_metrics m USING (train_run_id)
ORDER BY run_rank, m.split, m.metric, m.model_state;
