"""Collect at scale: file hashes remembered across runs, one folder listing for every article's sidecars."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.collect import filehash
from pipeline.collect.filehash import FileHashes, canonical
from pipeline.collect.local import LocalJatsSource, starting_with
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
