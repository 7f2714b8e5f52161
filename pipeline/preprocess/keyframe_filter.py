"""What happens to keyframes after they are decoded: type filter, photo crops, repeated-slide collapse, pHash.

Derm1M keeps the frames of a lecture that show skin. Every keyframe goes through the same image-type
classifier the clean stage uses for all sources (pipeline.vision.image_type, `image_type` in the
profile): a frame whose type is kept (clinical photo, dermoscopy, histopathology) is kept whole; any other
frame (a slide, a chart, a talking head) is cut at its gutters by the compound-figure panel detector
(pipeline.preprocess.subfigures) and each large piece that classifies as skin is kept as a crop, which is
how lesion photos placed on slides survive while the slide text goes. A frame with no kept view is a
`keyframe_<type>` reject.

Lecturers go back to a slide (the outline, a key photo) several times; Derm1M collapses such repeats by
clustering frame embeddings ("K-means denoising") and keeps one representative. The embedding here is
a 32x18 grey thumbnail normalised for brightness/contrast (cheap, and repeats of a slide are
near-identical after re-encoding: 95th-percentile |delta| about 1-2 against 19+ for sibling slides), clustered greedily: frames in decreasing sharpness, each joins the
first cluster whose representative is within the distance threshold, so every cluster's representative
is its sharpest frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

if TYPE_CHECKING:
    from pipeline.config import RunConfig
    from pipeline.preprocess.subfigures import PanelDetector
    from pipeline.vision.image_type import ImageTypeClassifier, ImageTypeResult


Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class FrameView:
    """One picture kept from a keyframe: the whole frame (crop None) or a photo cut out of it."""

    rgb: np.ndarray
    image_type: str
    skin_score: float
    crop: Box | None = None
    result: ImageTypeResult | None = None  # the classifier's whole result, kept so nothing classifies it again


class FrameFilter(Protocol):
    def views(self, rgb: np.ndarray) -> tuple[str, float, list[FrameView]]:
        """(whole-frame type, whole-frame skin score, kept views) of an RGB uint8 keyframe."""
        ...


class KeepEveryFrame:
    """No filtering (`preprocess.video.frame_filter: none`): the whole frame, type unknown."""

    def views(self, rgb: np.ndarray) -> tuple[str, float, list[FrameView]]:
        return "unknown", 1.0, [FrameView(rgb, "unknown", 1.0)]


class ImageTypeFrameFilter:
    """Keep frames of a kept type whole; cut photos of a kept type out of the others.

    min_area_frac: a crop must cover this share of the frame (logos and icons do not); a crop covering
    nearly all of it is the frame again and is not re-tried.
    """

    def __init__(self, classifier: ImageTypeClassifier, keep: Iterable[str], detector: PanelDetector | None,
                 min_side: int = 64, min_area_frac: float = 0.04) -> None:
        self.classifier, self.keep, self.detector = classifier, frozenset(keep), detector
        self.min_side, self.min_area_frac = min_side, min_area_frac

    def views(self, rgb: np.ndarray) -> tuple[str, float, list[FrameView]]:
        from PIL import Image

        whole = self.classifier.classify([Image.fromarray(rgb)])[0]
        if whole.image_type in self.keep:
            return whole.image_type, whole.skin_score, [FrameView(rgb, whole.image_type, whole.skin_score, None, whole)]
        if self.detector is None:
            return whole.image_type, whole.skin_score, []
        h, w = rgb.shape[:2]
        boxes = []
        for panel in self.detector.detect(rgb):
            x0, y0, x1, y1 = panel.bbox
            area = (x1 - x0) * (y1 - y0) / float(h * w)
            if min(x1 - x0, y1 - y0) >= self.min_side and self.min_area_frac <= area < 0.9:
                boxes.append(panel.bbox)
        crops = [np.ascontiguousarray(rgb[y0:y1, x0:x1]) for x0, y0, x1, y1 in boxes]
        results = self.classifier.classify([Image.fromarray(c) for c in crops]) if crops else []
        kept = [FrameView(c, r.image_type, r.skin_score, b, r)
                for c, r, b in zip(crops, results, boxes, strict=True) if r.image_type in self.keep]
        return whole.image_type, whole.skin_score, kept


@dataclass
class FrameGroup:
    """One kept keyframe and the positions (in the input list) of the repeats it stands for."""

    representative: int
    members: list[int] = field(default_factory=list)


def frame_embedding(rgb: np.ndarray) -> np.ndarray:
    """32x18 grey thumbnail scaled to zero mean / unit spread, flattened (float32, 576 values)."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    thumb = cv2.resize(grey, (32, 18), interpolation=cv2.INTER_AREA).astype(np.float32).reshape(-1)
    return (thumb - thumb.mean()) / (thumb.std() + 8.0) * 32.0


def cluster_repeats(images: list[np.ndarray], sharpness: list[float], max_distance: float) -> list[FrameGroup]:
    """Greedy leader clustering; groups ordered by first appearance.

    The distance is the 95th percentile of |delta| between embeddings, not the mean: two slides of one
    template differ only where the text is (a tenth of the frame), which a mean dilutes below the
    re-encoding noise of a true repeat plus a moving pointer, and a high percentile does not.
    """
    embeddings = [frame_embedding(img) for img in images]
    order = sorted(range(len(images)), key=lambda i: (-sharpness[i], i))
    groups: list[FrameGroup] = []
    for i in order:
        for group in groups:
            delta = np.abs(embeddings[i] - embeddings[group.representative])
            if float(np.percentile(delta, 95)) <= max_distance:
                group.members.append(i)
                break
        else:
            groups.append(FrameGroup(i, [i]))
    for group in groups:
        group.members.sort()
    return sorted(groups, key=lambda g: g.members[0])


def perceptual_hash(rgb: np.ndarray) -> str:
    """64-bit pHash (imagehash) as 16 hex digits: finds the same frame in another download of the video."""
    import imagehash
    from PIL import Image

    return str(imagehash.phash(Image.fromarray(rgb)))


def make_frame_filter(cfg: RunConfig) -> FrameFilter:
    """The profile's keyframe filter: image_type's backend and kept types, the subfigure detector."""
    video, types = cfg.preprocess.video, cfg.image_type
    if video.frame_filter == "none" or not types.enabled:
        return KeepEveryFrame()
    from pipeline.preprocess.subfigures import make_detector
    from pipeline.vision.classifier import make_classifier

    # A slide's title bar is a short band; at the figure default (15 % of the side) it would be merged
    # into the content below it and hide the gutter between text and photo.
    options = {"min_panel_frac": 0.08} if cfg.preprocess.subfigures.detector == "gutter_xycut" else {}
    detector = make_detector(cfg.preprocess.subfigures.detector, **options) if video.crop_photos else None
    return ImageTypeFrameFilter(make_classifier(types), types.keep, detector,
                                min_side=cfg.preprocess.subfigures.min_panel_side_px)
