"""Image normalisation and the content-addressed media store.

Every image, whatever its source (keyframe, JATS figure, PDF image, forum photo, dataset file), is
decoded, EXIF-transposed, converted to 8-bit RGB and re-encoded once; its id is the sha256 of those
normalised bytes, so the same picture from two sources lands on one file and one row.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline import storage
from pipeline.config import ImageConfig
from pipeline.errors import ItemError
from pipeline.hashing import sha256_bytes


@dataclass(frozen=True)
class NormalisedImage:
    data: bytes
    sha256: str
    width: int
    height: int
    ext: str
    source_mode: str
    source_format: str


def _to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB from any PIL mode: palette (with transparency) and LA/PA/RGBA get a white background, 16/32-bit
    integer and float images are scaled by their maximum (a plain convert would clip them to white), CMYK and
    CIELAB convert."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = float(arr.max()) or 1.0
        img = Image.fromarray((arr / hi * 255.0).clip(0, 255).astype(np.uint8), mode="L")
    if img.mode in ("P", "PA"):
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "RGBa", "La"):
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img.convert("RGBA"), mask=img.convert("RGBA").getchannel("A"))
        return background
    return img.convert("RGB")


def decode_image(data: bytes, max_pixels: int) -> Image.Image:
    """Decode fully (so truncation is caught here, not later) or raise ItemError with a reason code."""
    if not data:
        raise ItemError("empty_file", "zero bytes")
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            fmt = img.format or "unknown"
            if img.width * img.height > max_pixels:
                raise ItemError("decompression_bomb", f"{img.width}x{img.height} exceeds {max_pixels} pixels")
            img.load()
            img.info["source_format"] = fmt
            return img
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ItemError("decompression_bomb", str(exc)) from exc
    except UnidentifiedImageError as exc:
        raise ItemError("corrupt_image", "not a decodable image") from exc
    except OSError as exc:
        reason = "truncated_image" if "truncated" in str(exc).lower() else "corrupt_image"
        raise ItemError(reason, str(exc)) from exc
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def normalise_image(source: bytes | Path | Image.Image | np.ndarray, cfg: ImageConfig) -> NormalisedImage:
    """Bytes, a path, a PIL image or an RGB uint8 array -> normalised, hashed encoded bytes."""
    if isinstance(source, Path):
        try:
            source = source.read_bytes()
        except FileNotFoundError as exc:
            raise ItemError("missing_file", str(exc)) from exc
    if isinstance(source, bytes):
        img = decode_image(source, cfg.max_pixels)
    elif isinstance(source, np.ndarray):
        img = Image.fromarray(source.astype(np.uint8), mode="RGB")
        img.info["source_format"] = "array"
    else:
        img = source
    mode, fmt = img.mode, str(img.info.get("source_format", img.format or "unknown"))
    try:
        img = ImageOps.exif_transpose(img) or img
    except Exception:  # noqa: BLE001 - a malformed EXIF block loses its orientation, not the image
        pass
    try:
        img = _to_rgb(img)
    except (ValueError, OSError) as exc:
        raise ItemError("unsupported_mode", f"{img.mode}: {exc}") from exc
    out = io.BytesIO()
    if cfg.format == "jpeg":
        img.save(out, format="JPEG", quality=cfg.quality, optimize=False)
        ext = "jpg"
    else:
        img.save(out, format="PNG", optimize=False)
        ext = "png"
    data = out.getvalue()
    return NormalisedImage(data, sha256_bytes(data), img.width, img.height, ext, mode, fmt)


class MediaStore:
    """Files under root/images/<2 hex>/<sha256>.<ext>; writes are atomic and idempotent. `root` may be an
    fsspec URL (pipeline/storage.py), so the store can live on object storage."""

    def __init__(self, root: Path | str) -> None:
        self.root: Path | str = root if storage.is_remote(root) else Path(root)

    def path_for(self, sha256: str, ext: str) -> Path | str:
        return storage.join(self.root, "images", sha256[:2], f"{sha256}.{ext}")

    def put(self, image: NormalisedImage) -> Path | str:
        path = self.path_for(image.sha256, image.ext)
        if not storage.exists(path):
            storage.write_bytes(path, image.data)
        return path
