"""Vector-drawn PDF figures: cluster page drawings into regions that pdf.py renders and captions.

Flowcharts, plots and schematics in journal PDFs are often drawn as paths rather than placed images, so
`get_image_info()` never sees them. Their strokes and fills (`page.get_drawings()`) are clustered by
proximity into regions; what is left after removing page furniture (rules, frames around the whole page,
the frame or shading of a raster image, shaded text boxes) is a candidate figure. pdf.py keeps a candidate
only when a "Figure N" caption sits right above or below it and no raster image claimed that caption, which
is what keeps tables (drawn with lines, captioned "Table N") and decorations out.
"""

from __future__ import annotations

from typing import Any

import pymupdf

from pipeline.config import PdfConfig
from pipeline.formats.pdf_captions import Box, PdfFigure, _Block, _caption_text, _pair_captions


def _area(b: Box) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _intersection(a: Box, b: Box) -> float:
    return _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def _near(a: Box, b: Box, gap: float) -> bool:
    return a[0] - gap <= b[2] and b[0] - gap <= a[2] and a[1] - gap <= b[3] and b[1] - gap <= a[3]


def cluster_boxes(boxes: list[Box], gap: float) -> list[Box]:
    """Union of boxes that touch or lie within `gap` of each other, merged until nothing changes."""
    merged = list(boxes)
    changed = True
    while changed:
        changed = False
        out: list[Box] = []
        for box in merged:
            for i, other in enumerate(out):
                if _near(box, other, gap):
                    out[i] = (min(box[0], other[0]), min(box[1], other[1]), max(box[2], other[2]),
                              max(box[3], other[3]))
                    changed = True
                    break
            else:
                out.append(box)
        merged = out
    return merged


def vector_regions(page: pymupdf.Page, text_boxes: list[Box], image_boxes: list[Box], min_side: float,
                   gap: float = 12.0) -> list[Box]:
    """Candidate figure regions drawn as vectors on `page`, top to bottom.

    Dropped: drawings covering most of the page (backgrounds, page frames), hairline rules and thin bars,
    clusters under `min_side` points on a side, clusters that mostly overlap a raster image (its frame),
    and clusters whose area is mostly text (shaded boxes, tables of text)."""
    page_box: Box = (float(page.rect.x0), float(page.rect.y0), float(page.rect.x1), float(page.rect.y1))
    strokes: list[Box] = []
    drawings: list[dict[str, Any]] = page.get_drawings()
    for d in drawings:
        r = d.get("rect")
        if r is None:
            continue
        box: Box = (float(r.x0), float(r.y0), float(r.x1), float(r.y1))
        if _area(box) > 0.6 * _area(page_box):
            continue
        strokes.append(box)
    regions = []
    for box in cluster_boxes(strokes, gap):
        w, h = box[2] - box[0], box[3] - box[1]
        if min(w, h) < min_side:
            continue
        if any(_intersection(box, img) > 0.5 * min(_area(box), _area(img)) for img in image_boxes):
            continue
        text = sum(_intersection(box, t) for t in text_boxes)
        if text > 0.5 * _area(box):
            continue
        regions.append(box)
    return sorted(regions, key=lambda b: (b[1], b[0]))


def render(page: pymupdf.Page, box: Box, dpi: int = 150, pad: float = 4.0) -> tuple[bytes, int, int]:
    """PNG of the region (slightly padded, clipped to the page) at `dpi`."""
    clip = pymupdf.Rect(box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad) & page.rect
    pix = page.get_pixmap(dpi=dpi, clip=clip, alpha=False)
    return pix.tobytes("png"), pix.width, pix.height


def _without_caption(region: Box, captions: list[_Block]) -> Box:
    """A frame drawn around figure and caption together: cut the region at the caption inside it."""
    x0, y0, x1, y1 = region
    for b in captions:
        bx0, by0, bx1, by1 = b.bbox
        if bx0 >= x0 - 2 and bx1 <= x1 + 2 and by0 >= y0 - 2 and by1 <= y1 + 2:
            if (by0 + by1) / 2 > (y0 + y1) / 2:
                y1 = min(y1, by0 - 1)
            else:
                y0 = max(y0, by1 + 1)
    return (x0, y0, x1, y1)


def vector_figures(page: pymupdf.Page, pno: int, blocks: list[_Block], raster: list[Box],
                   claimed: set[str | None], cfg: PdfConfig) -> list[PdfFigure]:
    """Drawn figures whose "Figure N" caption no raster image took, directly above or below them."""
    free = [b for b in blocks if b.label and b.label not in claimed]
    if not free:
        return []
    regions = [_without_caption(r, free) for r in vector_regions(
        page, [b.bbox for b in blocks if not b.label], raster, cfg.min_image_side_px)]
    regions = [r for r in regions if min(r[2] - r[0], r[3] - r[1]) >= cfg.min_image_side_px]
    unlabelled = [b for b in blocks if not b.label]
    captions = _pair_captions(regions, unlabelled + free, cfg.caption_max_gap_pt, fallback=False)
    out = []
    for n, (region, block) in enumerate((r, b) for r, b in zip(regions, captions, strict=True) if b):
        data, width, height = render(page, region)
        out.append(PdfFigure(pno, n, region, data, "png", width, height, _caption_text(block, blocks) or None,
                             block.label, source="vector"))
    return out
