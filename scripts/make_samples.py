#!/usr/bin/env python
"""Generate the project's own synthetic SAMPLE CORPUS under ``samples/``.

Why: tests, docs and the end-to-end smoke run need small, licence-clean inputs of every source kind the
pipeline ingests (narrated lecture videos, JATS case reports, teaching PDFs, forum posts, a HAM10000-style
dataset), plus a few deliberately broken ones. Nothing is copied from third parties: every image is drawn
procedurally with numpy/PIL, every text is written here, and narration is synthesised with espeak-ng.

Run ``python scripts/make_samples.py`` (deterministic, idempotent: ``samples/`` is regenerated, README kept).
espeak-ng is needed only to regenerate; the generated media is committed. ``--no-verify`` skips the checks
(OpenCV decode, durations, PySceneDetect cuts vs the ground-truth script, total size).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
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

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "samples"
W, H, FPS, SR = 320, 240, 15, 22050  # video frame size/rate; espeak-ng's native sample rate
LEAD = 0.3  # seconds of silence before each scene's narration
SKIN = [(244, 208, 184), (229, 180, 148), (203, 146, 110), (165, 110, 78), (116, 76, 54)]  # light -> dark
MAX_BYTES = 12 * 1024 * 1024


# ----------------------------------------------------------------------------- drawing primitives
def rng_for(name: str) -> np.random.Generator:
    """Per-asset RNG keyed by name, so each asset is reproducible whatever the generation order."""
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
    pts = [(float(cx + r * a * math.cos(b) * aspect), float(cy + r * a * math.sin(b))) for a, b in zip(rad, t)]
    m = Image.new("L", (w, h))
    ImageDraw.Draw(m).polygon(pts, fill=255)
    return np.asarray(m.filter(ImageFilter.GaussianBlur(blur)), np.float32) / 255


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
        for i, r in zip(idx, rs):
            box = [xs[i] - r, ys[i] - r, xs[i] + r, ys[i] + r]
            d.ellipse(box, outline=255, width=1) if ring else d.ellipse(box, fill=255)

    layer_draw(img, draw, color, alpha, blur)


def vessels(img, rng, starts, length, color, width=2.0, alpha=0.8) -> None:
    """Branching thin red lines: telangiectasia, arborizing vessels (BCC) or fungal hyphae."""

    def draw(d: ImageDraw.ImageDraw) -> None:
        stack = [(x, y, rng.uniform(0, 2 * np.pi), length, width) for x, y in starts]
        while stack:
            x, y, a, ln, wd = stack.pop()
            x2, y2 = x + ln * math.cos(a), y + ln * math.sin(a)
            d.line([(x, y), (x2, y2)], fill=255, width=max(1, round(wd)))
            if ln > 5:
                stack += [(x2, y2, a + rng.uniform(-0.8, 0.8), ln * 0.68, wd * 0.75) for _ in range(2)]

    layer_draw(img, draw, color, alpha, 0.6)


def network(img, rng, mask, color, step=7, jitter=1.5, width=1, alpha=0.7) -> None:
    """Reticular pigment network: a jittered grid of lines clipped to the lesion mask."""
    h, w = mask.shape
    gx, gy = np.meshgrid(np.arange(-step, w + 2 * step, step), np.arange(-step, h + 2 * step, step))
    gx = gx + rng.normal(0, jitter, gx.shape)
    gy = gy + rng.normal(0, jitter, gy.shape)

    def draw(d: ImageDraw.ImageDraw) -> None:
        for i in range(gx.shape[0]):
            d.line(list(zip(gx[i].tolist(), gy[i].tolist())), fill=255, width=width)
        for j in range(gx.shape[1]):
            d.line(list(zip(gx[:, j].tolist(), gy[:, j].tolist())), fill=255, width=width)

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
def _plaques(img, rng, w, h, s, n, color, scale, rmin=0.1, rmax=0.2, irr=0.25, blur=2.5):
    for _ in range(n):
        m = blob(rng, w, h, rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h,
                 rng.uniform(rmin, rmax) * s, irr, blur)
        paint(img, m, color, 0.88)
        if scale:
            dots(img, rng, m, scale, int(m.sum() / 25), 0.5, 1.8, 0.7, 0.6)


def _papules(img, rng, w, h, s, n, color, r=(0.012, 0.03), tip=None, umbilicate=False, box=(0.1, 0.9)):
    for _ in range(n):
        cx, cy, rr = rng.uniform(*box) * w, rng.uniform(*box) * h, rng.uniform(*r) * s
        paint(img, blob(rng, w, h, cx, cy, rr, 0.1, 1.2), color, 0.85)
        if tip:
            paint(img, blob(rng, w, h, cx, cy, rr * 0.45, 0.05, 0.8), tip, 0.9)
        if umbilicate:
            paint(img, blob(rng, w, h, cx + rr * 0.1, cy, rr * 0.22, 0.05, 0.6), (170, 125, 115), 0.8)
        paint(img, blob(rng, w, h, cx - rr * 0.35, cy - rr * 0.35, rr * 0.25, 0.05, 1.0), (255, 250, 245), 0.35)


def _ring(img, rng, w, h, cx, cy, r, color, width, blur=3.0, aspect=1.0):
    outer = blob(rng, w, h, cx, cy, r, 0.15, blur, aspect)
    inner = blob(rng, w, h, cx, cy, r * (1 - width), 0.15, blur * 1.5, aspect)
    ring = np.clip(outer - inner, 0, 1)
    paint(img, ring, color, 0.85)
    return ring, inner


def draw_lesion(img, rng, kind: str) -> None:
    """Paint one clinical morphology onto a skin canvas (textbook-like, not photorealistic)."""
    h, w = img.shape[:2]
    s, cx, cy = min(w, h), w * rng.uniform(0.42, 0.58), h * rng.uniform(0.42, 0.58)
    if kind == "nevus":
        paint(img, blob(rng, w, h, cx, cy, 0.09 * s, 0.04, 1.5), (112, 72, 48))
        paint(img, blob(rng, w, h, cx, cy, 0.05 * s, 0.04, 3), (90, 56, 38), 0.5)
    elif kind == "melanoma":
        m = blob(rng, w, h, cx, cy, 0.2 * s, 0.5, 1.2, 1.3)
        paint(img, m, (122, 78, 52))
        for c in [(62, 38, 28), (28, 20, 22), (96, 106, 132), (176, 84, 74), (150, 110, 85)]:
            sub = blob(rng, w, h, cx + rng.normal(0, 0.08) * s, cy + rng.normal(0, 0.08) * s, 0.08 * s, 0.6, 3)
            paint(img, m * sub, c, 0.85)
        dots(img, rng, m, (30, 22, 22), 25, 1, 3)
    elif kind == "plaque":
        _plaques(img, rng, w, h, s, 3, (196, 80, 74), (232, 226, 220))
    elif kind in ("annular", "incognito"):
        ring, inner = _ring(img, rng, w, h, cx, cy, 0.28 * s, (192, 88, 78), 0.3, 3.0, 1.2)
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
            paint(img, blob(rng, w, h, rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h,
                            rng.uniform(0.07, 0.16) * s, 0.35, 1.5), (238, 214, 198), 0.95)
    elif kind == "acne":
        _papules(img, rng, w, h, s, 30, (200, 86, 80), tip=None)
        _papules(img, rng, w, h, s, 12, (205, 95, 85), tip=(245, 235, 200))
        dots(img, rng, np.ones((h, w)), (70, 50, 40), 15, 0.8, 1.4)
    elif kind == "rosacea":
        paint(img, np.clip(noise(rng, h, w, 90) + 0.6, 0, 1), (214, 108, 102), 0.55)
        vessels(img, rng, [(rng.uniform(0, w), rng.uniform(0, h)) for _ in range(6)], 0.08 * s, (180, 50, 60), 1)
        _papules(img, rng, w, h, s, 10, (200, 80, 78), r=(0.01, 0.02))
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
        _papules(img, rng, w, h, s, 12, (238, 214, 204), r=(0.02, 0.035), umbilicate=True, box=(0.25, 0.75))
    elif kind == "lichen":
        _papules(img, rng, w, h, s, 25, (132, 82, 112), r=(0.02, 0.04))
        vessels(img, rng, [(cx, cy)] * 3, 0.08 * s, (236, 226, 230), 1, 0.5)
    elif kind == "eczema":
        paint(img, np.clip(noise(rng, h, w, 70) + 0.3, 0, 1), (208, 110, 100), 0.6)
        vessels(img, rng, [(rng.uniform(0, w), rng.uniform(0, h)) for _ in range(8)], 0.03 * s, (150, 50, 45), 1)
        dots(img, rng, np.ones((h, w)), (232, 214, 200), 200, 0.6, 1.5, 0.5)
    elif kind == "bullae":
        _plaques(img, rng, w, h, s, 2, (206, 104, 96), None, 0.15, 0.25, blur=6)
        for _ in range(4):
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
    elif kind == "healed":
        _plaques(img, rng, w, h, s, 3, (214, 150, 138), None, 0.05, 0.09, blur=4)
    else:
        raise ValueError(f"unknown lesion kind {kind!r}")


def clinical(name: str, kind: str, w: int = 480, h: int = 360, tone: int | None = None) -> Image.Image:
    """A 'clinical photo': skin background plus one morphology; same name -> same pixels."""
    rng = rng_for(name)
    img = skin(rng, w, h, int(rng.integers(0, 4)) if tone is None else tone)
    draw_lesion(img, rng, kind)
    return finish(img, rng)


def dermoscopy(name: str, kind: str, w: int = 300, h: int = 225) -> Image.Image:
    """Dermoscopy/microscopy-style image: lesion pattern inside a dark circular field of view."""
    rng = rng_for(name)
    s, cx, cy = min(w, h), w / 2 + rng.normal(0, 6), h / 2 + rng.normal(0, 6)
    if kind == "koh":
        img = np.broadcast_to(np.array([196, 202, 214], np.float32), (h, w, 3)).copy()
        img += noise(rng, h, w, 20)[..., None] * 8
        dots(img, rng, np.ones((h, w)), (160, 166, 186), 18, 10, 22, 0.5, ring=True)
        vessels(img, rng, [(rng.uniform(0, w), rng.uniform(0, h)) for _ in range(4)], 0.18 * s, (70, 74, 92), 2)
    else:
        img = skin(rng, w, h, 0) * np.array([0.98, 0.9, 0.92], np.float32)
        m = blob(rng, w, h, cx, cy, (0.38 if kind == "mel" else 0.3) * s, 0.45 if kind == "mel" else 0.1, 4)
        if kind in ("nv", "mel"):
            paint(img, m, (150, 100, 70) if kind == "nv" else (128, 82, 58), 0.85)
            network(img, rng, m, (80, 50, 36), 7 if kind == "nv" else 9, 1.2 if kind == "nv" else 3.5,
                    1 if kind == "nv" else 2)
            if kind == "mel":
                paint(img, m * blob(rng, w, h, cx + 0.1 * s, cy, 0.15 * s, 0.5, 8), (118, 132, 164), 0.75)
                paint(img, m * blob(rng, w, h, cx - 0.15 * s, cy + 0.05 * s, 0.1 * s, 0.5, 6), (226, 214, 214), 0.5)
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
            layer_draw(img, lambda d: [d.ellipse([x - 1.3, y - 1.3, x + 1.3, y + 1.3], fill=255) for x, y in pts],
                       (150, 22, 38), 0.9, 0.5)
            dots(img, rng, np.ones((h, w)), (240, 234, 230), 20, 3, 8, 0.5, 3)
        else:
            raise ValueError(f"unknown dermoscopy kind {kind!r}")
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot(xx - w / 2, yy - h / 2) / (s / 2 * 0.97)
    img *= (np.clip((1 - r) * 15, 0, 1) * (1 - 0.3 * np.clip(r, 0, 1) ** 3))[..., None]
    return finish(img, rng, light=False)


def text_lines(d: ImageDraw.ImageDraw, text: str, f, maxw: float) -> list[str]:
    """Greedy word wrap by rendered width."""
    lines, cur = [], ""
    for word in text.split():
        cand = f"{cur} {word}".strip()
        if d.textlength(cand, font=f) <= maxw or not cur:
            cur = cand
        else:
            lines, cur = lines + [cur], word
    return lines + [cur]


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
    d.text((w / 2, h - 22), "Derm1M sample lecture (synthetic)", font=font(10), fill=(120, 140, 180), anchor="ma")
    return im


def bullet_slide(title: str, bullets: list[str], w: int = W, h: int = H) -> Image.Image:
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
    d, vmax = ImageDraw.Draw(im), max(values) * 1.15
    d.text((w / 2, 14), title, font=font(18), fill="black", anchor="ma")
    d.line([(x0, y0), (x0, y1), (x1, y1)], fill="black", width=2)
    for k in range(5):
        v = vmax * k / 4
        y = y1 - (y1 - y0) * k / 4
        d.line([(x0 - 5, y), (x0, y)], fill="black")
        d.text((x0 - 8, y), f"{v:.0f}", font=font(12), fill="black", anchor="rm")
    bw = (x1 - x0) / len(values)
    for i, (lab, v) in enumerate(zip(labels, values)):
        bx = x0 + bw * i + bw * 0.2
        d.rectangle([bx, y1 - (y1 - y0) * v / vmax, bx + bw * 0.6, y1], fill=(52, 96, 168))
        d.text((bx + bw * 0.3, y1 + 8), lab, font=font(13), fill="black", anchor="ma")
    d.text((x0 - 40, y0 - 18), ylabel, font=font(13), fill="black", anchor="lm")
    return im


def jpeg_bytes(im: Image.Image, quality: int = 85, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, **kw)
    return buf.getvalue()


# ----------------------------------------------------------------------------- videos
# Scene = (kind, arg, chapter title, narration). Adjacent scenes alternate between very different looks (navy
# card, skin photo, dark-ringed scope field, white slide) so a content-based cut detector finds every cut.
VIDEOS = [
    {"id": "derm_lecture_psoriasis", "date": "20230915", "vtt": True,
     "title": "Plaque psoriasis in 30 seconds: clinical signs and dermoscopy",
     "scenes": [
         ("title", ("Plaque Psoriasis", "Clinical signs and dermoscopy"), "Introduction",
          "Welcome. This short lecture reviews chronic plaque psoriasis."),
         ("photo", ("plaque", 1, True), "Clinical appearance",
          "On the elbow, a sharply demarcated red plaque with silvery scale."),
         ("scope", "psoriasis", "Dermoscopy",
          "Dermoscopy shows regular dotted vessels on a red background."),
         ("slide", ("Key features", ["Well-demarcated red plaques", "Silvery-white scale",
                                     "Elbows, knees, scalp, nails", "Koebner phenomenon"]), "Key features",
          "Look for silvery scale, extensor sites, and nail pitting."),
         ("photo", ("plaque", 2, False), "Treatment",
          "Treat with topical steroids, vitamin D analogues, or phototherapy."),
     ]},
    {"id": "derm_lecture_melanoma", "date": "20240122", "vtt": False,
     "title": "Melanoma or naevus? The ABCDE approach for students",
     "scenes": [
         ("title", ("Melanoma or Naevus?", "The ABCDE approach"), "Introduction",
          "Is this mole benign, or could it be melanoma?"),
         ("photo", ("nevus", 0, True), "Benign naevus",
          "A benign naevus is small, round, and evenly brown."),
         ("slide", ("The ABCDE rule", ["A - Asymmetry", "B - Border irregularity", "C - Colour variation",
                                       "D - Diameter over 6 mm", "E - Evolution"]), "The ABCDE rule",
          "Check asymmetry, border, colour, diameter and evolution."),
         ("photo", ("melanoma", 1, True), "Clinical melanoma",
          "This back lesion is asymmetric, with a notched border."),
         ("scope", "mel", "Dermoscopy of melanoma",
          "Dermoscopy shows an atypical network and a blue white veil."),
         ("title", ("Refer urgently", "Excision and histology"), "Summary",
          "Refer any suspicious lesion for excision."),
     ]},
    {"id": "derm_lecture_tinea", "date": "20240610", "vtt": False,
     "title": "Annular rashes: tinea corporis and its mimics",
     "scenes": [
         ("title", ("Annular Rashes", "Tinea corporis and its mimics"), "Introduction",
          "This lecture covers tinea corporis and other annular rashes."),
         ("photo", ("annular", 2, True), "Tinea corporis",
          "Tinea forms a scaly ring with an active edge and central clearing."),
         ("slide", ("Annular differential", ["Tinea corporis", "Granuloma annulare", "Nummular eczema",
                                             "Erythema migrans", "Subacute cutaneous lupus"]), "Differential",
          "Mimics include granuloma annulare, nummular eczema, and erythema migrans."),
         ("scope", "koh", "KOH microscopy",
          "Potassium hydroxide microscopy shows branching septate hyphae."),
         ("photo", ("annular", 4, False), "Treatment",
          "Treat with a topical azole or terbinafine, not steroids."),
     ]},
]


def tool(name: str) -> str:
    """Locate ffmpeg (imageio-ffmpeg's bundled binary first) or espeak-ng; fail with a clear message."""
    if name == "ffmpeg":
        try:
            import imageio_ffmpeg

            return imageio_ffmpeg.get_ffmpeg_exe()
        except Exception:  # noqa: BLE001 - any failure just means "use PATH"
            pass
    path = shutil.which(name)
    if not path:
        sys.exit(f"make_samples: '{name}' not found on PATH; install it (apt-get install {name}) to regenerate media")
    return path


def speak(text: str, tmp: Path) -> np.ndarray:
    """espeak-ng (en-us, 150 wpm) -> int16 samples with leading/trailing silence trimmed."""
    wav = tmp / f"tts_{zlib.crc32(text.encode())}.wav"
    subprocess.run([tool("espeak-ng"), "-v", "en-us", "-s", "150", "-w", str(wav), text], check=True)
    with wave.open(str(wav)) as f:
        assert f.getframerate() == SR and f.getnchannels() == 1, "unexpected espeak-ng output format"
        pcm = np.frombuffer(f.readframes(f.getnframes()), np.int16)
    loud = np.nonzero(np.abs(pcm) > 300)[0]
    return pcm[loud[0]: loud[-1] + 1]


def scene_still(vid: str, k: int, scene: tuple) -> Image.Image:
    """The still image of a non-panning scene (also reused as a near-duplicate JATS figure)."""
    kind, arg = scene[0], scene[1]
    if kind == "title":
        return title_card(*arg)
    if kind == "slide":
        return bullet_slide(*arg)
    if kind == "scope":
        return dermoscopy(f"{vid}_s{k}", arg, W, H)
    return clinical(f"{vid}_s{k}", arg[0], 480, 360, arg[1]).resize((W, H), Image.LANCZOS)


def scene_frames(vid: str, k: int, scene: tuple, n: int):
    """Yield `n` RGB frames: a slow diagonal pan over a larger photo, or a repeated still."""
    if scene[0] == "photo" and scene[1][2]:
        big = np.asarray(clinical(f"{vid}_s{k}", scene[1][0], W + 96, H + 72, scene[1][1]))
        for i in range(n):
            x, y = round(96 * i / (n - 1)), round(72 * i / (n - 1))
            yield np.ascontiguousarray(big[y: y + H, x: x + W])
        return
    still = np.asarray(scene_still(vid, k, scene))
    for _ in range(n):
        yield still


def vtt_time(t: float) -> str:
    return f"{int(t // 3600):02d}:{int(t % 3600 // 60):02d}:{t % 60:06.3f}"


def make_video(spec: dict, out: Path, tmp: Path) -> dict:
    """Render one narrated lecture: per-scene speech padded to the scene, frames piped to ffmpeg."""
    vid, audio, scenes, t = spec["id"], [], [], 0.0
    for k, sc in enumerate(spec["scenes"]):
        pcm = speak(sc[3], tmp)
        speech = len(pcm) / SR
        if speech + LEAD > 6.8:
            raise ValueError(f"{vid} scene {k}: narration {speech:.1f}s is too long for a <=7 s scene")
        n = min(7 * FPS, max(4 * FPS, math.ceil((speech + LEAD + 0.7) * FPS)))
        pad = np.zeros(n * SR // FPS, np.int16)
        pad[int(LEAD * SR): int(LEAD * SR) + len(pcm)] = pcm
        audio.append(pad)
        end = t + n / FPS
        scenes.append({"index": k, "start_s": round(t, 3), "end_s": round(end, 3), "frames": n,
                       "kind": sc[0], "chapter": sc[2], "narration": sc[3],
                       "speech_start_s": round(t + LEAD, 3), "speech_end_s": round(t + LEAD + speech, 3)})
        t = end
    wav = tmp / f"{vid}.wav"
    with wave.open(str(wav), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(SR)
        f.writeframes(np.concatenate(audio).tobytes())
    mp4 = out / f"{vid}.mp4"
    cmd = [tool("ffmpeg"), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}",
           "-r", str(FPS), "-i", "-", "-i", str(wav), "-map", "0:v", "-map", "1:a", "-c:v", "libx264",
           "-preset", "slow", "-crf", "23", "-maxrate", "160k", "-bufsize", "320k", "-pix_fmt", "yuv420p",
           "-threads", "1", "-c:a", "aac", "-b:a", "32k", "-ac", "1", "-map_metadata", "-1",
           "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact", str(mp4)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)  # default mp4 muxing: moov atom at the END
    for k, sc in enumerate(spec["scenes"]):
        for frame in scene_frames(vid, k, sc, scenes[k]["frames"]):
            proc.stdin.write(frame.tobytes())
    proc.stdin.close()
    if proc.wait():
        raise RuntimeError(f"ffmpeg failed for {vid}")
    (out / f"{vid}.script.json").write_text(json.dumps(
        {"id": vid, "fps": FPS, "width": W, "height": H, "duration_s": round(t, 3), "scenes": scenes}, indent=2))
    description = (f"{spec['title']}. A short narrated teaching clip from the Derm1M sample corpus. "
                   "Chapters: " + "; ".join(f"{vtt_time(s['start_s'])[3:8]} {s['chapter']}" for s in scenes)
                   + ". All images are computer-generated illustrations, not patient photographs.")
    info = {"id": vid, "title": spec["title"], "fulltitle": spec["title"], "description": description,
            "channel": "Derm1M Sample Lectures", "channel_id": "UCderm1msamplelectures0",
            "uploader": "Derm1M Sample Lectures", "uploader_id": "@derm1m-samples",
            "duration": round(t), "duration_string": f"{int(t // 60)}:{round(t) % 60:02d}",
            "license": "Creative Commons Attribution license (reuse allowed)",
            "webpage_url": f"https://www.youtube.com/watch?v={vid}", "upload_date": spec["date"],
            "language": "en", "categories": ["Education"], "tags": ["dermatology", "lecture", scenes[1]["chapter"]],
            "ext": "mp4", "width": W, "height": H, "fps": FPS, "vcodec": "avc1", "acodec": "mp4a",
            "chapters": [{"start_time": s["start_s"], "end_time": s["end_s"], "title": s["chapter"]}
                         for s in scenes],
            "subtitles": {"en": [{"ext": "vtt", "name": "English"}]} if spec["vtt"] else {},
            "automatic_captions": {}}
    (out / f"{vid}.info.json").write_text(json.dumps(info, indent=2))
    if spec["vtt"]:
        cues = [f"{i + 1}\n{vtt_time(s['speech_start_s'])} --> {vtt_time(s['speech_end_s'])}\n{s['narration']}\n"
                for i, s in enumerate(scenes)]
        (out / f"{vid}.en.vtt").write_text("WEBVTT\nKind: captions\nLanguage: en\n\n" + "\n".join(cues))
    return info


def make_videos(out: Path) -> None:
    """Three narrated lectures plus `broken_upload.mp4` (first 30% of a good file: no moov atom)."""
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        for spec in VIDEOS:
            make_video(spec, out, Path(tmp))
    good = (out / "derm_lecture_melanoma.mp4").read_bytes()
    (out / "broken_upload.mp4").write_bytes(good[: len(good) * 3 // 10])


# ----------------------------------------------------------------------------- JATS case reports
# Figure = (fig id, image recipe, caption title, caption text). "[[f1]]" in a paragraph becomes an xref;
# "FIG:f1" as a paragraph places the <fig> there (PMC puts figs inside the citing <sec>).
ARTICLES = [
    ("PMC9000001", "Bullous pemphigoid presenting with tense blisters on the thighs of an 81-year-old man",
     ["bullous pemphigoid", "autoimmune blistering disease", "doxycycline", "case report"],
     "Bullous pemphigoid is the commonest autoimmune subepidermal blistering disease of the elderly. We report "
     "an 81-year-old man with tense bullae on the thighs that resolved with doxycycline and topical clobetasol.",
     [("Introduction", ["Bullous pemphigoid (BP) is caused by autoantibodies against the hemidesmosomal proteins "
                        "BP180 and BP230. It typically affects people over 70 years of age and often begins "
                        "with an itchy urticarial prodrome before blisters appear."]),
      ("Case report", ["An 81-year-old man presented with a six-week history of intensely pruritic, tense, "
                       "fluid-filled blisters on the inner thighs arising on erythematous urticarial plaques "
                       "([[f1a]]). Mucous membranes were spared and the Nikolsky sign was negative.", "FIG:f1",
                       "Close examination showed intact bullae up to 2 cm with clear serous fluid and a few "
                       "erosions ([[f2]]). Direct immunofluorescence showed linear IgG and C3 along the "
                       "basement membrane zone, confirming BP.", "FIG:f2",
                       "He was treated with doxycycline 200 mg daily and clobetasol propionate 0.05% cream. "
                       "After six weeks no new blisters had formed and only post-inflammatory pink macules "
                       "remained ([[f1b]])."]),
      ("Discussion", ["Tense rather than flaccid blisters, an elderly patient and absent mucosal involvement "
                      "favour BP over pemphigus vulgaris. Doxycycline is a reasonable steroid-sparing first "
                      "line option in frail patients."])],
     [("f1", ("compound", "bullae", "healed"), "Bullous pemphigoid before and after treatment.",
       "(a) Tense serous bullae on an erythematous, urticarial base on the inner thigh at presentation. "
       "(b) The same area after six weeks of doxycycline and clobetasol, showing healed erosions and residual "
       "pink macules without new blisters."),
      ("f2", ("clinical", "bullae", 0), "Close-up of intact bullae.",
       "Intact tense bullae filled with clear fluid, with adjacent erosions and surrounding erythema.")]),
    ("PMC9000002", "Pigmented basal cell carcinoma of the cheek mimicking nodular melanoma",
     ["basal cell carcinoma", "dermoscopy", "melanoma mimic", "Mohs surgery"],
     "Pigmented basal cell carcinoma can be clinically confused with melanoma. Dermoscopy showing arborizing "
     "vessels and blue-grey ovoid nests allowed the correct diagnosis in a 67-year-old woman.",
     [("Introduction", ["Basal cell carcinoma (BCC) is the most common skin cancer. Around 7% of tumours are "
                        "pigmented, which may lead to confusion with melanoma or seborrheic keratosis."]),
      ("Case report", ["A 67-year-old woman with Fitzpatrick skin type II presented with a slowly enlarging "
                       "pearly papule on the left cheek containing dark brown-grey dots ([[f1]]).", "FIG:f1",
                       "Dermoscopy revealed arborizing telangiectatic vessels, multiple blue-grey ovoid nests and "
                       "a small central ulceration, without a pigment network ([[f2]]).", "FIG:f2",
                       "Histology of a shave biopsy confirmed nodular pigmented BCC and the lesion was cleared "
                       "with Mohs micrographic surgery."]),
      ("Discussion", ["The absence of a pigment network together with arborizing vessels and blue-grey ovoid "
                      "nests is highly specific for BCC and helps to avoid unnecessary wide excision for "
                      "suspected melanoma."])],
     [("f1", ("clinical", "pbcc", 0), "Clinical appearance.",
       "Pearly, translucent papule on the cheek with telangiectasia, a central crust and scattered grey-brown "
       "pigmented dots."),
      ("f2", ("scope", "bcc"), "Dermoscopy of the lesion.",
       "Arborizing vessels and blue-grey ovoid nests on a pink-white background, characteristic of pigmented "
       "basal cell carcinoma.")]),
    ("PMC9000003", "Tinea incognito after three months of topical corticosteroid use",
     ["tinea incognito", "dermatophyte", "topical corticosteroids", "KOH microscopy"],
     "Inappropriate use of topical corticosteroids can mask the features of a dermatophyte infection. We "
     "describe a 34-year-old man whose 'eczema' on the forearm was tinea incognito.",
     [("Introduction", ["Tinea incognito describes a dermatophyte infection whose morphology has been modified "
                        "by corticosteroids, so that the typical annular scaly border is lost."]),
      ("Case report", ["A 34-year-old man had applied betamethasone cream to an itchy forearm rash for three "
                       "months. Examination showed a poorly defined erythematous plaque with follicular pustules "
                       "and little scale ([[f1]]).", "FIG:f1",
                       "Potassium hydroxide microscopy of skin scrapings demonstrated branching septate hyphae "
                       "([[f2]]), and culture grew Trichophyton rubrum.", "FIG:f2",
                       "The steroid was stopped and oral terbinafine 250 mg daily for four weeks cleared the "
                       "eruption."]),
      ("Discussion", ["Any annular or asymmetric rash that worsens on topical steroids should be scraped for "
                      "fungi before further treatment."])],
     [("f1", ("clinical", "incognito", 1), "Tinea incognito on the forearm.",
       "Ill-defined erythematous plaque with follicular pustules and a faint annular border after prolonged "
       "topical corticosteroid use."),
      ("f2", ("scope", "koh"), "KOH preparation.",
       "Direct microscopy of skin scrapings in 10% potassium hydroxide showing branching septate hyphae.")]),
    ("PMC9000004", "Pyoderma gangrenosum of the leg responding to ciclosporin",
     ["pyoderma gangrenosum", "neutrophilic dermatosis", "ciclosporin", "ulcer"],
     "Pyoderma gangrenosum is a rare neutrophilic dermatosis presenting as a painful ulcer with a violaceous "
     "undermined edge. We report a 52-year-old woman with ulcerative colitis treated with ciclosporin.",
     [("Introduction", ["Pyoderma gangrenosum (PG) is a diagnosis of exclusion, frequently associated with "
                        "inflammatory bowel disease, rheumatoid arthritis and haematological malignancy."]),
      ("Case report", ["A 52-year-old woman with ulcerative colitis developed a rapidly enlarging, painful ulcer "
                       "on the right shin after minor trauma. The ulcer had a purulent base and a violaceous, "
                       "undermined border ([[f1]]).", "FIG:f1",
                       "Biopsy from the edge showed a dense dermal neutrophilic infiltrate without vasculitis or "
                       "infection. Ciclosporin 4 mg/kg/day was started, and the ulcer area fell steadily over "
                       "twelve weeks ([[f2]]).", "FIG:f2"]),
      ("Discussion", ["Pathergy, a violaceous undermined border and an associated systemic disease support the "
                      "diagnosis. Debridement should be avoided because it can worsen the ulcer."])],
     [("f1", ("clinical", "ulcer", 2), "Pyoderma gangrenosum on the shin.",
       "Painful ulcer with a purulent, fibrinous base and a violaceous, undermined border."),
      ("f2", ("chart",), "Treatment response.",
       "Ulcer area measured at baseline and at weeks 2, 4, 8 and 12 of ciclosporin therapy, showing progressive "
       "healing.")]),
    ("PMC9000005", "Recurrent erythema multiforme triggered by herpes simplex virus",
     ["erythema multiforme", "target lesions", "herpes simplex", "aciclovir"],
     "Erythema multiforme is an acute immune-mediated eruption characterised by target lesions. Recurrent "
     "episodes in a 24-year-old woman were prevented by continuous aciclovir.",
     [("Introduction", ["Erythema multiforme (EM) is most often triggered by herpes simplex virus infection and "
                        "presents with typical three-zone target lesions on the extremities."]),
      ("Case report", ["A 24-year-old woman presented with her fourth episode of round lesions on the palms and "
                       "forearms, each with a dusky centre, a pale oedematous ring and an erythematous outer "
                       "halo ([[f1]]). Each episode followed a cold sore on the lip by about ten days.", "FIG:f1",
                       "Lesions resolved within two weeks, and daily aciclovir prophylaxis prevented further "
                       "recurrences over twelve months."]),
      ("Discussion", ["Typical targets with acral distribution and minimal mucosal involvement distinguish EM "
                      "minor from Stevens-Johnson syndrome."])],
     [("f1", ("clinical", "target", 1), "Target lesions of erythema multiforme.",
       "Multiple round target lesions on the forearm with a dusky violaceous centre, a pale ring and an "
       "erythematous outer zone.")]),
    ("PMC9000006", "Extensive chronic plaque psoriasis treated with narrowband UVB phototherapy",
     ["psoriasis", "phototherapy", "narrowband UVB", "PASI"],
     "We describe a 45-year-old man with extensive chronic plaque psoriasis on the knees and trunk that "
     "cleared after 24 sessions of narrowband UVB phototherapy.",
     [("Introduction", ["Chronic plaque psoriasis affects about 2% of the population. Phototherapy is an "
                        "effective option when topical treatment alone is insufficient."]),
      ("Case report", ["A 45-year-old man presented with well-demarcated erythematous plaques covered by thick "
                       "silvery scale on the knees and lower back, with a PASI of 14 ([[f1]]).", "FIG:f1",
                       "He received narrowband UVB three times weekly. After 24 sessions PASI had fallen to 2."]),
      ("Discussion", ["Narrowband UVB remains a safe, inexpensive treatment for moderate psoriasis and avoids "
                      "systemic immunosuppression."])],
     [("f1", ("video", "derm_lecture_psoriasis", 4), "Plaque psoriasis of the knee.",
       "Well-demarcated erythematous plaques with thick silvery-white scale on the extensor surface of the knee.")]),
]
AUTHORS = [("Okafor", "Adaeze"), ("Lindqvist", "Erik"), ("Sato", "Haruka"), ("Moreau", "Claire"),
           ("Patel", "Rohan"), ("Silva", "Beatriz"), ("Novak", "Tomas"), ("Haddad", "Leila")]


def figure_image(name: str, recipe: tuple) -> Image.Image:
    """Render a JATS figure from its recipe (clinical, scope, compound panels, chart or video keyframe)."""
    kind = recipe[0]
    if kind == "clinical":
        return clinical(name, recipe[1], 640, 480, recipe[2])
    if kind == "scope":
        return dermoscopy(name, recipe[1], 600, 450)
    if kind == "chart":
        return bar_chart("Ulcer area during ciclosporin therapy", ["Week 0", "2", "4", "8", "12"],
                         [18.5, 14.2, 9.1, 4.3, 0.8], "Ulcer area (sq cm)")
    if kind == "compound":
        im = Image.new("RGB", (900, 360), "white")
        for i, k in enumerate(recipe[1:]):
            im.paste(clinical(f"{name}_{k}", k, 440, 330, 0), (7 + i * 446, 15))
            d = ImageDraw.Draw(im)
            d.rectangle([12 + i * 446, 20, 40 + i * 446, 50], fill="white")
            d.text((26 + i * 446, 35), "ab"[i], font=font(22), fill="black", anchor="mm")
        return im
    # Near-duplicate of a video keyframe: same source pixels, resized and re-encoded at another quality.
    vid, k = recipe[1], recipe[2]
    spec = next(v for v in VIDEOS if v["id"] == vid)
    return clinical(f"{vid}_s{k}", spec["scenes"][k][1][0], 480, 360, spec["scenes"][k][1][1]).resize((448, 336))


def jats_xml(i: int, art: tuple) -> str:
    """Serialise one article following JATS 1.3 (PMC OA) structure."""
    pmc, title, kwds, abstract, sections, figs = art
    num = pmc[3:]
    figmap = {f[0]: f for f in figs}

    def para(text: str) -> str:
        if text.startswith("FIG:"):
            fid, _, ftitle, fcap = figmap[text[4:]]
            n = fid[1:]
            return (f'<fig id="{fid}" position="float"><label>Figure {n}</label><caption><title>{escape(ftitle)}'
                    f'</title><p>{escape(fcap)}</p></caption><graphic xlink:href="{pmc}_{fid}"/></fig>')
        out = escape(text)
        for fid in figmap:
            n = fid[1:]
            for suffix in ("a", "b", ""):
                out = out.replace(f"[[{fid}{suffix}]]", f'<xref ref-type="fig" rid="{fid}">Figure {n}{suffix}</xref>')
        return f"<p>{out}</p>"

    authors = "".join(
        f'<contrib contrib-type="author"><name><surname>{s}</surname><given-names>{g}</given-names></name>'
        f'<xref ref-type="aff" rid="aff1"/></contrib>' for s, g in (AUTHORS[(i + j) % len(AUTHORS)] for j in range(3)))
    body = "".join(f'<sec id="s{j + 1}"><title>{escape(t)}</title>{"".join(para(p) for p in ps)}</sec>'
                   for j, (t, ps) in enumerate(sections))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE article PUBLIC "-//NLM//DTD JATS (Z39.96) Journal Archiving and Interchange DTD v1.3 20210610//EN" "JATS-archivearticle1-3.dtd">
<article xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:mml="http://www.w3.org/1998/Math/MathML" \
xmlns:ali="http://www.niso.org/schemas/ali/1.0/" article-type="case-report" dtd-version="1.3" xml:lang="en">
<front>
<journal-meta><journal-id journal-id-type="nlm-ta">Synth Derm Case Rep</journal-id><journal-title-group>\
<journal-title>Synthetic Dermatology Case Reports</journal-title></journal-title-group>\
<publisher><publisher-name>Derm1M Sample Press</publisher-name></publisher></journal-meta>
<article-meta>
<article-id pub-id-type="pmc">{pmc}</article-id>
<article-id pub-id-type="pmid">{99000000 + int(num) % 1000}</article-id>
<article-id pub-id-type="doi">10.5555/sdcr.2024.{int(num) % 1000:04d}</article-id>
<article-categories><subj-group subj-group-type="heading"><subject>Case Report</subject></subj-group>\
</article-categories>
<title-group><article-title>{escape(title)}</article-title></title-group>
<contrib-group>{authors}</contrib-group>
<aff id="aff1">Department of Dermatology, Example University Hospital, Exampleton</aff>
<pub-date pub-type="epub"><day>{10 + i}</day><month>{1 + i}</month><year>2024</year></pub-date>
<volume>3</volume><elocation-id>e{int(num) % 1000:03d}</elocation-id>
<permissions><copyright-statement>© 2024 The Authors.</copyright-statement><copyright-year>2024</copyright-year>\
<license license-type="open-access" xlink:href="https://creativecommons.org/licenses/by/4.0/">\
<ali:license_ref>https://creativecommons.org/licenses/by/4.0/</ali:license_ref><license-p>This is an open access \
article distributed under the terms of the Creative Commons Attribution License, which permits unrestricted use, \
distribution, and reproduction in any medium, provided the original work is properly cited.</license-p></license>\
</permissions>
<abstract><p>{escape(abstract)}</p></abstract>
<kwd-group kwd-group-type="author">{"".join(f"<kwd>{escape(k)}</kwd>" for k in kwds)}</kwd-group>
</article-meta>
</front>
<body>{body}</body>
<back><ref-list><title>References</title><ref id="r1"><mixed-citation publication-type="journal">\
Example A, Sample B. A synthetic reference for the sample corpus. Synth Derm Case Rep. 2023;2:e001.\
</mixed-citation></ref></ref-list></back>
</article>
"""


def make_jats(out: Path) -> None:
    """Six case reports with figures as `<graphic href>.jpg`, plus one malformed XML file."""
    out.mkdir(parents=True)
    for i, art in enumerate(ARTICLES):
        (out / f"{art[0]}.xml").write_text(jats_xml(i, art), encoding="utf-8")
        for fid, recipe, _, _ in art[5]:
            im = figure_image(f"{art[0]}_{fid}", recipe)
            im.save(out / f"{art[0]}_{fid}.jpg", quality=72 if recipe[0] == "video" else 85)
    junk = rng_for("malformed").integers(0, 256, 96, dtype=np.uint8).tobytes()
    (out / "PMC9000999_malformed.xml").write_bytes(
        b'<?xml version="1.0"?>\n<article><front><article-meta><title-group><article-title>Broken' + b"\x00\xff" + junk)
