"""PDF (journal articles, textbooks) -> raster figures with their "Figure N" captions.

Textbooks and papers put the description of an image in a caption block next to it, so pairing each embedded
image with the nearest label-led text block gives image-text pairs without OCR. Geometry is tested per image
(horizontal overlap, vertical gap) rather than assuming full-width figures, so two-column layouts pair
correctly (caption rules: pdf_captions.py; drawn figures: pdf_vector.py). Image bytes are always PNG, JPEG or
PNM in RGB/grey so the shared image normaliser (PIL) can decode them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pymupdf

from pipeline.config import PdfConfig
from pipeline.errors import ItemError
from pipeline.formats.pdf_captions import (
    _BOLD_NAME,
    LABEL_RE,
    Box,
    PdfDocument,
    PdfFigure,
    _Block,
    _caption_style,
    _caption_text,
    _captions_above,
    _join_lines,
    _label,
    _pair_captions,
    label_pattern,
)
from pipeline.formats.pdf_scan import ScanReader, apply_rules, number_labels, scan_figures

_PASS_THROUGH = {"png", "jpeg", "jpg"}
# Text without ligatures ("ﬁ" -> "fi") and without image blocks (which would copy every image into
# the dict).
_TEXT_FLAGS = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP
_JUNK_TITLE = re.compile(r"^(untitled|microsoft word\b)|\.(docx?|pdf|tex|dvi|indd|qxd)$", re.I)
_Placed = list[tuple[int, dict[str, Any], pymupdf.Rect]]  # (index in get_image_info, info, placed rect)


def _text_blocks(page: pymupdf.Page, pattern: re.Pattern[str] = LABEL_RE
                 ) -> tuple[list[_Block], list[tuple[float, str, int]]]:
    """Text blocks with their text, and (font size, text, line number) per span for the title heuristic."""
    blocks: list[_Block] = []
    spans: list[tuple[float, str, int]] = []
    line_no = 0
    for blk in page.get_text("dict", flags=_TEXT_FLAGS)["blocks"]:
        if blk.get("type") != 0:
            continue
        lines = []
        for line in blk["lines"]:
            line_no += 1
            lines.append("".join(s["text"] for s in line["spans"]))
            if abs(line["dir"][1]) < 0.01:  # rotated margin text ("Clinical Science" sidebars) is no title
                spans.extend((round(s["size"], 1), s["text"], line_no) for s in line["spans"])
        text = _join_lines(lines)
        if text:
            found = _label(text, pattern)
            span = next((sp for line in blk["lines"] for sp in line["spans"] if sp["text"].strip()), None)
            font = (str(span["font"]), round(float(span["size"]), 1)) if span else ("", 0.0)
            bold = bool(span and (int(span["flags"]) & 16 or _BOLD_NAME.search(font[0])))
            blocks.append(_Block(_box(blk["bbox"]), text, found[0] if found else None, bold, font))
    return blocks, spans


def _box(r: Any) -> Box:
    x0, y0, x1, y1 = (float(v) for v in r)
    return (x0, y0, x1, y1)


def _image_bytes(doc: pymupdf.Document, page: pymupdf.Page, info: dict[str, Any], clip: pymupdf.Rect,
                 cache: dict[int, tuple[bytes, str, int, int]], max_pixels: int) -> tuple[bytes, str, int, int]:
    """Original bytes when the stream is a JPEG in grey/RGB; other streams (Flate, JPX, CMYK ...) decoded to a
    pixmap at native resolution and handed over as PNM, which costs nothing to write or read (PNG's deflate
    was most of the time spent on such images, and the normaliser re-encodes every image anyway); inline
    images (xref 0), images over `max_pixels` (a decompression bomb is never decoded) and anything that
    fails as a render of the placed area at 150 dpi (less for a huge area)."""
    from pipeline.formats.pdf_ocr import render_dpi

    xref = int(info.get("xref") or 0)
    if xref and xref in cache:
        return cache[xref]
    result = None
    if xref and int(info.get("width", 0)) * int(info.get("height", 0)) <= max_pixels:
        try:
            raw: dict[str, Any] = doc.extract_image(xref) if info.get("filter") == "DCTDecode" else {}
            if raw.get("ext") in _PASS_THROUGH and raw.get("colorspace") in (1, 3) and raw.get("image"):
                ext = "jpeg" if raw["ext"] == "jpg" else raw["ext"]
                result = (raw["image"], ext, int(raw["width"]), int(raw["height"]))
            else:
                pix = pymupdf.Pixmap(doc, xref)
                if pix.colorspace is None or pix.colorspace.n not in (1, 3):  # CMYK, Lab, indexed ...
                    pix = pymupdf.Pixmap(pymupdf.csRGB, pix)
                if pix.alpha:
                    pix = pymupdf.Pixmap(pix, 0)
                result = (pix.tobytes("pnm"), "pnm", pix.width, pix.height)
        except Exception:  # any decoder failure falls back to rendering the page area
            result = None
    if result is None:
        pix = page.get_pixmap(dpi=render_dpi(clip.width, clip.height, 150, max_pixels), clip=clip, alpha=False)
        result = (pix.tobytes("pnm"), "pnm", pix.width, pix.height)
    if xref:
        cache[xref] = result
    return result


def _near(a: pymupdf.Rect, b: Any) -> bool:
    return all(abs(u - v) < 0.5 for u, v in zip(_box(a), _box(b), strict=True))


def _place_xrefs(page: pymupdf.Page, listed: list[Any], infos: list[dict[str, Any]], min_px: int) -> bool:
    """Set each usable placement's xref (and stream filter) without decoding any image: a page-level image
    is found where it is drawn by its resource name (page.get_image_bbox reads the content stream), and a
    placement is matched to it by its box. False when a placement at least `min_px` on each side (one that
    may become a figure) is left unmatched: drawn twice, inside a form XObject, or ambiguous."""
    filters = {int(x[0]): str(x[8]) for x in listed}
    boxes = [(int(x[0]), page.get_image_bbox(x)) for x in listed
             if int(x[9]) == 0 and min(int(x[2]), int(x[3])) >= min_px]
    ok = True
    for info in infos:
        if min(int(info.get("width", 0)), int(info.get("height", 0))) < min_px:
            info["xref"] = 0
            continue
        found = {xref for xref, box in boxes if _near(box, info["bbox"])}
        info["xref"] = found.pop() if len(found) == 1 else 0
        info["filter"] = filters.get(info["xref"], "")
        ok = ok and bool(info["xref"])
    claimed = [i["xref"] for i in infos if i.get("xref")]
    return ok and len(claimed) == len(set(claimed))  # one box, one placement: a second claim is a look-alike


def _image_info(page: pymupdf.Page, pno: int, max_pixels: int, rejects: list[tuple[str, str, str]],
                min_px: int = 1) -> list[dict[str, Any]]:
    """The page's image placements with their xrefs, without page.get_image_info(xrefs=True)'s costs and
    hazards: that call decodes every image of the page twice to match hashes, so xrefs come from where
    each image is drawn instead (_place_xrefs) and hashes only when that leaves a possible figure
    unmatched. An image declared empty (MuPDF raises) or over max_pixels (a decompression bomb) is left
    out first, by the size its dictionary states, each a reject row; with one on the page nothing is
    hashed, and unmatched placements are rendered from the page, never decoded on their own."""
    try:
        listed = page.get_images(full=True)
    except Exception as exc:  # a broken resource dictionary
        rejects.append((f"p{pno}", "pdf_page_images_unreadable", str(exc)[:200]))
        return []
    bad = {(int(x[2]), int(x[3])) for x in listed if int(x[2]) * int(x[3]) > max_pixels or min(x[2], x[3]) <= 0}
    for x in listed:
        if (int(x[2]), int(x[3])) in bad:
            reason = "pdf_image_empty" if min(x[2], x[3]) <= 0 else "pdf_image_too_large"
            rejects.append((f"p{pno}/x{x[0]}", reason, f"image xref {x[0]}: {x[2]}x{x[3]} px (max {max_pixels})"))
    try:
        infos: list[dict[str, Any]] = [dict(i) for i in page.get_image_info()]
        matched = _place_xrefs(page, [x for x in listed if (int(x[2]), int(x[3])) not in bad], infos, min_px)
        if not matched and not bad:
            filters = {int(x[0]): str(x[8]) for x in listed}
            infos = [dict(i, filter=filters.get(int(i.get("xref") or 0), ""))
                     for i in page.get_image_info(xrefs=True)]
    except Exception as exc:  # MuPDF errors on a malformed image
        rejects.append((f"p{pno}", "pdf_page_images_unreadable", str(exc)[:200]))
        return []
    return [i for i in infos if (int(i.get("width", 0)), int(i.get("height", 0))) not in bad
            and int(i.get("width", 0)) * int(i.get("height", 0)) <= max_pixels]


def _title(doc: pymupdf.Document, first_page_spans: list[tuple[float, str, int]]) -> str | None:
    """Metadata title when it looks like one, else the largest-font text on page 1 (short)."""
    meta = re.sub(r"\s+", " ", (doc.metadata or {}).get("title") or "").strip()
    if len(re.findall(r"[A-Za-z]{2,}", meta)) >= 2 and not _JUNK_TITLE.search(meta):
        return meta
    for size in sorted({s for s, t, _ in first_page_spans if t.strip()}, reverse=True)[:3]:
        parts, last = [], None
        for s, t, line_no in first_page_spans:
            if s == size:
                parts.append(t if line_no == last else " " + t)
                last = line_no
        text = re.sub(r"\s+", " ", "".join(parts)).strip()
        if len(re.findall(r"[A-Za-z]{2,}", text)) >= 2:
            return text if len(text) <= 300 else None
    return None


def _open(path: Path) -> pymupdf.Document:
    try:
        doc = pymupdf.open(path)
    except Exception as exc:  # MuPDF raises several types for unreadable files
        raise ItemError("broken_pdf", f"{path.name}: {exc}") from exc
    if doc.needs_pass and not doc.authenticate(""):
        doc.close()
        raise ItemError("encrypted_pdf", f"{path.name}: needs a password")
    if not doc.is_pdf or doc.page_count == 0:
        doc.close()
        raise ItemError("broken_pdf", f"{path.name}: no pages")
    return doc


def extract_pdf_figures(path: Path, cfg: PdfConfig, names: tuple[str, ...] = ()) -> PdfDocument:
    """All raster images at least `cfg.min_image_side_px` on each side (in pixels and in points as placed;
    down to half that in points when a caption names them: wide strips) with the caption paired to them, then (cfg.vector_figures) drawn figures rendered from their region
    when a "Figure N" caption is left for them. Label blocks not in the document's bold caption font, when
    it has one, are body text. Scanned pages are read by pdf_scan.py (OCR with layout); the file's caption
    rules (cfg.rules_for: keywords, font size range, side) apply to every page."""
    from pipeline.formats.pdf_vector import vector_figures

    rules = cfg.rules_for(path.name, *names)  # names: the file's name where it came from (its URL)
    pattern = label_pattern(rules.keywords)
    doc = _open(path)
    try:
        if doc.page_count > cfg.max_pages:
            raise ItemError("pdf_too_many_pages", f"{path.name}: {doc.page_count} pages, over {cfg.max_pages}")
        figures: list[PdfFigure] = []
        cache: dict[int, tuple[bytes, str, int, int]] = {}
        pages = [_text_blocks(doc[n], pattern) for n in range(doc.page_count)]
        reader = ScanReader(cfg, pattern)
        images = [_image_info(doc[n], n + 1, cfg.max_page_pixels, reader.rejects, cfg.min_image_side_px)
                  for n in range(doc.page_count)]
        scans = {pno: scan for pno in range(1, doc.page_count + 1)
                 if (scan := reader.read(doc[pno - 1], pno, pages[pno - 1][0], images[pno - 1])) is not None}
        for pno in reader.skipped:  # a scan nobody read: none of its images is a figure
            pages[pno - 1] = ([], [])
        for pno, scan in scans.items():
            pages[pno - 1] = (scan.blocks, pages[pno - 1][1])
        if scans:
            number_labels([b for b, _ in pages])
        title_spans = pages[0][1]
        style = _caption_style([b for b, _ in pages if b and b[0].font[0] != "ocr"])
        placed: list[tuple[_Placed, _Placed]] = []  # per page: images, thin images (figures if captioned)
        for pno in range(1, doc.page_count + 1):
            page, blocks = doc[pno - 1], pages[pno - 1][0]
            apply_rules(blocks, rules, style)
            kept: _Placed = []
            strips: _Placed = []
            for index, info in enumerate(images[pno - 1]):
                if pno in scans or pno in reader.skipped:
                    break
                rect = pymupdf.Rect(info["bbox"]) & page.rect
                small = min(info.get("width", 0), info.get("height", 0)) < cfg.min_image_side_px
                side = min(rect.width, rect.height)
                if rect.is_empty or small or side < cfg.min_image_side_px / 2:
                    continue
                (kept if side >= cfg.min_image_side_px else strips).append((index, info, rect))
            placed.append((kept, strips))
        boxes = [list(scans[pno].photos) if pno in scans else [_box(r) for _, _, r in kept]
                 for pno, (kept, _) in enumerate(placed, 1)]
        above = rules.side == "above" or (rules.side == "auto" and _captions_above(
            [(b, blocks) for b, (blocks, _) in zip(boxes, pages, strict=True)], cfg.caption_max_gap_pt))
        for pno, (kept, strips) in enumerate(placed, 1):
            page, blocks = doc[pno - 1], pages[pno - 1][0]
            if pno in scans:
                figures.extend(scan_figures(scans[pno], pno, cfg, above, pattern))
                continue
            captions = _pair_captions([_box(r) for _, _, r in kept], blocks, cfg.caption_max_gap_pt,
                                      above_first=above)
            if strips:  # a thin image (under min_image_side_px points, over half) is a figure only when captioned
                claimed = {b.label for b in captions if b is not None}
                free = [b for b in blocks if not b.label or b.label not in claimed]
                pairs = zip(strips, _pair_captions([_box(r) for _, _, r in strips], free, cfg.caption_max_gap_pt,
                                                   fallback=False, above_first=above), strict=True)
                for strip, thin_caption in pairs:
                    if thin_caption is not None:
                        kept.append(strip)
                        captions.append(thin_caption)
            for (index, info, rect), block in zip(kept, captions, strict=True):
                data, ext, width, height = _image_bytes(doc, page, info, rect, cache, cfg.max_page_pixels)
                caption = _caption_text(block, blocks, pattern) if block else None
                figures.append(PdfFigure(pno, index, _box(rect), data, ext, width, height,
                                         caption or None, block.label if block else None))
            if cfg.vector_figures:
                claimed = {b.label for b in captions if b is not None}
                figures.extend(vector_figures(page, pno, blocks, [_box(r) for _, _, r in kept], claimed, cfg))
        return PdfDocument(_title(doc, title_spans), doc.page_count, figures, len(scans), reader.rejects)
    finally:
        doc.close()
