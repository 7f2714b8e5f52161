"""Which device model work runs on: ``auto`` is CUDA when torch sees a GPU, else the CPU.

Why one resolver in the core: ASR, the image-type models and the trainer each take a ``device:`` setting
and must agree on what ``auto`` means, and the stage driver reports the device a stage used in
``stage_runs.device``. torch is imported only when a setting asks for it, so a profile that never loads a
model never imports torch; without torch there is no CUDA.
"""

from __future__ import annotations

import os
import sys
from typing import Literal

__all__ = ["CudaUnavailable", "Device", "DeviceSetting", "cuda_available", "resolve_device"]

DeviceSetting = Literal["auto", "cpu", "cuda"]
Device = Literal["cpu", "cuda"]


class CudaUnavailable(RuntimeError):
    """``device: cuda`` was asked for on a machine where torch sees no CUDA GPU."""


# what a Linux GPU torch could use: the NVIDIA driver's nodes, WSL's GPU bridge, ROCm's kernel driver
_GPU_NODES = ("/dev/nvidiactl", "/proc/driver/nvidia", "/dev/dxg", "/dev/kfd")


def cuda_available() -> bool:
    """torch.cuda.is_available(), or False when torch is not installed.

    On Linux without any GPU driver node the answer is False without importing torch (about 2 s): the
    fingerprints of a no-op rerun resolve `device: auto` and would otherwise pay that on every build. Once
    torch is imported it is asked directly."""
    if sys.platform == "linux" and "torch" not in sys.modules and not any(map(os.path.exists, _GPU_NODES)):
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_device(requested: str = "auto", what: str = "work") -> Device:
    """``cpu`` or ``cuda`` for a ``device:`` setting; ``cuda`` without a GPU raises CudaUnavailable (one line).

    A machine without CUDA is a normal case for ``auto`` (it means the CPU), never for ``cuda``: silently
    running a GPU-sized job on the CPU would take days instead of failing in a second.
    """
    if requested == "cpu":
        return "cpu"
    if requested not in ("auto", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {requested!r}")
    if cuda_available():
        return "cuda"
    if requested == "cuda":
        raise CudaUnavailable(f"device 'cuda' requested for {what} but torch sees no CUDA GPU "
                              "(torch.cuda.is_available() is False); use a GPU machine with a CUDA build of "
                              "torch, or device: auto / cpu")
    return "cpu"
