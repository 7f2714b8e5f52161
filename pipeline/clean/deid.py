"""De-identification of one image, the clean stage's image units' last step: find faces and burned-in personal
text, apply the profile's policies (`deid`), and say what was found and done.

Why here and this way: clean is where an image is judged before any pair is made of it, and an image unit
already reads the stored file. The outcome is data, not an edit: a `clean_deid` row (the decision, the
detectors' versions), a `clean_deid_findings` row per face or text line (box, confidence, what was done), and,
when pixels changed, a new image stored by its own sha256 like every other (pipeline.media). The original
file stays in the media store for the audit, but the pair stage takes the copy (`out_image_id`), so only the
copy can reach an export. The text found is never stored: it is the personal data.

Blurring pixelates the padded box to 8 blocks across, then blurs it: a Gaussian blur alone can be partly
undone by deconvolution, a mosaic of 8 blocks keeps no identity. Masking fills each line's box (padded by a
fifth of its height) with black.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from pipeline import storage
from pipeline.config import DeidConfig, ImageConfig
from pipeline.media import NormalisedImage, normalise_image
from pipeline.storage import Location
from pipeline.vision.burned_text import TextFinding, WordReader, find_personal_lines, make_word_reader
from pipeline.vision.faces import FaceBox, FaceDetector, make_face_detector

DEID_FACE = "deid_face"  # deid.faces: reject, a face was found
DEID_FACE_CLOSEUP = "deid_face_closeup"  # deid.faces: blur, but the faces are most of the picture
DEID_TEXT = "deid_burned_in_text"  # deid.burned_in_text: reject, personal text was found
_BLOCKS = 8


@dataclass
class DeidOutcome:
    """What one image's check produced: its clean_deid row, its findings, a reject reason or a new image."""

    decision: dict[str, Any]
    findings: list[dict[str, Any]] = field(default_factory=list)
    reject: str | None = None
    image: NormalisedImage | None = None


def detectors(cfg: DeidConfig) -> tuple[FaceDetector | None, WordReader | None]:
    """The profile's face detector and word reader (None: off, or `auto` and not installed); cached."""
    return (
        make_face_detector(cfg.face_detector, cfg.face_min_confidence),
        make_word_reader(cfg.text_reader, cfg.text_min_confidence),
    )


def deid_tools(cfg: DeidConfig) -> tuple[str, ...]:
    """Versioned names of the detectors that would run, for the image units' fingerprint: installing
    Tesseract's model or a new BlazeFace redoes the images checked without it."""
    faces, text = detectors(cfg)
    return tuple(f"{d.name}:{d.version}" for d in (faces, text) if d is not None)


def _pad(x: int, y: int, w: int, h: int, pad: float, width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the box grown by `pad` of its size on each side, clipped to the image."""
    dx, dy = round(w * pad), round(h * pad)
    return max(0, x - dx), max(0, y - dy), min(width, x + w + dx), min(height, y + h + dy)


def _blur(rgb: np.ndarray, box: tuple[int, int, int, int]) -> None:
    import cv2

    x0, y0, x1, y1 = box
    patch = rgb[y0:y1, x0:x1]
    if patch.size == 0:
        return
    h, w = patch.shape[:2]
    small = cv2.resize(
        patch, (max(1, min(w, _BLOCKS)), max(1, min(h, _BLOCKS))), interpolation=cv2.INTER_AREA
    )
    mosaic = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    k = max(3, (min(w, h) // _BLOCKS) | 1)
    rgb[y0:y1, x0:x1] = cv2.GaussianBlur(mosaic, (k, k), 0)


def _face_box(f: FaceBox, cfg: DeidConfig, width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = _pad(f.x, f.y, f.w, f.h, cfg.face_pad, width, height)
    if cfg.face_region == "eyes":  # the band from brow to below the eyes, as BlazeFace boxes place them
        return x0, max(0, f.y + round(0.15 * f.h)), x1, min(height, f.y + round(0.55 * f.h))
    return x0, y0, x1, y1


def _finding(kind: str, box: FaceBox | TextFinding, detector: str, action: str) -> dict[str, Any]:
    labels = ",".join(box.labels) if isinstance(box, TextFinding) else None
    return {
        "kind": kind,
        "x": box.x,
        "y": box.y,
        "w": box.w,
        "h": box.h,
        "confidence": box.confidence,
        "labels": labels,
        "detector": detector,
        "action": action,
    }


def deid_image(path: Location, image_id: str, cfg: DeidConfig, image_cfg: ImageConfig) -> DeidOutcome:
    """Check one stored image; see the module docstring. Raises nothing for a readable image; the caller's
    unit turns a decode error into a reject like any other."""
    face_det, reader = detectors(cfg)
    with storage.open_file(path) as fh, Image.open(fh) as img:
        rgb = np.array(img.convert("RGB"))
    height, width = rgb.shape[:2]
    faces = face_det.detect(rgb) if face_det is not None else []
    lines = find_personal_lines(reader.read(rgb)) if reader is not None else []
    face_name = f"{face_det.name}:{face_det.version}" if face_det is not None else None
    text_name = f"{reader.name}:{reader.version}" if reader is not None else None

    reject, detail = None, []
    boxes = [_face_box(f, cfg, width, height) for f in faces]
    covered = np.zeros((height, width), dtype=bool)
    for x0, y0, x1, y1 in boxes:
        covered[y0:y1, x0:x1] = True
    face_fraction = float(covered.mean()) if faces else 0.0
    if faces and cfg.faces == "reject":
        reject = DEID_FACE
    elif faces and cfg.faces == "blur" and face_fraction > cfg.face_max_blur_fraction:
        reject = DEID_FACE_CLOSEUP
    if lines and cfg.burned_in_text == "reject":
        reject = reject or DEID_TEXT
    if faces:
        detail.append(f"faces cover {face_fraction:.2f} of the image (region {cfg.face_region})")
    if lines:
        detail.append("text " + "; ".join(",".join(t.labels) for t in lines))

    face_action = (
        "rejected" if reject else {"blur": "blurred", "keep": "kept", "reject": "rejected"}[cfg.faces]
    )
    text_action = (
        "rejected" if reject else {"mask": "masked", "keep": "kept", "reject": "rejected"}[cfg.burned_in_text]
    )
    findings = [_finding("face", f, face_name or "", face_action) for f in faces]
    findings += [_finding("text", t, text_name or "", text_action) for t in lines]
    for k, row in enumerate(findings):
        row["finding_index"] = k
        row["image_id"] = image_id

    out: NormalisedImage | None = None
    changed = []
    if reject is None:
        edited = rgb.copy()
        if faces and cfg.faces == "blur":
            for box in boxes:
                _blur(edited, box)
            changed.append("blurred")
        if lines and cfg.burned_in_text == "mask":
            for t in lines:
                x0, y0, x1, y1 = _pad(t.x, t.y, t.w, t.h, 0.0, width, height)
                m = max(2, round(0.2 * t.h))
                edited[max(0, y0 - m) : min(height, y1 + m), max(0, x0 - m) : min(width, x1 + m)] = 0
            changed.append("masked")
        if changed:
            out = normalise_image(edited, image_cfg)
    if reject:
        action = "rejected"
    elif changed:
        action = "+".join(changed)
    elif faces or lines:
        action = "kept"
    elif face_det is None or reader is None:
        action = "unchecked"  # a detector the profile asked for with `auto` is not installed
    else:
        action = "clean"
    decision = {
        "image_id": image_id,
        "action": action,
        "reason": reject,
        "out_image_id": out.sha256 if out is not None else None,
        "n_faces": len(faces),
        "n_text_lines": len(lines),
        "face_policy": cfg.faces,
        "text_policy": cfg.burned_in_text,
        "face_detector": face_name,
        "text_reader": text_name,
        "detail": "; ".join(detail)[:500] or None,
    }
    return DeidOutcome(decision, findings, reject, out)
