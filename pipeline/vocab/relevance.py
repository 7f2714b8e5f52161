"""Is a video about dermatology? A transparent vocabulary score on title, description and tags.

Positives are the ontology's condition surface forms (names, synonyms, lay terms; abbreviations matched
case-sensitively), its visual concept names, and a short list of dermatology words. Negatives are the
look-alikes a skin-word search drags in: cosmetics and make-up, fashion ("skinny jeans"), game skins,
hair styling. The score and a reason listing every matched term are stored with each video, so a
threshold can be re-tuned from the warehouse without refetching anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

DERM_WORDS = (
    "dermatology", "dermatologist", "dermatologists", "dermatological", "dermatopathology", "dermoscopy",
    "dermatoscopy", "skin disease", "skin diseases", "skin condition", "skin conditions", "skin lesion",
    "skin lesions", "skin rash", "skin cancer", "skin infection", "skin infections", "rash", "rashes",
    "cutaneous", "mole", "moles", "itchy skin", "itching", "itch", "skin biopsy", "lesion", "lesions",
    "dry skin", "sensitive skin", "skin sensitivity", "blister", "blisters", "scar", "scars", "wart", "warts",
    "pimple", "pimples", "hyperpigmentation", "fungal infection", "fungal infections", "toenail fungus",
    "nail fungus", "cracked heels", "hives", "skin",
)
# Words that on their own are weak evidence: they count only alongside another dermatology term.
WEAK = frozenset({"skin", "lesion", "lesions", "scar", "scars", "itch", "mole", "moles", "blister",
                  "blisters"})
NEGATIVES = (
    "makeup", "make-up", "make up", "eyeshadow", "eye shadow", "lipstick", "lip gloss", "mascara",
    "eyeliner", "eyelashes", "lashes", "concealer", "foundation routine", "contour", "smokey eye",
    "skinny", "skinny jeans", "skinny tie", "nail art", "manicure", "pedicure", "hairstyle", "hair style",
    "braid", "braids", "curls", "blowout", "hair color", "hair colour", "balayage", "hair extensions",
    "minecraft", "fortnite", "game skin", "skin pack", "skins", "photoshop", "recipe", "tattoo design",
    "cosplay", "diy", "body scrub", "bath bomb", "face mask diy", "unboxing", "haul", "scuba",
)


@dataclass(frozen=True)
class Relevance:
    score: float
    reason: str
    positives: tuple[str, ...]
    negatives: tuple[str, ...]


def _alternation(terms: Iterable[str]) -> str:
    uniq = sorted({t.strip() for t in terms if t.strip()}, key=len, reverse=True)
    return r"(?<![\w-])(?:" + "|".join(re.escape(t) for t in uniq) + r")(?![\w-])"


class RelevanceScorer:
    """Score = 2 per distinct strong term in the title, 1 per distinct strong term only in the description
    or tags, 0.5 for weak words (and abbreviations) when a strong term is present too, minus 2 per
    distinct negative."""

    def __init__(self, terms: Iterable[str], abbreviations: Iterable[str] = (),
                 negatives: Iterable[str] = NEGATIVES) -> None:
        self.strong = re.compile(_alternation([*terms, *(w for w in DERM_WORDS if w not in WEAK)]), re.I)
        self.weak = re.compile(_alternation(WEAK), re.I)
        abbrs = [a for a in abbreviations if len(a) >= 2]
        self.abbr = re.compile(_alternation(abbrs)) if abbrs else None
        self.negative = re.compile(_alternation(negatives), re.I)

    @classmethod
    def from_ontology(cls) -> RelevanceScorer:
        return _default_scorer()

    def _strong(self, text: str) -> set[str]:
        return {m.group(0).lower() for m in self.strong.finditer(text)}

    def _abbrs(self, text: str) -> set[str]:
        return {m.group(0) for m in self.abbr.finditer(text)} if self.abbr is not None else set()

    def score(self, title: str, description: str = "", tags: Iterable[str] = ()) -> Relevance:
        title = title or ""
        rest = f"{description or ''} {' '.join(tags)}"
        in_title, in_rest = self._strong(title), self._strong(rest)
        weak = {m.group(0).lower() for m in self.weak.finditer(f"{title} {rest}")}
        weak |= self._abbrs(f"{title} {rest}")  # "MAC", "SCC": brand names and acronyms collide too often
        neg = {m.group(0).lower() for m in self.negative.finditer(f"{title} {rest}")}
        strong = in_title | in_rest
        score = 2.0 * len(in_title) + 1.0 * len(in_rest - in_title)
        if strong:
            score += 0.5 * len(weak)
        score -= 2.0 * len(neg)
        parts = []
        if in_title:
            parts.append("title: " + ", ".join(sorted(in_title)))
        if in_rest - in_title:
            parts.append("text: " + ", ".join(sorted(in_rest - in_title)))
        if weak:
            parts.append(("weak: " if strong else "weak only: ") + ", ".join(sorted(weak)))
        if neg:
            parts.append("negative: " + ", ".join(sorted(neg)))
        return Relevance(score, "; ".join(parts) or "no dermatology term", tuple(sorted(strong)),
                         tuple(sorted(neg)))


@lru_cache(maxsize=1)
def ontology_vocabulary() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(surface forms, abbreviations) from the ontology; shared with the caption scorer in pipeline/clean."""
    from ontology import default_ontology

    onto = default_ontology()
    terms = [t.surface for t in onto.terms() if t.kind != "abbreviation"]
    abbrs = [t.surface for t in onto.terms() if t.kind == "abbreviation"]
    # morphology and dermoscopic words are dermatology-specific; colours, body sites and symptoms are not
    concepts = [c.name for c in onto.concepts_in("primary_morphology", "dermoscopic")]
    return (*terms, *concepts), tuple(abbrs)


@lru_cache(maxsize=1)
def _default_scorer() -> RelevanceScorer:
    terms, abbrs = ontology_vocabulary()
    return RelevanceScorer(terms, abbrs)
