"""Derm1M's caption kinds, built deterministically from a source text and its `Labels`.

Each image ends up with several captions: the refined medical text, an ontology sentence ("This is
a skin photo diagnosed as <hierarchical label>.") and, when concepts were found, a concept sentence
("This skin photo shows <concepts>."). The templates follow the released Derm1M data so models
trained on our corpus see the same prompt shapes. Everything here is a pure function: the LLM
refinement (prompts/refine_caption) is optional and these are both its fallback and its baseline.
"""

from __future__ import annotations

import re

from pipeline.vocab.lexical import NO_CONCEPTS, NO_DIAGNOSIS, Labels

ONTOLOGY_TEMPLATE = "This is a skin photo diagnosed as {label}."
CONCEPT_TEMPLATE = "This skin photo shows {concepts}."
DEFAULT_MAX_WORDS = 60  # ~77 CLIP tokens for typical clinical English

_JUNK_RE = re.compile(r"</?s>|<[^>]{1,20}>|\[(?:music|applause|laughter|inaudible)\]", re.I)
_NO_BREAK_BEFORE = r"(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)(?<!\bFig)(?<!\bDr)(?<!\betc)(?<!\bapprox)(?<!\b[A-Z])"
_SENTENCE_END_RE = re.compile(_NO_BREAK_BEFORE + r"[.!?。！？]+[\"')\]]*(?=\s|<|$)")


def clean_text(text: str) -> str:
    """Drop model/ASR artefacts (</s>, [Music], stray tags) and normalise whitespace and spacing."""
    text = _JUNK_RE.sub(" ", text)
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    return re.sub(r"([,;:])(?=[^\s\d])", r"\1 ", text)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of sentences in `text`, not breaking after e.g./vs./Fig./initials or in decimals."""
    spans, start = [], 0
    for match in _SENTENCE_END_RE.finditer(text):
        if text[start : match.end()].strip():
            spans.append((start, match.end()))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def _words(text: str) -> int:
    return len(text.split())


def truncated_caption(text: str, max_words: int = DEFAULT_MAX_WORDS) -> str:
    """The cleaned text cut to `max_words`, ending on a sentence boundary when that keeps at least half."""
    cleaned = clean_text(text)
    words = cleaned.split()
    if len(words) <= max_words:
        return cleaned
    head = " ".join(words[:max_words])
    ends = [end for _, end in sentence_spans(head) if re.search(r"[.!?。！？][\"')\]]*$", head[:end])]
    if ends and _words(head[: ends[-1]]) >= max_words // 2:
        return head[: ends[-1]].strip()
    return head


def _dedupe_key(sentence: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", sentence.lower())


def refined_caption(text: str, labels: Labels, max_words: int = DEFAULT_MAX_WORDS) -> str:
    """Lexical refinement: clean, de-duplicate sentences, keep whole sentences within `max_words`.

    When the text is too long, sentences carrying a positive ontology mention (condition, concept,
    body site, symptom) are kept first, then the rest in reading order; the output keeps the
    original order. A single over-long sentence is cut at `max_words` rather than dropped.
    """
    positive = [(m.start, m.end) for m in labels.mentions if not m.negated]
    sentences: list[tuple[int, str, bool]] = []  # (order, cleaned sentence, carries a mention)
    seen: set[str] = set()
    for start, end in sentence_spans(text):
        sentence = clean_text(text[start:end])
        key = _dedupe_key(sentence)
        if not key or key in seen:
            continue
        seen.add(key)
        informative = any(start <= m_start and m_end <= end for m_start, m_end in positive)
        sentences.append((len(sentences), sentence, informative))
    if not sentences:
        return ""
    ranked = sorted(sentences, key=lambda s: (not s[2], s[0]))
    chosen, budget = [], max_words
    for order, sentence, _ in ranked:
        if _words(sentence) <= budget:
            chosen.append((order, sentence))
            budget -= _words(sentence)
    if not chosen:
        return truncated_caption(ranked[0][1], max_words)
    return " ".join(sentence for _, sentence in sorted(chosen))


def ontology_caption(labels: Labels) -> str | None:
    """Derm1M ontology caption, or None when there is no definitive diagnosis."""
    label = labels.hierarchical_disease_label.strip()
    if not label or label == NO_DIAGNOSIS:
        return None
    return ONTOLOGY_TEMPLATE.format(label=label)


def concept_caption(labels: Labels) -> str | None:
    """Derm1M concept caption, or None when no visual concept was found."""
    concepts = labels.skin_concept.strip()
    if not concepts or concepts == NO_CONCEPTS:
        return None
    return CONCEPT_TEMPLATE.format(concepts=concepts)


def augmented_caption(text: str, labels: Labels, max_words: int = DEFAULT_MAX_WORDS) -> str:
    """Refined text followed by the ontology and concept sentences (Derm1M's `augmented_caption`)."""
    parts = [refined_caption(text, labels, max_words), ontology_caption(labels), concept_caption(labels)]
    return " ".join(part for part in parts if part)
