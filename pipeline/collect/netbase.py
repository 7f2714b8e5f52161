"""What network sources yield besides items: per-fetch status rows and cursor updates.

`items(unit)` of a network source yields `CollectedItem`, `Reject`, `FetchRecord` and `CursorRecord`;
the collect stage routes them to `collect_items`, `rejects`, `collect_fetches` and `collect_cursors`.
A unit that met a transient failure (timeout, 5xx, truncated body) is committed with what it got but
with a fingerprint marked for retry, so the next run redoes it; the download ledger and the API cache
make that redo request only what failed.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.collect.base import CollectedItem, Source
from pipeline.collect.http import Fetch, HttpClient
from pipeline.stage import Reject, WorkUnit


@dataclass
class FetchRecord:
    source: str
    item_key: str
    fetch: Fetch
    licence: str | None = None

    def row(self) -> dict[str, Any]:
        f = self.fetch
        return {
            "source": self.source, "item_key": self.item_key, "url": f.url, "status": f.status,
            "http_status": f.http_status, "error": f.error or None, "bytes": f.bytes, "sha256": f.sha256,
            "raw_path": f.path, "licence": self.licence, "from_cache": f.from_cache,
            "fetched_at": datetime.now(UTC).replace(tzinfo=None),
        }


@dataclass
class CursorRecord:
    source: str
    cursor_key: str
    value: str

    def row(self) -> dict[str, Any]:
        return {"source": self.source, "cursor_key": self.cursor_key, "value": self.value,
                "updated_at": datetime.now(UTC).replace(tzinfo=None)}


def fetch_outcome(source: str, item_key: str, fetch: Fetch, licence: str | None = None
                  ) -> Iterator[FetchRecord | Reject]:
    """The status row for a fetch, plus a reject row (reason = the fetch status) when it failed."""
    yield FetchRecord(source, item_key, fetch, licence)
    if not fetch.ok:
        yield Reject(item_key, f"fetch_{fetch.status}", f"{fetch.url}: {fetch.error}"[:500])


NetEntry = CollectedItem | Reject | FetchRecord | CursorRecord

NCBI_INTERVAL_S, NCBI_INTERVAL_KEY_S = 1 / 3 + 0.01, 1 / 10 + 0.01  # 3 requests/s, 10 with an API key


class NetworkSource(Source):
    """A source whose units come from the network. `cursors` (cursor_key -> finished values) is set by
    the stage from `collect_cursors` before `units()` runs, and `peer_cursors` with every source's (source
    -> cursor_key -> values: the forum sources read each other's, so a post the Reddit API collected is not
    collected again from a dump, nor the reverse); `plan()` says what would be fetched, offline."""

    cursors: dict[str, set[str]]
    peer_cursors: dict[str, dict[str, set[str]]]

    def __init__(self, client: HttpClient, config_hash: str) -> None:
        self.client, self.config_hash = client, config_hash
        self.cursors, self.peer_cursors = {}, {}

    @abstractmethod
    def items(self, unit: WorkUnit) -> Iterator[NetEntry]:  # type: ignore[override]
        """Like `Source.items`, plus fetch status rows and cursor updates (see netbase)."""

    def plan(self) -> Iterator[str]:
        """One human-readable line per unit: what would be fetched and from where. Never touches the network."""
        for unit in self.units_offline():
            yield f"{self.name}\t{unit}"

    def units_offline(self) -> Iterator[str]:
        return iter(())


def link_or_copy(src: Path, dest: Path) -> None:
    """Put a raw file where a consumer expects it (an article folder) without a second copy on disk."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        return
    try:
        os.link(src, dest)
    except OSError:
        import shutil

        shutil.copyfile(src, dest)
