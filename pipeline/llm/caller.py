"""The one LLM caller every stage's LLM options use: a prompt, a validated JSON answer, a logged call.

A model can answer with broken JSON, with values the caller cannot use, or not at all. So every call goes
through the same path: the prompt (prompts/<name>.v<N>.md) is rendered, sent in the profile's JSON mode
(`json_schema`, switched to `json_object` for good when a server such as llama.cpp rejects it), the raw
body is logged before parsing (an `llm_calls` row with tokens, latency and cost, failed or not), the
answer is validated against a pydantic schema and then by the caller's own `accept` (ontology
resolution, grounding), and an unusable answer gets one corrective retry that quotes the error. Calls in
flight are bounded (`concurrency`) and paced (`requests_per_minute`) across threads; transport retries
(429, 5xx, timeouts, Retry-After) are the openai client's. Temperature is 0: the same input should
get the same answer, which is what the cache assumes. Answers that were accepted are cached by
(prompt version, model, input hash): the caller passes a stored answer in, gets `cache_rows` back for
`llm_cache`, and identical inputs within one process are answered from memory. pipeline/llm/batch.py
sends the same requests through the Batch API and resumes them here.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import openai
from pydantic import BaseModel, ValidationError

from pipeline.config import LlmConfig
from pipeline.errors import ConfigError
from pipeline.hashing import stable_json
from pipeline.llm.calls import call_row, cost_usd, infrastructure_failure, openai_client
from pipeline.llm.prompts import PromptError, load_prompt

_RETRY_NOTE = (
    "Your previous answer could not be used: {error}\n"
    "Answer again with only the JSON object, using label names exactly as given in the allowed lists."
)
Accept = Callable[[Any], Any]  # validated answer -> the caller's value; raises InvalidAnswer
First = tuple[dict[str, Any], str | None, str | None]  # (call row, raw content, envelope problem)


class InvalidAnswer(Exception):
    """The answer cannot be used; its message is sent back to the model verbatim on the retry."""


@dataclass
class CallOutcome:
    """`value` on success, else a reject reason (`llm_invalid_output` | `llm_unavailable`) and detail.

    `calls` holds one `llm_calls` row per API call made, whatever the outcome."""

    value: Any | None
    calls: list[dict[str, Any]]
    reason: str | None = None
    detail: str = ""
    cache_rows: list[dict[str, Any]] = field(default_factory=list)  # new llm_cache rows
    cached: bool = False  # answered from the cache, no call made

    @property
    def outage(self) -> bool:
        """The server could not be used at all (down, unreachable, overloaded, refusing the key): not the
        item's fault, so the item stays pending instead of becoming a reject."""
        return self.reason == "llm_unavailable" and infrastructure_failure(self.detail)


class RateLimiter:
    """At most `per_minute` starts per minute, evenly spaced, shared by all threads (0: unlimited)."""

    def __init__(self, per_minute: float) -> None:
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


def as_is(answer: Any) -> Any:
    return answer


class JsonPromptCaller:
    """Render prompts/<name>, send it, validate the answer as `schema` and by `accept`; never raises for
    the server or the answer. Thread-safe (the JSON-mode switch and the memo are idempotent).

    `fixed`: placeholder values rendered into every request (an ontology's label lists); `json_mode`
    overrides the profile's (the small options ask for `json_object`, which every server accepts)."""

    def __init__(self, cfg: LlmConfig, prompt_name: str, schema: type[BaseModel], client: Any | None = None,
                 *, fixed: dict[str, str] | None = None, json_mode: str | None = None) -> None:
        self.cfg, self.schema, self.fixed = cfg, schema, dict(fixed or {})
        try:
            self.prompt = load_prompt(prompt_name)
        except PromptError as exc:
            raise ConfigError(str(exc)) from exc
        self.prompt_key: str = self.prompt.key
        self.json_mode: str = json_mode or cfg.json_mode
        # json_object with the schema as a hint (llama.cpp constrains decoding with it) once a server has
        # refused json_schema or the profile asks for it; a plain json_object where a caller chose it
        self._json_object: dict[str, Any] = (
            {"type": "json_object"} if json_mode else {"type": "json_object", "schema": schema.model_json_schema()})
        self._slots = threading.BoundedSemaphore(cfg.concurrency)
        self._pace = RateLimiter(cfg.requests_per_minute)
        self.memo: dict[str, str] = {}  # input hash -> accepted answer JSON, this process
        self.client: Any = client if client is not None else openai_client(cfg)

    def messages(self, **values: object) -> list[dict[str, str]]:
        return [{"role": "user", "content": self.prompt.render(**self.fixed, **values)}]

    def cache_key(self, **values: object) -> str:
        """The cache's input hash: the rendered first-turn messages (prompt text, fixed lists, input)."""
        return hashlib.sha256(stable_json(self.messages(**values)).encode()).hexdigest()

    def from_cache(self, content: str, accept: Accept = as_is) -> Any | None:
        """The value of a stored answer, or None if it no longer passes (the ontology changed)."""
        try:
            return accept(self.parse(content))
        except InvalidAnswer:
            return None

    def ask(self, values: dict[str, object], accept: Accept = as_is, cached: str | None = None,
            retry: bool = True) -> CallOutcome:
        """Ask; on an unusable answer ask once more (`retry`), quoting the error. `cached`: a stored answer
        for this input's cache_key, used instead of a call while `llm.cache` is on."""
        messages = self.messages(**values)
        key = hashlib.sha256(stable_json(messages).encode()).hexdigest()
        if self.cfg.cache and (content := cached or self.memo.get(key)):
            if (value := self.from_cache(content, accept)) is not None:
                return CallOutcome(value, [], cached=True)
        return self._attempts(messages, key, accept, retry=retry)

    def resume(self, values: dict[str, object], first: First, accept: Accept = as_is) -> CallOutcome:
        """Continue from a first answer obtained elsewhere (a Batch API result, see `read_completion`):
        validate it and, if unusable, make the one corrective retry as a live call."""
        messages = self.messages(**values)
        key = hashlib.sha256(stable_json(messages).encode()).hexdigest()
        return self._attempts(messages, key, accept, first=first)

    def call(self, **values: object) -> tuple[Any | None, dict[str, Any]]:
        """One attempt, no cache: (validated answer or None, the call's log row; why in its `error`)."""
        out = self._attempts(self.messages(**values), "", as_is, retry=False, remember=False)
        return out.value, out.calls[-1]

    def _attempts(self, messages: list[dict[str, str]], key: str, accept: Accept, first: First | None = None,
                  retry: bool = True, remember: bool = True) -> CallOutcome:
        calls: list[dict[str, Any]] = []
        error = ""
        for attempt in range(2 if retry else 1):
            row, content, problem = first if first is not None and attempt == 0 else self._call(messages)
            calls.append(row)
            if row["error"] is not None:  # the API failed after the client's own retries
                return CallOutcome(None, calls, "llm_unavailable", row["error"])
            try:
                if problem:
                    raise InvalidAnswer(problem)
                answer = self.parse(content)
                row["parsed"] = answer.model_dump_json()
                value = accept(answer)
            except InvalidAnswer as exc:
                error = row["error"] = str(exc)[:500]
            else:
                if not remember:
                    return CallOutcome(value, calls)
                self.memo[key] = row["parsed"]
                cache_row = {"prompt": self.prompt_key, "model": self.cfg.model, "input_hash": key,
                             "response": row["parsed"], "call_id": row["call_id"], "created_at": row["created_at"]}
                return CallOutcome(value, calls, cache_rows=[cache_row])
            if content:
                messages = [*messages, {"role": "assistant", "content": content}]
            messages = [*messages, {"role": "user", "content": _RETRY_NOTE.format(error=error)}]
        return CallOutcome(None, calls, "llm_invalid_output", error)

    def _call(self, messages: list[dict[str, str]]) -> First:
        """One API call (the client may retry it on the wire): its log row, raw content and any problem
        with the envelope. The raw body is read before parsing, so a malformed answer is still logged
        verbatim (the client's own `parse()` would raise and lose it)."""
        row = self.call_row(messages)
        with self._slots:
            self._pace.wait()
            start = time.perf_counter()
            try:
                raw = self._send(messages)
            except Exception as exc:  # noqa: BLE001 - API status, connection, timeout: all end up in the log
                row["error"] = f"{type(exc).__name__}: {exc}"
                return row, None, None
            finally:
                row["latency_ms"] = (time.perf_counter() - start) * 1000.0
                row["request"] = stable_json({"messages": messages, "response_format": self.json_mode})
        try:
            body = raw.http_response.json()
        except ValueError as exc:
            row["response"] = raw.http_response.text
            return row, None, f"malformed chat.completion response ({type(exc).__name__}: {exc})"
        return (row, *self.read_completion(row, body))

    def call_row(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        """A fresh `llm_calls` row for one request of `messages`."""
        return call_row(self.prompt_key, self.cfg.model, messages, self.json_mode)

    def read_completion(self, row: dict[str, Any], body: Any, batch: bool = False) -> tuple[str | None, str | None]:
        """Fill `row` from a chat.completion body (`batch`: a Batch API result, priced at the batch
        discount); return its content and any problem with the envelope."""
        try:
            choice = body["choices"][0]
            content = choice["message"].get("content")
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            row["response"] = stable_json(body) if isinstance(body, dict | list) else str(body)
            return None, f"malformed chat.completion response ({type(exc).__name__}: {exc})"
        usage = body.get("usage") or {}
        details = usage.get("prompt_tokens_details") or {}
        row.update(prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"),
                   cached_tokens=details.get("cached_tokens") if isinstance(details, dict) else None)
        row["cost_usd"] = cost_usd(self.cfg, row["prompt_tokens"], row["completion_tokens"], row["cached_tokens"],
                                   batch)
        row["response"] = content
        if choice["message"].get("refusal"):
            return content, f"the model refused: {choice['message']['refusal']}"
        if choice.get("finish_reason") == "length":
            return content, "the answer was cut off at the token limit"
        return content, None

    def response_format(self) -> dict[str, Any]:
        """The response_format body for the current JSON mode (for requests built by hand: Batch API)."""
        if self.json_mode == "json_object":
            return self._json_object
        schema = {**self.schema.model_json_schema(), "additionalProperties": False}
        return {"type": "json_schema", "json_schema": {"name": self.schema.__name__, "strict": True,
                                                        "schema": schema}}

    def _send(self, messages: list[dict[str, str]]) -> Any:
        """One request in the current JSON mode; an error status that blames response_format/json_schema
        switches this caller to json_object for good and resends once. Servers differ in the status:
        OpenAI-style 400, but llama-cpp-python 0.3.36 answers 500 with the pydantic validation error."""
        api = self.client.chat.completions.with_raw_response
        if self.json_mode == "json_schema":
            try:
                return api.parse(model=self.cfg.model, messages=messages, response_format=self.schema,
                                 temperature=0)
            except openai.APIStatusError as exc:
                if not any(word in str(exc) for word in ("response_format", "json_schema")):
                    raise
                self.json_mode = "json_object"
        return api.create(model=self.cfg.model, messages=messages, response_format=self._json_object,
                          temperature=0)

    def parse(self, content: str | None) -> Any:
        if not content:
            raise InvalidAnswer("the answer was empty")
        try:
            return self.schema.model_validate_json(content)
        except ValidationError as exc:
            errors = [f"{'.'.join(map(str, e['loc'])) or 'json'}: {e['msg']}" for e in exc.errors()]
            raise InvalidAnswer(f"not a JSON object of the required form ({'; '.join(errors)})") from exc
