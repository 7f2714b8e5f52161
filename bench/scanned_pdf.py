"""Scanned-page PDF benchmark (`python -m bench.scanned_pdf`): figure and caption recall of the OCR path
(pipeline/formats/pdf_ocr.py) on scanned-style variants of PDFs whose text layer says what is on them.

Why made this way: no scanned dermatology textbook can be redistributed or found openly with ground truth,
but a born-digital PDF gives its own: the figures and captions the text-layer path finds on the original are
what a reader of the scan should find. Each page of the original is rasterised (PyMuPDF) at `dpi`, given
sensor noise, a slight rotation (0.5-2 degrees, alternating sign, as a page laid crooked on the glass) and JPEG
compression, and the PDF is rebuilt from those page images alone (no text layer), as a scanner writes it.

Measured per document against the original's text-layer result:
- caption recall: each captioned figure of the original (page, label) has a figure on the scan with the same
  page and label whose caption reads the same (difflib ratio >= 0.8 after whitespace and case folding;
  autojunk off: on captions over 200 characters its popularity heuristic drops letters and halves ratios);
- figure recall: each captioned figure of the original has a figure on the scan on the same page whose box
  overlaps it (IoU >= 0.5, in page points; the scan's skew moves boxes a little);
- uncaptioned images (example3's table of structures) are counted apart: a scan shows them as table cells;
- seconds per page (one process; the load is in the results).
Inputs: samples/pdf (the project's handouts) and the real fixture PDFs (DERM_FIXTURES/pdf, read in place; the
variants are written to a temporary folder, never into the repository). Results: bench/results/scanned_pdf-<date>.json.
"""

from __future__ import annotations

import argparse
import difflib
import io
import json
import os
import re
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pymupdf
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def scan_page(rgb: np.ndarray, seed: int, skew_deg: float, noise: float = 6.0, quality: int = 70) -> bytes:
    """A JPEG of the page as a scanner gives it: noise, rotation about the centre (white fill), compression."""
    rng = np.random.default_rng(seed)
    noisy = np.clip(rgb.astype(np.float32) + rng.normal(0.0, noise, rgb.shape), 0, 255).astype(np.uint8)
    img = Image.fromarray(noisy).rotate(
        skew_deg, resample=Image.Resampling.BICUBIC, fillcolor=(255, 255, 255)
    )
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def scan_pdf(
    src: Path,
    dst: Path,
    dpi: int = 170,
    seed: int = 0,
    pages: list[int] | None = None,
    skew: tuple[float, float] = (0.5, 2.0),
    quality: int = 70,
) -> int:
    """Write an image-only copy of `src` (all pages, or the 1-based `pages`) to `dst`; returns its page count.
    Page n is turned by a skew drawn from `skew`, sign alternating."""
    rng = np.random.default_rng(seed)
    out = pymupdf.open()
    with pymupdf.open(src) as doc:
        for pno in pages or range(1, doc.page_count + 1):
            page = doc[pno - 1]
            pix = page.get_pixmap(dpi=dpi, alpha=False, colorspace=pymupdf.csRGB)
            rgb = np.frombuffer(pix.samples, np.uint8).reshape(pix.height, pix.width, 3)
            angle = float(rng.uniform(*skew)) * (1 if pno % 2 else -1)
            data = scan_page(rgb, seed + pno, angle, quality=quality)
            new = out.new_page(width=page.rect.width, height=page.rect.height)
            new.insert_image(new.rect, stream=data)
    out.save(dst, garbage=3, deflate=True)
    n = out.page_count
    out.close()
    return n


def _norm(text: str | None) -> str:
    return re.sub(r"\s+", " ", (text or "").lower()).strip()


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def compare(original: Any, scanned: Any) -> dict[str, Any]:
    """Recall of the original's captioned figures (and its uncaptioned images) on the scan's result."""
    truth = [f for f in original.figures if f.caption and f.label]
    rows, cap_hits, fig_hits = [], 0, 0
    for f in truth:
        same = [g for g in scanned.figures if g.page == f.page and g.label == f.label]
        ratio = max(
            (
                difflib.SequenceMatcher(None, _norm(f.caption), _norm(g.caption), autojunk=False).ratio()
                for g in same
            ),
            default=0.0,
        )
        iou = max((_iou(f.bbox, g.bbox) for g in scanned.figures if g.page == f.page), default=0.0)
        cap_hits += ratio >= 0.8
        fig_hits += iou >= 0.5
        rows.append(
            {"page": f.page, "label": f.label, "caption_ratio": round(ratio, 3), "iou": round(iou, 3)}
        )
    loose = [f for f in original.figures if not f.caption]
    loose_hits = sum(
        any(_iou(f.bbox, g.bbox) >= 0.5 for g in scanned.figures if g.page == f.page) for f in loose
    )
    extra = [
        g
        for g in scanned.figures
        if not any(_iou(f.bbox, g.bbox) >= 0.5 for f in original.figures if f.page == g.page)
    ]
    return {
        "captioned": len(truth),
        "caption_hits": cap_hits,
        "figure_hits": fig_hits,
        "uncaptioned": len(loose),
        "uncaptioned_hits": loose_hits,
        "extra_figures": len(extra),
        "extras": [{"page": g.page, "bbox": [round(v) for v in g.bbox], "label": g.label} for g in extra],
        "figures": rows,
    }


def inputs() -> list[Path]:
    fixtures = Path(os.environ.get("DERM_FIXTURES", REPO / ".." / "shared" / "fixtures")).resolve() / "pdf"
    return sorted((REPO / "samples" / "pdf").glob("*_*.pdf")) + sorted(fixtures.glob("*.pdf"))


def main() -> None:
    from pipeline.config import PdfConfig
    from pipeline.errors import ItemError
    from pipeline.formats.pdf import extract_pdf_figures

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dpi", type=int, default=170)
    ap.add_argument(
        "--out", type=Path, default=REPO / "bench" / "results" / f"scanned_pdf-{date.today()}.json"
    )
    args = ap.parse_args()
    cfg, docs, totals = (
        PdfConfig(),
        [],
        dict.fromkeys(("captioned", "caption_hits", "figure_hits", "pages"), 0),
    )
    with tempfile.TemporaryDirectory() as tmp:
        for src in inputs():
            try:
                original = extract_pdf_figures(src, cfg)
            except ItemError as exc:  # the sample folder's corrupt handout
                print(f"{src.name}: skipped ({exc.reason})")
                continue
            dst = Path(tmp) / f"{src.stem}.scanned.pdf"
            pages = scan_pdf(src, dst, dpi=args.dpi, seed=len(docs))
            t0 = time.perf_counter()
            scanned = extract_pdf_figures(dst, cfg)
            seconds = time.perf_counter() - t0
            row = {
                "pdf": src.name,
                "pages": pages,
                "seconds": round(seconds, 1),
                "s_per_page": round(seconds / pages, 2),
                "ocr_pages": scanned.ocr_pages,
                "rejects": [list(r) for r in scanned.rejects],
                **compare(original, scanned),
            }
            docs.append(row)
            for k in totals:
                totals[k] += row[k]
            print(
                f"{src.name}: {pages} pages in {seconds:.1f} s; captions {row['caption_hits']}/{row['captioned']}, "
                f"figures {row['figure_hits']}/{row['captioned']}, uncaptioned {row['uncaptioned_hits']}/"
                f"{row['uncaptioned']}, extra {row['extra_figures']}"
            )
    n = max(1, totals["captioned"])
    summary = {
        "caption_recall": round(totals["caption_hits"] / n, 3),
        "figure_recall": round(totals["figure_hits"] / n, 3),
        **totals,
        "uptime": os.popen("uptime").read().strip(),
        "dpi": args.dpi,
        "pdf_config": cfg.model_dump(),
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "pdf_config"}, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "documents": docs}, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
