"""PDF caption blocks: "Figure N" labels, the document's caption font and side, and pairing to figures.

A caption is a text block that starts with a label ("Figure 3", "Fig. 2a:", "Scheme S1"). Which block goes
with which figure is decided by geometry (horizontal overlap, vertical gap, so two-column pages pair within
their column) and by two per-document rules learned from the file itself: the caption label font (bold, as
journals set it; a "Figure 2 shows" sentence in the body font is not a caption) and the caption side (below
in journals, above in some handouts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

Box = tuple[float, float, float, float]

# "Figure 3", "Fig. 2a:", "FIG 4.", "Figure 3.2" (textbook chapters), "Plate IV", "Scheme 1", "Figure S2"
# (supplements). Roman numerals are upper-case only so that "Figure in ..." in body text is not a label.
_NUM = r"(?P<num>S?\d+(?:\.\d+)?[A-Za-z]?(?![a-z])|[IVX]+\b)\s*[.:|]?\s*"
LABEL_RE = re.compile(r"^\s*(?P<kind>(?i:fig(?:ure)?s?\.?|plate|scheme))\s*" + _NUM)
_KIND = {"fig": "Figure", "figs": "Figure", "figure": "Figure", "figures": "Figure", "plate": "Plate",
         "plates": "Plate", "scheme": "Scheme", "schemes": "Scheme"}
_DEFAULT_KEYWORDS = ("figure", "fig", "plate", "scheme")


def label_pattern(keywords: list[str] | tuple[str, ...]) -> re.Pattern[str]:
    """LABEL_RE for a book's own caption keywords ("Abb", "Bild", "Illustration"): each case-blind, with an
    optional plural "s" and "."; the number part is LABEL_RE's."""
    if tuple(k.lower() for k in keywords) == _DEFAULT_KEYWORDS:
        return LABEL_RE
    words = "|".join(re.escape(k) for k in sorted(set(keywords), key=len, reverse=True) if k.strip())
    return re.compile(rf"^\s*(?P<kind>(?i:(?:{words})s?\.?))\s*" + _NUM)


@dataclass
class PdfFigure:
    """One placed raster image. `index` is its position in page.get_image_info() (0-based), so it stays
    stable when size thresholds change; `caption` has the label stripped (the label is in `label`)."""

    page: int  # 1-based
    index: int
    bbox: Box
    image_bytes: bytes
    ext: str  # "png", "jpeg" (an embedded JPEG as stored) or "pnm" (decoded pixels)
    width: int
    height: int
    caption: str | None
    label: str | None  # "Figure 3"
    source: str = "image"  # "image": a placed raster; "vector": a rendered cluster of drawings


@dataclass
class PdfDocument:
    """`ocr_pages`: pages read with Tesseract; `rejects`: (locator, reason, detail) of pages left out (a
    scanned page without OCR, a page too large to render), so the stage says why, never crashes."""

    title: str | None
    page_count: int
    figures: list[PdfFigure] = field(default_factory=list)
    ocr_pages: int = 0
    rejects: list[tuple[str, str, str]] = field(default_factory=list)



@dataclass
class _Block:
    bbox: Box
    text: str
    label: str | None  # normalised figure label when the block starts with one
    bold: bool = False  # the first span's font is bold (flag or name), as caption labels usually are
    font: tuple[str, float] = ("", 0.0)  # the first span's font name and size


_BOLD_NAME = re.compile(r"bold|heavy|black|semibold|demi|[.,-]B$", re.I)


def _caption_style(pages: list[list[_Block]]) -> tuple[str, float] | None:
    """The document's caption label font, when its labels agree on one that is bold: then a block that
    starts with "Figure 2 shows ..." in the body font is body text, not a caption."""
    styles: dict[tuple[str, float], int] = {}
    for blocks in pages:
        for b in blocks:
            if b.label and b.bold:
                styles[b.font] = styles.get(b.font, 0) + 1
    labelled = sum(1 for blocks in pages for b in blocks if b.label)
    if not styles:
        return None
    style, n = max(styles.items(), key=lambda kv: kv[1])
    return style if n >= 2 and n * 2 > labelled else None


def _label(text: str, pattern: re.Pattern[str] = LABEL_RE) -> tuple[str, str] | None:
    """(normalised label, rest of the text) when `text` starts with a figure label: "Fig." is Figure, a
    book's own keyword is kept as written ("Abb 3")."""
    m = pattern.match(text)
    if not m:
        return None
    kind = m.group("kind").rstrip(".")
    return f"{_KIND.get(kind.lower(), kind.capitalize())} {m.group('num')}", text[m.end():].strip()


def _join_lines(lines: list[str]) -> str:
    """Join caption lines with spaces; "pig-" + "mented" -> "pigmented" (a lower-case letter on both sides
    means a split word, while "33RE-" + "binding" keeps its hyphen as a compound)."""
    out = ""
    for line in (ln.strip() for ln in lines):
        if not line:
            continue
        if re.search(r"[a-z]-$", out) and line[0].islower():
            out = out[:-1] + line
        elif out.endswith("-") and line[0].islower():
            out += line
        else:
            out = f"{out} {line}" if out else line
    return re.sub(r"\s+", " ", out).strip()


def _overlap_x(a: Box, b: Box) -> bool:
    width = min(a[2], b[2]) - max(a[0], b[0])
    return width > 0.1 * min(a[2] - a[0], b[2] - b[0])


def _caption_text(block: _Block, blocks: list[_Block], pattern: re.Pattern[str] = LABEL_RE) -> str:
    """Caption without its label; a label alone on its line takes the text block right below it."""
    found = _label(block.text, pattern)
    rest = found[1] if found else block.text
    if rest:
        return rest
    below = [b for b in blocks if b is not block and 0 <= b.bbox[1] - block.bbox[3] < 12
             and _overlap_x(b.bbox, block.bbox) and not b.label]
    return min(below, key=lambda b: b.bbox[1]).text if below else ""


def _near_labels(box: Box, labelled: list[_Block], max_gap: float) -> tuple[list[tuple[float, _Block]], ...]:
    """(gap, block) of the label blocks overlapping `box` in x within max_gap below it, and above it."""
    below = [(b.bbox[1] - box[3], b) for b in labelled
             if -3 <= b.bbox[1] - box[3] <= max_gap and _overlap_x(b.bbox, box)]
    above = [(box[1] - b.bbox[3], b) for b in labelled
             if -3 <= box[1] - b.bbox[3] <= max_gap and _overlap_x(b.bbox, box)]
    return below, above


def _captions_above(pages: list[tuple[list[Box], list[_Block]]], max_gap: float) -> bool:
    """The document's caption side, from the figures that have a label block on one side only: journals
    put figure captions below, but some books and slide handouts put them above, and with stacked figures
    the nearest block below may be the next figure's caption."""
    votes = [0, 0]  # below only, above only
    for boxes, blocks in pages:
        labelled = [b for b in blocks if b.label]
        for box in boxes:
            below, above = _near_labels(box, labelled, max_gap)
            if bool(below) != bool(above):
                votes[bool(above)] += 1
    return votes[1] > votes[0]


def _pair_captions(boxes: list[Box], blocks: list[_Block], max_gap: float, fallback: bool = True,
                   above_first: bool = False) -> list[_Block | None]:
    """The nearest label block below within the gap, else above (the other way round with `above_first`),
    else (with `fallback`) the page's single unclaimed label block when exactly one image is left without
    a caption (full-width figures, distant caption)."""
    labelled = [b for b in blocks if b.label]
    chosen: list[_Block | None] = []
    for box in boxes:
        below, above = _near_labels(box, labelled, max_gap)
        first, second = (above, below) if above_first else (below, above)
        pick = min(first, key=lambda t: t[0]) if first else min(second, key=lambda t: t[0]) if second else None
        chosen.append(pick[1] if pick else None)
    claimed = {b.label for b in chosen if b is not None}
    free = {b.label: b for b in labelled if b.label not in claimed}
    left = [i for i, b in enumerate(chosen) if b is None]
    if fallback and len(left) == 1 and len(free) == 1:
        chosen[left[0]] = next(iter(free.values()))
    return chosen
