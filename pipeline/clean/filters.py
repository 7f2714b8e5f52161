"""Image filters: score first, then decide, and say why an image was dropped.

Scores are stored on every image (`clean_images`), thresholds live in CleanConfig, and the decision is a
reason code that becomes a `rejects` row, as in datatrove and NeMo Curator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import imagehash
import numpy as np
from PIL import Image

from pipeline import storage
from pipeline.config import CleanConfig
from pipeline.storage import Location

if TYPE_CHECKING:
    from pipeline.vision.image_type import ImageTypeClassifier, ImageTypeResult

TOO_SMALL = "too_small"
LOW_SKIN_SCORE = "low_skin_score"
NEAR_DUPLICATE = "near_duplicate"


@dataclass(frozen=True)
class ImageScores:
    width: int
    height: int
    phash: str
    skin_score: float
    image_type: str | None = None  # set when an image-type classifier ran (pipeline.vision.image_type)
    type_confidence: float | None = None
    type_backend: str | None = None
    result: ImageTypeResult | None = None  # the classifier's result, when it ran here


def image_type_reason(image_type: str) -> str:
    """Reject reason for an image of a type the profile does not keep: image_type_chart_or_diagram, ..."""
    return f"image_type_{image_type}"


def skin_score(img: Image.Image, side: int = 96) -> float:
    """Fraction of pixels inside the YCrCb skin-colour box of Chai & Ngan (1999): Cr 133-173, Cb 77-127.

    A deliberately simple baseline: it separates photographs of skin from charts, slides and diagrams well
    enough to rank them, and the image-type classifier (issue #5) replaces it behind the same column.
    """
    small = img.convert("RGB").resize((side, side), Image.Resampling.BILINEAR)
    ycc = np.asarray(small.convert("YCbCr"), dtype=np.int16)
    cb, cr = ycc[..., 1], ycc[..., 2]
    mask = (cr >= 133) & (cr <= 173) & (cb >= 77) & (cb <= 127)
    return round(float(mask.mean()), 4)


def score_image(path: Location, classifier: ImageTypeClassifier | None = None,
                known: ImageTypeResult | None = None) -> ImageScores:
    """Size, perceptual hash and skin score; with a classifier (or a classification `known` from before),
    its type and skin score replace the baseline. `path` is a stored image: a local path or a media-store
    URL (pipeline.storage)."""
    with storage.open_file(path) as fh, Image.open(fh) as img:
        img.load()
        phash = str(imagehash.phash(img))
        if known is not None:
            return ImageScores(img.width, img.height, phash, known.skin_score, known.image_type, known.confidence,
                               known.backend)
        if classifier is None:
            return ImageScores(img.width, img.height, phash, skin_score(img))
        t = classifier.classify([img])[0]
        return ImageScores(img.width, img.height, phash, t.skin_score, t.image_type, t.confidence, t.backend, t)


def decide(scores: ImageScores, cfg: CleanConfig, keep: Sequence[str]) -> str | None:
    """None to keep (pending dedup), else the reason code for dropping; `keep`: the image types kept."""
    if min(scores.width, scores.height) < cfg.min_side_px:
        return TOO_SMALL
    if scores.image_type is not None and scores.image_type not in keep:
        return image_type_reason(scores.image_type)
    if scores.skin_score < cfg.skin_score_min:
        return LOW_SKIN_SCORE
    return None
