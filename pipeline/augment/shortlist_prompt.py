"""The v3 labeller prompt's per-text parts: the shortlist rendered within the token budget, and its schema.

A prompt with the `*_options` placeholders is sent with one text's shortlist instead of the ontology. The
prompt must stay under `augment.shortlist.max_prompt_tokens` whatever the text: the fuzzy candidates go
first, then every list is capped shorter, and only then is the text's tail cut (a Derm1M caption is rarely
that long; a forum post can be). The answer schema of that request is built from the same shortlist, its
enums the candidates plus the sentinels ("no definitive diagnosis", "none"), so constrained decoding
cannot leave the list and an unconstrained server's stray label fails validation and is asked again.
Token counts are estimated offline (no tokenizer file is needed): ~3.2 characters a token plus the chat
framing, which over-counts the server's own usage on the dev rows (bench/eval_llm.py prints both).
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, create_model

from pipeline.augment.shortlist import Shortlist, Shortlister
from pipeline.config import LlmConfig
from pipeline.llm.caller import JsonPromptCaller
from pipeline.llm.prompts import Prompt
from pipeline.vocab.lexical import NO_DIAGNOSIS

SHORTLIST_FIELDS = frozenset({"condition_options", "concept_options", "body_site_options", "symptom_options"})
NONE_OPTION = "none"  # the one enum value of an empty list field; dropped from the answer
CHARS_PER_TOKEN = 3.2  # BPE tokenizers (Qwen2.5, o200k) on clinical English: 3.5-4.2, so this over-counts
CHAT_OVERHEAD = 30  # role markers and a default system turn (Qwen2.5's template adds ~20 tokens)
_CAPS = (8, 5, 3, 1)  # list lengths tried, in order, when the fuzzy-free shortlist is still too long
_CUT_MARK = " [...]"

Gender = Literal["male", "female"]
SkinTone = Literal["I", "II", "III", "IV", "V", "VI"]


class LlmChoice(BaseModel):
    """The v3 answer without enums: the form of a cached or Batch API answer before its shortlist is known."""

    disease: str
    concepts: list[str]
    body_location: list[str]
    symptoms: list[str]
    age: str | None
    gender: str | None
    skin_tone: str | None


def estimate_tokens(text: str) -> int:
    return int(len(text) / CHARS_PER_TOKEN) + 1


def _options(names: tuple[str, ...]) -> str:
    return "\n".join(names) if names else NONE_OPTION


class ShortlistPrompt:
    """Fits one text and its shortlist into the budget and builds the request's answer schema."""

    base_schema = LlmChoice

    def __init__(self, shortlister: Shortlister, cfg: LlmConfig, prompt: Prompt) -> None:
        self.shortlister, self.cfg, self.prompt = shortlister, cfg, prompt
        self.budget = shortlister.cfg.max_prompt_tokens
        self.fit = lru_cache(maxsize=4096)(self._fit)  # cache_key, then label: the same text twice

    def values(self, text: str) -> dict[str, object]:
        return self.fit(text)[0]

    def tokens(self, values: dict[str, object]) -> int:
        return estimate_tokens(self.prompt.render(**values)) + CHAT_OVERHEAD

    @staticmethod
    def _values(shortlist: Shortlist, text: str) -> dict[str, object]:
        return {"text": text, "condition_options": _options((*shortlist.conditions, NO_DIAGNOSIS)),
                "concept_options": _options(shortlist.concepts), "body_site_options": _options(shortlist.body_sites),
                "symptom_options": _options(shortlist.symptoms)}  # fmt: skip

    def _fit(self, text: str) -> tuple[dict[str, object], Shortlist]:
        full = self.shortlister.shortlist(text)
        lean = full.without_fuzzy()
        for shortlist in (full, lean, *(lean.capped(n) for n in _CAPS)):
            values = self._values(shortlist, text)
            if self.tokens(values) <= self.budget:
                return values, shortlist
        words = text.split()  # the lists are as short as they go: cut the text's tail
        while words:
            words = words[: int(len(words) * 0.85)]
            values = self._values(shortlist, " ".join(words) + _CUT_MARK)
            if self.tokens(values) <= self.budget:
                break
        return values, shortlist

    @staticmethod
    @lru_cache(maxsize=4096)
    def schema(shortlist: Shortlist) -> type[BaseModel]:
        """LlmChoice with the shortlist as enums (`create_model`; cached, the same lists recur)."""

        def enum(names: tuple[str, ...]) -> Any:
            return Literal[names or (NONE_OPTION,)]  # type: ignore[valid-type]

        fields: dict[str, Any] = {
            "disease": (enum((*shortlist.conditions, NO_DIAGNOSIS)), ...),
            "concepts": (list[enum(shortlist.concepts)], ...),  # type: ignore[misc]
            "body_location": (list[enum(shortlist.body_sites)], ...),  # type: ignore[misc]
            "symptoms": (list[enum(shortlist.symptoms)], ...),  # type: ignore[misc]
            "age": (str | None, ...), "gender": (Gender | None, ...), "skin_tone": (SkinTone | None, ...),
        }  # fmt: skip
        return create_model("LlmChoice", **fields)  # type: ignore[no-any-return, call-overload]

    def narrowed(self, caller: JsonPromptCaller, shortlist: Shortlist) -> JsonPromptCaller:
        """A view of the shared caller (same client, slots, pacing, memo, log rows) whose answer schema is
        this shortlist's; the json_schema mode sends it as the strict schema, json_object as the hint
        llama.cpp turns into a grammar."""
        schema = self.schema(shortlist)
        view = copy.copy(caller)
        view.schema = schema
        if isinstance(getattr(caller, "_json_object", None), dict) and "schema" in caller._json_object:
            view._json_object = {"type": "json_object", "schema": schema.model_json_schema()}
        return view

    @staticmethod
    def annotation(answer: BaseModel) -> dict[str, Any]:
        """An LlmAnnotation's fields from a choice: the sentinels become null / empty lists."""
        data = answer.model_dump()
        disease = data.get("disease")
        data["disease"] = None if not disease or disease.strip().lower() == NO_DIAGNOSIS else disease
        for key in ("concepts", "body_location", "symptoms"):
            data[key] = [v for v in data.get(key) or [] if v.strip().lower() != NONE_OPTION]
        return data
