"""Forum connectors: Pushshift / Arctic Shift JSONL import and Reddit's API against a local server.

No real forum dump is available to the project (see ../shared/fixtures/README.md), so the dump lines
and API answers here are written by the test in Reddit's documented object shapes (t3 submissions with
gallery `media_metadata`, t1 comments with `link_id`); the images they point at are JPEGs drawn by the
test (tests/collect_server.py), so no fixture is needed. tests/test_forum_reddit.py replays recorded real
Reddit answers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from collect_server import LocalServer, jpeg, static

from pipeline.collect.forums import DumpImportSource, RedditSource, image_urls
from pipeline.collect.http import HttpClient
from pipeline.collect.stage import CollectStage
from pipeline.config import RunConfig
from pipeline.config.sources import RedditConfig
from pipeline.stage import run_stage


def _submission(url: str, sid: str = "1abcde") -> dict[str, object]:
    return {
        "id": sid, "name": f"t3_{sid}", "subreddit": "DermatologyQuestions", "title": "Itchy ring-shaped rash on arm",
        "selftext": "Red ring with a scaly edge, two weeks now.", "author": "user1", "score": 12,
        "created_utc": 1700000000, "permalink": f"/r/DermatologyQuestions/comments/{sid}/itchy/",
        "url": f"https://www.reddit.com/gallery/{sid}", "is_gallery": True,
        "gallery_data": {"items": [{"media_id": "m2"}, {"media_id": "m1"}]},
        "media_metadata": {"m1": {"s": {"u": f"{url}/img/one.jpg?width=640&amp;format=pjpg"}},
                           "m2": {"s": {"u": f"{url}/img/two.jpg"}}},
    }


def _comment(cid: str, sid: str, body: str, parent: str | None = None) -> dict[str, object]:
    return {"id": cid, "link_id": f"t3_{sid}", "parent_id": parent or f"t3_{sid}", "author": "doc",
            "score": 5, "created_utc": 1700000100, "body": body}


def _client(tmp_path: Path) -> HttpClient:
    return HttpClient(tmp_path / "raw", max_retries=0, sleep=lambda s: None, cache_dir=tmp_path / "cache")


def test_gallery_order_and_entities() -> None:
    urls = image_urls(_submission("http://x"))
    assert urls == ["http://x/img/two.jpg", "http://x/img/one.jpg?width=640&format=pjpg"]


def test_dump_import_joins_replies_and_downloads_images(tmp_path: Path, con: object) -> None:
    image = jpeg(0)
    with LocalServer({"/img/two.jpg": static(image, "image/jpeg")}) as srv:
        dump = tmp_path / "RS_2023.jsonl"
        lines = [json.dumps(_submission(srv.url)), json.dumps(_comment("c1", "1abcde", "Looks like tinea corporis.")),
                 json.dumps(_comment("c2", "1abcde", "[deleted]")), "{not json", json.dumps({"title": "no id"})]
        dump.write_text("\n".join(lines) + "\n")
        cfg = RunConfig(data_dir=tmp_path / "data")
        src = DumpImportSource([dump], _client(tmp_path), "h", download_images=True)
        run_stage(con, CollectStage(cfg, sources=[src]), "run1")  # type: ignore[arg-type]
        again = run_stage(con, CollectStage(cfg, sources=[DumpImportSource([dump], _client(tmp_path), "h", True)]),
                          "run2")  # type: ignore[arg-type]
    (item_id, meta) = con.execute("SELECT item_id, meta FROM collect_items").fetchone()  # type: ignore[attr-defined]
    post = json.loads(meta)
    assert item_id == "post:t3_1abcde"
    assert [r["body"] for r in post["post"]["replies"]] == ["Looks like tinea corporis."]
    assert len(post["images"]) == 1 and Path(post["images"][0]).read_bytes() == image
    reasons = sorted(r[0] for r in con.execute("SELECT reason FROM rejects").fetchall())  # type: ignore[attr-defined]
    assert reasons == ["fetch_not_found", "invalid_json", "missing_field"]
    assert again.items_in == 0 and srv.hits["/img/two.jpg"] == 1


def test_reddit_api_listing_then_post_with_comment_tree(tmp_path: Path, con: object,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDDIT_CLIENT_ID", "id")
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", "secret")
    image = jpeg(1)
    holder: dict[str, str] = {}

    def token(q: dict[str, list[str]], h: object) -> tuple[int, dict[str, str], bytes]:
        assert q["grant_type"] == ["client_credentials"]
        assert h.headers["Authorization"].startswith("Basic ")  # type: ignore[attr-defined]
        return 200, {}, json.dumps({"access_token": "tok", "token_type": "bearer"}).encode()

    def listing(q: dict[str, list[str]], h: object) -> tuple[int, dict[str, str], bytes]:
        assert h.headers["Authorization"] == "Bearer tok"  # type: ignore[attr-defined]
        return 200, {}, json.dumps({"kind": "Listing", "data": {"children": [
            {"kind": "t3", "data": _submission(holder["url"])}]}}).encode()

    def comments(q: dict[str, list[str]], h: object) -> tuple[int, dict[str, str], bytes]:
        reply = {"kind": "t1", "data": {**_comment("c2", "1abcde", "Agree, try clotrimazole.", "t1_c1"),
                                        "replies": ""}}
        top = {"kind": "t1", "data": {**_comment("c1", "1abcde", "Tinea corporis."),
                                      "replies": {"kind": "Listing", "data": {"children": [reply]}}}}
        return 200, {}, json.dumps([{"kind": "Listing", "data": {"children": [{"kind": "t3", "data": _submission(holder["url"])}]}},
                                    {"kind": "Listing", "data": {"children": [top, {"kind": "more", "data": {}}]}}]).encode()

    routes = {"/token": token, "/r/DermatologyQuestions/new": listing, "/comments/1abcde": comments,
              "/img/one.jpg": static(image), "/img/two.jpg": static(image)}
    with LocalServer(routes) as srv:  # type: ignore[arg-type]
        holder["url"] = srv.url
        rc = RedditConfig(enabled=True, subreddits=["DermatologyQuestions"], api_base=srv.url,
                          token_url=f"{srv.url}/token")
        src = RedditSource(rc, _client(tmp_path), "h")
        run_stage(con, CollectStage(RunConfig(data_dir=tmp_path / "data"), sources=[src]), "run1")  # type: ignore[arg-type]
    meta = json.loads(con.execute("SELECT meta FROM collect_items").fetchone()[0])  # type: ignore[attr-defined]
    assert [r["id"] for r in meta["post"]["replies"]] == ["c1", "c2"]
    assert len(meta["images"]) == 2 and srv.hits["/token"] == 1
    assert not list((tmp_path / "raw").rglob("*.api")) or all(
        b"access_token" not in p.read_bytes() for p in (tmp_path / "raw").rglob("*.api")), "token not kept on disk"


def test_reddit_without_credentials_is_a_reject(tmp_path: Path, con: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDDIT_CLIENT_ID", raising=False)
    src = RedditSource(RedditConfig(enabled=True, subreddits=["x"], api_base="http://127.0.0.1:9",
                                    token_url="http://127.0.0.1:9/token"), _client(tmp_path), "h")
    run_stage(con, CollectStage(RunConfig(data_dir=tmp_path / "data"), sources=[src]), "run1")  # type: ignore[arg-type]
    (reason, detail) = con.execute("SELECT reason, detail FROM rejects").fetchone()  # type: ignore[attr-defined]
    assert reason == "source_unavailable" and "REDDIT_CLIENT_ID" in detail
