"""Stage 1, collect: find source items and record their provenance in `collect_items`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import urlparse

import duckdb

from pipeline.collect.base import CollectedItem, Source
from pipeline.collect.filehash import FileHashes
from pipeline.collect.forum_import import ForumImportSource
from pipeline.collect.local import (
    LocalDatasetSource,
    LocalForumSource,
    LocalJatsSource,
    LocalPdfSource,
    LocalVideoSource,
)
from pipeline.collect.netbase import CursorRecord, FetchRecord
from pipeline.collect.network import NetworkSource, network_sources, read_cursors
from pipeline.config import RunConfig
from pipeline.hashing import stable_json
from pipeline.stage import Reject, Stage, StageReport, UnitKind, UnitResult, WorkUnit
from pipeline.warehouse import now

LOCAL_KINDS: dict[str, UnitKind] = {
    "local_videos": UnitKind(("collect.video_suffixes",), ("local_videos@1",)),
    "local_jats": UnitKind((), ("local_jats@1",)),
    "local_pdfs": UnitKind((), ("local_pdfs@1",)),
    "local_forums": UnitKind((), ("local_forums@2",)),  # 2: PII scrubbed at ingest, authors pseudonymised
    "local_datasets": UnitKind(("collect.sources.datasets",), ("local_datasets@1",)),
    "forum_imports": UnitKind(("collect.sources.forum_imports",), ("forum_imports@1",)),
}
# network sources fingerprint their own config section (pipeline/collect/network.py)
NETWORK_KINDS: dict[str, UnitKind] = {
    "youtube": UnitKind(("collect.sources.youtube",)),
    "pubmed": UnitKind(("collect.sources.pubmed",)),
    "reddit": UnitKind(("collect.sources.reddit",)),
    "forum_dumps": UnitKind(("collect.sources.forum_dumps", "collect.sources.forum_dump_filter")),
    "pdf_urls": UnitKind(("collect.sources.pdf_urls",)),
}


def build_sources(cfg: RunConfig, kind_hash: Callable[[str], str]) -> list[Source]:
    src = cfg.collect.sources
    return [
        LocalVideoSource(src.videos, cfg.collect.video_suffixes, kind_hash("local_videos")),
        LocalJatsSource(src.jats, kind_hash("local_jats")),
        LocalPdfSource(src.pdfs, kind_hash("local_pdfs")),
        LocalForumSource(src.forums, kind_hash("local_forums")),
        LocalDatasetSource(src.datasets, kind_hash("local_datasets")),
        ForumImportSource(src.forum_imports, kind_hash("forum_imports")),
        *network_sources(cfg),
    ]


class CollectStage(Stage):
    name = "collect"
    main_table = "collect_items"
    unit_tables = ("collect_items", "collect_fetches", "collect_cursors")

    def __init__(self, cfg: RunConfig, sources: list[Source] | None = None) -> None:
        super().__init__(cfg)
        self.sources = {s.name: s for s in (sources or build_sources(cfg, self.kind_hash))}
        self.file_hashes = FileHashes()

    def unit_kinds(self) -> dict[str, UnitKind]:
        """One kind per source: a local folder reads only its own settings, so adding a PDF folder or
        changing HTTP timeouts re-hashes no video."""
        return {**LOCAL_KINDS, **NETWORK_KINDS}

    def resources(self, unit: WorkUnit) -> tuple[str, ...]:
        """Network units download (`download`, and `host:<name>` for per-host politeness limits)."""
        p, src = unit.payload, self.cfg.collect.sources
        hosts = {"youtube": "www.youtube.com", "pubmed": urlparse(src.pubmed.eutils_base).netloc.lower(),
                 "reddit": "oauth.reddit.com", "forum_dumps": ""}
        host = urlparse(p["url"]).netloc.lower() if p.get("url") else hosts.get(str(p.get("source")))
        if p.get("source") == "forum_dumps" and src.reddit.download_images:  # images from many hosts
            return ("download",)
        return ("download", f"host:{host}") if host else ()

    def candidates(self, con: duckdb.DuckDBPyConnection) -> Iterator[WorkUnit]:
        cursors = read_cursors(con)
        self.file_hashes = FileHashes.load(con)
        for source in self.sources.values():
            source.hash_file = self.file_hashes.sha256
            if isinstance(source, NetworkSource):
                source.cursors, source.peer_cursors = cursors.get(source.name, {}), cursors
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
                    res.incomplete = True
            elif isinstance(entry, CursorRecord):
                res.add("collect_cursors", entry.row())
            else:
                res.add("collect_items", item_row(entry, retrieved))
        return res


    def finalize(self, con: duckdb.DuckDBPyConnection, report: StageReport) -> None:
        """Remember the file hashes read this run, so the next one reads only changed files."""
        self.file_hashes.save(con)


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
    for source in CollectStage(cfg).sources.values():
        if isinstance(source, NetworkSource):
            source.cursors = (cursors or {}).get(source.name, {})
            yield from source.plan()
        else:
            n = sum(1 for _ in source.units())
            if n:
                yield f"{source.name}\t{n} local file unit(s)"
