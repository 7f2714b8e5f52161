"""Subtitle files (WebVTT, SubRip) as timed text segments, and finding them next to a video.

Creator-made subtitles beat ASR, so a video downloaded with its captions skips Whisper. The parser is
small and lenient on purpose: real files (YouTube auto-captions through yt-dlp especially) break the
spec: cues without the blank line between them, style blocks, inline word-timing tags, and "rolling"
cues that repeat the previous line before adding new words. Tags are stripped and the rolled-over
lines are removed so each spoken word appears once.

The cue reader stays ours rather than webvtt-py's (0.6.0). Tried as `_read_cues` (webvtt.from_buffer, the
format told from the WEBVTT header, our tag/entity cleaning and roll collapsing kept on top), it failed 2
of the 10 tests in tests/test_subtitles.py: it reads the SRT time "00:01:02,5" as 62.005 s instead of
62.5 s, and a separator line holding only spaces makes it glue the next cue's identifier ("second-id")
into the previous cue's text. It also leaves entities (&amp;) and SRT positioning codes in the text and
needs the format named, so the part it would replace is only the ~30 lines of `_read_cues`.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import ItemError
from pipeline.preprocess.asr import Segment

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")
_TAG = re.compile(r"<[^>]*>")  # <c>, </c>, <c.colorE5E5E5>, <00:00:01.234>, <v Name>, <i>, <b>, <font ...>
_ASS = re.compile(r"\{\\[^}]*\}")  # {\an8} positioning codes found in some .srt files
_ROLL_MAX_GAP_S = 0.25  # rolling cues follow each other directly; a real pause is not a roll
SUFFIXES = (".vtt", ".srt")
_AUTO = re.compile(r"auto", re.IGNORECASE)


@dataclass
class _Cue:
    start_s: float
    end_s: float
    lines: list[str] = field(default_factory=list)


def _seconds(h: str | None, m: str, s: str, frac: str) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(frac.ljust(3, "0")) / 1000.0


def _clean(line: str) -> str:
    text = html.unescape(_ASS.sub("", _TAG.sub("", line)))
    return " ".join(text.replace("\u00a0", " ").split())


def _read_cues(lines: list[str]) -> list[_Cue]:
    """Any line with a `-->` timing starts a cue; text runs to a blank line or the next timing line.

    Everything outside cues (the WEBVTT header, STYLE/NOTE blocks, cue identifiers, SRT counters) is
    skipped because it is never preceded by a timing line.
    """
    cues: list[_Cue] = []
    current: _Cue | None = None
    for i, line in enumerate(lines):
        m = _TIMING.match(line)
        if m:
            g = m.groups()
            current = _Cue(_seconds(*g[:4]), _seconds(*g[4:]))
            cues.append(current)
        elif not line:
            current = None  # only a truly empty line ends a cue: YouTube cues start with a " " line
        elif current is not None:
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            # a blank-looking line right under the timing is YouTube's empty first line, not a separator
            after_gap = i > 1 and not lines[i - 1].strip() and not _TIMING.match(lines[i - 2])
            if _TIMING.match(nxt) and (after_gap or line.strip().isdigit()):
                continue  # a cue identifier / SRT counter whose separator line held spaces or was missing
            cleaned = _clean(line)
            if cleaned:
                current.lines.append(cleaned)
    return cues


def _collapse_rolling(cues: list[_Cue]) -> list[Segment]:
    """Drop text a cue repeats from the one just before it (YouTube rolling captions).

    A cue directly following another (gap <= 0.25 s) that starts with the previous cue's last line(s)
    keeps only what comes after them; a cue left with nothing new is dropped (its time is already
    covered by the earlier cue, whose end is extended over it).
    """
    segments: list[Segment] = []
    prev: _Cue | None = None
    for cue in cues:
        text = " ".join(cue.lines)
        if prev is not None and prev.lines and abs(cue.start_s - prev.end_s) <= _ROLL_MAX_GAP_S:
            for k in range(len(prev.lines), 0, -1):
                tail = " ".join(prev.lines[-k:])
                if text == tail or text.startswith(tail + " "):
                    text = text[len(tail) :].strip()
                    break
        if cue.lines:
            prev = cue
        if not text:
            if segments and cue.lines and cue.end_s > segments[-1].end_s:
                last = segments[-1]
                segments[-1] = Segment(last.start_s, cue.end_s, last.text)
            continue
        segments.append(Segment(start_s=cue.start_s, end_s=max(cue.end_s, cue.start_s), text=text))
    return segments


def parse_subtitles(path: Path) -> list[Segment]:
    """Timed text of a .vtt or .srt file (the format is recognised from the content, not the name).

    Raises ItemError("unreadable_subtitles") when the file cannot be read, is binary, or has no cues
    and no WEBVTT header (an empty but valid WebVTT file gives an empty list).
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ItemError("unreadable_subtitles", f"cannot read {path}: {exc}") from exc
    if b"\x00" in raw:
        raise ItemError("unreadable_subtitles", f"{path.name} is binary, not a subtitle file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")  # old .srt files are often Windows-1252
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cues = _read_cues(lines)
    if not cues:
        if text.lstrip().startswith("WEBVTT"):
            return []
        raise ItemError("unreadable_subtitles", f"no WebVTT/SubRip cues in {path.name}")
    cues.sort(key=lambda c: (c.start_s, c.end_s))
    return _collapse_rolling(cues)


def _rank(middle: str, languages: tuple[str, ...]) -> tuple[int, int, int] | None:
    """Sort key for the part between stem and suffix ("en", "en-US", "en.auto", ""); None: not ours."""
    is_auto = 1 if _AUTO.search(middle) else 0
    tokens = [t for t in middle.split(".") if t and not _AUTO.search(t)]
    if not tokens:
        return (len(languages), is_auto, 0)  # <stem>.vtt: language unknown, after any language match
    if len(tokens) != 1:
        return None
    tag = tokens[0].lower()
    for i, lang in enumerate(languages):
        lang = lang.lower()
        if tag == lang:
            return (i, is_auto, 0)
        if tag.startswith((lang + "-", lang + "_")):
            return (i, is_auto, 1)
    return None


def find_subtitles(video_path: Path, languages: tuple[str, ...] = ("en",)) -> Path | None:
    """The best subtitle file next to a video: `<stem>.<lang>.vtt|srt`, then `<stem>.vtt|srt`.

    Preference: language order given, then files without "auto" in the name (yt-dlp writes manual
    and automatic captions under the same pattern, only a name can tell them apart), then an exact
    language tag over a regional one ("en" before "en-US"), then .vtt over .srt.
    """
    folder = video_path.parent
    if not folder.is_dir():
        return None
    prefix = video_path.stem + "."
    best: tuple[tuple[int, int, int, int, str], Path] | None = None
    for candidate in folder.iterdir():
        name = candidate.name
        suffix = candidate.suffix.lower()
        if suffix not in SUFFIXES or not name.startswith(prefix) or not candidate.is_file():
            continue
        middle = name[len(prefix) : len(name) - len(suffix)]
        rank = _rank(middle, languages)
        if rank is None:
            continue
        key = (*rank, SUFFIXES.index(suffix), name)
        if best is None or key < best[0]:
            best = (key, candidate)
    return best[1] if best else None


def pick_subtitles(
    paths: list[str], languages: tuple[str, ...] = ("en",), info: dict[str, object] | None = None
) -> tuple[Path, str] | None:
    """The best of the subtitle files a collector listed, and whether it is "manual" or "automatic".

    Same preference as find_subtitles. yt-dlp names manual and automatic captions alike, so when the
    name does not say "auto", the info.json decides: a language listed only under automatic captions
    means the file is automatic (it is then still used, after any manual one, before running ASR).
    """
    info = info or {}
    manual_langs = {str(x).lower() for x in info.get("subtitle_langs") or info.get("subtitles") or []}  # type: ignore[attr-defined]
    auto_langs = {str(x).lower() for x in info.get("auto_caption_langs") or info.get("automatic_captions") or []}  # type: ignore[attr-defined]
    best: tuple[tuple[int, int, int, int, str], Path, str] | None = None
    for raw in paths:
        path = Path(raw)
        suffix = path.suffix.lower()
        if suffix not in SUFFIXES:
            continue
        stem_parts = path.name[: len(path.name) - len(suffix)].split(".", 1)
        middle = stem_parts[1] if len(stem_parts) == 2 else ""
        rank = _rank(middle, languages)
        if rank is None:
            continue
        lang = middle.split(".")[0].lower()
        auto = bool(rank[1]) or (lang in auto_langs and lang not in manual_langs)
        key = (rank[0], int(auto), rank[2], SUFFIXES.index(suffix), path.name)
        if best is None or key < best[0]:
            best = (key, path, "automatic" if auto else "manual")
    return (best[1], best[2]) if best else None
