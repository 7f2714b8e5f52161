"""The export's formats for users: Parquet that `datasets` loads, a dataset card, shards/sizes.json for open_clip."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from PIL import Image

from pipeline.train.export import PARQUET_COLUMNS, assign_splits, write_export
from pipeline.train.parquet import write_split
from pipeline.train.wds import count_samples
from tests.test_train_export import make_rows

# `datasets` reads these when imported: never the network
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def export(tmp_path: Path):
    rows = make_rows(tmp_path)
    splits = assign_splits(rows, 0.25, 0)
    return rows, splits, write_export(rows, splits, tmp_path / "export", shard_size=5)


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_parquet_has_the_csv_rows_columns_and_images(export) -> None:
    rows, splits, m = export
    by_pair = {r.pair_id: r for r in rows}
    assert set(m.parquet) == {"train", "validation"}
    for split, files in m.parquet.items():
        assert [f.name for f in files] == [f"{split}-00000-of-00001.parquet"]
        schema = pq.read_schema(files[0])
        assert schema.names == ["image", *PARQUET_COLUMNS]
        features = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
        assert features["image"] == {"_type": "Image"} and features["caption"]["dtype"] == "string"
        table = pq.read_table(files[0])
        assert table.num_rows == m.n_rows[split] == sum(v == split for v in splits.values())
        records = table.to_pylist()
        csv_rows = _csv_rows(m.csv_paths[split])
        assert [r["filename"] for r in records] == [r["filename"] for r in csv_rows]  # same rows, same order
        for rec, csv_row in zip(records, csv_rows, strict=True):
            assert {k: rec[k] for k in csv_row} == csv_row
            src = by_pair[rec["pair_id"]]
            assert rec["image_id"] == src.image_id and rec["item_id"] == src.group_id
            assert rec["cluster_id"] == src.cluster_id and rec["raw_caption"] == src.captions["raw"]
            assert rec["concept_caption"] == ""  # a kind the row lacks is blank, not missing
            assert rec["image"]["path"] == rec["filename"]
            assert rec["image"]["bytes"] == (m.out_dir / rec["filename"]).read_bytes()
            assert Image.open(io.BytesIO(rec["image"]["bytes"])).size == (32, 32)


def test_dataset_card_names_the_parquet_files_per_split(export) -> None:
    _, _, m = export
    text = m.card.read_text(encoding="utf-8")
    header = yaml.safe_load(text.split("---\n")[1])
    files = header["configs"][0]["data_files"]
    assert files == [{"split": s, "path": f"data/{s}-*.parquet"} for s in ("train", "validation")]
    assert header["license"] == "other" and header["size_categories"] == ["n<1K"]
    assert {s["name"]: s["num_examples"] for s in header["dataset_info"]["splits"]} == m.n_rows
    assert [f["name"] for f in header["dataset_info"]["features"]] == ["image", *PARQUET_COLUMNS]
    assert "Licence caveat" in text and "| synthetic |" in text and "## Columns" in text


def test_sizes_json_counts_every_shard(export) -> None:
    _, _, m = export
    assert m.sizes_json == m.out_dir / "shards" / "sizes.json"
    sizes = json.loads(m.sizes_json.read_text())
    assert sorted(sizes) == sorted(p.name for p in m.shards)
    assert all(sizes[p.name] == count_samples([p]) for p in m.shards)
    assert sum(sizes.values()) == m.n_images == 24


def test_open_clip_reads_the_train_size_from_sizes_json(export) -> None:
    """open_clip's own get_dataset_size, on the --train-data pattern the card prints."""
    _, _, m = export
    from pipeline.vision.tvshim import ensure_torchvision

    ensure_torchvision()
    data = pytest.importorskip("open_clip_train.data")
    pattern = re.search(r'--train-data "([^"]+)"', m.card.read_text()).group(1)
    n_train = sum(count_samples([p]) for p in m.shards if p.name.startswith("train-"))
    total, n_shards = data.get_dataset_size(str(m.out_dir / pattern))
    assert (total, n_shards) == (n_train, sum(p.name.startswith("train-") for p in m.shards))


def test_parquet_files_roll_over_by_size_and_keep_row_order(tmp_path: Path) -> None:
    rows = make_rows(tmp_path, n_images=12)
    records = [(r.image_path, r.image_path.name, {"pair_id": r.pair_id, "source": r.source}) for r in rows]
    limit = 3 * max(r.image_path.stat().st_size for r in rows) + 100
    out = write_split(tmp_path / "x", "train", iter(records), ["pair_id", "source"],
                      max_file_bytes=limit, rows_per_group=2)  # fmt: skip
    n = len(out.files)
    assert n >= 2 and out.files == [f"data/train-{i:05d}-of-{n:05d}.parquet" for i in range(n)]
    tables = [pq.read_table(tmp_path / "x" / f) for f in out.files]
    for f, t in zip(out.files, tables, strict=True):  # the payload the writer counts stays under the limit
        payload = sum(len(r["image"]["bytes"]) + len(r["pair_id"]) + len(r["source"]) for r in t.to_pylist())
        assert 1 <= t.num_rows and payload <= limit
        meta = pq.ParquetFile(tmp_path / "x" / f).metadata
        assert all(meta.row_group(i).num_rows <= 2 for i in range(meta.num_row_groups))
    assert [p for t in tables for p in t.column("pair_id").to_pylist()] == [r.pair_id for r in rows]
    assert out.n_rows == len(rows) and out.counts["source"] == {"synthetic": len(rows)}
    assert not list((tmp_path / "x" / "data").glob("*.partial"))


def _load(export_dir: Path, tmp_path: Path, files: dict[str, list[Path]] | None):
    datasets = pytest.importorskip("datasets", reason="`datasets` is not installed (extra: hf)")
    cache = str(tmp_path / "hf-cache")
    if files is None:
        return datasets, datasets.load_dataset(str(export_dir), cache_dir=cache)
    data_files = {s: [str(p) for p in fs] for s, fs in files.items()}
    return datasets, datasets.load_dataset("parquet", data_files=data_files, cache_dir=cache)


@pytest.mark.parametrize("how", ["parquet", "export_dir"])
def test_load_dataset_decodes_images(export, tmp_path: Path, how: str) -> None:
    _, _, m = export
    datasets, ds = _load(m.out_dir, tmp_path, m.parquet if how == "parquet" else None)
    assert set(ds) == {"train", "validation"}
    assert {s: ds[s].num_rows for s in ds} == m.n_rows
    assert isinstance(ds["train"].features["image"], datasets.Image)
    first = ds["train"][0]
    assert isinstance(first["image"], Image.Image) and first["image"].size == (32, 32)
    assert first["filename"] == _csv_rows(m.csv_paths["train"])[0]["filename"]


def test_load_dataset_with_an_empty_split(tmp_path: Path) -> None:
    """A corpus too small for a validation side still loads: the empty split has no file and no config."""
    rows = [dataclasses.replace(r, group_id="one") for r in make_rows(tmp_path, n_images=4)]
    splits = assign_splits(rows, 0.25, 0)
    assert set(splits.values()) == {"train"}
    m = write_export(rows, splits, tmp_path / "export", shard_size=5)
    assert m.parquet["validation"] == [] and not list((m.out_dir / "data").glob("validation-*"))
    _, ds = _load(m.out_dir, tmp_path, None)
    assert set(ds) == {"train"} and ds["train"].num_rows == len(rows)
