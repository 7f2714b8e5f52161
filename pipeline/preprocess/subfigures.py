"""Compound figures -> panels: gutter detection by recursive XY-cut, behind a `PanelDetector` interface.

Journal figures often tile several images ("(a) clinical photo, (b) dermoscopy, (c) histology") and a
corpus that pairs the whole tile with the whole caption teaches a model little about any one of them.
Most tiles are separated by gutters: full-width rows or full-height columns of near-uniform background.
The default detector finds them on a downscaled grey image with projection profiles (per-row and
per-column mean and spread), cuts at every gutter wide enough, and recurses into each piece, alternating
the axis (XY-cut), then trims uniform margins. A learned detector (Grounding DINO with "panel" prompts,
or a trained YOLO) implements the same `detect()` and is chosen by config, no caller changes.

Panel letters are not read (no OCR model is available offline); `has_label` is a cheap check for a small
high-contrast glyph box in the panel's top-left corner, recorded as a hint for alignment audits.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import cv2
import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

    from pipeline.preprocess.panel_letters import LetterReader
    from pipeline.preprocess.subcaptions import SplitCaption

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels of the input image, end exclusive


@dataclass(frozen=True)
class Panel:
    index: int  # reading order: rows top to bottom, left to right within a row
    bbox: Box
    has_label: bool = False


class PanelDetector(ABC):
    """Finds the panels of a figure. One panel (or none) means the figure is not compound."""

    name: ClassVar[str]

    @abstractmethod
    def detect(self, rgb: np.ndarray) -> list[Panel]:
        """Panels of an H x W x 3 uint8 RGB image, in reading order."""


def reading_order(boxes: list[Box]) -> list[Box]:
    """Row-major order: a box joins the current row when its vertical centre lies within the row's first
    box, so a 2x2 grid reads a, b / c, d whichever axis the XY-cut split first."""
    rows: list[list[Box]] = []
    for box in sorted(boxes, key=lambda b: ((b[1] + b[3]) / 2, b[0])):
        centre = (box[1] + box[3]) / 2
        if rows and rows[-1][0][1] <= centre < rows[-1][0][3]:
            rows[-1].append(box)
        else:
            rows.append([box])
    return [b for row in rows for b in sorted(row, key=lambda b: b[0])]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    padded = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def has_label_glyph(gray: np.ndarray) -> bool:
    """A light box with a dark glyph (or the reverse) filling part of the top-left corner."""
    h, w = gray.shape
    side = max(8, min(48, h // 4, w // 4))
    corner = gray[:side, :side]
    bright, dark = float((corner > 200).mean()), float((corner < 60).mean())
    return (bright > 0.3 and 0.02 < dark < 0.35) or (dark > 0.3 and 0.02 < bright < 0.35)


class GutterPanelDetector(PanelDetector):
    """Recursive XY-cut at near-uniform rows/columns.

    tol: grey-level spread (std) and distance from the background still counted as uniform (JPEG noise);
    min_gutter_frac: a gutter must span this share of the cut dimension (and >= 2 px after downscaling);
    min_panel_frac: a piece smaller than this share of the figure's side is merged with its neighbour
    (labels, axis text, a caption line inside the image are not panels).
    """

    name = "gutter_xycut"

    def __init__(self, tol: float = 6.0, min_gutter_frac: float = 0.004, min_panel_frac: float = 0.15,
                 max_depth: int = 4, max_side: int = 640) -> None:
        self.tol, self.min_gutter_frac, self.min_panel_frac = tol, min_gutter_frac, min_panel_frac
        self.max_depth, self.max_side = max_depth, max_side

    def detect(self, rgb: np.ndarray) -> list[Panel]:
        gray = cv2.cvtColor(np.ascontiguousarray(rgb[..., :3]), cv2.COLOR_RGB2GRAY)
        h, w = gray.shape
        scale = min(1.0, self.max_side / max(h, w))
        small = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))),
                           interpolation=cv2.INTER_AREA) if scale < 1 else gray
        self._size = small.shape
        boxes = self._cut(small.astype(np.float32), (0, 0, small.shape[1], small.shape[0]), 0, axis=0)
        if not boxes:
            return []
        out = []
        for n, (x0, y0, x1, y1) in enumerate(reading_order(boxes)):
            box = (int(x0 / scale), int(y0 / scale), min(w, int(np.ceil(x1 / scale))), min(h, int(np.ceil(y1 / scale))))
            out.append(Panel(n, box, has_label_glyph(gray[box[1]:box[3], box[0]:box[2]])))
        return out

    def _uniform(self, region: np.ndarray, axis: int) -> np.ndarray:
        """Per row (axis 0) or column (axis 1): near-uniform and near white or black. Figure backgrounds
        are one or the other; a smooth stretch of skin is neither, so a close-up photo is never cut."""
        along = 1 - axis
        mean = region.mean(axis=along)
        return (region.std(axis=along) <= self.tol) & ((mean >= 255 - 4 * self.tol) | (mean <= 4 * self.tol))

    def _trim(self, gray: np.ndarray, box: Box) -> Box | None:
        x0, y0, x1, y1 = box
        region = gray[y0:y1, x0:x1]
        rows, cols = ~self._uniform(region, 0), ~self._uniform(region, 1)
        if not rows.any() or not cols.any():
            return None  # blank
        r, c = np.flatnonzero(rows), np.flatnonzero(cols)
        return (x0 + int(c[0]), y0 + int(r[0]), x0 + int(c[-1]) + 1, y0 + int(r[-1]) + 1)

    def _cut(self, gray: np.ndarray, box: Box, depth: int, axis: int) -> list[Box]:
        trimmed = self._trim(gray, box)
        if trimmed is None:
            return []
        if depth >= self.max_depth:
            return [trimmed]
        for ax in (axis, 1 - axis):
            pieces = self._split(gray, trimmed, ax)
            if len(pieces) > 1:
                return [b for p in pieces for b in self._cut(gray, p, depth + 1, 1 - ax)]
        return [trimmed]

    def _split(self, gray: np.ndarray, box: Box, axis: int) -> list[Box]:
        """Pieces of `box` between gutters along `axis` (0: horizontal gutters, pieces stacked)."""
        x0, y0, x1, y1 = box
        length = (y1 - y0) if axis == 0 else (x1 - x0)
        full = self._size[0] if axis == 0 else self._size[1]
        min_gutter = max(2, round(self.min_gutter_frac * full))
        gutters = [(s, e) for s, e in _runs(self._uniform(gray[y0:y1, x0:x1], axis))
                   if e - s >= min_gutter and s > 0 and e < length]
        if not gutters:
            return []
        edges = [0, *[v for g in gutters for v in g], length]
        spans = [(edges[i], edges[i + 1]) for i in range(0, len(edges), 2)]
        min_panel = self.min_panel_frac * full
        merged: list[list[int]] = []
        for s, e in spans:  # a small piece joins the previous one (the first joins the next)
            if merged and (e - s < min_panel or merged[-1][1] - merged[-1][0] < min_panel):
                merged[-1][1] = e
            else:
                merged.append([s, e])
        if len(merged) > 1 and merged[-1][1] - merged[-1][0] < min_panel:
            merged[-2][1] = merged.pop()[1]
        if axis == 0:
            return [(x0, y0 + s, x1, y0 + e) for s, e in merged]
        return [(x0 + s, y0, x0 + e, y1) for s, e in merged]


def crop(rgb: np.ndarray, panel: Panel) -> np.ndarray:
    x0, y0, x1, y1 = panel.bbox
    return np.ascontiguousarray(rgb[y0:y1, x0:x1])


def make_detector(name: str, **options: float) -> PanelDetector:
    """The configured detector (`preprocess.subfigures.detector`); learned ones register here. Options
    go to the detector (the keyframe filter lowers the gutter detector's min_panel_frac for slides)."""
    if name == GutterPanelDetector.name:
        return GutterPanelDetector(**options)  # type: ignore[arg-type]
    raise ValueError(f"unknown panel detector {name!r} (known: {GutterPanelDetector.name})")


@dataclass(frozen=True)
class FigurePanel:
    panel: Panel
    rgb: np.ndarray
    key: str | None  # "a", "left", ... when the caption aligned
    text: str
    scope: str  # "panel" | "whole"
    key_source: str | None = None  # "letter_read" | "reading_order" | "position"


def figure_panels(rgb: np.ndarray, caption: str, detector: PanelDetector, min_side: int = 64,
                  max_panels: int = 12, reader: LetterReader | None = None,
                  splitter: Callable[[str], SplitCaption] | None = None) -> list[FigurePanel]:
    """The panels of a compound figure with their texts; [] when it is not compound. Panels under
    min_side pixels are left out before alignment, so a dropped panel makes the counts disagree and
    the rest keep the whole caption rather than a shifted subcaption. With a `reader`, the letters
    printed on the panels are read when the caption has lettered subcaptions. `splitter`: how the caption
    is split (default the rules), called only once the figure is found compound."""
    from pipeline.preprocess.subcaptions import align, split_caption

    found = detector.detect(rgb)
    if not 2 <= len(found) <= max_panels:
        return []
    big = [p for p in found if min(p.bbox[2] - p.bbox[0], p.bbox[3] - p.bbox[1]) >= min_side]
    if len(big) < 2:
        return []
    kept = [Panel(n, p.bbox, p.has_label) for n, p in enumerate(big)]
    if len(kept) < len(found):
        return [FigurePanel(p, crop(rgb, p), None, " ".join(caption.split()), "whole") for p in kept]
    crops = [crop(rgb, p) for p in kept]
    letters = None
    split = (splitter or split_caption)(caption)
    if reader is not None and split.style == "letters":
        letters = [reader.read(c) for c in crops]
    texts = align(caption, [p.bbox for p in kept], letters, split)
    return [FigurePanel(p, c, t.key, t.text, t.scope, t.key_source) for p, c, t in zip(kept, crops, texts, strict=True)]
