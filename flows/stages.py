"""One Prefect subflow per stage. Work units run as mapped tasks on the flow's task runner; results come
back to the subflow, which alone writes the warehouse (DuckDB allows one writer).

Prefect is imported only when a flow or task is first asked for (`STAGE_FLOWS`, `process_units`): a rerun
with nothing to do runs its stages through `run_done_stages` without Prefect (flows/build.py decides).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from flows.observe import StageProgress, publish_stage_artifact
from pipeline import takedowns
from pipeline.augment.stage import AugmentStage
from pipeline.clean.stage import CleanStage
from pipeline.collect.stage import CollectStage
from pipeline.config import RunConfig
from pipeline.hashing import fingerprint
from pipeline.pair.stage import PairStage
from pipeline.preprocess.stage import PreprocessStage
from pipeline.stage import Stage, UnitResult, WorkUnit, pending_units, run_stage, serial_map
from pipeline.warehouse import apply_migrations, connect, progress_file

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


def _process_units(stage: Stage | StageSpec, units: list[WorkUnit]) -> list[UnitResult]:
    """Process a chunk of units; never opens the warehouse, so it may run in any worker process."""
    live = resolve_stage(stage)
    return [live.safe_process(u) for u in units]


@functools.cache
def _process_units_task() -> Any:
    from prefect import task
    from prefect.cache_policies import NONE

    return task(name="process_units", cache_policy=NONE, task_run_name="{stage.name}-units")(_process_units)


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
        futures = [_process_units_task().with_options(tags=set(tags)).submit(target, chunk)
                   for tags, chunk in _chunks(stage, units, workers)]
        results = [r for f in futures for r in f.result()]
        yield from sorted(results, key=lambda r: order[r.key])

    return mapper


# The build's one write connection per warehouse, held from its first stage to its last: DuckDB's file lock
# then stays with the build, so a `derm1m sql` started between two stages is turned away (with the build's
# PID) instead of taking the lock and failing the next stage.
_HELD: dict[str, Any] = {}


@contextlib.contextmanager
def hold_warehouse(cfg: RunConfig, run_id: str) -> Iterator[None]:
    """Open the warehouse once for a whole build; readers locked out meanwhile find the build's progress in
    `<warehouse>.progress.json` (pipeline.warehouse.progress_file), removed when the build ends."""
    key = str(cfg.warehouse)
    if key in _HELD:  # a build inside a build (a deployment calling the flow): the outer one holds it
        yield
        return
    # the lock, then at once the progress file readers are sent to, then the migrations: a new warehouse's
    # took long enough for a reader to find the lock and no progress file (tests/test_warehouse_lock.py)
    con = connect(cfg.warehouse, migrate=False)
    _HELD[key] = {"con": con, "run_id": run_id, "pid": os.getpid(), "started_at": time.time(), "stages": []}
    try:
        _write_progress(cfg)
        apply_migrations(con)
        takedowns.sync_requests(con, takedowns.Takedowns.load(cfg.takedowns).requests)
        yield
    finally:
        _HELD.pop(key, None)
        con.close()
        progress_file(cfg.warehouse).unlink(missing_ok=True)


def _write_progress(cfg: RunConfig, current: dict[str, Any] | None = None) -> None:
    held = _HELD.get(str(cfg.warehouse))
    if held is None:
        return
    snap = {k: held[k] for k in ("run_id", "pid", "started_at")}
    snap["stages"] = [*held["stages"], *([current] if current else [])]
    path = progress_file(cfg.warehouse)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(snap, default=str, indent=1))
    tmp.replace(path)


def run_stage_flow(stage_name: str, cfg: RunConfig, run_id: str, progress: bool = False) -> dict[str, Any]:
    """Run one stage in this process, the only one that opens the warehouse (the build's held connection,
    else one of its own). On Dask a batch gives each worker slot a chunk of `batch_size` units: a remote
    task costs a round trip, so fewer, larger ones."""
    held = _HELD.get(str(cfg.warehouse))
    # the stage run_done_stages stopped at was planned there already: its stage object and plan, not twice
    ready = held.pop("planned", None) if held else None
    stage, planned = (ready[1], ready[2]) if ready and ready[0] == stage_name else (stage_class(stage_name)(cfg), None)
    remote = cfg.runner.kind == "dask"
    workers = cfg.runner.n_workers * cfg.runner.threads_per_worker if remote else cfg.workers
    batch = cfg.batch_size * workers if remote else cfg.batch_size
    con = held["con"] if held else connect(cfg.warehouse)
    last = [0.0]

    def on_progress(done: int, total: int) -> None:
        bar.update(done, total)
        if time.monotonic() - last[0] > 1.0 or done == total:
            last[0] = time.monotonic()
            _write_progress(cfg, {"stage": stage_name, "status": "running", "units_done": done, "units": total})

    try:
        with StageProgress(stage_name, enabled=progress) as bar:
            report = run_stage(con, stage, run_id, prefect_mapper(workers, remote), batch, on_progress=on_progress,
                               planned=planned)
        publish_stage_artifact(con, report)
    finally:
        if held is None:
            con.close()
    if held is not None:
        held["stages"].append(vars(report))
        _write_progress(cfg)
    return vars(report)


def run_done_stages(cfg: RunConfig, names: Sequence[str], run_id: str) -> list[dict[str, Any]]:
    """Run the leading stages of `names` that have no pending unit, in this process and without Prefect,
    up to the first stage with work (the caller runs that one and the rest as flows). Each stage is planned
    after the one before it finalized, as in a build, and run on that plan, so its stage_runs row says
    what it skipped. Inside `hold_warehouse` only: the held connection is the one writer."""
    held = _HELD[str(cfg.warehouse)]
    con = held["con"]
    reports: list[dict[str, Any]] = []
    for name in names:
        stage = stage_class(name)(cfg)
        pending, skipped = pending_units(con, stage, stage.candidates(con))
        if pending:  # the flow runs this stage on this plan (run_stage_flow): planning is most of a rerun
            held["planned"] = (name, stage, (pending, skipped))
            break
        report = vars(run_stage(con, stage, run_id, serial_map, planned=(pending, skipped)))
        held["stages"].append(report)
        _write_progress(cfg)
        reports.append(report)
    return reports


def _stage_flow(stage_name: str) -> Any:
    """A named Prefect subflow for one stage (named functions, so deployments and the UI show the stage).
    `cfg` is typed Any for Prefect: it builds a JSON schema of a flow's parameters whenever a flow is made
    (with_options too, once per stage and build), about 0.1 s each for the whole RunConfig; the build flow
    above them keeps the typed schema that deployments show."""
    from prefect import flow

    def run(cfg: Any, run_id: str, progress: bool = False) -> dict[str, Any]:
        return run_stage_flow(stage_name, cfg, run_id, progress)

    run.__name__ = run.__qualname__ = f"{stage_name}_flow"
    return flow(name=stage_name)(run)


@functools.cache
def _stage_flows() -> dict[str, Any]:
    return {name: _stage_flow(name) for name in (*STAGE_CLASSES, "train")}


def __getattr__(name: str) -> Any:
    """`STAGE_FLOWS` and `process_units`, the Prefect objects, made on first use (PEP 562)."""
    if name == "STAGE_FLOWS":
        return _stage_flows()
    if name == "process_units":
        return _process_units_task()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
