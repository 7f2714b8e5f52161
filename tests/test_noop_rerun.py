"""A rerun with nothing to do runs without Prefect when no Prefect server is configured (issue 18).

The build plans each stage before starting Prefect; the leading stages with no pending unit run in this
process, write their stage_runs rows (all units skipped) and leave every output as it was, and only the
stages with work go to the flow, under the same run id. With a server configured every stage is a flow run.
No timing is asserted here: the README quotes the measured rerun times.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import RunConfig, load_config
from pipeline.stage import run_stage, serial_map
from pipeline.warehouse import connect, progress_file, user_tables

REPO = Path(__file__).resolve().parents[1]
STAGES = ["collect", "preprocess"]


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No Prefect configuration anywhere: an empty PREFECT_HOME, no env, a working dir without prefect.toml."""
    for var in ("PREFECT_API_URL", "PREFECT_PROFILE", "PREFECT_PROFILES_PATH"):
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "prefect_home"
    home.mkdir()
    monkeypatch.setenv("PREFECT_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return home


@pytest.fixture
def built(tmp_path: Path) -> RunConfig:
    """Forum posts collected and preprocessed by the stage driver itself (no Prefect needed)."""
    from flows.stages import stage_class

    shutil.copytree(REPO / "samples" / "forums", tmp_path / "forums")
    prof = tmp_path / "p.yaml"
    prof.write_text("root: .\ncollect: {sources: {forums: [forums]}}\ntrain: {enabled: false}\n")
    cfg = load_config(prof)
    con = connect(cfg.warehouse)
    try:
        for name in STAGES:
            report = run_stage(con, stage_class(name)(cfg), "first", serial_map)
            assert report.status == "ok" and report.items_in > 0
    finally:
        con.close()
    return cfg


class FakeFlow:
    """Stands in for the build flow: records what it was asked to run."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, cfg: RunConfig, stages: list[str], run_id: str, progress: bool) -> list[dict[str, Any]]:
        self.calls.append({"stages": stages, "run_id": run_id})
        return [{"stage": s, "run_id": run_id} for s in stages]


@pytest.fixture
def fake_flow(monkeypatch: pytest.MonkeyPatch) -> FakeFlow:
    import flows.build

    fake = FakeFlow()
    monkeypatch.setattr(flows.build, "_build_flow", lambda: fake)
    return fake


def _outputs(cfg: RunConfig) -> dict[str, str]:
    """A digest of every table's rows but stage_runs, and of the data folder's files."""
    con = connect(cfg.warehouse)
    try:
        out = {t: hashlib.sha256(repr(sorted(map(repr, con.execute(f"SELECT * FROM {t}").fetchall()))).encode())
               .hexdigest() for t in user_tables(con) if t != "stage_runs"}
    finally:
        con.close()
    for f in sorted(p for p in Path(cfg.data_dir).rglob("*") if p.is_file()):
        out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def test_a_noop_rerun_writes_stage_runs_and_changes_nothing_without_prefect(
        built: RunConfig, no_server: Path, fake_flow: FakeFlow) -> None:
    from flows.build import build

    before = _outputs(built)
    reports = build(built, stages=STAGES, run_id="rerun")
    assert fake_flow.calls == []  # Prefect's flow never ran
    assert [r["stage"] for r in reports] == STAGES
    assert all(r["status"] == "ok" and r["items_in"] == 0 and r["items_skipped"] > 0 for r in reports)
    assert _outputs(built) == before
    con = connect(built.warehouse)
    try:
        rows = con.execute("SELECT s.stage, s.status, s.items_in, s.items_skipped, f.items_in "
                           "FROM stage_runs s JOIN stage_runs f ON f.stage = s.stage AND f.run_id = 'first' "
                           "WHERE s.run_id = 'rerun' ORDER BY s.started_at").fetchall()
    finally:
        con.close()
    assert [r[:3] for r in rows] == [(s, "ok", 0) for s in STAGES]
    assert all(skipped == first_in for *_, skipped, first_in in rows)  # every unit of the first run skipped
    assert not progress_file(built.warehouse).exists()


def test_stages_after_the_first_with_work_go_to_the_flow_under_the_same_run_id(
        built: RunConfig, no_server: Path, fake_flow: FakeFlow) -> None:
    from flows.build import build

    con = connect(built.warehouse)
    con.execute("DELETE FROM work_log WHERE stage = 'preprocess'")  # as if its settings had changed
    con.close()
    reports = build(built, stages=STAGES, run_id="rerun")
    assert fake_flow.calls == [{"stages": ["preprocess"], "run_id": "rerun"}]
    assert [r["stage"] for r in reports] == STAGES and reports[0]["items_skipped"] > 0


def test_with_a_server_configured_every_stage_is_a_flow_run(
        built: RunConfig, no_server: Path, fake_flow: FakeFlow, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.build import build

    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    build(built, stages=STAGES, run_id="rerun")
    assert fake_flow.calls == [{"stages": STAGES, "run_id": "rerun"}]


def test_server_configured_reads_env_profiles_and_project_files(no_server: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.runners import prefect_server_configured

    assert not prefect_server_configured()
    profiles = no_server / "profiles.toml"
    profiles.write_text('active = "ephemeral"\n[profiles.ephemeral]\nPREFECT_SERVER_ALLOW_EPHEMERAL_MODE = "true"\n'
                        '[profiles.local]\nPREFECT_API_URL = "http://127.0.0.1:4200/api"\n')
    assert not prefect_server_configured()
    monkeypatch.setenv("PREFECT_PROFILE", "local")
    assert prefect_server_configured()
    monkeypatch.delenv("PREFECT_PROFILE")
    Path("pyproject.toml").write_text('[tool.prefect.api]\nurl = "http://127.0.0.1:4200/api"\n')
    assert prefect_server_configured()
    Path("pyproject.toml").write_text('[project]\nname = "x"\n')
    assert not prefect_server_configured()
    Path(".env").write_text("PREFECT_API_URL=http://127.0.0.1:4200/api\n")
    assert prefect_server_configured()


@pytest.mark.slow
def test_work_left_runs_as_flows_on_the_temporary_server_the_build_starts(
        built: RunConfig, no_server: Path) -> None:
    """The flow path for real: the build starts Prefect's temporary server itself, the stage with work runs
    as a flow run recorded there, and the server is gone (PREFECT_API_URL as before) when the build ends."""
    import os
    import sqlite3

    from flows.build import build

    con = connect(built.warehouse)
    con.execute("DELETE FROM work_log WHERE stage = 'preprocess'")
    con.close()
    reports = build(built, stages=STAGES, run_id="rerun")
    assert [(r["stage"], r["status"]) for r in reports] == [("collect", "ok"), ("preprocess", "ok")]
    assert reports[1]["items_in"] > 0 and "PREFECT_API_URL" not in os.environ
    db = sqlite3.connect(no_server / "prefect.db")
    try:
        runs = db.execute("SELECT f.name, r.state_type FROM flow_run r JOIN flow f ON f.id = r.flow_id").fetchall()
        artifacts = db.execute("SELECT key FROM artifact").fetchall()
        tasks = db.execute("SELECT count(*) FROM task_run WHERE name LIKE 'preprocess-units%'").fetchone()[0]
    finally:
        db.close()
    assert sorted(runs) == [("build-derm1m", "COMPLETED"), ("preprocess", "COMPLETED")]
    assert artifacts == [("stage-preprocess",)]
    assert tasks > 0  # task runs reach the server as events, sent before it stopped


def test_warm_jobs_fill_the_servers_boot_and_stop_when_it_answers(monkeypatch: pytest.MonkeyPatch,
                                                                   no_server: Path) -> None:
    """Jobs run one by one only while the temporary server does not answer yet: the wait is filled, never
    lengthened by more than the job under way; jobs left are not run."""
    import subprocess
    import sys

    from flows import runners

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    monkeypatch.setattr(runners, "_start_server", lambda: (proc, "http://127.0.0.1:9/api"))
    answers = iter([False, False, True, True])
    monkeypatch.setattr(runners, "_answers", lambda url: next(answers))
    monkeypatch.setattr(runners, "_healthy", lambda p, url, timeout: True)
    monkeypatch.setattr(runners, "_drain_prefect", lambda: None)
    ran: list[int] = []
    with runners.temporary_server(warm=(lambda n=n: ran.append(n) for n in range(4))):
        assert ran == [0, 1]
    assert proc.poll() is not None  # stopped with the build


def test_a_server_started_early_is_the_one_the_build_uses(monkeypatch: pytest.MonkeyPatch, no_server: Path) -> None:
    """`derm1m build` with no warehouse yet starts the temporary server before its imports; the flow then
    takes that server over instead of starting a second one, and stops it when the build ends."""
    import subprocess
    import sys

    from flows import runners

    started: list[subprocess.Popen[bytes]] = []

    def start() -> tuple[subprocess.Popen[bytes], str]:
        started.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]))
        return started[-1], f"http://127.0.0.1:9/api{len(started)}"

    monkeypatch.setattr(runners, "_start_server", start)
    monkeypatch.setattr(runners, "_EARLY", [])
    monkeypatch.setattr(runners, "_healthy", lambda p, url, timeout: True)
    monkeypatch.setattr(runners, "_drain_prefect", lambda: None)
    runners.start_server_early()
    runners.start_server_early()  # once per process
    assert len(started) == 1
    with runners.temporary_server():
        import os

        assert os.environ["PREFECT_API_URL"] == "http://127.0.0.1:9/api1"
    assert len(started) == 1 and started[0].poll() is not None and not runners._EARLY
