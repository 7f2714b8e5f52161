"""Leakage of external evaluation images into training (`python -m bench.eval_leakage`): crop recall and
false matches of the old whole-image pHash check against the crop-robust search the export now runs.

Real dermoscopy images from the fixtures (DERM_FIXTURES, default ../shared/fixtures: images/isic and
images/derm7pt) play the evaluation set; the "training" side holds, per image, one transformed copy of it
(centre crop to a fraction of the area and resized back to the original size; or recoloured: hue rotated,
saturation and brightness changed; each saved as JPEG q75) plus every image of the other fixture folder
as distinct images. Recall: copies matched to their own original. False matches: distinct training
images matched to any evaluation image, and copies matched to an image other than their original.
"old": pHash of the whole image within 6 bits (the evaluation's check before issue 14). "clean_views":
the clean stage's search (pipeline.vision.dedup views: whole image + 3x3 crops at 92% of a side, both
directions) at the clean stage's thresholds. "new": the same plus the evaluation images' smaller crops
(pipeline.train.external.EVAL_CROP_SIDES), what the export runs. Writes bench/results/eval_leakage-<date>.json.
"""

from __future__ import annotations

import io
import json
import os
import platform
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, ImageEnhance

from pipeline.config import CleanConfig
from pipeline.train.external import ViewHashes, views_of
from pipeline.vision.dedup import N_REGIONS, match_sets, popcount

REPO = Path(__file__).resolve().parents[1]


def centre_crop(area: float) -> Callable[[Image.Image], Image.Image]:
    def crop(img: Image.Image) -> Image.Image:
        w, h = img.size
        s = area**0.5
        cw, ch = round(w * s), round(h * s)
        x, y = (w - cw) // 2, (h - ch) // 2
        return img.crop((x, y, x + cw, y + ch)).resize((w, h), Image.Resampling.BICUBIC)

    return crop


def recolour(img: Image.Image) -> Image.Image:
    hsv = np.asarray(img.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + 20) % 256
    out = Image.fromarray(hsv, "HSV").convert("RGB")
    return ImageEnhance.Brightness(ImageEnhance.Color(out).enhance(1.3)).enhance(0.85)


TRANSFORMS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "crop90": centre_crop(0.9), "crop80": centre_crop(0.8), "crop70": centre_crop(0.7), "crop60": centre_crop(0.6),
    "crop50": centre_crop(0.5), "recolour": recolour, "crop70_recolour": lambda im: recolour(centre_crop(0.7)(im)),
}  # fmt: skip


def _jpeg(img: Image.Image) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=75)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _views(images: list[Image.Image], deep: bool = False) -> ViewHashes:
    vs = [views_of(im, deep) for im in images]
    return ViewHashes(
        np.stack([v[0] for v in vs]), np.stack([v[1] for v in vs]), np.ones(len(vs), dtype=bool)
    )


def _old_pairs(ev: ViewHashes, tr: ViewHashes, max_bits: int = 6) -> set[tuple[int, int]]:
    dist = popcount(ev.p[:, None, 0] ^ tr.p[None, :, 0])
    return {(int(i), int(j)) for i, j in zip(*np.nonzero(dist <= max_bits), strict=True)}


def _new_pairs(
    ev: ViewHashes, tr: ViewHashes, thresholds: tuple[int, int], deep: bool
) -> set[tuple[int, int]]:
    n = ev.p.shape[1] if deep else N_REGIONS
    ie, it = match_sets(ev.p[:, :n], ev.d[:, :n], tr.p, tr.d, *thresholds)
    return set(zip(ie.tolist(), it.tolist(), strict=True))


def _pixels_same(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and a.tobytes() == b.tobytes()


def run(fixtures: Path) -> dict[str, object]:
    isic = sorted((fixtures / "images" / "isic").glob("*.jpg"))
    derm7pt = sorted((fixtures / "images" / "derm7pt").rglob("*.jpg"))
    if not isic or not derm7pt:
        return {"skipped": f"no fixture images under {fixtures}"}
    cfg = CleanConfig()
    thresholds = (cfg.phash_max_distance, cfg.dedup_max_distance)
    out: dict[str, object] = {"thresholds_new": list(thresholds), "threshold_old_phash": 6}
    for eval_name, eval_files, other_files in (("isic", isic, derm7pt), ("derm7pt", derm7pt, isic)):
        originals = [Image.open(f).convert("RGB") for f in eval_files]
        distinct = [Image.open(f).convert("RGB") for f in other_files]
        ev = _views(originals, deep=True)
        dv = _views(distinct)
        methods: dict[str, Callable[[ViewHashes, ViewHashes], set[tuple[int, int]]]] = {
            "old": _old_pairs,
            "clean_views": lambda a, b: _new_pairs(a, b, thresholds, False),
            "new": lambda a, b: _new_pairs(a, b, thresholds, True),
        }
        res: dict[str, object] = {"n_eval": len(originals), "n_distinct_train": len(distinct)}
        for method, pairs in methods.items():
            fd = pairs(ev, dv)
            res[f"{method}_distinct_false_matches"] = len({j for _, j in fd})
        for name, fn in TRANSFORMS.items():
            copies = [_jpeg(fn(im)) for im in originals]
            cv = _views(copies)
            t0 = time.perf_counter()
            for method, pairs in methods.items():
                found = pairs(ev, cv)
                own = {j for i, j in found if i == j}
                wrong = {(i, j) for i, j in found if i != j and not _pixels_same(originals[i], originals[j])}
                res[f"{name}_{method}_recall"] = round(len(own) / len(copies), 3)
                res[f"{name}_{method}_wrong_pairs"] = len(wrong)
            res[f"{name}_seconds"] = round(time.perf_counter() - t0, 2)
        out[eval_name] = res
    return out


def main() -> None:
    fixtures = Path(os.environ.get("DERM_FIXTURES", REPO.parent / "shared" / "fixtures"))
    result = {"date": date.today().isoformat(), "machine": platform.platform(), "cpus": os.cpu_count(),
              "imagehash": imagehash.__version__, "quality": run(fixtures)}  # fmt: skip
    path = REPO / "bench" / "results" / f"eval_leakage-{date.today().isoformat()}.json"
    path.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
