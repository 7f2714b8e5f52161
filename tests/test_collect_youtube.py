"""yt-dlp through the production code path against local HTML pages with <video> and <track>
(yt-dlp's generic/html5 extractor), a real YouTube WebVTT as the subtitle track, and the relevance
filter deciding what is downloaded. Only 127.0.0.1 URLs are ever given to yt-dlp."""

from __future__ import annotations

from pathlib import Path

import pytest
from collect_server import LocalServer, static
from conftest import REPO, require_fixture

from pipeline.collect.http import HttpClient
from pipeline.collect.stage import CollectStage
from pipeline.collect.youtube import YouTubeSource, block_status
from pipeline.config import RunConfig
from pipeline.config.sources import YouTubeConfig
from pipeline.stage import run_stage
from pipeline.vocab.relevance import RelevanceScorer

pytest.importorskip("yt_dlp")


def _page(title: str, video: str, track: str | None) -> bytes:
    t = f'<track kind="subtitles" src="{track}" srclang="en" label="English">' if track else ""
    return (f"<!DOCTYPE html><html><head><title>{title}</title>"
            f'<meta name="description" content="{title}"></head><body>'
            f'<video controls><source src="{video}" type="video/mp4">{t}</video></body></html>').encode()


@pytest.fixture
def site() -> LocalServer:
    mp4 = (REPO / "samples" / "videos" / "derm_lecture_psoriasis.mp4").read_bytes()
    vtt = require_fixture("subtitles", "youtube_dl.vtt").read_bytes()
    routes = {
        "/psoriasis.html": static(_page("Plaque psoriasis: dermatology lecture", "/lecture.mp4", "/lecture.en.vtt"),
                                  "text/html"),
        "/makeup.html": static(_page("Smokey eye makeup tutorial", "/makeup.mp4", None), "text/html"),
        "/lecture.mp4": static(mp4, "video/mp4"), "/makeup.mp4": static(mp4, "video/mp4"),
        "/lecture.en.vtt": static(vtt, "text/vtt"),
    }
    return LocalServer(routes)  # type: ignore[arg-type]


def _source(tmp_path: Path, urls: list[str], **kw: object) -> tuple[YouTubeSource, RunConfig]:
    cfg = RunConfig(data_dir=tmp_path / "data")
    yt = YouTubeConfig.model_validate({"enabled": True, "urls": urls, "sleep_interval_s": 0.0, "retries": 0,
                                       "socket_timeout_s": 5, "min_relevance": 2.0, **kw})
    cfg.collect.sources.youtube = yt
    client = HttpClient(cfg.data_dir / "raw", sleep=lambda s: None)
    return YouTubeSource(yt, client, cfg.data_dir, "h", RelevanceScorer.from_ontology()), cfg


def test_relevant_video_is_downloaded_with_subtitles(tmp_path: Path, con: object, site: LocalServer) -> None:
    with site:
        urls = [f"{site.url}/psoriasis.html", f"{site.url}/makeup.html", f"{site.url}/gone.html"]
        src, cfg = _source(tmp_path, urls)
        run_stage(con, CollectStage(cfg, sources=[src]), "run1")  # type: ignore[arg-type]
        hits_after_first = dict(site.hits)
        src2, _ = _source(tmp_path, urls)
        again = list(src2.items(next(u for u in src2.units() if "psoriasis" in u.payload["url"])))
    (item,) = con.execute("SELECT source_id, title, path, meta FROM collect_items").fetchall()  # type: ignore[attr-defined]
    assert item[1].startswith("Plaque psoriasis: dermatology lecture")
    video = Path(item[2])
    assert video.is_file() and video.parent == tmp_path / "data" / "collect" / "youtube"
    assert (video.parent / f"{video.stem}.en.vtt").read_bytes() == require_fixture("subtitles", "youtube_dl.vtt").read_bytes()
    assert item[0] in (video.parent / "archive.txt").read_text()
    assert '"score"' in item[3] and "psoriasis" in item[3]
    rejects = dict(con.execute("SELECT reason, detail FROM rejects").fetchall())  # type: ignore[attr-defined]
    assert "makeup" in rejects["not_relevant"]
    assert "fetch_not_found" in rejects
    assert hits_after_first.get("/makeup.mp4", 0) == 0, "an irrelevant video is never downloaded"
    assert site.hits["/lecture.mp4"] == hits_after_first["/lecture.mp4"], "the archive stops a second download"
    assert any(getattr(e, "kind", None) == "video" for e in again)
    statuses = {r[0] for r in con.execute("SELECT status FROM collect_fetches").fetchall()}  # type: ignore[attr-defined]
    assert {"ok", "not_found"} <= statuses


def test_metadata_only_mode_downloads_nothing(tmp_path: Path, site: LocalServer) -> None:
    with site:
        src, _ = _source(tmp_path, [f"{site.url}/psoriasis.html"], download=False)
        entries = [e for u in src.units() for e in src.items(u)]
    items = [e for e in entries if getattr(e, "kind", None) == "video"]
    assert len(items) == 1 and items[0].path.name.endswith(".info.json")
    assert site.hits["/lecture.mp4"] == 0


def test_unreachable_channel_listing_is_a_status(tmp_path: Path) -> None:
    with LocalServer({}) as srv:
        src, _ = _source(tmp_path, [], channels=[f"{srv.url}/channel/none"])
        units = list(src.units())
        entries = [e for u in units for e in src.items(u)]
    assert units[0].key.startswith("youtube:list:")
    assert [getattr(e, "reason", None) for e in entries if hasattr(e, "reason")] == ["fetch_not_found"]


@pytest.mark.parametrize("message,status", [
    ("ERROR: [youtube] dQw4w9WgXcQ: Sign in to confirm you’re not a bot. Use --cookies-from-browser or "
     "--cookies for the authentication.", "bot_check"),
    ("ERROR: [youtube] abc: Sign in to confirm your age. This video may be inappropriate for some users.",
     "age_restricted"),
    ("ERROR: [youtube] abc: The uploader has not made this video available in your country", "geo_blocked"),
    ("ERROR: [youtube] abc: This video is not available from your location due to geo restriction",
     "geo_blocked"),
    ("ERROR: [youtube] abc: Private video. Sign in if you've been granted access to this video", "private"),
    ("ERROR: [youtube] abc: Video unavailable. This video has been removed by the uploader", "unavailable"),
    ("ERROR: something new", "extract_error"),
])
def test_block_messages_become_statuses(message: str, status: str) -> None:
    assert block_status(message) == status


def test_listing_a_page_plans_one_unit_per_video(tmp_path: Path) -> None:
    mp4 = (REPO / "samples" / "videos" / "derm_lecture_tinea.mp4").read_bytes()
    page = (b"<html><head><title>Dermatology playlist</title></head><body>"
            b'<video><source src="/a.mp4" type="video/mp4"></video>'
            b'<video><source src="/b.mp4" type="video/mp4"></video></body></html>')
    routes = {"/list.html": static(page, "text/html"), "/a.mp4": static(mp4), "/b.mp4": static(mp4)}
    with LocalServer(routes) as srv:  # type: ignore[arg-type]
        src, _ = _source(tmp_path, [], channels=[f"{srv.url}/list.html"])
        units = list(src.units())
        again = list(src.units())  # the listing is cached for the day
    assert len(units) == 2 and all(u.payload["url"].startswith("http://127.0.0.1") for u in units)
    assert [u.key for u in units] == [u.key for u in again]
    assert srv.hits["/list.html"] == 1
    assert not any("youtube.com" in u.payload["url"] for u in units)
