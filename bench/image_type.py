"""Skin recall and non-skin rejection of the default image-type classifier (pipeline.vision.image_type).

Skin images: the real dermoscopy in the shared fixtures (env DERM_FIXTURES, default ../shared/fixtures):
images/isic/*.jpg (135 ISIC thumbnails) and images/derm7pt/images/**.jpg (46 Derm7pt crops), read in place.
Non-skin images: (1) every embedded image of the fixture PDFs (fixtures/pdf/*.pdf, real biomedical papers;
PyMuPDF, images under 64 px and single-colour masks skipped), (2) every page of those PDFs rendered at
40 dpi (text, tables and vector charts), (3) pictures drawn by bench/synthetic_images.py: charts, diagrams,
slides, text pages and photos of other things, including warm-coloured brick and wood. A skin image counts
as recalled when its type is one the clean stage keeps by default; a non-skin image counts as rejected
when its type is not. The confusion table is by source set, since the real sets carry no type labels.

Run: `python -m bench.image_type` (prints the tables, writes bench/results/image_type.json).
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def fixtures() -> Path:
    return Path(os.environ.get("DERM_FIXTURES", REPO / ".." / "shared" / "fixtures"))


def skin_sets(root: Path) -> dict[str, list[tuple[str, Image.Image]]]:
    def load(paths: list[Path]) -> list[tuple[str, Image.Image]]:
        out = []
        for p in paths:
            with Image.open(p) as img:
                out.append((p.name, img.convert("RGB")))
        return out

    return {"isic": load(sorted((root / "images" / "isic").glob("*.jpg"))),
            "derm7pt": load(sorted((root / "images" / "derm7pt").rglob("*.jpg")))}


def pdf_images(root: Path) -> Iterator[tuple[str, str, Image.Image]]:
    """(set, name, image): embedded PDF images, then rendered pages."""
    import pymupdf

    for pdf in sorted((root / "pdf").glob("*.pdf")):
        with pymupdf.open(pdf) as doc:
            for pno, page in enumerate(doc):
                for info in page.get_images(full=True):
                    data = doc.extract_image(info[0])
                    if not data or min(data["width"], data["height"]) < 64:
                        continue
                    img = Image.open(io.BytesIO(data["image"])).convert("RGB")
                    if np.ptp(np.asarray(img)) > 10:  # blank masks and spacers are not figures
                        yield "pdf_figures", f"{pdf.stem}_p{pno}_x{info[0]}", img
            for pno, page in enumerate(doc):
                png = page.get_pixmap(dpi=40).tobytes("png")
                yield "pdf_pages", f"{pdf.stem}_p{pno}", Image.open(io.BytesIO(png)).convert("RGB")


def evaluate() -> dict[str, object]:
    from bench.synthetic_images import non_skin_images
    from pipeline.config import ImageTypeConfig
    from pipeline.vision.image_type import IMAGE_TYPES, HeuristicClassifier

    keep = set(ImageTypeConfig().keep)
    clf = HeuristicClassifier()
    root = fixtures()
    sets: dict[str, list[tuple[str, Image.Image]]] = {}
    if (root / "images").exists():
        sets.update(skin_sets(root))
    if (root / "pdf").exists():
        for name, item, img in pdf_images(root):
            sets.setdefault(name, []).append((item, img))
    synth = non_skin_images(per_kind=6)
    for name, _kind, img in synth:
        sets.setdefault("synthetic_" + name.rsplit("_", 1)[0], []).append((name, img))
    t0, n_images = time.perf_counter(), 0
    confusion: dict[str, dict[str, int]] = {}
    wrong: dict[str, list[str]] = {}
    for name, items in sets.items():
        results = clf.classify([img for _, img in items])
        n_images += len(items)
        confusion[name] = dict(Counter(r.image_type for r in results))
        is_skin = name in ("isic", "derm7pt")
        wrong[name] = [item for (item, _), r in zip(items, results, strict=True)
                       if (r.image_type in keep) != is_skin]
    seconds = time.perf_counter() - t0
    skin_n = sum(len(sets.get(s, [])) for s in ("isic", "derm7pt"))
    skin_ok = skin_n - sum(len(wrong.get(s, [])) for s in ("isic", "derm7pt"))
    non = [s for s in sets if s not in ("isic", "derm7pt")]
    non_n = sum(len(sets[s]) for s in non)
    non_ok = non_n - sum(len(wrong[s]) for s in non)
    real_non = [s for s in non if s.startswith("pdf_")]
    real_n = sum(len(sets[s]) for s in real_non)
    return {
        "backend": clf.name, "keep": sorted(keep), "types": list(IMAGE_TYPES),
        "skin_n": skin_n, "skin_recall": round(skin_ok / skin_n, 4) if skin_n else None,
        "non_skin_n": non_n, "non_skin_rejection": round(non_ok / non_n, 4) if non_n else None,
        "real_non_skin_n": real_n,
        "real_non_skin_rejection": round((real_n - sum(len(wrong[s]) for s in real_non)) / real_n, 4)
        if real_n else None,
        "images_per_s": round(n_images / seconds, 1), "confusion": confusion,
        "misclassified": {k: v for k, v in wrong.items() if v},
    }


def main() -> int:
    from pipeline.vision.image_type import IMAGE_TYPES

    res = evaluate()
    conf: dict[str, dict[str, int]] = res["confusion"]  # type: ignore[assignment]
    head = "".join(f"{t[:12]:>13}" for t in IMAGE_TYPES)
    print(f"{'set':<24}{'n':>5}{head}")
    for name, row in conf.items():
        print(f"{name:<24}{sum(row.values()):>5}" + "".join(f"{row.get(t, 0):>13}" for t in IMAGE_TYPES))
    print(f"skin recall {res['skin_recall']} (n={res['skin_n']}); non-skin rejection {res['non_skin_rejection']} "
          f"(n={res['non_skin_n']}; real PDF images and pages only: {res['real_non_skin_rejection']}, "
          f"n={res['real_non_skin_n']}); {res['images_per_s']} images/s")
    for name, items in res["misclassified"].items():  # type: ignore[attr-defined]
        print(f"  wrong in {name}: {', '.join(items[:8])}{' ...' if len(items) > 8 else ''}")
    out = REPO / "bench" / "results" / "image_type.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
