"""The stage driver: incremental reruns, atomic units, bad units as rejects, stage_runs bookkeeping."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline.config import RunConfig
from pipeline.errors import ItemError
from pipeline.stage import (
    BATCH_GROWTH_MAX,
    BATCH_SECONDS,
    Stage,
    UnitResult,
    WorkUnit,
    next_batch_size,
    run_stage,
)
from pipeline.warehouse import count


class ToyStage(Stage):
    """Writes one collect_items row per input string; 'bad' raises ItemError, 'boom' a bug."""

    name = "collect"
    main_table = "collect_items"
    unit_tables = ("collect_items",)

    def __init__(self, inputs: dict[str, str]) -> None:
        super().__init__(RunConfig())
        self.inputs = inputs
        self.calls = 0

    def candidates(self, con) -> Iterator[WorkUnit]:
        for key, value in self.inputs.items():
            yield WorkUnit(key, value, {"value": value})

    def process(self, unit: WorkUnit) -> UnitResult:
        self.calls += 1
        if unit.payload["value"] == "bad":
            raise ItemError("bad_input", "told to fail")
        if unit.payload["value"] == "boom":
            raise RuntimeError("a bug")
        res = UnitResult(unit.key, unit.fingerprint)
        res.add("collect_items", {"item_id": unit.key, "kind": "x", "source": "s", "source_type": "t",
                                  "source_id": unit.key, "path": unit.payload["value"], "sha256": "h",
                                  "retrieved_at": "2026-01-01 00:00:00"})
        return res


def test_rerun_is_noop_and_changes_are_redone(con):
    stage = ToyStage({"a": "1", "b": "2", "c": "bad", "d": "boom"})
    r1 = run_stage(con, stage, "run1")
    assert (r1.items_in, r1.items_out, r1.items_rejected) == (4, 2, 2)
    reasons = sorted(r[0] for r in con.execute("SELECT reason FROM rejects").fetchall())
    assert reasons == ["bad_input", "unexpected_error"]
    r2 = run_stage(con, stage, "run2")
    assert (r2.items_in, r2.items_skipped, stage.calls) == (0, 4, 4)
    assert count(con, "collect_items") == 2 and count(con, "rejects") == 2
    stage.inputs["a"] = "changed"
    r3 = run_stage(con, stage, "run3")
    assert r3.items_in == 1
    assert con.execute("SELECT path FROM collect_items WHERE item_id='a'").fetchone()[0] == "changed"
    assert count(con, "collect_items") == 2
    runs = con.execute("SELECT run_id, status, config_hash IS NOT NULL FROM stage_runs ORDER BY run_id").fetchall()
    assert runs == [("run1", "ok", True), ("run2", "ok", True), ("run3", "ok", True)]


def test_kill_mid_stage_loses_and_duplicates_nothing(con):
    """A crash in the writer after some units leaves whole units only; the rerun finishes the rest."""
    stage = ToyStage({k: k for k in "abcdef"})

    done = []

    def dying_mapper(stage, units):
        for u in units:
            if len(done) == 4:  # dies inside the second batch of three
                raise KeyboardInterrupt
            done.append(u.key)
            yield stage.safe_process(u)

    with pytest.raises(KeyboardInterrupt):
        run_stage(con, stage, "killed", mapper=dying_mapper, batch_size=3)
    assert count(con, "collect_items") == 3
    assert con.execute("SELECT status FROM stage_runs WHERE run_id='killed'").fetchone()[0] == "failed"
    con.execute("UPDATE stage_runs SET status = 'running', finished_at = NULL WHERE run_id = 'killed'")  # SIGKILL
    r = run_stage(con, stage, "resume")
    assert (r.items_in, r.items_skipped) == (3, 3)
    assert con.execute("SELECT status FROM stage_runs WHERE run_id='killed'").fetchone()[0] == "interrupted"
    assert count(con, "collect_items") == 6
    assert con.execute("SELECT count(DISTINCT item_id) FROM collect_items").fetchone()[0] == 6


def test_key_conflict_becomes_reject(con):
    """Two units claiming the same primary key: the second is rejected, the stage goes on."""

    class Clash(ToyStage):
        def process(self, unit):
            res = super().process(unit)
            res.rows["collect_items"][0]["item_id"] = "same"
            return res

    stage = Clash({"a": "1", "b": "2"})
    r = run_stage(con, stage, "r")
    assert (r.items_out, r.items_rejected) == (1, 1)
    assert con.execute("SELECT reason FROM rejects").fetchone()[0] == "key_conflict"


class WrongTypeStage(ToyStage):
    """Rows whose values do not fit their columns: an int among strings, text in a BIGINT column."""

    def process(self, unit: WorkUnit) -> UnitResult:
        res = super().process(unit)
        row = res.rows["collect_items"][0]
        if unit.payload["value"] == "int-path":
            row["path"] = 5  # Arrow cannot build one string column from "1" and 5
        if unit.payload["value"] == "text-bytes":
            row["bytes"] = "many"  # DuckDB cannot cast it to BIGINT
        return res


def test_a_row_of_the_wrong_type_is_a_reject_not_a_failed_stage(con):
    """One unit's unwritable row spoils its batch; the batch is written unit by unit, the culprit rejected."""
    stage = WrongTypeStage({"a": "1", "b": "int-path", "c": "text-bytes", "d": "2"})
    report = run_stage(con, stage, "run1", batch_size=4)
    assert report.status == "ok" and (report.items_out, report.items_rejected) == (3, 1)
    rejected = con.execute("SELECT unit_key, reason FROM rejects").fetchall()
    assert rejected == [("c", "unwritable_row")]
    assert con.execute("SELECT path FROM collect_items WHERE item_id = 'b'").fetchone() == ("5",)
    assert run_stage(con, stage, "run2").items_skipped == 4  # done, the reject included


def test_batches_grow_while_units_are_cheap_and_shrink_when_slow():
    assert next_batch_size(16, 0.01, 16) == 32
    assert next_batch_size(16 * BATCH_GROWTH_MAX, 0.01, 16) == 16 * BATCH_GROWTH_MAX
    assert next_batch_size(64, 4 * BATCH_SECONDS + 1, 16) == 32
    assert next_batch_size(16, 60.0, 16) == 16
    assert next_batch_size(32, 2 * BATCH_SECONDS, 16) == 32


def test_cheap_units_share_batches_and_rows_are_written_once(con):
    stage = ToyStage({f"k{i:04d}": str(i) for i in range(2000)})
    sizes = []

    def counting_mapper(stage, units):
        sizes.append(len(units))
        return [stage.safe_process(u) for u in units]

    r = run_stage(con, stage, "run1", mapper=counting_mapper, batch_size=4)
    assert r.items_out == 2000 and count(con, "collect_items") == 2000 and count(con, "work_log") == 2000
    assert sizes[:3] == [4, 8, 16] and max(sizes) == 4 * BATCH_GROWTH_MAX and sum(sizes) == 2000


def test_rows_whose_work_log_entry_was_removed_by_hand_are_replaced_not_duplicated(con):
    """New units skip the DELETEs (no work_log entry means no rows); an entry removed by hand breaks that
    assumption, and the batch is then committed the old way instead of failing on the primary key."""
    stage = ToyStage({"a": "1", "b": "2"})
    run_stage(con, stage, "run1")
    con.execute("DELETE FROM work_log WHERE unit_key = 'a'")
    r = run_stage(con, stage, "run2")
    assert (r.items_in, r.items_out, r.items_rejected) == (1, 1, 0)
    assert count(con, "collect_items") == 2
