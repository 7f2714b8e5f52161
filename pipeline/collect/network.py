"""Wiring for the network sources: the shared client, the source list, cursors, and the dry-run plan."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import duckdb

from pipeline.collect.http import HttpClient
from pipeline.collect.netbase import NCBI_INTERVAL_KEY_S, NCBI_INTERVAL_S, NetworkSource
from pipeline.config import RunConfig
from pipeline.hashing import fingerprint


def make_client(cfg: RunConfig) -> HttpClient:
    h = cfg.collect.http
    intervals = dict(h.host_intervals)
    pm = cfg.collect.sources.pubmed
    ncbi_host = urlsplit(pm.eutils_base).netloc
    intervals.setdefault(ncbi_host, NCBI_INTERVAL_KEY_S if os.environ.get(pm.api_key_env) else NCBI_INTERVAL_S)
    return HttpClient(
        cfg.data_dir / "raw", timeout_s=h.timeout_s, max_retries=h.max_retries, backoff_base_s=h.backoff_base_s,
        backoff_max_s=h.backoff_max_s, min_interval_s=h.min_interval_s, host_intervals=intervals,
        max_bytes=h.max_bytes, cache_dir=cfg.data_dir / "raw" / "_api_cache" if h.cache_api_responses else None,
    )


def network_sources(cfg: RunConfig, client: HttpClient | None = None) -> list[NetworkSource]:
    """The enabled network sources, sharing one client. Imports are lazy: yt-dlp is an optional extra."""
    src = cfg.collect.sources
    if not (src.youtube.enabled or src.pubmed.enabled or src.reddit.enabled or src.forum_dumps
            or src.pdf_urls):
        return []
    client = client or make_client(cfg)
    out: list[NetworkSource] = []
    if src.pubmed.enabled:
        from pipeline.collect.pubmed import PubMedSource

        out.append(PubMedSource(src.pubmed, client, cfg.data_dir, fingerprint(src.pubmed.model_dump(mode="json"))))
    if src.youtube.enabled:
        from pipeline.collect.youtube import YouTubeSource

        out.append(YouTubeSource(src.youtube, client, cfg.data_dir,
                                 fingerprint(src.youtube.model_dump(mode="json"))))
    if src.pdf_urls:
        from pipeline.collect.pdf_urls import PdfUrlSource

        out.append(PdfUrlSource(src.pdf_urls, client, fingerprint([u.model_dump(mode="json")
                                                                   for u in src.pdf_urls])))
    if src.reddit.enabled or src.forum_dumps:
        from pipeline.collect.forums import forum_sources

        out.extend(forum_sources(cfg, client))
    return out


def read_cursors(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, set[str]]]:
    out: dict[str, dict[str, set[str]]] = {}
    for source, key, value in con.execute("SELECT source, cursor_key, value FROM collect_cursors").fetchall():
        out.setdefault(source, {}).setdefault(key, set()).add(value)
    return out
