"""Pushshift / Arctic Shift dumps streamed from `.zst` and JSONL: filters, comment threading from the
partner file, incremental reruns, and every hostile input a reject with a reason.

The dumps are written by the tests in Reddit's documented object shapes (t3 submissions, t1 comments with
`link_id` / `parent_id`), compressed the way Pushshift compresses (a window above zstd's default decoder
limit). bench/forum_dump.py runs the same reader over a 1 GB generated dump for memory and throughput.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from hostile_corpus import _zst, write_reddit_dumps

from pipeline.collect.dumps import DumpFilter, DumpStats, dump_lines, scan_dump, zst_truncation
from pipeline.collect.forums import DumpImportSource
from pipeline.collect.http import HttpClient
from pipeline.collect.stage import CollectStage
from pipeline.config import RunConfig
from pipeline.config.sources import ForumDumpFilterConfig
from pipeline.stage import run_stage

pytest.importorskip("zstandard")


def _client(tmp_path: Path) -> HttpClient:
    return HttpClient(tmp_path / "raw", max_retries=0, sleep=lambda s: None, cache_dir=tmp_path / "cache")


def _sub(sid: str, subreddit: str, title: str, when: int | str, text: str = "Red scaly patches.") -> bytes:
    return json.dumps({"id": sid, "subreddit": subreddit, "title": title, "selftext": text, "author": "poster",
                       "created_utc": when, "score": 1, "permalink": f"/r/{subreddit}/comments/{sid}/x/"}).encode()


def _com(cid: str, sid: str, body: str, score: int, parent: str | None = None) -> bytes:
    return json.dumps({"id": cid, "link_id": f"t3_{sid}", "parent_id": parent or f"t3_{sid}", "body": body,
                       "score": score, "author": "commenter", "created_utc": 1650000000}).encode()


def _dump(folder: Path) -> Path:
    """RS_/RC_ 2022-05: submissions in three subreddits and dates, comments threaded two deep."""
    folder.mkdir(parents=True, exist_ok=True)
    subs = [_sub("a1", "DermatologyQuestions", "Is this psoriasis on my elbow?", 1650000000),
            _sub("a2", "dermatologyquestions", "Eczema flare on hands", "1650000500"),  # old dumps: a string time
            _sub("a3", "DermatologyQuestions", "Mole check please", 1650000600),  # no keyword
            _sub("a4", "DermatologyQuestions", "Psoriasis again", 1500000000),  # 2017: before date_from
            _sub("b1", "AskReddit", "What is your psoriasis story", 1650000000),  # other subreddit
            _sub("a5", "Dermatology", "Eczema or psoriasis?", 1650000700)]
    (folder / "RS_2022-05.zst").write_bytes(_zst(subs))
    comments = [_com("c1", "a1", "Could be eczema.", 2), _com("c2", "a1", "Classic plaque psoriasis.", 40),
                _com("c3", "a1", "Agreed, see a dermatologist.", 5, "t1_c2"), _com("c4", "b1", "Not derm.", 9),
                _com("c5", "a2", "Dyshidrotic eczema.", 1), _com("c6", "a1", "[deleted]", 100)]
    (folder / "RC_2022-05.zst").write_bytes(_zst(comments))
    return folder


FILTER = ForumDumpFilterConfig(subreddits=["r/DermatologyQuestions", "dermatology"], keywords=["psoriasis", "eczema"],
                               date_from=date(2020, 1, 1), date_to=date(2022, 12, 31))


def test_filters_keep_exactly_the_matching_submissions_and_their_comments(tmp_path: Path) -> None:
    folder = _dump(tmp_path / "dumps")
    stats = DumpStats()
    subs, comments, problems = scan_dump(folder / "RS_2022-05.zst", [folder / "RC_2022-05.zst"],
                                         DumpFilter(FILTER), stats)
    assert list(subs) == ["a1", "a2", "a5"] and not problems
    assert sorted(c["id"] for c in comments["a1"]) == ["c1", "c2", "c3", "c6"] and "b1" not in comments
    assert stats.filtered == 3  # b1 by the byte prefilter; a3 (keyword) and a4 (date) after parsing
    assert "author" not in subs["a1"] or subs["a1"]["author"] is None  # submissions are slimmed to what posts use


def test_dump_posts_carry_the_thread_best_answer_first_and_no_author(tmp_path: Path, con: object) -> None:
    folder = _dump(tmp_path / "dumps")
    cfg = RunConfig(data_dir=tmp_path / "data")
    src = DumpImportSource([folder], _client(tmp_path), "h", download_images=False, filters=FILTER)
    first = run_stage(con, CollectStage(cfg, sources=[src]), "run1")  # type: ignore[arg-type]
    rows = dict(con.execute("SELECT item_id, meta FROM collect_items ORDER BY item_id").fetchall())  # type: ignore[attr-defined]
    assert sorted(rows) == ["post:t3_a1", "post:t3_a2", "post:t3_a5"]
    post = json.loads(rows["post:t3_a1"])["post"]
    assert [(r["id"], r["depth"]) for r in post["replies"]] == [("c2", 1), ("c3", 2), ("c1", 1)]
    assert post["body"].startswith("Red scaly patches.\n\nAnswers (most upvoted first):\n- Classic plaque psoriasis.")
    assert "poster" not in json.dumps(post) and "commenter" not in json.dumps(post)
    again = run_stage(con, CollectStage(cfg, sources=[DumpImportSource([folder], _client(tmp_path), "h", False,
                                                                       FILTER)]), "run2")  # type: ignore[arg-type]
    assert first.items_in == 1 and again.items_in == 0  # one unit: the submission file with its partner
    (folder / "RC_2022-05.zst").write_bytes(_zst([_com("c9", "a5", "Looks like psoriasis to me.", 3)]))
    third = run_stage(con, CollectStage(cfg, sources=[DumpImportSource([folder], _client(tmp_path), "h", False,
                                                                       FILTER)]), "run3")  # type: ignore[arg-type]
    meta = json.loads(con.execute("SELECT meta FROM collect_items WHERE item_id = 'post:t3_a5'").fetchone()[0])  # type: ignore[attr-defined]
    assert third.items_in == 1 and [r["id"] for r in meta["post"]["replies"]] == ["c9"]


def test_plain_jsonl_dump_mixing_submissions_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    path.write_bytes(b"\n".join([_com("c1", "a1", "Psoriasis.", 1), _sub("a1", "Dermatology", "psoriasis?", 1650000000),
                                 b"", _sub("z9", "Other", "x", 1650000000)]) + b"\n")
    subs, comments, problems = scan_dump(path, [], DumpFilter(ForumDumpFilterConfig(subreddits=["dermatology"])))
    assert list(subs) == ["a1"] and [c["id"] for c in comments["a1"]] == ["c1"] and not problems


def test_hostile_dumps_each_become_a_reject_with_its_reason(tmp_path: Path, con: object) -> None:
    folder, expected = write_reddit_dumps(tmp_path)
    src = DumpImportSource([folder], _client(tmp_path), "h", download_images=False)
    run_stage(con, CollectStage(RunConfig(data_dir=tmp_path / "data"), sources=[src]), "run1")  # type: ignore[arg-type]
    got = dict(con.execute("SELECT item_id, reason FROM rejects").fetchall())  # type: ignore[attr-defined]
    assert got == expected
    items = {r[0] for r in con.execute("SELECT item_id FROM collect_items").fetchall()}  # type: ignore[attr-defined]
    assert "post:t3_good1" in items and "post:t3_cut0" in items  # the good post, and what a cut file held before the cut
    assert not {"post:t3_gone1", "post:t3_gone2", "post:t3_huge1"} & items
    good = json.loads(con.execute("SELECT meta FROM collect_items WHERE item_id = 'post:t3_good1'").fetchone()[0])  # type: ignore[attr-defined]
    assert [r["body"] for r in good["post"]["replies"]] == ["Looks like tinea corporis."]


def test_a_huge_line_is_skipped_without_being_held(tmp_path: Path) -> None:
    path = tmp_path / "RS_x.zst"
    path.write_bytes(_zst([b'{"id": "a"}', b'{"id": "' + b"x" * 5_000_000 + b'"}', b'{"id": "b"}']))
    out = list(dump_lines(path, max_line_bytes=1000))
    assert [e if isinstance(e, tuple) else e.reason for e in out] == [(1, b'{"id": "a"}\n'), "line_too_long",
                                                                      (3, b'{"id": "b"}\n')]
    assert zst_truncation(path) is None
    path.write_bytes(path.read_bytes()[:-5])
    assert "ends inside a frame" in (zst_truncation(path) or "")


def test_adding_a_dump_month_leaves_the_other_months_units_alone(tmp_path: Path) -> None:
    from pipeline.collect.forums import forum_sources

    folder = _dump(tmp_path / "may")
    june = tmp_path / "june"
    june.mkdir()
    (june / "RS_2022-06.zst").write_bytes(_zst([_sub("j1", "Dermatology", "psoriasis", 1654000000)]))
    cfg = RunConfig(data_dir=tmp_path / "data")
    cfg.collect.sources.forum_dumps = [folder]
    before = {u.key: u.fingerprint for u in forum_sources(cfg, _client(tmp_path))[0].units()}
    cfg.collect.sources.forum_dumps = [folder, june]
    after = {u.key: u.fingerprint for u in forum_sources(cfg, _client(tmp_path))[0].units()}
    assert before.items() < after.items() and len(after) == 2
    cfg.collect.sources.forum_dump_filter = FILTER
    assert not {u.fingerprint for u in forum_sources(cfg, _client(tmp_path))[0].units()} & set(after.values())


def test_dump_units_take_a_download_slot_when_they_fetch_images(tmp_path: Path) -> None:
    from pipeline.stage import WorkUnit

    cfg = RunConfig(data_dir=tmp_path / "data")
    unit = WorkUnit("forum_dumps:/d/RS_1.zst", "f", {"source": "forum_dumps", "path": "/d/RS_1.zst"})
    assert CollectStage(cfg, sources=[]).resources(unit) == ("download",)
    cfg.collect.sources.reddit.download_images = False
    assert CollectStage(cfg, sources=[]).resources(unit) == ()
