"""The image-type classifier a profile names: the heuristic, or a torch backend (imported only when chosen).

Kept apart from `image_type` (protocol and heuristic) so the torch backends can import the shared types
without an import cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.vision.image_type import HeuristicClassifier, ImageTypeClassifier

if TYPE_CHECKING:
    from pipeline.config import ImageTypeConfig


def make_classifier(cfg: ImageTypeConfig) -> ImageTypeClassifier:
    """The backend the profile names; the heavy ones import torch only when chosen."""
    if cfg.backend == "heuristic":
        return HeuristicClassifier(skin_min=cfg.skin_score_min)
    from pipeline.vision import image_type_backends as backends

    if cfg.backend == "densenet":
        if cfg.model_path is None:
            raise ValueError("image_type.backend densenet needs model_path "
                             "(a train-image-classifier checkpoint)")
        return backends.DenseNetClassifier.load(cfg.model_path)
    return backends.ClipZeroShotClassifier(cfg.clip_model, cfg.model_path, prompts=cfg.prompts or None)
