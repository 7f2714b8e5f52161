"""Teaching PDFs from URL lists: one work unit per URL, downloaded once into the raw store."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from pipeline.collect.base import CollectedItem
from pipeline.collect.http import HttpClient
from pipeline.collect.netbase import NetEntry, NetworkSource, fetch_outcome
from pipeline.config.sources import PdfUrlListConfig
from pipeline.hashing import fingerprint
from pipeline.stage import WorkUnit


def read_url_list(path: Path) -> list[str]:
    lines = (ln.strip() for ln in path.read_text(encoding="utf-8").splitlines())
    return list(dict.fromkeys(ln for ln in lines if ln and not ln.startswith("#")))


class PdfUrlSource(NetworkSource):
    name = "pdf_urls"

    def __init__(self, lists: list[PdfUrlListConfig], client: HttpClient, config_hash: str) -> None:
        super().__init__(client, config_hash)
        self.lists = {lst.name: lst for lst in lists}

    def units(self) -> Iterator[WorkUnit]:
        for lst in self.lists.values():
            for url in read_url_list(lst.list_file):
                key = hashlib.sha1(url.encode()).hexdigest()[:16]
                yield WorkUnit(f"pdf_urls:{lst.name}:{key}", fingerprint(self.config_hash, url),
                               {"source": self.name, "list": lst.name, "url": url, "url_key": key})

    def units_offline(self) -> Iterator[str]:
        for unit in self.units():
            yield f"pdf {unit.payload['url']} (list {unit.payload['list']})"

    def items(self, unit: WorkUnit) -> Iterator[NetEntry]:  # type: ignore[override]
        lst, url = self.lists[unit.payload["list"]], unit.payload["url"]
        item_key = f"pdf:{lst.name}:{unit.payload['url_key']}"
        fetch = self.client.download(url, ".pdf")
        if fetch.ok and fetch.path and Path(fetch.path).read_bytes()[:5] != b"%PDF-":
            fetch.status, fetch.error = "not_pdf", f"content type {fetch.content_type}, no %PDF- header"
        yield from fetch_outcome(self.name, item_key, fetch, lst.licence)
        if not fetch.ok or fetch.path is None or fetch.sha256 is None:
            return
        name = Path(url.split("?", 1)[0]).stem or unit.payload["url_key"]
        yield CollectedItem(kind="pdf", source="textbook_english", source_type="knowledge",
                            source_id=f"{lst.name}:{unit.payload['url_key']}", path=Path(fetch.path),
                            sha256=fetch.sha256, title=name, url=url, licence=lst.licence,
                            meta={"bytes": fetch.bytes, "list": lst.name})

