"""A post both in a dump and in Reddit's API answers is collected once, whichever source met it first:
before, the second one failed its whole unit on the item id (`key_conflict`), which for a dump unit lost
a month of posts. The sources read each other's cursors (the dump's collected ids, the API's `seen:`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from collect_server import LocalServer, Reply
from hostile_corpus import _zst

from pipeline.collect.forums import DumpImportSource, RedditSource
from pipeline.collect.http import HttpClient
from pipeline.collect.stage import CollectStage
from pipeline.config import RunConfig
from pipeline.config.sources import RedditConfig
from pipeline.stage import run_stage

pytest.importorskip("zstandard")


def _sub(sid: str) -> dict[str, Any]:
    return {"id": sid, "subreddit": "x", "title": f"Rash {sid}", "selftext": "Itchy.", "created_utc": 1650000000}


def _client(tmp_path: Path) -> HttpClient:
    return HttpClient(tmp_path / "raw", max_retries=0, sleep=lambda s: None, cache_dir=tmp_path / "cache")


def _api(ids: list[str]) -> dict[str, Any]:
    def comments(q: dict[str, list[str]], h: Any) -> Reply:
        sid = h.path.split("/comments/", 1)[1].split("?")[0].strip("/")
        return 200, {}, json.dumps([{"kind": "Listing", "data": {"children": [{"kind": "t3", "data": _sub(sid)}]}},
                                    {"kind": "Listing", "data": {"children": []}}]).encode()

    listing = {"data": {"children": [{"kind": "t3", "data": _sub(i)} for i in ids], "after": None}}
    return {"/token": lambda q, h: (200, {}, b'{"access_token": "tok"}'),
            "/r/x/new": lambda q, h: (200, {}, json.dumps(listing).encode()), "/comments/": comments}


def _run(con: Any, tmp_path: Path, source: Any, run: str) -> None:
    run_stage(con, CollectStage(RunConfig(data_dir=tmp_path / "data"), sources=[source]), run)


def _state(con: Any) -> tuple[list[str], list[tuple[str, str]]]:
    items = sorted(r[0] for r in con.execute("SELECT item_id FROM collect_items").fetchall())
    return items, sorted(con.execute("SELECT item_id, reason FROM rejects").fetchall())


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDDIT_CLIENT_ID", "id")
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", "secret")


def test_dump_first_then_the_api_skips_what_the_dump_holds(tmp_path: Path, con: Any, creds: None) -> None:
    folder = tmp_path / "dumps"
    folder.mkdir()
    (folder / "RS_2022-04.zst").write_bytes(_zst([json.dumps(_sub("o1")).encode()]))
    _run(con, tmp_path, DumpImportSource([folder], _client(tmp_path), "h", False), "run1")
    with LocalServer(_api(["o2", "o1"])) as srv:  # type: ignore[arg-type]
        rc = RedditConfig(enabled=True, subreddits=["x"], api_base=srv.url, token_url=f"{srv.url}/token",
                          download_images=False)
        _run(con, tmp_path, RedditSource(rc, _client(tmp_path), "h"), "run2")
        fetched = sorted(p for _, p, _, _ in srv.requests if p.startswith("/comments/"))
    assert _state(con) == (["post:t3_o1", "post:t3_o2"], []) and fetched == ["/comments/o2"]
    # the dump file grows: its unit is redone and keeps o1 (the API only listed it, it did not collect it)
    (folder / "RS_2022-04.zst").write_bytes(_zst([json.dumps(_sub(s)).encode() for s in ("o1", "o3")]))
    _run(con, tmp_path, DumpImportSource([folder], _client(tmp_path), "h", False), "run3")
    assert _state(con) == (["post:t3_o1", "post:t3_o2", "post:t3_o3"], [])


def test_api_first_then_the_dump_rejects_only_the_shared_post(tmp_path: Path, con: Any, creds: None) -> None:
    with LocalServer(_api(["o1"])) as srv:  # type: ignore[arg-type]
        rc = RedditConfig(enabled=True, subreddits=["x"], api_base=srv.url, token_url=f"{srv.url}/token",
                          download_images=False)
        _run(con, tmp_path, RedditSource(rc, _client(tmp_path), "h"), "run1")
    folder = tmp_path / "dumps"
    folder.mkdir()
    (folder / "RS_2022-04.zst").write_bytes(_zst([json.dumps(_sub(s)).encode() for s in ("o1", "o2")]))
    _run(con, tmp_path, DumpImportSource([folder], _client(tmp_path), "h", False), "run2")
    assert _state(con) == (["post:t3_o1", "post:t3_o2"], [("post:t3_o1", "duplicate_item")])


@pytest.mark.parametrize("same_run", [True, False])
def test_two_dump_files_sharing_a_post_keep_it_once(tmp_path: Path, con: Any, same_run: bool) -> None:
    """A monthly dump and a subreddit dump both hold o2: one file keeps it, the other rejects only it."""
    folder = tmp_path / "dumps"
    folder.mkdir()
    (folder / "RS_2022-04.zst").write_bytes(_zst([json.dumps(_sub(s)).encode() for s in ("o1", "o2")]))
    later = tmp_path / "subreddit"
    later.mkdir()
    (later / "x_submissions.zst").write_bytes(_zst([json.dumps(_sub(s)).encode() for s in ("o2", "o3")]))
    if not same_run:
        _run(con, tmp_path, DumpImportSource([folder], _client(tmp_path), "h", False), "run0")
    _run(con, tmp_path, DumpImportSource([folder, later], _client(tmp_path), "h", False), "run1")
    items, rejects = _state(con)
    assert items == ["post:t3_o1", "post:t3_o2", "post:t3_o3"]
    assert rejects == [("post:t3_o2", "duplicate_item")]
    detail = con.execute("SELECT detail FROM rejects").fetchone()[0]
    assert "RS_2022-04.zst" in detail or "an earlier run" in detail
