"""The whole hostile corpus (tests/hostile_corpus.py) through a real build: every stage ends, no exception
escapes, every hostile file is an item or a reject, and every reject reason is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hostile_corpus import (
    FORUM_PII,
    write_datasets,
    write_encoded_forum,
    write_forum,
    write_media,
    write_unsupported,
)

from pipeline.config import DatasetSourceConfig, RunConfig, SourcesConfig
from pipeline.warehouse import connect

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _documented_reasons() -> list[re.Pattern[str]]:
    readme = (REPO / "warehouse" / "README.md").read_text()
    table = readme.split("## Reason codes in `rejects`")[1].split("\n## ")[0]
    codes = re.findall(r"`([a-z0-9_<>]+)`", "\n".join(line.split("|")[1] for line in table.splitlines()
                                                      if line.startswith("| `")))
    return [re.compile("^" + re.sub(r"<[a-z_]+>", "[a-z0-9_]+", c) + "$") for c in codes]


def test_the_hostile_corpus_builds_to_completion(tmp_path: Path, prefect_harness) -> None:
    from flows.build import build_derm1m

    media = write_media(tmp_path, REPO / "samples")
    odd = write_unsupported(tmp_path / "odd")
    folders = write_datasets(tmp_path)
    write_forum(tmp_path)
    write_encoded_forum(tmp_path)
    cfg = RunConfig(warehouse=tmp_path / "w.duckdb", data_dir=tmp_path / "data", root=tmp_path)
    cfg.collect.sources = SourcesConfig(
        videos=[tmp_path / "videos", tmp_path / "odd" / "videos"], jats=[tmp_path / "jats", tmp_path / "odd" / "jats"],
        pdfs=[tmp_path / "pdfs", tmp_path / "odd" / "pdfs"],
        forums=[tmp_path / "forum", tmp_path / "forum_enc", tmp_path / "odd" / "forums"],
        datasets=[DatasetSourceConfig(name=n, path=p) for n, p in folders.items()])
    cfg.train.enabled = False
    reports = build_derm1m(cfg, run_id="hostile")
    assert {r["stage"]: r["status"] for r in reports} == dict.fromkeys(
        ("collect", "preprocess", "clean", "pair", "augment", "train"), "ok")
    con = connect(cfg.warehouse)
    rejects = con.execute("SELECT stage, item_id, reason, detail FROM rejects").fetchall()
    items = {r[0] for r in con.execute("SELECT path FROM collect_items").fetchall()}
    assert not [r for r in rejects if r[2] == "unexpected_error"], "a bug met an item"
    known = _documented_reasons()
    assert not [r[2] for r in rejects if not any(k.match(r[2]) for k in known)], "undocumented reasons"
    texts = " ".join(f"{r[1]} {r[3]}" for r in rejects)
    for path in [p for paths in (*media.values(), *odd.values()) for p in paths]:  # every one is damaged
        assert path.name in texts or f":{path.stem}" in texts, f"{path} left no reject"
    assert items  # the good records of the corpus (forum posts, dataset rows) still became items
    for table in ("collect_items", "preprocess_items", "preprocess_image_refs", "clean_texts", "pair_image_texts",
                  "augment_captions", "rejects"):
        dump = " ".join(str(v) for row in con.execute(f"SELECT * FROM {table}").fetchall() for v in row)
        assert "\ufffd" not in dump and "&xxe;" not in dump and "/etc/passwd" not in dump, table
        assert not [p for p in FORUM_PII if p in dump], table  # scrubbed at ingest, in every copy
    from pipeline.train.jobs import corpus_rows, export_corpus

    rows = corpus_rows(con)
    assert any(r["source_type"] == "forum" for r in rows)  # the post with PII made it into the corpus...
    export_corpus(rows, cfg.train, tmp_path / "export")
    for folder in (tmp_path / "export", tmp_path / "data" / "media"):  # ...but none of its PII did
        for f in (p for p in folder.rglob("*") if p.is_file()):
            data = f.read_bytes()
            assert not [p for p in FORUM_PII if p.encode() in data], f
