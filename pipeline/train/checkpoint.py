"""Resumable training checkpoints: model + optimiser + scheduler + step/epoch + every RNG state.

Why the RNG states: a resumed run should continue the loss curve it left, not start a new one; with the
data stream keyed by (seed, epoch, batch) and the RNGs restored, the steps after a resume are the steps
the uninterrupted run would have taken. Files are ``checkpoints/step-NNNNNNNN.pt`` written atomically
(temp file + rename), so a run killed while saving leaves the previous checkpoint intact; ``latest``
resolves to the highest step. The final weights also go to ``checkpoint.pt`` as a plain state_dict, which
``open_clip.create_model_and_transforms(model, pretrained=path)`` loads as is.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["latest_checkpoint", "load_training_state", "prune_checkpoints", "save_atomic", "save_training_state"]


def save_atomic(obj: Any, path: Path) -> None:
    """torch.save to a temp file in the same folder, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(),
                             "torch": torch.get_rng_state()}  # fmt: skip
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_training_state(
    out_dir: Path, model: torch.nn.Module, optimizer: Any, scheduler: Any, step: int, epoch: int,
    meta: dict[str, Any],
) -> Path:  # fmt: skip
    """Write ``checkpoints/step-{step}.pt`` and return its path."""
    path = Path(out_dir) / "checkpoints" / f"step-{step:08d}.pt"
    save_atomic({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "step": step, "epoch": epoch,
                 "rng": _rng_state(), "meta": meta}, path)  # fmt: skip
    return path


def latest_checkpoint(out_dir: Path) -> Path | None:
    """Highest-step checkpoint under ``out_dir/checkpoints``, or None."""
    found = sorted((Path(out_dir) / "checkpoints").glob("step-*.pt"))
    return found[-1] if found else None


def load_training_state(
    path: Path, model: torch.nn.Module, optimizer: Any, scheduler: Any, meta: dict[str, Any]
) -> tuple[int, int]:
    """Restore everything from ``path``; returns (step, epoch). Refuses a checkpoint whose data layout
    (``meta``: steps per epoch, global batch, model) differs, since its step count would mean other data."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    mismatched = {k: (state["meta"].get(k), v) for k, v in meta.items() if state["meta"].get(k) != v}
    if mismatched:
        raise ValueError(f"checkpoint {path} was written for another run layout: {mismatched}")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    _set_rng_state(state["rng"])
    return int(state["step"]), int(state["epoch"])


def prune_checkpoints(out_dir: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` step checkpoints."""
    found = sorted((Path(out_dir) / "checkpoints").glob("step-*.pt"))
    for old in found[:-keep]:
        old.unlink(missing_ok=True)
