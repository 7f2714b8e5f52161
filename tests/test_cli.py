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


def test_clear_one_line_errors(tmp_path, repo, capsys):
    """Each usage error: exit 2 and one line naming the cause and the fix, never a traceback."""
    import pytest

    from flows.cli import main

    prof = _profile(tmp_path, repo)

    def one_line(code: int, *needles: str) -> None:
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1, err
        assert all(n in err for n in needles), err

    one_line(main(["--config", str(prof), "status"]), "no warehouse", "derm1m build")
    assert not (tmp_path / "w.duckdb").exists()  # status did not create an empty one
    one_line(main(["--config", str(prof), "build", "--stages", "collect,colect"]), "colect", "choose from")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    one_line(main(["--config", str(empty), "status"]), "empty", "mapping")
    con = connect(load_config(prof).warehouse)
    run_stage(con, CollectStage(load_config(prof)), "r1")
    con.close()
    one_line(main(["sql", "--config", str(prof), "SELEC 1"]), "syntax error")  # --config after the command
    assert main(["sql", "SELECT 1 AS one", "--config", str(prof)]) == 0
    assert capsys.readouterr().out.splitlines() == ["one", "1"]
    import os
    import subprocess
    import sys

    env = {**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api", "PYTHONPATH": str(repo)}
    deploy = subprocess.run([sys.executable, "-m", "flows.cli", "--config", str(prof), "deploy"], env=env,
                            capture_output=True, text=True, timeout=120, cwd=repo)  # Prefect reads env at import
    assert deploy.returncode == 2 and deploy.stderr.count("\n") == 1 and "no Prefect server answers" in deploy.stderr
    with pytest.raises(SystemExit) as version:
        main(["--version"])
    assert version.value.code == 0 and capsys.readouterr().out.startswith("derm1m ")


def test_the_command_exits_with_mains_code_output_flushed_and_exit_handlers_run(tmp_path, repo):
    """`derm1m` (flows.cli:entry) skips the interpreter's teardown, not its exit handlers or output."""
    import subprocess
    import sys

    prof = _profile(tmp_path, repo)
    code = ("import atexit, sys; atexit.register(lambda: print('handler ran', flush=True)); "
            f"sys.argv = ['derm1m', '--config', {str(prof)!r}, 'status']; "
            "sys.stdout.write('unflushed '); from flows.cli import entry; entry()")
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "no warehouse" in out.stderr
    assert out.stdout == "unflushed handler ran\n"
