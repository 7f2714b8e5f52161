"""Collect at scale: file hashes remembered across runs, one folder listing for every article's sidecars."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.collect import filehash
from pipeline.collect.filehash import FileHashes, canonical
from pipeline.collect.local import LocalDatasetSource, LocalJatsSource, starting_with
from pipeline.warehouse import connect


def _age(path: Path, seconds: int = 60) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - seconds * 10**9))


def test_unchanged_files_are_not_read_again_and_changed_ones_are(tmp_path, monkeypatch):
    reads: list[str] = []
    real = filehash.sha256_file
    monkeypatch.setattr(filehash, "sha256_file", lambda p: reads.append(Path(p).name) or real(p))
    a, b = tmp_path / "a.xml", tmp_path / "b.xml"
    a.write_text("<article/>")
    b.write_text("<article>b</article>")
    _age(a), _age(b)
    con = connect(tmp_path / "w.duckdb")
    first = FileHashes.load(con)
    ha = first.sha256(a)
    first.sha256(b)
    assert first.save(con) == 2 and reads == ["a.xml", "b.xml"]

    reads.clear()
    second = FileHashes.load(con)
    assert second.sha256(a) == ha and reads == []
    b.write_text("<article>b, edited</article>")
    _age(b, 30)
    assert second.sha256(b) == real(b) and reads == ["b.xml"]
    assert second.save(con) == 1
    assert con.execute("SELECT count(*) FROM collect_file_hashes").fetchone()[0] == 2


def test_a_file_written_this_second_is_hashed_but_not_remembered(tmp_path):
    fresh = tmp_path / "fresh.xml"
    fresh.write_text("<article/>")
    hashes = FileHashes()
    hashes.sha256(fresh)
    assert hashes.new == {}


def test_jats_units_use_the_stage_hash_cache_and_keep_their_keys(tmp_path):
    for i in range(3):
        (tmp_path / f"PMC{i}.xml").write_text(f"<article>{i}</article>")
        (tmp_path / f"PMC{i}_f1.jpg").write_bytes(b"jpeg" + bytes([i]))
    source = LocalJatsSource([tmp_path], "cfg")
    plain = {u.key: u.fingerprint for u in source.units()}
    counted: list[Path] = []
    cache = FileHashes()
    source.hash_file = lambda p: counted.append(p) or cache.sha256(p)
    cached = {u.key: u.fingerprint for u in source.units()}
    assert cached == plain and len(counted) == 6
    assert all(k == f"local_jats:{canonical(tmp_path / Path(k.split(':', 1)[1]).name)}" for k in cached)


@pytest.mark.parametrize("prefix", ["PMC1", "PMC12", "PMC123_f", "PMC9", ""])
def test_starting_with_is_the_glob_it_replaces(tmp_path, prefix):
    for name in ("PMC1.xml", "PMC12.xml", "PMC12_f1.jpg", "PMC123_f2.png", "PMC1_f1.jpg", "other.txt"):
        (tmp_path / name).write_text("x")
    (tmp_path / "PMC12").mkdir()
    assert starting_with(tmp_path, prefix) == sorted(tmp_path.glob(f"{prefix}*"))
    assert starting_with(tmp_path / "missing", prefix) == []


def test_a_dataset_csv_grown_by_appending_redoes_only_its_last_chunk(tmp_path, monkeypatch, con):
    from pipeline.collect.stage import CollectStage
    from pipeline.config import DatasetSourceConfig, RunConfig, SourcesConfig
    from pipeline.stage import run_stage

    monkeypatch.setattr(LocalDatasetSource, "CHUNK_ROWS", 3)
    folder = tmp_path / "ds"
    (folder / "images").mkdir(parents=True)
    lines = ["image_id,dx"]
    for i in range(8):
        (folder / "images" / f"x{i}.jpg").write_bytes(b"jpeg" + bytes([i]))
        lines.append(f"x{i},nv")
    lines.append("x1,mel")  # row 9 repeats row 2's image, in another chunk
    (folder / "metadata.csv").write_text("\n".join(lines) + "\n")
    cfg = RunConfig(data_dir=tmp_path / "data")
    cfg.collect.sources = SourcesConfig(datasets=[DatasetSourceConfig(name="ds", path=folder)])
    first = run_stage(con, CollectStage(cfg), "run1")
    assert (first.items_in, first.items_out, first.items_rejected) == (3, 8, 1)
    keys = [r[0] for r in con.execute("SELECT unit_key FROM work_log ORDER BY unit_key").fetchall()]
    assert keys[0] == f"local_datasets:{canonical(folder / 'metadata.csv')}" and len(keys) == 3

    (folder / "images" / "x9.jpg").write_bytes(b"jpeg9")
    with (folder / "metadata.csv").open("a") as fh:
        fh.write("x9,bcc\n")
    grown = run_stage(con, CollectStage(cfg), "run2")
    assert (grown.items_in, grown.items_skipped) == (1, 3)  # only the new chunk (row 10); rows 1-9 untouched
    ids = sorted(r[0] for r in con.execute("SELECT source_id FROM collect_items").fetchall())
    assert ids == [f"ds:x{i}" for i in (0, 1, 2, 3, 4, 5, 6, 7, 9)]
    assert con.execute("SELECT item_id, reason FROM rejects").fetchall() == [("dataset:ds:row9", "duplicate_item")]
