"""What a local source accepts from the files it reads: text in a known encoding, paths that stay inside
the source's root, and forum posts whose fields have the types the warehouse stores.

A bad record becomes a reject with a reason, never an exception: one post whose `title` is a number, or
whose image path climbs out of the source folder (`../../etc/passwd`, or a symlink to elsewhere), must
not stop the build or reach the corpus.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.errors import ItemError
from pipeline.formats.encoding import UndecodableText, decode_text

PATH_OUTSIDE_SOURCE = "path_outside_source"
BAD_ENCODING = "bad_encoding"
WRONG_TYPE = "wrong_type"


def inside_root(path: Path, root: Path) -> Path | None:
    """`path` resolved (symlinks followed), or None when it lands outside `root` resolved."""
    try:
        resolved, base = path.resolve(), root.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return None
    return resolved if resolved == base or resolved.is_relative_to(base) else None


def root_of(path: Path, roots: list[Path]) -> Path:
    """The configured root a found file came from (a root may also be the file itself)."""
    for root in roots:
        if path == root or path.is_relative_to(root):
            return root if root.is_dir() else root.parent
    return path.parent


class ForumPost(BaseModel):
    """One forum post as a JSONL line gives it; other keys pass through (`extra="allow"`)."""

    model_config = ConfigDict(extra="allow", strict=True)

    id: str | int
    title: str | None = None
    body: str | None = None
    url: str | None = None
    licence: str | None = None
    forum: str | None = None
    images: list[str] = []
    replies: list[dict[str, Any]] = []


def parse_post(post: Any) -> tuple[ForumPost | None, str]:
    """(the post, "") or (None, why its fields cannot be stored)."""
    try:
        return ForumPost.model_validate(post), ""
    except ValidationError as exc:
        return None, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())[:500]


def read_text(path: Path) -> tuple[str, str]:
    """(text, encoding) of a text file a source reads (JSONL, CSV): UTF-8 (a BOM allowed) when it is,
    else the encoding charset-normalizer finds (Latin-1, cp1252, ...). Raises ItemError `bad_encoding` when
    none fits: text is never kept with U+FFFD replacement characters in it."""
    try:
        return decode_text(path.read_bytes())
    except UndecodableText as exc:
        raise ItemError(BAD_ENCODING, f"{path.name}: {exc}") from exc
