"""OpenAI Batch API mode of the shared caller: half the price, answers within the completion window.

Uncached inputs become /v1/chat/completions request lines (`custom_id` = the caller's key) cut into input
files within the provider's limits (`llm.batch_max_requests`, `llm.batch_max_bytes`), rendered one file at a
time so a million-pair run never holds every prompt in memory. Up to `llm.batch_max_in_flight` batches are
submitted and polled together; as one ends, its results are read back and the next file goes. Each answer
goes through the same path as a live call (`JsonPromptCaller.resume`): envelope checks, validation, the
caller's `accept`, one corrective retry as a live call, a logged `llm_calls` row priced at the batch
discount, and a cache row. Every batch is on record in a ledger (pipeline/llm/ledger.py) from the moment it
exists, so a run killed mid-batch resumes polling it next time instead of submitting it again. A batch that
fails, expires or times out leaves its items `llm_unavailable` with the reason, so nothing is lost and a
rerun asks again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import openai

from pipeline.hashing import stable_json
from pipeline.llm.caller import Accept, CallOutcome, JsonPromptCaller, as_is
from pipeline.llm.ledger import BatchLedger, BatchRecord
from pipeline.warehouse import now


class BatchError(RuntimeError):
    """The batch as a whole did not complete; the message says why."""


def request_line(llm: JsonPromptCaller, key: str, values: Mapping[str, object]) -> dict[str, Any]:
    """One Batch API request for one input, keyed by the caller's id."""
    return {"custom_id": key, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": llm.cfg.model, "messages": llm.messages(**values),
                     "response_format": llm.response_format(), "temperature": 0}}  # fmt: skip


def batch_lines(llm: JsonPromptCaller, inputs: Mapping[str, dict[str, object]]) -> list[dict[str, Any]]:
    return [request_line(llm, key, values) for key, values in inputs.items()]


def split(encoded: Iterable[tuple[str, bytes]], max_requests: int, max_bytes: int) -> Iterator[tuple[list[str], bytes]]:
    """(key, JSONL line) pairs cut into files that each stay within both limits; a line larger than
    `max_bytes` on its own still goes, alone (the provider will say why it refuses it)."""
    keys: list[str] = []
    parts: list[bytes] = []
    size = 0
    for key, line in encoded:
        if keys and (len(keys) >= max_requests or size + len(line) > max_bytes):
            yield keys, b"".join(parts)
            keys, parts, size = [], [], 0
        keys.append(key)
        parts.append(line)
        size += len(line)
    if keys:
        yield keys, b"".join(parts)


def ask_batch(llm: JsonPromptCaller, inputs: Mapping[str, dict[str, object]], accept: Accept = as_is,
              cached: Mapping[str, str] | None = None, sleep: Callable[[float], None] = time.sleep,
              ledger: BatchLedger | None = None) -> dict[str, CallOutcome]:
    """Outcomes for every key of `inputs`; `cached` maps cache keys (input hashes) to stored answers.
    Identical inputs are sent once; the other keys share the answer without logging a call again.
    `ledger`: where batches are recorded (the warehouse's `llm_batches` in a stage; memory by default)."""
    outcomes: dict[str, CallOutcome] = {}
    todo: dict[str, dict[str, object]] = {}
    hashes: dict[str, str] = {}
    twins: dict[str, list[str]] = {}  # first key -> later keys with the same cache key
    first_of: dict[str, str] = {}
    for key, values in inputs.items():
        cache_key = llm.cache_key(**values)
        hit = (cached or {}).get(cache_key) or llm.memo.get(cache_key)
        if hit and llm.cfg.cache and (value := llm.from_cache(hit, accept)) is not None:
            outcomes[key] = CallOutcome(value, [], cached=True)
        elif cache_key in first_of:
            twins[first_of[cache_key]].append(key)
        else:
            first_of[cache_key], todo[key], hashes[key], twins[key] = key, values, cache_key, []
    if todo:
        _Run(llm, todo, hashes, accept, outcomes, sleep, ledger if ledger is not None else BatchLedger()).run()
    for first, keys in twins.items():
        done = outcomes[first]
        for key in keys:
            outcomes[key] = CallOutcome(done.value, [], done.reason, done.detail, cached=done.value is not None)
    return outcomes


@dataclass
class _Job:
    record: BatchRecord
    keys: list[str]  # the inputs this run takes from the batch
    batch: Any = None  # the provider's latest view of it


class _Run:
    """One ask_batch call's batches: attach recorded ones, submit the rest, poll them all together."""

    def __init__(self, llm: JsonPromptCaller, todo: dict[str, dict[str, object]], hashes: dict[str, str],
                 accept: Accept, outcomes: dict[str, CallOutcome], sleep: Callable[[float], None],
                 ledger: BatchLedger) -> None:
        self.llm, self.cfg, self.client = llm, llm.cfg, llm.client
        self.todo, self.hashes, self.accept, self.outcomes = todo, hashes, accept, outcomes
        self.sleep, self.ledger = sleep, ledger

    def run(self) -> None:
        active, claimed = [], set()
        for record in self.ledger.unconsumed(self.llm.prompt_key, self.cfg.model):
            keys = [k for k, h in record.requests.items() if self.hashes.get(k) == h and k not in claimed]
            if keys:
                claimed.update(keys)
                job = _Job(record, keys)
                if self._refresh(job):
                    active.append(job)
        fresh = (k for k in self.todo if k not in claimed)
        files = split(((k, (stable_json(request_line(self.llm, k, self.todo[k])) + "\n").encode()) for k in fresh),
                      self.cfg.batch_max_requests, self.cfg.batch_max_bytes)
        upcoming = next(files, None)
        while active or upcoming is not None:
            while upcoming is not None and len(active) < self.cfg.batch_max_in_flight:
                if (submitted := self._submit(*upcoming)) is not None:
                    active.append(submitted)
                upcoming = next(files, None)
            active = [job for job in active if not self._settle(job)]
            if active:
                self.sleep(self.cfg.batch_poll_s)
                active = [job for job in active if self._refresh(job)]

    def _submit(self, keys: list[str], data: bytes) -> _Job | None:
        requests = {k: self.hashes[k] for k in keys}
        try:
            upload = self.client.files.create(file=("llm_batch.jsonl", data), purpose="batch")
            batch = self.client.batches.create(
                input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h",
                metadata={"prompt": self.llm.prompt_key})  # fmt: skip
        except openai.APIError as exc:
            self._unavailable(keys, f"{type(exc).__name__}: {exc}")
            return None
        record = BatchRecord(batch.id, upload.id, self.llm.prompt_key, self.cfg.model, requests, batch.status)
        self.ledger.save(record)
        return _Job(record, keys, batch)

    def _refresh(self, job: _Job) -> bool:
        """The batch's current state; False (its items unavailable, the batch left on record for the next
        run) when the provider cannot be asked."""
        try:
            job.batch = self.client.batches.retrieve(job.record.batch_id)
        except openai.APIError as exc:
            self._unavailable(job.keys, f"{type(exc).__name__}: {exc}")
            return False
        if job.batch.status != job.record.status:
            job.record.status = job.batch.status
            self.ledger.save(job.record)
        return True

    def _settle(self, job: _Job) -> bool:
        """Finish a batch that has ended or run out of time; True when it is done with."""
        record, batch = job.record, job.batch
        if batch.status not in ("completed", "failed", "expired", "cancelled"):
            if now() < record.created_at + timedelta(seconds=self.cfg.batch_timeout_s):
                return False
            try:
                batch = self.client.batches.cancel(record.batch_id)
            except openai.APIError:
                pass
            record.error = (f"batch {record.batch_id} still {job.batch.status} after "
                            f"{self.cfg.batch_timeout_s:.0f} s; cancelled")
            record.status = getattr(batch, "status", "cancelling")
        elif batch.status != "completed":
            record.error = f"batch {record.batch_id} ended {batch.status}: {getattr(batch, 'errors', None)}"
        record.finished_at = now()
        record.output_file_id = getattr(batch, "output_file_id", None)
        record.error_file_id = getattr(batch, "error_file_id", None)
        if record.error is not None:
            self._unavailable(job.keys, f"BatchError: {record.error}")
        else:
            try:
                results, failures = self._read(record)
            except openai.APIError as exc:  # the files stay with the provider: the next run reads them again
                self.ledger.save(record)
                self._unavailable(job.keys, f"{type(exc).__name__}: {exc}")
                return True
            self._resume(job, results, failures)
        self.ledger.handed_on(record)
        return True

    def _read(self, record: BatchRecord) -> tuple[dict[str, Any], dict[str, str]]:
        """(results by custom_id, errors by custom_id) from the batch's output and error files."""
        results: dict[str, Any] = {}
        failures: dict[str, str] = {}
        for file_id, into_errors in ((record.output_file_id, False), (record.error_file_id, True)):
            if not file_id:
                continue
            for raw in self.client.files.content(file_id).text.splitlines():
                if not raw.strip():
                    continue
                item = json.loads(raw)
                response = item.get("response") or {}
                if item.get("error") or into_errors or response.get("status_code", 200) >= 400:
                    failures[item["custom_id"]] = stable_json(item.get("error") or response.get("body"))
                else:
                    results[item["custom_id"]] = response.get("body")
        return results, failures

    def _resume(self, job: _Job, results: dict[str, Any], failures: dict[str, str]) -> None:
        for key in job.keys:
            row = self.llm.call_row(self.llm.messages(**self.todo[key]))
            row["batch_id"] = job.record.batch_id
            if key not in results:
                row["error"] = f"batch item failed: {failures.get(key, 'no result returned')}"
                self.outcomes[key] = CallOutcome(None, [row], "llm_unavailable", row["error"])
                continue
            content, problem = self.llm.read_completion(row, results[key], batch=True)
            self.outcomes[key] = self.llm.resume(self.todo[key], (row, content, problem), self.accept)

    def _unavailable(self, keys: list[str], detail: str) -> None:
        for key in keys:
            row = self.llm.call_row(self.llm.messages(**self.todo[key]))
            row["error"] = detail
            self.outcomes[key] = CallOutcome(None, [row], "llm_unavailable", detail)
