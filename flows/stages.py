"""One Prefect subflow per stage. Work units run as mapped tasks on the flow's task runner; results come
back to the subflow, which alone writes the warehouse (DuckDB allows one writer)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prefect import flow, task, unmapped
from prefect.cache_policies import NONE

from pipeline.augment.stage import AugmentStage
from pipeline.clean.stage import CleanStage
from pipeline.collect.stage import CollectStage
from pipeline.config import RunConfig
from pipeline.pair.stage import PairStage
from pipeline.preprocess.stage import PreprocessStage
from pipeline.stage import Stage, UnitResult, WorkUnit, run_stage
from pipeline.warehouse import connect

STAGE_CLASSES: dict[str, type[Stage]] = {
    "collect": CollectStage,
    "preprocess": PreprocessStage,
    "clean": CleanStage,
    "pair": PairStage,
    "augment": AugmentStage,
}


def _train_stage() -> type[Stage]:
    from pipeline.train.stage import TrainStage  # torch is imported only when training runs

    return TrainStage


@task(cache_policy=NONE, task_run_name="{stage.name}-units")
def process_units(stage: Stage, units: list[WorkUnit]) -> list[UnitResult]:
    return [stage.safe_process(u) for u in units]


def prefect_mapper(workers: int) -> Callable[..., Iterator[UnitResult]]:
    """Split a batch into `workers` chunks and run them as mapped tasks; yield results in order."""

    def mapper(fn: Callable[[WorkUnit], UnitResult], units: Sequence[WorkUnit]) -> Iterator[UnitResult]:
        stage: Stage = fn.__self__  # type: ignore[attr-defined]
        n = max(1, min(workers, len(units)))
        chunks = [list(units[i::n]) for i in range(n)]
        order = {u.key: i for i, u in enumerate(units)}
        results = [r for f in process_units.map(unmapped(stage), chunks) for r in f.result()]
        yield from sorted(results, key=lambda r: order[r.key])

    return mapper


def run_stage_flow(stage_name: str, cfg: RunConfig, run_id: str) -> dict[str, Any]:
    cls = _train_stage() if stage_name == "train" else STAGE_CLASSES[stage_name]
    stage = cls(cfg)
    con = connect(cfg.warehouse)
    try:
        report = run_stage(con, stage, run_id, prefect_mapper(cfg.workers), cfg.batch_size)
    finally:
        con.close()
    return vars(report)


def _stage_flow(stage_name: str) -> Any:
    """A named Prefect subflow for one stage (named functions, so deployments and the UI show the stage)."""

    def run(cfg: RunConfig, run_id: str) -> dict[str, Any]:
        return run_stage_flow(stage_name, cfg, run_id)

    run.__name__ = run.__qualname__ = f"{stage_name}_flow"
    return flow(name=stage_name)(run)


STAGE_FLOWS = {name: _stage_flow(name) for name in (*STAGE_CLASSES, "train")}
