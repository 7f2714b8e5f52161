"""Stage 1, collect: find source items and record their provenance in `collect_items`."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb

from pipeline.collect.base import CollectedItem, Source
from pipeline.collect.local import (
    LocalDatasetSource,
    LocalForumSource,
    LocalJatsSource,
    LocalPdfSource,
    LocalVideoSource,
)
from pipeline.collect.netbase import RETRY_SUFFIX, CursorRecord, FetchRecord
from pipeline.collect.network import NetworkSource, network_sources, read_cursors
from pipeline.config import RunConfig
from pipeline.hashing import stable_json
from pipeline.stage import Reject, Stage, UnitResult, WorkUnit
from pipeline.warehouse import now


def build_sources(cfg: RunConfig, config_hash: str) -> list[Source]:
    src = cfg.collect.sources
    return [
        LocalVideoSource(src.videos, cfg.collect.video_suffixes, config_hash),
        LocalJatsSource(src.jats, config_hash),
        LocalPdfSource(src.pdfs, config_hash),
        LocalForumSource(src.forums, config_hash),
        LocalDatasetSource(src.datasets, config_hash),
        *network_sources(cfg),
    ]


class CollectStage(Stage):
    name = "collect"
    main_table = "collect_items"
    unit_tables = ("collect_items", "collect_fetches", "collect_cursors")

    def __init__(self, cfg: RunConfig, sources: list[Source] | None = None) -> None:
        super().__init__(cfg)
        self.sources = {s.name: s for s in (sources or build_sources(cfg, self.config_hash))}

    def candidates(self, con: duckdb.DuckDBPyConnection) -> Iterator[WorkUnit]:
        cursors = read_cursors(con)
        for source in self.sources.values():
            if isinstance(source, NetworkSource):
                source.cursors = cursors.get(source.name, {})
            yield from source.units()

    def process(self, unit: WorkUnit) -> UnitResult:
        res = UnitResult(unit.key, unit.fingerprint)
        retrieved = now()
        for entry in self.sources[unit.payload["source"]].items(unit):
            if isinstance(entry, Reject):
                res.rejects.append(entry)
            elif isinstance(entry, FetchRecord):
                res.add("collect_fetches", entry.row())
                if entry.fetch.transient:  # committed, but redone next run (see netbase)
                    res.fingerprint = unit.fingerprint + RETRY_SUFFIX
            elif isinstance(entry, CursorRecord):
                res.add("collect_cursors", entry.row())
            else:
                res.add("collect_items", item_row(entry, retrieved))
        return res


def item_row(item: CollectedItem, retrieved_at: object) -> dict[str, object]:
    return {
        "item_id": item.item_id, "kind": item.kind, "source": item.source, "source_type": item.source_type,
        "source_id": item.source_id, "title": item.title, "url": item.url, "licence": item.licence,
        "path": str(item.path), "sha256": item.sha256, "bytes": item.meta.get("bytes"),
        "meta": stable_json(item.meta), "retrieved_at": retrieved_at,
    }


def dry_run_plan(cfg: RunConfig, cursors: dict[str, dict[str, set[str]]] | None = None) -> Iterator[str]:
    """What a collect run would fetch and from where: local folders' unit counts and each network unit.
    Offline: local sources only list files, network sources only print their planned requests."""
    for source in build_sources(cfg, cfg.stage_hash("collect")):
        if isinstance(source, NetworkSource):
            source.cursors = (cursors or {}).get(source.name, {})
            yield from source.plan()
        else:
            n = sum(1 for _ in source.units())
            if n:
                yield f"{source.name}\t{n} local file unit(s)"
