"""One build holds the warehouse from its first stage to its last; readers (status, sql, report) open it
read-only and, while a build holds it, say so in one line instead of a traceback; status shows the build's
progress instead."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeline.config import load_config, resolve_paths
from pipeline.warehouse import WarehouseUnavailable, open_readonly, progress_file

REPO = Path(__file__).resolve().parents[1]


def _cli(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "flows.cli", "--config", str(profile), *args],
                          capture_output=True, text=True, timeout=120, env=env, cwd=REPO)


def _forum_profile(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "samples" / "forums", tmp_path / "forums")
    prof = tmp_path / "p.yaml"
    prof.write_text("root: .\ncollect: {sources: {forums: [forums]}}\ntrain: {enabled: false}\n")
    return prof


def test_a_missing_warehouse_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(WarehouseUnavailable, match="no warehouse"):
        open_readonly(tmp_path / "none.duckdb")
    assert not (tmp_path / "none.duckdb").exists()


def test_readers_are_turned_away_politely_while_a_build_holds_the_warehouse(tmp_path: Path) -> None:
    from flows.stages import _write_progress, hold_warehouse

    prof = _forum_profile(tmp_path)
    cfg = load_config(prof)
    with hold_warehouse(cfg, "run-held"):
        _write_progress(cfg, {"stage": "collect", "status": "running", "units_done": 1, "units": 3})
        status = _cli(prof, "status")
        sql = _cli(prof, "sql", "SELECT 1")
    assert status.returncode == 0, status.stderr
    assert f"held by a running build (PID {os.getpid()})" in status.stdout
    assert "collect    running   1/3 units" in status.stdout
    assert sql.returncode == 2 and sql.stderr.count("\n") == 1 and "held by a running build" in sql.stderr
    assert not progress_file(cfg.warehouse).exists()  # removed when the build ends
    assert _cli(prof, "sql", "SELECT count(*) FROM collect_items").returncode == 0


@pytest.mark.slow
def test_status_during_a_build_and_the_build_completes(tmp_path: Path, prefect_harness) -> None:
    """`derm1m status` and `derm1m sql` from other processes while the build runs: the build ends ok and
    every reader got an answer (the tables, or the build's progress / one line), never a traceback."""
    from flows.build import build_derm1m

    prof = _forum_profile(tmp_path)
    cfg = resolve_paths(load_config(prof), tmp_path)
    out: dict[str, object] = {}
    build = threading.Thread(target=lambda: out.setdefault("reports", build_derm1m(cfg, run_id="run-live")))
    build.start()
    while build.is_alive() and not cfg.warehouse.exists():  # before it, status rightly says "no warehouse"
        time.sleep(0.05)
    answers = []
    while build.is_alive():
        answers.append(_cli(prof, "status"))
        answers.append(_cli(prof, "sql", "SELECT count(*) FROM stage_runs"))
        time.sleep(0.2)
    build.join()
    assert [r["status"] for r in out["reports"]] == ["ok"] * 6  # type: ignore[union-attr]
    assert answers and all(a.returncode in (0, 2) and "Traceback" not in a.stderr for a in answers)
    failed = [a.stderr for a in answers if "status" in a.args and a.returncode != 0]
    assert failed == [], failed
