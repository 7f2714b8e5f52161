"""What happens to keyframes after they are decoded: type filter, repeated-slide collapse, perceptual hash.

Lecturers go back to a slide (the outline, a key photo) several times; Derm1M collapses such repeats by
clustering frame embeddings ("K-means denoising") and keeps one representative. The embedding here is
a 32x18 grey thumbnail normalised for brightness/contrast (cheap, and repeats of a slide are
near-identical after re-encoding: 95th-percentile |delta| about 1-2 against 19+ for sibling slides), clustered greedily: frames in decreasing sharpness, each joins the
first cluster whose representative is within the distance threshold, so every cluster's representative
is its sharpest frame. The image-type classifier belongs to another issue; `FrameClassifier` is the
interface it will fill, and the default keeps every frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np


class FrameClassifier(Protocol):
    def classify(self, image: np.ndarray) -> tuple[str, float]:
        """(image_type, skin_score) of an RGB uint8 image, e.g. ("clinical", 0.93)."""
        ...


class KeepEveryFrame:
    """The classifier until issue #5 lands: no type is known, so nothing is dropped."""

    def classify(self, image: np.ndarray) -> tuple[str, float]:
        return "unknown", 1.0


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
