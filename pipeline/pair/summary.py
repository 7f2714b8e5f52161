"""Extractive caption for a keyframe: the sentences of its narration densest in ontology terms.

Narration around a slide is long and chatty ("so, as you can see here..."); a caption should keep what
names the disease and what it looks like. Each sentence is scored by the ontology mentions the project's
lexical matcher finds (conditions count double: they are what the image is about) per word, the best
sentences are kept in spoken order up to `max_words`, and a narration without any term keeps its first
sentences. An LLM summary can replace this later through the LLM client; this is the offline fallback.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pipeline.clean.transcript import split_sentences


@lru_cache(maxsize=1)
def _matcher() -> Any:
    from pipeline.augment.lexical import LexicalMatcher

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
