"""What a training recipe means to the loop: the learning-rate schedule and the augmentation.

The recipe itself is configuration (pipeline/config/recipe.py, validated when the profile loads); this is
the code side. The augmentation is open_clip's own (``AugmentationCfg``: RandomResizedCrop scale,
SimCLR-style colour jitter and grayscale) so the library, not a copy of it, defines what the recipe means.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from pipeline.config.recipe import Recipe, RecipeError, load_recipe

__all__ = ["Recipe", "RecipeError", "load_recipe", "lr_lambda", "train_transform"]


def lr_lambda(warmup_steps: int, total_steps: int) -> Any:
    """open_clip's default schedule as a LambdaLR factor: linear warmup, then cosine decay to zero."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        span = max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup_steps) / span)))

    return factor


def train_transform(recipe: Recipe, image_size: int, mean: Any, std: Any) -> Any:
    """open_clip's training transform configured with the recipe's augmentation."""
    from pipeline.vision.clip_model import open_clip_module

    oc = open_clip_module()
    aug = oc.AugmentationCfg(
        scale=recipe.aug_scale,
        color_jitter=recipe.color_jitter,
        color_jitter_prob=recipe.color_jitter_prob,
        gray_scale_prob=recipe.gray_scale_prob,
    )
    with warnings.catch_warnings():  # open_clip warns that the jitter keys are "unused", then applies them
        warnings.filterwarnings("ignore", message="Unused augmentation cfg items")
        return oc.image_transform(image_size, is_train=True, mean=mean, std=std, aug_cfg=aug)
