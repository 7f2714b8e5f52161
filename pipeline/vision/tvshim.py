"""Make ``torchvision`` importable next to a CPU-only torch, without harming a working install.

Why this exists: PyPI only ships CUDA builds of torchvision for linux x86_64. Installed next to
``torch==2.13.0+cpu`` its native ``_C.so`` cannot load (it links ``libtorch_cuda.so``), and ``import
torchvision`` then dies in ``_meta_registrations`` with ``operator torchvision::nms does not exist``.
open_clip imports torchvision for its transforms, so the training stage needs a way around that.

What it does (see /work/shared/notes/env.md §1): it first tries to load torchvision's own native ops
library, located with ``importlib`` *without importing torchvision*. If that works (a real CPU or CUDA
install), nothing is changed. Only when it fails are the ``torchvision::nms`` / ``torchvision::qnms``
schemas defined with ``torch.library`` and a pure-torch CPU greedy NMS registered, and after import
``torchvision.extension._has_ops`` is patched so ``torchvision.ops.nms`` uses that kernel.
Everything else open_clip needs (transforms, PIL-based preprocessing) is pure Python.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import threading

import torch

__all__ = ["ensure_torchvision", "is_shimmed", "shim_ops"]

_LOCK = threading.RLock()  # re-entered: importing torchvision under it runs the venv hook's shim_ops
_DONE = False
_SHIMMED = False
# Keeps the op definitions registered: dropping the Library object would unregister them.
_LIB: torch.library.Library | None = None


def _nms_cpu(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy NMS with torchvision's semantics: keep boxes by descending score, drop IoU > threshold.

    Boxes are (x1, y1, x2, y2). Returns int64 indices of kept boxes, highest score first. O(n^2) but
    only used for the occasional caller on a CPU-only machine; training never calls it.
    """
    if dets.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=dets.device)
    boxes = dets.to(torch.float64)
    x1, y1, x2, y2 = boxes.unbind(1)
    areas = (x2 - x1) * (y2 - y1)
    order = torch.sort(scores, descending=True, stable=True).indices
    suppressed = torch.zeros(boxes.shape[0], dtype=torch.bool, device=dets.device)
    keep: list[int] = []
    for idx in order.tolist():
        if suppressed[idx]:
            continue
        keep.append(idx)
        w = (torch.minimum(x2[idx], x2) - torch.maximum(x1[idx], x1)).clamp(min=0)
        h = (torch.minimum(y2[idx], y2) - torch.maximum(y1[idx], y1)).clamp(min=0)
        inter = w * h
        iou = inter / (areas[idx] + areas - inter)
        suppressed |= iou > iou_threshold
    return torch.tensor(keep, dtype=torch.long, device=dets.device)


def _has_nms_op() -> bool:
    """True when some library (torchvision's own or an earlier shim) already defined ``torchvision::nms``."""
    return hasattr(torch.ops.torchvision, "nms")


def _native_ops_load() -> bool:
    """Try to load torchvision's native ``_C`` library without importing the torchvision package.

    ``find_spec("torchvision")`` on a top-level package only locates it; it does not execute its
    ``__init__``. Loading a CUDA-linked ``_C.so`` against CPU torch raises OSError (missing libs).
    """
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False
    loader = (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES)
    for location in spec.submodule_search_locations:
        ext = importlib.machinery.FileFinder(location, loader).find_spec("_C")
        if ext is None or not ext.origin:
            continue
        try:
            torch.ops.load_library(ext.origin)
        except (OSError, ImportError, RuntimeError):
            return False
        return _has_nms_op()
    return False


def _define_ops() -> None:
    """Define the op schemas torchvision's import-time fake registrations need, plus a CPU nms kernel."""
    global _LIB
    if _has_nms_op():  # another shim in this process got there first: reuse its definitions
        return
    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.impl("nms", _nms_cpu, "CPU")
    _LIB = lib


def _shim_ops_locked() -> bool:
    """Load torchvision's native ops, or define ours when they do not load; True when ours are used."""
    global _SHIMMED
    if not _native_ops_load():
        _define_ops()
        _SHIMMED = True
    return _SHIMMED


def shim_ops() -> bool:
    """The op half of `ensure_torchvision`, for code that imports torchvision itself right after: the venv's
    import hook (scripts/venv_import_hooks.py) runs it just before torchvision's ``__init__``, where calling
    `ensure_torchvision` would recurse into the import under way. True when the shim's ops are in use (the
    caller then patches ``torchvision.extension._has_ops`` once the package is imported)."""
    with _LOCK:
        return _shim_ops_locked()


def ensure_torchvision() -> None:
    """Make ``import torchvision`` / ``import open_clip`` work; idempotent and thread-safe.

    Call before the first import of torchvision or open_clip. A no-op when torchvision is absent (the
    ImportError then surfaces at the real import, with its usual message) or already working.
    """
    global _DONE
    with _LOCK:
        if _DONE:
            return
        if "torchvision" in sys.modules or importlib.util.find_spec("torchvision") is None:
            _DONE = True  # already imported successfully (a failed import leaves no module) or absent
            return
        if _shim_ops_locked():
            import torchvision.extension

            # torchvision's own _load_library failed, so it reports no ops; ours are there now.
            torchvision.extension._has_ops = lambda: True  # type: ignore[attr-defined]
        _DONE = True


def is_shimmed() -> bool:
    """Whether this process runs torchvision on the shim (for logs and reports)."""
    return _SHIMMED
