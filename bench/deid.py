"""De-identification benchmark (`python -m bench.deid`): face recall and false fires, burned-in text recall and
false fires, and the time each costs, on real pictures available offline. Writes bench/results/deid-<date>.json.

Faces (pipeline/vision/faces.py, BlazeFace short+full range at deid.face_min_confidence) against the baseline a
user has without it, the LBP frontal-face cascade scikit-image ships (`skimage.feature.Cascade`; OpenCV 5 has no
Haar cascades and YuNet's ONNX file is in no package):
- recall on real photographs of people: scikit-image's astronaut (Eileen Collins) and camera man, matplotlib's
  Grace Hopper, and the 100 face crops of scikit-image's LFW subset (25 px Labeled Faces in the Wild crops,
  upscaled to 96 px with a 40% margin of their own edge pixels, pasted on a 320x240 skin-coloured background:
  the size of a face in a keyframe); a hit is a box whose centre lies in the face's box;
- false fires (images with any face) on the real dermoscopy fixtures (ISIC 135, Derm7pt 46; DERM_FIXTURES),
  the 100 non-face LFW crops (pasted the same way) and the project's synthetic samples (samples/: forum
  photos, dataset images, JATS figures, one frame every 2 s of each lecture video).
Burned-in text (pipeline/vision/burned_text.py: Tesseract + pipeline.vocab.pii + the overlay rules):
- recall: lines of personal data rendered on skin pictures and on fixture dermoscopy images, white on a black
  band and dark on the picture, at three sizes; a hit is a found line covering the rendered one;
- false fires (images with any line flagged) on the same real and sample sets as faces.
The baseline for text is Tesseract on the grey image as it is, with the same rules (one polarity, no local
threshold). Timing: mean ms per image of each detector on the fixture images, one process (uptime in the results).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipeline.vision.burned_text import find_personal_lines, make_word_reader
from pipeline.vision.faces import make_face_detector

REPO = Path(__file__).resolve().parents[1]
LINES = ["Jane Doe 12/03/1961 MRN 4455667", "DOB: 04/11/1958", "Patient ID 20456789", "Smith, John 2019-07-23",
         "Name: Maria Lopez", "Acc# 7781203 05.02.2024", "Exam 3 Mar 2021 Dr. Alan Brown", "Tel 020 7946 0958"]  # fmt: skip


def _fixture_images() -> dict[str, list[Path]]:
    root = Path(os.environ.get("DERM_FIXTURES", REPO / ".." / "shared" / "fixtures")).resolve()
    return {"isic": sorted((root / "images" / "isic").glob("*.jpg")),
            "derm7pt": sorted((root / "images" / "derm7pt").rglob("*.jpg"))}  # fmt: skip


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.array(img.convert("RGB"))


def _skin(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    tone = np.array([222, 176, 140]) * rng.uniform(0.55, 1.05)
    return np.clip(tone + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)


def _paste_lfw(crop: np.ndarray, seed: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    face = np.asarray(
        Image.fromarray((crop * 255).astype(np.uint8)).resize((96, 96), Image.Resampling.BICUBIC)
    )
    face = np.pad(face, 38, mode="edge")  # head and shoulders around a tight crop, as in a photo
    img = _skin(240, 320, seed)
    rng = np.random.default_rng(seed)
    y, x = int(rng.integers(0, 240 - 172)), int(rng.integers(0, 320 - 172))
    img[y : y + 172, x : x + 172] = face[..., None]
    return img, (x + 38, y + 38, 96, 96)


def _sample_images() -> list[np.ndarray]:
    import cv2

    out = []
    for p in sorted((REPO / "samples").rglob("*")):
        if p.suffix.lower() in (".jpg", ".png") and p.stat().st_size > 1000:
            try:
                out.append(_rgb(p))
            except OSError:
                continue  # the deliberately corrupt sample
        elif p.suffix == ".mp4":
            cap = cv2.VideoCapture(str(p))
            fps, k = cap.get(cv2.CAP_PROP_FPS) or 15, 0
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                if k % int(2 * fps) == 0:
                    out.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
                k += 1
    return out


def _lbp() -> Any:
    from skimage import data
    from skimage.color import rgb2gray
    from skimage.feature import Cascade

    cascade = Cascade(data.lbp_frontal_face_cascade_filename())

    def detect(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
        found = cascade.detect_multi_scale(img=rgb2gray(rgb), scale_factor=1.2, step_ratio=1, min_size=(24, 24),
                                           max_size=(rgb.shape[0], rgb.shape[0]))  # fmt: skip
        return [(d["c"], d["r"], d["width"], d["height"]) for d in found]

    return detect


def _hit(boxes: list[tuple[int, int, int, int]], truth: tuple[int, int, int, int]) -> bool:
    tx, ty, tw, th = truth
    return any(tx <= x + w / 2 <= tx + tw and ty <= y + h / 2 <= ty + th for x, y, w, h in boxes)


def faces(
    min_confidence: float, fixtures: dict[str, list[Path]], samples: list[np.ndarray]
) -> dict[str, Any]:
    import matplotlib
    from skimage import data

    det = make_face_detector("blazeface", min_confidence)
    assert det is not None
    methods = {"blazeface": lambda im: [(b.x, b.y, b.w, b.h) for b in det.detect(im)], "skimage_lbp": _lbp()}
    hopper = _rgb(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")
    portraits = {"astronaut": (data.astronaut(), (170, 60, 110, 120)), "grace_hopper": (hopper, (170, 130, 190, 210)),
                 "camera": (np.stack([data.camera()] * 3, -1), (165, 85, 100, 120))}  # fmt: skip
    lfw = data.lfw_subset()  # 100 faces, then 100 non-faces
    res: dict[str, Any] = {"min_confidence": min_confidence, "detector_version": det.version}
    for name, fn in methods.items():
        r: dict[str, Any] = {"portraits": {k: _hit(fn(img), box) for k, (img, box) in portraits.items()}}
        hits = [_hit(fn(img), box) for img, box in (_paste_lfw(lfw[i], i) for i in range(100))]
        r["lfw_faces_recall"] = sum(hits) / 100
        r["false_fire_rate"] = {
            "lfw_nonfaces": sum(bool(fn(_paste_lfw(lfw[i], i)[0])) for i in range(100, 200)) / 100,
            "samples": sum(bool(fn(im)) for im in samples) / len(samples),
            **{k: sum(bool(fn(_rgb(p))) for p in v) / max(1, len(v)) for k, v in fixtures.items()},
        }
        t = time.perf_counter()
        images = [_rgb(p) for p in fixtures["isic"][:40]]
        t = time.perf_counter()
        for im in images:
            fn(im)
        r["ms_per_fixture_image"] = round(1000 * (time.perf_counter() - t) / max(1, len(images)), 1)
        res[name] = r
    res["n"] = {"samples": len(samples), **{k: len(v) for k, v in fixtures.items()}}
    return res


def _render(
    base: np.ndarray, line: str, size: int, band: bool
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    img = Image.fromarray(base)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=size)
    x0, y0, x1, y1 = draw.textbbox((6, img.height - size - 14), line, font=font)
    if band:
        draw.rectangle((0, y0 - 6, img.width, img.height), fill=(0, 0, 0))
    draw.text((6, img.height - size - 14), line, fill=(255, 255, 255) if band else (15, 15, 15), font=font)
    return np.asarray(img), (x0, y0, x1 - x0, y1 - y0)


class _PlainTesseract:
    """The baseline: Tesseract's sparse-text mode on the grey image as it is (what pytesseract.image_to_data
    does), upscaled like the pipeline's reader, then the same personal-data rules."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader

    def read(self, rgb: np.ndarray) -> list[Any]:
        import cv2

        scale = min(3.0, max(1.0, 600 / min(rgb.shape[:2])))
        gray = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), None, fx=scale, fy=scale,
                          interpolation=cv2.INTER_CUBIC)  # fmt: skip
        return self.reader._words(gray, scale, 0)


def burned_text(
    fixtures: dict[str, list[Path]], samples: list[np.ndarray], plain: bool = False
) -> dict[str, Any]:
    reader: Any = make_word_reader("tesseract")
    assert reader is not None
    if plain:
        reader = _PlainTesseract(reader)
        reader.version = "plain-grey"
    cases = []
    for k, line in enumerate(LINES):
        for size in (14, 18, 24):
            for band in (True, False):
                bases = [
                    _skin(300, 420, k),
                    np.asarray(Image.open(fixtures["isic"][k]).convert("RGB").resize((420, 300))),
                ]
                cases += [
                    (_render(b, line, size, band), size, band, kind, k)
                    for b, kind in zip(bases, ("skin", "isic"), strict=True)
                ]
    found = []
    for (img, (x, y, w, h)), size, band, kind, k in cases:
        words = reader.read(img)
        lines = find_personal_lines(words)
        hit = any(f.x <= x + 4 and f.x + f.w >= x + w - 4 and f.y <= y + h / 2 <= f.y + f.h for f in lines)
        read = " ".join(
            wd.text for wd in words if wd.y + wd.h / 2 >= y - 4
        )  # what was read on the rendered line
        found.append({"line": k, "size": size, "band": band, "base": kind, "hit": hit, "read": read})
    res: dict[str, Any] = {"reader_version": reader.version, "n_cases": len(cases),
                           "recall": sum(f["hit"] for f in found) / len(found)}  # fmt: skip
    for key, values in (("size", (14, 18, 24)), ("band", (True, False)), ("base", ("skin", "isic"))):
        res[f"recall_by_{key}"] = {str(v): sum(f["hit"] for f in found if f[key] == v) / sum(f[key] == v for f in found)
                                   for v in values}  # fmt: skip
    res["missed"] = [
        f for f in found if not f["hit"]
    ]  # the rendered lines are made up: their text may be shown
    res["false_fire_rate"] = {
        "samples": sum(bool(find_personal_lines(reader.read(im))) for im in samples) / len(samples),
        **{k: sum(bool(find_personal_lines(reader.read(_rgb(p)))) for p in v) / max(1, len(v))
           for k, v in fixtures.items()},
    }  # fmt: skip
    images = [_rgb(p) for p in fixtures["isic"][:40]]
    t = time.perf_counter()
    for im in images:
        reader.read(im)
    res["ms_per_fixture_image"] = round(1000 * (time.perf_counter() - t) / max(1, len(images)), 1)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--min-confidence", type=float, default=0.75)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / f"deid-{date.today()}.json")
    args = ap.parse_args()
    fixtures, samples = _fixture_images(), _sample_images()
    result = {"date": str(date.today()), "load": os.getloadavg(), "faces": faces(args.min_confidence, fixtures, samples),
              "burned_text": burned_text(fixtures, samples),
              "burned_text_baseline_plain_tesseract": burned_text(fixtures, samples, plain=True)}  # fmt: skip
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
