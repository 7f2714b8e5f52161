"""The stage contract and its driver.

A stage lists its candidate work units (each with a stable key and a fingerprint of its input content
and config), processes the pending ones without touching the database, and the driver commits each
unit's rows, rejects and work_log entry in one transaction. A unit whose fingerprint is already in
work_log is skipped, which makes reruns incremental and a rerun after a kill lose or duplicate nothing.
"""

from __future__ import annotations

import logging
import subprocess
import time
import traceback
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pyarrow as pa

import pipeline
from pipeline import takedowns
from pipeline.config import RunConfig
from pipeline.errors import ItemError
from pipeline.hashing import fingerprint
from pipeline.warehouse import insert_rows, now

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UnitKind:
    """What one kind of work unit reads, so its fingerprint changes when, and only when, its output could.

    `config`: dotted RunConfig paths ("preprocess.video", "llm"), hashed without their NOT_OUTPUT fields;
    `steps`: "<step>@<version>" of the code it runs (bump a version when that step's output changes);
    `tools`: optional tools found at run time that change output ("tesseract"). A stage builds its kinds
    from its config, so a kind reads the LLM only while the option that calls it is on.
    """

    config: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()


@dataclass
class WorkUnit:
    """One unit of work: a stable key, the fingerprint of everything its output depends on, and the payload
    `process()` gets (a typed dataclass where a stage has one, e.g. pipeline/clean/units.py; else a dict).
    Payloads must pickle: on Dask they travel to worker processes."""

    key: str
    fingerprint: str
    payload: Any = field(default_factory=dict)
    # set by pending_units(): the unit has a work_log entry, so rows of an earlier run may exist to replace
    redo: bool = False


@dataclass
class Reject:
    item_id: str
    reason: str
    detail: str = ""


@dataclass
class UnitResult:
    key: str
    fingerprint: str
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)
    # committed with what it got, but not done: the next run redoes it (a transient network failure)
    incomplete: bool = False
    # an external service failed (the LLM server is down): only shared rows (its call log) are committed,
    # nothing else; the unit stays pending and the stage run ends `degraded`
    unavailable: str | None = None

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.rows.setdefault(table, []).append(row)

    def reject(self, item_id: str, reason: str, detail: str = "") -> None:
        self.rejects.append(Reject(item_id, reason, detail))


@dataclass
class StageReport:
    run_id: str
    stage: str
    items_in: int = 0
    items_out: int = 0
    items_rejected: int = 0
    items_skipped: int = 0
    items_pending: int = 0  # units an external service failed for: retried next run
    status: str = "running"
    error: str | None = None


# (stage, units) -> their results in any order: in this thread, on a thread pool, or on Dask workers
Mapper = Callable[["Stage", Sequence[WorkUnit]], Iterable[UnitResult]]


def serial_map(stage: Stage, units: Sequence[WorkUnit]) -> Iterator[UnitResult]:
    return (stage.safe_process(u) for u in units)


class Stage(ABC):
    """One pipeline stage. Subclasses set the class attributes and implement candidates/process."""

    name: ClassVar[str]
    main_table: ClassVar[str]
    unit_tables: ClassVar[tuple[str, ...]] = ()  # rows replaced whole when their unit is redone
    shared_tables: ClassVar[tuple[str, ...]] = ()  # content-addressed rows, inserted if absent

    def __init__(self, cfg: RunConfig, *, llm_client: Any = None) -> None:
        """`llm_client`: an OpenAI-compatible client object for every LLM option of the stage (the one way
        tests inject a fake server's client); None: `openai.OpenAI` built from the profile's `llm`."""
        self.cfg = cfg
        self.llm_client = llm_client

    def unit_kinds(self) -> dict[str, UnitKind]:
        """Each kind of unit this stage runs and what it reads; by default one kind reading the stage's
        own config section."""
        return {self.name: UnitKind(config=(self.name,))}

    def kind_hash(self, kind: str) -> str:
        """Fingerprint of everything a unit of `kind` reads besides its input: units fold it in."""
        k = self.unit_kinds()[kind]
        return fingerprint(self.name, kind, self.cfg.settings(*k.config), sorted(k.steps), sorted(k.tools))

    def kind_hashes(self) -> dict[str, str]:
        return {kind: self.kind_hash(kind) for kind in self.unit_kinds()}

    @property
    def config_hash(self) -> str:
        """The whole stage's settings (stage_runs.config_hash): every kind's hash together."""
        return fingerprint(self.name, self.kind_hashes())

    def device(self) -> str:
        """The device this stage's models run on (`cpu`, `cuda`), reported in stage_runs.device."""
        return "cpu"

    def notes(self) -> str | None:
        """A line for stage_runs.notes on what the stage chose to do (a skipped step and why); None: nothing."""
        return None

    def resources(self, unit: WorkUnit) -> tuple[str, ...]:
        """Shared resources one unit uses (`gpu`, `llm`, `download`, `host:<name>`): the tags Prefect's
        concurrency limits key on. Only the stage knows what its units do."""
        return ()

    @abstractmethod
    def candidates(self, con: duckdb.DuckDBPyConnection) -> Iterable[WorkUnit]:
        """Every unit this stage should have processed, done or not."""

    @abstractmethod
    def process(self, unit: WorkUnit) -> UnitResult:
        """Do the work for one unit. Must not touch the warehouse (it may run in a worker)."""

    def prepare(self, pending: list[WorkUnit], con: duckdb.DuckDBPyConnection) -> None:
        """Optional whole-run step before any unit is processed, on the pending units only (the Batch API
        answers them all at once); `candidates()` itself has no side effects. `con` is the writer's, for
        bookkeeping that must outlive a kill at once (the submitted batches, `llm_batches`), never units' rows."""
        return None

    def finalize(self, con: duckdb.DuckDBPyConnection, report: StageReport) -> None:
        """Optional step that needs all units at once (dedup, training); runs in the writer."""
        return None

    def safe_process(self, unit: WorkUnit) -> UnitResult:
        """process() with the guarantee that one bad unit becomes a reject, never a crash."""
        try:
            return self.process(unit)
        except ItemError as exc:
            res = UnitResult(unit.key, unit.fingerprint)
            res.reject(unit.key, exc.reason, exc.detail)
            return res
        except Exception as exc:  # noqa: BLE001 - recorded as data, see docstring
            log.exception("%s: unit %s failed", self.name, unit.key)
            res = UnitResult(unit.key, unit.fingerprint)
            tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
            res.reject(unit.key, "unexpected_error", tb[:500])
            return res


def code_version() -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = "nogit"
    return f"{pipeline.__version__}+{sha}"


def new_run_id() -> str:
    return now().strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


INCOMPLETE_SUFFIX = ":incomplete"  # on a work_log fingerprint: never equal to a unit's, so it is redone


def pending_units(con: duckdb.DuckDBPyConnection, stage: Stage, units: Iterable[WorkUnit]) -> tuple[list[WorkUnit], int]:
    """The units whose fingerprint is not in work_log, and the count of those skipped. Takedowns are purged
    first (pipeline/takedowns.py), so no stage plans from what was taken down; `units` is read after."""
    takedowns.purge(con)
    done = dict(con.execute("SELECT unit_key, fingerprint FROM work_log WHERE stage = ?", [stage.name]).fetchall())
    pending, skipped, seen = [], 0, set()
    for u in units:
        if u.key in seen:
            continue
        seen.add(u.key)
        before = done.get(u.key)
        if before == u.fingerprint:
            skipped += 1
        else:
            u.redo = before is not None
            pending.append(u)
    return pending, skipped


def commit_units(
    con: duckdb.DuckDBPyConnection, stage: Stage, results: Sequence[UnitResult], run_id: str,
    fresh: Collection[str] = (),
) -> tuple[int, int]:
    """Replace everything these units produced before, in one transaction; return (main rows, rejects).

    One transaction per batch, not per unit: a file-backed DuckDB commit costs a WAL sync, which dominated
    small units. A kill still leaves whole batches only. `fresh`: keys with no work_log entry, hence no rows
    to delete (a unit's rows and its entry are committed together); each DELETE scans its table, which made
    commits grow with the warehouse.
    """
    if not results:
        return 0, 0
    shared_only = [r for r in results if r.unavailable is not None]
    results = [r for r in results if r.unavailable is None]
    keys = [r.key for r in results if r.key not in fresh]
    con.execute("BEGIN TRANSACTION")
    try:
        if keys:
            for table in stage.unit_tables:
                con.execute(f"DELETE FROM {table} WHERE unit_key IN (SELECT unnest(?))", [keys])
            con.execute("DELETE FROM rejects WHERE stage = ? AND unit_key IN (SELECT unnest(?))", [stage.name, keys])
            con.execute("DELETE FROM work_log WHERE stage = ? AND unit_key IN (SELECT unnest(?))", [stage.name, keys])
        tables: dict[str, list[dict[str, Any]]] = {}
        for res in shared_only:
            for table, rows in res.rows.items():
                if table in stage.shared_tables:
                    tables.setdefault(table, []).extend(rows)
        for res in results:
            for table, rows in res.rows.items():
                if table in stage.shared_tables:
                    tables.setdefault(table, []).extend(rows)
                elif table in stage.unit_tables:
                    tables.setdefault(table, []).extend({**r, "unit_key": res.key, "run_id": run_id} for r in rows)
                else:
                    raise KeyError(f"stage {stage.name} wrote undeclared table {table}")
        for table, rows in tables.items():
            insert_rows(con, table, rows, on_conflict_ignore=table in stage.shared_tables)
        ts = now()
        insert_rows(con, "rejects", [
            {"stage": stage.name, "unit_key": res.key, "item_id": r.item_id, "reason": r.reason,
             "detail": r.detail, "run_id": run_id, "created_at": ts} for res in results for r in res.rejects
        ])
        insert_rows(con, "work_log", [{
            "stage": stage.name, "unit_key": res.key,
            "fingerprint": res.fingerprint + INCOMPLETE_SUFFIX if res.incomplete else res.fingerprint,
            "n_out": len(res.rows.get(stage.main_table, [])), "n_rejected": len(res.rejects),
            "run_id": run_id, "done_at": ts,
        } for res in results])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return (sum(len(r.rows.get(stage.main_table, [])) for r in results), sum(len(r.rejects) for r in results))


# What a unit's own rows can do to a write: a value Arrow cannot put in one column with the others, a value
# DuckDB cannot cast to the column's type, a duplicate key. Disk and database failures are not in this list:
# they fail the stage, since no unit is at fault.
_ROW_ERRORS: tuple[type[BaseException], ...] = (
    pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, duckdb.ConstraintException,
    duckdb.ConversionException, duckdb.TypeMismatchException, duckdb.InvalidInputException,
)


def _commit_batch(
    con: duckdb.DuckDBPyConnection, stage: Stage, results: list[UnitResult], run_id: str,
    fresh: Collection[str] = (),
) -> tuple[int, int]:
    """Commit a batch; if a unit's rows spoil it (a key conflict, a value of the wrong type), commit unit by
    unit so only the culprit is rejected (`key_conflict` or `unwritable_row`, with the database's words)."""
    try:
        return commit_units(con, stage, results, run_id, fresh)
    except _ROW_ERRORS:
        if fresh:  # rows whose work_log entry was removed by hand: replace them, as for any redone unit
            return _commit_batch(con, stage, results, run_id)
        n_out = n_rej = 0
        for res in results:
            try:
                o, r = commit_units(con, stage, [res], run_id)
            except _ROW_ERRORS as exc:
                log.warning("%s: unit %s cannot be written: %s", stage.name, res.key, exc)
                conflict = UnitResult(res.key, res.fingerprint)
                reason = "key_conflict" if isinstance(exc, duckdb.ConstraintException) else "unwritable_row"
                conflict.reject(res.key, reason, f"{type(exc).__name__}: {exc}"[:500])
                o, r = commit_units(con, stage, [conflict], run_id)
            n_out, n_rej = n_out + o, n_rej + r
        return n_out, n_rej


Progress = Callable[[int, int], None]  # (units done, units pending at the start of the run)
BATCH_SECONDS = 1.0  # a batch quicker than this doubles the next one
BATCH_GROWTH_MAX = 64  # times the profile's batch_size


def next_batch_size(size: int, seconds: float, smallest: int) -> int:
    """Batches sized by time, not count: `batch_size` is the smallest batch, doubled while a batch takes
    under BATCH_SECONDS (up to BATCH_GROWTH_MAX times) and halved when one takes over four times that.
    Cheap units (a lexical label, a caption) then share one Prefect task round trip and one transaction
    among hundreds, which were most of their cost, and a kill still loses only seconds of work."""
    if seconds < BATCH_SECONDS:
        return min(size * 2, smallest * BATCH_GROWTH_MAX)
    if seconds > 4 * BATCH_SECONDS:
        return max(size // 2, smallest)
    return size



def run_stage(
    con: duckdb.DuckDBPyConnection, stage: Stage, run_id: str, mapper: Mapper = serial_map, batch_size: int = 16,
    on_progress: Progress | None = None, planned: tuple[list[WorkUnit], int] | None = None,
) -> StageReport:
    """Run one stage: plan, process pending units in batches, commit each, finalize, record stage_runs.
    `on_progress` is called after planning and after each committed batch (a progress bar, a heartbeat).
    `planned`: (pending units, units skipped) from `pending_units()` when the caller planned already (a
    rerun that looks before starting Prefect), so the candidates are not listed twice."""
    report = StageReport(run_id=run_id, stage=stage.name)
    # the writer holds the only write lock, so a run of this stage still `running` was killed mid-way
    con.execute("UPDATE stage_runs SET status = 'interrupted', finished_at = coalesce(finished_at, ?) "
                "WHERE stage = ? AND status = 'running'", [now(), stage.name])
    con.execute(
        "INSERT INTO stage_runs (run_id, stage, started_at, status, config_hash, code_version, device) "
        "VALUES (?,?,?,?,?,?,?)",
        [run_id, stage.name, now(), "running", stage.config_hash, code_version(), stage.device()],
    )
    try:
        pending, report.items_skipped = (planned if planned is not None
                                          else pending_units(con, stage, stage.candidates(con)))
        report.items_in = len(pending)
        if on_progress:
            on_progress(0, len(pending))
        stage.prepare(pending, con)
        smallest = size = max(1, batch_size)
        start = 0
        while start < len(pending):
            batch = pending[start:start + size]
            t0 = time.monotonic()
            results = list(mapper(stage, batch))
            for res in results:
                if res.unavailable is not None:
                    report.items_pending += 1
                    report.error = report.error or res.unavailable
            n_out, n_rej = _commit_batch(con, stage, results, run_id, {u.key for u in batch if not u.redo})
            report.items_out += n_out
            report.items_rejected += n_rej
            start += len(batch)
            size = next_batch_size(size, time.monotonic() - t0, smallest)
            if on_progress:
                on_progress(start, len(pending))
        stage.finalize(con, report)
        report.status = "ok"
        error = None
        if report.items_pending:
            report.status = "degraded"
            error = (f"{report.items_pending} unit(s) could not reach an external service and stay pending; "
                     f"the next run retries them. First error: {report.error}")[:2000]
    except BaseException as exc:
        report.status = "failed"
        error = f"{type(exc).__name__}: {exc}"[:2000]
        raise
    else:
        report.error = error
    finally:
        con.execute(
            "UPDATE stage_runs SET finished_at = ?, status = ?, items_in = ?, items_out = ?, items_rejected = ?, "
            "items_skipped = ?, items_pending = ?, error = ?, notes = ? WHERE run_id = ? AND stage = ?",
            [now(), report.status, report.items_in, report.items_out, report.items_rejected,
             report.items_skipped, report.items_pending, error if report.status != "ok" else None,
             stage.notes(), run_id, stage.name],
        )
    return report
