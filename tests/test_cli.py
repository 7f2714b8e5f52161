"""The derm1m CLI over a small warehouse: status, sql, and clear errors for bad profiles."""

from pipeline.collect.stage import CollectStage
from pipeline.config import load_config
from pipeline.stage import run_stage
from pipeline.warehouse import connect


def _profile(tmp_path, repo):
    prof = tmp_path / "p.yaml"
    prof.write_text(f"root: {repo}\nwarehouse: {tmp_path / 'w.duckdb'}\ndata_dir: {tmp_path / 'data'}\n"
                    "collect: {sources: {pdfs: [samples/pdf]}}\n")
    return prof


def test_status_and_sql(tmp_path, repo, capsys):
    from flows.cli import main

    prof = _profile(tmp_path, repo)
    con = connect(load_config(prof).warehouse)
    run_stage(con, CollectStage(load_config(prof)), "r1")
    con.close()
    assert main(["--config", str(prof), "status"]) == 0
    out = capsys.readouterr().out
    assert "collect_items" in out and "collect\tok" in out
    assert main(["--config", str(prof), "sql", "SELECT kind, count(*) AS n FROM collect_items GROUP BY kind"]) == 0
    assert capsys.readouterr().out.splitlines() == ["kind\tn", "pdf\t3"]


def test_missing_profile_is_exit_2(tmp_path, capsys):
    from flows.cli import main

    assert main(["--config", str(tmp_path / "nope.yaml"), "status"]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_a_degraded_build_exits_non_zero(capsys):
    from flows.cli import build_exit_code

    ok = {"stage": "pair", "status": "ok"}
    assert build_exit_code([ok]) == 0
    degraded = {"stage": "augment", "status": "degraded", "error": "2 unit(s) could not reach an external service"}
    assert build_exit_code([ok, degraded]) == 1
    assert "augment degraded: 2 unit(s)" in capsys.readouterr().err
