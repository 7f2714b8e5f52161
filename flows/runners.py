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
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from prefect.task_runners import ThreadPoolTaskRunner

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
        return ThreadPoolTaskRunner(max_workers=runner.max_workers)  # type: ignore[arg-type]
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": runner.n_workers, "processes": runner.processes,
                                          "threads_per_worker": runner.threads_per_worker})
