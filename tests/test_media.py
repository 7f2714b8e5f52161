"""Image normalisation: every odd input becomes RGB bytes with a stable hash, or a reject reason."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from pipeline.config import ImageConfig
from pipeline.errors import ItemError
from pipeline.media import MediaStore, normalise_image

CFG = ImageConfig()


def _jpeg(img: Image.Image, **kw) -> bytes:
    out = io.BytesIO()
    img.save(out, format="JPEG", **kw)
    return out.getvalue()


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (120, 60), (200, 120, 100))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    norm = normalise_image(_jpeg(img, exif=exif.tobytes()), CFG)
    assert (norm.width, norm.height) == (60, 120)


@pytest.mark.parametrize("mode", ["P", "CMYK", "LA", "RGBA", "I;16", "L"])
def test_modes_become_rgb(mode):
    arr = (np.arange(64 * 64) % 256).reshape(64, 64).astype(np.uint8)
    img = Image.fromarray(arr).convert(mode) if mode != "I;16" else Image.fromarray(arr.astype(np.uint16) * 200)
    buf = io.BytesIO()
    img.save(buf, format="TIFF" if mode in ("CMYK", "I;16") else "PNG")
    norm = normalise_image(buf.getvalue(), CFG)
    assert Image.open(io.BytesIO(norm.data)).mode == "RGB"
    assert norm.source_mode == mode


def test_same_pixels_same_hash_and_store(tmp_path):
    arr = np.full((50, 70, 3), 128, np.uint8)
    a, b = normalise_image(arr, CFG), normalise_image(Image.fromarray(arr), CFG)
    assert a.sha256 == b.sha256
    store = MediaStore(tmp_path)
    p1, p2 = store.put(a), store.put(b)
    assert p1 == p2 and p1.read_bytes() == a.data and p1.name.startswith(a.sha256)


def test_bad_inputs_have_reasons(tmp_path):
    good = _jpeg(Image.new("RGB", (300, 300), (10, 200, 30)))
    cases = {b"": "empty_file", b"GIF89a garbage": "corrupt_image", good[: len(good) // 3]: "truncated_image"}
    for data, reason in cases.items():
        with pytest.raises(ItemError) as err:
            normalise_image(data, CFG)
        assert err.value.reason == reason
    with pytest.raises(ItemError) as err:
        normalise_image(good, ImageConfig(max_pixels=10_000))
    assert err.value.reason == "decompression_bomb"
    with pytest.raises(ItemError) as err:
        normalise_image(tmp_path / "absent.jpg", CFG)
    assert err.value.reason == "missing_file"
