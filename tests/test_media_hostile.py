"""Hostile and odd images: every one becomes 8-bit RGB or an ItemError with a reason code, never a crash or a
warning; and no EXIF (GPS included) survives from a source photo into the exported corpus."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
from PIL import ExifTags, Image

from pipeline.config import ImageConfig
from pipeline.errors import ItemError
from pipeline.media import MediaStore, normalise_image
from pipeline.train.export import ExportRow, write_export

CFG = ImageConfig()
GRAD = (np.arange(64 * 64) % 256).reshape(64, 64).astype(np.uint8)
NOISE = np.random.default_rng(0).integers(0, 255, (300, 300, 3), dtype=np.uint8)


def _enc(img: Image.Image, fmt: str, **kw) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **kw)
    return out.getvalue()


@pytest.mark.parametrize(("name", "data", "pixel"), [
    ("cmyk_jpeg", lambda: _enc(Image.new("CMYK", (64, 64), (10, 200, 30, 5)), "JPEG"), (240, 55, 225)),
    ("uint16_png", lambda: _enc(Image.fromarray(GRAD.astype(np.uint16) * 200), "PNG"), (138, 138, 138)),
    ("float_tiff", lambda: _enc(Image.fromarray(GRAD.astype(np.float32) / 255.0), "TIFF"), (138, 138, 138)),
    ("palette_transparent", lambda: _enc(Image.fromarray(GRAD).convert("P"), "PNG", transparency=138),
     (255, 255, 255)),
    ("la_png", lambda: _enc(Image.merge("LA", [Image.fromarray(GRAD), Image.new("L", (64, 64), 0)]), "PNG"),
     (255, 255, 255)),
    ("rgba_webp", lambda: _enc(Image.new("RGBA", (64, 64), (0, 0, 0, 128)), "WEBP", lossless=True), (127, 127, 127)),
    ("bilevel_png", lambda: _enc(Image.fromarray(GRAD > 100), "PNG"), (255, 255, 255)),
])
def test_odd_modes_become_rgb(name, data, pixel):
    norm = normalise_image(data(), CFG)
    img = Image.open(io.BytesIO(norm.data))
    assert img.mode == "RGB" and img.size == (64, 64)
    assert all(abs(a - b) <= 6 for a, b in zip(img.getpixel((10, 10)), pixel, strict=True)), name


@pytest.mark.parametrize(("data", "cfg", "reason"), [
    (lambda: _enc(Image.fromarray(NOISE), "PNG")[:40_000], CFG, "truncated_image"),
    (lambda: _enc(Image.fromarray(NOISE), "TIFF")[:50_000], CFG, "truncated_image"),
    (lambda: _enc(Image.fromarray(NOISE), "JPEG")[:300], CFG, "truncated_image"),
    (lambda: b"\x89PNG\r\n\x1a\n" + bytes(64), CFG, "corrupt_image"),
    (lambda: np.random.default_rng(1).bytes(5000), CFG, "corrupt_image"),
    # over PIL's 2x limit: DecompressionBombError at open; between 1x and 2x: only a warning in PIL
    (lambda: _enc(Image.new("1", (3000, 3000)), "PNG"), ImageConfig(max_pixels=1_000_000), "decompression_bomb"),
    (lambda: _enc(Image.new("1", (1200, 1000)), "PNG"), ImageConfig(max_pixels=1_000_000), "decompression_bomb"),
])
def test_hostile_files_have_reasons(data, cfg, reason, recwarn):
    with pytest.raises(ItemError) as err:
        normalise_image(data(), cfg)
    assert err.value.reason == reason
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_malformed_exif_keeps_the_image():
    good = _enc(Image.fromarray(NOISE), "JPEG", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff")
    assert normalise_image(good, CFG).width == 300


def _gps_jpeg() -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneCo"
    exif[ExifTags.Base.Orientation] = 1
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef], gps[ExifTags.GPS.GPSLatitude] = "N", (52.0, 31.0, 12.0)
    gps[ExifTags.GPS.GPSLongitudeRef], gps[ExifTags.GPS.GPSLongitude] = "E", (13.0, 24.0, 36.0)
    return _enc(Image.fromarray(NOISE), "JPEG", exif=exif, quality=90)


def test_export_carries_no_exif_or_gps(tmp_path):
    raw = _gps_jpeg()
    assert Image.open(io.BytesIO(raw)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the source has GPS
    src = tmp_path / "upload.jpg"
    src.write_bytes(raw)
    stored = MediaStore(tmp_path / "media").put(normalise_image(src, CFG))
    row = ExportRow(pair_id="p1", image_id=stored.stem, image_path=stored, group_id="g", cluster_id="c",
                    caption="plaque")
    manifest = write_export([row], {"p1": "train"}, tmp_path / "export", shard_size=10)
    exported = [manifest.out_dir / manifest.filenames["p1"]]
    with tarfile.open(manifest.shards[0]) as tar:
        blobs = [tar.extractfile(m).read() for m in tar.getmembers() if m.name.endswith(".jpg")]
    blobs += [p.read_bytes() for p in exported]
    assert len(blobs) == 2
    for blob in blobs:
        img = Image.open(io.BytesIO(blob))
        assert not img.getexif() and "exif" not in img.info
        assert b"Exif" not in blob and b"PhoneCo" not in blob
