"""Export the paired corpus in Derm1M's release layout: images/, train.csv, validation.csv, WebDataset
shards, plus Parquet files for Hugging Face ``datasets`` and a dataset card.

Why this layout: Derm1M ships CSVs with a fixed column set next to an image folder, which is what
open_clip-style training code and downstream users expect; the WebDataset shards (with the
``sizes.json`` open_clip reads its sample count from) serve streaming training at scale; the Parquet
files (pipeline/train/parquet.py) and README.md (card.py) make the folder load with
``datasets.load_dataset(export_dir)``. The split is leakage-safe: every row of one source item (video,
article, post), one near-duplicate cluster or one image lands on the same side, so validation numbers are
honest.

Every pair carries its licence and provenance (pipeline/train/release.py's PROVENANCE_COLUMNS) in every
format: after Derm1M's twelve columns in the CSVs (readers by column name or by the first twelve positions
are unaffected), as Parquet columns, and in each WebDataset sample's json. What the release profile leaves
out is counted in ``release.json``, on the card, and listed in ``reference/pairs.parquet``.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import webdataset as wds

from pipeline import storage
from pipeline.storage import Location
from pipeline.train.card import write_card
from pipeline.train.parquet import MAX_FILE_BYTES, ParquetSplit, write_split
from pipeline.train.release import (
    PROVENANCE_COLUMNS,
    Exclusion,
    ReleasePolicy,
    exclusion_counts,
    write_reference,
)
from pipeline.train.splits import SPLITS, assign_splits

__all__ = [
    "CSV_COLUMNS", "DERM1M_COLUMNS", "PARQUET_COLUMNS", "PROVENANCE_COLUMNS", "SPLITS", "ExportManifest", "ExportRow",
    "assign_splits", "export_filename", "write_export",
]  # fmt: skip

DERM1M_COLUMNS = [
    "filename", "caption", "truncated_caption", "source", "source_type", "disease_label",
    "hierarchical_disease_label", "skin_concept", "body_location", "symptoms", "age", "gender",
]  # fmt: skip
_LABEL_COLUMNS = DERM1M_COLUMNS[5:]  # disease_label .. gender
CSV_COLUMNS = [*DERM1M_COLUMNS, *PROVENANCE_COLUMNS]


@dataclass
class ExportRow:
    """One image-caption pair as exported. Empty strings mean "unknown" (Derm1M leaves cells blank)."""

    pair_id: str
    image_id: str
    image_path: Location  # a local path or a media-store URL (pipeline.storage)
    group_id: str  # source item (video/article/post/dataset row); "" = none
    cluster_id: str  # near-duplicate image cluster; "" = none
    caption: str
    truncated_caption: str = ""
    source: str = ""
    source_type: str = ""
    disease_label: str = ""
    hierarchical_disease_label: str = ""
    skin_concept: str = ""
    body_location: str = ""
    symptoms: str = ""
    age: str = ""
    gender: str = ""
    captions: dict[str, str] = field(default_factory=dict)  # kind -> text, sampled at training time
    # licence and provenance (pipeline/train/release.py: provenance(), ReleasePolicy.label)
    licence: str = "unknown"
    licence_text: str = ""
    source_url: str = ""
    source_id: str = ""
    locator: str = ""  # scene, JATS figure id, PDF page/index, image file
    page: str = ""
    start_s: str = ""
    end_s: str = ""
    frame_s: str = ""
    dataset: str = ""
    dataset_row: str = ""
    image_url: str = ""
    source_file: str = ""  # the local file the image came from; only the release by reference names it
    # the image as this pair's own source gives it (image_id is its near-duplicate cluster's canonical image,
    # which may come from another source): what a rehydration of the pair rebuilds
    source_image_id: str = ""


_CAPTION_KINDS = ("raw", "refined", "ontology", "concept")  # the kinds jobs.py exports, one column each
PARQUET_COLUMNS = [*DERM1M_COLUMNS, *(f"{k}_caption" for k in _CAPTION_KINDS),
                   "pair_id", "image_id", "item_id", "cluster_id", *PROVENANCE_COLUMNS]  # fmt: skip


@dataclass
class ExportManifest:
    """What write_export produced; paths are final (inside out_dir)."""

    out_dir: Path
    csv_paths: dict[str, Path]
    n_rows: dict[str, int]
    n_images: int
    shards: list[Path]
    captions_json: dict[str, Path] = field(default_factory=dict)  # split -> filename -> {kind: [texts]}
    filenames: dict[str, str] = field(default_factory=dict)  # pair_id -> CSV filename (relative to out_dir)
    parquet: dict[str, list[Path]] = field(default_factory=dict)  # split -> data/{split}-*-of-*.parquet
    sizes_json: Path | None = None  # shards/sizes.json: shard file name -> samples (open_clip reads it)
    card: Path | None = None  # README.md, the dataset card whose configs name the Parquet files
    release: str = "private"  # the release profile the export was gated by
    excluded: dict[str, dict[str, int]] = field(default_factory=dict)  # reason -> licence -> pairs left out
    reference: Path | None = None  # reference/pairs.parquet: the release by reference of what was left out
    release_json: Path | None = None  # release.json: profile, licence mix, exclusions


def export_filename(row: ExportRow) -> str:
    """CSV ``filename`` of a row: ``images/<image_id><suffix of image_path>`` (suffix kept as is)."""
    return f"images/{row.image_id}{Path(row.image_path).suffix}"


def _wds_ext(path: Location) -> str:
    """WebDataset key for the image bytes; decoders dispatch on it, so normalise ("jpeg" -> "jpg")."""
    ext = Path(path).suffix.lower().lstrip(".")
    return {"jpeg": "jpg", "": "jpg"}.get(ext, ext)


def _place_image(src: Location, dst: Path) -> None:
    """Hard-link (free, same inode) when src and dst share a filesystem, else copy; an image in a remote
    media store is downloaded."""
    if storage.is_remote(src):
        dst.write_bytes(storage.read_bytes(src))
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _cell(row: ExportRow, col: str) -> str:
    """Text of one field; None (a NULL from the warehouse) becomes "" rather than the string "None"."""
    value = getattr(row, col)
    return "" if value is None else str(value)


def _csv_record(row: ExportRow, filename: str) -> list[str]:
    return [filename] + [_cell(row, col) for col in CSV_COLUMNS[1:]]


def _parquet_cells(row: ExportRow, filename: str) -> dict[str, str]:
    """A Parquet row's text: the CSV's cells, each caption kind, and the ids that trace it back."""
    cells = dict(zip(CSV_COLUMNS, _csv_record(row, filename), strict=True))
    cells |= {f"{k}_caption": (row.captions or {}).get(k) or "" for k in _CAPTION_KINDS}
    cells |= {"pair_id": row.pair_id, "image_id": row.image_id, "item_id": _cell(row, "group_id"),
              "cluster_id": _cell(row, "cluster_id")}  # fmt: skip
    return cells


def _captions_by_kind(rows: Sequence[ExportRow]) -> dict[str, list[str]]:
    """All caption variants of one image, grouped by kind, deduplicated, in first-seen order."""
    out: dict[str, list[str]] = {}
    for r in rows:
        variants = dict(r.captions) if r.captions else {}
        variants.setdefault("caption", r.caption)
        for kind, text in variants.items():
            if text and text not in out.setdefault(kind, []):
                out[kind].append(text)
    return out


def _sample(image_id: str, filename: str, rows: list[ExportRow]) -> dict[str, Any]:
    """One WebDataset sample per image: bytes, first caption, and every pair's captions/labels as json."""
    first = rows[0]
    meta = {
        "image_id": image_id,
        "filename": filename,
        "pair_ids": [r.pair_id for r in rows],
        "group_ids": sorted({r.group_id for r in rows if r.group_id}),
        "source": _cell(first, "source"),
        "source_type": _cell(first, "source_type"),
        "licences": sorted({r.licence for r in rows}),
        "captions": _captions_by_kind(rows),
        "labels": {col: _cell(first, col) for col in _LABEL_COLUMNS},
        "pairs": [{col: _cell(r, col) for col in ["pair_id", *CSV_COLUMNS[1:]]} for r in rows],
    }
    return {
        "__key__": image_id,
        _wds_ext(first.image_path): storage.read_bytes(first.image_path),
        "json": json.dumps(meta, ensure_ascii=False, sort_keys=True).encode("utf-8"),
        "txt": _cell(first, "caption"),
    }


def _group_images(rows: Sequence[ExportRow], splits: dict[str, str]) -> dict[str, dict[str, list[ExportRow]]]:
    """split -> image_id -> rows (pair_id order); checks the invariants the layout relies on."""
    missing = [r.pair_id for r in rows if r.pair_id not in splits]
    if missing:
        raise ValueError(f"{len(missing)} rows have no split, e.g. {missing[:3]}")
    bad = {splits[r.pair_id] for r in rows} - set(SPLITS)
    if bad:
        raise ValueError(f"unknown split names {sorted(bad)}; expected {SPLITS}")
    out: dict[str, dict[str, list[ExportRow]]] = {s: {} for s in SPLITS}
    where: dict[str, tuple[str, Location]] = {}
    for r in sorted(rows, key=lambda r: r.pair_id):
        split = splits[r.pair_id]
        prev = where.setdefault(r.image_id, (split, r.image_path))
        if prev[0] != split:
            raise ValueError(f"image {r.image_id} is in both splits; split with assign_splits")
        if Path(prev[1]) != Path(r.image_path):
            raise ValueError(f"image {r.image_id} has two paths: {prev[1]} and {r.image_path}")
        out[split].setdefault(r.image_id, []).append(r)
    return out


def write_export(
    rows: Sequence[ExportRow], splits: dict[str, str], out_dir: Path, shard_size: int,
    parquet_max_bytes: int = MAX_FILE_BYTES, release: ReleasePolicy | None = None,
    excluded: Sequence[ExportRow] = (), exclusions: Sequence[Exclusion] = (),
) -> ExportManifest:  # fmt: skip
    """Write images/, {split}.csv, {split}_captions.json, shards/{split}-NNNNNN.tar with shards/sizes.json,
    data/{split}-NNNNN-of-NNNNN.parquet (files of ~parquet_max_bytes at most), release.json and README.md
    under out_dir; with ``excluded`` (the rows the release profile left out, their splits in ``splits``),
    reference/pairs.parquet. ``exclusions`` are every pair left out, for the counts (no release: nothing
    was gated, the profile reads `private`).

    Everything is built in a sibling temp dir and swapped in by rename, so a rerun replaces the old
    export whole and a crash never leaves a half-written one in place. Order is by pair_id (images by
    their first pair_id), tar mtimes are fixed, so reruns give byte-identical CSVs and shards.
    """
    if shard_size < 1:
        raise ValueError("shard_size must be >= 1")
    out_dir = Path(out_dir)
    by_split = _group_images(rows, splits)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        (tmp / "images").mkdir(parents=True)
        (tmp / "shards").mkdir()
        n_rows: dict[str, int] = {}
        shard_names: list[str] = []
        sizes: dict[str, int] = {}
        tables: dict[str, ParquetSplit] = {}
        for split in SPLITS:
            images = by_split[split]
            filenames = {i: export_filename(rs[0]) for i, rs in images.items()}
            for image_id, fname in filenames.items():
                _place_image(images[image_id][0].image_path, tmp / fname)
            split_rows = sorted((r for rs in images.values() for r in rs), key=lambda r: r.pair_id)
            with open(tmp / f"{split}.csv", "w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh, lineterminator="\n")
                writer.writerow(CSV_COLUMNS)
                writer.writerows(_csv_record(r, filenames[r.image_id]) for r in split_rows)
            n_rows[split] = len(split_rows)
            names = [filenames[r.image_id] for r in split_rows]
            records = ((tmp / f, f, _parquet_cells(r, f)) for r, f in zip(split_rows, names, strict=True))
            tables[split] = write_split(tmp, split, records, PARQUET_COLUMNS, parquet_max_bytes)
            caps = {filenames[i]: _captions_by_kind(rs) for i, rs in images.items()}
            (tmp / f"{split}_captions.json").write_text(
                json.dumps(caps, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8"
            )
            ids = list(images)
            for start in range(0, len(ids), shard_size):
                name = f"shards/{split}-{start // shard_size:06d}.tar"
                chunk = ids[start : start + shard_size]
                with wds.TarWriter(str(tmp / name), mtime=0.0) as sink:
                    for image_id in chunk:
                        sink.write(_sample(image_id, filenames[image_id], images[image_id]))
                shard_names.append(name)
                sizes[Path(name).name] = len(chunk)
        # open_clip's get_dataset_size() reads sizes.json beside the shards, keyed by shard file name
        sizes_json = json.dumps(sizes, indent=1, sort_keys=True)
        (tmp / "shards" / "sizes.json").write_text(sizes_json, encoding="utf-8")
        policy = release or ReleasePolicy("private")
        reasons = {e.pair_id: e.reason for e in exclusions}
        reference = write_reference(tmp, excluded, splits, reasons, policy)
        summary = _release_summary(policy, rows, exclusions, reference is not None)
        (tmp / "release.json").write_text(json.dumps(summary, indent=1, sort_keys=True), encoding="utf-8")
        n_images = {s: len(by_split[s]) for s in SPLITS}
        write_card(tmp, tables, n_images, PARQUET_COLUMNS, sizes, release=summary)
        old = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}"
        if out_dir.exists():
            out_dir.rename(old)
        tmp.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ExportManifest(
        out_dir=out_dir,
        csv_paths={s: out_dir / f"{s}.csv" for s in SPLITS},
        n_rows=n_rows,
        n_images=sum(len(v) for v in by_split.values()),
        shards=[out_dir / n for n in shard_names],
        captions_json={s: out_dir / f"{s}_captions.json" for s in SPLITS},
        filenames={r.pair_id: export_filename(r) for r in rows},
        parquet={s: [out_dir / f for f in t.files] for s, t in tables.items()},
        sizes_json=out_dir / "shards" / "sizes.json",
        card=out_dir / "README.md",
        release=policy.release,
        excluded=summary["excluded"],
        reference=out_dir / "reference" / "pairs.parquet" if reference is not None else None,
        release_json=out_dir / "release.json",
    )


def _release_summary(policy: ReleasePolicy, rows: Sequence[ExportRow], exclusions: Sequence[Exclusion],
                     has_reference: bool) -> dict[str, Any]:  # fmt: skip
    """release.json: the profile, the licence mix of what was exported, and what was left out by reason."""
    licences: dict[str, int] = {}
    for r in rows:
        licences[r.licence] = licences.get(r.licence, 0) + 1
    return {
        "release": policy.release,
        "pairs": len(rows),
        "licences": dict(sorted(licences.items(), key=lambda kv: (-kv[1], kv[0]))),
        "excluded": exclusion_counts(exclusions),
        "reference": "reference/pairs.parquet" if has_reference else None,
    }
