"""Labelled external evaluation sets (CSV + images, or other layouts) and their dedup against training images.

Why presets: every public dermatology benchmark names its columns and codes its labels differently
(HAM10000's ``dx=nv``, PAD-UFES-20's ``diagnostic=NEV``); a preset maps one layout onto (image, label,
concepts) with readable class names, which zero-shot prompts need. Why dedup: web-scraped training images
overlap public benchmarks, and an external score on images the model trained on measures memory, so every
external image within ``max_distance`` perceptual-hash bits of a training image is removed and counted.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, UnidentifiedImageError

from pipeline.vision.dedup import search

__all__ = ["FORMATS", "LabelledImage", "LabelledSet", "image_phash", "load_labelled_set", "remove_training_duplicates"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
HAM_DX = {"akiec": "actinic keratosis", "bcc": "basal cell carcinoma", "bkl": "benign keratosis",
          "df": "dermatofibroma", "mel": "melanoma", "nv": "melanocytic nevus", "vasc": "vascular lesion"}  # fmt: skip
PAD_DX = {"ACK": "actinic keratosis", "BCC": "basal cell carcinoma", "MEL": "melanoma", "NEV": "melanocytic nevus",
          "SCC": "squamous cell carcinoma", "SEK": "seborrheic keratosis"}  # fmt: skip
DERM7PT_CONCEPTS = ("pigment_network", "streaks", "pigmentation", "regression_structures", "dots_and_globules",
                    "blue_whitish_veil", "vascular_structures")  # fmt: skip


@dataclass(frozen=True)
class CsvFormat:
    """Where a CSV layout keeps the image reference and the label; ``pattern`` turns the cell into a file."""

    image_column: str
    label_column: str
    pattern: str = "{}"
    labels: dict[str, str] = field(default_factory=dict)
    concept_columns: tuple[str, ...] = ()


FORMATS: dict[str, CsvFormat] = {
    "ham10000": CsvFormat("image_id", "dx", "{}.jpg", HAM_DX),
    "pad-ufes-20": CsvFormat("img_id", "diagnostic", "{}", PAD_DX),
    "fitzpatrick17k": CsvFormat("md5hash", "label", "{}.jpg"),
    "derm7pt": CsvFormat("derm", "diagnosis", "{}", {}, DERM7PT_CONCEPTS),
    "csv": CsvFormat("filename", "label"),
}
# Daffodil ships one folder per class ("folder"); ISIC archive downloads are an image + JSON pair ("isic-json").
LAYOUTS = (*FORMATS, "folder", "daffodil", "isic-json")


@dataclass
class LabelledImage:
    path: Path
    label: str
    concepts: dict[str, str] = field(default_factory=dict)


@dataclass
class LabelledSet:
    """Images with one class label each; counts of what was dropped on the way, for the report."""

    name: str
    items: list[LabelledImage]
    n_missing: int = 0  # listed but no image file
    n_unreadable: int = 0
    n_duplicates_removed: int = 0

    @property
    def classes(self) -> list[str]:
        return sorted({i.label for i in self.items})


def _index_images(root: Path) -> dict[str, Path]:
    """File name -> path for every image under root (HAM10000 splits its images over two folders)."""
    return {p.name: p for p in sorted(root.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES}


def _from_csv(name: str, fmt: CsvFormat, csv_path: Path, image_dir: Path) -> LabelledSet:
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing_cols = {fmt.image_column, fmt.label_column} - set(reader.fieldnames or [])
        if missing_cols:
            raise ValueError(f"{csv_path} lacks columns {sorted(missing_cols)} (columns: {reader.fieldnames})")
        rows = list(reader)
    index: dict[str, Path] | None = None
    items, missing = [], 0
    for row in rows:
        ref, label = row[fmt.image_column].strip(), row[fmt.label_column].strip()
        if not ref or not label:
            missing += not ref
            continue
        rel = fmt.pattern.format(ref)
        path = image_dir / rel
        if not path.is_file():
            index = _index_images(image_dir) if index is None else index
            path = index.get(Path(rel).name, path)
        if not path.is_file():
            missing += 1
            continue
        concepts = {c: row.get(c, "").strip() for c in fmt.concept_columns if row.get(c, "").strip()}
        items.append(LabelledImage(path, fmt.labels.get(label, label), concepts))
    return LabelledSet(name, items, n_missing=missing)


def _from_folders(name: str, root: Path) -> LabelledSet:
    items = [LabelledImage(p, p.parent.name.replace("_", " "))
             for p in sorted(root.glob("*/*")) if p.suffix.lower() in IMAGE_SUFFIXES]  # fmt: skip
    return LabelledSet(name, items)


def _from_isic_json(name: str, root: Path) -> LabelledSet:
    items, missing = [], 0
    for meta_path in sorted(root.glob("*.json")):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        label = ((meta.get("meta") or {}).get("clinical") or {}).get("diagnosis")
        image = next((meta_path.with_suffix(s) for s in (".jpg", ".jpeg", ".png") if meta_path.with_suffix(s).is_file()),
                     None)  # fmt: skip
        if image is None:
            missing += 1
        elif label:
            items.append(LabelledImage(image, str(label)))
    return LabelledSet(name, items, n_missing=missing)


def load_labelled_set(name: str, layout: str, path: Path, image_dir: Path | None = None) -> LabelledSet:
    """Load an external set. CSV layouts take the CSV as ``path`` (images in ``image_dir``, default: the
    CSV's folder); "folder"/"daffodil" and "isic-json" take the image folder."""
    path = Path(path)
    if layout in FORMATS:
        return _from_csv(name, FORMATS[layout], path, Path(image_dir) if image_dir else path.parent)
    if layout in ("folder", "daffodil"):
        return _from_folders(name, path)
    if layout == "isic-json":
        return _from_isic_json(name, path)
    raise ValueError(f"unknown external set layout {layout!r}; known: {', '.join(LAYOUTS)}")


def image_phash(path: Path) -> str | None:
    """64-bit perceptual hash as hex (the clean stage's hash), or None for an unreadable image."""
    try:
        with Image.open(path) as img:
            return str(imagehash.phash(img.convert("RGB")))
    except (OSError, UnidentifiedImageError, ValueError):
        return None


def _hash_bits(hashes: list[str]) -> np.ndarray:
    return np.array([int(h, 16) for h in hashes], dtype=np.uint64)


def remove_training_duplicates(lset: LabelledSet, train_hashes: list[str], max_distance: int = 6) -> LabelledSet:
    """Drop unreadable images and those within ``max_distance`` phash bits of any training image, found
    with the clean stage's indexed search (a 10k-image eval set against a million training images is
    not an all-pairs matrix)."""
    kept: list[LabelledImage] = []
    hashes: list[str] = []
    unreadable = 0
    for item in lset.items:
        h = image_phash(item.path)
        if h is None:
            unreadable += 1
        else:
            kept.append(item)
            hashes.append(h)
    near = np.zeros(len(kept), dtype=bool)
    train = _hash_bits(train_hashes)
    query = _hash_bits(hashes)
    found, _, _ = search(train, np.zeros_like(train), np.arange(len(train)), query, np.zeros_like(query),
                         len(train) + np.arange(len(query)), max_distance, max_distance)
    near[found - len(train)] = True
    items = [i for i, dup in zip(kept, near.tolist(), strict=True) if not dup]
    return LabelledSet(lset.name, items, lset.n_missing, lset.n_unreadable + unreadable,
                       lset.n_duplicates_removed + int(near.sum()))  # fmt: skip
