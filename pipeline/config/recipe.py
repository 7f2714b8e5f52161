"""The training recipe as data: DermLIP's published hyper-parameters, or a tiny CPU profile.

Why a typed recipe apart from the loop: the recipe is configuration (a run profile's ``train.recipe``,
inline as in configs/sample.yaml or a file it names such as configs/train_dermlip.yaml), the loop is code
(pipeline/train/trainer.py, which the build's train stage and `derm1m train` both run). It lives in the
config layer so that a recipe naming an unknown field or an impossible value fails when the profile
loads, before any export or GPU hour. Settings that change only speed or bookkeeping (loader workers,
threads, checkpoint cadence) are NOT_OUTPUT: changing them retrains nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.config.base import NOT_OUTPUT
from pipeline.errors import ConfigError


class RecipeError(ConfigError):
    """A training recipe that cannot be run as written (a ConfigError: the CLI reports it, no traceback)."""


class Recipe(BaseModel):
    """Every knob of a training run. Defaults are the tiny CPU profile; DermLIP's are in
    configs/train_dermlip.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    model: str = "DermTiny"
    # weights to start from: a local checkpoint file, or a pretrained tag of open_clip's for `model`
    # ("openai": OpenAI's CLIP, downloaded to the Hugging Face cache at first use; needs HF_HUB_OFFLINE=0 once)
    pretrained: str | None = None
    epochs: int = 3
    global_batch_size: int = 16  # images per optimiser step over all ranks
    micro_batch_size: int = 16  # images per forward pass per rank; the rest is gradient caching
    lr: float = 5e-4
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    warmup_steps: int = 0
    grad_clip_norm: float | None = None
    precision: Literal["bf16", "fp32"] = "bf16"  # bf16 autocast applies on CUDA only
    grad_checkpointing: bool = False
    local_loss: bool = True
    gather_with_grad: bool = True
    aug_scale: tuple[float, float] = (0.4, 1.0)
    color_jitter: tuple[float, float, float, float] = (0.32, 0.32, 0.32, 0.08)
    color_jitter_prob: float = 0.8
    gray_scale_prob: float = 0.2
    caption_weights: dict[str, float] = {"refined": 1.0, "ontology": 1.0, "concept": 1.0, "raw": 1.0}
    seed: int = 0
    workers: int = Field(default=0, json_schema_extra=NOT_OUTPUT)
    threads: int = Field(default=2, json_schema_extra=NOT_OUTPUT)
    shuffle_buffer: int = 1000
    save_every_steps: int = Field(default=1000, json_schema_extra=NOT_OUTPUT)
    keep_checkpoints: int = Field(default=2, json_schema_extra=NOT_OUTPUT)
    max_steps: int | None = None  # stop (with a checkpoint) after this many steps in total
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # a GPU-class recipe: never trained on a CPU by accident (the train stage skips or falls back to the
    # tiny recipe, `derm1m train` refuses without --force-cpu); where it runs is not what it trains
    requires_cuda: bool = Field(default=False, json_schema_extra=NOT_OUTPUT)

    @property
    def gpu_class(self) -> bool:
        """Made for CUDA: marked `requires_cuda`, or asking for `device: cuda` outright."""
        return self.requires_cuda or self.device == "cuda"

    @field_validator("epochs", "global_batch_size", "micro_batch_size", "save_every_steps", "keep_checkpoints")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be >= 1")
        return v

    @field_validator("caption_weights")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        if not v or any(w < 0 for w in v.values()) or not any(w > 0 for w in v.values()):
            raise ValueError("caption_weights need a positive weight and none negative")
        return v

    def accum_steps(self, world_size: int) -> int:
        """Micro-batches per optimiser step on each rank; the global batch must split evenly."""
        per_step = self.micro_batch_size * world_size
        if self.global_batch_size % per_step:
            raise RecipeError(
                f"global_batch_size {self.global_batch_size} is not a multiple of micro_batch_size "
                f"{self.micro_batch_size} x {world_size} ranks"
            )
        return self.global_batch_size // per_step


def load_recipe(source: Path | Mapping[str, Any] | None = None, **overrides: Any) -> Recipe:
    """Recipe from a recipe YAML file (its top-level mapping is the recipe) or a mapping, plus overrides.

    None-valued overrides are ignored, so optional command-line flags can be passed straight through.
    """
    raw: dict[str, Any] = {}
    if isinstance(source, Mapping):
        raw = dict(source)
    elif source is not None:
        try:
            loaded = yaml.safe_load(Path(source).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise RecipeError(f"cannot read training recipe {source}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise RecipeError(f"training recipe {source} must be a mapping of Recipe fields")
        raw = loaded
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Recipe(**raw)
    except ValidationError as exc:
        where = "(defaults)" if source is None else "(inline)" if isinstance(source, Mapping) else source
        raise RecipeError(f"invalid training recipe {where}: {exc}") from exc
