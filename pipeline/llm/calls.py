"""One prompt, one JSON answer, one logged call: the small LLM helper of the stages that are not augment.

Transcript correction (clean) and keyframe caption summaries (pair) ask an OpenAI-compatible server for a
JSON object and must leave the same audit trail as the labeller: every call, failed or not, becomes an
`llm_calls` row (prompt version, model, input hash, raw answer, tokens, latency, cost). The stage
returns those rows with its unit, so the single writer stores them. JSON mode is `json_object`: every
server this project meets accepts it (llama.cpp refuses `json_schema`), and the answer is validated with
a pydantic model here anyway.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from pipeline.config import LlmConfig
from pipeline.hashing import stable_json
from pipeline.llm.prompts import load_prompt

Answer = TypeVar("Answer", bound=BaseModel)


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
    """Estimated USD from LlmConfig's prices per 1K tokens; None when the server reported no usage."""
    if prompt_tokens is None and completion_tokens is None:
        return None
    return ((prompt_tokens or 0) * cfg.price_per_1k_input
            + (completion_tokens or 0) * cfg.price_per_1k_output) / 1000.0  # fmt: skip


def openai_client(cfg: LlmConfig) -> Any:
    import openai

    return openai.OpenAI(base_url=cfg.base_url, api_key=os.environ.get(cfg.api_key_env) or "not-needed",
                         timeout=cfg.timeout_s, max_retries=cfg.max_retries)


class JsonPromptCaller:
    """Render prompts/<name>, send it, validate the JSON answer as `schema`; never raises for the server."""

    def __init__(self, cfg: LlmConfig, prompt_name: str, schema: type[Answer], client: Any | None = None) -> None:
        self.cfg, self.schema = cfg, schema
        self.prompt = load_prompt(prompt_name)
        self.client = client if client is not None else openai_client(cfg)

    def call(self, **values: object) -> tuple[Any | None, dict[str, Any]]:
        """(validated answer or None, the call's log row). Why it failed is in the row's `error`."""
        messages = [{"role": "user", "content": self.prompt.render(**values)}]
        row = call_row(self.prompt.key, self.cfg.model, messages, "json_object")
        start = time.perf_counter()
        try:
            resp = self.client.chat.completions.create(model=self.cfg.model, messages=messages, temperature=0,
                                                       response_format={"type": "json_object"})
        except Exception as exc:  # noqa: BLE001 - API, connection and timeout errors all end up in the log
            row["error"] = f"{type(exc).__name__}: {exc}"
            return None, row
        finally:
            row["latency_ms"] = (time.perf_counter() - start) * 1000.0
        usage = getattr(resp, "usage", None)
        row["prompt_tokens"] = getattr(usage, "prompt_tokens", None)
        row["completion_tokens"] = getattr(usage, "completion_tokens", None)
        row["cost_usd"] = cost_usd(self.cfg, row["prompt_tokens"], row["completion_tokens"])
        try:
            content = resp.choices[0].message.content
        except (AttributeError, IndexError) as exc:
            row["error"] = f"malformed chat.completion response ({type(exc).__name__}: {exc})"
            return None, row
        row["response"] = content
        try:
            answer = self.schema.model_validate_json(content or "")
        except ValidationError as exc:
            row["error"] = f"invalid answer: {exc.errors()[0]['msg'] if exc.errors() else exc}"[:500]
            return None, row
        row["parsed"] = answer.model_dump_json()
        return answer, row
