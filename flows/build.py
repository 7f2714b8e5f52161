"""The top flow: the six stages in order. The only place that knows the order."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from flows.stages import STAGE_FLOWS
from pipeline.config import RunConfig
from pipeline.stage import new_run_id

STAGE_ORDER = ("collect", "preprocess", "clean", "pair", "augment", "train")


@flow(name="build-derm1m", task_runner=ThreadPoolTaskRunner(max_workers=4))  # type: ignore[arg-type]
def build_derm1m(cfg: RunConfig, stages: list[str] | None = None, run_id: str | None = None) -> list[dict[str, Any]]:
    """Run the selected stages (default: all) in order over one warehouse, under one run id."""
    run_id = run_id or new_run_id()
    unknown = set(stages or []) - set(STAGE_ORDER)
    if unknown:
        raise ValueError(f"unknown stage(s) {sorted(unknown)}; choose from {STAGE_ORDER}")
    return [STAGE_FLOWS[name](cfg, run_id) for name in STAGE_ORDER if not stages or name in stages]
