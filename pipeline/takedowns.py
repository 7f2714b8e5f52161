"""Takedowns and retractions: remove an item and everything derived from it, and keep it out.

A corpus that is shared must honour an owner's request and a journal's retraction. The profile's
`takedowns:` file (CSV: kind,value,reason; kind is `id` for an item id or a source's own id - video id,
PMC id, post id -, `url`, or `sha256` of a source file or an image) is synced into `takedown_requests` when
a build takes the warehouse. Before each stage plans (`pipeline.stage.pending_units`), `purge()` removes
what the requests reach: the item's rows in every stage table, its images' pairs and, through the kept
near-duplicate clusters, the pairs of any copy of a removed image from another source; each removal is a
`takedown_removals` row (what, key, the request, its reason, how it was reached) and a `taken_down` reject.
Collect refuses a requested item before it is stored (`Takedowns.match`), so a later collection does not
bring it back. The removed images' hashes stay in clean_image_scores / clean_clusters, so a reposted
near-copy lands in their cluster and is removed before the export.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipeline import storage
from pipeline.errors import ConfigError
from pipeline.warehouse import now

KINDS = ("id", "url", "sha256")
ITEM_TABLES = (
    "collect_items", "preprocess_items", "preprocess_scenes", "preprocess_transcript_segments",
    "preprocess_subfigures", "preprocess_image_refs", "clean_texts", "clean_transcript_segments",
    "clean_transcript_sentences", "clean_transcript_corrections",
)  # fmt: skip
PAIR_TABLES = ("augment_captions", "train_splits", "pair_image_texts")


@dataclass(frozen=True)
class TakedownRequest:
    kind: str
    value: str
    reason: str


class Takedowns:
    """The requests of a takedown file, for matching items as they are collected."""

    def __init__(self, requests: list[TakedownRequest]) -> None:
        self.requests = requests
        self._by = {(r.kind, r.value): r for r in requests}

    @classmethod
    def load(cls, path: Path | None) -> Takedowns:
        return cls(read_requests(path) if path is not None else [])

    def match(self, *, ids: tuple[str | None, ...] = (), url: str | None = None,
              sha256: str | None = None) -> TakedownRequest | None:  # fmt: skip
        for kind, value in (*(("id", i) for i in ids), ("url", url), ("sha256", sha256)):
            if value and (hit := self._by.get((kind, value))):
                return hit
        return None


def read_requests(path: Path) -> list[TakedownRequest]:
    """Parse the takedown CSV; a bad line is a ConfigError naming it (a takedown must never be half read)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"takedowns file {path}: {exc}") from exc
    rows = list(csv.DictReader(io.StringIO(text)))
    if rows and not {"kind", "value"} <= set(rows[0]):
        raise ConfigError(f"takedowns file {path}: the header must name kind,value,reason")
    out: dict[tuple[str, str], TakedownRequest] = {}
    for n, row in enumerate(rows, start=2):
        kind, value = (row.get("kind") or "").strip().lower(), (row.get("value") or "").strip()
        if kind not in KINDS or not value:
            raise ConfigError(f"takedowns file {path}, line {n}: kind must be one of {', '.join(KINDS)} and value "
                              f"non-empty (got {kind!r}, {value!r})")
        out[(kind, value)] = TakedownRequest(kind, value, (row.get("reason") or "").strip() or "takedown request")
    return list(out.values())


def sync_requests(con: duckdb.DuckDBPyConnection, requests: list[TakedownRequest]) -> None:
    """The table holds exactly the file's requests; removals already made stay (a takedown is not undone by
    editing the file: the items come back only when their sources are collected again)."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM takedown_requests")
        if requests:
            con.executemany("INSERT INTO takedown_requests VALUES (?, ?, ?, ?)",
                            [[r.kind, r.value, r.reason, now()] for r in requests])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def _has_work(con: duckdb.DuckDBPyConnection) -> bool:
    """Requests to honour, or images removed before whose near-copies must stay out."""
    try:
        row = con.execute("SELECT (SELECT count(*) FROM takedown_requests) + "
                          "(SELECT count(*) FROM takedown_removals WHERE what = 'image')").fetchone()
    except duckdb.CatalogException:  # a warehouse from before migration 0030
        return False
    return bool(row and row[0])


def purge(con: duckdb.DuckDBPyConnection, run_id: str | None = None) -> dict[str, int]:
    """Remove what the requests reach; return the rows removed per table (empty when nothing matched)."""
    if not _has_work(con):
        return {}
    con.execute("CREATE OR REPLACE TEMP TABLE _td_items AS "
                "SELECT DISTINCT i.item_id AS key, r.kind, r.value, r.reason FROM collect_items i "
                "JOIN takedown_requests r ON (r.kind = 'id' AND r.value IN (i.item_id, i.source_id)) "
                "OR (r.kind = 'url' AND r.value = i.url) OR (r.kind = 'sha256' AND r.value = i.sha256)")
    con.execute("CREATE OR REPLACE TEMP TABLE _td_images AS "
                "SELECT DISTINCT f.image_id AS key, t.kind, t.value, t.reason, 'item' AS via "
                "FROM preprocess_image_refs f JOIN _td_items t ON f.item_id = t.key "
                "UNION SELECT DISTINCT p.image_id, r.kind, r.value, r.reason, 'direct' FROM preprocess_images p "
                "JOIN takedown_requests r ON r.kind = 'sha256' AND r.value = p.image_id "
                "UNION SELECT key, request_kind, request_value, reason, via FROM takedown_removals WHERE what = 'image'")
    if _exists(con, "clean_deid"):  # a removed image's de-identified copy goes with it
        con.execute("INSERT INTO _td_images SELECT DISTINCT d.out_image_id, t.kind, t.value, t.reason, 'item' "
                    "FROM clean_deid d JOIN _td_images t ON d.image_id = t.key WHERE d.out_image_id IS NOT NULL "
                    "AND d.out_image_id NOT IN (SELECT key FROM _td_images)")
    con.execute("CREATE OR REPLACE TEMP TABLE _td_clusters AS "
                "SELECT DISTINCT c.canonical_id AS cluster_id, t.kind, t.value, t.reason FROM clean_clusters c "
                "JOIN _td_images t ON c.image_id = t.key")
    con.execute("CREATE OR REPLACE TEMP TABLE _td_pairs AS "
                "SELECT p.pair_id AS key, any_value(coalesce(ti.kind, tm.kind, tc.kind)) AS kind, "
                "any_value(coalesce(ti.value, tm.value, tc.value)) AS value, "
                "any_value(coalesce(ti.reason, tm.reason, tc.reason)) AS reason, "
                "any_value(CASE WHEN ti.key IS NOT NULL THEN 'item' WHEN tm.key IS NOT NULL THEN 'item' "
                "ELSE 'near_duplicate' END) AS via FROM pair_image_texts p "
                "LEFT JOIN _td_items ti ON p.item_id = ti.key "
                "LEFT JOIN _td_images tm ON tm.key IN (p.image_id, p.source_image_id, p.parent_image_id) "
                "LEFT JOIN _td_clusters tc ON p.cluster_id = tc.cluster_id "
                "WHERE ti.key IS NOT NULL OR tm.key IS NOT NULL OR tc.cluster_id IS NOT NULL GROUP BY p.pair_id")
    removed: dict[str, int] = {}
    con.execute("BEGIN TRANSACTION")
    try:
        for table in PAIR_TABLES:
            removed[table] = _delete(con, table, "pair_id", "_td_pairs")
        for table in ITEM_TABLES:
            removed[table] = _delete(con, table, "item_id", "_td_items")
        stamp = now()
        con.execute("INSERT INTO takedown_removals SELECT 'item', key, kind, value, reason, 'direct', ?, ? "
                    "FROM _td_items ON CONFLICT DO NOTHING", [run_id, stamp])
        con.execute("INSERT INTO takedown_removals SELECT 'image', key, any_value(kind), any_value(value), "
                    "any_value(reason), any_value(via), ?, ? FROM _td_images GROUP BY key ON CONFLICT DO NOTHING",
                    [run_id, stamp])
        con.execute("INSERT INTO takedown_removals SELECT 'pair', key, kind, value, reason, via, ?, ? "
                    "FROM _td_pairs ON CONFLICT DO NOTHING", [run_id, stamp])
        con.execute("INSERT INTO rejects SELECT 'takedown', key, key, 'taken_down', reason || ' (' || kind || ' ' "
                    "|| value || ')', ?, ? FROM _td_items", [run_id or "", stamp])
        orphans = ("FROM preprocess_images WHERE image_id IN (SELECT key FROM _td_images) AND NOT EXISTS "
                   "(SELECT 1 FROM preprocess_image_refs f WHERE f.image_id = preprocess_images.image_id)")
        files = [r[0] for r in con.execute(f"SELECT path {orphans}").fetchall()]
        removed["preprocess_images"] = len(files)
        con.execute(f"DELETE {orphans}")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    for path in files:  # after the commit: a kill in between leaves a file no row names, never the reverse
        storage.remove(path)
    return {t: n for t, n in removed.items() if n}


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(_count(con, f"SELECT count(*) FROM information_schema.tables WHERE table_name = '{table}'"))


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _delete(con: duckdb.DuckDBPyConnection, table: str, column: str, keys: str) -> int:
    try:
        n = _count(con, f"SELECT count(*) FROM {table} WHERE {column} IN (SELECT key FROM {keys})")
    except duckdb.CatalogException:
        return 0
    if n:
        con.execute(f"DELETE FROM {table} WHERE {column} IN (SELECT key FROM {keys})")
    return n
