"""Where Tesseract's English model is, and whether Tesseract can run at all: one answer for every reader
(panel letters, burned-in text, scanned PDF pages), so installing the model turns them all on together and
their fingerprints change together."""

from __future__ import annotations

import os
import sys
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

_TESSDATA = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)


def tessdata_dir() -> Path | None:
    """The folder holding eng.traineddata: TESSDATA_PREFIX, the Debian/source folders, the venv's share/
    (where `make ocr` puts it without root)."""
    for d in [os.environ.get("TESSDATA_PREFIX", ""), *_TESSDATA, str(Path(sys.prefix) / "share" / "tessdata")]:
        if d and (Path(d) / "eng.traineddata").exists():
            return Path(d)
    return None


def tesseract_available() -> bool:
    try:
        import tesserocr  # noqa: F401
    except ImportError:
        return False
    return tessdata_dir() is not None


@lru_cache(maxsize=1)
def quiet_leptonica() -> bool:
    """Leptonica, under Tesseract, prints its internal complaints to stderr ("Error in boxClipToRectangle:
    box outside rectangle", a dozen lines per sample build from the sparse-text reader) although the read
    goes on and its result is used; in a build's output they read as failures. Its message level is a
    global of the library tesserocr loaded, set here to none. False when that library is not found (a
    tesserocr built against another one): the messages then stay."""
    import ctypes
    import ctypes.util

    try:
        import tesserocr
    except ImportError:
        return False
    bundled = Path(tesserocr.__file__).resolve().parents[1] / "tesserocr.libs"
    paths = sorted(bundled.glob("libleptonica*.so*")) + sorted(bundled.glob("liblept*.so*"))
    found = str(paths[0]) if paths else ctypes.util.find_library("leptonica") or ctypes.util.find_library("lept")
    if not found:
        return False
    try:
        ctypes.CDLL(found).setMsgSeverity(_L_SEVERITY_NONE)
    except (OSError, AttributeError):
        return False
    return True


_L_SEVERITY_NONE = 6  # leptonica's environ.h: EXTERNAL 0, ALL 1, DEBUG 2, INFO 3, WARNING 4, ERROR 5, NONE 6


def model_version() -> str:
    """Tesseract's version and a hash of the English model, for the fingerprints of what a reader wrote."""
    import hashlib

    import tesserocr

    digest = hashlib.sha256((tessdata_dir() / "eng.traineddata").read_bytes()).hexdigest()[:12]  # type: ignore[operator]
    return f"tesseract-{tesserocr.tesseract_version().split()[1]}+eng:{digest}"


class ThreadApis:
    """One Tesseract API handle per thread (a handle is not thread-safe; making one costs ~50 ms), in a
    page-segmentation mode (tesserocr.PSM name) with the given variables, leptonica quietened first."""

    def __init__(self, psm: str, variables: dict[str, str] | None = None) -> None:
        self.psm, self.variables = psm, variables or {}
        self._local = threading.local()

    def get(self) -> Any:
        api = getattr(self._local, "api", None)
        if api is None:
            from tesserocr import PSM, PyTessBaseAPI

            quiet_leptonica()
            api = PyTessBaseAPI(path=str(tessdata_dir()), lang="eng", psm=getattr(PSM, self.psm))
            for name, value in self.variables.items():
                api.SetVariable(name, value)
            self._local.api = api
        return api
