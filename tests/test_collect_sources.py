"""PDF URL lists, dataset presets, the full profile's validation and the offline dry run."""

from __future__ import annotations

from pathlib import Path

import pytest
from collect_server import LocalServer, static
from conftest import REPO, require_fixture

from pipeline.collect.http import HttpClient
from pipeline.collect.pdf_urls import PdfUrlSource
from pipeline.collect.presets import PRESETS, preset
from pipeline.collect.stage import CollectStage
from pipeline.config import RunConfig, load_config
from pipeline.config.sources import PdfUrlListConfig
from pipeline.stage import run_stage


def test_pdf_url_list(tmp_path: Path, con: object) -> None:
    pdf = require_fixture("pdf", "example2.pdf").read_bytes()
    routes = {"/a.pdf": static(pdf, "application/pdf"), "/page.pdf": static(b"<html>login</html>", "text/html")}
    with LocalServer(routes) as srv:  # type: ignore[arg-type]
        lst = tmp_path / "urls.txt"
        lst.write_text(f"# teaching\n{srv.url}/a.pdf\n\n{srv.url}/page.pdf\n{srv.url}/missing.pdf\n{srv.url}/a.pdf\n")
        cfg = PdfUrlListConfig(name="handouts", list_file=lst, licence="CC BY 4.0")
        src = PdfUrlSource([cfg], HttpClient(tmp_path / "raw", max_retries=0, sleep=lambda s: None), "h")
        run_stage(con, CollectStage(RunConfig(data_dir=tmp_path), sources=[src]), "run1")  # type: ignore[arg-type]
    (path, licence, url) = con.execute("SELECT path, licence, url FROM collect_items").fetchone()  # type: ignore[attr-defined]
    assert Path(path).read_bytes() == pdf and licence == "CC BY 4.0" and url.endswith("/a.pdf")
    reasons = sorted(r[0] for r in con.execute("SELECT reason FROM rejects").fetchall())  # type: ignore[attr-defined]
    assert reasons == ["fetch_not_found", "fetch_not_pdf"]
    assert srv.hits["/a.pdf"] == 1


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_valid_dataset_configs(name: str, tmp_path: Path) -> None:
    ds = preset(name, tmp_path)
    assert ds.name == name and ds.path == tmp_path and ds.image_column and ds.label_column


def test_full_profile_validates_and_stays_network_driven() -> None:
    cfg = load_config(REPO / "configs" / "derm1m.yaml")
    src = cfg.collect.sources
    assert src.youtube.enabled and src.pubmed.enabled and src.reddit.enabled
    assert src.youtube.channels_file is not None and src.youtube.channels_file.is_file()
    assert src.youtube.max_height == 720


def test_sample_profile_stays_offline() -> None:
    src = load_config(REPO / "configs" / "sample.yaml").collect.sources
    assert not (src.youtube.enabled or src.pubmed.enabled or src.reddit.enabled or src.forum_dumps or src.pdf_urls)


def test_dry_run_prints_the_plan_without_network(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    from flows.cli import main

    def no_network(*a: object, **k: object) -> None:
        raise AssertionError("dry run touched the network")

    monkeypatch.setattr(httpx.Client, "send", no_network)
    monkeypatch.setattr("yt_dlp.YoutubeDL.extract_info", no_network, raising=False)
    assert main(["--config", str(REPO / "configs" / "derm1m.yaml"), "collect", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "esearch https://eutils.ncbi.nlm.nih.gov" in out and "ytsearch100:psoriasis dermatology" in out
    assert "https://www.youtube.com/@DrDray/videos" in out and "oauth.reddit.com/r/dermatology/new" in out
    assert "nothing was fetched" in out


def test_ontology_query_list() -> None:
    from ontology.queries import youtube_queries

    queries = youtube_queries()
    assert "psoriasis dermatology" in queries and "melanoma dermatology" in queries
    assert len(queries) == len(set(queries)) > 500
