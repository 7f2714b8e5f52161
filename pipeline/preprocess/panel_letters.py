"""Panel letters read from the corner of each panel of a compound figure, so subcaptions follow the letters
printed on the figure rather than an assumed reading order (a column-major A-B / C-D grid is read A C B D
row by row).

The reader is Tesseract through tesserocr's C API (extra `ocr`: its wheel bundles libtesseract; the English
model comes from `apt install tesseract-ocr`, `make ocr`, or TESSDATA_PREFIX) on the panel's top-left
corner, then its top-right one: the corner is binarised (Otsu) in both polarities, ink
touching the crop's border is removed (the label box's surroundings, photo texture), and what is left
must look like one glyph before Tesseract sees it as a single character. A letter counts only at
`min_confidence`; `subcaptions.align` then uses the letters only when every panel has one and together
they are exactly the caption's markers, so one misread falls back to reading order instead of
mislabelling a panel.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from pipeline.vision.tesseract import ThreadApis, tesseract_available

__all__ = ["LetterReader", "TesseractLetterReader", "make_letter_reader", "tesseract_available"]

_WHITELIST = "ABCDEFGHIJKLabcdefghijkl"
_GLYPH_HEIGHT = 50


class LetterReader(Protocol):
    name: str

    def read(self, rgb: np.ndarray) -> str | None:
        """The panel's letter, lower case, or None when none is read with confidence."""
        ...


def _glyphs(corner: np.ndarray) -> Iterator[np.ndarray]:
    """The corner as black-on-white images of one glyph-sized blob (per polarity that gives one: as cut,
    then cropped and rescaled)."""
    import cv2

    gray = cv2.cvtColor(np.ascontiguousarray(corner), cv2.COLOR_RGB2GRAY)
    gray = cv2.resize(gray, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    _, binary = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    for img in (binary, 255 - binary):
        ink = (img == 0).astype(np.uint8)
        _, labels = cv2.connectedComponents(ink)
        edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        glyph = ink.astype(bool) & ~np.isin(labels, edge[edge > 0])
        if 0.01 <= glyph.mean() <= 0.35:
            out = np.where(glyph, 0, 255).astype(np.uint8)
            yield cv2.copyMakeBorder(out, 20, 20, 20, 20, cv2.BORDER_CONSTANT, value=255)
            # the same glyph cropped and scaled to a 50 px cap height: Tesseract misses some letters at one
            # size and reads them at the other (both measured on the sample figures)
            ys, xs = np.nonzero(glyph)
            box = out[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
            scale = _GLYPH_HEIGHT / box.shape[0]
            size = (max(1, round(box.shape[1] * scale)), _GLYPH_HEIGHT)
            scaled = cv2.resize(box, size, interpolation=cv2.INTER_AREA)
            yield cv2.copyMakeBorder(scaled, 24, 24, 24, 24, cv2.BORDER_CONSTANT, value=255)


class TesseractLetterReader:
    """Single-character Tesseract on the panel corners, one API handle per thread (a handle is not
    thread-safe; making one costs ~50 ms, a read ~6 ms). The first confident read wins."""

    name = "tesseract"

    def __init__(self, min_confidence: float = 60.0) -> None:
        if not tesseract_available():
            raise ValueError("preprocess.subfigures.letter_reader 'tesseract' needs tesserocr (pip install "
                             "'.[ocr]') and Tesseract's English model (apt install tesseract-ocr, or TESSDATA_PREFIX)")
        self.min_confidence = min_confidence
        self._apis = ThreadApis("SINGLE_CHAR", {"tessedit_char_whitelist": _WHITELIST})

    def _api(self) -> Any:
        return self._apis.get()

    def read(self, rgb: np.ndarray) -> str | None:
        from PIL import Image

        api = self._api()
        h, w = rgb.shape[:2]
        side = int(min(96, max(28, 0.25 * min(h, w))))
        for corner in (rgb[:side, :side], rgb[:side, w - side:]):
            for img in _glyphs(corner):
                api.SetImage(Image.fromarray(img))
                text = api.GetUTF8Text().strip()
                letters = set(text.lower())  # "Cc": Tesseract hedging on the case of c, o, s...
                if len(letters) == 1 and len(text) <= 2 and api.MeanTextConf() >= self.min_confidence:
                    return letters.pop()
        return None


@lru_cache(maxsize=4)
def make_letter_reader(name: str) -> LetterReader | None:
    """`none`: no reading; `tesseract`: required (an error if missing); `auto`: tesseract when installed.
    One reader per process and name: its Tesseract handles (one per thread) are made once."""
    if name == "none" or (name == "auto" and not tesseract_available()):
        return None
    if name in ("tesseract", "auto"):
        return TesseractLetterReader()
    raise ValueError(f"unknown letter reader {name!r}; known: none, tesseract, auto")
