"""Reading an export for evaluation: its Derm1M-style CSVs and its images.

Kept apart from the suite so it can be used without creating a model: nothing here imports open_clip or
torchvision. Training reads the WebDataset shards instead (pipeline/train/wds.py).
"""

from __future__ import annotations

import csv
from pathlib import Path

from PIL import Image

__all__ = ["load_image", "read_rows"]


def read_rows(csv_path: Path) -> list[dict[str, str]]:
    """Rows of an exported CSV as dicts (header = DERM1M_COLUMNS); pandas-free on purpose."""
    with open(csv_path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def load_image(path: Path, size_hint: int | None = None) -> Image.Image:
    """Open an image as RGB. ``size_hint`` lets JPEG decode at reduced scale (DCT scaling), which makes
    decoding large exported photos nearly free compared with a 64-px model."""
    with Image.open(path) as img:
        if size_hint:
            img.draft("RGB", (2 * size_hint, 2 * size_hint))
        return img.convert("RGB")
