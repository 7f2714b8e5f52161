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
        "completion_tokens": None, "latency_ms": None, "cost_usd": None,
        "created_at": datetime.now(UTC).replace(tzinfo=None),
    }  # fmt: skip


def cost_usd(cfg: LlmConfig, prompt_tokens: int | None, completion_tokens: int | None) -> float | None:
    """Estimated USD from LlmConfig's prices per 1K tokens; None when the server reported no usage or the
    profile states no price (a cost log of $0 for a paid model would be wrong, not cheap)."""
    if prompt_tokens is None and completion_tokens is None:
        return None
    if cfg.price_per_1k_input is None and cfg.price_per_1k_output is None:
        return None
    return ((prompt_tokens or 0) * (cfg.price_per_1k_input or 0.0)
            + (completion_tokens or 0) * (cfg.price_per_1k_output or 0.0)) / 1000.0  # fmt: skip


def openai_client(cfg: LlmConfig) -> Any:
    import openai

    return openai.OpenAI(base_url=cfg.base_url, api_key=os.environ.get(cfg.api_key_env) or "not-needed",
                         timeout=cfg.timeout_s, max_retries=cfg.max_retries)
