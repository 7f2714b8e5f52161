"""Where Tesseract's English model is, and whether Tesseract can run at all: one answer for every reader
(panel letters, burned-in text, scanned PDF pages), so installing the model turns them all on together and
their fingerprints change together."""

from __future__ import annotations

import os
import sys
from pathlib import Path

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
