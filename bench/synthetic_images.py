"""Procedurally drawn non-skin pictures (and an H&E-like field) for the image-type benchmark and tests.

Everything here is drawn by this project with numpy and PIL, seeded, so no third-party picture is copied:
the charts, diagrams, slides and text pages that papers and lectures hold, and photographs of other things
(landscapes, foliage, brick and wood, metal, fluorescence microscopy, gels, greyscale scans). Brick and
wood are deliberately warm-coloured: they are the hard negatives for a colour-based skin detector.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

W, H = 320, 240
WORDS = ("lesion", "patients", "treatment", "response", "baseline", "week", "mean", "score", "group",
         "control", "dose", "figure", "results", "analysis", "clinical", "sample", "cohort", "rate")


def _text(d: ImageDraw.ImageDraw, rng: np.random.Generator, x: int, y: int, n: int, fill: object) -> None:
    d.text((x, y), " ".join(rng.choice(WORDS, n)), fill=fill)  # type: ignore[arg-type]


def _noise(rng: np.random.Generator, img: np.ndarray, sd: float) -> Image.Image:
    return Image.fromarray((img + rng.normal(0, sd, img.shape)).clip(0, 255).astype(np.uint8))


def bar_chart(rng: np.random.Generator) -> Image.Image:
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    d.line((40, 20, 40, 200, 300, 200), fill="black", width=2)
    colour = tuple(int(c) for c in rng.integers(0, 200, 3))
    for i in range(int(rng.integers(3, 8))):
        h = int(rng.integers(20, 170))
        d.rectangle((50 + i * 34, 200 - h, 74 + i * 34, 200), fill=colour)  # type: ignore[arg-type]
        d.text((50 + i * 34, 205), f"w{i * 2}", fill="black")
    _text(d, rng, 60, 5, 4, "black")
    return img


def line_chart(rng: np.random.Generator) -> Image.Image:
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    d.line((40, 20, 40, 200, 300, 200), fill="black", width=1)
    for k in range(int(rng.integers(1, 4))):
        ys = 200 - np.cumsum(rng.normal(8, 12, 10)).clip(-150, 170)
        pts = [(40 + i * 28, float(np.clip(y, 20, 200))) for i, y in enumerate(ys)]
        d.line(pts, fill=("red", "blue", "green")[k], width=2)
        for p in pts:
            d.ellipse((p[0] - 3, p[1] - 3, p[0] + 3, p[1] + 3), fill=("red", "blue", "green")[k])
    for y in range(40, 200, 40):
        d.text((5, y), str(200 - y), fill="black")
    return img


def pie_chart(rng: np.random.Generator) -> Image.Image:
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    parts = rng.dirichlet(np.ones(int(rng.integers(3, 6)))) * 360
    start = 0.0
    for i, p in enumerate(parts):
        colour = tuple(int(c) for c in rng.integers(30, 230, 3))
        d.pieslice((30, 30, 210, 210), start, start + float(p), fill=colour)  # type: ignore[arg-type]
        d.rectangle((230, 40 + i * 30, 245, 55 + i * 30), fill=colour)  # type: ignore[arg-type]
        _text(d, rng, 250, 42 + i * 30, 1, "black")
        start += float(p)
    return img


def flow_diagram(rng: np.random.Generator) -> Image.Image:
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    fill = tuple(int(c) for c in rng.integers(150, 256, 3))
    for row in range(3):
        for col in range(int(rng.integers(1, 3))):
            x, y = 30 + col * 150, 15 + row * 75
            d.rectangle((x, y, x + 120, y + 45), outline="black", fill=fill, width=2)  # type: ignore[arg-type]
            _text(d, rng, x + 6, y + 8, 2, "black")
            _text(d, rng, x + 6, y + 24, 2, "black")
            if row < 2:
                d.line((x + 60, y + 45, x + 60, y + 75), fill="black", width=2)
    return img


def text_slide(rng: np.random.Generator) -> Image.Image:
    bg = tuple(int(c) for c in rng.choice([[255, 255, 255], [20, 40, 90], [240, 240, 230], [0, 0, 0]]))
    fg = "white" if sum(bg) < 300 else "black"
    img = Image.new("RGB", (W, H), bg)  # type: ignore[arg-type]
    d = ImageDraw.Draw(img)
    _text(d, rng, 20, 15, 4, fg)
    d.line((20, 32, 300, 32), fill=fg, width=2)
    for i in range(int(rng.integers(5, 10))):
        d.ellipse((22, 48 + i * 20, 27, 53 + i * 20), fill=fg)
        _text(d, rng, 34, 45 + i * 20, int(rng.integers(4, 8)), fg)
    return img


def text_page(rng: np.random.Generator) -> Image.Image:
    img = Image.new("RGB", (W, H), (250, 250, 246))
    d = ImageDraw.Draw(img)
    for i in range(20):
        _text(d, rng, 10, 5 + i * 11, 7, (30, 30, 30))
    return img


def landscape(rng: np.random.Generator) -> Image.Image:
    y = np.linspace(0, 1, H)[:, None, None]
    sky = np.array([90, 150, 230]) * (1 - y) + np.array([200, 220, 250]) * y
    img = np.broadcast_to(sky, (H, W, 3)).copy()
    horizon = (H * rng.uniform(0.45, 0.7) + 15 * np.sin(np.linspace(0, rng.uniform(2, 8), W))).astype(int)
    for x in range(W):
        img[horizon[x]:, x] = rng.choice([[60, 120, 40], [90, 110, 60], [70, 90, 50]])
    return _noise(rng, img, 12).filter(ImageFilter.GaussianBlur(1))


def foliage(rng: np.random.Generator) -> Image.Image:
    base = rng.normal(0, 1, (H // 4, W // 4))
    small = Image.fromarray(((base - base.min()) / np.ptp(base) * 255).astype(np.uint8)).resize((W, H))
    g = np.asarray(small, dtype=np.float64)[..., None] / 255
    img = np.array([20, 60, 15]) + g * np.array([80, 140, 60])
    return _noise(rng, img, 10)


def brick_wall(rng: np.random.Generator) -> Image.Image:
    img = np.full((H, W, 3), (200, 200, 195), dtype=np.float64)
    for row in range(0, H, 24):
        off = 0 if (row // 24) % 2 else 25
        for x in range(-off, W, 50):
            tone = np.array([150, 65, 45]) + rng.normal(0, 12, 3)
            img[row + 3:row + 21, max(0, x + 3):max(0, x + 47)] = tone
    return _noise(rng, img, 9)


def wood(rng: np.random.Generator) -> Image.Image:
    x = np.linspace(0, 1, W)[None, :]
    yy = np.linspace(0, 1, H)[:, None]
    rings = np.sin((x * rng.uniform(20, 40) + 3 * np.sin(yy * rng.uniform(3, 9))) * np.pi)
    img = np.array([160, 110, 60])[None, None] + rings[..., None] * np.array([30, 22, 14])
    return _noise(rng, img, 6)


def metal(rng: np.random.Generator) -> Image.Image:
    x = np.linspace(0, 1, W)[None, :, None]
    img = np.broadcast_to(90 + 120 * x, (H, W, 3)).copy() + rng.normal(0, 3, (H, 1, 1)) * 8
    im = _noise(rng, img, 6)
    ImageDraw.Draw(im).ellipse((100, 60, 220, 180), outline=(40, 40, 40), width=6)
    return im


def fluorescence(rng: np.random.Generator) -> Image.Image:
    img = Image.new("RGB", (W, H), (4, 4, 8))
    d = ImageDraw.Draw(img)
    colour = tuple(int(c) for c in rng.choice([[40, 220, 60], [60, 90, 255], [230, 40, 40]]))
    for _ in range(int(rng.integers(20, 60))):
        cx, cy, r = rng.integers(0, W), rng.integers(0, H), rng.integers(4, 12)
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)  # type: ignore[arg-type]
    return img.filter(ImageFilter.GaussianBlur(2))


def gel(rng: np.random.Generator) -> Image.Image:
    img = np.full((H, W), 30.0)
    for lane in range(8):
        for _ in range(int(rng.integers(2, 6))):
            y = int(rng.integers(20, H - 20))
            img[y:y + 5, 20 + lane * 37:48 + lane * 37] = rng.uniform(120, 250)
    return _noise(rng, np.repeat(img[..., None], 3, axis=2), 5).filter(ImageFilter.GaussianBlur(1.5))


def grey_scan(rng: np.random.Generator) -> Image.Image:
    img = Image.new("RGB", (W, H), (0, 0, 0))
    d = ImageDraw.Draw(img)
    d.ellipse((40, 20, 280, 220), fill=(110, 110, 110))
    for _ in range(6):
        cx, cy, r = rng.integers(90, 230), rng.integers(60, 180), rng.integers(8, 30)
        v = int(rng.integers(30, 230))
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(v, v, v))
    return _noise(rng, np.asarray(img, dtype=np.float64), 10).filter(ImageFilter.GaussianBlur(1))


def he_field(rng: np.random.Generator) -> Image.Image:
    """An H&E-like field: eosin-pink stroma, haematoxylin-purple nuclei, white gaps (a skin-type image)."""
    img = np.full((H, W, 3), (236, 160, 200), dtype=np.float64) + rng.normal(0, 14, (H, W, 3))
    im = Image.fromarray(img.clip(0, 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(3, 7))):
        cx, cy, r = rng.integers(0, W), rng.integers(0, H), rng.integers(10, 35)
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(248, 244, 248))
    for _ in range(int(rng.integers(150, 300))):
        cx, cy, r = rng.integers(0, W), rng.integers(0, H), rng.integers(2, 5)
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(110, 60, 150))
    return im.filter(ImageFilter.GaussianBlur(0.8))


NON_SKIN: dict[str, tuple[str, Callable[[np.random.Generator], Image.Image]]] = {
    "bar_chart": ("chart_or_diagram", bar_chart), "line_chart": ("chart_or_diagram", line_chart),
    "pie_chart": ("chart_or_diagram", pie_chart), "flow_diagram": ("chart_or_diagram", flow_diagram),
    "text_slide": ("slide_with_text", text_slide), "text_page": ("slide_with_text", text_page),
    "landscape": ("other", landscape), "foliage": ("other", foliage), "brick_wall": ("other", brick_wall),
    "wood": ("other", wood), "metal": ("other", metal), "fluorescence": ("other", fluorescence),
    "gel": ("other", gel), "grey_scan": ("other", grey_scan),
}


def non_skin_images(per_kind: int = 5, seed: int = 0) -> list[tuple[str, str, Image.Image]]:
    """(name, expected type, image) for per_kind seeded variants of every non-skin kind."""
    out = []
    for k, (name, (kind, fn)) in enumerate(sorted(NON_SKIN.items())):
        for i in range(per_kind):
            out.append((f"{name}_{i}", kind, fn(np.random.default_rng(seed * 1000 + k * 50 + i))))
    return out


# Skin tones as CIELAB (L*, a*, b*), light to dark, spanning the ITA bands of pipeline/vision/skin_tone.py.
SKIN_LAB = ((74.0, 9.0, 14.0), (67.0, 11.0, 16.0), (61.0, 12.0, 18.0), (54.0, 13.0, 20.0), (45.0, 12.0, 18.0),
            (35.0, 10.0, 14.0))


def _lab_field(rng: np.random.Generator, lab: tuple[float, float, float], size: tuple[int, int]) -> np.ndarray:
    """A skin-coloured CIELAB field: soft shading, blotchy low-frequency colour and pore-scale noise."""
    h, w = size
    coarse = np.asarray(Image.fromarray(rng.normal(0, 1, (h // 16 + 1, w // 16 + 1)).astype(np.float32))
                        .resize((w, h), Image.Resampling.BICUBIC))
    shade = np.linspace(rng.uniform(-6, 0), rng.uniform(0, 6), w)[None, :] + np.zeros((h, 1))
    field = np.empty((h, w, 3))
    field[..., 0] = lab[0] + shade + 2.5 * coarse + rng.normal(0, 1.5, (h, w))
    field[..., 1] = lab[1] + 1.5 * coarse + rng.normal(0, 0.8, (h, w))
    field[..., 2] = lab[2] + rng.normal(0, 0.8, (h, w))
    return field


def _lesion_mask(rng: np.random.Generator, size: tuple[int, int], centre: tuple[float, float], radius: float
                 ) -> np.ndarray:
    """A blurred blob with an irregular border (radius modulated by a few random harmonics)."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    ang = np.arctan2(yy - centre[1], xx - centre[0])
    r = radius * (1 + sum(rng.uniform(0, 0.12) * np.cos(k * ang + rng.uniform(0, 6)) for k in (2, 3, 5)))
    inside = (np.hypot(yy - centre[1], xx - centre[0]) < r).astype(np.float32)
    return np.asarray(Image.fromarray((inside * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(3))) / 255.0


def _to_rgb(lab: np.ndarray) -> Image.Image:
    from pipeline.vision.skin_tone import lab_to_rgb

    return Image.fromarray(lab_to_rgb(lab))


def clinical_skin(rng: np.random.Generator, tone: int | None = None) -> Image.Image:
    """A clinical close-up: skin of one of SKIN_LAB's tones, a few brown or red lesions off centre, sometimes a
    strip of cloth or drape along one side."""
    lab = SKIN_LAB[int(rng.integers(0, len(SKIN_LAB))) if tone is None else tone]
    field = _lab_field(rng, lab, (H, W))
    for _ in range(int(rng.integers(1, 5))):
        mask = _lesion_mask(rng, (H, W), (rng.uniform(20, W - 20), rng.uniform(20, H - 20)), rng.uniform(6, 40))
        if rng.random() < 0.5:  # pigmented: darker and browner
            delta = (-rng.uniform(10, 25), rng.uniform(0, 4), rng.uniform(0, 6))
        else:  # inflamed: redder
            delta = (-rng.uniform(3, 10), rng.uniform(8, 18), rng.uniform(-2, 4))
        field += mask[..., None] * np.array(delta)
    if rng.random() < 0.4:
        cloth = np.array([rng.uniform(30, 85), rng.uniform(-20, 10), rng.uniform(-30, 5)])
        edge = int(rng.integers(W * 3 // 4, W - 20))
        field[:, edge:] = cloth + rng.normal(0, 1.0, field[:, edge:].shape)
    return _to_rgb(field)


def dermoscopy_skin(rng: np.random.Generator, tone: int | None = None) -> Image.Image:
    """A dermoscopy field: skin filling the frame, one central pigmented lesion with a reticular network and
    dots, sometimes inside the dermatoscope's black circular field stop."""
    lab = SKIN_LAB[int(rng.integers(0, len(SKIN_LAB))) if tone is None else tone]
    size = (256, 256)
    field = _lab_field(rng, lab, size)
    mask = _lesion_mask(rng, size, (128 + rng.uniform(-20, 20), 128 + rng.uniform(-20, 20)), rng.uniform(45, 90))
    yy, xx = np.mgrid[0:256, 0:256]
    period = rng.uniform(7, 12)
    net = (np.sin(xx / period * np.pi) * np.sin(yy / period * np.pi)) > 0.3  # the pigment network's holes
    depth = rng.uniform(15, 28)
    field[..., 0] -= mask * (depth * (0.6 + 0.4 * net))
    field[..., 2] += mask * rng.uniform(2, 8)
    for _ in range(int(rng.integers(5, 30))):
        cy, cx = rng.integers(60, 196, 2)
        field[max(0, cy - 2):cy + 2, max(0, cx - 2):cx + 2, 0] -= rng.uniform(5, 15)
    img = _to_rgb(field)
    if rng.random() < 0.5:
        stop = Image.new("L", size, 0)
        ImageDraw.Draw(stop).ellipse((6, 6, 250, 250), fill=255)
        img = Image.composite(img, Image.new("RGB", size, (6, 6, 6)), stop)
    return img


SKIN: dict[str, tuple[str, Callable[[np.random.Generator], Image.Image]]] = {
    "clinical_skin": ("clinical_photo", clinical_skin), "dermoscopy_skin": ("dermoscopy", dermoscopy_skin),
    "he_field": ("histopathology", he_field),
}


def skin_images(per_kind: int = 12, seed: int = 0) -> list[tuple[str, str, Image.Image]]:
    """(name, expected type, image) for per_kind seeded variants of every drawn skin kind, tones cycling."""
    out = []
    for k, (name, (kind, fn)) in enumerate(sorted(SKIN.items())):
        for i in range(per_kind):
            rng = np.random.default_rng(seed * 1000 + 700 + k * 50 + i)
            img = fn(rng) if fn is he_field else fn(rng, i % len(SKIN_LAB))  # type: ignore[call-arg]
            out.append((f"{name}_{i}", kind, img))
    return out
