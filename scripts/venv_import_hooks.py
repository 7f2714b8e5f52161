"""Import hooks that every interpreter of the project's venv loads (installed by scripts/install_tv_shim.py as
``_derm1m_import_hooks.py`` next to a ``derm1m-import-hooks.pth`` in site-packages; `make install` runs it).

Why: PyPI's torchvision wheel is a CUDA build; next to the venv's CPU torch ``import torchvision`` fails
(``operator torchvision::nms does not exist``), and with it ``import open_clip`` and open_clip's own
training command, ``python -m open_clip_train.main``. The pipeline calls its shim
(pipeline/vision/tvshim.py) before importing them; a user's script or open_clip's CLI does not. So this
module puts a finder first on ``sys.meta_path`` that, for a few module names only, runs a step around the
module's own import:

- ``torchvision``: before its ``__init__``, the shim's ops (``tvshim.shim_ops``: torchvision's native library
  when it loads, else a CPU nms); after, ``torchvision.extension._has_ops`` reports them.
- ``open_clip_train.data``: open_clip_train 3.3.0 groups tar members with its own ``group_by_keys_nothrow``,
  which fails with ``KeyError: 'fname'`` on the end-of-shard marker ``{}`` that webdataset >= 0.2.96 yields
  (webdataset/webdataset#384, mlfoundations/open_clip#935). When a probe shows that failure, its
  ``tarfile_to_samples_nothrow`` is replaced by the same three steps with ``eof_value=None``, the fix the
  maintainers named.

Cheap at start-up: nothing is imported until one of those names is; every other import goes past in one
dict look-up (the finder and loader are plain classes, so not even importlib.abc is
imported). A failing step never makes an import fail that would have worked without it (the error is
reported as a warning). ``DERM1M_NO_IMPORT_HOOKS=1`` turns it off.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: this module runs at every start-up and imports nothing
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from importlib.abc import Loader
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any


def _torchvision_before() -> Any:
    from pipeline.vision import tvshim

    return tvshim.shim_ops()


def _torchvision_after(module: ModuleType, shimmed: Any) -> None:
    if shimmed:
        # torchvision's own _load_library failed, so it reports no ops; the shim's are there now.
        sys.modules["torchvision.extension"]._has_ops = lambda: True  # type: ignore[attr-defined]


def _eof_marker_breaks(data: ModuleType) -> bool:
    """Whether this open_clip_train's grouping fails on webdataset's end-of-shard marker."""
    try:
        list(data.group_by_keys_nothrow(iter([{}])))
    except KeyError:
        return True
    return False


def _open_clip_train_data_after(data: ModuleType, _: Any) -> None:
    import inspect

    from webdataset import tariterators

    expander = tariterators.tar_file_expander
    if "eof_value" not in inspect.signature(expander).parameters or not _eof_marker_breaks(data):
        return

    def tarfile_to_samples_nothrow(
        src: Any, handler: Callable[[Exception], bool] = data.log_and_continue
    ) -> Any:
        streams = tariterators.url_opener(src, handler=handler)
        files = expander(streams, handler=handler, eof_value=None)
        return data.group_by_keys_nothrow(files, handler=handler)

    data.tarfile_to_samples_nothrow = tarfile_to_samples_nothrow  # type: ignore[attr-defined]


# module name -> (step before its code runs, step after with the first step's result)
HOOKS: dict[str, tuple[Callable[[], Any] | None, Callable[[ModuleType, Any], None]]] = {
    "torchvision": (_torchvision_before, _torchvision_after),
    "open_clip_train.data": (None, _open_clip_train_data_after),
}


def _warn(name: str, exc: BaseException) -> None:
    import warnings

    warnings.warn(f"derm1m import hook for {name} failed ({exc!r}); importing it unchanged", stacklevel=3)


class _HookedLoader:
    """The module's own loader, with the hook's steps around ``exec_module``; anything else is the inner
    loader's (resource readers, ``get_code``, ...)."""

    def __init__(self, inner: Loader, name: str) -> None:
        self._inner = inner
        self._name = name

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        before, after = HOOKS[self._name]
        state = None
        if before is not None:
            try:
                state = before()
            except Exception as exc:  # the import goes on as it would have without the hook
                _warn(self._name, exc)
        self._inner.exec_module(module)
        try:
            after(module, state)
        except Exception as exc:
            _warn(self._name, exc)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._inner, attr)


class HookFinder:
    """Finds nothing itself: asks the finders after it and wraps the loader of a hooked module."""

    derm1m_import_hooks = True  # a marker other copies of this module recognise (not the class: it differs)

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name not in HOOKS:
            return None
        for finder in sys.meta_path:
            if getattr(finder, "derm1m_import_hooks", False) or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _HookedLoader(spec.loader, name)  # type: ignore[assignment]
                return spec
        return None


def install() -> None:
    """Put the finder first on sys.meta_path (once per interpreter)."""
    if os.environ.get("DERM1M_NO_IMPORT_HOOKS") or any(
        getattr(f, "derm1m_import_hooks", False) for f in sys.meta_path
    ):
        return
    sys.meta_path.insert(0, HookFinder())


install()
