"""Pushshift / Arctic Shift dumps at dump scale: `.zst` or plain newline-delimited JSON, streamed.

A monthly Reddit dump is tens of GB of JSON compressed with a 2 GB zstd window; reading one whole (what
this importer did before) does not fit in memory. Lines are streamed through a bounded `readline`, so
memory holds one line (at most `max_line_bytes`) plus the posts the filters keep, never the dump.

Filters (subreddit, keyword, date) keep submissions; a byte-level prefilter rules out other subreddits'
lines before any JSON is parsed, so a line outside the filter costs a regex, not a `json.loads` (a
malformed line in another subreddit is therefore filtered, not rejected). Comments live in separate files
(`RC_2023-01.zst` beside `RS_2023-01.zst`, `X_comments.zst` beside `X_submissions.zst`) and are joined to
their submission by `link_id` in a second pass over the partner file, keeping only the kept posts' comments.

Units: one per submission file, keyed by its path and fingerprinted by the content hash of the file and
its comment partner (remembered by size/mtime/inode, so a no-op rerun reads neither) plus the filters.
Dumps are published as monthly or per-subreddit files that never change, so the file is the append unit.
Row chunks as for dataset CSVs do not fit: a `.zst` stream cannot be entered in the middle (a chunk would
decompress everything before it) and a chunk's comments can sit anywhere in the partner file.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pipeline.config.sources import ForumDumpFilterConfig

DUMP_SUFFIXES = (".zst", ".jsonl", ".ndjson", ".json")
READ_CHUNK = 1 << 20
_LINK_ID = re.compile(rb'"link_id"\s*:\s*"t3_([0-9a-zA-Z]+)"')

# a submission's fields this importer reads, with the JSON types each may have (None always allowed)
SUBMISSION_TYPES: dict[str, tuple[type, ...]] = {
    "id": (str, int), "title": (str,), "selftext": (str,), "subreddit": (str,), "score": (int, float),
    "created_utc": (int, float, str), "permalink": (str,), "url": (str,), "url_overridden_by_dest": (str,),
    "media_metadata": (dict,), "gallery_data": (dict,), "preview": (dict,), "over_18": (bool,),
    "removed_by_category": (str,),
}
COMMENT_TYPES: dict[str, tuple[type, ...]] = {
    "id": (str, int), "link_id": (str,), "parent_id": (str,), "body": (str,), "score": (int, float),
    "created_utc": (int, float, str), "author": (str,), "distinguished": (str,), "stickied": (bool,),
}


@dataclass
class DumpProblem:
    """A line or a whole file the importer could not use: becomes a reject with this reason."""

    ref: str
    reason: str
    detail: str


@dataclass
class DumpStats:
    lines: int = 0
    parsed: int = 0
    filtered: int = 0
    submissions: int = 0
    comments: int = 0
    problems: int = 0


def is_comment_file(path: Path) -> bool:
    name = path.name
    return name.startswith("RC_") or "_comments" in name or name.startswith("comments")


def partner_name(path: Path) -> str | None:
    """The comment file's name that pairs with a submission file (RS_ -> RC_, _submissions/_posts ->
    _comments), without its compression suffix."""
    stem = path.name.removesuffix(".zst")
    if stem.startswith("RS_"):
        return "RC_" + stem[3:]
    for part in ("_submissions", "_posts"):
        if part in stem:
            return stem.replace(part, "_comments")
    return None


def dump_files(roots: list[Path]) -> list[Path]:
    out: list[Path] = []
    for root in roots:
        if root.is_dir():
            out += sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith(DUMP_SUFFIXES))
        elif root.is_file():
            out.append(root)
    return list(dict.fromkeys(out))


def pair_files(files: list[Path]) -> tuple[list[tuple[Path, list[Path]]], list[Path]]:
    """([(submission or mixed file, its comment partner files)], comment files no submission file names)."""
    comments = {p.name.removesuffix(".zst"): p for p in files if is_comment_file(p)}
    groups, used = [], set()
    for path in files:
        if is_comment_file(path):
            continue
        partner = comments.get(partner_name(path) or "")
        groups.append((path, [partner] if partner else []))
        used.update([partner] if partner else [])
    return groups, [p for p in comments.values() if p not in used]


def zst_truncation(path: Path) -> str | None:
    """Why a `.zst` file ends in the middle of a frame, or None when its frames are complete. The
    decompressor's stream_reader ends silently at a cut (checked: half a file reads as a shorter one),
    so the frame and block headers are walked here: a seek per block, no decompression."""
    import zstandard

    size = path.stat().st_size
    with open(path, "rb") as fh:
        pos = 0
        while pos < size:
            fh.seek(pos)
            head = fh.read(18)
            magic = int.from_bytes(head[:4], "little")
            if 0x184D2A50 <= magic <= 0x184D2A5F:  # skippable frame
                if len(head) < 8:
                    return f"a skippable frame header cut at byte {pos}"
                pos += 8 + int.from_bytes(head[4:8], "little")
                continue
            try:
                header = zstandard.frame_header_size(head)
                checksum = zstandard.get_frame_parameters(head).has_checksum
            except zstandard.ZstdError as exc:
                return f"not a zstd frame at byte {pos}: {exc}"
            pos += header
            while True:
                fh.seek(pos)
                block = fh.read(3)
                if len(block) < 3:
                    return f"the file ends inside a frame at byte {size} (truncated download?)"
                bh = int.from_bytes(block, "little")
                pos += 3 + (1 if (bh >> 1) & 3 == 1 else bh >> 3)
                if bh & 1:
                    break
            pos += 4 if checksum else 0
            if pos > size:
                return f"the file ends inside a frame at byte {size} (truncated download?)"
    return None


def open_dump(path: Path) -> IO[bytes]:
    """A buffered byte stream of the dump's JSON lines: `.zst` decompressed with a 2 GB window (what
    Pushshift and Arctic Shift compress with), across frames; anything else read as is."""
    raw = open(path, "rb")  # noqa: SIM115 - closed by the reader wrapping it
    if path.suffix != ".zst":
        return io.BufferedReader(raw, READ_CHUNK)
    import zstandard

    reader = zstandard.ZstdDecompressor(max_window_size=2**31).stream_reader(raw, read_across_frames=True,
                                                                              closefd=True)
    return io.BufferedReader(reader, READ_CHUNK)  # type: ignore[arg-type]


def dump_lines(path: Path, max_line_bytes: int) -> Iterator[tuple[int, bytes] | DumpProblem]:
    """(line number, line) for each non-blank line, streamed; a line over `max_line_bytes` is skipped to
    its end and reported, as are a cut `.zst` and bytes that are not zstd."""
    import zstandard

    truncated = zst_truncation(path) if path.suffix == ".zst" else None
    lineno = 0
    try:
        with open_dump(path) as fh:
            while True:
                line = fh.readline(max_line_bytes + 1)
                if not line:
                    break
                lineno += 1
                if len(line) > max_line_bytes and not line.endswith(b"\n"):
                    skipped = len(line)
                    while line and not line.endswith(b"\n"):
                        line = fh.readline(READ_CHUNK)
                        skipped += len(line)
                    yield DumpProblem(f"dump:{path.name}:{lineno}", "line_too_long",
                                      f"line {lineno}: {skipped} bytes, more than max_line_bytes {max_line_bytes}")
                    continue
                if truncated and not line.endswith(b"\n"):
                    break  # the cut line; the whole-file problem below names it
                if line.strip():
                    yield lineno, line
    except zstandard.ZstdError as exc:
        yield DumpProblem(f"dump:{path.name}", "bad_zst", f"after line {lineno}: {exc}"[:500])
        return
    if truncated:
        yield DumpProblem(f"dump:{path.name}", "truncated_file", f"{truncated}; {lineno} line(s) read before it")


def wrong_types(obj: dict[str, Any], types: dict[str, tuple[type, ...]]) -> str:
    bad = [f"{k}: {type(obj[k]).__name__}" for k, t in types.items()
           if obj.get(k) is not None and (not isinstance(obj[k], t) or isinstance(obj[k], bool) and bool not in t)]
    return ", ".join(bad)


def utc_day(value: Any) -> str | None:
    """created_utc (seconds; old dumps write it as a string) as a YYYY-MM-DD UTC day, None if not a time."""
    try:
        return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%d")
    except (TypeError, ValueError, OverflowError, OSError):
        return None


class DumpFilter:
    """The configured filters, compiled once: a byte prefilter on the subreddit and exact checks."""

    def __init__(self, cfg: ForumDumpFilterConfig) -> None:
        self.cfg = cfg
        self.subreddits = {s.lower().removeprefix("r/") for s in cfg.subreddits}
        names = b"|".join(re.escape(s.encode()) for s in sorted(self.subreddits))
        self.prefilter = re.compile(rb'"subreddit"\s*:\s*"(?:' + names + rb')"', re.I) if names else None
        words = "|".join(re.escape(k) for k in cfg.keywords)
        self.keywords = re.compile(rf"\b(?:{words})\b", re.I) if words else None
        self.date_from = cfg.date_from.isoformat() if cfg.date_from else None
        self.date_to = cfg.date_to.isoformat() if cfg.date_to else None

    def may_keep(self, line: bytes) -> bool:
        return self.prefilter is None or self.prefilter.search(line) is not None

    def keeps(self, sub: dict[str, Any]) -> bool:
        if self.subreddits and str(sub.get("subreddit") or "").lower() not in self.subreddits:
            return False
        if self.keywords and not self.keywords.search(f"{sub.get('title') or ''}\n{sub.get('selftext') or ''}"):
            return False
        if self.date_from or self.date_to:
            day = utc_day(sub.get("created_utc"))
            if day is None or (self.date_from and day < self.date_from) or (self.date_to and day > self.date_to):
                return False
        return True


def _parse(lineno: int, line: bytes, path: Path) -> dict[str, Any] | DumpProblem:
    ref = f"dump:{path.name}:{lineno}"
    try:
        obj = json.loads(line)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        return DumpProblem(ref, "invalid_json", f"line {lineno}: {exc}"[:300])
    if not isinstance(obj, dict):
        return DumpProblem(ref, "wrong_type", f"line {lineno}: a JSON {type(obj).__name__}, not an object")
    if obj.get("id") in (None, ""):
        return DumpProblem(ref, "missing_field", f"line {lineno}: no id")
    bad = wrong_types(obj, COMMENT_TYPES if "link_id" in obj else SUBMISSION_TYPES)
    return DumpProblem(ref, "wrong_type", f"line {lineno}: {bad}"[:300]) if bad else obj


def _slim(obj: dict[str, Any], types: dict[str, tuple[type, ...]]) -> dict[str, Any]:
    """Only the fields the post is made of: kept posts stay small in memory."""
    return {k: obj[k] for k in types if k in obj}


def scan_dump(path: Path, partners: list[Path], flt: DumpFilter, stats: DumpStats | None = None
              ) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]], list[DumpProblem]]:
    """(kept submissions by id in file order, their comments by submission id, problems). Pass 1 reads the
    submissions of `path`; pass 2 the comments of the kept ones from the partners (and from `path`
    itself when it mixes both kinds). Memory: one line plus the kept posts."""
    stats = stats or DumpStats()
    subs: dict[str, dict[str, Any]] = {}
    comments: dict[str, list[dict[str, Any]]] = {}
    problems: list[DumpProblem] = []
    mixed = False
    max_line = flt.cfg.max_line_bytes
    for entry in dump_lines(path, max_line):
        if isinstance(entry, DumpProblem):
            problems.append(entry)
            continue
        stats.lines += 1
        lineno, line = entry
        if _LINK_ID.search(line):
            mixed = True
            continue
        if not flt.may_keep(line):
            stats.filtered += 1
            continue
        obj = _parse(lineno, line, path)
        stats.parsed += 1
        if isinstance(obj, DumpProblem):
            problems.append(obj)
        elif "link_id" in obj:
            mixed = True
        elif flt.keeps(obj):
            sid = str(obj["id"])
            if sid in subs:
                problems.append(DumpProblem(f"post:t3_{sid}", "duplicate_item",
                                            f"line {lineno} repeats submission {sid}; the first is kept"))
                continue
            subs[sid] = _slim(obj, SUBMISSION_TYPES)
            stats.submissions += 1
        else:
            stats.filtered += 1
    for cpath in [*partners, *([path] if mixed else [])]:
        for entry in dump_lines(cpath, max_line):
            if isinstance(entry, DumpProblem):
                if cpath != path:  # the file's own problems were found by pass 1
                    problems.append(entry)
                continue
            if cpath != path:
                stats.lines += 1
            lineno, line = entry
            m = _LINK_ID.search(line)
            if m is None or m.group(1).decode() not in subs:
                continue
            obj = _parse(lineno, line, cpath)
            stats.parsed += 1
            if isinstance(obj, DumpProblem):
                problems.append(obj)
            elif str(obj.get("link_id", "")).removeprefix("t3_") in subs:
                comments.setdefault(str(obj["link_id"])[3:], []).append(_slim(obj, COMMENT_TYPES))
                stats.comments += 1
    stats.problems += len(problems)
    return subs, comments, problems
