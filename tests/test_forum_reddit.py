"""Reddit's API against a local replay server: listing pagination by `after` with cursors a rerun continues
from, and comment trees threaded into the post's body (best answer first, no author).

Where a test replays a recorded real Reddit response it is one of tests/data/reddit/ (excerpts of praw's
test cassettes, recorded from reddit.com; see the README there for source and licence); the rest of the
answers are written here in the same shapes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from collect_server import LocalServer, Reply

from pipeline.collect.forums import RedditSource, comment_tree
from pipeline.collect.http import HttpClient
from pipeline.collect.stage import CollectStage
from pipeline.collect.threads import normalise_post
from pipeline.config import RunConfig
from pipeline.config.sources import RedditConfig
from pipeline.stage import run_stage

DATA = Path(__file__).parent / "data" / "reddit"


def _real(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def _client(tmp_path: Path) -> HttpClient:
    return HttpClient(tmp_path / "raw", max_retries=0, sleep=lambda s: None, cache_dir=tmp_path / "cache")


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDDIT_CLIENT_ID", "id")
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", "secret")


def _token(q: dict[str, list[str]], h: object) -> Reply:
    return 200, {}, json.dumps({"access_token": "tok", "token_type": "bearer"}).encode()


def _comments_for(listings: list[Any]) -> Any:
    """/comments/<id>: the submission as the recorded listing gave it, with an empty comment tree."""
    subs = {c["data"]["id"]: c["data"] for page in listings for c in page["data"]["children"]}

    def route(q: dict[str, list[str]], h: Any) -> Reply:
        sid = h.path.split("/comments/", 1)[1].split("?")[0].strip("/")
        if sid not in subs:
            return 404, {}, b"{}"
        return 200, {}, json.dumps([{"kind": "Listing", "data": {"children": [{"kind": "t3", "data": subs[sid]}]}},
                                    {"kind": "Listing", "data": {"children": []}}]).encode()
    return route


def _run(con: Any, tmp_path: Path, rc: RedditConfig, run: str) -> None:
    src = RedditSource(rc, _client(tmp_path), "h")
    run_stage(con, CollectStage(RunConfig(data_dir=tmp_path / "data"), sources=[src]), run)


def test_real_listing_pages_follow_after_and_a_rerun_continues_from_the_cursor(tmp_path: Path, con: Any,
                                                                                creds: None) -> None:
    page1, page2 = _real("all_new_page1.json"), _real("all_new_page2.json")  # recorded /r/all/new answers

    def listing(q: dict[str, list[str]], h: object) -> Reply:
        after = q.get("after", [None])[0]
        if after is None:
            return 200, {}, json.dumps(page1).encode()
        assert after == page1["data"]["after"] == "t3_5jo10c"  # the recorded cursor, sent back as given
        return 200, {}, json.dumps(page2).encode()

    routes = {"/token": _token, "/r/all/new": listing, "/comments/": _comments_for([page1, page2])}
    with LocalServer(routes) as srv:  # type: ignore[arg-type]
        rc = RedditConfig(enabled=True, subreddits=["all"], api_base=srv.url, token_url=f"{srv.url}/token",
                          max_pages=1, download_images=False)
        _run(con, tmp_path, rc, "run1")
        first = {r[0] for r in con.execute("SELECT item_id FROM collect_items").fetchall()}
        cursors = {r[0] for r in con.execute("SELECT value FROM collect_cursors").fetchall()}
        _run(con, tmp_path, rc, "run2")
        both = {r[0] for r in con.execute("SELECT item_id FROM collect_items").fetchall()}
        _run(con, tmp_path, rc, "run3")
        afters = [q.get("after", [None])[0] for _, path, q, _ in srv.requests if path == "/r/all/new"]
    assert first == {"post:t3_5jo13y", "post:t3_5jo13x", "post:t3_5jo13w"}
    assert "after:t3_5jo10c" in cursors and "seen:5jo13y" in cursors
    assert both == first | {f"post:t3_{i}" for i in ("5jo144", "5jo143", "5jo141", "5jo140")}
    # run 1: page 1 (max_pages 1); run 2: the top until a listed post, then the backlog from the cursor, which
    # ends (after: null); run 3: only the top, the listing being known to its end
    assert afters == [None, None, "t3_5jo10c", None]


def test_a_new_post_on_top_is_listed_on_the_next_run(tmp_path: Path, con: Any, creds: None) -> None:
    def sub(sid: str) -> dict[str, Any]:
        return {"kind": "t3", "data": {"id": sid, "title": f"Rash {sid}", "selftext": "Itchy.", "subreddit": "x"}}

    pages = {None: {"data": {"children": [sub("b2"), sub("b1")], "after": None}}}
    listing = {"now": pages}

    def route(q: dict[str, list[str]], h: object) -> Reply:
        return 200, {}, json.dumps(listing["now"][q.get("after", [None])[0]]).encode()

    routes = {"/token": _token, "/r/x/new": route}
    with LocalServer(routes) as srv:  # type: ignore[arg-type]
        routes["/comments/"] = _comments_for([{"data": {"children": [sub("b1"), sub("b2"), sub("b3")]}}])
        rc = RedditConfig(enabled=True, subreddits=["x"], api_base=srv.url, token_url=f"{srv.url}/token",
                          download_images=False)
        _run(con, tmp_path, rc, "run1")
        listing["now"] = {None: {"data": {"children": [sub("b3"), sub("b2"), sub("b1")], "after": None}}}
        _run(con, tmp_path, rc, "run2")
        comment_hits = [p for _, p, _, _ in srv.requests if p.startswith("/comments/")]
    items = sorted(r[0] for r in con.execute("SELECT item_id FROM collect_items").fetchall())
    assert items == ["post:t3_b1", "post:t3_b2", "post:t3_b3"]
    assert sorted(comment_hits) == ["/comments/b1", "/comments/b2", "/comments/b3"]  # each post fetched once


def test_real_comment_tree_threads_into_the_body_without_authors(tmp_path: Path, con: Any, creds: None) -> None:
    answer = _real("comments_2gmzqe.json")  # recorded /comments/2gmzqe answer: a post, a comment, its reply
    sub, comments = comment_tree(answer)
    assert [(c["id"], c["parent_id"]) for c in comments] == [("cklfmye", "t3_2gmzqe"), ("cklhv0f", "t1_cklfmye")]
    listing = {"data": {"children": [{"kind": "t3", "data": {"id": "2gmzqe"}}], "after": None}}
    routes = {"/token": _token, "/r/redditdev/new": lambda q, h: (200, {}, json.dumps(listing).encode()),
              "/comments/2gmzqe": lambda q, h: (200, {}, json.dumps(answer).encode())}
    with LocalServer(routes) as srv:  # type: ignore[arg-type]
        rc = RedditConfig(enabled=True, subreddits=["redditdev"], api_base=srv.url, token_url=f"{srv.url}/token",
                          download_images=False)
        _run(con, tmp_path, rc, "run1")
    meta = json.loads(con.execute("SELECT meta FROM collect_items").fetchone()[0])
    post = meta["post"]
    assert [(r["id"], r["depth"]) for r in post["replies"]] == [("cklfmye", 1), ("cklhv0f", 2)]
    assert post["body"].startswith("PRAW client developers")
    assert "\n\nAnswers (most upvoted first):\n- Quick question: I remember reading about an issue" in post["body"]
    assert "That fix is also in the master branch" not in post["body"]  # a reply to an answer: in replies only
    authors = {sub["author"], *(c["author"] for c in comments)}
    assert authors == {"bboe", "paneer_burrito"} and not any(a in json.dumps(meta) for a in authors)
    assert normalise_post(sub, comments)["title"] == post["title"] == "[PRAW] HTTPS enabled PRAW testing needed"


def test_deleted_post_and_broken_listing_are_rejects(tmp_path: Path, con: Any, creds: None) -> None:
    listing = {"data": {"children": [{"kind": "t3", "data": {"id": "d1"}}], "after": None}}
    gone = [{"kind": "Listing", "data": {"children": [{"kind": "t3", "data": {"id": "d1", "title": "x",
                                                                            "selftext": "[deleted]"}}]}},
            {"kind": "Listing", "data": {"children": []}}]
    routes = {"/token": _token, "/r/a/new": lambda q, h: (200, {}, json.dumps(listing).encode()),
              "/r/b/new": lambda q, h: (200, {}, b"<html>not json</html>"),
              "/comments/d1": lambda q, h: (200, {}, json.dumps(gone).encode())}
    with LocalServer(routes) as srv:  # type: ignore[arg-type]
        rc = RedditConfig(enabled=True, subreddits=["a", "b"], api_base=srv.url, token_url=f"{srv.url}/token",
                          download_images=False)
        _run(con, tmp_path, rc, "run1")
    reasons = sorted(r[0] for r in con.execute("SELECT reason FROM rejects").fetchall())
    assert reasons == ["deleted_post", "source_unavailable"]
    assert con.execute("SELECT count(*) FROM collect_items").fetchone()[0] == 0


def test_the_page_budget_is_not_in_post_fingerprints(tmp_path: Path) -> None:
    from pipeline.collect.forums import forum_sources

    cfg = RunConfig(data_dir=tmp_path / "data")

    def config_hash(**kw: Any) -> str:
        cfg.collect.sources.reddit = RedditConfig(enabled=True, subreddits=["x"], **kw)
        return forum_sources(cfg, _client(tmp_path))[0].config_hash

    assert config_hash(max_pages=1) == config_hash(max_pages=None) != config_hash(max_pages=1, download_images=False)
