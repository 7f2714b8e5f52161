"""The deployments on a real Prefect server: `prefect server start` on a free loopback port, every
deployment registered with a process work pool, the build deployment triggered over a tiny profile
(collect of the sample PDFs only) and picked up by `prefect worker start --run-once`, which runs it
to COMPLETED, with the collect stage's artifact on the server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture
def server(tmp_path, monkeypatch):
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "DO_NOT_TRACK": "1",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_API_URL": url,
           "PREFECT_LOGGING_LEVEL": "WARNING", "PREFECT_SERVER_LOGGING_LEVEL": "WARNING"}
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    start = time.perf_counter()
    try:
        while not _healthy(url):
            if proc.poll() is not None or time.perf_counter() - start > 90:
                pytest.fail(f"server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        print(f"\nprefect server healthy after {time.perf_counter() - start:.1f} s")
        for key, value in env.items():
            if key.startswith("PREFECT_") or key == "DO_NOT_TRACK":
                monkeypatch.setenv(key, value)
        yield url, env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_deploy_trigger_and_worker_complete(server, tmp_path, repo):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.deployments import DEPLOYMENTS, deploy_all, ensure_concurrency_limits
    from pipeline.warehouse import connect, count

    url, env = server
    profile = tmp_path / "tiny.yaml"
    profile.write_text(f"root: {repo}\nwarehouse: {tmp_path / 'w.duckdb'}\ndata_dir: {tmp_path / 'data'}\n"
                       "collect: {sources: {pdfs: [samples/pdf]}}\n")
    with temporary_settings({PREFECT_API_URL: url}):
        names = deploy_all(pool="derm1m-test", parameters={"config": str(profile), "stages": ["collect"]},
                           schedules=False)
        assert names == [f"derm1m-profile/{d.name}" for d in DEPLOYMENTS]
        assert ensure_concurrency_limits({"gpu": 1})["gpu"] == 1
        run = run_deployment("derm1m-profile/build", timeout=0)
        worker = subprocess.run([str(BIN / "prefect"), "worker", "start", "--pool", "derm1m-test", "--run-once"],
                                env=env, capture_output=True, text=True, timeout=180)
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(run.id).state
            assert state is not None and state.is_completed(), (state, worker.stdout[-3000:], worker.stderr[-3000:])
            pools = {p.name: p.type for p in client.read_work_pools()}
            assert pools["derm1m-test"] == "process"
            deps = {d.name for d in client.read_deployments()}
            assert deps == {d.name for d in DEPLOYMENTS}
            arts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["stage-collect"])))
            assert arts and "| units in |" in str(arts[0].data)
    con = connect(tmp_path / "w.duckdb")
    assert count(con, "collect_items") == 3
    con.close()
