"""Hand-crafted image features for the offline image-type classifier (no weights to download).

Each feature is a number in [0, 1] computed on a small copy of the image, chosen because it separates one
kind of figure from another in biomedical papers and teaching material:

- skin: pixels on the skin locus in CIELAB: hue angle h_ab in [-5, 80] degrees and chroma C* in [6, 50],
  at any lightness L* >= 10. Skin of every tone lies there (melanin lowers L* and moves b*, but keeps the
  hue angle between red and yellow and the chroma moderate: Del Bino & Bernerd 2013 measured L* 30-75,
  a* 5-20, b* 10-25 across tones). The earlier YCrCb box (Chai & Ngan 1999) shrinks towards grey as pixels
  darken, so it admitted less of darker skin; lightness plays no part here, which is the point.
- chroma: median CIELAB chroma C* / 100 of the field (pixels with L* >= 15). Skin of any tone measures
  C* 10-40 with a colorimeter, and camera-rendered dermoscopy a little more (two held-out ISIC images have
  0.47-0.48, which the first cut-off, 0.45, lost); fundus photographs (0.62), colour wheels (0.65) and logos
  (0.58) are far more vivid. The heuristic's cut-off is 0.55.
- grain: how much the fine texture runs one way across the picture (structure-tensor coherence summed over
  16 px tiles of the high-passed image): wood grain and brushed metal run one way everywhere; skin does not.
- warm: pixels of any warm (red-orange-pink) hue with a little saturation, which also admits the pale
  greyish-pink skin and dark pigment of real dermoscopy images that the strict skin box misses.
- flat: pixels in a large flat region of one colour (white page, slide background, chart fill).
- white: near-white, unsaturated pixels (paper and slide backgrounds).
- palette: share of the image covered by its 8 most frequent coarse colours; charts and diagrams are drawn
  with few colours, photographs of skin are not.
- edges: strong-gradient pixels; text and line art are dense in thin, high-contrast edges.
- text: rows mostly of the background colour broken many times by something else, i.e. lines of glyphs.
- axes: a long thin horizontal and a long thin vertical line (chart axes, diagram frames).
- dark: near-black pixels (fluorescence, scans and dark slides are dark; skin photographs are not).
- vignette: dark, unsaturated frame corners around a bright central disc (the dermatoscope's field stop).
- centre_dark: how much darker the centre is than a ring inside the border, as a share of the ring's
  brightness (a centred lesion close-up; relative, so it does not fade on darker skin).
- he: the haematoxylin-and-eosin signature: pink-to-purple hue at moderate saturation on a pale background.
- saturation, entropy: mean HSV saturation and the normalised entropy of the coarse-colour histogram.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageFilter

from pipeline.vision.skin_tone import rgb_to_lab

SIDE = 128  # features are computed on a copy this size; enough for colour statistics and text rows


@dataclass(frozen=True)
class ImageFeatures:
    skin: float
    warm: float
    flat: float
    white: float
    palette: float
    edges: float
    text: float
    axes: float
    dark: float
    vignette: float
    centre_dark: float
    he: float
    saturation: float
    entropy: float
    chroma: float = 0.0
    grain: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}


def _hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue in degrees [0, 360), saturation and value in [0, 1] (numpy, no OpenCV needed)."""
    x = rgb.astype(np.float64) / 255.0
    mx, mn = x.max(axis=-1), x.min(axis=-1)
    delta = mx - mn
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    safe = np.where(delta == 0, 1.0, delta)
    h = np.where(mx == r, ((g - b) / safe) % 6, np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4))
    h = np.where(delta == 0, 0.0, h * 60.0)
    s = np.where(mx == 0, 0.0, delta / np.where(mx == 0, 1.0, mx))
    return h, s, mx


def _codes(rgb: np.ndarray) -> np.ndarray:
    """Coarse colour code per pixel (16 levels per channel, 4096 colours)."""
    q = (rgb // 16).astype(np.int32)
    return q[..., 0] * 256 + q[..., 1] * 16 + q[..., 2]


def _flat_fraction(q: np.ndarray) -> float:
    """Fraction of pixels whose 5x5 neighbourhood is one coarse colour (a large flat region)."""
    same = np.ones(q.shape, dtype=bool)
    for dy in (-2, 0, 2):
        for dx in (-2, 0, 2):
            same &= np.roll(np.roll(q, dy, axis=0), dx, axis=1) == q
    return float(same[2:-2, 2:-2].mean())


def _ink(rgb: np.ndarray) -> np.ndarray:
    """Distance of each pixel's brightness from the background's (the most frequent coarse colour)."""
    gray = rgb.astype(np.float64).mean(axis=-1) / 255.0
    codes = _codes(rgb)
    bg_gray = float(gray[codes == np.bincount(codes.ravel()).argmax()].mean())
    return np.abs(gray - bg_gray)


def _text_rows(diff: np.ndarray) -> float:
    """Share of rows that look like a line of glyphs: mostly background, with >= 4 short runs of sharp ink.

    The background is the most frequent coarse colour, so dark slides count as well as white pages; ink is
    what differs from its brightness by more than a quarter of the range. Glyph strokes give many short,
    high-contrast runs on one row; bars and lesions give a few long ones, and skin borders are soft.
    """
    ink = np.pad(diff > 0.25, ((0, 0), (1, 1)))
    edges = np.diff(ink.astype(np.int8), axis=1)
    short = np.zeros(len(ink), dtype=np.int64)
    max_run = max(2, ink.shape[1] // 40)  # a glyph stroke, not a bar or a block of colour
    for r in np.flatnonzero((edges != 0).sum(axis=1) >= 8):
        starts, ends = np.flatnonzero(edges[r] == 1), np.flatnonzero(edges[r] == -1)
        short[r] = int(((ends - starts) <= max_run).sum())
    rows = (short >= 4) & ((diff < 0.06).mean(axis=1) > 0.5)
    return float(rows.mean())


def _thin_line(ink: np.ndarray) -> float:
    """Longest thin horizontal ink line as a fraction of the width (rows 3 px away lack ink there).

    Vectorised over rows: run starts and ends come out of np.nonzero in row-major order, so they pair up."""
    if len(ink) < 7:
        return 0.0
    line = ink[3:-3] & ~ink[:-6] & ~ink[6:]
    edges = np.diff(np.pad(line, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    starts, ends = np.nonzero(edges == 1)[1], np.nonzero(edges == -1)[1]
    return float((ends - starts).max()) / ink.shape[1] if len(starts) else 0.0


def _axes(diff: np.ndarray) -> float:
    """Chart axes or frames: the shorter of the longest thin horizontal and the longest thin vertical line."""
    ink = diff > 0.25
    return min(_thin_line(ink), _thin_line(ink.T))


def _vignette(v: np.ndarray, s: np.ndarray) -> float:
    """How strongly the corners outside the inscribed circle are dark while the centre is bright."""
    h, w = v.shape
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot((yy - (h - 1) / 2) / (h / 2), (xx - (w - 1) / 2) / (w / 2))
    corners, centre = r > 1.08, r < 0.7
    if not corners.any():
        return 0.0
    dark_corners = float(((v < 0.16) & (s < 0.6))[corners].mean())
    bright_centre = float((v[centre] > 0.12).mean())
    return dark_corners * bright_centre


def _centre_dark(v: np.ndarray) -> float:
    """How much darker the centre is than the ring, relative to the ring: a close-up of one lesion is darker in
    the middle. Relative, so the same lesion on darker skin (every brightness scaled down) scores the same;
    the absolute difference (heuristic-v1..v3) shrank with the skin's lightness and typed more dermoscopy of
    darker skin as clinical photos."""
    h, w = v.shape
    centre = v[h // 3: 2 * h // 3, w // 3: 2 * w // 3].mean()
    ring = np.concatenate([v[h // 8: h // 4].ravel(), v[-h // 4: -h // 8].ravel(),
                           v[:, w // 8: w // 4].ravel(), v[:, -w // 4: -w // 8].ravel()]).mean()
    return float(np.clip((ring - centre) / max(float(ring), 0.05), 0.0, 1.0))


def _grain(gray: np.ndarray, block: int = 16) -> float:
    """How much the fine texture runs one way across the whole picture: each textured tile's structure
    tensor (of the high-passed image) normalised to unit energy, summed, and the coherence of the sum taken.
    Wood grain and brushed metal give ~1; skin, and the single edges of a lesion border or a dermatoscope's
    circular frame (whose directions cancel out around it), give little. The high-pass (minus a 4 px
    Gaussian blur) keeps smooth shading, which is oriented too, out of it."""
    fine = gray - np.asarray(Image.fromarray((gray * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(4)),
                             dtype=np.float64) / 255.0
    gy, gx = (np.asarray(d, dtype=np.float64) for d in np.gradient(fine))
    n, m = (gray.shape[0] // block) * block, (gray.shape[1] // block) * block

    def tiles(x: np.ndarray) -> np.ndarray:
        return x[:n, :m].reshape(n // block, block, m // block, block).sum(axis=(1, 3))

    jxx, jyy, jxy = tiles(gx * gx), tiles(gy * gy), tiles(gx * gy)
    energy = jxx + jyy
    textured = energy > 0.05  # tiles with visible fine texture (not flat fill or quantisation noise)
    if textured.mean() < 0.5:
        return 0.0
    sxx, syy, sxy = ((j[textured] / energy[textured]).sum() for j in (jxx, jyy, jxy))
    return float(np.sqrt((sxx - syy) ** 2 + 4 * sxy**2) / (sxx + syy))


def extract_features(img: Image.Image, side: int = SIDE) -> ImageFeatures:
    small = img.convert("RGB").resize((side, side), Image.Resampling.BILINEAR)
    rgb = np.asarray(small)
    h, s, v = _hsv(rgb)
    lab = rgb_to_lab(rgb)
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    hue_ab = np.degrees(np.arctan2(lab[..., 2], lab[..., 1]))
    skin = (lab[..., 0] >= 10) & (hue_ab >= -5) & (hue_ab <= 80) & (chroma >= 6) & (chroma <= 50)
    field = lab[..., 0] >= 15
    white = (v > 0.9) & (s < 0.08)
    warm = ((h <= 55) | (h >= 290)) & (s >= 0.05) & (v >= 0.12) & ~((v > 0.96) & (s < 0.06))
    codes = _codes(rgb)
    counts = np.sort(np.bincount(codes.ravel(), minlength=4096))[::-1]
    p = counts[counts > 0] / counts.sum()
    entropy = float(-(p * np.log2(p)).sum() / 12.0)  # 12 bits = log2(4096 coarse colours)
    gray = rgb.astype(np.float64).mean(axis=-1) / 255.0
    gy, gx = np.abs(np.diff(gray, axis=0))[:, :-1], np.abs(np.diff(gray, axis=1))[:-1, :]
    edges = float(((gx + gy) > 0.12).mean())
    flat = _flat_fraction(codes)
    he_hue = (h >= 255) & (h <= 350) & (s >= 0.12) & (v >= 0.3)
    he = float(he_hue.mean()) if he_hue.mean() > 0.15 else float(he_hue.mean()) * 0.5
    big = _ink(np.asarray(img.convert("RGB").resize((2 * side, 2 * side))))  # glyphs need the resolution
    return ImageFeatures(
        skin=float(skin.mean()), warm=float(warm.mean()), flat=flat, white=float(white.mean()),
        palette=float(counts[:8].sum() / counts.sum()), edges=edges, text=_text_rows(big), axes=_axes(big),
        dark=float((v < 0.12).mean()), vignette=_vignette(v, s), centre_dark=_centre_dark(v), he=he,
        saturation=float(s.mean()), entropy=entropy,
        chroma=float(np.median(chroma[field])) / 100.0 if field.any() else 0.0, grain=_grain(gray),
    )
