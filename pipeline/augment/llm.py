"""LLM labelling of caption text against the ontology (issue #6), via any OpenAI-compatible server.

The lexical matcher is the free baseline; a model reads hedging and context better but can invent
labels, answer with broken JSON, or be down. So the model is asked for one small structured
annotation, every label in it must resolve to the ontology (otherwise one corrective retry that
states the exact error), and the result fills the same `Labels` contract as the lexical matcher, so
the augment table and the export do not depend on the method. Every HTTP call comes back as a row
for `llm_calls` (append-only) so cost, latency and failures can be audited in SQL.
Transport retries (429, 5xx, timeouts, with backoff and Retry-After) are left to the openai client;
the labeller bounds calls in flight (`concurrency`) and paces them (`requests_per_minute`) across
threads. Answers that resolved are cached by (prompt version, model, input hash): the caller passes a
cached answer in, gets `cache_rows` back for `llm_cache`, and identical texts within one
process are answered from memory. A server that rejects json_schema (llama.cpp) is switched to
json_object once, for the labeller's lifetime.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import openai
from pydantic import BaseModel, ValidationError

from ontology import VISUAL_CATEGORIES, Ontology, Term
from pipeline.config import LlmConfig
from pipeline.errors import ConfigError
from pipeline.hashing import stable_json
from pipeline.llm.calls import call_row, cost_usd
from pipeline.llm.prompts import PromptError, load_prompt
from pipeline.vocab import lexical
from pipeline.vocab.lexical import Labels, term_key

_ABSENT = frozenset({"", "null", "none", "unknown", "n/a", "na", "not stated", "not specified"})
_RETRY_NOTE = (
    "Your previous answer could not be used: {error}\n"
    "Answer again with only the JSON object, using label names exactly as given in the allowed lists."
)


class LlmAnnotation(BaseModel):
    """The structured output asked of the model.

    No field has a default: OpenAI's strict json_schema mode requires every property to be required.
    """

    disease: str | None  # one name from the condition list, or null
    concepts: list[str]  # names from the visual concept list
    body_location: list[str]
    symptoms: list[str]
    age: str | None
    gender: str | None
    skin_tone: str | None


@dataclass
class LlmOutcome:
    """Labels on success, else a reject reason (`llm_invalid_output` | `llm_unavailable`) and detail.

    `calls` holds one `llm_calls` row per API call made, whatever the outcome.
    """

    labels: Labels | None
    calls: list[dict[str, Any]]
    reason: str | None = None
    detail: str = ""
    cache_rows: list[dict[str, Any]] = field(default_factory=list)  # new llm_cache rows
    cached: bool = False  # answered from the cache, no call made


class _InvalidOutput(Exception):
    """The answer cannot be used; its message is sent back to the model verbatim on the retry."""


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def _free(value: str | None) -> str:
    """A free-text field, or "" when the model wrote a placeholder for "not stated"."""
    value = " ".join((value or "").split()).strip(" ,;:.")  # small models trail list punctuation ("34,")
    return "" if value.casefold() in _ABSENT else value


class _Index:
    """Surface form -> node ids for one label field.

    Lookup order: canonical names, then synonyms/abbreviations, first case-folded exactly, then
    loosely normalised as the lexical matcher does (plurals, hyphens, British spelling). A name wins
    over another node's synonym, so only true collisions ("PG") are reported as ambiguous.
    """

    def __init__(self, terms: Iterable[Term]) -> None:
        self.layers: list[dict[str, set[str]]] = [{}, {}, {}, {}]
        for term in terms:
            base = 0 if term.kind == "name" else 1
            for offset, key in ((0, _fold(term.surface)), (2, " ".join(term_key(term.surface)))):
                self.layers[base + offset].setdefault(key, set()).add(term.node_id)

    def resolve(self, label: str) -> list[str]:
        keys = (_fold(label), " ".join(term_key(label)))
        hits = (layer.get(keys[i // 2]) for i, layer in enumerate(self.layers))
        return sorted(next((ids for ids in hits if ids), set()))


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


class LlmLabeller:
    """Labels one text per call; thread-safe (the JSON-mode switch and the memo are idempotent)."""

    def __init__(
        self, cfg: LlmConfig, ontology: Ontology, prompt_name: str = "ontology_labels", client: Any | None = None
    ) -> None:  # fmt: skip
        self.cfg, self.ontology = cfg, ontology
        try:
            self.prompt = load_prompt(prompt_name)
        except PromptError as exc:
            raise ConfigError(str(exc)) from exc
        self.prompt_key: str = self.prompt.key
        # Every list a prompt may ask for; render() ignores the ones a template does not use.
        self._lists = {
            "condition_list": "\n".join(ontology.condition_names()),
            "concept_list": "\n".join(f"{c.name}: {c.category}" for c in ontology.concepts_in()),
            "body_site_list": "\n".join(ontology.concept_names("body_site")),
            "symptom_list": "\n".join(ontology.concept_names("symptom")),
        }
        if "text" not in self.prompt.placeholders or self.prompt.placeholders - {"text", *self._lists}:
            raise ConfigError(
                f"prompt {self.prompt_key} must use {{text}} and only {sorted(['text', *self._lists])}; "
                f"it has {sorted(self.prompt.placeholders)}"
            )
        category = {c.id: c.category for c in ontology.concepts.values()}
        concept_terms = list(ontology.terms("concepts"))
        self._indexes = {
            "disease": _Index(ontology.terms("conditions")),
            "concepts": _Index(t for t in concept_terms if category[t.node_id] in VISUAL_CATEGORIES),
            "body_location": _Index(t for t in concept_terms if category[t.node_id] == "body_site"),
            "symptoms": _Index(t for t in concept_terms if category[t.node_id] == "symptom"),
        }
        self._json_object = {"type": "json_object", "schema": LlmAnnotation.model_json_schema()}
        self.json_mode: str = cfg.json_mode  # becomes json_object if the server rejects json_schema
        self._slots = threading.BoundedSemaphore(cfg.concurrency)
        self._pace = RateLimiter(cfg.requests_per_minute)
        self.memo: dict[str, str] = {}  # input hash -> resolved annotation JSON, this process
        self.client: Any = client or openai.OpenAI(
            base_url=cfg.base_url,
            api_key=os.environ.get(cfg.api_key_env) or "not-needed",  # local servers want no key
            timeout=cfg.timeout_s,
            max_retries=cfg.max_retries,
        )

    def messages(self, text: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": self.prompt.render(text=text, **self._lists)}]

    def cache_key(self, text: str) -> str:
        """The cache's input hash: the rendered first-turn messages (prompt text, label lists, input)."""
        return hashlib.sha256(stable_json(self.messages(text)).encode()).hexdigest()

    def from_cache(self, content: str) -> Labels | None:
        """Labels from a cached answer, or None if it no longer resolves (the ontology changed)."""
        try:
            return self._labels(self._parse(content))
        except _InvalidOutput:
            return None

    def label(self, text: str, cached: str | None = None) -> LlmOutcome:
        """Ask once; on an unusable answer ask once more, quoting the error. Never raises for the item.

        `cached`: an answer from `llm_cache` for this text's `cache_key`; used instead of a call.
        """
        messages = self.messages(text)
        key = hashlib.sha256(stable_json(messages).encode()).hexdigest()
        if self.cfg.cache and (content := cached or self.memo.get(key)):
            if (labels := self.from_cache(content)) is not None:
                return LlmOutcome(labels, [], cached=True)
        return self._attempts(messages, key)

    def resume(self, text: str, first: tuple[dict[str, Any], str | None, str | None]) -> LlmOutcome:
        """Continue from a first answer obtained elsewhere (a Batch API result, see `read_completion`):
        validate it and, if unusable, make the one corrective retry as a normal call."""
        messages = self.messages(text)
        return self._attempts(messages, hashlib.sha256(stable_json(messages).encode()).hexdigest(), first)

    def _attempts(self, messages: list[dict[str, str]], key: str,
                  first: tuple[dict[str, Any], str | None, str | None] | None = None) -> LlmOutcome:
        calls: list[dict[str, Any]] = []
        error = ""
        for attempt in range(2):
            row, content, problem = first if first is not None and attempt == 0 else self._call(messages)
            calls.append(row)
            if row["error"] is not None:  # the API failed after the client's own retries
                return LlmOutcome(None, calls, "llm_unavailable", row["error"])
            try:
                if problem:
                    raise _InvalidOutput(problem)
                annotation = self._parse(content)
                row["parsed"] = annotation.model_dump_json()
                labels = self._labels(annotation)
                self.memo[key] = row["parsed"]
                cache_row = {"prompt": self.prompt_key, "model": self.cfg.model, "input_hash": key,
                             "response": row["parsed"], "call_id": row["call_id"], "created_at": row["created_at"]}
                return LlmOutcome(labels, calls, cache_rows=[cache_row])
            except _InvalidOutput as exc:
                error = row["error"] = str(exc)
            if content:
                messages = [*messages, {"role": "assistant", "content": content}]
            messages = [*messages, {"role": "user", "content": _RETRY_NOTE.format(error=error)}]
        return LlmOutcome(None, calls, "llm_invalid_output", error)

    def _call(self, messages: list[dict[str, str]]) -> tuple[dict[str, Any], str | None, str | None]:
        """One API call (the client may retry it on the wire): its log row, raw content and any problem
        with the envelope. The raw body is read before parsing, so a malformed answer is still logged
        verbatim (the client's own `parse()` would raise and lose it).
        """
        row = self.call_row(messages)
        with self._slots:
            self._pace.wait()
            start = time.perf_counter()
            try:
                raw = self._send(messages)
            except openai.APIError as exc:  # status errors after retries, connection errors, timeouts
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

    def read_completion(self, row: dict[str, Any], body: Any) -> tuple[str | None, str | None]:
        """Fill `row` from a chat.completion body; return its content and any problem with the envelope."""
        try:
            choice = body["choices"][0]
            content = choice["message"].get("content")
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            row["response"] = stable_json(body) if isinstance(body, dict | list) else str(body)
            return None, f"malformed chat.completion response ({type(exc).__name__}: {exc})"
        usage = body.get("usage") or {}
        row.update(prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"))
        row["cost_usd"] = self.cost(row["prompt_tokens"], row["completion_tokens"])
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
        schema = {**LlmAnnotation.model_json_schema(), "additionalProperties": False}
        return {"type": "json_schema", "json_schema": {"name": "LlmAnnotation", "strict": True, "schema": schema}}

    def _send(self, messages: list[dict[str, str]]) -> Any:
        """One request in the current JSON mode; an error status that blames response_format/json_schema
        switches this labeller to json_object for good and resends once. Servers differ in the status:
        OpenAI-style 400, but llama-cpp-python 0.3.36 answers 500 with the pydantic validation error."""
        api = self.client.chat.completions.with_raw_response
        if self.json_mode == "json_schema":
            try:
                return api.parse(model=self.cfg.model, messages=messages, response_format=LlmAnnotation)
            except openai.APIStatusError as exc:
                if not any(word in str(exc) for word in ("response_format", "json_schema")):
                    raise
                self.json_mode = "json_object"
        return api.create(model=self.cfg.model, messages=messages, response_format=self._json_object)

    def cost(self, prompt_tokens: int | None, completion_tokens: int | None) -> float | None:
        """Estimated USD from LlmConfig's prices per 1K tokens; None when the server reported no usage."""
        return cost_usd(self.cfg, prompt_tokens, completion_tokens)

    @staticmethod
    def _parse(content: str | None) -> LlmAnnotation:
        if not content:
            raise _InvalidOutput("the answer was empty")
        try:
            return LlmAnnotation.model_validate_json(content)
        except ValidationError as exc:
            errors = [f"{'.'.join(map(str, e['loc'])) or 'json'}: {e['msg']}" for e in exc.errors()]
            raise _InvalidOutput(f"not a JSON object of the required form ({'; '.join(errors)})") from exc

    def _resolve(self, annotation: LlmAnnotation) -> dict[str, list[str]]:
        """Node ids per field, in answer order without repeats; raises listing every bad label."""
        values: dict[str, list[str]] = {
            "disease": [disease] if (disease := _free(annotation.disease)) else [],
            "concepts": annotation.concepts, "body_location": annotation.body_location,
            "symptoms": annotation.symptoms,
        }  # fmt: skip
        ids: dict[str, list[str]] = {}
        unknown: list[str] = []
        ambiguous: list[str] = []
        for name, labels in values.items():
            found: dict[str, None] = {}
            for label in labels:
                hits = self._indexes[name].resolve(label)
                if len(hits) == 1:
                    found[hits[0]] = None
                elif hits:
                    table: Any = self.ontology.conditions if name == "disease" else self.ontology.concepts
                    owners = " or ".join(repr(table[h].name) for h in hits)
                    ambiguous.append(f"{name} {label!r} (could be {owners}; give the full name)")
                else:
                    unknown.append(f"{name} {label!r}")
            ids[name] = list(found)
        problems = [f"labels not in the allowed lists: {', '.join(unknown)}"] if unknown else []
        problems += [f"ambiguous labels: {', '.join(ambiguous)}"] if ambiguous else []
        if problems:
            raise _InvalidOutput("; ".join(problems))
        return ids

    def _labels(self, annotation: LlmAnnotation) -> Labels:
        """The same fields, sentinels and rules as `LexicalMatcher.label`, without mentions."""
        ids = self._resolve(annotation)
        labels = Labels()
        if ids["disease"]:
            best = ids["disease"][0]
            labels.condition_ids = [best]
            labels.disease_label = self.ontology.conditions[best].name
            labels.hierarchical_disease_label = self.ontology.hierarchical_label(best)
        concepts = self.ontology.concepts
        visual = [i for i in ids["concepts"] if concepts[i].category != "artefact"]  # as the lexical matcher

        def names(node_ids: list[str], empty: str) -> str:
            return ", ".join(concepts[i].name for i in node_ids) or empty

        labels.concept_ids = visual
        labels.skin_concept = names(visual, lexical.NO_CONCEPTS)
        labels.body_location = names(ids["body_location"], lexical.NO_BODY_LOCATION)
        labels.symptoms = names(ids["symptoms"], lexical.NO_SYMPTOMS)
        labels.age = _free(annotation.age) or lexical.NO_AGE
        labels.gender = _free(annotation.gender).lower() or lexical.NO_GENDER
        labels.skin_tone = _free(annotation.skin_tone) or lexical.NO_SKIN_TONE
        return labels
