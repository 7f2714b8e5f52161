"""LLM-written refined captions (Derm1M's "refined" kind), grounded in the source text, with the extractive fallback.

Derm1M's refined captions were rewritten by a model from noisy source text; a rewrite is worth having only
if it adds no facts. The prompt (prompts/refine_caption, v2) forbids anything not in the source, and the
answer is checked before it is used (the caller's `accept` step, so a failed check gets the one corrective
retry that quotes it): it may not name a condition that neither the source text nor the chosen labels name
(the lexical matcher reads both sides; a parent of a named condition is a less specific wording, not a new
fact), may not state a number the source does not contain (ages, durations, counts), and may not run far
past `max_words`. An empty answer means the model found nothing to say about the image. Whenever the answer
is missing, refused or rejected, the caption is the extractive one (pipeline/augment/captions.py), which is
also what a profile without an LLM (`augment.caption_method: extractive`) gets.
The request depends only on the source text, so its cache key does too; the grounding check runs again on
a cached answer against the labels of the run that reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from ontology import Ontology
from pipeline.augment.captions import clean_text, refined_caption
from pipeline.config import LlmConfig
from pipeline.llm.caller import InvalidAnswer, JsonPromptCaller
from pipeline.vocab.lexical import Labels, LexicalMatcher

_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)?")
SOURCE_TYPE = "image caption"


class RefinedAnswer(BaseModel):
    caption: str
    dropped: list[str]


@dataclass
class RefineOutcome:
    """The caption used, how it was made (`llm:<model>` or `extractive`) and the calls made for it."""

    caption: str
    method: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    cache_rows: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None  # why the extractive caption was used although an LLM was asked


class CaptionRefiner:
    """Refined captions through the shared caller; thread-safe like the caller."""

    def __init__(self, cfg: LlmConfig, ontology: Ontology, matcher: LexicalMatcher | None = None,
                 max_words: int = 60, client: Any | None = None, prompt_name: str = "refine_caption") -> None:  # fmt: skip
        self.cfg, self.ontology, self.max_words = cfg, ontology, max_words
        self.matcher = matcher or LexicalMatcher(ontology)
        self.caller = JsonPromptCaller(cfg, prompt_name, RefinedAnswer, client, json_mode="json_object")
        self.prompt_key: str = self.caller.prompt_key

    def values(self, text: str) -> dict[str, object]:
        return {"text": clean_text(text), "source_type": SOURCE_TYPE, "max_words": self.max_words}

    def cache_key(self, text: str) -> str:
        return self.caller.cache_key(**self.values(text))

    def refine(self, text: str, labels: Labels, lexical: Labels, cached: str | None = None) -> RefineOutcome:
        """The grounded LLM caption, or the extractive one with the reason. Never raises for the item.

        `labels`: the pair's chosen labels (their conditions may be named); `lexical`: the matcher's labels
        of `text` (the extractive caption ranks sentences by its mentions); `cached`: a stored answer."""
        fallback = refined_caption(text, lexical, max_words=self.max_words)
        allowed = self._allowed(lexical, labels)
        numbers = set(_NUMBER_RE.findall(text))

        def grounded(answer: RefinedAnswer) -> str:
            return self._check(answer, allowed, numbers)

        out = self.caller.ask(self.values(text), grounded, cached)
        if out.value:
            return RefineOutcome(out.value, f"llm:{self.cfg.model}", out.calls, out.cache_rows)
        reason = f"{out.reason}: {out.detail}" if out.reason else "the model returned an empty caption"
        return RefineOutcome(fallback, "extractive", out.calls, out.cache_rows, reason)

    def _allowed(self, lexical: Labels, labels: Labels) -> set[str]:
        """Condition ids a caption may name: the source's mentions and the chosen labels, with ancestors."""
        named = {m.node_id for m in lexical.mentions if m.kind == "condition"} | set(labels.condition_ids)
        return {node.id for node_id in named for node in self.ontology.lineage(node_id)}

    def _check(self, answer: RefinedAnswer, allowed: set[str], numbers: set[str]) -> str:
        caption = " ".join(answer.caption.split())
        if not caption:
            return ""
        problems = []
        invented = sorted({m.text for m in self.matcher.label(caption).mentions
                           if m.kind == "condition" and not m.negated and m.node_id not in allowed})  # fmt: skip
        if invented:
            problems.append(f"it names {', '.join(invented)}, which the source text does not")
        if new := sorted(set(_NUMBER_RE.findall(caption)) - numbers):
            problems.append(f"it states {', '.join(new)}, which the source text does not")
        if len(caption.split()) > 1.5 * self.max_words:
            problems.append(f"it has {len(caption.split())} words, more than {self.max_words}")
        if problems:
            raise InvalidAnswer(
                "caption rejected: " + "; ".join(problems) + ". Use only facts from the text."
            )
        return caption
