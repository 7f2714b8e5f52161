"""The image-type classifier a profile names: the heuristic, or a torch backend (imported only when chosen).

Kept apart from `image_type` (protocol and heuristic) so the torch backends can import the shared types
without an import cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.hashing import fingerprint
from pipeline.vision.image_type import (
    HEURISTIC_VERSION,
    HeuristicClassifier,
    ImageTypeClassifier,
    ImageTypeResult,
)

if TYPE_CHECKING:
    from pipeline.config import ImageTypeConfig


def classifier_device(cfg: ImageTypeConfig) -> str:
    """Where the profile's classifier runs: the heuristic on the CPU, the torch backends per `device`."""
    from pipeline.devices import resolve_device

    if cfg.backend == "heuristic" and not uses_gate(cfg):
        return "cpu"
    return resolve_device(cfg.device, "the image-type classifier")


def uses_gate(cfg: ImageTypeConfig) -> bool:
    """Whether the heuristic runs with the ImageNet veto: `object_gate` on, or auto with the extra installed."""
    if cfg.backend != "heuristic" or cfg.object_gate == "off":
        return False
    from pipeline.vision.imagenet_gate import gate_available

    if cfg.object_gate == "on" and not gate_available():
        raise ValueError("image_type.object_gate: on needs the imagenet extra "
                         "(pip install 'derm1m-pipeline[imagenet]')")
    return cfg.object_gate == "on" or gate_available()


def classifier_version(cfg: ImageTypeConfig) -> str:
    """The code behind the profile's classifier: the heuristic's version, and the gate's when it runs."""
    if cfg.backend != "heuristic":
        return cfg.backend
    if uses_gate(cfg):
        from pipeline.vision.imagenet_gate import GATE_VERSION

        return f"{HEURISTIC_VERSION}+{GATE_VERSION}"
    return HEURISTIC_VERSION


def make_classifier(cfg: ImageTypeConfig) -> ImageTypeClassifier:
    """The backend the profile names; the heavy ones import torch only when chosen."""
    if cfg.backend == "heuristic":
        heuristic = HeuristicClassifier(skin_min=cfg.skin_score_min)
        if not uses_gate(cfg):
            return heuristic
        from pipeline.vision.imagenet_gate import GatedClassifier, ImageNetGate

        return GatedClassifier(heuristic, ImageNetGate(cfg.object_gate_min_mass, classifier_device(cfg)))
    from pipeline.vision import image_type_backends as backends

    device = classifier_device(cfg)
    if cfg.backend == "densenet":
        if cfg.model_path is None:
            raise ValueError("image_type.backend densenet needs model_path "
                             "(a train-image-classifier checkpoint)")
        return backends.DenseNetClassifier.load(cfg.model_path, device)
    return backends.ClipZeroShotClassifier(cfg.clip_model, cfg.model_path, prompts=cfg.prompts or None,
                                           device=device)


def classifier_key(cfg: ImageTypeConfig) -> str:
    """What makes two classifications of one image the same: every setting but the kept types (a decision,
    not a classification) and the on/off switch, plus the classifier's code version (a new heuristic or
    the gate appearing classifies again). Keys `vision_image_types`."""
    from pipeline.config import output_settings

    return fingerprint(output_settings(cfg.model_copy(update={"keep": [], "enabled": True})),
                       classifier_version(cfg))


def type_row(image_id: str, key: str, result: ImageTypeResult, stage: str) -> dict[str, object]:
    """A `vision_image_types` row: one classification of one stored image."""
    return {"image_id": image_id, "classifier": key, "image_type": result.image_type,
            "confidence": result.confidence, "skin_score": result.skin_score, "backend": result.backend,
            "classified_by": stage}


def known_result(row: dict[str, object]) -> ImageTypeResult:
    """A classification read back from `vision_image_types`."""
    return ImageTypeResult(str(row["image_type"]), float(row["confidence"] or 0.0),  # type: ignore[arg-type]
                           float(row["skin_score"] or 0.0), str(row["backend"]))  # type: ignore[arg-type]
