import numpy as np
from PIL import Image, ImageDraw

from pipeline.clean.filters import decide, score_image, skin_score
from pipeline.clean.text import normalise_text, remove_fillers
from pipeline.config import CleanConfig


def _skin_photo(size=(200, 160)):
    rng = np.random.default_rng(0)
    base = np.zeros((size[1], size[0], 3), dtype=np.float64) + (224, 172, 140)
    img = Image.fromarray((base + rng.normal(0, 6, base.shape)).clip(0, 255).astype(np.uint8))
    ImageDraw.Draw(img).ellipse((60, 40, 130, 110), fill=(150, 60, 60))
    return img


def _chart(size=(200, 160)):
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    for i, h in enumerate((40, 90, 60, 120)):
        d.rectangle((20 + i * 40, 150 - h, 45 + i * 40, 150), fill=(30, 60, 200))
    return img


def test_skin_score_separates_photo_from_chart():
    assert skin_score(_skin_photo()) > 0.6
    assert skin_score(_chart()) < 0.05


def test_decide_and_phash(tmp_path):
    a, b, c = tmp_path / "a.jpg", tmp_path / "b.jpg", tmp_path / "c.png"
    _skin_photo().save(a, quality=95)
    _skin_photo().resize((180, 144)).save(b, quality=60)
    _chart().save(c)
    sa, sb, sc = score_image(a), score_image(b), score_image(c)
    d = [bin(int(sa.phash, 16) ^ int(other.phash, 16)).count("1") for other in (sb, sc)]
    assert d[0] <= 6 < d[1]
    cfg = CleanConfig(min_side_px=64, skin_score_min=0.2)
    assert decide(sa, cfg, ()) is None
    assert decide(sc, cfg, ()) == "low_skin_score"
    tiny = tmp_path / "t.jpg"
    _skin_photo((40, 30)).save(tiny)
    assert decide(score_image(tiny), cfg, ()) == "too_small"


def test_text_normalisation():
    assert normalise_text("  Erythematous\u200b plaque ,with <italic>scale</italic> . ") == "Erythematous plaque, with scale."
    assert normalise_text("   ") is None
    text, n = remove_fillers("Um, so this is, uh, the the plaque", ["um", "uh"])
    assert text == "so this is, the plaque" and n == 2
