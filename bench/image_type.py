"""Skin recall, non-skin rejection, a type confusion table and per-tone skin recall of the image-type
classifier (pipeline.vision.image_type), on a TUNING split and a HELD-OUT split kept apart.

Tuning (what the rules and thresholds were set on): images this project draws (bench/synthetic_images.py:
clinical and dermoscopy skin at six tones, H&E-like fields, charts, diagrams, slides, text pages, photos of
other things), the project's sample corpus images (samples/) and scikit-image's bundled sample photos
(skimage.data: a cat, coffee, a rocket, a fundus photo, coins, text, IHC microscopy ...).

Held out (only measured, never tuned on; nothing fitted on them is committed): the shared fixtures (env
DERM_FIXTURES, default ../shared/fixtures): images/isic (135 ISIC dermoscopy thumbnails, CC0) and
images/derm7pt (46 Derm7pt dermoscopy crops), every embedded image of the fixture PDFs (real biomedical
papers; PyMuPDF, images under 64 px and single-colour masks skipped) and every page of them rendered at 40 dpi;
plus real pictures other installed packages ship (scikit-learn's two sample photos, networkx's and sympy's
test plots, matplotlib's sample logo and icon), each set skipped when its package is absent. Portraits
(skimage's astronaut, matplotlib's Grace Hopper) are listed unscored: a face is skin but not a lesion.

Darker tones: every skin image of a split is also shifted to each Fitzpatrick-like level with
pipeline.vision.skin_tone.shift_tone (a CIELAB lightness/chroma change that puts the image's median ITA in
the level's band; see that module) and its skin recall reported per level.

Run: `python -m bench.image_type [--gate auto|on|off]` (prints the tables, writes
bench/results/image_type.json).
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from pipeline.vision.image_type import ImageTypeClassifier

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


SKIMAGE = {  # skimage.data function -> label (portraits: None, reported unscored)
    "astronaut": None, "brick": "other", "camera": "other", "cell": "other", "chelsea": "other",
    "clock": "other", "coffee": "other", "coins": "other", "colorwheel": "chart_or_diagram",
    "grass": "other", "gravel": "other", "horse": "chart_or_diagram", "hubble_deep_field": "other",
    "immunohistochemistry": "histopathology", "logo": "chart_or_diagram", "microaneurysms": "other",
    "moon": "other", "page": "slide_with_text", "retina": "other", "rocket": "other", "text": "slide_with_text",
}


def _rgb(a: object) -> Image.Image:
    arr = np.asarray(a)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    return Image.fromarray(arr[..., :3].astype(np.uint8))


def skimage_items() -> list[tuple[str, str | None, Image.Image]]:
    try:
        import skimage.data as data
    except ImportError:
        return []
    return [(n, lab, _rgb(getattr(data, n)())) for n, lab in SKIMAGE.items()]


def sample_items() -> list[tuple[str, str | None, Image.Image]]:
    """The sample corpus's drawn images: dataset dermoscopy and JATS figures (PMC9000004 f2 is a bar chart)."""
    paths = sorted((REPO / "samples" / "datasets" / "derm_sample" / "images").glob("*.jpg"))
    out: list[tuple[str, str | None, Image.Image]] = [
        (p.name, "dermoscopy", Image.open(p).convert("RGB")) for p in paths]  # drawn inside a field stop
    special = {"PMC9000004_f2.jpg": "chart_or_diagram",
               "PMC9000003_f2.jpg": None}  # a KOH preparation: microscopy of scrapings, neither kind: unscored
    for p in sorted((REPO / "samples" / "jats").glob("*.jpg")):
        out.append((p.name, special.get(p.name, "skin"), Image.open(p).convert("RGB")))
    return out


def package_items() -> list[tuple[str, str | None, Image.Image]]:
    """Real pictures shipped inside installed packages (held out): photos, plots, logos; portraits unscored."""
    import importlib.util

    found: list[tuple[str, str | None, Image.Image]] = []

    def add(pkg: str, rel: str, label: str | None) -> None:
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            return
        path = Path(next(iter(spec.submodule_search_locations))) / rel
        if path.is_file():
            with Image.open(path) as img:
                found.append((f"{pkg}/{path.name}", label, img.convert("RGB")))

    add("sklearn", "datasets/images/china.jpg", "other")
    add("sklearn", "datasets/images/flower.jpg", "other")
    for name in ("house_with_colors", "labels_and_colors", "shortest_path", "complex"):
        add("networkx", f"drawing/tests/baseline/test_display_{name}.png", "chart_or_diagram")
    add("sympy", "plotting/tests/test_region_xor.png", "chart_or_diagram")
    add("sympy", "plotting/tests/test_region_or.png", "chart_or_diagram")
    add("matplotlib", "mpl-data/sample_data/logo2.png", "chart_or_diagram")
    add("matplotlib", "mpl-data/sample_data/Minduka_Present_Blue_Pack.png", "other")
    add("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", None)
    return found


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


def splits() -> dict[str, dict[str, list[tuple[str, str | None, Image.Image]]]]:
    """split -> set name -> (name, label, image); label None = shown, not scored."""
    from bench.synthetic_images import non_skin_images, skin_images

    tuning: dict[str, list[tuple[str, str | None, Image.Image]]] = {}
    for name, kind, img in skin_images(per_kind=12) + non_skin_images(per_kind=6):
        tuning.setdefault("synthetic_" + name.rsplit("_", 1)[0], []).append((name, kind, img))
    tuning["samples"] = list(sample_items())
    tuning["skimage"] = skimage_items()
    held: dict[str, list[tuple[str, str | None, Image.Image]]] = {}
    root = fixtures()
    if (root / "images").exists():
        for name, items in skin_sets(root).items():
            held[name] = [(n, "dermoscopy", img) for n, img in items]
    if (root / "pdf").exists():
        for name, item, img in pdf_images(root):
            held.setdefault(name, []).append((item, "non_skin", img))
    held["packages"] = package_items()
    return {"tuning": tuning, "held_out": held}


def evaluate_split(clf: ImageTypeClassifier, sets: dict[str, list[tuple[str, str | None, Image.Image]]],
                   keep: set[str]) -> dict[str, object]:
    from pipeline.vision.image_type_eval import Scores, is_skin_label, tone_recall

    total, by_set, unscored, skin_imgs = Scores(frozenset(keep)), {}, {}, []
    for name, items in sets.items():
        results = clf.classify([img for _, _, img in items])
        one = Scores(frozenset(keep))
        for (item, label, img), r in zip(items, results, strict=True):
            if label is None:
                unscored[f"{name}/{item}"] = r.image_type
                continue
            total.add(label, r, f"{name}/{item}")
            one.add(label, r, item)
            if is_skin_label(label) and label != "histopathology":
                skin_imgs.append(img)
        by_set[name] = {"n": len(items), **one.summary()}
    out = total.summary()
    out["by_set"] = by_set
    out["unscored"] = unscored
    out["misclassified"] = {k: v for k, v in total.wrong.items() if v}
    out["tones"] = tone_recall(clf, skin_imgs, keep)
    return out


def evaluate(object_gate: str = "auto") -> dict[str, object]:
    from pipeline.config import ImageTypeConfig
    from pipeline.vision.classifier import make_classifier

    cfg = ImageTypeConfig(object_gate=object_gate)  # type: ignore[arg-type]
    keep = set(cfg.keep)
    clf = make_classifier(cfg)
    data = splits()
    t0, n = time.perf_counter(), sum(len(v) for sets in data.values() for v in sets.values())
    res: dict[str, object] = {"backend": clf.name, "keep": sorted(keep)}
    for split, sets in data.items():
        res[split] = evaluate_split(clf, sets, keep)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    res["images"] = n
    return res


def main(argv: list[str] | None = None) -> int:
    import argparse

    from pipeline.vision.image_type_eval import report_lines

    ap = argparse.ArgumentParser(description="image-type classifier: tuning and held-out figures")
    ap.add_argument("--gate", default="auto", choices=("auto", "on", "off"),
                    help="image_type.object_gate: the ImageNet veto (extra imagenet)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "image_type.json")
    args = ap.parse_args(argv)
    res = evaluate(args.gate)
    for split in ("tuning", "held_out"):
        r: dict[str, Any] = res[split]  # type: ignore[assignment]
        print(f"== {split} ({res['backend']})")
        print("\n".join(report_lines(r, r["tones"])))
        for name, s in r["by_set"].items():
            print(f"  {name:<26} n={s['n']:<4} recall={s['skin_recall']} rejection={s['non_skin_rejection']} "
                  f"{s['confusion']}")
        if r["unscored"]:
            print(f"  unscored: {r['unscored']}")
        for label, items in r["misclassified"].items():
            print(f"  wrong ({label}): {', '.join(items[:12])}{' ...' if len(items) > 12 else ''}")
    print(f"{res['images']} images (+ tone copies) in {res['seconds']} s")
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
