"""The audit trail and the client of every LLM call (pipeline/llm/caller.py makes the calls).

Every call, failed or not, becomes an `llm_calls` row (prompt version, model, input hash, raw answer,
tokens, latency, cost); a stage returns those rows with its unit, so the single writer stores them.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import UTC, datetime
from typing import Any

from pipeline.config import LlmConfig
from pipeline.hashing import stable_json


def call_row(prompt_key: str, model: str, messages: list[dict[str, str]], json_mode: str) -> dict[str, Any]:
    """A fresh `llm_calls` row for one request of `messages`."""
    return {
        "call_id": uuid.uuid4().hex, "prompt": prompt_key, "model": model,
        "input_hash": hashlib.sha256(stable_json(messages).encode()).hexdigest(),
        "request": stable_json({"messages": messages, "response_format": json_mode}),
        "response": None, "parsed": None, "error": None, "prompt_tokens": None,
        "completion_tokens": None, "cached_tokens": None, "latency_ms": None, "cost_usd": None, "batch_id": None,
        "created_at": datetime.now(UTC).replace(tzinfo=None),
    }  # fmt: skip


def cost_usd(cfg: LlmConfig, prompt_tokens: int | None, completion_tokens: int | None,
             cached_tokens: int | None = None, batch: bool = False) -> float | None:
    """USD from the price table (`llm.prices`) for the profile's model: cached prompt tokens at the cached
    rate, a Batch API call at the batch discount. None when the server reported no usage or the model has
    no price (a cost log of $0 for a paid model would be wrong, not cheap)."""
    price = cfg.price()
    if price is None or (prompt_tokens is None and completion_tokens is None):
        return None
    return price.cost(prompt_tokens, completion_tokens, cached_tokens, batch)


def openai_client(cfg: LlmConfig) -> Any:
    import openai

    return openai.OpenAI(base_url=cfg.base_url, api_key=os.environ.get(cfg.api_key_env) or "not-needed",
                         timeout=cfg.timeout_s, max_retries=cfg.max_retries)


# Exceptions (by class name, as `llm_calls.error` starts with it) that mean the service, not the request,
# failed: connection and timeout errors, 5xx and 429 after the client's retries, a refused API key, a Batch
# API job that failed or expired. A 400 (a prompt too long for the model) is the item's own problem.
_OUTAGES = ("APIConnectionError", "APITimeoutError", "InternalServerError", "RateLimitError",
            "AuthenticationError", "PermissionDeniedError", "ConnectionError", "ConnectionRefusedError",
            "TimeoutError", "BatchError", "batch item failed")


def outage_note(cfg: LlmConfig, error: str | None) -> str:
    """What a unit left pending by an outage records (`UnitResult.unavailable`): the server and its error."""
    return f"LLM server {cfg.base_url}: {error}"[:500]


def infrastructure_failure(error: str | None) -> bool:
    """Whether a call's logged error is an outage of the service rather than a problem of the request."""
    return bool(error) and error.split(":", 1)[0].strip() in _OUTAGES  # type: ignore[union-attr]
