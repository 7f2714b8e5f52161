"""Labelled external evaluation sets (CSV + images, or other layouts) and their leakage into training.

Why presets: every public dermatology benchmark names its columns and codes its labels differently
(HAM10000's ``dx=nv``, PAD-UFES-20's ``diagnostic=NEV``); a preset maps one layout onto (image, label,
concepts) with readable class names, which zero-shot prompts need. The label maps are the ones collect's
dataset presets use (pipeline/vocab/datasets.py), so a class means the same thing in training and in
evaluation.

Why leakage removal: web-scraped training images overlap public benchmarks, often cropped, rescaled or
recoloured, and an external score on images the model trained on measures memory. Whole-image pHash at 6
bits found about half of such crops (bench/dedup.py), so the search is the clean stage's crop-robust one
(pipeline.vision.dedup: pHash+dHash of the whole image and a 3x3 crop grid, both directions) at the clean
stage's thresholds. What goes is the *training* side (Derm1M's way): every exported pair whose image is a
near-duplicate of an evaluation image is left out of the export before the split (``remove_eval_leaks``),
counted per set. The evaluation set stays whole, so its numbers remain comparable across builds and with
published results on the same benchmark; dropping evaluation images instead would make the benchmark
smaller and easier the more of the web the corpus covers. An export made without a set (another profile)
is caught at evaluation time by the same search, which then drops that set's leaking images
(``remove_training_duplicates``) and counts them apart.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline import storage
from pipeline.storage import Location
from pipeline.train.export import ExportRow
from pipeline.vision.dedup import GRID, N_REGIONS, match_sets, region_hashes
from pipeline.vocab.datasets import LABEL_MAPS

__all__ = [
    "EVAL_CROP_SIDES", "FORMATS", "LEAKS_FILE", "EvalSetSpec", "LabelledImage", "LabelledSet", "LeakCheck", "LeakCount", "ViewHashes",
    "image_views", "load_labelled_set", "read_leaks", "readable", "remove_eval_leaks", "remove_training_duplicates",
    "view_hashes", "views_of", "write_leaks",
]  # fmt: skip

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
LEAKS_FILE = "eval_leaks.json"
# Evaluation images also carry 3x3 grids of crops covering 84%, 77% and 71% of each side (70%, 60%, 50% of
# the area): the clean stage's views (92% of a side) find crops down to about 80% of the area, and a
# training copy cropped harder matched its original in 28-36% of real dermoscopy cases (bench/eval_leakage.py).
# Only the evaluation side pays for them: a few thousand images, not the corpus.
EVAL_CROP_SIDES = (0.84, 0.77, 0.71)
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
    "ham10000": CsvFormat("image_id", "dx", "{}.jpg", LABEL_MAPS["ham10000"]),
    "pad-ufes-20": CsvFormat("img_id", "diagnostic", "{}", LABEL_MAPS["pad-ufes-20"]),
    "fitzpatrick17k": CsvFormat("md5hash", "label", "{}.jpg", LABEL_MAPS["fitzpatrick17k"]),
    "derm7pt": CsvFormat("derm", "diagnosis", "{}", LABEL_MAPS["derm7pt"], DERM7PT_CONCEPTS),
    "csv": CsvFormat("filename", "label"),
}
# Daffodil ships one folder per class ("folder"); ISIC archive downloads are an image + JSON pair ("isic-json").
LAYOUTS = (*FORMATS, "folder", "daffodil", "isic-json")


@dataclass(frozen=True)
class EvalSetSpec:
    name: str
    layout: str
    path: Path
    image_dir: Path | None = None

    def load(self) -> LabelledSet:
        return load_labelled_set(self.name, self.layout, self.path, self.image_dir)


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
    n_duplicates_removed: int = 0  # evaluation images dropped: near a training image the export kept
    n_train_pairs_removed: int | None = None  # training pairs the export left out for this set (None: not checked)
    n_train_images_removed: int | None = None

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


@dataclass
class ViewHashes:
    """pHash and dHash of every view (pipeline.vision.dedup.region_hashes) of the readable images."""

    p: np.ndarray  # (n readable, N_REGIONS) uint64
    d: np.ndarray
    readable: np.ndarray  # bool over the images asked for


def readable(lset: LabelledSet) -> LabelledSet:
    """The set without the images that do not decode (counted), for a set whose leaks the export handled."""
    ok = [i for i in lset.items if _decodes(i.path)]
    return LabelledSet(lset.name, ok, lset.n_missing, lset.n_unreadable + len(lset.items) - len(ok),
                       lset.n_duplicates_removed, lset.n_train_pairs_removed, lset.n_train_images_removed)  # fmt: skip


def _decodes(path: Path) -> bool:
    try:
        with Image.open(path) as img:
            img.load()
        return True
    except (OSError, UnidentifiedImageError, ValueError):
        return False


def image_views(path: Location, deep: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
    """(phash, dhash) of every view of one image, upright as the pipeline stores images (EXIF
    orientation applied), or None when it does not decode. ``deep`` adds the evaluation side's smaller
    crops (EVAL_CROP_SIDES)."""
    try:
        with storage.open_file(path) as fh, Image.open(fh) as img:
            return views_of(ImageOps.exif_transpose(img).convert("RGB"), deep)
    except (OSError, UnidentifiedImageError, ValueError):
        return None


def views_of(img: Image.Image, deep: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The clean stage's views of a decoded image (region_hashes), then with ``deep`` the smaller crops
    (3x3 grids at EVAL_CROP_SIDES), hashed by the same function so that both sides compare."""
    return region_hashes(img, extra_sides=EVAL_CROP_SIDES if deep else ())


def view_hashes(paths: list[Location], deep: bool = False) -> ViewHashes:
    """Every image's views; ``deep`` for evaluation images (see EVAL_CROP_SIDES)."""
    views = [image_views(p, deep) for p in paths]
    ok = [v for v in views if v is not None]
    n_views = N_REGIONS + (len(EVAL_CROP_SIDES) * len(GRID) ** 2 if deep else 0)
    p = np.stack([v[0] for v in ok]) if ok else np.zeros((0, n_views), dtype=np.uint64)
    d = np.stack([v[1] for v in ok]) if ok else np.zeros((0, n_views), dtype=np.uint64)
    return ViewHashes(p, d, np.array([v is not None for v in views], dtype=bool))


def _near(a: ViewHashes, b: ViewHashes, thresholds: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Bool masks over a's and b's readable images: near-duplicate of some image of the other."""
    ia, ib = match_sets(a.p, a.d, b.p, b.d, *thresholds)
    near_a, near_b = np.zeros(len(a.p), dtype=bool), np.zeros(len(b.p), dtype=bool)
    near_a[ia], near_b[ib] = True, True
    return near_a, near_b


def remove_training_duplicates(
    lset: LabelledSet, train: ViewHashes, thresholds: tuple[int, int] = (8, 16)
) -> LabelledSet:
    """Drop unreadable evaluation images and those near any training image (``thresholds``: pHash bits,
    pHash+dHash bits, the clean stage's); the fallback for a set the export did not check."""
    ev = view_hashes([i.path for i in lset.items], deep=True)
    kept = [i for i, ok in zip(lset.items, ev.readable.tolist(), strict=True) if ok]
    _, near = _near(train, ev, thresholds)
    items = [i for i, dup in zip(kept, near.tolist(), strict=True) if not dup]
    return LabelledSet(lset.name, items, lset.n_missing, lset.n_unreadable + int((~ev.readable).sum()),
                       lset.n_duplicates_removed + int(near.sum()), lset.n_train_pairs_removed,
                       lset.n_train_images_removed)  # fmt: skip


@dataclass(frozen=True)
class LeakCheck:
    """What the export checks its images against: the profile's evaluation sets and the clean stage's
    near-duplicate thresholds (pHash bits, pHash+dHash bits)."""

    sets: tuple[EvalSetSpec, ...]
    thresholds: tuple[int, int]


@dataclass
class LeakCount:
    eval_set: str
    layout: str
    path: str
    n_eval_images: int  # readable evaluation images searched
    n_train_images_removed: int
    n_train_pairs_removed: int


def remove_eval_leaks(rows: list[ExportRow], check: LeakCheck) -> tuple[list[ExportRow], list[LeakCount]]:
    """The rows whose image is no near-duplicate of any image of the check's sets, and per set how many
    images and pairs were left out (an image near two sets counts in both). Unreadable training images
    stay: the export decides about them, not this check."""
    paths = {r.image_id: r.image_path for r in rows}
    ids = list(paths)
    train = view_hashes([paths[i] for i in ids])
    readable_ids = [i for i, ok in zip(ids, train.readable.tolist(), strict=True) if ok]
    leaked: set[str] = set()
    counts = []
    for spec in check.sets:
        ev = view_hashes([i.path for i in spec.load().items], deep=True)
        near, _ = _near(train, ev, check.thresholds)
        hit = {i for i, dup in zip(readable_ids, near.tolist(), strict=True) if dup}
        leaked |= hit
        counts.append(LeakCount(spec.name, spec.layout, str(spec.path), len(ev.p), len(hit),
                                sum(r.image_id in hit for r in rows)))  # fmt: skip
    return [r for r in rows if r.image_id not in leaked], counts


def write_leaks(export_dir: Path, check: LeakCheck, counts: list[LeakCount]) -> Path:
    """``eval_leaks.json`` in the export: the evaluation reads what was removed for which set."""
    path = Path(export_dir) / LEAKS_FILE
    path.write_text(json.dumps({"thresholds": list(check.thresholds), "sets": [c.__dict__ for c in counts]}, indent=1))
    return path


def read_leaks(export_dir: Path) -> dict[tuple[str, str, str], LeakCount]:
    """(name, layout, path) -> the export's count; empty for an export made without a check."""
    path = Path(export_dir) / LEAKS_FILE
    if not path.is_file():
        return {}
    sets = [LeakCount(**s) for s in json.loads(path.read_text())["sets"]]
    return {(c.eval_set, c.layout, c.path): c for c in sets}
