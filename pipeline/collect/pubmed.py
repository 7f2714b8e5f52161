"""PubMed Central: Entrez esearch over date windows, efetch of JATS in batches, figures from the PMC
Cloud Service, the licence as PMC states it (OA file lists, Cloud Service metadata; JATS text as fallback).

One work unit is one publication-date window of the query. Closed windows keep their fingerprint, so a
rerun skips them and "the next run starts where the last one ended"; the window that contains today is
fingerprinted with today's date and redone on a later day. A finished window also writes a cursor row.
Requests go through the shared client (NCBI's 3 requests/s, 10 with an API key; `email` and `tool` sent),
and responses are parsed with Biopython's Entrez parser (esearch) and lxml (the JATS article set).
"""

from __future__ import annotations

import io
import os
from collections.abc import Generator, Iterator
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from lxml import etree

from pipeline.collect.base import CollectedItem
from pipeline.collect.http import Fetch, HttpClient
from pipeline.collect.netbase import (
    CursorRecord,
    FetchRecord,
    NetEntry,
    NetworkSource,
    fetch_outcome,
    link_or_copy,
)
from pipeline.collect.pmc_oa import (
    CloudRecord,
    FileList,
    decide_licence,
    listing_params,
    listing_url,
    media_by_stem,
    metadata_url,
    parse_metadata,
    parse_versions,
)
from pipeline.collect.pmc_oa import licence_group as group_of_id
from pipeline.config.sources import PubMedConfig
from pipeline.formats.licences import normalise_licence
from pipeline.hashing import fingerprint, sha256_bytes
from pipeline.stage import Reject, WorkUnit

ESEARCH_PAGE = 5000
CLOUD_LIST_PAGES = 5  # a version listing of one article fits one page; a few more for safety
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".tif", ".tiff")
_PARSER = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=True)


def licence_group(licence: str | None) -> str:
    """PMC's Cloud Service groups: oa_comm (CC BY, BY-SA, BY-ND, CC0, public domain), oa_noncomm (any
    NonCommercial licence), else oa_other. `licence` is a licence id, URL or text (normalised first)."""
    return group_of_id(normalise_licence(licence))


@lru_cache(maxsize=2)
def _parsed_lists(files: tuple[tuple[str, int, int], ...]) -> FileList:
    """The file lists parsed once per process (keyed by path, size and mtime: a new list is parsed anew)."""

    def lines(path: str) -> Iterator[str]:
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
            yield from fh

    return FileList.parse(lines(path) for path, _, _ in files)


def date_windows(start: date, end: date, days: int) -> Iterator[tuple[date, date]]:
    cur = start
    while cur <= end:
        stop = min(end, cur + timedelta(days=max(1, days) - 1))
        yield cur, stop
        cur = stop + timedelta(days=1)


def _day(text: str) -> date:
    return datetime.strptime(text.replace("-", "/"), "%Y/%m/%d").date()


class PubMedSource(NetworkSource):
    name = "pubmed"

    def __init__(
        self,
        cfg: PubMedConfig,
        client: HttpClient,
        data_dir: Path,
        config_hash: str,
        today: date | None = None,
    ) -> None:
        super().__init__(client, config_hash)
        self.cfg, self.articles_dir = cfg, data_dir / "collect" / "pmc"
        self.today = today or datetime.now(UTC).date()
        self.query_key = fingerprint(cfg.query, cfg.db)
        self.file_list: FileList | None = None

    def _params(self, **extra: str) -> dict[str, str]:
        p = {"tool": self.cfg.tool, **extra}
        if self.cfg.email:
            p["email"] = self.cfg.email
        if key := os.environ.get(self.cfg.api_key_env):
            p["api_key"] = key
        return p

    def _windows(self) -> Iterator[tuple[str, date, date]]:
        end = _day(self.cfg.date_to) if self.cfg.date_to else self.today
        done = self.cursors.get(self.query_key, set())
        for a, b in date_windows(_day(self.cfg.date_from), end, self.cfg.window_days):
            key = f"{a:%Y/%m/%d}-{b:%Y/%m/%d}"
            if key not in done:
                yield key, a, b

    def units(self) -> Iterator[WorkUnit]:
        for key, a, b in self._windows():
            is_open = b >= self.today
            yield WorkUnit(
                key=f"pubmed:{self.query_key}:{key}",
                fingerprint=fingerprint(self.config_hash, key, str(self.today) if is_open else "closed"),
                payload={
                    "source": self.name,
                    "window": key,
                    "mindate": f"{a:%Y/%m/%d}",
                    "maxdate": f"{b:%Y/%m/%d}",
                },
            )

    def units_offline(self) -> Iterator[str]:
        for unit in self.units():
            p = unit.payload
            yield (
                f"esearch {self.cfg.eutils_base}/esearch.fcgi db={self.cfg.db} pdat {p['mindate']}..{p['maxdate']}"
                f" term={self.cfg.query!r}; then efetch JATS in batches of {self.cfg.batch_size}"
                + (f", figures from {self.cfg.cloud_base}" if self.cfg.figures else "")
                + (
                    f", licences from {len(self.cfg.oa_file_lists)} OA file list(s)"
                    if self.cfg.oa_file_lists
                    else ""
                )
                + (", version and licence from the Cloud Service metadata" if self.cfg.cloud_metadata else "")
            )

    def search(self, mindate: str, maxdate: str) -> tuple[list[str], list[Fetch], str | None]:
        """All ids in one window, page by page; returns (ids, fetches, error)."""
        from Bio import Entrez

        ids: list[str] = []
        fetches: list[Fetch] = []
        start = 0
        while True:
            fetch, body = self.client.get_api(
                f"{self.cfg.eutils_base}/esearch.fcgi",
                self._params(
                    db=self.cfg.db,
                    term=self.cfg.query,
                    datetype="pdat",
                    mindate=mindate,
                    maxdate=maxdate,
                    retstart=str(start),
                    retmax=str(ESEARCH_PAGE),
                ),
            )
            fetches.append(fetch)
            if body is None:
                return ids, fetches, None
            try:
                record = Entrez.read(io.BytesIO(body))
                count, page = int(record["Count"]), [str(i) for i in record["IdList"]]
            except Exception as exc:  # noqa: BLE001 - Biopython raises several parser errors
                fetch.status, fetch.error = "invalid_xml", f"esearch: {type(exc).__name__}: {exc}"[:300]
                return ids, fetches, fetch.error
            ids.extend(page)
            start += len(page)
            limit = self.cfg.max_results
            if not page or start >= count or (limit is not None and len(ids) >= limit):
                return ids[:limit] if limit is not None else ids, fetches, None

    def items(self, unit: WorkUnit) -> Iterator[NetEntry]:  # type: ignore[override]
        window = unit.payload["window"]
        clean = True
        for entry in self._load_file_lists():
            clean &= not (isinstance(entry, FetchRecord) and entry.fetch.transient)
            yield entry
        ids, fetches, _ = self.search(unit.payload["mindate"], unit.payload["maxdate"])
        seen = set[str]()
        for f in fetches:
            clean &= f.ok
            yield from fetch_outcome(self.name, f"search:{window}", f)
        for n in range(0, len(ids), self.cfg.batch_size):
            batch = ids[n : n + self.cfg.batch_size]
            for entry in self._batch(batch, seen):
                if isinstance(entry, FetchRecord) and entry.fetch.transient:
                    clean = False
                yield entry
        if clean:
            yield CursorRecord(self.name, self.query_key, window)

    def _fetch_articles(self, batch: list[str]) -> Iterator[tuple[str, Fetch, bytes | None]]:
        """(label, fetch, body) per request: one efetch per batch, or Europe PMC one article at a time."""
        if not self.cfg.europepmc:
            fetch, body = self.client.get_api(
                f"{self.cfg.eutils_base}/efetch.fcgi",
                self._params(db=self.cfg.db, id=",".join(batch), retmode="xml"),
            )
            yield f"efetch:{batch[0]}..{batch[-1]}", fetch, body
            return
        for pmc in batch:
            pmcid = pmc if pmc.upper().startswith("PMC") else f"PMC{pmc}"
            fetch, body = self.client.get_api(f"{self.cfg.europepmc_base}/{pmcid}/fullTextXML")
            yield f"europepmc:{pmcid}", fetch, body

    def _batch(self, batch: list[str], seen: set[str]) -> Iterator[NetEntry]:
        for label, fetch, body in self._fetch_articles(batch):
            articles: list[etree._Element] = []
            if body is not None:
                try:
                    root = etree.fromstring(body, _PARSER)
                    # local-name: JATS 1.3 (OAI-PMH, Europe PMC) may be namespaced; nested sub-articles stay inside
                    articles = root.xpath(
                        "descendant-or-self::*[local-name()='article']"
                        "[not(ancestor::*[local-name()='article'])]"
                    )
                except etree.XMLSyntaxError as exc:
                    fetch.status, fetch.error = "invalid_xml", str(exc)[:300]
            yield from fetch_outcome(self.name, label, fetch)
            for article in articles:
                yield from self._article(
                    etree.tostring(article, xml_declaration=True, encoding="UTF-8"), seen
                )

    def _load_file_lists(self) -> Iterator[NetEntry]:
        """PMC's OA file lists, once per source: a URL is downloaded into the raw store (once; a newer list
        needs a new URL or a local copy), a path is read in place; then parsed in the process cache."""
        if self.file_list is not None or not self.cfg.oa_file_lists:
            return
        files: list[tuple[str, int, int]] = []
        for where in self.cfg.oa_file_lists:
            if "://" in where:
                f = self.client.download(where, suffix=".csv")
                yield from fetch_outcome(self.name, f"file_list:{where}", f)
                if not f.ok or not f.path:
                    continue
                path = Path(f.path)
            else:
                path = Path(where)
                if not path.is_file():
                    yield Reject(f"file_list:{where}", "file_list_missing", "no such file")
                    continue
            st = path.stat()
            files.append((str(path), st.st_size, st.st_mtime_ns))
        self.file_list = _parsed_lists(tuple(files))

    def _cloud(self, pmcid: str) -> Generator[NetEntry, None, tuple[CloudRecord | None, str]]:
        """(the metadata object of the article's current version in the Cloud Service, the highest one a
        ListObjectsV2 listing of `<pmcid>.` shows; `found`, `absent` when the bucket holds no version, or
        `failed`). Each request is a collect_fetches row; a bad answer is a status, not a crash."""
        base, versions, token = self.cfg.cloud_base, list[int](), None
        for _ in range(CLOUD_LIST_PAGES):
            fetch, body = self.client.get_api(listing_url(base), listing_params(pmcid, token))
            found: list[int] = []
            if body is not None:
                try:
                    found, token = parse_versions(body, pmcid)
                except etree.XMLSyntaxError as exc:
                    fetch.status, fetch.error, token = "invalid_xml", f"listing: {exc}"[:300], None
            yield from fetch_outcome(self.name, f"cloud_list:{pmcid}", fetch)
            if not fetch.ok:
                return None, "failed"
            versions += found
            if not token:
                break
        if not versions:
            return None, "absent"
        version = max(versions)
        fetch, body = self.client.get_api(metadata_url(base, pmcid, version))
        record = None
        if body is not None:
            try:
                record = parse_metadata(body, pmcid, version)
            except ValueError as exc:
                fetch.status, fetch.error = "invalid_json", str(exc)[:300]
        yield from fetch_outcome(self.name, f"cloud_meta:{pmcid}.{version}", fetch)
        return record, "found" if record is not None else "failed"

    def _article(self, xml: bytes, seen: set[str]) -> Iterator[NetEntry]:
        from pipeline.formats.jats import parse_jats

        try:
            art = parse_jats(xml)
        except Exception as exc:  # noqa: BLE001 - one bad article is a reject, not a failed window
            yield Reject(f"article:{sha256_bytes(xml)[:12]}", "malformed_xml", str(exc)[:300])
            return
        pmcid = art.pmcid or (f"PMID{art.pmid}" if art.pmid else f"sha{sha256_bytes(xml)[:12]}")
        if pmcid in seen:  # the same article twice in one window would void the whole unit (key conflict)
            yield Reject(f"article:{pmcid}", "duplicate_item", "returned twice in one search window")
            return
        seen.add(pmcid)
        record, cloud = (
            (yield from self._cloud(pmcid)) if self.cfg.cloud_metadata and art.pmcid else (None, "off")
        )
        if record is not None and record.retracted and self.cfg.skip_retracted:
            yield Reject(
                f"article:{pmcid}", "retracted", f"PMC Cloud Service metadata, version {record.version}"
            )
            return
        listed = self.file_list.licence(pmcid) if self.file_list is not None else None
        decision = decide_licence(listed, record.licence_code if record else None, art.licence)
        group = group_of_id(decision.licence)
        if group not in self.cfg.licence_groups:
            said = decision.statements.get(decision.source) or "no licence stated"
            yield Reject(
                f"article:{pmcid}",
                "licence_excluded",
                f"{group}: {decision.licence} ({decision.source}: {said})"[:500],
            )
            return
        raw, sha = self.client.store.put_bytes(xml, ".xml")
        folder = self.articles_dir / pmcid
        xml_path = folder / f"{pmcid}.xml"
        link_or_copy(raw, xml_path)
        figures: dict[str, str] = {}
        if self.cfg.figures and cloud in ("absent", "failed") and art.figures:
            # no version to name (cloud_metadata off assumes the first): a guessed URL would only 404
            yield Reject(f"figures:{pmcid}", "figures_not_in_cloud", f"Cloud Service listing: {cloud}")
        elif self.cfg.figures:
            media = media_by_stem(record, self.cfg.cloud_base)
            for fig in art.figures:
                for href in fig.graphic_hrefs:
                    name = href.replace("\\", "/").rsplit("/", 1)[-1]  # 'info:doi/10.1371/x.g001' -> 'x.g001'
                    ext = "" if Path(name).suffix.lower() in IMAGE_SUFFIXES else self.cfg.figure_ext
                    url = (
                        media.get(name)
                        or media.get(name + ext)
                        or self.cfg.figure_url_template.format(
                            base=self.cfg.cloud_base.rstrip("/"),
                            pmcid=pmcid,
                            version=record.version if record else 1,
                            href=name,
                            ext=ext,
                        )
                    )
                    suffix = Path(url.split("?", 1)[0]).suffix or ext or Path(name).suffix
                    f = self.client.download(url, suffix=suffix)
                    yield from fetch_outcome(self.name, f"figure:{pmcid}:{name}", f, decision.licence)
                    if f.ok and f.path:
                        dest = folder / (
                            name + ("" if Path(name).suffix.lower() in IMAGE_SUFFIXES else suffix)
                        )
                        link_or_copy(Path(f.path), dest)
                        figures[href] = str(dest)
        meta: dict[str, Any] = {
            "pmcid": art.pmcid,
            "pmid": art.pmid,
            "doi": art.doi,
            "licence_group": group,
            "licence_source": decision.source,
            "licence_statements": decision.statements,
            "licence_conflict": decision.conflict,
            "pmc_version": record.version if record else None,
            "raw_path": str(raw),
            "figures": figures,
            "n_figures": len(art.figures),
            "bytes": len(xml),
        }
        yield CollectedItem(
            kind="article",
            source="pubmed_english",
            source_type="knowledge",
            source_id=pmcid,
            path=xml_path,
            sha256=sha,
            title=art.title,
            url=f"https://pmc.ncbi.nlm.nih.gov/articles/{pmcid}/",
            licence=decision.licence,
            meta=meta,
        )
