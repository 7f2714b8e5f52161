"""OpenAI Batch API mode of the shared caller: half the price, answers within the completion window.

All uncached inputs go into one JSONL file (one /v1/chat/completions request per line, `custom_id` =
the caller's key), which is uploaded (`files.create`, purpose "batch"), submitted (`batches.create`),
polled until it ends, and read back (`files.content` of the output and error files). Each answer then
goes through the same path as a live call (`JsonPromptCaller.resume`): envelope checks, validation,
the caller's `accept`, one corrective retry as a live call, a logged `llm_calls` row with tokens and
cost, and a cache row. A batch that fails, expires or times out leaves every item `llm_unavailable`
with the reason, so nothing is lost and a rerun asks again.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import openai

from pipeline.hashing import stable_json
from pipeline.llm.caller import Accept, CallOutcome, JsonPromptCaller, as_is

_FINAL = ("completed", "failed", "expired", "cancelled")


class BatchError(RuntimeError):
    """The batch as a whole did not complete; the message says why."""


def batch_lines(llm: JsonPromptCaller, inputs: Mapping[str, dict[str, object]]) -> list[dict[str, Any]]:
    """One Batch API request per input (its prompt values), keyed by the caller's id."""
    fmt = llm.response_format()
    return [{"custom_id": key, "method": "POST", "url": "/v1/chat/completions",
             "body": {"model": llm.cfg.model, "messages": llm.messages(**values), "response_format": fmt,
                      "temperature": 0}}
            for key, values in inputs.items()]  # fmt: skip


def submit_and_wait(llm: JsonPromptCaller, lines: list[dict[str, Any]],
                    sleep: Callable[[float], None] = time.sleep) -> tuple[dict[str, Any], dict[str, str]]:
    """Upload, create, poll, download: (results by custom_id, errors by custom_id). Raises BatchError."""
    client, cfg = llm.client, llm.cfg
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "llm_batch.jsonl"
        path.write_text("".join(stable_json(line) + "\n" for line in lines), encoding="utf-8")
        with path.open("rb") as fh:
            upload = client.files.create(file=fh, purpose="batch")
    batch = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                  completion_window="24h", metadata={"prompt": llm.prompt_key})
    deadline = time.monotonic() + cfg.batch_timeout_s
    while batch.status not in _FINAL:
        if time.monotonic() > deadline:
            client.batches.cancel(batch.id)
            raise BatchError(f"batch {batch.id} still {batch.status} after {cfg.batch_timeout_s:.0f} s; cancelled")
        sleep(cfg.batch_poll_s)
        batch = client.batches.retrieve(batch.id)
    if batch.status != "completed":
        errors = getattr(batch, "errors", None)
        raise BatchError(f"batch {batch.id} ended {batch.status}: {errors}")
    results: dict[str, Any] = {}
    failures: dict[str, str] = {}
    for file_id, into_errors in ((batch.output_file_id, False), (batch.error_file_id, True)):
        if not file_id:
            continue
        for raw in client.files.content(file_id).text.splitlines():
            if not raw.strip():
                continue
            item = json.loads(raw)
            response = item.get("response") or {}
            if item.get("error") or into_errors or response.get("status_code", 200) >= 400:
                failures[item["custom_id"]] = stable_json(item.get("error") or response.get("body"))
            else:
                results[item["custom_id"]] = response.get("body")
    return results, failures


def ask_batch(llm: JsonPromptCaller, inputs: Mapping[str, dict[str, object]], accept: Accept = as_is,
              cached: Mapping[str, str] | None = None,
              sleep: Callable[[float], None] = time.sleep) -> dict[str, CallOutcome]:
    """Outcomes for every key of `inputs`; `cached` maps cache keys (input hashes) to stored answers.
    Identical inputs are sent once; the other keys share the answer without logging a call again."""
    outcomes: dict[str, CallOutcome] = {}
    todo: dict[str, dict[str, object]] = {}
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
            first_of[cache_key], todo[key], twins[key] = key, values, []
    if todo:
        _run(llm, todo, accept, outcomes, sleep)
    for first, keys in twins.items():
        done = outcomes[first]
        for key in keys:
            outcomes[key] = CallOutcome(done.value, [], done.reason, done.detail, cached=done.value is not None)
    return outcomes


# OpenAI's limits on one batch: 50,000 requests and a 200 MB input file. An ontology prompt is ~25 KB, so
# the byte cap binds first (about 8,000 requests); larger runs go as several batches, one after another.
MAX_REQUESTS = 50_000
MAX_BYTES = 200 * 1024 * 1024


def chunks(lines: list[dict[str, Any]], max_requests: int = MAX_REQUESTS,
           max_bytes: int = MAX_BYTES) -> list[list[dict[str, Any]]]:
    """`lines` cut into batches that each stay within both limits (a line is its JSONL bytes + newline)."""
    out: list[list[dict[str, Any]]] = [[]]
    size = 0
    for line in lines:
        n = len(stable_json(line).encode()) + 1
        if out[-1] and (len(out[-1]) >= max_requests or size + n > max_bytes):
            out.append([])
            size = 0
        out[-1].append(line)
        size += n
    return [c for c in out if c]


def _run(llm: JsonPromptCaller, todo: dict[str, dict[str, object]], accept: Accept,
         outcomes: dict[str, CallOutcome], sleep: Callable[[float], None]) -> None:
    """Every todo input through as many batches as the limits need; each batch's outcome is its own."""
    keys, lines = list(todo), batch_lines(llm, todo)
    start = 0
    for chunk in chunks(lines):
        part = keys[start:start + len(chunk)]
        start += len(chunk)
        _run_one(llm, {k: todo[k] for k in part}, chunk, accept, outcomes, sleep)


def _run_one(llm: JsonPromptCaller, todo: dict[str, dict[str, object]], lines: list[dict[str, Any]],
             accept: Accept, outcomes: dict[str, CallOutcome], sleep: Callable[[float], None]) -> None:
    try:
        results, failures = submit_and_wait(llm, lines, sleep)
    except (BatchError, openai.APIError) as exc:
        detail = f"{type(exc).__name__}: {exc}"
        for key, line in zip(todo, lines, strict=True):
            row = llm.call_row(line["body"]["messages"])
            row["error"] = detail
            outcomes[key] = CallOutcome(None, [row], "llm_unavailable", detail)
        return
    for key, line in zip(todo, lines, strict=True):
        row = llm.call_row(line["body"]["messages"])
        if key not in results:
            row["error"] = f"batch item failed: {failures.get(key, 'no result returned')}"
            outcomes[key] = CallOutcome(None, [row], "llm_unavailable", row["error"])
            continue
        content, problem = llm.read_completion(row, results[key])
        outcomes[key] = llm.resume(todo[key], (row, content, problem), accept)
