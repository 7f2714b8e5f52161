"""PDF benchmark: pages/s of extract_pdf_figures (figures with their "Figure N" captions) against PyMuPDF used
directly, on the same files in the same run.

- Input: the real journal PDFs in $DERM_FIXTURES/pdf (default ../shared/fixtures) and the project's sample
  handouts (samples/pdf), read from disk each pass (what the preprocess stage does).
- Modes, taking turns round after round (each pass reads every file `--passes` times; medians over rounds, the
  ratio also taken round by round so both sides meet the same load):
  - `ours`: pipeline.formats.pdf.extract_pdf_figures with the default PdfConfig (captions paired, drawn figures
    looked for, scanned pages checked; none of these files is a scan, so no OCR runs).
  - `pymupdf_images`: every image of every page, each xref once per file: page.get_images() + doc.extract_image,
    the PyMuPDF documentation's extraction recipe. No positions and no text, so no captions.
  - `pymupdf_placed`: page.get_image_info(xrefs=True) (where each image is drawn, which pairing with a caption
    needs) + doc.extract_image per placed xref.
  - `pymupdf_placed_text`: the same plus page.get_text("dict"), the text a caption is read from.
  - `pymupdf_text`: page.get_text("dict") alone, the floor any caption reader pays.
Results: bench/results/pdf-<date>.json.  Run: `python -m bench.pdf [--rounds 7 --passes 3]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pymupdf

from pipeline.config import PdfConfig
from pipeline.formats.pdf import extract_pdf_figures

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("DERM_FIXTURES", str(REPO / ".." / "shared" / "fixtures")))


def inputs() -> list[Path]:
    return sorted((FIXTURES / "pdf").glob("*.pdf")) + sorted(
        p for p in (REPO / "samples" / "pdf").glob("*.pdf") if not p.name.startswith("corrupt"))


def ours(paths: list[Path]) -> int:
    cfg = PdfConfig()
    return sum(len(extract_pdf_figures(p, cfg).figures) for p in paths)


def pymupdf_images(paths: list[Path]) -> int:
    n = 0
    for p in paths:
        with pymupdf.open(p) as doc:
            seen: set[int] = set()
            for page in doc:
                for item in page.get_images():
                    if item[0] not in seen:
                        seen.add(item[0])
                        n += bool(doc.extract_image(item[0]))
    return n


def _placed(paths: list[Path], text: bool) -> int:
    n = 0
    for p in paths:
        with pymupdf.open(p) as doc:
            for page in doc:
                if text:
                    page.get_text("dict")
                for info in page.get_image_info(xrefs=True):
                    if info["xref"]:
                        n += bool(doc.extract_image(info["xref"]))
    return n


def pymupdf_placed(paths: list[Path]) -> int:
    return _placed(paths, text=False)


def pymupdf_placed_text(paths: list[Path]) -> int:
    return _placed(paths, text=True)


def pymupdf_text(paths: list[Path]) -> int:
    n = 0
    for p in paths:
        with pymupdf.open(p) as doc:
            for page in doc:
                n += len(page.get_text("dict")["blocks"])
    return n


MODES: dict[str, Callable[[list[Path]], int]] = {
    "ours": ours, "pymupdf_images": pymupdf_images, "pymupdf_placed": pymupdf_placed,
    "pymupdf_placed_text": pymupdf_placed_text, "pymupdf_text": pymupdf_text,
}


def run(paths: list[Path], rounds: int, passes: int) -> dict[str, object]:
    pages = sum(pymupdf.open(p).page_count for p in paths) * passes
    for fn in MODES.values():  # warm-up: imports, file cache
        fn(paths)
    rates: dict[str, list[float]] = {name: [] for name in MODES}
    for _ in range(rounds):
        for name, fn in MODES.items():
            t0 = time.perf_counter()
            for _ in range(passes):
                fn(paths)
            rates[name].append(pages / (time.perf_counter() - t0))
    modes: dict[str, object] = {}
    for name, runs in rates.items():
        per_round = [o / r for o, r in zip(rates["ours"], runs, strict=True)]
        modes[name] = {
            "pages_per_s_median": round(statistics.median(runs), 1),
            "pages_per_s_runs": [round(r, 1) for r in runs],
            "ours_ratio_of_medians": round(statistics.median(rates["ours"]) / statistics.median(runs), 2),
            "ours_ratio_per_round_median": round(statistics.median(per_round), 2),
        }
    return {"pages_per_pass": pages // passes, "passes_per_round": passes, "rounds": rounds,
            "figures_ours": ours(paths), "modes": modes}


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--passes", type=int, default=3)
    args = ap.parse_args()
    paths = inputs()
    if not any(p.is_relative_to(FIXTURES) for p in paths):
        print(f"no fixture PDFs under {FIXTURES / 'pdf'}: only the sample handouts are measured")
    load = os.getloadavg()[0]
    result: dict[str, object] = {
        "date": date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}", "pymupdf": pymupdf.__version__, "load_avg_1min_before": round(load, 2),
        "files": [p.name for p in paths], **run(paths, args.rounds, args.passes),
        "load_avg_1min_after": round(os.getloadavg()[0], 2),
    }
    out = REPO / "bench" / "results" / f"pdf-{date.today().isoformat()}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
