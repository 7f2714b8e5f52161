"""Compound-figure captions -> subcaptions, and their alignment to the panels of the image.

A compound figure's caption usually describes each panel after a marker: "(a) ... (b) ...", "A. ... B. ...",
ranges and lists that several panels share ("(A-D) ...", "A, B: ..."), or positions ("(left) ... (right)",
"Top: ... Bottom: ..."). Text before the first marker (the figure title) is shared by every panel. Some
captions put the marker after its description ("plaques (a) and scale (b)"); those are read backwards.
Alignment is deliberately conservative: a caption's subcaptions go to panels in reading order only when
their count matches the panels found (or positions match the layout); otherwise every panel keeps the whole
caption, flagged caption_scope="whole", so a wrong panel text never enters the corpus silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_L = r"[a-hA-H]"
# "(a)", "(A-D)", "(a, b)", "(A and B)", "(a–c)"; letter markers must be followed by a non-letter
_PAREN = re.compile(rf"\((?P<lo>{_L})\)\s*[-–—]\s*\((?P<hi>{_L})\)(?![\w])"  # "(a)–(h)"
                    rf"|\((?P<body>{_L}(?:\s*(?:[-–—]|,|and|&)\s*{_L})*)\)(?![\w])")
# "A. Photo", "B: Histology", "A, B: ...", "A-D. ...": at the start or after a sentence end
_BARE = re.compile(rf"(?:^|(?<=[.;:]\s)|(?<=[.;:]\)\s))(?P<body>{_L}(?:\s*(?:[-–—]|,|and|&)\s*{_L})*)[.:)]\s+(?=[A-Z0-9(])")
_POS_WORDS = r"left|right|top|bottom|upper|lower|middle|centre|center"
_POS_PAREN = re.compile(rf"\((?P<body>(?:{_POS_WORDS})(?:\s+(?:{_POS_WORDS}))?)(?:\s+panels?)?\)", re.I)
_POS_BARE = re.compile(rf"(?:^|(?<=[.;]\s))(?P<body>(?:{_POS_WORDS})(?:\s+(?:{_POS_WORDS}))?)(?:\s+panels?)?\s*[:,]\s+",
                       re.I)
_POSTFIX_AFTER = re.compile(r"\s*(?:[,;.]|and\b|or\b|$)")


@dataclass(frozen=True)
class Subcaption:
    """One panel's description: `key` is "a".."h" (lower case) or a position ("left", "top right")."""

    key: str
    text: str


@dataclass
class SplitCaption:
    shared: str  # the text before the first marker (usually the figure's title)
    parts: list[Subcaption] = field(default_factory=list)
    style: str = "none"  # letters | positions | none
    tail: str = ""  # postfix markers: the rest of the sentence after the last one, shared too

    @property
    def keys(self) -> list[str]:
        return list(dict.fromkeys(p.key for p in self.parts))

    def text_for(self, key: str) -> str:
        """The shared preamble plus every segment naming this panel."""
        segs = [p.text for p in self.parts if p.key == key]
        return " ".join(s for s in [self.shared, *segs, self.tail] if s).strip()


def _letters(body: str) -> list[str]:
    """"A-D" -> a b c d; "a, b" -> a b; "A and C" -> a c."""
    body = body.lower()
    out: list[str] = []
    for m in re.finditer(r"([a-h])(?:\s*[-–—]\s*([a-h]))?", body):
        lo, hi = m.group(1), m.group(2) or m.group(1)
        out.extend(chr(c) for c in range(ord(lo), ord(hi) + 1) if chr(c) not in out)
    return out


def _body(m: re.Match[str]) -> str:
    return f"{m.group('lo')}-{m.group('hi')}" if m.groupdict().get("lo") else m.group("body")


def _forward(markers: list[tuple[int, int, list[str]]]) -> list[tuple[int, int, list[str]]]:
    """Markers that move the sequence on; a letter already passed ("the area marked in (a)") is a
    reference inside a segment, not a new one."""
    kept: list[tuple[int, int, list[str]]] = []
    for marker in markers:
        if not kept or marker[2][0] > kept[-1][2][-1]:
            kept.append(marker)
    return kept


def _consistent(markers: list[tuple[int, int, list[str]]]) -> bool:
    """Letter markers must start at "a" and name two panels at least (initials like "J. Smith" do not)."""
    return bool(markers) and markers[0][2][0] == "a" and len({x for _, _, ls in markers for x in ls}) >= 2


def _segments(caption: str, markers: list[tuple[int, int, list[str]]], postfix: bool) -> SplitCaption:
    parts: list[Subcaption] = []
    if postfix:  # "plaques (a) and scale (b)": text since the previous marker or sentence start
        first_sentence_start = caption.rfind(". ", 0, markers[0][0])
        shared = caption[:first_sentence_start + 1].strip() if first_sentence_start >= 0 else ""
        prev = first_sentence_start + 1 if first_sentence_start >= 0 else 0
        for start, end, keys in markers:
            seg = caption[prev:start].strip(" ,;.").removeprefix("and ").strip()
            parts.extend(Subcaption(k, seg) for k in keys)
            prev = end
        return SplitCaption(shared, parts, tail=caption[prev:].strip(" ,;"))
    shared = caption[:markers[0][0]].strip()
    for i, (_, end, keys) in enumerate(markers):
        stop = markers[i + 1][0] if i + 1 < len(markers) else len(caption)
        seg = re.sub(r"[\s,;]+(?:and|or)$", "", caption[end:stop].strip(" ;,"))  # "(a) x and (b) y"
        parts.extend(Subcaption(k, seg) for k in keys)
    return SplitCaption(shared, parts)


def _is_postfix(caption: str, first: tuple[int, int, list[str]]) -> bool:
    """The first marker closes a clause of its own sentence ("plaques (a) and ...", "Before (left),")."""
    sentence_start = caption.rfind(". ", 0, first[0])
    before = caption[sentence_start + 2 if sentence_start >= 0 else 0:first[0]].strip()
    return bool(before) and _POSTFIX_AFTER.match(caption, first[1]) is not None


def split_caption(caption: str) -> SplitCaption:
    """Split a caption at its panel markers; `style` says which kind was found ("none": no split)."""
    caption = " ".join((caption or "").split())
    for pattern in (_PAREN, _BARE):
        found = _forward([(m.start(), m.end(), _letters(_body(m))) for m in pattern.finditer(caption)])
        case_ok = len({_body(m)[0].isupper() for m in pattern.finditer(caption)}) <= 1
        if case_ok and _consistent(found):
            split = _segments(caption, found, pattern is _PAREN and _is_postfix(caption, found[0]))
            split.style = "letters"
            return split
    for pattern in (_POS_PAREN, _POS_BARE):
        pos = [(m.start(), m.end(), [" ".join(m.group("body").lower().split())]) for m in pattern.finditer(caption)]
        if len({p[2][0] for p in pos}) >= 2:
            split = _segments(caption, pos, pattern is _POS_PAREN and _is_postfix(caption, pos[0]))
            split.style = "positions"
            return split
    return SplitCaption(caption)


@dataclass(frozen=True)
class PanelText:
    key: str | None  # "a", "left", ... when aligned
    text: str
    scope: str  # "panel" | "whole"
    key_source: str | None = None  # "letter_read" | "reading_order" | "position" when aligned


_ROW = {"top": 0, "upper": 0, "middle": 1, "centre": 1, "center": 1, "bottom": 2, "lower": 2}
_COL = {"left": 0, "middle": 1, "centre": 1, "center": 1, "right": 2}


def _position_order(key: str) -> tuple[int, int]:
    words = key.split()
    row = next((_ROW[w] for w in words if w in _ROW), 1)
    col = next((_COL[w] for w in words if w in _COL and w not in _ROW), 1)
    return row, col


def align(caption: str, boxes: list[tuple[int, int, int, int]],
          letters: list[str | None] | None = None, split: SplitCaption | None = None) -> list[PanelText]:
    """Texts for panels given in reading order (x0, y0, x1, y1): subcaptions when they match the layout,
    else the whole caption for each, flagged caption_scope='whole'.

    `letters`: the letters read on the panels (panel_letters.py). They decide only when every panel has
    one and together they are exactly the caption's markers; otherwise lettered subcaptions go to the
    panels in reading order, as without a reader. `split`: the caption already split (the LLM splitter,
    pipeline.preprocess.subcaptions_llm); the rules split it otherwise."""
    split = split if split is not None else split_caption(caption)
    whole = [PanelText(None, " ".join(caption.split()), "whole") for _ in boxes]
    keys = split.keys
    read = [k for k in letters or [] if k is not None]
    if (split.style == "letters" and len(read) == len(boxes) and sorted(read) == sorted(keys)
            and len(set(keys)) == len(keys)):
        return [PanelText(k, split.text_for(k), "panel", "letter_read") for k in read]
    if split.style == "letters" and len(keys) == len(boxes) and keys == [chr(97 + i) for i in range(len(keys))]:
        return [PanelText(k, split.text_for(k), "panel", "reading_order") for k in keys]
    if split.style == "positions" and len(keys) == len(boxes) >= 2:
        cells = [_position_order(k) for k in keys]
        if len(set(cells)) < len(cells):
            return whole
        n_rows = _count_rows(boxes)
        rows_named, cols_named = len({r for r, _ in cells}) > 1, len({c for _, c in cells}) > 1
        if (cols_named and not rows_named and n_rows != 1) or (rows_named and not cols_named and n_rows != len(boxes)):
            return whole  # "left/right" on stacked panels, "top/bottom" side by side
        order = [k for _, k in sorted(zip(cells, keys, strict=True))]
        return [PanelText(k, split.text_for(k), "panel", "position") for k in order]
    return whole


def _count_rows(boxes: list[tuple[int, int, int, int]]) -> int:
    """Rows of the layout: panels whose vertical centres fall inside one another's extent share a row."""
    rows: list[tuple[int, int]] = []
    for _, y0, _, y1 in sorted(boxes, key=lambda b: b[1]):
        centre = (y0 + y1) / 2
        if not any(lo <= centre <= hi for lo, hi in rows):
            rows.append((y0, y1))
    return len(rows)
