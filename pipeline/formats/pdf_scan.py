"""Scanned pages of a PDF: which pages are scans, reading them (pdf_ocr.py), and their figures with captions.

Why a module apart from pdf.py: a scan has no placed images or drawings to pair, only regions of one page
image, so its figures are cut from the render and paired here, with the document's caption rules and caption
side learned over all pages (scanned and born-digital) by pdf.py. Pages that cannot be read are rejects with
a reason (`pdf_page_not_ocr`: no OCR configured or installed; `pdf_page_too_large`: a page so large that a
render under max_page_pixels would be under 50 dpi; `pdf_page_empty`: zero size), never a crash.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pymupdf

from pipeline.config import PdfCaptionRules, PdfConfig
from pipeline.formats.pdf_captions import Box, PdfFigure, _Block, _caption_text, _pair_captions
from pipeline.formats.pdf_ocr import (
    _UNNUMBERED,
    OcrPage,
    OcrWord,
    estimate_skew,
    layout,
    make_page_reader,
    render_dpi,
    rotate,
)
from pipeline.formats.pdf_vector import _without_caption

_FULL_COVER = 0.85  # one image over this share of the page: a scanned page (with or without a text layer)
_SCAN_COVER = 0.33  # images over this share of a page without text: a scanned page
_MIN_DPI = 50.0


def scan_kind(
    page: pymupdf.Page, blocks: list[_Block], images: list[dict[str, Any]], min_chars: int
) -> str | None:
    """`ocr` for a scan without a text layer, `layer` for a scan with one (a scanner's invisible OCR text),
    None for a born-digital page."""
    area = page.rect.get_area()
    if area <= 0:
        return None
    covers = [(pymupdf.Rect(i["bbox"]) & page.rect).get_area() / area for i in images]
    chars = sum(len(b.text) for b in blocks)
    if covers and max(covers) >= _FULL_COVER:
        return "layer" if chars >= min_chars else "ocr"
    return "ocr" if chars < min_chars and sum(covers) >= _SCAN_COVER else None


class ScanReader:
    """Reads the scanned pages of one document; `rejects` and `skipped` say which it could not read."""

    def __init__(self, cfg: PdfConfig, pattern: re.Pattern[str]) -> None:
        self.cfg, self.pattern = cfg, pattern
        self.rejects: list[tuple[str, str, str]] = []
        self.skipped: list[int] = []

    def read(
        self, page: pymupdf.Page, pno: int, blocks: list[_Block], images: list[dict[str, Any]]
    ) -> OcrPage | None:
        """The page's layout when it is a scan (`images`: its usable images, pdf.py's _image_info)."""
        cfg, rect = self.cfg, page.rect
        if rect.is_empty or rect.width < 1 or rect.height < 1:
            self.rejects.append(
                (f"p{pno}", "pdf_page_empty", f"page size {rect.width:.0f}x{rect.height:.0f} pt")
            )
            self.skipped.append(pno)
            return None
        kind = scan_kind(page, blocks, images, cfg.ocr_min_chars)
        if kind is None:
            return None
        reader, why = None, "preprocess.pdf.ocr is none or Tesseract is not installed (extra `ocr`)"
        if kind == "ocr":
            try:
                reader = make_page_reader(cfg.ocr)
            except ValueError as exc:  # `tesseract` required but missing
                why = str(exc)
        if kind == "ocr" and reader is None:
            self.rejects.append(
                (f"p{pno}", "pdf_page_not_ocr", f"a scanned page without a text layer; {why}")
            )
            self.skipped.append(pno)
            return None
        dpi = render_dpi(rect.width, rect.height, cfg.ocr_dpi, cfg.max_page_pixels)
        if dpi < _MIN_DPI:
            self.rejects.append(
                (
                    f"p{pno}",
                    "pdf_page_too_large",
                    f"{rect.width:.0f}x{rect.height:.0f} pt: {dpi:.0f} dpi under max_page_pixels",
                )
            )
            self.skipped.append(pno)
            return None
        pix = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csRGB, alpha=False)
        rgb = np.frombuffer(pix.samples, np.uint8).reshape(pix.height, pix.width, 3)
        scale = pix.width / rect.width
        if reader is None:  # the page's own text layer, in pixels; the render is not turned
            return layout(
                rgb, _layer_words(page, scale), [], scale, cfg.min_image_side_px, 0.0, pattern=self.pattern
            )
        import cv2

        skew = estimate_skew(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        rgb = rotate(rgb, skew)
        words, image_blocks = reader.read(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        return layout(
            rgb, words, image_blocks, scale, cfg.min_image_side_px, cfg.ocr_min_confidence, skew, self.pattern
        )


def _layer_words(page: pymupdf.Page, scale: float) -> list[OcrWord]:
    out = []
    for x0, y0, x1, y1, text, block, line, _ in page.get_text("words"):
        box = (round(x0 * scale), round(y0 * scale), round(x1 * scale), round(y1 * scale))
        out.append(OcrWord(str(text), box, 100.0, int(block), int(block) * 10_000 + int(line)))
    return out


def apply_rules(blocks: list[_Block], rules: PdfCaptionRules, style: tuple[str, float] | None) -> None:
    """Unlabel the label blocks a rule says are body text: outside the book's caption size range, or (text
    layer) not in the document's bold caption font when it has one."""
    for b in blocks:
        if not b.label:
            continue
        if rules.font_pt is not None and not rules.font_pt[0] <= b.font[1] <= rules.font_pt[1]:
            b.label = None
        elif style is not None and b.font[0] != "ocr" and b.font != style:
            b.label = None


def _crop(scan: OcrPage, box: Box, pad_pt: float = 2.0) -> tuple[bytes, int, int]:
    import cv2

    h, w = scan.rgb.shape[:2]
    s = scan.scale
    x0, y0 = max(0, int((box[0] - pad_pt) * s)), max(0, int((box[1] - pad_pt) * s))
    x1, y1 = min(w, int((box[2] + pad_pt) * s) + 1), min(h, int((box[3] + pad_pt) * s) + 1)
    crop = np.ascontiguousarray(scan.rgb[y0:y1, x0:x1, ::-1])
    ok, buf = cv2.imencode(".png", crop)
    if not ok:  # pragma: no cover - OpenCV encodes any non-empty uint8 image
        raise ValueError("png encoding failed")
    return buf.tobytes(), x1 - x0, y1 - y0


def _drawing_captions(
    drawings: list[Box], free: list[_Block], max_gap: float, above: bool
) -> list[_Block | None]:
    """Each free label to the nearest drawing right below (above: above) or else on the other side of it;
    a label goes to one drawing only, nearest first, so a chart and the table under it never share one."""
    from pipeline.formats.pdf_captions import _near_labels

    options: list[tuple[float, int, int, _Block]] = []  # (gap, preferred side first, drawing, block)
    for i, box in enumerate(drawings):
        below, over = _near_labels(box, free, max_gap)
        for side, found in enumerate((over, below) if above else (below, over)):
            options.extend((gap, side, i, b) for gap, b in found)
    chosen: list[_Block | None] = [None] * len(drawings)
    used: set[int] = set()
    for _, _, i, b in sorted(options, key=lambda t: (t[1], t[0])):
        if chosen[i] is None and id(b) not in used:
            chosen[i] = b
            used.add(id(b))
    return chosen


def _near_box(a: Box, b: Box, gap: float) -> bool:
    return a[0] - gap <= b[2] and b[0] - gap <= a[2] and a[1] - gap <= b[3] and b[1] - gap <= a[3]


def _grow(
    pairs: list[tuple[Box, _Block | None]], loose: list[Box], gap: float = 40.0
) -> tuple[list[tuple[Box, _Block | None]], set[int]]:
    """A captioned figure takes the uncaptioned regions chained to it (each within `gap` points of the
    growing figure), inside its caption's width and on the figure's side of the caption: a scan shows a
    diagram of boxes and headings, or two structures, as several regions that one placed image held.
    Photos taken in are no figures of their own; regions another caption claimed are never taken."""
    out: list[tuple[Box, _Block | None]] = []
    taken: set[int] = set()
    for box, block in pairs:
        if block is None:
            out.append((box, block))
            continue
        cx0, cy0, cx1, cy1 = block.bbox
        below = (box[1] + box[3]) / 2 < (cy0 + cy1) / 2  # the figure is above its caption
        x0, y0, x1, y1 = box
        grown = True
        while grown:
            grown = False
            for j, other in enumerate(loose):
                mid = (other[1] + other[3]) / 2
                if (
                    j in taken
                    or other[0] < cx0 - 10
                    or other[2] > cx1 + 10
                    or (mid > cy0 if below else mid < cy1)
                    or not _near_box((x0, y0, x1, y1), other, gap)
                ):
                    continue
                x0, y0, x1, y1 = min(x0, other[0]), min(y0, other[1]), max(x1, other[2]), max(y1, other[3])
                taken.add(j)
                grown = True
        out.append(((x0, y0, x1, y1), block))
    return out, taken


def number_labels(pages: list[list[_Block]]) -> None:
    """OCR drops a bold digit now and then ("Figure Interaction energies..."): such a block takes the one
    number missing between the figure labels before and after it in the document (Figure 2 ... Figure 4)."""
    seq = [
        b for blocks in pages for b in blocks if b.label or (b.font[0] == "ocr" and _UNNUMBERED.match(b.text))
    ]
    for k, b in enumerate(seq):
        if b.label:
            continue
        before = next((x.label for x in reversed(seq[:k]) if x.label), None)
        after = next((x.label for x in seq[k + 1 :] if x.label), None)
        m0 = re.fullmatch(r"Figure (\d+)", before or "Figure 0")  # nothing before: the first figure
        m1 = re.fullmatch(r"Figure (\d+)", after or "")
        if m0 and m1 and int(m1.group(1)) - int(m0.group(1)) == 2:
            b.label = f"Figure {int(m0.group(1)) + 1}"
            b.text = _UNNUMBERED.sub(f"{b.label} ", b.text, count=1)


def scan_figures(
    scan: OcrPage, pno: int, cfg: PdfConfig, above: bool, pattern: re.Pattern[str]
) -> list[PdfFigure]:
    """Photos (always, captioned when a label is near, as placed images are) and captioned drawings, each
    captioned one grown over the uncaptioned regions chained to it (_grow), cut from the deskewed render;
    index counts them top to bottom."""
    blocks = scan.blocks
    captions = _pair_captions(scan.photos, blocks, cfg.caption_max_gap_pt, above_first=above)
    claimed = {b.label for b in captions if b is not None}
    free = [b for b in blocks if b.label and b.label not in claimed]
    # a frame drawn around figure and caption together is cut at the caption, as for drawn figures
    drawings = [_without_caption(r, free) for r in scan.drawings]
    drawn = _drawing_captions(drawings, free, cfg.caption_max_gap_pt, above) if free else []
    pairs: list[tuple[Box, Any]] = [
        (p, b) for p, b in zip(scan.photos, captions, strict=True) if b is not None
    ]
    pairs += [(d, b) for d, b in zip(drawings, drawn, strict=False) if b is not None]
    loose = [p for p, b in zip(scan.photos, captions, strict=True) if b is None]
    loose += [d for d, b in zip(drawings, drawn + [None] * len(drawings), strict=False) if b is None]
    pairs, taken = _grow(pairs, loose)
    n_photos = sum(b is None for b in captions)
    pairs += [(p, None) for j, p in enumerate(loose[:n_photos]) if j not in taken]  # uncaptioned photos
    pairs.sort(key=lambda t: (t[0][1], t[0][0]))
    out = []
    for index, (box, block) in enumerate(pairs):
        data, width, height = _crop(scan, box)
        caption = _caption_text(block, blocks, pattern) if block else None
        out.append(
            PdfFigure(
                pno,
                index,
                box,
                data,
                "png",
                width,
                height,
                caption or None,
                block.label if block else None,
                source="scan",
            )
        )
    return out
