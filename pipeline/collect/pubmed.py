"""PubMed Central: Entrez esearch over date windows, efetch of JATS in batches, figures from the PMC
Cloud Service, licence group per article.

One work unit is one publication-date window of the query. Closed windows keep their fingerprint, so a
rerun skips them and "the next run starts where the last one ended"; the window that contains today is
fingerprinted with today's date and redone on a later day. A finished window also writes a cursor row.
Requests go through the shared client (NCBI's 3 requests/s, 10 with an API key; `email` and `tool` sent),
and responses are parsed with Biopython's Entrez parser (esearch) and lxml (the JATS article set).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
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
from pipeline.config.sources import PubMedConfig
from pipeline.hashing import fingerprint, sha256_bytes
from pipeline.stage import Reject, WorkUnit

ESEARCH_PAGE = 5000
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".tif", ".tiff")
_PARSER = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=True)


def licence_group(licence: str | None) -> str:
    """PMC's Cloud Service groups: oa_comm (CC BY, BY-SA, BY-ND, CC0, public domain), oa_noncomm (any
    NonCommercial licence), else oa_other. `licence` is the JATS licence URL or, failing that, its text."""
    text = (licence or "").lower()
    if "creativecommons.org" in text:
        return "oa_noncomm" if "-nc" in text or "/nc" in text else "oa_comm"
    if "creative commons" in text:
        return "oa_noncomm" if "noncommercial" in text or "non-commercial" in text else "oa_comm"
    return "oa_other"


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

    def __init__(self, cfg: PubMedConfig, client: HttpClient, data_dir: Path, config_hash: str,
                 today: date | None = None) -> None:
        super().__init__(client, config_hash)
        self.cfg, self.articles_dir = cfg, data_dir / "collect" / "pmc"
        self.today = today or datetime.now(UTC).date()
        self.query_key = fingerprint(cfg.query, cfg.db)

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
                payload={"source": self.name, "window": key, "mindate": f"{a:%Y/%m/%d}", "maxdate": f"{b:%Y/%m/%d}"},
            )

    def units_offline(self) -> Iterator[str]:
        for unit in self.units():
            p = unit.payload
            yield (f"esearch {self.cfg.eutils_base}/esearch.fcgi db={self.cfg.db} pdat {p['mindate']}..{p['maxdate']}"
                   f" term={self.cfg.query!r}; then efetch JATS in batches of {self.cfg.batch_size}"
                   + (f", figures from {self.cfg.figure_url_template.split('{')[0]}" if self.cfg.figures else ""))

    def search(self, mindate: str, maxdate: str) -> tuple[list[str], list[Fetch], str | None]:
        """All ids in one window, page by page; returns (ids, fetches, error)."""
        from Bio import Entrez

        ids: list[str] = []
        fetches: list[Fetch] = []
        start = 0
        while True:
            fetch, body = self.client.get_api(f"{self.cfg.eutils_base}/esearch.fcgi", self._params(
                db=self.cfg.db, term=self.cfg.query, datetype="pdat", mindate=mindate, maxdate=maxdate,
                retstart=str(start), retmax=str(ESEARCH_PAGE)))
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
        ids, fetches, _ = self.search(unit.payload["mindate"], unit.payload["maxdate"])
        clean, seen = True, set[str]()
        for f in fetches:
            clean &= f.ok
            yield from fetch_outcome(self.name, f"search:{window}", f)
        for n in range(0, len(ids), self.cfg.batch_size):
            batch = ids[n:n + self.cfg.batch_size]
            for entry in self._batch(batch, seen):
                if isinstance(entry, FetchRecord) and entry.fetch.transient:
                    clean = False
                yield entry
        if clean:
            yield CursorRecord(self.name, self.query_key, window)

    def _fetch_articles(self, batch: list[str]) -> Iterator[tuple[str, Fetch, bytes | None]]:
        """(label, fetch, body) per request: one efetch per batch, or Europe PMC one article at a time."""
        if not self.cfg.europepmc:
            fetch, body = self.client.get_api(f"{self.cfg.eutils_base}/efetch.fcgi",
                                              self._params(db=self.cfg.db, id=",".join(batch), retmode="xml"))
            yield f"efetch:{batch[0]}..{batch[-1]}", fetch, body
            return
        for pmc in batch:
            pmcid = pmc if pmc.upper().startswith("PMC") else f"PMC{pmc}"
            fetch, body = self.client.get_api(f"{self.cfg.europepmc_base}/{pmcid}/fullTextXML")
            yield f"europepmc:{pmcid}", fetch, body

    def _batch(self, batch: list[str], seen: set[str]) -> Iterator[CollectedItem | Reject | FetchRecord]:
        for label, fetch, body in self._fetch_articles(batch):
            articles: list[etree._Element] = []
            if body is not None:
                try:
                    root = etree.fromstring(body, _PARSER)
                    # local-name: JATS 1.3 (OAI-PMH, Europe PMC) may be namespaced; nested sub-articles stay inside
                    articles = root.xpath("descendant-or-self::*[local-name()='article']"
                                          "[not(ancestor::*[local-name()='article'])]")
                except etree.XMLSyntaxError as exc:
                    fetch.status, fetch.error = "invalid_xml", str(exc)[:300]
            yield from fetch_outcome(self.name, label, fetch)
            for article in articles:
                yield from self._article(etree.tostring(article, xml_declaration=True, encoding="UTF-8"), seen)

    def _article(self, xml: bytes, seen: set[str]) -> Iterator[CollectedItem | Reject | FetchRecord]:
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
        group = licence_group(art.licence)
        if group not in self.cfg.licence_groups:
            yield Reject(f"article:{pmcid}", "licence_excluded", f"{group}: {art.licence or 'no licence'}")
            return
        raw, sha = self.client.store.put_bytes(xml, ".xml")
        folder = self.articles_dir / pmcid
        xml_path = folder / f"{pmcid}.xml"
        link_or_copy(raw, xml_path)
        figures: dict[str, str] = {}
        if self.cfg.figures:
            for fig in art.figures:
                for href in fig.graphic_hrefs:
                    name = href.replace("\\", "/").rsplit("/", 1)[-1]  # 'info:doi/10.1371/x.g001' -> 'x.g001'
                    ext = "" if Path(name).suffix.lower() in IMAGE_SUFFIXES else self.cfg.figure_ext
                    url = self.cfg.figure_url_template.format(pmcid=pmcid, version=1, href=name, ext=ext)
                    f = self.client.download(url, suffix=ext or Path(name).suffix)
                    yield from fetch_outcome(self.name, f"figure:{pmcid}:{name}", f, art.licence)
                    if f.ok and f.path:
                        dest = folder / (name + ext)
                        link_or_copy(Path(f.path), dest)
                        figures[href] = str(dest)
        meta: dict[str, Any] = {"pmcid": art.pmcid, "pmid": art.pmid, "doi": art.doi, "licence_group": group,
                                "raw_path": str(raw), "figures": figures, "n_figures": len(art.figures),
                                "bytes": len(xml)}
        yield CollectedItem(
            kind="article", source="pubmed_english", source_type="knowledge", source_id=pmcid, path=xml_path,
            sha256=sha, title=art.title, url=f"https://pmc.ncbi.nlm.nih.gov/articles/{pmcid}/",
            licence=art.licence or group, meta=meta,
        )
