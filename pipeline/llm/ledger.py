"""Where Batch API jobs are remembered, so a restart resumes a batch instead of paying for it twice.

A batch can run for up to a day; the process that submitted it may be killed meanwhile. Each batch is
recorded the moment the provider accepts it (its id, input file, prompt, model and every request's
custom_id with the input hash it was rendered from). The next run attaches a pending input to a recorded
batch when custom_id, input hash, prompt and model all match and the batch is not yet consumed, then polls
and reads that batch as if it had submitted it. A batch is consumed once the run that read its results has
committed them (`mark_consumed`, called by the stage's finalize); until then a rerun reads it again, which
is free, rather than submitting it again. `BatchLedger` keeps records in memory (one process: `derm1m
label`, tests); `WarehouseLedger` in the `llm_batches` table (migration 0023), written at once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

import duckdb

from pipeline.hashing import stable_json
from pipeline.warehouse import now

FINAL = ("completed", "failed", "expired", "cancelled")


@dataclass
class BatchRecord:
    batch_id: str
    input_file_id: str
    prompt: str
    model: str
    requests: dict[str, str]  # custom_id -> input hash
    status: str
    created_at: datetime = field(default_factory=now)
    output_file_id: str | None = None
    error_file_id: str | None = None
    error: str | None = None
    finished_at: datetime | None = None
    consumed_at: datetime | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def request_set_hash(self) -> str:
        return hashlib.sha256(stable_json(self.requests).encode()).hexdigest()


class BatchLedger:
    """Batch records of this process only."""

    def __init__(self) -> None:
        self.records: dict[str, BatchRecord] = {}
        self.read: set[str] = set()  # batches whose results this process handed on

    def unconsumed(self, prompt: str, model: str) -> list[BatchRecord]:
        """Recorded batches of `prompt` and `model` whose results were never committed, oldest first."""
        return sorted((r for r in self.records.values()
                       if r.prompt == prompt and r.model == model and r.consumed_at is None),
                      key=lambda r: r.created_at)  # fmt: skip

    def save(self, record: BatchRecord) -> None:
        self.records[record.batch_id] = record

    def handed_on(self, record: BatchRecord) -> None:
        """The batch ended and its results (or its failure) went to the caller."""
        self.save(record)
        self.read.add(record.batch_id)

    def mark_consumed(self) -> None:
        """Every batch handed on by this process is done with: the caller has committed what it gave."""
        ts = now()
        for batch_id in sorted(self.read):
            record = self.records[batch_id]
            record.consumed_at = ts
            self.save(record)
        self.read.clear()


_COLUMNS = ("batch_id", "input_file_id", "prompt", "model", "n_requests", "request_set_hash", "requests",
            "status", "output_file_id", "error_file_id", "error", "created_at", "finished_at", "consumed_at")


class WarehouseLedger(BatchLedger):
    """Batch records in `llm_batches`, each change committed at once (the writer's connection, outside any
    unit's transaction), so a kill at any moment leaves every submitted batch on record."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        super().__init__()
        self.con = con

    def unconsumed(self, prompt: str, model: str) -> list[BatchRecord]:
        rows = self.con.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM llm_batches WHERE prompt = ? AND model = ? AND consumed_at IS NULL "
            "ORDER BY created_at, batch_id", [prompt, model]).fetchall()  # fmt: skip
        for row in rows:
            values = dict(zip(_COLUMNS, row, strict=True))
            values.pop("n_requests"), values.pop("request_set_hash")
            values["requests"] = json.loads(values["requests"])
            self.records[values["batch_id"]] = BatchRecord(**values)
        return [self.records[row[0]] for row in rows]

    def save(self, record: BatchRecord) -> None:
        super().save(record)
        values = [record.batch_id, record.input_file_id, record.prompt, record.model, len(record.requests),
                  record.request_set_hash, stable_json(record.requests), record.status, record.output_file_id,
                  record.error_file_id, record.error, record.created_at, record.finished_at, record.consumed_at]
        self.con.execute(f"INSERT OR REPLACE INTO llm_batches ({', '.join(_COLUMNS)}) "
                         f"VALUES ({', '.join('?' * len(_COLUMNS))})", values)
