"""LLM subcaption split: the option for compound-figure legends the marker rules cannot read.

The rules (pipeline.preprocess.subcaptions) split at panel markers they recognise; a model can also read
legends whose panels are named in prose. It gets prompts/subcaption_split and must answer `{shared,
subcaptions: [{label, text}]}`. The answer is distrusted: every word of every subcaption (and of
`shared`) must occur in the legend, since the prompt allows only moving and repeating the legend's words;
a label must be a panel letter (a-h, ranges and lists too) or a position word. An answer that invents text
or labels gets the caller's one corrective retry and then the rules decide, so a hallucinated panel text
never enters the corpus. Every call is an `llm_calls` row; accepted answers are `llm_cache` rows keyed by
(prompt version, model, input hash), so a redone figure reuses them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, Field

from pipeline.config import LlmConfig
from pipeline.llm.caller import InvalidAnswer, JsonPromptCaller
from pipeline.llm.calls import outage_note
from pipeline.preprocess.subcaptions import SplitCaption, Subcaption, _letters, split_caption

PROMPT = "subcaption_split"
_WORD = re.compile(r"[^\W_]+")
_POSITIONS = {"left", "right", "top", "bottom", "upper", "lower", "middle", "centre", "center"}
_LETTER_LABEL = re.compile(r"[a-h](?:\s*(?:[-–—]|,|and|&)\s*[a-h])*")


class _Part(BaseModel):
    label: str = ""
    text: str


class SplitAnswer(BaseModel):
    shared: str = ""
    subcaptions: list[_Part] = Field(default_factory=list)


def invented_words(text: str, source: str) -> list[str]:
    """Words of `text` that the source never uses (case-insensitive, any punctuation)."""
    known = {w.lower() for w in _WORD.findall(source)}
    return [w for w in _WORD.findall(text) if w.lower() not in known]


def _keys(label: str) -> list[str]:
    """ "A" -> [a]; "(A-C)" -> [a, b, c]; "Top left" -> ["top left"]; "" -> []."""
    clean = " ".join(label.lower().strip(" ()[].:").split())
    if not clean:
        return []
    if _LETTER_LABEL.fullmatch(clean):
        return _letters(clean)
    words = clean.removesuffix(" panel").removesuffix(" panels").split()
    if words and all(w in _POSITIONS for w in words):
        return [" ".join(words)]
    raise InvalidAnswer(f"label {label!r} is neither a panel letter A-H nor a position word")


def to_split(answer: SplitAnswer, caption: str) -> SplitCaption:
    """The answer as a SplitCaption (each subcaption already holds its shared context); InvalidAnswer
    when it invents words or labels."""
    for piece in [answer.shared, *(p.text for p in answer.subcaptions)]:
        if extra := invented_words(piece, caption):
            raise InvalidAnswer(
                f"words not in the legend: {', '.join(dict.fromkeys(extra))}; use only its words"
            )
    parts: list[Subcaption] = []
    for part in answer.subcaptions:
        text = " ".join(part.text.split())
        parts.extend(Subcaption(k, text) for k in _keys(part.label) if text)
    if not parts:  # "no panels": the legend stays whole
        return SplitCaption(" ".join(caption.split()))
    lettered = [p.key in _letters(p.key) for p in parts]  # a letter key is its own _letters
    if any(lettered) and not all(lettered):
        raise InvalidAnswer("labels mix panel letters and position words")
    style = "letters" if all(lettered) else "positions"
    return SplitCaption("", parts, style=style)


class Recorder(Protocol):
    """Where the rows go (pipeline.stage.UnitResult)."""

    unavailable: str | None

    def add(self, table: str, row: dict[str, Any]) -> None: ...


@dataclass
class SplitOutcome:
    split: SplitCaption
    source: str  # "llm:<model>" | "rules" (the model failed, or its answer invented text)
    calls: list[dict[str, Any]] = field(default_factory=list)
    cache_rows: list[dict[str, Any]] = field(default_factory=list)
    outage: bool = False
    error: str = ""


class LlmSubcaptionSplitter:
    """prompts/subcaption_split through the shared caller; `cache` maps input hashes to stored answers."""

    def __init__(
        self, cfg: LlmConfig, client: Any | None = None, cache: dict[str, str] | None = None
    ) -> None:
        self.caller = JsonPromptCaller(cfg, PROMPT, SplitAnswer, client, json_mode="json_object")
        self.model = cfg.model
        self.cache = cache if cache is not None else {}

    def split(self, caption: str) -> SplitOutcome:
        caption = " ".join((caption or "").split())
        if not caption:
            return SplitOutcome(split_caption(caption), "rules")
        values: dict[str, object] = {"caption": caption}
        out = self.caller.ask(
            values,
            accept=lambda a: to_split(a, caption),
            cached=self.cache.get(self.caller.cache_key(**values)),
        )
        if out.value is None:
            return SplitOutcome(split_caption(caption), "rules", out.calls, outage=out.outage,
                                error=f"{out.reason}: {out.detail}")  # fmt: skip
        return SplitOutcome(out.value, f"llm:{self.model}", out.calls, out.cache_rows)

    def recording(self, res: Recorder, sources: dict[str, str]) -> Any:
        """A splitter for figure_panels that writes its calls and cache rows to `res`, marks an outage
        (the unit stays pending) and notes which method split each caption in `sources`."""

        def run(caption: str) -> SplitCaption:
            out = self.split(caption)
            for call in out.calls:
                res.add("llm_calls", call)
            for row in out.cache_rows:
                res.add("llm_cache", row)
            if out.outage:
                res.unavailable = outage_note(self.caller.cfg, out.error)
            sources[caption] = out.source
            return out.split

        return run
