"""Near-duplicate clusters in the warehouse: read clean_images, cluster with pipeline.vision.dedup, write
clean_clusters.

Why this shape: the clean stage's finalize() runs once per build over the whole table, so it must cost
what the new images cost, not what the corpus costs. Images still `pending` (new, or redone because their
unit changed) are searched; `kept` and `near_duplicate` images are the index and keep their clusters unless a
new image joins or bridges them. A cluster whose canonical image is gone (its unit was redone and rejected
or is pending) is released: its members are searched again. The image units' own rows (clean_image_scores)
are never edited: finalize owns clean_clusters, whose rows for the images whose cluster changed are replaced,
with their near_duplicate rejects, in one transaction (the view clean_images joins the two). Duplicates lose nothing: the pair stage
reads their texts through `canonical_id`, and `cluster_id` keeps the whole cluster on one side of the split.
"""

from __future__ import annotations

import logging

import duckdb
import numpy as np
import pyarrow as pa

from pipeline.config import CleanConfig
from pipeline.vision.dedup import N_REGIONS, cluster
from pipeline.warehouse import insert_rows, now

log = logging.getLogger(__name__)
NEAR_DUPLICATE = "near_duplicate"
_LIVE = "('pending', 'kept', 'near_duplicate')"


def _hash_matrix(column: pa.ChunkedArray, fallback: np.ndarray) -> np.ndarray:
    """(n, N_REGIONS) uint64 from a BIGINT[] column; a NULL or short list falls back to the phash column."""
    out = np.repeat(fallback[:, None], N_REGIONS, axis=1)
    lists = column.combine_chunks()
    lengths = lists.value_lengths().fill_null(0).to_numpy(zero_copy_only=False)
    full = np.flatnonzero(lengths == N_REGIONS)
    if len(full):
        flat = lists.filter(pa.array(lengths == N_REGIONS)).flatten().to_numpy(zero_copy_only=False)
        out[full] = flat.astype(np.int64).view(np.uint64).reshape(-1, N_REGIONS)
    return out


def update_clusters(con: duckdb.DuckDBPyConnection, cfg: CleanConfig, stage: str, run_id: str) -> int:
    """Cluster pending images into the kept ones; return the number of near_duplicate rejects written."""
    t: pa.Table = con.sql(
        f"SELECT image_id, run_id, width * height AS area, status, canonical_id, phash, dedup_phash, dedup_dhash "
        f"FROM clean_images WHERE status IN {_LIVE} ORDER BY image_id"
    ).to_arrow_table()
    if t.num_rows == 0:
        return 0
    ids = np.asarray(t.column("image_id").to_pylist(), dtype=np.str_)
    status = np.asarray(t.column("status").to_pylist(), dtype=np.str_)
    phash = np.array([int(h, 16) for h in t.column("phash").to_pylist()], dtype=np.uint64)
    p = _hash_matrix(t.column("dedup_phash"), phash)
    d = _hash_matrix(t.column("dedup_dhash"), np.zeros(len(ids), dtype=np.uint64))
    old_canon_id = np.asarray([c or "" for c in t.column("canonical_id").to_pylist()], dtype=np.str_)
    pos = np.searchsorted(ids, old_canon_id)
    pos[pos >= len(ids)] = 0
    canon_kept = (ids[pos] == old_canon_id) & (status[pos] == "kept")
    is_new = (status == "pending") | ~canon_kept
    if not is_new.any():
        return 0
    old_canonical = np.where(is_new, -1, pos)
    canonical, distance, affected = cluster(p, d, t.column("area").to_numpy(), is_new, old_canonical,
                                            cfg.phash_max_distance, cfg.dedup_max_distance)
    idx = np.arange(len(ids))
    new_status = np.where(canonical == idx, "kept", NEAR_DUPLICATE)
    changed = np.flatnonzero(affected & ((new_status != status) | (ids[canonical] != old_canon_id) | is_new))
    if not len(changed):
        return 0
    scores_run = np.asarray(t.column("run_id").to_pylist(), dtype=object)
    updates = pa.table({"image_id": ids[changed].tolist(), "scores_run_id": scores_run[changed].tolist(),
                        "status": new_status[changed].tolist(), "canonical_id": ids[canonical[changed]].tolist(),
                        "hamming": distance[changed].astype(np.int32), "run_id": [run_id] * len(changed)})
    ts = now()
    rejects = [{"stage": stage, "unit_key": f"image:{ids[i]}", "item_id": ids[i], "reason": NEAR_DUPLICATE,
                "run_id": run_id, "created_at": ts,
                "detail": f"phash+dhash {int(distance[i])} to {ids[canonical[i]]}; texts kept on it"}
               for i in changed if new_status[i] == NEAR_DUPLICATE]
    con.execute("BEGIN TRANSACTION")
    try:
        con.register("_dedup_updates", updates)
        con.execute("DELETE FROM clean_clusters WHERE image_id IN (SELECT image_id FROM _dedup_updates)")
        con.execute("INSERT INTO clean_clusters (image_id, scores_run_id, status, canonical_id, hamming, run_id) "
                    "SELECT image_id, scores_run_id, status, canonical_id, hamming, run_id FROM _dedup_updates")
        con.execute("DELETE FROM rejects WHERE stage = ? AND reason = ? AND item_id IN "
                    "(SELECT image_id FROM _dedup_updates)", [stage, NEAR_DUPLICATE])
        insert_rows(con, "rejects", rejects)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("_dedup_updates")
    log.info("dedup: %d images searched, %d cluster rows written, %d near-duplicates", int(is_new.sum()), len(changed),
             len(rejects))
    return len(rejects)
