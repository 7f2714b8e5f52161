"""One Prefect subflow per stage. Work units run as mapped tasks on the flow's task runner; results come
back to the subflow, which alone writes the warehouse (DuckDB allows one writer)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NONE

from flows.observe import StageProgress, publish_stage_artifact
from pipeline.augment.stage import AugmentStage
from pipeline.clean.stage import CleanStage
from pipeline.collect.stage import CollectStage
from pipeline.config import RunConfig
from pipeline.hashing import fingerprint
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


def stage_class(name: str) -> type[Stage]:
    return _train_stage() if name == "train" else STAGE_CLASSES[name]


@dataclass(frozen=True)
class StageSpec:
    """What a worker process needs to rebuild a stage: its name and the profile as JSON. Stages hold
    clients, models and open files that do not pickle; the spec does, and each worker process builds the
    stage once and keeps it (so a Whisper model loads once per worker, not once per chunk)."""

    name: str
    cfg_json: str


_WORKER_STAGES: dict[str, Stage] = {}


def resolve_stage(stage: Stage | StageSpec) -> Stage:
    if isinstance(stage, Stage):
        return stage
    key = fingerprint(stage.name, stage.cfg_json)
    if key not in _WORKER_STAGES:
        cfg = RunConfig.model_validate_json(stage.cfg_json)
        _WORKER_STAGES[key] = stage_class(stage.name)(cfg)
    return _WORKER_STAGES[key]


@task(cache_policy=NONE, task_run_name="{stage.name}-units")
def process_units(stage: Stage | StageSpec, units: list[WorkUnit]) -> list[UnitResult]:
    """Process a chunk of units; never opens the warehouse, so it may run in any worker process."""
    live = resolve_stage(stage)
    return [live.safe_process(u) for u in units]


def _chunks(stage: Stage, units: Sequence[WorkUnit], workers: int) -> list[tuple[tuple[str, ...], list[WorkUnit]]]:
    """Units grouped by resource tags (so a tag limit holds back only the units that use the resource),
    each group split round-robin into at most `workers` chunks."""
    groups: dict[tuple[str, ...], list[WorkUnit]] = {}
    for u in units:
        groups.setdefault(stage.resources(u), []).append(u)
    out: list[tuple[tuple[str, ...], list[WorkUnit]]] = []
    for tags, group in groups.items():
        n = max(1, min(workers, len(group)))
        out.extend((tags, group[i::n]) for i in range(n))
    return out


def prefect_mapper(workers: int, remote: bool = False) -> Callable[..., Iterator[UnitResult]]:
    """Split a batch into chunks and run them as tasks; yield results in unit order. `remote`: the task
    runner ships work to other processes, so the stage travels as a StageSpec."""

    def mapper(stage: Stage, units: Sequence[WorkUnit]) -> Iterator[UnitResult]:
        target: Stage | StageSpec = StageSpec(stage.name, stage.cfg.model_dump_json()) if remote else stage
        order = {u.key: i for i, u in enumerate(units)}
        futures = [process_units.with_options(tags=set(tags)).submit(target, chunk)
                   for tags, chunk in _chunks(stage, units, workers)]
        results = [r for f in futures for r in f.result()]
        yield from sorted(results, key=lambda r: order[r.key])

    return mapper


def run_stage_flow(stage_name: str, cfg: RunConfig, run_id: str, progress: bool = False) -> dict[str, Any]:
    """Run one stage in this process, the only one that opens the warehouse. On Dask a batch gives each
    worker slot a chunk of `batch_size` units: a remote task costs a round trip, so fewer, larger ones."""
    stage = stage_class(stage_name)(cfg)
    remote = cfg.runner.kind == "dask"
    workers = cfg.runner.n_workers * cfg.runner.threads_per_worker if remote else cfg.workers
    batch = cfg.batch_size * workers if remote else cfg.batch_size
    con = connect(cfg.warehouse)
    try:
        with StageProgress(stage_name, enabled=progress) as bar:
            report = run_stage(con, stage, run_id, prefect_mapper(workers, remote), batch, on_progress=bar.update)
        publish_stage_artifact(con, report)
    finally:
        con.close()
    return vars(report)


def _stage_flow(stage_name: str) -> Any:
    """A named Prefect subflow for one stage (named functions, so deployments and the UI show the stage)."""

    def run(cfg: RunConfig, run_id: str, progress: bool = False) -> dict[str, Any]:
        return run_stage_flow(stage_name, cfg, run_id, progress)

    run.__name__ = run.__qualname__ = f"{stage_name}_flow"
    return flow(name=stage_name)(run)


STAGE_FLOWS = {name: _stage_flow(name) for name in (*STAGE_CLASSES, "train")}
