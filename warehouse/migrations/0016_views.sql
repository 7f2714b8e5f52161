-- Views for the usual questions (warehouse/README.md, "Views"). Views hold no data and are rebound when
-- queried, so a later migration that adds columns to these tables keeps them working.

-- Each pair with its full provenance: pair -> stored image -> image reference -> parsed item -> collected
-- source item (URL, licence, file, content hash), plus its labels.
CREATE OR REPLACE VIEW v_pair_provenance AS
SELECT
    p.pair_id, p.kind AS pair_kind, p.text, p.caption, p.align_score, p.start_s, p.end_s,
    p.image_id, img.path AS image_path, img.width, img.height,
    p.source_image_id, p.cluster_id, ci.status AS clean_status, ci.hamming AS duplicate_hamming,
    ref.ref_id, ref.kind AS ref_kind, ref.locator, ref.label AS figure_label, ref.timestamp_s,
    p.item_id, pi.kind AS item_kind, coalesce(pi.title, c.title) AS title,
    c.source, c.source_type, c.source_id, c.url AS source_url,
    coalesce(c.licence, json_extract_string(pi.meta, '$.licence')) AS licence,
    json_extract_string(pi.meta, '$.doi') AS doi, json_extract_string(pi.meta, '$.pmcid') AS pmcid,
    c.path AS source_path, c.sha256 AS source_sha256, c.retrieved_at,
    a.disease_label, a.hierarchical_disease_label, a.skin_concept, a.body_location, a.method AS label_method,
    p.run_id AS pair_run_id, c.run_id AS collect_run_id
FROM pair_image_texts p
LEFT JOIN preprocess_images img ON img.image_id = p.image_id
LEFT JOIN clean_images ci ON ci.image_id = p.source_image_id
LEFT JOIN preprocess_image_refs ref ON ref.ref_id = p.pair_id
LEFT JOIN preprocess_items pi ON pi.item_id = p.item_id
LEFT JOIN collect_items c ON c.item_id = p.item_id
LEFT JOIN augment_captions a ON a.pair_id = p.pair_id;

-- Why an item was rejected, traced back to the source item it came from where that can be known:
-- preprocess rejects name the item (or 'item#locator', ASR 'item@start'), clean rejects name an image
-- (resolved through its first appearance), a text ref or a transcript; collect rejects name their file.
CREATE OR REPLACE VIEW v_rejects AS
WITH traced AS (
    SELECT r.*,
        CASE
            WHEN r.stage = 'collect' THEN NULL
            WHEN r.unit_key LIKE 'image:%' THEN
                (SELECT min(x.item_id) FROM preprocess_image_refs x WHERE x.image_id = substr(r.unit_key, 7))
            WHEN r.unit_key LIKE 'text:%' THEN split_part(substr(r.unit_key, 6), '#', 1)
            WHEN r.unit_key LIKE 'transcript:%' THEN substr(r.unit_key, 12)
            ELSE split_part(split_part(r.item_id, '#', 1), '@', 1)
        END AS source_item_id
    FROM rejects r
)
SELECT
    t.stage, t.reason, t.item_id, t.detail, t.unit_key, t.run_id, t.created_at, t.source_item_id,
    coalesce(c.source, (SELECT min(c2.source) FROM collect_items c2 WHERE c2.unit_key = t.unit_key),
             CASE WHEN t.stage = 'collect' THEN split_part(t.unit_key, ':', 1) END, 'unknown') AS source,
    c.kind AS source_kind, c.url AS source_url, c.licence, c.path AS source_path
FROM traced t
LEFT JOIN collect_items c ON c.item_id = t.source_item_id;

-- Rejects counted by stage, reason and source (what the report's reject chart shows).
CREATE OR REPLACE VIEW v_reject_summary AS
SELECT stage, reason, source, count(*) AS items
FROM v_rejects GROUP BY ALL ORDER BY items DESC, stage, reason, source;

-- Pairs per ontology node at every level of the condition tree: level 1 is the top branch
-- ('inflammatory'), the last level the condition itself. Pairs with no diagnosis are left out.
CREATE OR REPLACE VIEW v_pairs_per_ontology_node AS
WITH paths AS (
    SELECT pair_id, string_split(hierarchical_disease_label, ', ') AS path
    FROM augment_captions
    WHERE condition_ids IS NOT NULL AND json_array_length(condition_ids) > 0
),
nodes AS (
    SELECT pair_id, path, unnest(range(1, len(path) + 1)) AS level FROM paths
)
SELECT level, path[level] AS node, array_to_string(path[1:level], ' > ') AS node_path,
       count(DISTINCT pair_id) AS pairs
FROM nodes GROUP BY ALL ORDER BY level, pairs DESC, node_path;

-- Pairs per matched condition id (a pair may name several) and per clinical concept id.
CREATE OR REPLACE VIEW v_pairs_per_condition AS
SELECT condition_id, count(DISTINCT pair_id) AS pairs
FROM (SELECT pair_id, unnest(CAST(json_extract_string(condition_ids, '$[*]') AS VARCHAR[])) AS condition_id
      FROM augment_captions)
GROUP BY ALL ORDER BY pairs DESC, condition_id;

CREATE OR REPLACE VIEW v_pairs_per_concept AS
SELECT concept_id, count(DISTINCT pair_id) AS pairs
FROM (SELECT pair_id, unnest(CAST(json_extract_string(concept_ids, '$[*]') AS VARCHAR[])) AS concept_id
      FROM augment_captions)
GROUP BY ALL ORDER BY pairs DESC, concept_id;

-- Licence mix: source items and the pairs they gave, by source and licence (JATS licences come from the
-- article's own <license> element when the collector had none).
CREATE OR REPLACE VIEW v_licence_mix AS
SELECT c.source, coalesce(c.licence, json_extract_string(pi.meta, '$.licence'), 'unknown') AS licence,
       count(DISTINCT c.item_id) AS items, count(p.pair_id) AS pairs
FROM collect_items c
LEFT JOIN preprocess_items pi ON pi.item_id = c.item_id
LEFT JOIN pair_image_texts p ON p.item_id = c.item_id
GROUP BY ALL ORDER BY pairs DESC, items DESC, source, licence;

-- Throughput of every stage run: units per second of wall time.
CREATE OR REPLACE VIEW v_stage_throughput AS
SELECT run_id, stage, status, items_in, items_out, items_rejected, items_skipped,
       epoch(finished_at - started_at) AS seconds,
       CASE WHEN epoch(finished_at - started_at) > 0
            THEN items_in / epoch(finished_at - started_at) END AS units_per_s
FROM stage_runs ORDER BY started_at;
