#!/usr/bin/env python
"""Generate the project's own synthetic SAMPLE CORPUS under ``samples/``.

Why: tests, docs and the end-to-end smoke run need small, licence-clean inputs of every source kind the
pipeline ingests (narrated lecture videos, JATS case reports, teaching PDFs, forum posts, a HAM10000-style
dataset), plus a few deliberately broken ones. Nothing is copied from third parties: every image is drawn
procedurally with numpy/PIL, every text is written here, and narration is synthesised with espeak-ng.

Run ``python scripts/make_samples.py``: deterministic (seeded per asset) and idempotent (the generated
folders and README are rewritten). espeak-ng is needed only to regenerate; the media is committed.
``--no-verify`` skips the checks (OpenCV decode, durations, PySceneDetect cuts vs script, total size).
The code comes first; the corpus texts are plain-text blocks at the end of the file (parsed by `records`).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
import wave
import zlib
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

OUT = Path(__file__).resolve().parents[1] / "samples"
W, H, FPS, SR = 320, 240, 15, 22050  # video frame size and rate; espeak-ng's native sample rate
LEAD = 0.3  # seconds of silence before each scene's narration
SKIN = [(244, 208, 184), (229, 180, 148), (203, 146, 110), (165, 110, 78), (116, 76, 54)]  # light -> dark
MAX_BYTES = 12 * 1024 * 1024
EXIF_ROTATED, PALETTE_PNG, CMYK_JPEG, TWO_IMAGES = (2, 7, 12), 5, 10, (0, 12)  # forum post indices
MISSING_ROW = 13  # 0-based dataset row whose image is deliberately not written


# ----------------------------------------------------------------------------- drawing primitives
def rng_for(name: str) -> np.random.Generator:
    """Per-asset RNG keyed by name, so an asset is reproducible whatever the generation order."""
    return np.random.default_rng(zlib.crc32(name.encode()))


def font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's bundled font: identical on every machine, no system font lookup."""
    return ImageFont.load_default(size=size)


def noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Smooth value noise in about [-1, 1]: a coarse random grid upsampled bicubically."""
    g = rng.uniform(-1, 1, (h // cell + 2, w // cell + 2)).astype(np.float32)
    return np.asarray(Image.fromarray(g).resize((w, h), Image.BICUBIC))


def skin(rng: np.random.Generator, w: int, h: int, tone: int) -> np.ndarray:
    """Skin-like float canvas: base tone, blotchy low-frequency variation, fine grain and pores."""
    img = np.broadcast_to(np.array(SKIN[tone], np.float32), (h, w, 3)).copy()
    img += noise(rng, h, w, 60)[..., None] * np.array([12, 10, 8], np.float32)
    img += noise(rng, h, w, 8)[..., None] * 4 + rng.normal(0, 2.5, (h, w, 1)).astype(np.float32)
    n = w * h // 700
    img[rng.integers(0, h, n), rng.integers(0, w, n)] *= 0.86
    return img


def blob(rng, w, h, cx, cy, r, irr=0.2, blur=2.0, aspect=1.0) -> np.ndarray:
    """Soft irregular blob mask in [0, 1]; `irr` controls border irregularity (the ABCD 'B')."""
    t = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    rad = np.ones_like(t)
    for k in range(2, 9):
        rad += irr / k * rng.uniform(0.3, 1.0) * np.sin(k * t + rng.uniform(0, 2 * np.pi))
    xs, ys = cx + r * rad * np.cos(t) * aspect, cy + r * rad * np.sin(t)
    m = Image.new("L", (w, h))
    ImageDraw.Draw(m).polygon(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=255)
    return np.asarray(m.filter(ImageFilter.GaussianBlur(blur)), np.float32) / 255


def rblob(rng, w, h, s, rmin, rmax, irr=0.25, blur=2.5, lo=0.2, hi=0.8) -> np.ndarray:
    """A blob at a random position in the central part of the canvas."""
    x, y = rng.uniform(lo, hi) * w, rng.uniform(lo, hi) * h
    return blob(rng, w, h, x, y, rng.uniform(rmin, rmax) * s, irr, blur)


def paint(img: np.ndarray, mask: np.ndarray, color, alpha: float = 1.0) -> None:
    """Alpha-blend a colour into the canvas through a mask (in place)."""
    m = (np.clip(mask, 0, 1) * alpha)[..., None]
    img *= 1 - m
    img += m * np.asarray(color, np.float32)


def layer_draw(img: np.ndarray, draw_fn, color, alpha=1.0, blur=0.8, clip=None) -> None:
    """Draw shapes into a grey layer with `draw_fn(ImageDraw)`, soften it and paint it in colour."""
    layer = Image.new("L", (img.shape[1], img.shape[0]))
    draw_fn(ImageDraw.Draw(layer))
    m = np.asarray(layer.filter(ImageFilter.GaussianBlur(blur)), np.float32) / 255
    paint(img, m if clip is None else m * clip, color, alpha)


def dots(img, rng, mask, color, n, rmin, rmax, alpha=1.0, blur=0.8, ring=False) -> None:
    """Scatter small round clods inside `mask`: scale flakes, globules, pustules, vesicles, lacunae."""
    ys, xs = np.nonzero(mask > 0.5)
    if len(xs) == 0:
        return
    idx, rs = rng.integers(0, len(xs), n), rng.uniform(rmin, rmax, n)

    def draw(d: ImageDraw.ImageDraw) -> None:
        for i, r in zip(idx, rs, strict=True):
            box = [xs[i] - r, ys[i] - r, xs[i] + r, ys[i] + r]
            d.ellipse(box, outline=255, width=1) if ring else d.ellipse(box, fill=255)

    layer_draw(img, draw, color, alpha, blur)


def vessels(img, rng, starts, length, color, width=2.0, alpha=0.8) -> None:
    """Branching thin lines: telangiectasia, arborizing vessels (BCC), Wickham striae or fungal hyphae."""

    def draw(d: ImageDraw.ImageDraw) -> None:
        stack = [(x, y, rng.uniform(0, 2 * np.pi), length, width) for x, y in starts]
        while stack:
            x, y, a, ln, wd = stack.pop()
            x2, y2 = x + ln * math.cos(a), y + ln * math.sin(a)
            d.line([(x, y), (x2, y2)], fill=255, width=max(1, round(wd)))
            if ln > 5:
                stack += [(x2, y2, a + rng.uniform(-0.8, 0.8), ln * 0.68, wd * 0.75) for _ in range(2)]

    layer_draw(img, draw, color, alpha, 0.6)


def scatter(rng, w, h, n) -> list[tuple[float, float]]:
    return [(rng.uniform(0, w), rng.uniform(0, h)) for _ in range(n)]


def network(img, rng, mask, color, step=7, jitter=1.5, width=1, alpha=0.7) -> None:
    """Reticular pigment network: a jittered grid of lines clipped to the lesion mask."""
    h, w = mask.shape
    gx, gy = np.meshgrid(np.arange(-step, w + 2 * step, step), np.arange(-step, h + 2 * step, step))
    gx, gy = (gx + rng.normal(0, jitter, gx.shape)).tolist(), (gy + rng.normal(0, jitter, gy.shape)).tolist()

    def draw(d: ImageDraw.ImageDraw) -> None:
        for row_x, row_y in zip(gx, gy, strict=True):
            d.line(list(zip(row_x, row_y, strict=True)), fill=255, width=width)
        for col_x, col_y in zip(zip(*gx, strict=True), zip(*gy, strict=True), strict=True):
            d.line(list(zip(col_x, col_y, strict=True)), fill=255, width=width)

    layer_draw(img, draw, color, alpha, 0.7, clip=mask)


def finish(img: np.ndarray, rng: np.random.Generator, light: bool = True) -> Image.Image:
    """Add a soft directional light falloff (photo-like), clip to uint8 and soften slightly."""
    h, w = img.shape[:2]
    if light:
        yy, xx = np.mgrid[0:h, 0:w]
        a = rng.uniform(0, 2 * np.pi)
        img = img * (1 + 0.07 * ((xx / w - 0.5) * math.cos(a) + (yy / h - 0.5) * math.sin(a)))[..., None]
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.5))


# ----------------------------------------------------------------------------- clinical lesions
def papules(img, rng, s, n, color, r=(0.012, 0.03), tip=None, umbilicate=False, lo=0.1, hi=0.9) -> None:
    """Small domed lesions with a specular highlight; optional pustule tip or central umbilication."""
    h, w = img.shape[:2]
    for _ in range(n):
        cx, cy, rr = rng.uniform(lo, hi) * w, rng.uniform(lo, hi) * h, rng.uniform(*r) * s
        paint(img, blob(rng, w, h, cx, cy, rr, 0.1, 1.2), color, 0.85)
        if tip:
            paint(img, blob(rng, w, h, cx, cy, rr * 0.45, 0.05, 0.8), tip, 0.9)
        if umbilicate:
            paint(img, blob(rng, w, h, cx + rr * 0.1, cy, rr * 0.22, 0.05, 0.6), (170, 125, 115), 0.8)
        paint(img, blob(rng, w, h, cx - rr * 0.35, cy - rr * 0.35, rr * 0.25, 0.05, 1), (255, 250, 245), 0.35)


def draw_lesion(img, rng, kind: str) -> None:
    """Paint one clinical morphology onto a skin canvas (textbook-schematic, not photorealistic)."""
    h, w = img.shape[:2]
    s, cx, cy = min(w, h), w * rng.uniform(0.42, 0.58), h * rng.uniform(0.42, 0.58)
    everywhere = np.ones((h, w), np.float32)
    if kind == "nevus":
        paint(img, blob(rng, w, h, cx, cy, 0.09 * s, 0.04, 1.5), (112, 72, 48))
        paint(img, blob(rng, w, h, cx, cy, 0.05 * s, 0.04, 3), (90, 56, 38), 0.5)
    elif kind == "melanoma":
        m = blob(rng, w, h, cx, cy, 0.2 * s, 0.5, 1.2, 1.3)
        paint(img, m, (122, 78, 52))
        for c in [(62, 38, 28), (28, 20, 22), (96, 106, 132), (176, 84, 74), (150, 110, 85)]:
            x, y = cx + rng.normal(0, 0.08) * s, cy + rng.normal(0, 0.08) * s
            paint(img, m * blob(rng, w, h, x, y, 0.08 * s, 0.6, 3), c, 0.85)
        dots(img, rng, m, (30, 22, 22), 25, 0.8, 2.5)
    elif kind in ("plaque", "healed"):
        for _ in range(3):
            m = rblob(rng, w, h, s, *((0.1, 0.2) if kind == "plaque" else (0.05, 0.09)))
            paint(img, m, (196, 80, 74) if kind == "plaque" else (214, 150, 138), 0.88)
            if kind == "plaque":
                dots(img, rng, m, (232, 226, 220), int(m.sum() / 25), 0.5, 1.8, 0.7, 0.6)
    elif kind in ("annular", "incognito"):
        outer, inner = (blob(rng, w, h, cx, cy, 0.28 * s * f, 0.15, b, 1.2) for f, b in ((1, 3), (0.7, 4.5)))
        ring = np.clip(outer - inner, 0, 1)
        paint(img, ring, (192, 88, 78), 0.85)
        paint(img, inner, (205, 140, 115), 0.25 if kind == "annular" else 0.55)
        if kind == "annular":
            dots(img, rng, ring, (236, 222, 208), 140, 0.8, 1.8, 0.75)
        else:
            dots(img, rng, ring + inner * 0.6, (240, 228, 190), 40, 1.2, 2.5, 0.9)
    elif kind in ("bcc", "pbcc"):
        m = blob(rng, w, h, cx, cy, 0.12 * s, 0.1, 2)
        paint(img, m, (230, 176, 170), 0.9)
        paint(img, blob(rng, w, h, cx - 0.04 * s, cy - 0.04 * s, 0.05 * s, 0.1, 6), (255, 245, 240), 0.45)
        vessels(img, rng, [(cx, cy)] * 4, 0.06 * s, (170, 40, 52), 1.5)
        paint(img, blob(rng, w, h, cx, cy + 0.02 * s, 0.03 * s, 0.3, 1), (120, 40, 36), 0.9)
        if kind == "pbcc":
            dots(img, rng, m, (82, 82, 100), 30, 1.5, 4, 0.85)
    elif kind == "sk":
        m = blob(rng, w, h, cx, cy, 0.15 * s, 0.18, 1.2, 1.2)
        paint(img, m, (126, 90, 60))
        dots(img, rng, m, (176, 140, 100), 260, 0.7, 2.0, 0.55)
        dots(img, rng, m, (80, 56, 40), 120, 0.7, 1.8, 0.5)
    elif kind in ("ak", "scc"):
        big = kind == "scc"
        m = blob(rng, w, h, cx, cy, (0.14 if big else 0.1) * s, 0.3, 2.5 if big else 4)
        paint(img, m, (200, 108, 98) if big else (208, 120, 104), 0.85 if big else 0.6)
        dots(img, rng, m, (226, 210, 176), 180, 0.8, 2.5, 0.8)
        if big:
            paint(img, blob(rng, w, h, cx, cy, 0.06 * s, 0.4, 1.5), (150, 120, 86), 0.9)
            dots(img, rng, blob(rng, w, h, cx, cy, 0.06 * s), (90, 48, 36), 30, 1, 3)
    elif kind == "vitiligo":
        for _ in range(4):
            paint(img, rblob(rng, w, h, s, 0.07, 0.16, 0.35, 1.5), (238, 214, 198), 0.95)
    elif kind == "acne":
        papules(img, rng, s, 30, (200, 86, 80))
        papules(img, rng, s, 12, (205, 95, 85), tip=(245, 235, 200))
        dots(img, rng, everywhere, (70, 50, 40), 15, 0.8, 1.4)
    elif kind == "rosacea":
        paint(img, np.clip(noise(rng, h, w, 90) + 0.6, 0, 1), (214, 108, 102), 0.55)
        vessels(img, rng, scatter(rng, w, h, 6), 0.08 * s, (180, 50, 60), 1)
        papules(img, rng, s, 10, (200, 80, 78), r=(0.01, 0.02))
    elif kind == "urticaria":
        for _ in range(5):
            x, y, r = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h, rng.uniform(0.08, 0.18) * s
            paint(img, blob(rng, w, h, x, y, r * 1.15, 0.4, 6), (220, 100, 96), 0.45)
            paint(img, blob(rng, w, h, x, y, r, 0.4, 4), (246, 202, 192), 0.55)
    elif kind == "zoster":
        band = blob(rng, w, h, cx, cy, 0.16 * s, 0.3, 8, 2.6)
        paint(img, band, (206, 96, 88), 0.7)
        dots(img, rng, band, (246, 238, 218), 70, 2, 4.5, 0.85)
        dots(img, rng, band, (150, 92, 52), 12, 1.5, 3.5, 0.8)
    elif kind == "impetigo":
        m = blob(rng, w, h, cx, cy, 0.18 * s, 0.35, 5)
        paint(img, m, (204, 102, 90), 0.6)
        dots(img, rng, m, (222, 168, 72), 90, 2, 5, 0.85, 1.2)
    elif kind == "molluscum":
        papules(img, rng, s, 12, (238, 214, 204), r=(0.02, 0.035), umbilicate=True, lo=0.25, hi=0.75)
    elif kind == "lichen":
        papules(img, rng, s, 25, (132, 82, 112), r=(0.02, 0.04))
        vessels(img, rng, [(cx, cy)] * 3, 0.08 * s, (236, 226, 230), 1, 0.5)
    elif kind == "eczema":
        paint(img, np.clip(noise(rng, h, w, 70) + 0.3, 0, 1), (208, 110, 100), 0.6)
        vessels(img, rng, scatter(rng, w, h, 8), 0.03 * s, (150, 50, 45), 1)
        dots(img, rng, everywhere, (232, 214, 200), 200, 0.6, 1.5, 0.5)
    elif kind == "bullae":
        for _ in range(2):
            paint(img, rblob(rng, w, h, s, 0.15, 0.25, blur=6), (206, 104, 96), 0.88)
        for _ in range(5):
            x, y, r = rng.uniform(0.25, 0.75) * w, rng.uniform(0.25, 0.75) * h, rng.uniform(0.05, 0.09) * s
            paint(img, blob(rng, w, h, x, y, r, 0.05, 1.2), (238, 222, 176), 0.75)
            paint(img, blob(rng, w, h, x - r * 0.3, y - r * 0.3, r * 0.3, 0.05, 2), (255, 252, 240), 0.6)
    elif kind == "target":
        for _ in range(5):
            x, y, r = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h, rng.uniform(0.06, 0.1) * s
            for f, c in [(1.0, (200, 82, 88)), (0.68, (236, 192, 180)), (0.35, (110, 50, 72))]:
                paint(img, blob(rng, w, h, x, y, r * f, 0.08, 1.5), c, 0.9)
    elif kind == "ulcer":
        paint(img, blob(rng, w, h, cx, cy, 0.3 * s, 0.25, 4), (128, 62, 92), 0.85)
        base = blob(rng, w, h, cx, cy, 0.24 * s, 0.25, 2)
        paint(img, base, (172, 52, 46))
        dots(img, rng, base, (224, 204, 140), 80, 1.5, 4, 0.8)
    else:
        raise ValueError(f"unknown lesion kind {kind!r}")


def clinical(name: str, kind: str, w: int = 480, h: int = 360, tone: int | None = None) -> Image.Image:
    """A 'clinical photo': skin background plus one morphology; same name -> same pixels."""
    rng = rng_for(name)
    img = skin(rng, w, h, int(rng.integers(0, 4)) if tone is None else tone)
    draw_lesion(img, rng, kind)
    return finish(img, rng)


def dermoscopy(name: str, kind: str, w: int = 300, h: int = 225) -> Image.Image:
    """Dermoscopy/microscopy-style image: a lesion pattern inside a dark circular field of view."""
    rng = rng_for(name)
    s, cx, cy = min(w, h), w / 2 + rng.normal(0, 6), h / 2 + rng.normal(0, 6)
    everywhere = np.ones((h, w), np.float32)
    if kind == "koh":
        img = np.broadcast_to(np.array([196, 202, 214], np.float32), (h, w, 3)).copy()
        img += noise(rng, h, w, 20)[..., None] * 8
        dots(img, rng, everywhere, (160, 166, 186), 18, 10, 22, 0.5, ring=True)
        vessels(img, rng, scatter(rng, w, h, 4), 0.18 * s, (70, 74, 92), 2)
    else:
        img = skin(rng, w, h, 0) * np.array([0.98, 0.9, 0.92], np.float32)
        mel = kind == "mel"
        m = blob(rng, w, h, cx, cy, (0.38 if mel else 0.3) * s, 0.45 if mel else 0.1, 4)
        if kind in ("nv", "mel"):
            paint(img, m, (128, 82, 58) if mel else (150, 100, 70), 0.85)
            network(img, rng, m, (80, 50, 36), *((9, 3.5, 2) if mel else (7, 1.2, 1)))
            if mel:
                veil = blob(rng, w, h, cx + 0.1 * s, cy, 0.15 * s, 0.5, 8)
                regression = blob(rng, w, h, cx - 0.15 * s, cy + 0.05 * s, 0.1 * s, 0.5, 6)
                paint(img, m * veil, (118, 132, 164), 0.75)
                paint(img, m * regression, (226, 214, 214), 0.5)
                dots(img, rng, m, (35, 24, 24), 30, 1, 3.5)
        elif kind == "bkl":
            paint(img, m, (172, 126, 86), 0.85)
            dots(img, rng, m, (246, 236, 220), 25, 1.2, 3)
            dots(img, rng, m, (86, 62, 44), 18, 1, 2.5)
        elif kind == "bcc":
            paint(img, m, (236, 188, 182), 0.7)
            vessels(img, rng, [(cx, cy)] * 3, 0.14 * s, (176, 30, 46), 2.5)
            dots(img, rng, m, (92, 106, 134), 6, 4, 9, 0.8, 2)
        elif kind == "akiec":
            paint(img, m, (214, 118, 108), 0.75)
            dots(img, rng, m, (246, 236, 224), 60, 2, 3.5, 0.85)
        elif kind == "df":
            paint(img, m, (176, 126, 96), 0.6)
            network(img, rng, m, (130, 86, 62), 6, 1.0, 1, 0.5)
            paint(img, blob(rng, w, h, cx, cy, 0.12 * s, 0.3, 3), (244, 234, 230), 0.85)
        elif kind == "vasc":
            paint(img, m, (232, 190, 192), 0.8)
            dots(img, rng, m, (150, 30, 62), 40, 4, 9, 0.9, 1.2)
        elif kind == "psoriasis":
            paint(img, blob(rng, w, h, cx, cy, 0.45 * s, 0.1, 10), (216, 104, 98), 0.85)
            yy, xx = np.mgrid[6:h:9, 6:w:9]
            pts = np.stack([xx.ravel(), yy.ravel()], 1) + rng.normal(0, 1.2, (xx.size, 2))

            def dotted(d: ImageDraw.ImageDraw) -> None:
                for x, y in pts.tolist():
                    d.ellipse([x - 1.3, y - 1.3, x + 1.3, y + 1.3], fill=255)

            layer_draw(img, dotted, (150, 22, 38), 0.9, 0.5)
            dots(img, rng, everywhere, (240, 234, 230), 20, 3, 8, 0.5, 3)
        else:
            raise ValueError(f"unknown dermoscopy kind {kind!r}")
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot(xx - w / 2, yy - h / 2) / (s / 2 * 0.97)
    img *= (np.clip((1 - r) * 15, 0, 1) * (1 - 0.3 * np.clip(r, 0, 1) ** 3))[..., None]
    return finish(img, rng, light=False)


# ----------------------------------------------------------------------------- slides and charts
def text_lines(d: ImageDraw.ImageDraw, text: str, f, maxw: float) -> list[str]:
    """Greedy word wrap by rendered width."""
    lines, cur = [], ""
    for word in text.split():
        cand = f"{cur} {word}".strip()
        if d.textlength(cand, font=f) <= maxw or not cur:
            cur = cand
        else:
            lines, cur = [*lines, cur], word
    return [*lines, cur]


def title_card(title: str, subtitle: str, w: int = W, h: int = H) -> Image.Image:
    """Dark navy lecture title card: deliberately far from skin tones so scene cuts are unambiguous."""
    grad = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    arr = np.array([24, 44, 96], np.float32) * (1 - grad) + np.array([8, 16, 44], np.float32) * grad
    im = Image.fromarray(np.broadcast_to(arr, (h, w, 3)).astype(np.uint8))
    d, y = ImageDraw.Draw(im), h * 0.28
    for text, size, color in [(title, 26, (255, 255, 255)), (subtitle, 15, (170, 200, 240))]:
        for line in text_lines(d, text, font(size), w * 0.86):
            d.text((w / 2, y), line, font=font(size), fill=color, anchor="ma")
            y += size * 1.3
        y += 10
    d.text(
        (w / 2, h - 22), "Derm1M sample lecture (synthetic)", font=font(10), fill=(120, 140, 180), anchor="ma"
    )
    return im


def bullet_slide(title: str, *bullets: str, w: int = W, h: int = H) -> Image.Image:
    """White teaching slide with a teal header bar and bullet points."""
    im = Image.new("RGB", (w, h), (250, 250, 246))
    d = ImageDraw.Draw(im)
    d.rectangle([0, 0, w, 44], fill=(0, 104, 116))
    d.text((14, 12), title, font=font(20), fill=(255, 255, 255))
    y = 58
    for b in bullets:
        for i, line in enumerate(text_lines(d, b, font(15), w - 48)):
            d.text((34, y), line, font=font(15), fill=(40, 40, 48))
            if i == 0:
                d.ellipse([18, y + 5, 25, y + 12], fill=(0, 104, 116))
            y += 20
        y += 6
    return im


def bar_chart(title: str, labels: list[str], values: list[float], ylabel: str) -> Image.Image:
    """A plain bar chart: a non-skin figure so the pipeline's skin filter has something to reject."""
    w, h, x0, y0, x1, y1 = 560, 400, 70, 64, 540, 350
    im = Image.new("RGB", (w, h), "white")
    d, vmax = ImageDraw.Draw(im), math.ceil(max(values) / 5) * 5
    d.text((w / 2, 14), title, font=font(18), fill="black", anchor="ma")
    d.text((x0 - 40, y0 - 18), ylabel, font=font(13), fill="black", anchor="lm")
    d.line([(x0, y0), (x0, y1), (x1, y1)], fill="black", width=2)
    for k in range(5):
        y = y1 - (y1 - y0) * k / 4
        d.line([(x0 - 5, y), (x0, y)], fill="black")
        d.text((x0 - 8, y), f"{vmax * k / 4:.0f}", font=font(12), fill="black", anchor="rm")
    bw = (x1 - x0) / len(values)
    for i, (lab, v) in enumerate(zip(labels, values, strict=True)):
        bx = x0 + bw * i + bw * 0.2
        d.rectangle([bx, y1 - (y1 - y0) * v / vmax, bx + bw * 0.6, y1], fill=(52, 96, 168))
        d.text((bx + bw * 0.3, y1 + 8), lab, font=font(13), fill="black", anchor="ma")
    return im


# ----------------------------------------------------------------------------- corpus text parsing
def records(text: str) -> list[tuple[list[str], list[str]]]:
    """Parse a content block: '=== a | b' starts a record, other lines are its lines, and an indented
    line continues the previous one. Keeps long prose out of Python literals (readable, format-stable)."""
    out: list[tuple[list[str], list[str]]] = []
    for raw in text.strip().splitlines():
        if raw.startswith("=== "):
            out.append(([f.strip() for f in raw[4:].split("|")], []))
        elif raw.startswith("  ") and out[-1][1]:
            out[-1][1][-1] += " " + raw.strip()
        elif raw.strip():
            out[-1][1].append(raw.strip())
    return out


def fields(line: str, sep: str = "|") -> list[str]:
    return [f.strip() for f in line.split(sep)]


# ----------------------------------------------------------------------------- videos
def tool(name: str) -> str:
    """Locate ffmpeg (imageio-ffmpeg's bundled binary first) or espeak-ng; exit with a clear message."""
    if name == "ffmpeg":
        try:
            import imageio_ffmpeg

            return imageio_ffmpeg.get_ffmpeg_exe()
        except Exception:  # noqa: BLE001 - any failure just means "look on PATH"
            pass
    path = shutil.which(name)
    if not path:
        sys.exit(f"make_samples: '{name}' not found on PATH; install it (e.g. apt-get install {name})")
    return path


def speak(text: str, tmp: Path) -> np.ndarray:
    """espeak-ng (en-us, 150 wpm) -> int16 samples with leading/trailing silence trimmed."""
    wav = tmp / f"tts_{zlib.crc32(text.encode())}.wav"
    subprocess.run([tool("espeak-ng"), "-v", "en-us", "-s", "150", "-w", str(wav), text], check=True)
    with wave.open(str(wav)) as f:
        if f.getframerate() != SR or f.getnchannels() != 1:
            raise RuntimeError("unexpected espeak-ng output format")
        pcm = np.frombuffer(f.readframes(f.getnframes()), np.int16)
    loud = np.nonzero(np.abs(pcm) > 300)[0]
    return pcm[loud[0] : loud[-1] + 1]


def scene_image(vid: str, k: int, kind: str, args: list[str], pan: bool = False) -> Image.Image:
    """The picture of scene k. Photos render at 480x360 (the keyframe source) or larger when panned."""
    if kind == "title":
        return title_card(*args)
    if kind == "slide":
        return bullet_slide(*args)
    if kind == "scope":
        return dermoscopy(f"{vid}_s{k}", args[0], W, H)
    if pan:
        return clinical(f"{vid}_s{k}", args[0], W + 96, H + 72, int(args[1]))
    return clinical(f"{vid}_s{k}", args[0], 480, 360, int(args[1]))


def scene_frames(vid: str, k: int, kind: str, args: list[str], n: int):
    """Yield `n` RGB frames: a slow diagonal pan over a larger photo ('pan' arg) or a repeated still."""
    if kind == "photo" and args[-1] == "pan":
        big = np.asarray(scene_image(vid, k, kind, args, pan=True))
        for i in range(n):
            x, y = round(96 * i / (n - 1)), round(72 * i / (n - 1))
            yield np.ascontiguousarray(big[y : y + H, x : x + W])
        return
    still = np.asarray(scene_image(vid, k, kind, args).resize((W, H), Image.LANCZOS))
    for _ in range(n):
        yield still


def video_specs() -> list[dict]:
    specs = []
    for (vid, date, vtt, title), lines in records(VIDEOS):
        scenes = []
        for line in lines:
            spec, chapter, narration = fields(line)
            kind, _, arg = spec.partition(":")
            scenes.append((kind, fields(arg, ";"), chapter, narration))
        specs.append({"id": vid, "date": date, "vtt": vtt == "vtt", "title": title, "scenes": scenes})
    return specs


def ts(t: float) -> str:
    return f"{int(t // 3600):02d}:{int(t % 3600 // 60):02d}:{t % 60:06.3f}"


def write_wav(path: Path, pcm: np.ndarray) -> None:
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(SR)
        f.writeframes(pcm.tobytes())


def make_video(spec: dict, out: Path, tmp: Path) -> None:
    """Render one narrated lecture: per-scene speech padded to its scene, frames piped to ffmpeg."""
    vid, audio, scenes, t = spec["id"], [], [], 0.0
    for k, (kind, _, chapter, narration) in enumerate(spec["scenes"]):
        pcm = speak(narration, tmp)
        speech = len(pcm) / SR
        if speech + LEAD > 6.8:
            raise ValueError(f"{vid} scene {k}: narration {speech:.1f}s is too long for a <=7 s scene")
        n = min(7 * FPS, max(4 * FPS, math.ceil((speech + LEAD + 0.7) * FPS)))
        pad = np.zeros(n * SR // FPS, np.int16)
        pad[int(LEAD * SR) : int(LEAD * SR) + len(pcm)] = pcm
        audio.append(pad)
        scenes.append(
            {
                "index": k,
                "start_s": round(t, 3),
                "end_s": round(t + n / FPS, 3),
                "frames": n,
                "kind": kind,
                "chapter": chapter,
                "narration": narration,
                "speech_start_s": round(t + LEAD, 3),
                "speech_end_s": round(t + LEAD + speech, 3),
            }
        )
        t += n / FPS
    write_wav(tmp / f"{vid}.wav", np.concatenate(audio))
    enc = ["-c:v", "libx264", "-preset", "slow", "-crf", "23", "-maxrate", "160k", "-bufsize", "320k"]
    enc += ["-pix_fmt", "yuv420p", "-threads", "1", "-c:a", "aac", "-b:a", "32k", "-ac", "1"]
    enc += ["-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact"]
    raw = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-r", str(FPS), "-i", "-"]
    cmd = [tool("ffmpeg"), "-y", "-loglevel", "error", *raw, "-i", str(tmp / f"{vid}.wav"), *enc]
    # Default mp4 muxing writes the moov atom at the END, so a truncated copy cannot be opened.
    proc = subprocess.Popen([*cmd, str(out / f"{vid}.mp4")], stdin=subprocess.PIPE)
    for k, (kind, args, _, _) in enumerate(spec["scenes"]):
        for frame in scene_frames(vid, k, kind, args, scenes[k]["frames"]):
            proc.stdin.write(frame.tobytes())
    proc.stdin.close()
    if proc.wait():
        raise RuntimeError(f"ffmpeg failed for {vid}")
    truth = {"id": vid, "fps": FPS, "width": W, "height": H, "duration_s": round(t, 3), "scenes": scenes}
    (out / f"{vid}.script.json").write_text(json.dumps(truth, indent=2))
    chapters = "; ".join(f"{ts(s['start_s'])[3:8]} {s['chapter']}" for s in scenes)
    info = {
        "id": vid, "title": spec["title"], "fulltitle": spec["title"],
        "description": f"{spec['title']}. A short narrated teaching clip from the Derm1M sample corpus. "
        f"Chapters: {chapters}. All images are computer-generated illustrations, not patient photographs.",
        "channel": "Derm1M Sample Lectures", "channel_id": "UCderm1msamplelectures0",
        "uploader": "Derm1M Sample Lectures", "uploader_id": "@derm1m-samples",
        "duration": round(t), "duration_string": f"{int(t // 60)}:{round(t) % 60:02d}",
        "license": "Creative Commons Attribution license (reuse allowed)",
        "webpage_url": f"https://www.youtube.com/watch?v={vid}", "upload_date": spec["date"],
        "language": "en", "categories": ["Education"], "tags": ["dermatology", "lecture", scenes[1]["chapter"]],
        "ext": "mp4", "width": W, "height": H, "fps": FPS, "vcodec": "avc1", "acodec": "mp4a",
        "chapters": [{"start_time": s["start_s"], "end_time": s["end_s"], "title": s["chapter"]} for s in scenes],
        "subtitles": {"en": [{"ext": "vtt", "name": "English"}]} if spec["vtt"] else {},
        "automatic_captions": {},
    }  # fmt: skip
    (out / f"{vid}.info.json").write_text(json.dumps(info, indent=2))
    if spec["vtt"]:
        cues = [f"{i + 1}\n{ts(s['speech_start_s'])} --> {ts(s['speech_end_s'])}\n{s['narration']}\n"
                for i, s in enumerate(scenes)]  # fmt: skip
        (out / f"{vid}.en.vtt").write_text("WEBVTT\nKind: captions\nLanguage: en\n\n" + "\n".join(cues))


def make_videos(out: Path) -> None:
    """Three narrated lectures plus `broken_upload.mp4` (first 30% of a good file: no moov atom)."""
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        for spec in video_specs():
            make_video(spec, out, Path(tmp))
    good = (out / "derm_lecture_melanoma.mp4").read_bytes()
    (out / "broken_upload.mp4").write_bytes(good[: len(good) * 3 // 10])


# ----------------------------------------------------------------------------- JATS case reports
def figure_image(name: str, recipe: list[str]) -> Image.Image:
    """Render a JATS figure from its recipe: clinical, scope, compound (a)/(b), 2x2 grid (a)-(d), chart or video
    keyframe."""
    kind = recipe[0]
    if kind == "clinical":
        return clinical(name, recipe[1], 640, 480, int(recipe[2]))
    if kind == "scope":
        return dermoscopy(name, recipe[1], 600, 450)
    if kind == "chart":
        weeks, area = ["Week 0", "2", "4", "8", "12"], [18.5, 14.2, 9.1, 4.3, 0.8]
        return bar_chart("Ulcer area during ciclosporin therapy", weeks, area, "Ulcer area (sq cm)")
    if kind == "compound":
        im = Image.new("RGB", (900, 360), "white")
        d = ImageDraw.Draw(im)
        for i, k in enumerate(recipe[1:]):
            im.paste(clinical(f"{name}_{k}", k, 440, 330, 0), (7 + i * 446, 15))
            d.rectangle([12 + i * 446, 20, 40 + i * 446, 50], fill="white")
            d.text((26 + i * 446, 35), "ab"[i], font=font(22), fill="black", anchor="mm")
        return im
    if kind == "grid":  # 2x2 compound: white gutters, a letter box in each panel's top-left corner
        im = Image.new("RGB", (670, 510), "white")
        d = ImageDraw.Draw(im)
        for i, k in enumerate(recipe[1:5]):
            x, y = 10 + (i % 2) * 330, 10 + (i // 2) * 250
            panel = (dermoscopy(f"{name}_{k}", k[6:], 320, 240) if k.startswith("scope:")
                     else clinical(f"{name}_{k}", k, 320, 240, 1))
            im.paste(panel, (x, y))
            d.rectangle([x + 5, y + 5, x + 33, y + 35], fill="white")
            d.text((x + 19, y + 20), "abcd"[i], font=font(22), fill="black", anchor="mm")
        return im
    # "video <id> <k>": near-duplicate of a video keyframe (same source pixels, resized, other JPEG quality)
    vid, k = recipe[1], int(recipe[2])
    kind, args, _, _ = next(v for v in video_specs() if v["id"] == vid)["scenes"][k]
    return scene_image(vid, k, kind, args).resize((448, 336), Image.LANCZOS)


def jats_xml(i: int, pmc: str, title: str, lines: list[str]) -> tuple[str, list[tuple[str, list[str]]]]:
    """Serialise one article in JATS 1.3 (PMC OA) structure; returns the XML and its figure recipes."""
    num, kwds, abstract, secs, figs = int(pmc[3:]) % 1000, [], "", [], []
    for line in lines:
        if line.startswith("kwd:"):
            kwds = fields(line[4:], ";")
        elif line.startswith("abstract:"):
            abstract = line[9:].strip()
        elif line.startswith("## "):
            secs.append((line[3:], []))
        elif line.startswith("fig "):
            fid, recipe, ftitle, caption = fields(line[4:])
            figs.append((fid, recipe.split()))
            secs[-1][1].append(
                f'<fig id="{fid}" position="float"><label>Figure {fid[1:]}</label><caption><title>'
                f"{escape(ftitle)}</title><p>{escape(caption)}</p></caption>"
                f'<graphic xlink:href="{pmc}_{fid}"/></fig>'
            )
        else:
            xref = r'<xref ref-type="fig" rid="f\1">Figure \1\2</xref>'  # [[f1]] or [[f1a]] -> xref
            secs[-1][1].append("<p>" + re.sub(r"\[\[f(\d)([ab]?)\]\]", xref, escape(line)) + "</p>")
    authors = "".join(
        f'<contrib contrib-type="author"><name><surname>{s}</surname><given-names>{g}</given-names></name>'
        f'<xref ref-type="aff" rid="aff1"/></contrib>'
        for s, g in (AUTHORS[(i + j) % len(AUTHORS)] for j in range(3))
    )
    body = "".join(
        f'<sec id="s{j + 1}"><title>{escape(t)}</title>{"".join(ps)}</sec>' for j, (t, ps) in enumerate(secs)
    )
    lic = "https://creativecommons.org/licenses/by/4.0/"
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE article PUBLIC "-//NLM//DTD JATS (Z39.96) Journal Archiving and Interchange DTD v1.3 20210610//EN" \
"JATS-archivearticle1-3.dtd">
<article xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:mml="http://www.w3.org/1998/Math/MathML" \
xmlns:ali="http://www.niso.org/schemas/ali/1.0/" article-type="case-report" dtd-version="1.3" xml:lang="en">
<front>
<journal-meta><journal-id journal-id-type="nlm-ta">Synth Derm Case Rep</journal-id><journal-title-group>\
<journal-title>Synthetic Dermatology Case Reports</journal-title></journal-title-group>\
<publisher><publisher-name>Derm1M Sample Press</publisher-name></publisher></journal-meta>
<article-meta>
<article-id pub-id-type="pmc">{pmc}</article-id>
<article-id pub-id-type="pmid">{99000000 + num}</article-id>
<article-id pub-id-type="doi">10.5555/sdcr.2024.{num:04d}</article-id>
<article-categories><subj-group subj-group-type="heading"><subject>Case Report</subject></subj-group>\
</article-categories>
<title-group><article-title>{escape(title)}</article-title></title-group>
<contrib-group>{authors}</contrib-group>
<aff id="aff1">Department of Dermatology, Example University Hospital, Exampleton</aff>
<pub-date pub-type="epub"><day>{10 + i}</day><month>{1 + i}</month><year>2024</year></pub-date>
<volume>3</volume><elocation-id>e{num:03d}</elocation-id>
<permissions><copyright-statement>© 2024 The Authors.</copyright-statement><copyright-year>2024</copyright-year>\
<license license-type="open-access" xlink:href="{lic}"><ali:license_ref>{lic}</ali:license_ref><license-p>This \
is an open access article distributed under the terms of the Creative Commons Attribution License, which permits \
unrestricted use, distribution, and reproduction in any medium, provided the original work is properly cited.\
</license-p></license></permissions>
<abstract><p>{escape(abstract)}</p></abstract>
<kwd-group kwd-group-type="author">{"".join(f"<kwd>{escape(k)}</kwd>" for k in kwds)}</kwd-group>
</article-meta>
</front>
<body>{body}</body>
<back><ref-list><title>References</title><ref id="r1"><mixed-citation publication-type="journal">Example A, \
Sample B. A synthetic reference for the sample corpus. Synth Derm Case Rep. 2023;2:e001.</mixed-citation></ref>\
</ref-list></back>
</article>
"""
    return xml, figs


def make_compound_sample(out: Path, pmc: str = "PMC9000003") -> None:
    """Rewrite one article and its 2x2 compound figure only (`--only-compound`): the rest of the corpus,
    whose videos need espeak-ng, stays as committed. jats_xml is deterministic, so the article's other
    bytes do not change."""
    for i, ((pid, title), lines) in enumerate(records(ARTICLES)):
        if pid == pmc:
            xml, figs = jats_xml(i, pid, title, lines)
            (out / f"{pid}.xml").write_text(xml, encoding="utf-8")
            for fid, recipe in figs:
                if recipe[0] == "grid":
                    figure_image(f"{pid}_{fid}", recipe).save(out / f"{pid}_{fid}.jpg", quality=85)


def make_jats(out: Path) -> None:
    """Six case reports with figures saved as `<graphic href>.jpg`, plus one malformed XML file."""
    out.mkdir(parents=True)
    for i, ((pmc, title), lines) in enumerate(records(ARTICLES)):
        xml, figs = jats_xml(i, pmc, title, lines)
        (out / f"{pmc}.xml").write_text(xml, encoding="utf-8")
        for fid, recipe in figs:
            quality = 72 if recipe[0] == "video" else 85
            figure_image(f"{pmc}_{fid}", recipe).save(out / f"{pmc}_{fid}.jpg", quality=quality)
    junk = rng_for("malformed").integers(0, 256, 96, dtype=np.uint8).tobytes()
    head = b'<?xml version="1.0"?>\n<article><front><article-meta><title-group><article-title>Broken'
    (out / "PMC9000999_malformed.xml").write_bytes(head + b"\x00\xff" + junk)


# ----------------------------------------------------------------------------- teaching PDFs
def make_pdf(out: Path, name: str, title: str, lines: list[str]) -> None:
    """Flow headings, paragraphs and captioned figures over A4 pages; record the caption ground truth."""
    import pymupdf

    doc, margin, truth, nfig = pymupdf.open(), 56, [], 0
    rect = pymupdf.paper_rect("a4")
    state = {"page": None, "y": 0.0}

    def need(height: float) -> pymupdf.Page:
        if state["page"] is None or state["y"] + height > rect.height - margin:
            state["page"], state["y"] = doc.new_page(width=rect.width, height=rect.height), margin
            footer = f"Derm1M sample handout - page {doc.page_count}"
            state["page"].insert_text((margin, rect.height - 30), footer, fontsize=8, color=(0.4, 0.4, 0.4))
        return state["page"]

    def textblock(text: str, size: float, fontname: str = "helv") -> pymupdf.Rect:
        n, cur = 1, ""
        for word in text.split():
            cand = f"{cur} {word}".strip()
            if pymupdf.get_text_length(cand, fontname, size) > rect.width - 2 * margin - 4 and cur:
                n, cur = n + 1, word
            else:
                cur = cand
        height = n * size * 1.4 + size * 0.4
        page = need(height)
        box = pymupdf.Rect(margin, state["y"], rect.width - margin, state["y"] + height)
        if page.insert_textbox(box, text, fontsize=size, fontname=fontname) < 0:
            raise RuntimeError(f"text did not fit in its box: {text[:40]}")
        state["y"] = box.y1 + size * 0.6
        return box

    textblock(title, 18, "hebo")
    textblock("Teaching handout, Derm1M sample corpus. Illustrations are computer-generated.", 9, "heit")
    for line in lines:
        if line.startswith("## "):
            need(60)
            textblock(line[3:], 13, "hebo")
        elif line.startswith("fig "):
            nfig += 1
            recipe, caption = fields(line[4:])
            lesion, tone = recipe.split()
            page = need(270)  # image + a 3-line caption always fit on the same page
            img = pymupdf.Rect(rect.width / 2 - 135, state["y"], rect.width / 2 + 135, state["y"] + 202.5)
            buf = io.BytesIO()
            clinical(f"{name}_fig{nfig}", lesion, 480, 360, int(tone)).save(buf, "JPEG", quality=82)
            page.insert_image(img, stream=buf.getvalue())
            state["y"] = img.y1 + 6
            cap = textblock(f"Figure {nfig}. {caption}", 9)
            truth.append(
                {
                    "page": doc.page_count,
                    "label": f"Figure {nfig}",
                    "caption": f"Figure {nfig}. {caption}",
                    "image_bbox": [round(v, 1) for v in img],
                    "caption_bbox": [round(v, 1) for v in cap],
                }
            )
        else:
            textblock(line, 10.5)
    date = "D:20240301000000Z"
    doc.set_metadata({"title": title, "author": "Derm1M sample corpus", "creator": "scripts/make_samples.py",
                      "producer": "PyMuPDF", "creationDate": date, "modDate": date})  # fmt: skip
    doc.save(out / f"{name}.pdf", garbage=3, deflate=True, no_new_id=True)
    meta = {"pdf": f"{name}.pdf", "title": title, "pages": doc.page_count, "figures": truth}
    (out / f"{name}.captions.json").write_text(json.dumps(meta, indent=2))


def make_pdfs(out: Path) -> None:
    """Two teaching handouts plus `corrupt_handout.pdf` (a PDF header followed by garbage)."""
    out.mkdir(parents=True)
    for (name, title), lines in records(PDFS):
        make_pdf(out, name, title, lines)
    junk = rng_for("corrupt_pdf").integers(0, 256, 2048, dtype=np.uint8).tobytes()
    (out / "corrupt_handout.pdf").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + junk)


# ----------------------------------------------------------------------------- forum posts
def post_id(rng: np.random.Generator) -> str:
    return "".join("0123456789abcdefghijklmnopqrstuvwxyz"[i] for i in rng.integers(0, 36, 6))


def slug(title: str) -> str:
    return "_".join("".join(c for c in title.lower() if c.isalnum() or c == " ").split()[:8])


def post(pid: str, community: str, title: str, body: str, i: int, rng, images, replies) -> dict:
    return {"id": f"t3_{pid}", "forum": "reddit", "community": community, "title": title, "body": body,
            "author": f"u/{['throwaway', 'skinworried', 'anon_patient', 'itchy'][i % 4]}_{100 + i * 7}",
            "created_utc": 1700000000 + i * 259200 + int(rng.integers(0, 86400)), "score": int(rng.integers(1, 120)),
            "url": f"https://www.reddit.com/{community}/comments/{pid}/{slug(title)}/", "images": images,
            "replies": replies}  # fmt: skip


def make_forums(out: Path) -> list[tuple[str, str, str]]:
    """Reddit-like posts + images with real-world quirks (EXIF rotation, palette PNG, CMYK) and bad rows.

    Returns (post id, image path, expected reject reason) for the deliberately bad posts."""
    (out / "images").mkdir(parents=True)
    rng, rows, bad = rng_for("forums"), [], []
    for i, ((community, kind, title), (body, reply)) in enumerate(records(POSTS)):
        pid, images = post_id(rng), []
        for k in range(2 if i in TWO_IMAGES else 1):
            rotated = i in EXIF_ROTATED and k == 0
            size = (384, 512) if rotated else (int(rng.integers(256, 513)), int(rng.integers(256, 513)))
            im = clinical(f"forum_{pid}_{k}", kind, *size, tone=4 if kind == "vitiligo" else None)
            path = f"images/{pid}_{k + 1}.{'png' if i == PALETTE_PNG else 'jpg'}"
            if rotated:  # phone photo: stored sideways (512x384); EXIF Orientation=6 says "rotate 90 CW"
                exif = Image.Exif()
                exif[0x0112] = 6
                im.transpose(Image.ROTATE_90).save(out / path, quality=80, exif=exif.tobytes())
            elif i == PALETTE_PNG:
                im.convert("P", palette=Image.ADAPTIVE, colors=64).save(out / path)
            else:
                (im.convert("CMYK") if i == CMYK_JPEG else im).save(out / path, quality=80)
            images.append(path)
        replies = [{"author": f"u/derm_helper_{i % 3 + 1}", "flair": "Physician - Dermatology",
                    "body": reply[1:].strip(), "score": int(rng.integers(5, 300))}]  # fmt: skip
        if i % 5 == 0:
            replies.append(
                {"author": "u/random_commenter", "body": "Following, I have the same thing!", "score": 1}
            )
        rows.append(post(pid, community, title, body, i, rng, images, replies))
    (out / "images/corrupt_1.jpg").write_bytes((out / rows[0]["images"][0]).read_bytes()[:200])
    for j, (title, path, reason) in enumerate(BAD_POSTS):
        pid = post_id(rng)
        path = path.format(id=pid)
        if reason == "too_small":
            clinical(f"tiny_{pid}", "nevus", 20, 20, 1).save(out / path, quality=90)
        body = "Photo attached. Any idea what this is?"
        rows.append(post(pid, "r/AskDocs", title, body, 40 + j, rng, [path], []))
        bad.append((f"t3_{pid}", path, reason))
    text = [json.dumps(x, ensure_ascii=False) for x in rows]
    text.insert(
        11, '{"id": "t3_badjsn", "forum": "reddit", "title": "Mole changed colour, "body": unterminated'
    )
    (out / "posts.jsonl").write_text("\n".join(text) + "\n", encoding="utf-8")
    return bad


# ----------------------------------------------------------------------------- HAM10000-style dataset
def make_dataset(out: Path) -> None:
    """HAM10000-format metadata.csv (20 rows) with procedural dermoscopy images; one image is missing."""
    (out / "images").mkdir(parents=True)
    rows, lesion = [], 0
    for i, (dx, dx_type, age, sex, loc, same) in enumerate(csv.reader(HAM.strip().splitlines())):
        lesion += 0 if same == "same" else 1  # 'same': another image of the previous lesion
        image_id = f"SYN_{9000001 + i:07d}"
        rows.append([f"SYNL_{9000000 + lesion:07d}", image_id, dx, dx_type, age, sex, loc])
        if i == MISSING_ROW:
            continue
        im = dermoscopy(f"ham_{lesion}", dx)
        if same == "same":
            im = im.rotate(12, resample=Image.BICUBIC, fillcolor=(0, 0, 0))
        im.save(out / "images" / f"{image_id}.jpg", quality=88)
    with open(out / "metadata.csv", "w", newline="") as f:
        wr = csv.writer(f, lineterminator="\n")
        wr.writerow(["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"])
        wr.writerows(rows)


# ----------------------------------------------------------------------------- README, verification, main
def make_readme(out: Path, bad_posts: list[tuple[str, str, str]]) -> None:
    """Describe the corpus; the bad-input table is built from what was generated (post ids are seeded)."""
    posts = [
        json.loads(x) for x in (out / "forums/posts.jsonl").read_text().splitlines() if "t3_badjsn" not in x
    ]
    q = {i: posts[i]["images"][0] for i in (*EXIF_ROTATED, PALETTE_PNG, CMYK_JPEG)}
    rows = [
        (
            "videos/broken_upload.mp4",
            "first 30% of derm_lecture_melanoma.mp4 (no moov atom)",
            "unreadable_video",
        ),
        (
            "jats/PMC9000999_malformed.xml",
            "XML cut off mid-element, then NUL and random bytes",
            "malformed_xml",
        ),
        ("pdf/corrupt_handout.pdf", "`%PDF-1.7` header followed by random bytes", "broken_pdf"),
        ("forums/posts.jsonl line 12", "not valid JSON (unterminated string)", "invalid_json"),
    ]
    what = {"corrupt_image": "JPEG truncated after 200 bytes", "missing_file": "image path does not exist",
            "too_small": "20x20 px image"}  # fmt: skip
    rows += [(f"forums/{path} (post {pid})", what[reason], reason) for pid, path, reason in bad_posts]
    ham = f"datasets/derm_sample row {MISSING_ROW + 1} (SYN_{9000001 + MISSING_ROW:07d})"
    rows.append((ham, "metadata row whose image file does not exist", "missing_file"))
    table = "\n".join(f"| `{a}` | {b} | `{c}` |" for a, b, c in rows)
    (out / "README.md").write_text(README.format(
        W=W, H=H, FPS=FPS, table=table, rot=", ".join(f"`{q[i]}`" for i in EXIF_ROTATED),
        png=q[PALETTE_PNG], cmyk=q[CMYK_JPEG], missing=MISSING_ROW + 1))  # fmt: skip


def verify(out: Path) -> bool:
    """Decode every video, compare durations and PySceneDetect cuts with the script, check total size."""
    try:
        import cv2
        from scenedetect import ContentDetector, detect
    except ImportError:
        print("verify: skipped (needs the [media] extra: opencv-python, scenedetect)")
        return True
    ok = True
    for sj in sorted((out / "videos").glob("*.script.json")):
        truth = json.loads(sj.read_text())
        mp4 = sj.with_name(f"{truth['id']}.mp4")
        cap = cv2.VideoCapture(str(mp4))
        dur = cap.get(cv2.CAP_PROP_FRAME_COUNT) / (cap.get(cv2.CAP_PROP_FPS) or 1)
        cap.release()
        cuts = [round(s[0].seconds, 3) for s in detect(str(mp4), ContentDetector())[1:]]
        want = [s["start_s"] for s in truth["scenes"][1:]]
        good = (
            abs(dur - truth["duration_s"]) < 0.1
            and mp4.stat().st_size <= 600 * 1024
            and len(cuts) == len(want)
        )
        good = good and all(abs(a - b) <= 0.5 for a, b in zip(cuts, want, strict=True))
        ok &= good
        print(f"verify {mp4.name}: {mp4.stat().st_size // 1024} KB, {dur:.2f}s (script {truth['duration_s']}s), "
              f"cuts {cuts} vs script {want}: {'OK' if good else 'MISMATCH'}")  # fmt: skip
    cap = cv2.VideoCapture(str(out / "videos/broken_upload.mp4"))
    unreadable = not cap.isOpened() or not cap.read()[0]
    ok &= unreadable
    print(f"verify broken_upload.mp4 unreadable: {unreadable}")
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    ok &= total <= MAX_BYTES
    print(f"verify total size: {total / 2**20:.2f} MiB (limit {MAX_BYTES / 2**20:.0f} MiB)")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT, help="output folder (default: samples/)")
    ap.add_argument("--no-verify", action="store_true", help="skip the OpenCV/PySceneDetect checks")
    ap.add_argument("--only-compound", action="store_true", help="rewrite only PMC9000003 and its 2x2 figure")
    args = ap.parse_args()
    if args.only_compound:
        make_compound_sample(args.out / "jats")
        return 0
    for sub in ("videos", "jats", "pdf", "forums", "datasets"):  # only what this script owns
        shutil.rmtree(args.out / sub, ignore_errors=True)
    make_videos(args.out / "videos")
    make_jats(args.out / "jats")
    make_pdfs(args.out / "pdf")
    bad_posts = make_forums(args.out / "forums")
    make_dataset(args.out / "datasets" / "derm_sample")
    make_readme(args.out, bad_posts)
    return 0 if args.no_verify or verify(args.out) else 1


# ============================================================================= corpus texts
# Videos: '=== id | upload date | vtt or - | title', then one line per scene: 'kind:args | chapter | narration'
# (args split on ';'; photo args = lesion; skin tone 0-4; pan or still). Adjacent scenes alternate between very
# different looks (navy card, skin photo, dark-ringed scope field, white slide) so content-based cut detection
# finds every cut. Narration must be short: each scene is 4-7 s long.
VIDEOS = """
=== derm_lecture_psoriasis | 20230915 | vtt | Plaque psoriasis in 30 seconds: clinical signs and dermoscopy
title:Plaque Psoriasis; Clinical signs and dermoscopy | Introduction
  | Welcome. This short lecture reviews chronic plaque psoriasis.
photo:plaque; 1; pan | Clinical appearance | On the elbow, a sharply demarcated red plaque with silvery scale.
scope:psoriasis | Dermoscopy | Dermoscopy shows regular dotted vessels on a red background.
slide:Key features; Well-demarcated red plaques; Silvery-white scale; Elbows, knees, scalp, nails;
  Koebner phenomenon | Key features | Look for silvery scale, extensor sites, and nail pitting.
photo:plaque; 2; still | Treatment | Treat with topical steroids, vitamin D analogues, or phototherapy.

=== derm_lecture_melanoma | 20240122 | - | Melanoma or naevus? The ABCDE approach for students
title:Melanoma or Naevus?; The ABCDE approach | Introduction | Is this mole benign, or could it be melanoma?
photo:nevus; 0; pan | Benign naevus | A benign naevus is small, round, and evenly brown.
slide:The ABCDE rule; A - Asymmetry; B - Border irregularity; C - Colour variation; D - Diameter over 6 mm;
  E - Evolution | The ABCDE rule | Check asymmetry, border, colour, diameter and evolution.
photo:melanoma; 1; pan | Clinical melanoma | This back lesion is asymmetric, with a notched border.
scope:mel | Dermoscopy of melanoma | Dermoscopy shows an atypical network and a blue white veil.
title:Refer urgently; Excision and histology | Summary | Refer any suspicious lesion for excision.

=== derm_lecture_tinea | 20240610 | - | Annular rashes: tinea corporis and its mimics
title:Annular Rashes; Tinea corporis and its mimics | Introduction
  | This lecture covers tinea corporis and other annular rashes.
photo:annular; 2; pan | Tinea corporis | Tinea forms a scaly ring with an active edge and central clearing.
slide:Annular differential; Tinea corporis; Granuloma annulare; Nummular eczema; Erythema migrans;
  Subacute cutaneous lupus | Differential
  | Mimics include granuloma annulare, nummular eczema, and erythema migrans.
scope:koh | KOH microscopy | Potassium hydroxide microscopy shows branching septate hyphae.
photo:annular; 4; still | Treatment | Treat with a topical azole or terbinafine, not steroids.
"""

# Articles: '=== PMC id | title'; 'kwd:', 'abstract:', '## section', paragraphs citing [[f1]] / [[f1a]], and
# 'fig id | recipe | caption title | caption' placed where the figure floats. Recipes: clinical <lesion> <tone>,
# scope <kind>, compound <lesion a> <lesion b>, chart, video <video id> <scene index> (near-duplicate keyframe).
ARTICLES = """
=== PMC9000001 | Bullous pemphigoid presenting with tense blisters on the thighs of an 81-year-old man
kwd: bullous pemphigoid; autoimmune blistering disease; doxycycline; case report
abstract: Bullous pemphigoid is the commonest autoimmune subepidermal blistering disease of the elderly. We
  report an 81-year-old man with tense bullae on the thighs that resolved with doxycycline and topical clobetasol.
## Introduction
Bullous pemphigoid (BP) is caused by autoantibodies against the hemidesmosomal proteins BP180 and BP230. It
  typically affects people over 70 years of age and often begins with an itchy urticarial prodrome.
## Case report
An 81-year-old man presented with a six-week history of intensely pruritic, tense, fluid-filled blisters on the
  inner thighs arising on erythematous urticarial plaques ([[f1a]]). Mucous membranes were spared and the
  Nikolsky sign was negative.
fig f1 | compound bullae healed | Bullous pemphigoid before and after treatment. | (a) Tense serous bullae on an
  erythematous, urticarial base on the inner thigh at presentation. (b) The same area after six weeks of
  doxycycline and clobetasol, showing healed erosions and residual pink macules without new blisters.
Close examination showed intact bullae up to 2 cm with clear serous fluid and a few erosions ([[f2]]). Direct
  immunofluorescence showed linear IgG and C3 along the basement membrane zone, confirming BP.
fig f2 | clinical bullae 0 | Close-up of intact bullae. | Intact tense bullae filled with clear fluid, with
  adjacent erosions and surrounding erythema.
He was treated with doxycycline 200 mg daily and clobetasol propionate 0.05% cream. After six weeks no new
  blisters had formed and only post-inflammatory pink macules remained ([[f1b]]).
## Discussion
Tense rather than flaccid blisters, an elderly patient and absent mucosal involvement favour BP over pemphigus
  vulgaris. Doxycycline is a reasonable steroid-sparing first-line option in frail patients.

=== PMC9000002 | Pigmented basal cell carcinoma of the cheek mimicking nodular melanoma
kwd: basal cell carcinoma; dermoscopy; melanoma mimic; Mohs surgery
abstract: Pigmented basal cell carcinoma can be clinically confused with melanoma. Dermoscopy showing arborizing
  vessels and blue-grey ovoid nests allowed the correct diagnosis in a 67-year-old woman.
## Introduction
Basal cell carcinoma (BCC) is the most common skin cancer. Around 7% of tumours are pigmented, which may lead to
  confusion with melanoma or seborrheic keratosis.
## Case report
A 67-year-old woman with Fitzpatrick skin type II presented with a slowly enlarging pearly papule on the left
  cheek containing dark brown-grey dots ([[f1]]).
fig f1 | clinical pbcc 0 | Clinical appearance. | Pearly, translucent papule on the cheek with telangiectasia, a
  central crust and scattered grey-brown pigmented dots.
Dermoscopy revealed arborizing telangiectatic vessels, multiple blue-grey ovoid nests and a small central
  ulceration, without a pigment network ([[f2]]).
fig f2 | scope bcc | Dermoscopy of the lesion. | Arborizing vessels and blue-grey ovoid nests on a pink-white
  background, characteristic of pigmented basal cell carcinoma.
Histology of a shave biopsy confirmed nodular pigmented BCC and the lesion was cleared with Mohs micrographic
  surgery.
## Discussion
The absence of a pigment network together with arborizing vessels and blue-grey ovoid nests is highly specific
  for BCC and helps to avoid unnecessary wide excision for suspected melanoma.

=== PMC9000003 | Tinea incognito after three months of topical corticosteroid use
kwd: tinea incognito; dermatophyte; topical corticosteroids; KOH microscopy
abstract: Inappropriate use of topical corticosteroids can mask the features of a dermatophyte infection. We
  describe a 34-year-old man whose presumed eczema on the forearm was tinea incognito.
## Introduction
Tinea incognito describes a dermatophyte infection whose morphology has been modified by corticosteroids, so
  that the typical annular scaly border is lost.
## Case report
A 34-year-old man had applied betamethasone cream to an itchy forearm rash for three months. Examination showed
  a poorly defined erythematous plaque with follicular pustules and little scale ([[f1]]).
fig f1 | clinical incognito 1 | Tinea incognito on the forearm. | Ill-defined erythematous plaque with
  follicular pustules and a faint annular border after prolonged topical corticosteroid use.
Potassium hydroxide microscopy of skin scrapings demonstrated branching septate hyphae ([[f2]]), and culture
  grew Trichophyton rubrum.
fig f2 | scope koh | KOH preparation. | Direct microscopy of skin scrapings in 10% potassium hydroxide showing
  branching septate hyphae.
The steroid was stopped and oral terbinafine 250 mg daily for four weeks cleared the eruption ([[f3]]).
fig f3 | grid incognito annular scope:koh healed | Course of tinea incognito. | (a) Ill-defined plaque with
  pustules at presentation. (b) Annular scaly border two weeks after stopping the steroid. (c) KOH
  preparation with septate hyphae. (d) Cleared skin with faint post-inflammatory erythema after four weeks of
  terbinafine.
## Discussion
Any annular or asymmetric rash that worsens on topical steroids should be scraped for fungi before further
  treatment.

=== PMC9000004 | Pyoderma gangrenosum of the leg responding to ciclosporin
kwd: pyoderma gangrenosum; neutrophilic dermatosis; ciclosporin; ulcer
abstract: Pyoderma gangrenosum is a rare neutrophilic dermatosis presenting as a painful ulcer with a violaceous
  undermined edge. We report a 52-year-old woman with ulcerative colitis treated with ciclosporin.
## Introduction
Pyoderma gangrenosum (PG) is a diagnosis of exclusion, frequently associated with inflammatory bowel disease,
  rheumatoid arthritis and haematological malignancy.
## Case report
A 52-year-old woman with ulcerative colitis developed a rapidly enlarging, painful ulcer on the right shin after
  minor trauma. The ulcer had a purulent base and a violaceous, undermined border ([[f1]]).
fig f1 | clinical ulcer 2 | Pyoderma gangrenosum on the shin. | Painful ulcer with a purulent, fibrinous base
  and a violaceous, undermined border.
Biopsy from the edge showed a dense dermal neutrophilic infiltrate without vasculitis or infection.
  Ciclosporin 4 mg/kg/day was started, and the ulcer area fell steadily over twelve weeks ([[f2]]).
fig f2 | chart | Treatment response. | Ulcer area measured at baseline and at weeks 2, 4, 8 and 12 of
  ciclosporin therapy, showing progressive healing.
## Discussion
Pathergy, a violaceous undermined border and an associated systemic disease support the diagnosis. Debridement
  should be avoided because it can worsen the ulcer.

=== PMC9000005 | Recurrent erythema multiforme triggered by herpes simplex virus
kwd: erythema multiforme; target lesions; herpes simplex; aciclovir
abstract: Erythema multiforme is an acute immune-mediated eruption characterised by target lesions. Recurrent
  episodes in a 24-year-old woman were prevented by continuous aciclovir.
## Introduction
Erythema multiforme (EM) is most often triggered by herpes simplex virus infection and presents with typical
  three-zone target lesions on the extremities.
## Case report
A 24-year-old woman presented with her fourth episode of round lesions on the palms and forearms, each with a
  dusky centre, a pale oedematous ring and an erythematous outer halo ([[f1]]). Each episode followed a cold
  sore on the lip by about ten days.
fig f1 | clinical target 1 | Target lesions of erythema multiforme. | Multiple round target lesions on the
  forearm with a dusky violaceous centre, a pale ring and an erythematous outer zone.
Lesions resolved within two weeks, and daily aciclovir prophylaxis prevented further recurrences over twelve
  months.
## Discussion
Typical targets with acral distribution and minimal mucosal involvement distinguish EM minor from
  Stevens-Johnson syndrome.

=== PMC9000006 | Extensive chronic plaque psoriasis treated with narrowband UVB phototherapy
kwd: psoriasis; phototherapy; narrowband UVB; PASI
abstract: We describe a 45-year-old man with extensive chronic plaque psoriasis on the knees and trunk that
  cleared after 24 sessions of narrowband UVB phototherapy.
## Introduction
Chronic plaque psoriasis affects about 2% of the population. Phototherapy is an effective option when topical
  treatment alone is insufficient.
## Case report
A 45-year-old man presented with well-demarcated erythematous plaques covered by thick silvery scale on the
  knees and lower back, with a PASI of 14 ([[f1]]).
fig f1 | video derm_lecture_psoriasis 4 | Plaque psoriasis of the knee. | Well-demarcated erythematous plaques
  with thick silvery-white scale on the extensor surface of the knee.
He received narrowband UVB three times weekly. After 24 sessions the PASI had fallen to 2.
## Discussion
Narrowband UVB remains a safe, inexpensive treatment for moderate psoriasis and avoids systemic
  immunosuppression.
"""
AUTHORS = [("Okafor", "Adaeze"), ("Lindqvist", "Erik"), ("Sato", "Haruka"), ("Moreau", "Claire"),
           ("Patel", "Rohan"), ("Silva", "Beatriz"), ("Novak", "Tomas"), ("Haddad", "Leila")]  # fmt: skip

# PDFs: '=== file stem | title', '## heading', paragraphs, 'fig <lesion> <tone> | caption'.
PDFS = """
=== papulosquamous_handout | Papulosquamous and eczematous eruptions: a primer for students
## Psoriasis
Psoriasis is a chronic immune-mediated disease affecting about 2% of people. Chronic plaque psoriasis, the
  commonest form, produces sharply demarcated erythematous plaques with silvery scale, typically on the elbows,
  knees, scalp and lower back. Nail pitting and onycholysis are common, and up to a third of patients develop
  psoriatic arthritis.
fig plaque 1 | Plaque psoriasis on the extensor surface of the elbow showing well-demarcated erythematous
  plaques with silvery scale.
Removal of the scale reveals pinpoint bleeding (Auspitz sign), and new plaques may appear at sites of trauma
  (Koebner phenomenon). Mild disease is treated with topical corticosteroids and vitamin D analogues; extensive
  disease may need phototherapy or systemic therapy.
## Atopic dermatitis
Atopic dermatitis is an itchy, relapsing eczema that usually begins in infancy. In children and adults it
  favours the flexures: the antecubital and popliteal fossae, neck and wrists. Acute lesions are ill-defined,
  erythematous and excoriated; chronic scratching leads to lichenification.
fig eczema 2 | Atopic dermatitis in the antecubital fossa with ill-defined erythema, fine scale and linear
  excoriations.
Management rests on regular emollients, soap avoidance, topical corticosteroids for flares and topical
  calcineurin inhibitors for the face. Secondary infection with Staphylococcus aureus or herpes simplex (eczema
  herpeticum) must be recognised promptly.
## Lichen planus
Lichen planus presents with itchy, purple, polygonal, flat-topped papules, classically on the flexor wrists and
  shins. Fine white lines on the surface (Wickham striae) and lacy white patches on the buccal mucosa are
  helpful clues. Most cases resolve within two years.
fig lichen 3 | Lichen planus on the flexor wrist: violaceous flat-topped polygonal papules with fine white
  Wickham striae.

=== skin_cancer_recognition | Recognising common skin cancers in primary care
## Basal cell carcinoma
Basal cell carcinoma is the most common cancer in fair-skinned populations. It grows slowly, rarely
  metastasises, and arises on sun-exposed skin of the head and neck. The nodular type is a pearly, translucent
  papule with rolled edges and arborizing telangiectasia, often with a central ulcer that bleeds and crusts.
fig bcc 0 | Nodular basal cell carcinoma on the nose: a pearly papule with telangiectasia and a small central
  ulcer.
## Actinic keratosis and squamous cell carcinoma
Actinic keratoses are rough, scaly, erythematous macules on chronically sun-damaged skin. They are easier to
  feel than to see. A minority progress to cutaneous squamous cell carcinoma, which presents as a growing,
  tender, keratotic nodule that may ulcerate.
fig scc 1 | Squamous cell carcinoma on the dorsum of the hand: a keratotic nodule with central crust on a
  background of actinic damage.
## Melanoma
Melanoma is less common but causes most skin cancer deaths. Use the ABCDE rule: asymmetry, border
  irregularity, colour variation, diameter over 6 mm and evolution. Any changing pigmented lesion, or an 'ugly
  duckling' that looks different from the patient's other naevi, should be referred urgently for dermoscopy
  and excision.
fig melanoma 0 | Superficial spreading melanoma on the upper back: an asymmetric macule with an irregular
  notched border and several shades of brown, black and grey-blue.
"""

# Forum posts: '=== community | lesion drawn in the photo | title', the body, then '> reply' naming a diagnosis.
POSTS = """
=== r/DermatologyQuestions | annular | Itchy red ring on my forearm for 3 weeks, spreading
28M. Started as a small red spot, now it's a ring about 4 cm across with a scaly edge and clearer middle.
  Itches at night. Our new kitten has a bald patch, could that be related?
> Classic look for tinea corporis (ringworm), and the kitten is a likely source. Use clotrimazole or
  terbinafine cream twice daily until 2 weeks past clearing, and get the kitten checked by a vet.
=== r/AskDocs | eczema | My 4 year old has dry itchy patches in her elbow creases
Rough red patches inside both elbows and behind the knees, she scratches until they bleed. Worse in winter.
  Her dad has asthma.
> This sounds like atopic dermatitis (eczema). Thick fragrance-free emollient several times a day, short
  lukewarm baths, and ask her GP about a mild topical steroid for flares.
=== r/Psoriasis | plaque | Thick scaly patches on both knees, 29M
Silvery flaky plaques on both knees and a bit on my scalp for about a year. Moisturiser does nothing. My nails
  have tiny pits too.
> Symmetric plaques with silvery scale on the knees plus scalp and nail pitting is very typical of plaque
  psoriasis. A dermatologist can confirm it and start a vitamin D/steroid combination.
=== r/SkincareAddiction | acne | Painful bumps on my jawline that won't go away (22F)
Red tender bumps and some whiteheads along my jaw and chin, flaring before my period. Tried cleansers,
  nothing works.
> That pattern is hormonal acne vulgaris. Adapalene plus benzoyl peroxide is a good start; if it scars or
  persists, a doctor can discuss the combined pill, spironolactone or oral antibiotics.
=== r/DermatologyQuestions | rosacea | Red cheeks and little pimples, 45F, worse with wine
Flushing across my cheeks and nose for two years, now small red bumps and visible little veins. No
  blackheads. Hot drinks and wine make it worse.
> Flushing, papules without comedones and telangiectasia point to papulopustular rosacea. Avoid triggers, use
  daily SPF, and ask about ivermectin or metronidazole cream.
=== r/AskDocs | vitiligo | White patches spreading on my hands
34M, darker skin. Completely white patches with sharp edges on the backs of both hands, slowly getting bigger
  over six months. No itch. My aunt has thyroid disease.
> Well-defined symmetric depigmented patches without symptoms are typical of vitiligo. See a dermatologist
  early; topical steroids or tacrolimus and phototherapy work best in active disease.
=== r/AskDocs | urticaria | Hives all over after starting a new antibiotic
Raised itchy pink welts that move around, each one gone within a day. Started amoxicillin three days ago for
  a chest infection. No lip or tongue swelling.
> That's acute urticaria, probably drug-induced. Stop the amoxicillin and call your prescriber, take a
  non-sedating antihistamine, and go to A&E if your lips, tongue or breathing are affected.
=== r/DermatologyQuestions | zoster | Painful blisters in a band on one side of my chest, 67M
Burning pain under my right ribs for 3 days, now clusters of small blisters on a red band that stops exactly
  at the middle of my chest.
> A painful one-sided dermatomal band of grouped vesicles is herpes zoster (shingles). See a doctor today:
  antivirals work best within 72 hours of the rash appearing.
=== r/Parenting | impetigo | Honey-coloured crusty sores around my son's nose
5 year old, started as a small blister near his nostril and now there are golden crusts spreading to his
  chin. He's otherwise well.
> Golden honey-coloured crusts are typical of impetigo, a contagious bacterial infection. He needs to see his
  GP for an antibiotic cream or tablets and should stay off school until the crusts dry.
=== r/Parenting | molluscum | Small pearly bumps with a dimple on my daughter's tummy
Little skin-coloured shiny bumps, some have a tiny dent in the middle. Not itchy. A few more every week.
> Those are molluscum contagiosum, a harmless viral infection in children. They clear on their own over
  months; avoid squeezing them. Treatment is optional.
=== r/DermatologyQuestions | sk | Stuck-on brown warty spot on my back, 62F
Husband noticed a brown rough spot that looks like it's stuck on, about 1.5 cm. It sometimes catches on my bra
  strap. I have a few smaller ones.
> Waxy 'stuck-on' warty brown lesions in your age group are usually seborrheic keratoses, which are benign.
  Have it checked if it changes quickly or bleeds without trauma.
=== r/AskDocs | nevus | Is this mole normal? It's been there since childhood
19F, round evenly brown mole on my arm, about 4 mm, hasn't changed as far as I know.
> Small, round, symmetric and evenly pigmented: this looks like a benign melanocytic naevus. Take a photo
  with a ruler and re-check every few months for change.
=== r/AskDocs | melanoma | Mole on my calf changed shape and got darker
41F. Mole I've had for years is now bigger (about 9 mm), uneven edges, some black and grey bits. It itched
  last week.
> Change in size, an irregular border and several colours are ABCDE warning signs for melanoma. Please ask
  for an urgent (two-week) dermatology referral; don't wait.
=== r/DermatologyQuestions | bcc | Shiny bump on my nose that bleeds and never heals
70M, retired farmer. Pearly pink bump on the side of my nose for about a year, bleeds when I dry my face and
  scabs over, then comes back.
> A pearly papule with little vessels that bleeds and crusts on sun-damaged skin is most likely basal cell
  carcinoma. It is very treatable but needs a biopsy, so book with your doctor.
=== r/AskDocs | ak | Rough sandpaper spots on my bald scalp
66M. Several rough scaly pink spots on my scalp, easier to feel than to see. They come back after picking off
  the scale.
> Rough scaly spots on chronically sun-exposed skin are actinic keratoses. They're precancerous; your doctor
  can freeze them or prescribe 5-fluorouracil cream. Wear a hat.
=== r/DermatologyQuestions | lichen | Purple flat itchy bumps on my wrists
38F. Very itchy shiny purple flat bumps on the insides of my wrists and a lacy white patch inside my cheek.
> Purple polygonal flat-topped papules on the wrists plus white lacy lines in the mouth is classic lichen
  planus. A potent topical steroid helps the itch; see a dermatologist to confirm.
=== r/AskDocs | scc | Crusty growing lump on the back of my hand, 74M
Grew over about two months, now a firm lump with a hard crust in the middle, a bit tender. I had lots of sun
  working outdoors.
> A rapidly growing tender keratotic nodule on sun-damaged skin needs to be seen urgently to exclude squamous
  cell carcinoma. It usually needs excision.
=== r/DermatologyQuestions | annular | One big oval patch then lots of small ones on my trunk
24F. Two weeks ago one pink oval scaly patch on my side, now dozens of smaller ovals on my back in a sort of
  Christmas tree pattern. Mild itch.
> A herald patch followed by smaller oval patches along skin lines is pityriasis rosea. It settles by itself
  in 6-10 weeks; emollients and antihistamines help the itch.
=== r/SkincareAddiction | eczema | Itchy rash exactly under my watch strap
Red itchy bumpy rash only where my metal watch buckle touches, started a few weeks after I got it.
> That's allergic contact dermatitis, most often to nickel. Swap to a nickel-free strap, use a hydrocortisone
  cream for a week, and consider patch testing.
=== r/AskDocs | target | Target shaped spots on my palms after a cold sore
21M. Round spots on my palms and forearms with a dark middle and red rings, a week after a cold sore. Mouth is
  fine.
> Target lesions after a cold sore fit erythema multiforme (minor), triggered by herpes simplex. See a doctor
  promptly, urgently if your mouth, eyes or genitals get sore.
=== r/AskDocs | bullae | My grandmother has large blisters on her thighs
She's 84. Itchy for months, now big tense blisters full of clear fluid on red patches on her thighs and tummy.
  Her mouth is fine.
> Tense itchy blisters in an elderly person are typical of bullous pemphigoid. She needs a dermatology
  assessment and a biopsy; it is treatable with strong steroid creams or tablets.
=== r/DermatologyQuestions | annular | Ringworm from my cat? Patch on my neck
Scaly red circle on my neck, clearing in the middle, and our cat has ringworm confirmed by the vet.
> Yes, this looks like tinea corporis caught from the cat. Topical terbinafine for 2 weeks usually clears it;
  wash bedding and treat the cat at the same time.
"""
BAD_POSTS = [  # (title, image path under forums/, expected reject reason)
    ("Weird flat spot on my shoulder, should I worry?", "images/corrupt_1.jpg", "corrupt_image"),
    ("Red bumps after hiking, photo attached", "images/{id}_1.jpg", "missing_file"),
    ("Tiny dot on my finger (sorry for the small pic)", "images/{id}_tiny.jpg", "too_small"),
]

# HAM10000 rows: dx, dx_type, age (blank = unknown), sex, localization, 'same' = second image of previous lesion.
HAM = """
nv,follow_up,45.0,female,back,
nv,follow_up,45.0,female,back,same
nv,consensus,30.0,male,trunk,
nv,histo,35.0,female,lower extremity,
nv,follow_up,50.0,male,upper extremity,
nv,consensus,,unknown,unknown,
mel,histo,70.0,male,back,
mel,histo,60.0,female,lower extremity,
mel,histo,60.0,female,lower extremity,same
bkl,consensus,65.0,male,face,
bkl,histo,75.0,female,chest,
bkl,confocal,55.0,male,abdomen,
bcc,histo,70.0,male,face,
bcc,histo,80.0,female,neck,
bcc,histo,65.0,male,scalp,
akiec,histo,75.0,male,face,
akiec,histo,80.0,female,hand,
df,consensus,40.0,female,lower extremity,
vasc,consensus,35.0,male,trunk,
vasc,histo,25.0,female,acral,
"""

README = """# Sample corpus

A small, **entirely synthetic, project-made** corpus covering every source kind the pipeline ingests. It is
generated by `python scripts/make_samples.py` (deterministic and seeded; re-running rewrites it and then checks
it). No third-party data is included: images are drawn procedurally with numpy/PIL (skin-tone textures with
lesion-like shapes, dermoscopy-style circular fields, slides, one bar chart), all text was written for this
corpus, and the narration is espeak-ng speech. espeak-ng and ffmpeg are needed only to regenerate; the
generated files are committed. The illustrations are schematic, not clinical photographs: they exercise the
plumbing (parsing, pairing, dedup, filters, rejects), not model quality.

| Folder | Contents |
|---|---|
| `videos/` | 3 narrated lectures `<id>.mp4` ({W}x{H}, {FPS} fps, H.264 + AAC mono, about 26 s, 5-6 hard-cut scenes of 4-7 s: title card, panning or still lesion photo, dermoscopy/microscopy field, bullet slide); yt-dlp style `<id>.info.json` (CC BY licence, chapters = scenes); ground truth `<id>.script.json` (per scene: start/end, frames, narration, speech start/end); manual subtitles `derm_lecture_psoriasis.en.vtt` (one cue per scene, timed to the speech) |
| `jats/` | 6 JATS 1.3 case reports `PMC900000N.xml` (fake ids, DOIs under the 10.5555 test prefix, CC BY 4.0) with figures stored as `<graphic href>.jpg`. `PMC9000001` f1 is a compound (a)/(b) figure; `PMC9000003` f3 a 2x2 compound (a)-(d) with white gutters (`--only-compound` rewrites just it); `PMC9000004` f2 is a bar chart (non-skin, for the skin filter); `PMC9000006` f1 is a near-duplicate of the last scene of `derm_lecture_psoriasis` (same source image, 448x336, JPEG q72, for cross-source dedup) |
| `pdf/` | 2 A4 teaching handouts (PyMuPDF, 2 pages each), 3 embedded JPEG figures each with a caption directly below starting `Figure N.`; ground truth in `<name>.captions.json` (page, label, caption, image and caption bbox in PDF points) |
| `forums/` | `posts.jsonl`: 22 good Reddit-like posts (patient question + a reply naming a likely diagnosis) and the bad rows below; `images/`. Quirks: EXIF Orientation=6 (pixels stored sideways, 512x384; upright is 384x512) in {rot}; palette-mode PNG `{png}`; CMYK JPEG `{cmyk}`; two posts have two images |
| `datasets/derm_sample/` | HAM10000-format `metadata.csv` (20 rows; dx in nv, mel, bkl, bcc, akiec, df, vasc; two lesions have two images each; one blank age) and `images/<image_id>.jpg` (300x225, dermoscopy-like); row {missing} has no image |

## Deliberately bad inputs

Each should produce exactly one reject row with the given reason; everything else should be accepted.

| Input | What is wrong | Expected reject reason |
|---|---|---|
{table}
"""


if __name__ == "__main__":
    sys.exit(main())
