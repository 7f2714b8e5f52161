"""Export stage: leakage-free splits, Derm1M CSV layout, one WebDataset sample per image, clean reruns."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import random
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.train.export import DERM1M_COLUMNS, ExportRow, assign_splits, write_export

COLOURS = {
    "eczema": (200, 40, 40),
    "psoriasis": (40, 200, 40),
    "melanoma": (40, 40, 200),
    "acne": (220, 200, 40),
}


def make_rows(tmp: Path, n_images: int = 24, rng_seed: int = 0) -> list[ExportRow]:
    """n_images small images of 4 classes; images 0-2 share a group, 3 and 6 a cluster; some get 2 pairs."""
    rng = random.Random(rng_seed)
    (tmp / "src").mkdir(parents=True, exist_ok=True)
    names = list(COLOURS)
    rows: list[ExportRow] = []
    for i in range(n_images):
        label = names[i % 4]
        ext = "png" if i % 5 == 0 else "jpg"
        path = tmp / "src" / f"img{i:03d}.{ext}"
        if not path.exists():
            noise = Image.fromarray(np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8))
            Image.blend(Image.new("RGB", (32, 32), COLOURS[label]), noise, 0.2).save(path)
        group = "g-shared" if i < 3 else f"g{i // 2}"
        cluster = "c-dup" if i in (3, 6) else (f"c{i}" if rng.random() < 0.5 else "")
        for j in range(1 + (i % 3 == 0)):
            caption = f"a skin image of {label}, case {i}" + (", close-up" if j else "")
            rows.append(
                ExportRow(
                    pair_id=f"p{i:03d}-{j}",
                    image_id=f"im{i:03d}",
                    image_path=path,
                    group_id=group,
                    cluster_id=cluster,
                    caption=caption,
                    source="synthetic",
                    source_type="test",
                    disease_label=label,
                    age="40",
                    gender="female" if i % 2 else "male",
                    captions={
                        "raw": caption,
                        "refined": f"{label} lesion",
                        "ontology": f"{label}, inflammatory",
                    },
                )
            )
    return rows


def _assert_no_leak(rows: list[ExportRow], splits: dict[str, str]) -> None:
    for attr in ("group_id", "cluster_id", "image_id"):
        sides: dict[str, set[str]] = {}
        for r in rows:
            if getattr(r, attr):
                sides.setdefault(getattr(r, attr), set()).add(splits[r.pair_id])
        assert all(len(s) == 1 for s in sides.values()), attr


@pytest.mark.parametrize("seed", range(8))
def test_assign_splits_no_leak_both_sides(tmp_path: Path, seed: int) -> None:
    rows = make_rows(tmp_path, rng_seed=seed)
    random.Random(seed).shuffle(rows)
    splits = assign_splits(rows, 0.25, seed)
    assert set(splits) == {r.pair_id for r in rows}
    _assert_no_leak(rows, splits)
    n_val = sum(v == "validation" for v in splits.values())
    assert 0 < n_val < len(rows)
    # a coin per component: about 30 components here, so the share is 0.25 give or take ~0.08 (one sd)
    assert 0.05 * len(rows) <= n_val <= 0.5 * len(rows)
    assert assign_splits(list(reversed(rows)), 0.25, seed) == splits  # deterministic, order-free


@pytest.mark.parametrize("seed", range(4))
def test_a_growing_corpus_moves_no_pair_across_the_split(tmp_path: Path, seed: int) -> None:
    """20 % more pairs, none joining an existing component: every old pair keeps its side."""
    import dataclasses

    rows = make_rows(tmp_path, rng_seed=seed)
    before = assign_splits(rows, 0.25, seed)
    extra = [dataclasses.replace(r, pair_id=f"new-{r.pair_id}", image_id=f"new-{r.image_id}",
                                 group_id=f"new-{r.group_id}", cluster_id=f"new-{r.cluster_id}")
             for r in rows[: len(rows) // 5]]
    after = assign_splits(rows + extra, 0.25, seed)
    assert {p: after[p] for p in before} == before


def test_assign_splits_tiny_and_invalid(tmp_path: Path) -> None:
    rows = make_rows(tmp_path)
    two = [r for r in rows if r.pair_id in ("p013-0", "p014-0")]
    assert sorted(assign_splits(two, 0.01, 0).values()) == ["train", "validation"]
    assert sorted(assign_splits(two, 0.99, 0).values()) == ["train", "validation"]
    one_group = [r for r in rows if r.group_id == "g-shared"]
    assert len(one_group) == 4 and set(assign_splits(one_group, 0.5, 0).values()) == {"train"}
    with pytest.raises(ValueError):
        assign_splits(rows, 0.0, 0)


def test_write_export_layout(tmp_path: Path) -> None:
    rows = make_rows(tmp_path)
    splits = assign_splits(rows, 0.25, 0)
    out = tmp_path / "export"
    (out / "stale").mkdir(parents=True)  # a previous run's leftovers must vanish
    m = write_export(rows, splits, out, shard_size=5)
    assert not (out / "stale").exists()
    assert m.n_images == 24 and sum(m.n_rows.values()) == len(rows)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "src"]  # no temp dirs left over
    for split, path in m.csv_paths.items():
        with open(path, newline="") as fh:
            reader = csv.reader(fh)
            assert next(reader)[: len(DERM1M_COLUMNS)] == DERM1M_COLUMNS  # provenance columns follow
            body = list(reader)
        assert len(body) == m.n_rows[split]
        assert all((out / r[0]).is_file() and r[0].startswith("images/") for r in body)
        assert [r[0] for r in body] == [
            m.filenames[p] for p in sorted(k for k, v in splits.items() if v == split)
        ]
    assert len(list((out / "images").iterdir())) == 24
    src = rows[0].image_path
    assert (out / m.filenames[rows[0].pair_id]).read_bytes() == src.read_bytes()

    keys: dict[str, list[str]] = {"train": [], "validation": []}
    for shard in m.shards:
        split = shard.name.split("-")[0]
        with tarfile.open(shard) as tf:
            members = tf.getmembers()
            assert all(t.mtime == 0 for t in members)
            by_key: dict[str, dict[str, bytes]] = {}
            for t in members:
                key, ext = t.name.split(".", 1)
                f = tf.extractfile(t)
                assert f is not None
                by_key.setdefault(key, {})[ext] = f.read()
        assert len(by_key) <= 5
        for key, parts in by_key.items():
            keys[split].append(key)
            img_ext = "png" if "png" in parts else "jpg"
            assert Image.open(io.BytesIO(parts[img_ext])).size == (32, 32)
            meta = json.loads(parts["json"])
            assert meta["image_id"] == key and meta["pair_ids"]
            assert parts["txt"].decode() == meta["pairs"][0]["caption"]
            assert set(meta["captions"]) >= {"raw", "refined", "ontology"}
            assert {splits[p] for p in meta["pair_ids"]} == {split}
    assert sorted(keys["train"] + keys["validation"]) == sorted({r.image_id for r in rows})  # one per image
    caps = json.loads(m.captions_json["train"].read_text())
    assert all(set(v) >= {"raw", "refined"} for v in caps.values())


def test_write_export_null_fields_are_blank(tmp_path: Path) -> None:
    """Warehouse NULLs arrive as None: the CSV must say "" (as Derm1M does), never "None"."""
    nulls: dict[str, None] = {"age": None, "cluster_id": None}
    rows = [dataclasses.replace(r, **nulls) for r in make_rows(tmp_path)[:6]]  # type: ignore[arg-type]
    m = write_export(rows, assign_splits(rows, 0.3, 0), tmp_path / "export", shard_size=10)
    text = "".join(p.read_text() for p in m.csv_paths.values())
    assert "None" not in text and text.count("\n") == len(rows) + 2


def test_write_export_rerun_identical_and_webdataset(tmp_path: Path) -> None:
    import webdataset as wds

    rows = make_rows(tmp_path)
    splits = assign_splits(rows, 0.25, 1)
    out = tmp_path / "export"
    m1 = write_export(rows, splits, out, shard_size=100)
    first = {p.name: p.read_bytes() for p in m1.shards} | {"train.csv": m1.csv_paths["train"].read_bytes()}
    m2 = write_export(list(reversed(rows)), splits, out, shard_size=100)
    assert {p.name: p.read_bytes() for p in m2.shards} | {
        "train.csv": m2.csv_paths["train"].read_bytes()
    } == first
    samples = list(wds.WebDataset(str(m2.shards[0]), shardshuffle=False).decode("pil"))
    assert len(samples) == len({r.image_id for r in rows if splits[r.pair_id] == "train"})
    assert all(isinstance(s.get("jpg", s.get("png")), Image.Image) for s in samples)
    with pytest.raises(ValueError):
        write_export(rows, {**splits, rows[1].pair_id: "train", rows[0].pair_id: "validation"}, out, 10)
