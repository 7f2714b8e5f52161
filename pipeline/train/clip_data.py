"""Data side of the CLIP validation run: read Derm1M-style CSVs, load images, sample caption variants.

Kept apart from clip.py so the training/eval logic stays short and this part can be tested without
creating a model. Nothing here imports open_clip or torchvision: transforms are passed in.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset

__all__ = ["CaptionImageDataset", "load_caption_variants", "load_image", "read_rows"]


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


def load_caption_variants(captions_json: Path, kinds: Sequence[str]) -> dict[str, list[str]]:
    """filename -> caption variants to sample from.

    Accepts write_export's ``{filename: {kind: [texts]}}`` (only ``kinds`` are kept, in that order)
    and a plain ``{filename: [texts]}``. Files whose variants are all filtered out are left out, so
    the dataset falls back to the CSV caption for them.
    """
    data: dict[str, Any] = json.loads(Path(captions_json).read_text(encoding="utf-8"))
    out: dict[str, list[str]] = {}
    for filename, value in data.items():
        texts: list[str] = []
        if isinstance(value, dict):
            for kind in kinds:
                got = value.get(kind, [])
                texts.extend([got] if isinstance(got, str) else got)
        elif isinstance(value, list):
            texts = [str(t) for t in value]
        texts = list(dict.fromkeys(t for t in texts if t))
        if texts:
            out[filename] = texts
    return out


class CaptionImageDataset(Dataset[tuple[torch.Tensor, str]]):
    """(image tensor, caption) per CSV row; with variants, one caption is sampled per item per epoch.

    Sampling is seeded by (seed, epoch, index), so a run is reproducible and independent of the
    order in which the loader asks for items - Derm1M's training draws among several caption
    versions of each image the same way.
    """

    def __init__(
        self,
        rows: Sequence[dict[str, str]],
        image_root: Path,
        transform: Callable[[Image.Image], torch.Tensor],
        variants: dict[str, list[str]] | None = None,
        seed: int = 0,
        size_hint: int | None = None,
    ) -> None:
        self.rows = list(rows)
        self.image_root = Path(image_root)
        self.transform = transform
        self.variants = variants or {}
        self.seed = seed
        self.size_hint = size_hint
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the caption draw for this epoch (call before iterating)."""
        self.epoch = epoch

    def caption(self, index: int) -> str:
        row = self.rows[index]
        options = self.variants.get(row["filename"])
        if not options:
            return row["caption"]
        return random.Random(f"{self.seed}:{self.epoch}:{index}").choice(options)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        image = load_image(self.image_root / self.rows[index]["filename"], self.size_hint)
        return self.transform(image), self.caption(index)
