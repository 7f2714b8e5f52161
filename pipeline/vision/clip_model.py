"""open_clip plumbing: import (behind the torchvision shim), the project's model configs, model creation.

Why a capability of its own: the trainer and evaluation (pipeline/train) and the CLIP zero-shot image
classifier (image_type_backends) all build models here, including the seeded random init that makes the
"untrained" baseline equal to the exact starting point of training.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from pipeline.vision.tvshim import ensure_torchvision

__all__ = ["CONFIG_DIR", "create_model", "image_size", "open_clip_module", "param_groups", "pretrained_tags"]

CONFIG_DIR = Path(__file__).with_name("model_configs")
_REGISTERED = False


def open_clip_module() -> ModuleType:
    """Import open_clip (shimming torchvision first) and register our model configs once."""
    global _REGISTERED
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here needs the hub; fail fast instead of hanging
    ensure_torchvision()
    import open_clip

    if not _REGISTERED:
        open_clip.add_model_config(CONFIG_DIR)
        _REGISTERED = True
    return open_clip


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, object]]:
    """open_clip's recipe: no weight decay on 1-d params (gains, biases), norms and logit_scale."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        exclude = p.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name
        (no_decay if exclude else decay).append(p)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]


def create_model(model: str, checkpoint: Path | str | None, seed: int) -> tuple[Any, Any, Any, Any]:
    """(model, train transform, eval transform, tokenizer). Random init is seeded, so checkpoint=None
    with the training seed reproduces exactly the initial weights the trainer started from.

    `checkpoint` is a weights file, or one of open_clip's pretrained tags for `model` ("openai" for
    ViT-B-16): downloaded to the Hugging Face cache the first time, which needs HF_HUB_OFFLINE=0 (this
    module sets it to 1 unless told), and read from that cache afterwards, offline.
    """
    oc = open_clip_module()
    pretrained = None if checkpoint is None else str(checkpoint)
    if pretrained is not None and not Path(pretrained).is_file() and pretrained not in pretrained_tags(model):
        # open_clip would treat a missing path as an unknown hub tag and try the network
        raise FileNotFoundError(f"checkpoint not found: {checkpoint} (neither a file nor a pretrained tag "
                                f"of {model}: {', '.join(pretrained_tags(model)) or 'none'})")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net, pre_train, pre_val = oc.create_model_and_transforms(
            model, pretrained=pretrained, output_dict=True
        )
    return net, pre_train, pre_val, oc.get_tokenizer(model)


def pretrained_tags(model: str) -> list[str]:
    """open_clip's pretrained tags for a model name ("openai", "laion2b_s34b_b88k", ...); none for ours."""
    return list(open_clip_module().list_pretrained_tags_by_model(model))


def image_size(net: Any) -> int | None:
    """Model input side in pixels (for JPEG draft decoding), or None when unknown."""
    size = getattr(getattr(net, "visual", None), "image_size", None)
    return int(size[0] if isinstance(size, tuple | list) else size) if size else None
