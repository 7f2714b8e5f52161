"""Task runners from the profile's `runner:` section, and the default limits of the resource tags that
each stage's `resources(unit)` names.

Threads (default) run work units inside the flow process. Dask runs them on a LocalCluster started once
per build (not once per stage) or on a scheduler given by address. Either way the stage subflow alone
opens the warehouse: units travel pickled, rows come back, and only the flow process commits them.

`derm1m deploy` creates DEFAULT_LIMITS on the server; by hand the same is
    prefect concurrency-limit create gpu 1
    prefect concurrency-limit create llm 4
    prefect concurrency-limit create download 8
    prefect concurrency-limit create host:eutils.ncbi.nlm.nih.gov 3
(`prefect concurrency-limit ls` shows them, `... delete TAG` removes one). Limits live on a server, so an
ephemeral build (`derm1m build` with no PREFECT_API_URL) runs unlimited.

Nothing here imports Prefect at module level: `derm1m build` asks `prefect_server_configured()` before
deciding whether a rerun needs Prefect at all (importing it costs a second or more).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from pipeline.config import RunnerConfig

# Tags that `derm1m deploy` gives a Prefect concurrency limit by default (tag -> task runs at once).
# GPU work: one model per device; LLM calls: the server's parallel slots; per-host downloads: politeness.
DEFAULT_LIMITS = {"gpu": 1, "llm": 4, "download": 8, "host:www.youtube.com": 2,
                  "host:eutils.ncbi.nlm.nih.gov": 3, "host:oauth.reddit.com": 1}


@contextlib.contextmanager
def cluster_address(runner: RunnerConfig) -> Iterator[str | None]:
    """The Dask scheduler a build's stages share: the configured one, or a LocalCluster for this build."""
    if runner.kind != "dask" or runner.address:
        yield runner.address
        return
    from distributed import LocalCluster

    with LocalCluster(n_workers=runner.n_workers, threads_per_worker=runner.threads_per_worker,
                      processes=runner.processes, host="127.0.0.1", dashboard_address=None) as cluster:
        yield str(cluster.scheduler_address)


def task_runner(runner: RunnerConfig, address: str | None = None) -> Any:
    """A fresh task runner for one stage subflow (runners are per flow run)."""
    if runner.kind == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=runner.max_workers)  # type: ignore[arg-type]
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": runner.n_workers, "processes": runner.processes,
                                          "threads_per_worker": runner.threads_per_worker})


_TEMPORARY_URLS: set[str] = set()  # the API of a temporary server this process started


def prefect_server_configured() -> bool:
    """Whether flow runs go to a Prefect server someone runs (PREFECT_API_URL), read without importing
    Prefect: from the environment, the active profile in profiles.toml, and the `.env`, `prefect.toml` and
    `pyproject.toml` Prefect reads in the working directory. Any other sign of Prefect configuration (a
    chosen profile or profiles file, a file that does not parse) answers yes, since no then means the build
    may skip Prefect and its runs would be missing from that server."""
    url = os.environ.get("PREFECT_API_URL")
    if url and url in _TEMPORARY_URLS:
        return False
    if url or os.environ.get("PREFECT_PROFILES_PATH"):
        return True
    cwd = Path.cwd()
    try:
        if (cwd / ".env").is_file() and "PREFECT_" in (cwd / ".env").read_text(errors="replace"):
            return True
        if (cwd / "prefect.toml").is_file():
            return True
        pyproject = cwd / "pyproject.toml"
        if pyproject.is_file() and tomllib.loads(pyproject.read_text()).get("tool", {}).get("prefect"):
            return True
        home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
        profiles_path = home / "profiles.toml"
        if not profiles_path.is_file():
            return bool(os.environ.get("PREFECT_PROFILE") not in (None, "", "ephemeral"))
        profiles = tomllib.loads(profiles_path.read_text())
    except (OSError, ValueError):
        return True
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active") or "ephemeral"
    profile = profiles.get("profiles", {}).get(active)
    if profile is None:
        return active != "ephemeral"
    return bool(profile.get("PREFECT_API_URL"))


def _start_server() -> tuple[subprocess.Popen[bytes], str]:
    """Prefect's temporary API server as `prefect.server.api.server.SubprocessASGIServer` starts it (uvicorn
    on create_app, UI off, the ephemeral flags), on a port the OS chose."""
    spec = importlib.util.find_spec("prefect")
    assert spec is not None and spec.origin is not None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(spec.origin).parents[1]), "--factory",
         "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port), "--log-level", "error",
         "--lifespan", "on"], env=env)  # fmt: skip
    return proc, f"http://127.0.0.1:{port}/api"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=0.5) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _healthy(proc: subprocess.Popen[bytes], url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def _drain_prefect() -> None:
    """Send what Prefect still queues for the server (logs; task run states, which travel as events)
    before it stops, as Prefect's test harness does; else they are lost with a connection error at exit."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=5)
    EventsWorker.drain_all(timeout=5)


_EARLY: list[tuple[subprocess.Popen[bytes], str]] = []  # a server started before the build knew it needed one


def start_server_early() -> None:
    """Start the temporary server now, for a build sure to need it (a first build: no warehouse yet), so its
    boot (about 4 s) overlaps the build's own imports and planning; temporary_server() takes it over, and
    it is stopped at exit if no build does."""
    if _EARLY or prefect_server_configured():
        return
    proc, url = _start_server()
    _EARLY.append((proc, url))
    atexit.register(_stop, proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def temporary_server(timeout: float = 120.0, warm: Iterable[Callable[[], object]] = ()) -> Iterator[None]:
    """With no server configured, the temporary server Prefect would start on a flow's first API call,
    started here before Prefect is imported, so the two overlap (the server boots in its own process for
    about 5 s) and this process never imports Prefect's server application (about 2 s of fastapi and
    SQLAlchemy); one start_server_early() began is used. `warm`: jobs run one by one while the server still
    boots (making the flows), stopping when it answers, so they never lengthen the wait by more than one job.
    Flow runs, task runs and artifacts go to it as to Prefect's own; it stops when the build ends. A
    configured server is used as it is."""
    if prefect_server_configured():
        yield
        return
    before = os.environ.get("PREFECT_API_URL")
    proc, url = _EARLY.pop() if _EARLY and _EARLY[-1][0].poll() is None else _start_server()
    _TEMPORARY_URLS.add(url)
    os.environ["PREFECT_API_URL"] = url  # read when Prefect is first imported, and by threads that see no context
    try:
        from prefect.settings import PREFECT_API_URL, temporary_settings  # imported while the server boots

        for job in warm:
            if proc.poll() is not None or _answers(url):
                break
            job()
        for _ in range(3):
            if _healthy(proc, url, timeout):
                break
            if proc.poll() != 3:  # 3: uvicorn lost the port to another process between bind and listen
                raise RuntimeError(f"Prefect's temporary server at {url} did not start (exit code {proc.poll()})")
            proc, url = _start_server()
            _TEMPORARY_URLS.add(url)
            os.environ["PREFECT_API_URL"] = url
        with temporary_settings(updates={PREFECT_API_URL: url}):
            try:
                yield
            finally:
                _drain_prefect()
    finally:
        _stop(proc)
        if before is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = before


@contextlib.contextmanager
def ephemeral_settings() -> Iterator[None]:
    """No flow-run heartbeats when no server is configured. A heartbeat thread sleeps in 1 s steps and each
    flow run's end waits for it (up to a second, seven runs a build); heartbeats let a server mark crashed
    runs, and the temporary server Prefect starts here ends with the build anyway. With a server
    configured, Prefect's own settings stand."""
    if prefect_server_configured():
        yield
        return
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
