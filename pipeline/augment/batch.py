"""The labeller in Batch API mode (`llm.batch`): pipeline/llm/batch.py with the labeller's label lists and
ontology resolution, outcomes read as labels. A v3 (shortlist) request carries its text's shortlist in the
prompt, but its response_format is the enum-free answer form (one schema per batch file): an answer that
names another ontology node is resolved like a v2 answer rather than refused."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from pipeline.augment.llm import LlmLabeller, LlmOutcome
from pipeline.llm import batch
from pipeline.llm.ledger import BatchLedger


def batch_lines(llm: LlmLabeller, texts: Mapping[str, str]) -> list[dict[str, Any]]:
    """One Batch API request per text, keyed by the caller's id."""
    return batch.batch_lines(llm.caller, {key: llm.values(text) for key, text in texts.items()})


def label_batch(llm: LlmLabeller, texts: Mapping[str, str], cached: Mapping[str, str] | None = None,
                sleep: Callable[[float], None] = time.sleep, ledger: BatchLedger | None = None) -> dict[str, LlmOutcome]:
    """Outcomes for every key of `texts`; `cached` maps cache keys (input hashes) to cached answers;
    `ledger` records the batches (the warehouse's, so a killed run resumes them)."""
    outcomes = batch.ask_batch(llm.caller, {key: llm.values(text) for key, text in texts.items()},
                               llm._labels, cached, sleep, ledger)
    return {key: LlmOutcome.of(out) for key, out in outcomes.items()}
