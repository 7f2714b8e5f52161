"""The source contract: a source lists work units (files, API pages) and turns one unit into items.

Local folders implement it here; network collectors (YouTube, PubMed Central, Reddit) implement the same
two methods, so the collect stage does not care where items come from.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pipeline.collect.filehash import canonical, walk_files
from pipeline.hashing import combine, fingerprint, sha256_file
from pipeline.stage import Reject, WorkUnit


@dataclass
class CollectedItem:
    """One source item: a video, an article, a PDF, a post or a dataset image, with provenance."""

    kind: str
    source: str
    source_type: str
    source_id: str
    path: Path
    sha256: str
    title: str | None = None
    url: str | None = None
    licence: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def item_id(self) -> str:
        return f"{self.kind}:{self.source_id}"


class Source(ABC):
    """A producer of collect work units. `name` is stored in each unit's payload to route it back."""

    name: ClassVar[str]
    # how units hash their files: the collect stage puts its FileHashes cache here (pipeline/collect/filehash.py)
    hash_file: Callable[[Path], str] = staticmethod(sha256_file)

    @abstractmethod
    def units(self) -> Iterator[WorkUnit]:
        """Every unit this source offers now; cheap, since it runs on each build to find new work."""

    @abstractmethod
    def items(self, unit: WorkUnit) -> Iterator[CollectedItem | Reject]:
        """Parse one unit into items; bad entries come out as Reject, never as exceptions."""


def file_unit(source: str, path: Path, sidecars: list[Path], config_hash: str,
              hash_file: Callable[[Path], str] = sha256_file) -> WorkUnit:
    """A unit keyed by the file's location, fingerprinted by its content and its sidecars' content."""
    hashes = [hash_file(path)] + [f"{p.name}:{hash_file(p)}" for p in sorted(sidecars) if p.is_file()]
    content = combine(hashes)  # the item's sha256: content only, so collect settings never ripple downstream
    return WorkUnit(
        key=f"{source}:{canonical(path)}",
        fingerprint=fingerprint(content, config_hash),
        payload={"source": source, "path": canonical(path), "sidecars": [str(p) for p in sidecars],
                 "content_sha256": content},
    )


def files_signature(paths: list[Path]) -> list[str]:
    """Cheap signature (name, size, mtime) of the media files a unit references, so an edited image
    triggers a redo of its unit (and only of its unit)."""
    out = []
    for p in sorted(set(paths)):
        try:
            st = p.stat()
            out.append(f"{p}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            out.append(f"{p}:missing")
    return out


UNSUPPORTED_FILE = "unsupported_file"


def unsupported_unit(source: str, roots: list[Path], claimed: set[str], config_hash: str,
                     scope: str = "") -> WorkUnit | None:
    """One unit for the files under a source's folders that no unit claims as its file or a sidecar (an
    audio-only `.m4a` among videos, a `.tar.gz` package among articles): each becomes an `unsupported_file`
    reject, so every file found ends as an item or a reject. Hidden files (`.DS_Store`) are skipped."""
    files = sorted({c for root in roots if root.is_dir() for p in walk_files(str(root))
                    if not os.path.basename(p).startswith(".") and (c := canonical(p)) not in claimed})
    if not files:
        return None
    listing = [f"{p}:{os.stat(p).st_size}" for p in files]
    return WorkUnit(f"{source}:{scope + ':' if scope else ''}unsupported", fingerprint(listing, config_hash),
                    {"source": source, "unsupported": files})


def unsupported_rejects(unit: WorkUnit, what: str) -> Iterator[Reject]:
    for name in unit.payload["unsupported"]:
        path = Path(name)
        kind = "".join(path.suffixes[-2:]) or "no suffix"
        yield Reject(str(path), UNSUPPORTED_FILE, f"{kind}: not a file {what} reads")
