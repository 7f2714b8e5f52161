"""Extractive caption for a keyframe: the sentences of its narration densest in ontology terms.

Narration around a slide is long and chatty ("so, as you can see here..."); a caption should keep what
names the disease and what it looks like. Each sentence is scored by the ontology mentions the project's
lexical matcher finds (conditions count double: they are what the image is about) per word, the best
sentences are kept in spoken order up to `max_words`, and a narration without any term keeps its first
sentences. `LlmCaptioner` (pair.caption_method: llm) writes the caption with a model instead and falls
back to this one whenever its answer is missing or not grounded in the narration.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field

from pipeline.config import LlmConfig
from pipeline.vocab.transcript import split_sentences


@lru_cache(maxsize=1)
def _matcher() -> Any:
    from pipeline.vocab.lexical import LexicalMatcher

    return LexicalMatcher()


def term_density(sentence: str, matcher: Any = None) -> float:
    """Ontology mentions per word (non-negated; conditions weigh 2, other kinds 1)."""
    words = len(sentence.split())
    if not words:
        return 0.0
    labels = (matcher or _matcher()).label(sentence)
    weight = sum(2.0 if m.kind == "condition" else 1.0 for m in labels.mentions if not m.negated)
    return weight / words


def extractive_caption(text: str, max_words: int = 40, matcher: Any = None) -> str:
    """Key sentences of `text` by term density, in their original order, within `max_words`."""
    sentences = split_sentences(text)
    if not sentences:
        return ""
    scored = [(term_density(s, matcher), i, s) for i, s in enumerate(sentences)]
    ranked = sorted(scored, key=lambda x: (-x[0], x[1])) if any(d > 0 for d, _, _ in scored) else scored
    chosen: list[tuple[int, str]] = []
    used = 0
    for density, i, sentence in ranked:
        n = len(sentence.split())
        if chosen and (used + n > max_words or density == 0 and ranked[0][0] > 0):
            continue
        chosen.append((i, sentence if n <= max_words else " ".join(sentence.split()[:max_words])))
        used += min(n, max_words)
    return " ".join(s for _, s in sorted(chosen))


class _Refined(BaseModel):
    caption: str
    dropped: list[str] = Field(default_factory=list)


class LlmCaptioner:
    """Keyframe captions written by a model from the narration (prompts/refine_caption), grounded.

    A summary may not name a condition the narration does not name (the lexical matcher checks both
    sides), may not be empty or run far past max_words; otherwise the extractive caption is used. The
    call row is returned either way, for `llm_calls`.
    """

    def __init__(self, cfg: LlmConfig, max_words: int = 40, client: Any | None = None) -> None:
        from pipeline.llm.caller import JsonPromptCaller

        self.caller = JsonPromptCaller(cfg, "refine_caption", _Refined, client, json_mode="json_object")
        self.max_words, self.model = max_words, cfg.model

    def caption(self, narration: str) -> tuple[str, str, dict[str, Any]]:
        """(caption, method: llm:<model> | extractive, the call's log row)."""
        answer, row = self.caller.call(text=narration, source_type="video narration", max_words=self.max_words)
        fallback = extractive_caption(narration, self.max_words)
        if answer is None:
            return fallback, "extractive", row
        caption = " ".join(answer.caption.split())
        spoken = {m.node_id for m in _matcher().label(narration).mentions if m.kind == "condition"}
        invented = sorted({m.text for m in _matcher().label(caption).mentions
                           if m.kind == "condition" and not m.negated and m.node_id not in spoken})
        if not caption or len(caption.split()) > 1.5 * self.max_words or invented:
            why = f"names {', '.join(invented)}, absent from the narration" if invented else "empty or too long"
            row["error"] = f"caption rejected: {why}"
            return fallback, "extractive", row
        return caption, f"llm:{self.model}", row
