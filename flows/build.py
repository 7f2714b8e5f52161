"""The top flow: the six stages in order. The only place that knows the order."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.runners import cluster_address, task_runner
from flows.stage_names import STAGE_ORDER
from flows.stages import STAGE_FLOWS, hold_warehouse
from pipeline.config import RunConfig
from pipeline.stage import new_run_id


@flow(name="build-derm1m")
def build_derm1m(cfg: RunConfig, stages: list[str] | None = None, run_id: str | None = None,
                 progress: bool = False) -> list[dict[str, Any]]:
    """Run the selected stages (default: all) in order over one warehouse, under one run id. Work units
    run on `cfg.runner` (threads, or one Dask cluster shared by every stage of this build)."""
    run_id = run_id or new_run_id()
    unknown = set(stages or []) - set(STAGE_ORDER)
    if unknown:
        raise ValueError(f"unknown stage(s) {sorted(unknown)}; choose from {STAGE_ORDER}")
    with cluster_address(cfg.runner) as address, hold_warehouse(cfg, run_id):
        return [STAGE_FLOWS[name].with_options(task_runner=task_runner(cfg.runner, address))(cfg, run_id, progress)
                for name in STAGE_ORDER if not stages or name in stages]
