"""Where a training recipe runs, and what becomes of a CUDA-only recipe on a machine without CUDA.

Why: DermLIP's recipe (ViT-B/16, 30 epochs, a global batch of 4096) would take weeks on a CPU. A build on a
machine without a GPU must neither start it by accident nor fail over it: the train stage skips it, with a
note in stage_runs, or trains the tiny CPU recipe instead, as the profile's `train.cpu_fallback` says.
`derm1m train` refuses it on the CPU in one line unless forced (`--force-cpu`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.devices import Device, cuda_available
from pipeline.train.recipe import Recipe

__all__ = ["CpuRefused", "Placement", "check_cpu", "place", "tiny_recipe"]

GPU_HINT = "train it on a GPU machine: make train-gpu, or the monthly-train deployment on work pool derm1m-gpu"


class CpuRefused(RuntimeError):
    """A GPU-class recipe asked to train on the CPU without --force-cpu."""


@dataclass(frozen=True)
class Placement:
    """What the train stage does: train `recipe` on `device`, or skip (recipe None); `note` says why."""

    recipe: Recipe | None
    device: Device
    note: str | None = None


def _device(recipe: Recipe) -> Device:
    return "cuda" if recipe.device != "cpu" and cuda_available() else "cpu"


def _why(recipe: Recipe) -> str:
    marker = "requires_cuda: true" if recipe.requires_cuda else "device: cuda"
    where = "asks for the CPU" if recipe.device == "cpu" else "torch sees no CUDA GPU here"
    return f"recipe {recipe.model} ({recipe.epochs} epochs, {marker}) is GPU-class and {where}"


def tiny_recipe(recipe: Recipe) -> Recipe:
    """The CPU stand-in: Recipe's defaults (DermTiny, 64 px, 3 epochs), with the GPU recipe's seed."""
    return Recipe(seed=recipe.seed, device="cpu")


def place(recipe: Recipe, cpu_fallback: str = "skip") -> Placement:
    """The recipe as given where it can run as meant; on the CPU, a GPU-class recipe skips or becomes tiny."""
    device = _device(recipe)
    if device == "cuda" or not recipe.gpu_class:
        return Placement(recipe, device)
    if cpu_fallback == "tiny":
        tiny = tiny_recipe(recipe)
        return Placement(tiny, "cpu", f"{_why(recipe)}: trained the tiny CPU recipe ({tiny.model}) instead "
                                      f"(train.cpu_fallback: tiny); {GPU_HINT}")
    return Placement(None, "cpu", f"training skipped: {_why(recipe)} (train.cpu_fallback: skip); {GPU_HINT}")


def check_cpu(recipe: Recipe, force_cpu: bool = False) -> None:
    """Raise CpuRefused (one line) when a GPU-class recipe would train on the CPU and nobody forced it."""
    if not force_cpu and recipe.gpu_class and _device(recipe) == "cpu":
        raise CpuRefused(f"{_why(recipe)}; pass --force-cpu to train it on the CPU anyway (days, not hours)")
