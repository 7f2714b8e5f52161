"""The top flow: the six stages in order. The only place that knows the order.

`build()` is what `derm1m build` runs. With no Prefect server configured it first runs, without Prefect,
the leading stages that have nothing to do (`flows.stages.run_done_stages`), so a no-op rerun never starts
Prefect's temporary server (about 6 s) nor imports Prefect; the stages left, if any, run as the flow. With
a server configured (PREFECT_API_URL) every build is the flow, so the server sees every run and artifact.
"""

from __future__ import annotations

import functools
from typing import Any

from flows.runners import (
    cluster_address,
    ephemeral_settings,
    prefect_server_configured,
    task_runner,
    temporary_server,
)
from flows.stage_names import STAGE_ORDER
from flows.stages import hold_warehouse, run_done_stages
from pipeline.config import RunConfig
from pipeline.stage import new_run_id


def _selected(stages: list[str] | None) -> list[str]:
    unknown = set(stages or []) - set(STAGE_ORDER)
    if unknown:
        raise ValueError(f"unknown stage(s) {sorted(unknown)}; choose from {STAGE_ORDER}")
    return [name for name in STAGE_ORDER if not stages or name in stages]


def _build(cfg: RunConfig, stages: list[str] | None = None, run_id: str | None = None,
           progress: bool = False) -> list[dict[str, Any]]:
    """Run the selected stages (default: all) in order over one warehouse, under one run id. Work units
    run on `cfg.runner` (threads, or one Dask cluster shared by every stage of this build)."""
    from flows.stages import STAGE_FLOWS

    run_id = run_id or new_run_id()
    names = _selected(stages)
    with cluster_address(cfg.runner) as address, hold_warehouse(cfg, run_id), ephemeral_settings():
        return [STAGE_FLOWS[name].with_options(task_runner=task_runner(cfg.runner, address))(cfg, run_id, progress)
                for name in names]


# the flow's entrypoint (`flow.serve`, deployments) is the function's name: flows/build.py:build_derm1m, which
# the module's __getattr__ answers with the flow
_build.__name__ = _build.__qualname__ = "build_derm1m"


@functools.cache
def _build_flow() -> Any:
    from prefect import flow

    return flow(name="build-derm1m")(_build)


def __getattr__(name: str) -> Any:
    """`build_derm1m`, the Prefect flow (deployments serve it), made on first use (PEP 562)."""
    if name == "build_derm1m":
        return _build_flow()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build(cfg: RunConfig, stages: list[str] | None = None, run_id: str | None = None,
          progress: bool = False) -> list[dict[str, Any]]:
    """The build as `derm1m build` runs it: the flow, after the stages with nothing to do when no Prefect
    server is configured (see the module docstring). Same stage_runs rows either way, under one run id."""
    run_id = run_id or new_run_id()
    names = _selected(stages)
    if prefect_server_configured():
        return list(_build_flow()(cfg, stages=names, run_id=run_id, progress=progress))
    with hold_warehouse(cfg, run_id):
        done = run_done_stages(cfg, names, run_id)
        rest = names[len(done):]
        if not rest:
            return done
        with temporary_server(), ephemeral_settings():
            return done + list(_build_flow()(cfg, stages=rest, run_id=run_id, progress=progress))
