"""Local sources: items with provenance, bad entries as rejects, fingerprints that follow content."""

from __future__ import annotations

import json

from PIL import Image

from pipeline.collect.stage import CollectStage
from pipeline.config import DatasetSourceConfig, RunConfig
from pipeline.stage import run_stage


def _corpus(tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "abc.mp4").write_bytes(b"not really a video")
    (tmp_path / "videos" / "abc.info.json").write_text(json.dumps(
        {"id": "abc", "title": "Psoriasis lecture", "webpage_url": "https://www.youtube.com/watch?v=abc",
         "license": "Creative Commons Attribution license (reuse allowed)", "ignored_field": 1}))
    (tmp_path / "videos" / "abc.en.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n")
    (tmp_path / "jats").mkdir()
    (tmp_path / "jats" / "PMC1.xml").write_text("<article/>")
    (tmp_path / "pdf").mkdir()
    (tmp_path / "pdf" / "notes.pdf").write_bytes(b"%PDF-1.7")
    forum = tmp_path / "forum"
    (forum / "images").mkdir(parents=True)
    Image.new("RGB", (80, 80), (200, 150, 120)).save(forum / "images" / "p1.jpg")
    lines = [
        json.dumps({"id": "p1", "forum": "reddit", "title": "Itchy rash", "body": "On my arm", "images": ["images/p1.jpg"]}),
        "{not json",
        json.dumps({"title": "no id"}),
        json.dumps({"id": "p1", "title": "again"}),
    ]
    (forum / "posts.jsonl").write_text("\n".join(lines) + "\n")
    ds = tmp_path / "ds"
    (ds / "images").mkdir(parents=True)
    Image.new("RGB", (80, 80)).save(ds / "images" / "I1.jpg")
    (ds / "metadata.csv").write_text("image_id,dx,age,sex,localization\nI1,mel,50,male,back\n,nv,,,\n")
    cfg = RunConfig()
    src = cfg.collect.sources
    src.videos, src.jats, src.pdfs, src.forums = [tmp_path / "videos"], [tmp_path / "jats"], [tmp_path / "pdf"], [forum]
    src.datasets = [DatasetSourceConfig(name="ds", path=ds, label_map={"mel": "melanoma"})]
    return cfg


def test_collect_items_and_rejects(tmp_path, con):
    cfg = _corpus(tmp_path)
    report = run_stage(con, CollectStage(cfg), "r1")
    items = dict(con.execute("SELECT item_id, source FROM collect_items").fetchall())
    assert items == {"video:abc": "youtube", "article:PMC1": "pubmed_english", "pdf:notes": "textbook_english",
                     "post:p1": "reddit_english", "dataset_image:ds:I1": "public"}
    reasons = sorted(r[0] for r in con.execute("SELECT reason FROM rejects").fetchall())
    assert reasons == ["duplicate_item", "invalid_json", "missing_field", "missing_field"]
    assert report.items_rejected == 4
    meta = json.loads(con.execute("SELECT meta FROM collect_items WHERE item_id='video:abc'").fetchone()[0])
    assert meta["subtitles"][0].endswith("abc.en.vtt") and "ignored_field" not in meta["info"]
    licence = con.execute("SELECT licence FROM collect_items WHERE item_id='video:abc'").fetchone()[0]
    assert licence.startswith("Creative Commons")
    label = json.loads(con.execute("SELECT meta FROM collect_items WHERE kind='dataset_image'").fetchone()[0])
    assert label["label"] == "melanoma" and label["fields"]["site"] == "back"


def test_collect_incremental(tmp_path, con):
    cfg = _corpus(tmp_path)
    run_stage(con, CollectStage(cfg), "r1")
    again = run_stage(con, CollectStage(cfg), "r2")
    assert again.items_in == 0 and again.items_skipped == 5
    (tmp_path / "pdf" / "more.pdf").write_bytes(b"%PDF-1.7 other")
    (tmp_path / "videos" / "abc.en.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nchanged\n")
    third = run_stage(con, CollectStage(cfg), "r3")
    assert third.items_in == 2
    assert con.execute("SELECT count(*) FROM collect_items").fetchone()[0] == 6
    assert con.execute("SELECT count(*) FROM rejects").fetchone()[0] == 4
