"""The generic forum importer: exported threads as JSONL with a field mapping (here: exported tweets with
their replies) and saved HTML pages with CSS selectors (a non-Reddit forum with a local image folder).
The exports are written by the tests; images are drawn with Pillow, so no fixture is needed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image

from pipeline.collect.forum_import import ForumImportSource
from pipeline.collect.stage import CollectStage
from pipeline.config import RunConfig, SourcesConfig
from pipeline.config.sources import ForumImportConfig
from pipeline.stage import run_stage

TWEETS = ForumImportConfig(name="twitter", path=Path("tweets"), format="jsonl",
                           fields={"id": "id_str", "body": "full_text", "created_utc": "created_at_ts",
                                   "score": "favorite_count", "images": "media_files", "replies": "replies"},
                           reply_fields={"id": "id_str", "body": "full_text", "score": "favorite_count"},
                           licence="Twitter/X terms")
FORUM = ForumImportConfig(name="skinforum", path=Path("pages"), format="html",
                          selectors={"post": "div.thread", "id": "@data-id", "title": "h1", "body": "div.op .text",
                                     "images": "div.op img@src", "reply": "div.answer", "reply_body": ".text",
                                     "reply_score": ".votes"})


def _collect(con: Any, tmp_path: Path, imp: ForumImportConfig) -> dict[str, Any]:
    imp = imp.model_copy(update={"path": tmp_path / imp.path})
    cfg = RunConfig(data_dir=tmp_path / "data")
    cfg.collect.sources = SourcesConfig(forum_imports=[imp])
    src = ForumImportSource([imp], "h")
    run_stage(con, CollectStage(cfg, sources=[src]), "run1")
    return {r[0]: json.loads(r[1]) for r in con.execute("SELECT item_id, meta FROM collect_items").fetchall()}


def test_jsonl_export_with_a_field_mapping(tmp_path: Path, con: Any) -> None:
    (tmp_path / "tweets").mkdir()
    Image.new("RGB", (64, 48), (200, 120, 110)).save(tmp_path / "tweets" / "rash.jpg")
    lines = [
        {"id_str": "101", "full_text": "Dermatology quiz: what is this?", "user": {"screen_name": "drjane"},
         "created_at_ts": 1650000000, "favorite_count": 12, "media_files": ["rash.jpg"],
         "replies": [{"id_str": "102", "full_text": "Pityriasis rosea, herald patch.", "favorite_count": 30,
                      "user": {"screen_name": "someone"}},
                     {"id_str": "103", "full_text": "Tinea corporis?", "favorite_count": 2}]},
        {"id_str": "104", "full_text": ["not", "text"]},  # wrong type
        {"id_str": "105", "full_text": "escape", "media_files": ["../../etc/passwd"]},
        {"full_text": "no id"},
    ]
    (tmp_path / "tweets" / "export.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n{bad\n")
    items = _collect(con, tmp_path, TWEETS)
    post = items["post:twitter:101"]["post"]
    assert post["body"] == ("Dermatology quiz: what is this?\n\nAnswers (most upvoted first):\n"
                            "- Pityriasis rosea, herald patch.\n- Tinea corporis?")
    assert [r["id"] for r in post["replies"]] == ["102", "103"]
    assert "drjane" not in json.dumps(items) and "someone" not in json.dumps(items)  # unmapped: never read
    assert [Path(p).name for p in items["post:twitter:101"]["images"]] == ["rash.jpg"]
    reasons = dict(con.execute("SELECT item_id, reason FROM rejects").fetchall())
    assert reasons == {"twitter:export.jsonl:2": "wrong_type", "post:twitter:105#../../etc/passwd": "path_outside_source",
                       "twitter:export.jsonl:4": "missing_field", "twitter:export.jsonl:5": "invalid_json"}


def test_saved_html_pages_with_css_selectors(tmp_path: Path, con: Any) -> None:
    pages = tmp_path / "pages"
    (pages / "t1_files").mkdir(parents=True)
    Image.new("RGB", (64, 48), (180, 90, 80)).save(pages / "t1_files" / "arm photo.jpg")
    (pages / "t1.html").write_text("""<html><body>
      <div class="thread" data-id="555">
        <h1>Ring-shaped rash on forearm</h1>
        <div class="op"><span class="user">patient_x</span><div class="text">Itchy ring, scaly edge, 3 weeks.</div>
          <img src="t1_files/arm%20photo.jpg"></div>
        <div class="answer"><span class="user">derm_y</span><div class="text">Tinea corporis; try clotrimazole.</div>
          <span class="votes">14</span></div>
        <div class="answer"><div class="text">Could be granuloma annulare.</div><span class="votes">3</span></div>
      </div></body></html>""")
    items = _collect(con, tmp_path, FORUM)
    meta = items["post:skinforum:555"]
    assert meta["post"]["title"] == "Ring-shaped rash on forearm"
    assert meta["post"]["body"].splitlines()[2:4] == ["Answers (most upvoted first):", "- Tinea corporis; try clotrimazole."]
    assert [r["score"] for r in meta["post"]["replies"]] == [14.0, 3.0]
    assert [Path(p).name for p in meta["images"]] == ["arm photo.jpg"]
    assert "patient_x" not in json.dumps(items) and "derm_y" not in json.dumps(items)  # user spans: not selected


def test_a_bad_selector_is_a_reject(tmp_path: Path, con: Any) -> None:
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "a.html").write_text("<html><body><p>x</p></body></html>")
    bad = FORUM.model_copy(update={"selectors": {"post": "div[[["}})
    assert _collect(con, tmp_path, bad) == {}
    assert con.execute("SELECT reason FROM rejects").fetchall() == [("bad_selector",)]


def test_jsonl_exports_stream_line_by_line_in_any_encoding_or_zst(tmp_path: Path, con: Any) -> None:
    from hostile_corpus import _zst

    folder = tmp_path / "tweets"
    folder.mkdir()
    lines = [json.dumps({"id_str": "1", "full_text": "Eczéma sur la joue"}, ensure_ascii=False).encode("cp1252"),
             json.dumps({"id_str": "2", "full_text": "x" * (9 << 20)}).encode(),  # over the line cap
             b'{"id_str": "3", "full_text": "\x81\x8d\x8f"}',  # bytes neither UTF-8 nor cp1252 decode
             json.dumps({"id_str": "4", "full_text": "Psoriasis plaques"}).encode()]
    (folder / "a.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (folder / "b.jsonl.zst").write_bytes(_zst([json.dumps({"id_str": "5", "full_text": "Acne"}).encode()]))
    items = _collect(con, tmp_path, TWEETS)
    assert sorted(items) == ["post:twitter:1", "post:twitter:4", "post:twitter:5"]
    assert items["post:twitter:1"]["post"]["body"] == "Eczéma sur la joue"
    reasons = dict(con.execute("SELECT item_id, reason FROM rejects").fetchall())
    assert reasons == {"twitter:a.jsonl:2": "line_too_long", "twitter:a.jsonl:3": "bad_encoding"}
