"""Skin tone in CIELAB: the Individual Typology Angle (ITA) and copies of an image shifted to darker tones.

Why: a skin detector checked on light-skin dermoscopy only may miss darker skin, and the public
dermoscopy sets are mostly light skin. To measure the image filter per tone we make copies of each image
whose skin sits at a chosen Fitzpatrick-like level, and report skin recall at every level.

How the copies are made (`shift_tone`), in CIELAB (D65), not by darkening RGB:

- The tone of an image is the median L* and b* of its field (pixels with L* >= 15, so a dermatoscope's
  black frame does not count); ITA = atan2(L* - 50, b*) in degrees (Chardon et al. 1991).
- Each level has a target (L*, b*) on its ITA band (Del Bino & Bernerd 2013 bands: very light > 55,
  light 41-55, intermediate 28-41, tan 10-28, brown -30-10, dark < -30). Darker skin has lower L* and
  a little more yellow (b*) up to tan, and less again at the darkest, as measured skin does.
- Every pixel's L* is scaled by target / image L* (so a lesion stays as much darker than its surround,
  relatively, as it was); b* moves by the target's offset and a* is damped a little (melanin masks the
  redness of erythema on dark skin); both colour moves fade out on near-black pixels so the frame and
  deep pigment do not turn yellow.

The result is a melanin-like change of lightness and chroma, chosen per image so that the copy's
measured ITA lands in the level's band (`ita` on the copy checks that; bench/image_type.py reports it).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

# level -> (target L*, target b*, a* factor); ITA of the targets: 57.5, 45.0, 32.9, 14.7, -15.5, -47.0
TONE_LEVELS: dict[str, tuple[float, float, float]] = {
    "I": (72.0, 14.0, 1.0),
    "II": (66.0, 16.0, 1.0),
    "III": (61.0, 17.0, 0.95),
    "IV": (55.0, 19.0, 0.9),
    "V": (45.0, 18.0, 0.85),
    "VI": (35.0, 14.0, 0.8),
}
ITA_BANDS: dict[str, tuple[float, float]] = {
    "I": (55.0, 90.0), "II": (41.0, 55.0), "III": (28.0, 41.0), "IV": (10.0, 28.0), "V": (-30.0, 10.0),
    "VI": (-90.0, -30.0),
}
_M = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
               [0.0193339, 0.1191920, 0.9503041]])
_WHITE = np.array([0.95047, 1.0, 1.08883])


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 (..., 3) -> CIELAB (D65) float (..., 3)."""
    c = rgb.astype(np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = lin @ _M.T / _WHITE
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB (D65) (..., 3) -> sRGB uint8, out-of-gamut values clipped."""
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f > 6 / 29, f ** 3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * _WHITE
    lin = np.clip(xyz @ np.linalg.inv(_M).T, 0.0, 1.0)
    c = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)
    return np.round(np.clip(c, 0.0, 1.0) * 255).astype(np.uint8)


def _field(lab: np.ndarray) -> np.ndarray:
    field = lab[..., 0] >= 15.0
    return lab[field] if field.any() else lab.reshape(-1, 3)


def ita(img: Image.Image) -> float:
    """Individual Typology Angle (degrees) of the image's field: median L* and b* of pixels with L* >= 15."""
    px = _field(rgb_to_lab(np.asarray(img.convert("RGB"))))
    return math.degrees(math.atan2(float(np.median(px[:, 0])) - 50.0, float(np.median(px[:, 2]))))


def tone_level(angle: float) -> str:
    """The Fitzpatrick-like level whose ITA band holds this angle."""
    return next((k for k, (lo, hi) in ITA_BANDS.items() if lo <= angle < hi), "I" if angle >= 90 else "VI")


def shift_tone(img: Image.Image, level: str) -> Image.Image:
    """A copy of img with its skin at the level's tone (see the module docstring for the transform)."""
    target_l, target_b, a_factor = TONE_LEVELS[level]
    lab = rgb_to_lab(np.asarray(img.convert("RGB")))
    px = _field(lab)
    ref_l, ref_b = max(float(np.median(px[:, 0])), 1.0), float(np.median(px[:, 2]))
    fade = np.clip(lab[..., 0] / 30.0, 0.0, 1.0)  # colour moves fade out on near-black pixels
    out = np.empty_like(lab)
    out[..., 0] = lab[..., 0] * (target_l / ref_l)
    out[..., 1] = lab[..., 1] * (1.0 - (1.0 - a_factor) * fade)
    out[..., 2] = lab[..., 2] + (target_b - ref_b) * fade
    return Image.fromarray(lab_to_rgb(out))
