"""Files by path or fsspec URL, so the media store and exported files can live on object storage.

A plain path (or `file://`) stays on the local filesystem with an atomic temp-file-and-rename write; any
other URL (`s3://`, `gs://`, `memory://`, ...) goes through fsspec, whose object stores make a single put
atomic already. Remote protocols need their fsspec package installed (s3fs, gcsfs); none is by default.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Any

import fsspec
from fsspec.core import url_to_fs

Location = str | Path


def is_remote(location: Location) -> bool:
    """True for a URL with a protocol other than the local filesystem."""
    s = str(location)
    return "://" in s and not s.startswith("file://")


def join(base: Location, *parts: str) -> Location:
    """`base/part/...`, keeping a Path a Path and a URL a URL."""
    if is_remote(base):
        return "/".join([str(base).rstrip("/"), *parts])
    return Path(base).joinpath(*parts)


def _fs(location: Location) -> tuple[Any, str]:
    return url_to_fs(str(location))


def exists(location: Location) -> bool:
    if not is_remote(location):
        return Path(location).exists()
    fs, path = _fs(location)
    return bool(fs.exists(path))


def read_bytes(location: Location) -> bytes:
    if not is_remote(location):
        return Path(location).read_bytes()
    fs, path = _fs(location)
    return bytes(fs.cat_file(path))


def remove(location: Location) -> None:
    """Delete a file if it is there (a takedown's image)."""
    if not is_remote(location):
        Path(location).unlink(missing_ok=True)
        return
    fs, path = _fs(location)
    if fs.exists(path):
        fs.rm_file(path)


def write_bytes(location: Location, data: bytes) -> None:
    """Write whole-or-nothing: a reader never sees a half-written file, a kill leaves at most a `.part`."""
    if is_remote(location):
        fs, path = _fs(location)
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        fs.pipe_file(path, data)
        return
    dest = Path(location)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def open_file(location: Location, mode: str = "rb") -> IO[Any]:
    """An open file object for PIL, pyarrow or csv readers; local paths open directly."""
    if not is_remote(location):
        return open(location, mode)  # noqa: SIM115 - the caller closes it
    return fsspec.open(str(location), mode).open()  # type: ignore[no-any-return]


def write_parquet(table: Any, location: Location) -> None:
    """A pyarrow Table to Parquet at a path or URL (an export or a warehouse snapshot on object storage)."""
    import pyarrow.parquet as pq

    if not is_remote(location):
        Path(location).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, str(location))
        return
    fs, path = _fs(location)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "wb") as fh:
        pq.write_table(table, fh)
