"""Hostile input never stops a build and never reaches the corpus: each file or record of the project's
hostile corpus (tests/hostile_corpus.py) becomes an item or a reject with a reason."""

from __future__ import annotations

from pathlib import Path

from hostile_corpus import (
    write_datasets,
    write_encoded_forum,
    write_forum,
    write_overlapping_dumps,
    write_unsupported,
)

from pipeline.collect.stage import CollectStage
from pipeline.config import RunConfig, SourcesConfig
from pipeline.stage import run_stage


def test_forum_records_of_wrong_types_and_escaping_paths(tmp_path: Path, con) -> None:
    expected = write_forum(tmp_path)
    cfg = RunConfig(data_dir=tmp_path / "data")
    cfg.collect.sources = SourcesConfig(forums=[tmp_path / "forum"])
    report = run_stage(con, CollectStage(cfg), "run1")
    assert report.status == "ok"
    items = {r[0]: r[1] for r in con.execute("SELECT source_id, meta->>'$.images' FROM collect_items").fetchall()}
    assert sorted(items) == sorted(k for k, v in expected.items() if v.startswith("item"))
    rejects = con.execute("SELECT item_id, reason, detail FROM rejects ORDER BY item_id").fetchall()
    by_reason: dict[str, list[str]] = {}
    for item_id, reason, _ in rejects:
        by_reason.setdefault(reason, []).append(item_id)
    assert len(by_reason["wrong_type"]) == 3 and len(by_reason["path_outside_source"]) == 3
    assert by_reason["invalid_json"] and by_reason["missing_field"]  # "{not json" and "[1, 2]"
    secret = str((tmp_path / "outside" / "secret.jpg").resolve())
    assert all(secret not in (images or "") for images in items.values())  # nothing outside the root is read
    assert str((tmp_path / "forum" / "images" / "ok.jpg").resolve()) in items["climbs_out"]


def test_encodings_and_dataset_paths(tmp_path: Path, con) -> None:
    """A Latin-1 CSV and a cp1252 JSONL decode right (no U+FFFD anywhere); binary files are bad_encoding;
    a dataset row naming a file outside its folder is path_outside_source, a repeated one duplicate_item
    (the rest of its CSV is kept); the other sources still run."""
    from pipeline.config import DatasetSourceConfig

    folders = write_datasets(tmp_path)
    forum = write_encoded_forum(tmp_path)
    cfg = RunConfig(data_dir=tmp_path / "data")
    cfg.collect.sources = SourcesConfig(
        forums=[forum], datasets=[DatasetSourceConfig(name=n, path=p) for n, p in folders.items()])
    assert run_stage(con, CollectStage(cfg), "run1").status == "ok"
    rows = con.execute("SELECT source_id, title, CAST(meta AS VARCHAR) FROM collect_items ORDER BY 1").fetchall()
    assert [r[0] for r in rows] == ["cp1252", "escape:x1", "latin1:x1"]
    assert rows[0][1] == "Café-au-lait spots – are they normal?"
    assert '"raw_label":"eczéma"' in rows[2][2]
    assert not any("\ufffd" in (t or "") + m for _, t, m in rows)
    reasons = sorted((r[0], r[1]) for r in con.execute("SELECT reason, item_id FROM rejects").fetchall())
    garbage_image = str((folders["garbage"] / "images" / "x1.jpg").resolve())  # no readable row names it
    assert reasons == [("bad_encoding", "dataset:garbage"), ("bad_encoding", "forum:binary.jsonl"),
                       ("duplicate_item", "dataset:escape:row3"), ("path_outside_source", "dataset:escape:row2"),
                       ("unsupported_file", garbage_image)]


def test_every_file_under_a_source_folder_is_an_item_or_a_reject(tmp_path: Path, con) -> None:
    files = write_unsupported(tmp_path)
    cfg = RunConfig(data_dir=tmp_path / "data")
    cfg.collect.sources = SourcesConfig(videos=[tmp_path / "videos"], jats=[tmp_path / "jats"],
                                        pdfs=[tmp_path / "pdfs"], forums=[tmp_path / "forums"])
    assert run_stage(con, CollectStage(cfg), "run1").status == "ok"
    rejected = {r[0]: r[1] for r in con.execute("SELECT item_id, reason FROM rejects").fetchall()}
    expected = {str(p.resolve()) for paths in files.values() for p in paths}
    assert set(rejected) == expected and set(rejected.values()) == {"unsupported_file"}
    assert run_stage(con, CollectStage(cfg), "run2").items_in == 0  # nothing new: nothing redone


def test_two_articles_with_one_stem_keep_the_first_in_path_order(tmp_path: Path, con) -> None:
    jats = tmp_path / "jats"
    for folder, name in (("b", "PMC7.xml"), ("a", "PMC7.nxml"), ("a", "PMC7.xml")):
        (jats / folder).mkdir(parents=True, exist_ok=True)
        (jats / folder / name).write_text(f"<article><!-- {folder}/{name} --></article>")
    cfg = RunConfig(data_dir=tmp_path / "data")
    cfg.collect.sources = SourcesConfig(jats=[jats])
    for run in ("run1", "run2"):
        run_stage(con, CollectStage(cfg), run)
        assert con.execute("SELECT path FROM collect_items").fetchall() == [(str(jats / "a" / "PMC7.nxml"),)]
    rejects = con.execute("SELECT reason, detail FROM rejects ORDER BY item_id").fetchall()
    assert [r[0] for r in rejects] == ["duplicate_item", "duplicate_item"]
    assert all(str(jats / "a" / "PMC7.nxml") in r[1] for r in rejects)


def test_a_post_in_two_dump_files_is_kept_once_and_the_rest_of_both_files_is_collected(tmp_path: Path, con) -> None:
    forum = write_overlapping_dumps(tmp_path)
    cfg = RunConfig(data_dir=tmp_path / "data")
    cfg.collect.sources = SourcesConfig(forums=[forum])
    for run in ("run1", "run2"):
        assert run_stage(con, CollectStage(cfg), run).status == "ok"
        rows = con.execute("SELECT source_id, title FROM collect_items ORDER BY 1").fetchall()
        assert rows == [("p1", "rash p1"), ("p2", "rash p2"), ("p3", "rash p3 again")]
    rejects = con.execute("SELECT item_id, reason, detail FROM rejects").fetchall()
    assert [(r[0], r[1]) for r in rejects] == [("post:p2", "duplicate_item")] and "a.jsonl" in rejects[0][2]
