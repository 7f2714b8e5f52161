"""LLM caption relevance: the option for captions the lexical scorer cannot judge.

The lexical scorer (pipeline.vocab.relevance) counts dermatology terms against look-alike ones; a model can
read what the figure shows ("an incision through the skin" is surgery, not skin disease). It gets
prompts/caption_relevance with the caption and, when present, its article context, and must answer
`{relevant, reason}`. Every call is an `llm_calls` row; accepted answers are `llm_cache` rows keyed by
(prompt version, model, input hash), so a redone text unit reuses them. When the model cannot answer
(invalid output after the corrective retry) the lexical score decides, so the option never drops a caption
for the model's failure; an outage leaves the unit pending (the caller checks `outage`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from pipeline.config import LlmConfig
from pipeline.llm.caller import JsonPromptCaller

PROMPT = "caption_relevance"
MAX_CONTEXT_CHARS = 1500  # the article text around the figure: enough to resolve "this lesion", small prompt


class RelevanceAnswer(BaseModel):
    reason: str = ""  # first: the model describes the figure, then decides
    relevant: bool


@dataclass
class LlmVerdict:
    """The model's verdict (None: no usable answer, use the fallback) and the rows to store."""

    relevant: bool | None
    reason: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    cache_rows: list[dict[str, Any]] = field(default_factory=list)
    cached: bool = False
    outage: bool = False
    error: str = ""


class LlmCaptionJudge:
    """prompts/caption_relevance through the shared caller; `cache` maps input hashes to stored answers
    (`llm_cache` rows of this prompt version and model)."""

    def __init__(
        self, cfg: LlmConfig, client: Any | None = None, cache: dict[str, str] | None = None
    ) -> None:
        self.caller = JsonPromptCaller(cfg, PROMPT, RelevanceAnswer, client, json_mode="json_object")
        self.model = cfg.model
        self.cache = cache if cache is not None else {}

    @staticmethod
    def values(caption: str, context: str | None) -> dict[str, object]:
        ctx = " ".join((context or "").split())[:MAX_CONTEXT_CHARS]
        return {"caption": " ".join(caption.split()), "context": ctx or "(none)"}

    def judge(self, caption: str, context: str | None = None) -> LlmVerdict:
        values = self.values(caption, context)
        out = self.caller.ask(values, cached=self.cache.get(self.caller.cache_key(**values)))
        if out.value is None:
            return LlmVerdict(None, "", out.calls, outage=out.outage, error=f"{out.reason}: {out.detail}")
        answer: RelevanceAnswer = out.value
        return LlmVerdict(
            answer.relevant, " ".join(answer.reason.split()), out.calls, out.cache_rows, out.cached
        )
