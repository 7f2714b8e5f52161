"""Content hashes of local files, remembered by (size, mtime, inode) so a rerun reads only what changed.

Collect fingerprints every local unit by the sha256 of its file and sidecars, on every build, to find new
work. At Derm1M scale (566k articles with their figure files, 100k-image datasets) reading every byte on
each build made a no-op rerun cost minutes; like git's index, a file whose size, mtime and inode are as
recorded keeps its recorded hash. A file modified within the last two seconds is not recorded (it could
change again within the same mtime tick), so the next run reads it again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from pipeline.hashing import sha256_file
from pipeline.warehouse import insert_rows

RACY_NS = 2_000_000_000


def canonical(path: Path | str) -> str:
    """An absolute, normalised path without a filesystem call per file (Path.resolve() took an lstat per
    component); symlinks stay as named, which is enough for matching a folder listing against its units.
    A string: hashing Path objects was a tenth of a no-op rerun at 200k files."""
    return os.path.normpath(os.path.abspath(path))


def walk_files(root: str) -> Iterator[str]:
    """Files under a folder, as Path.rglob("*") then is_file() gave them (symlinked folders are listed,
    not entered; a symlink to a file counts), from os.scandir without a Path object or stat per file."""
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for e in entries:
                    if e.is_dir():
                        if not e.is_symlink():
                            stack.append(e.path)
                    elif e.is_file():
                        yield e.path
        except OSError:
            continue


class FileHashes:
    """sha256 of files by path, from the warehouse's `collect_file_hashes` when the file is unchanged."""

    def __init__(self, known: dict[str, tuple[int, int, int, str]] | None = None) -> None:
        self.known = known or {}
        self.new: dict[str, tuple[int, int, int, str]] = {}

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection) -> FileHashes:
        rows = con.execute("SELECT path, size, mtime_ns, inode, sha256 FROM collect_file_hashes").fetchall()
        return cls({p: (s, m, i, h) for p, s, m, i, h in rows})

    def sha256(self, path: Path) -> str:
        st = path.stat()
        key = str(path)
        sig = (st.st_size, st.st_mtime_ns, st.st_ino)
        hit = self.known.get(key) or self.new.get(key)
        if hit is not None and hit[:3] == sig:
            return hit[3]
        digest = sha256_file(path)
        if time.time_ns() - st.st_mtime_ns > RACY_NS:
            self.new[key] = (*sig, digest)
        return digest

    def save(self, con: duckdb.DuckDBPyConnection) -> int:
        """Record the hashes read this run (replacing older entries of the same paths)."""
        if not self.new:
            return 0
        rows = [{"path": p, "size": s, "mtime_ns": m, "inode": i, "sha256": h} for p, (s, m, i, h) in self.new.items()]
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("DELETE FROM collect_file_hashes WHERE path IN (SELECT unnest(?))", [list(self.new)])
            insert_rows(con, "collect_file_hashes", rows)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        self.known.update(self.new)
        self.new = {}
        return len(rows)
