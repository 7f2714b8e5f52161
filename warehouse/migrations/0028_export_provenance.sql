-- Issue 16, provenance: what the export writes next to each pair about where it came from (read by
-- pipeline/train/jobs.py; the licence id is decided in pipeline/train/release.py from the texts here).
-- start_s/end_s: the narration window paired with a keyframe (the scene when none); frame_s: the keyframe;
-- page: a PDF figure's page; locator: scene, JATS figure id, PDF page/index, image file; image_url: the URL
-- the image was downloaded from (network posts); source_file: the file the image was taken from.
CREATE OR REPLACE VIEW v_export_provenance AS
WITH fetched AS (
    SELECT regexp_extract(raw_path, '[^/]+$') AS file_name, min(url) AS url
    FROM collect_fetches WHERE status = 'ok' AND raw_path IS NOT NULL GROUP BY ALL
)
SELECT
    p.pair_id, c.kind AS item_kind, c.source_id, c.url AS source_url,
    c.licence AS collected_licence, json_extract_string(pi.meta, '$.licence') AS article_licence,
    json_extract_string(pi.meta, '$.pmcid') AS pmcid, ref.locator,
    CASE WHEN ref.kind = 'pdf_figure'
         THEN coalesce(json_extract_string(ref.meta, '$.page'), nullif(regexp_extract(ref.locator, '^p(\d+)/', 1), ''))
    END AS page,
    coalesce(p.start_s, ref.start_s) AS start_s, coalesce(p.end_s, ref.end_s) AS end_s,
    ref.timestamp_s AS frame_s,
    json_extract_string(c.meta, '$.dataset') AS dataset, json_extract_string(c.meta, '$.row') AS dataset_row,
    f.url AS image_url,
    CASE WHEN ref.kind = 'post_image'
         THEN coalesce(list_filter(CAST(json_extract_string(c.meta, '$.images[*]') AS VARCHAR[]),
                                   lambda x: x LIKE '%/' || ref.locator)[1], c.path)
         ELSE c.path
    END AS source_file
FROM pair_image_texts p
LEFT JOIN collect_items c ON c.item_id = p.item_id
LEFT JOIN preprocess_items pi ON pi.item_id = p.item_id
LEFT JOIN preprocess_image_refs ref ON ref.ref_id = p.pair_id
LEFT JOIN fetched f ON ref.kind = 'post_image' AND f.file_name = ref.locator;
