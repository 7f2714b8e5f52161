"""Scale-out and observability over real builds: the sample corpus built with the Dask runner (two worker
processes) gives the same rows as the default thread runner (the session's sample build, compared on
the stages before train: train is one unit in the writer either way); the SQL views answer from that
warehouse; the HTML report renders its plots in headless Chromium."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from pipeline.config import load_config, resolve_paths
from pipeline.warehouse import connect, count
from tests.conftest import stage_table_counts

pytestmark = pytest.mark.slow
STAGES = ["collect", "preprocess", "clean", "pair", "augment"]
VIEWS = ["v_pair_provenance", "v_rejects", "v_reject_summary", "v_pairs_per_ontology_node",
         "v_pairs_per_condition", "v_pairs_per_concept", "v_licence_mix", "v_stage_throughput"]


@pytest.fixture(scope="module")
def builds(sample_build, prefect_harness, tmp_path_factory):
    """The session's thread-runner sample build (tests/conftest.py) and a Dask build of the same stages
    but train, in a copy of its own."""
    from flows.build import build_derm1m

    repo = Path(__file__).resolve().parents[1]
    root = tmp_path_factory.mktemp("dask")
    shutil.copytree(repo / "samples", root / "samples")
    cfg = resolve_paths(load_config(repo / "configs" / "sample.yaml", base_dir=root), root)
    cfg.runner.kind = "dask"
    cfg.runner.n_workers = 2
    start = time.perf_counter()
    reports = build_derm1m(cfg, stages=STAGES, run_id="run-dask")
    seconds = time.perf_counter() - start
    con = connect(cfg.warehouse)
    pairs = sorted(r[0] for r in con.execute("SELECT pair_id FROM pair_image_texts").fetchall())
    con.close()
    print(f"\ndask build {STAGES}: {seconds:.1f} s")
    threads = {"warehouse": sample_build["snapshot"], "pairs": sample_build["pairs"],
               "reports": [r for r in sample_build["first"] if r["stage"] in STAGES],
               "counts": stage_table_counts(sample_build["snapshot"], STAGES)}
    dask = {"warehouse": cfg.warehouse, "reports": reports, "pairs": pairs,
            "counts": stage_table_counts(cfg.warehouse, STAGES)}
    return {"threads": threads, "dask": dask}


def test_dask_build_matches_threads_build(builds):
    threads, dask = builds["threads"], builds["dask"]
    assert all(r["status"] == "ok" for r in threads["reports"] + dask["reports"])
    # same rows under other run ids; collect_file_hashes is a cache that leaves out files written in the last 2 s
    skip = {"stage_runs", "_migrations", "collect_file_hashes"}
    diff = {t: (n, dask["counts"].get(t)) for t, n in threads["counts"].items() if t not in skip
            and dask["counts"].get(t) != n}
    assert diff == {}
    assert threads["pairs"] == dask["pairs"] and len(threads["pairs"]) > 50
    assert [(r["stage"], r["items_in"], r["items_out"], r["items_rejected"]) for r in threads["reports"]] == [
        (r["stage"], r["items_in"], r["items_out"], r["items_rejected"]) for r in dask["reports"]]


def test_views_answer_after_a_build(builds):
    con = connect(builds["threads"]["warehouse"])
    n = {v: count(con, v) for v in VIEWS}
    assert all(k > 0 for k in n.values()), n
    assert n["v_pair_provenance"] == count(con, "pair_image_texts")
    assert n["v_rejects"] == count(con, "rejects")
    missing = con.execute("SELECT count(*) FROM v_pair_provenance WHERE source IS NULL OR source_path IS NULL "
                          "OR image_path IS NULL").fetchone()[0]  # fmt: skip
    assert missing == 0
    traced = dict(con.execute("SELECT reason, source FROM v_rejects WHERE reason IN ('malformed_xml', 'too_small')"
                              ).fetchall())  # fmt: skip
    assert traced == {"malformed_xml": "pubmed_english", "too_small": "reddit_english"}
    top = con.execute("SELECT node, pairs FROM v_pairs_per_ontology_node WHERE level = 1 LIMIT 1").fetchone()
    assert top[1] > 0
    lic = dict(con.execute("SELECT source, sum(pairs) FROM v_licence_mix GROUP BY 1").fetchall())
    assert sum(lic.values()) == count(con, "pair_image_texts")
    con.close()


def _chromium() -> str | None:
    for name in (os.environ.get("DERM_CHROMIUM", ""), "chromium-headless-shell", "chromium", "chromium-browser",
                 "google-chrome"):
        if name and (path := shutil.which(name)):
            return path
    return None


def test_report_renders_in_headless_chromium(builds, tmp_path):
    from pipeline.report import write_report

    con = connect(builds["threads"]["warehouse"])
    start = time.perf_counter()
    out = write_report(con, tmp_path / "report.html")
    print(f"\nreport written in {time.perf_counter() - start:.1f} s")
    con.close()
    page = Path(out).read_text()
    assert page.count("<svg") >= 8 and "no data yet" not in page
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip: playwright)")
    browser_path = _chromium()
    if browser_path is None:
        pytest.skip("no Chromium on PATH (make report-browser installs Debian's chromium-headless-shell)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": 1400, "height": 900})
        tab.goto(Path(out).resolve().as_uri())
        sizes = tab.evaluate("Array.from(document.querySelectorAll('figure svg')).map(e => {"
                             "const r = e.getBoundingClientRect(); return [r.width, r.height]; })")
        tab.evaluate("document.querySelectorAll('img').forEach(e => { e.loading = 'eager'; })")  # lazy ones too
        tab.wait_for_function("Array.from(document.images).every(e => e.complete)")
        thumbs = tab.evaluate("Array.from(document.querySelectorAll('img')).map(e => e.naturalWidth)")
        tab.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert len(sizes) >= 8 and all(w > 100 and h > 50 for w, h in sizes), sizes
    assert all(w > 0 for w in thumbs), thumbs  # the example grid's thumbnails decode
    assert (tmp_path / "report.png").stat().st_size > 20_000
