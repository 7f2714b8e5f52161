"""The per-text shortlist the v3 labeller prompt chooses from: candidate conditions, concepts, sites, symptoms.

Sending the whole ontology with every pair (~6K tokens in v2) costs more than the answer is worth and
swamps a small model. A text almost always names its diagnosis and findings, so the candidates come from
the text itself, in the order of how sure the retrieval is:
1. the lexical matcher's mentions that are not negated (the free baseline, with abbreviations, plurals,
   spelling variants and lay terms);
2. for conditions, the parents of those mentions, so the model can pick a less specific level when the
   text is vaguer than the matcher's longest match;
3. fuzzy matches of ontology names and synonyms against runs of one to four words of the text (rapidfuzz
   ratio), which catch the misspellings and odd hyphenation transcripts and forum posts carry.
Negated mentions stay out: a name the text rules out is never the label, and leaving it out is cheaper
than a prompt rule a 1.5B model may ignore. The schema's enums are exactly this list, plus the sentinel
"no definitive diagnosis", so the answer cannot name anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ontology import VISUAL_CATEGORIES, Ontology
from pipeline.config.augment import ShortlistConfig
from pipeline.vocab.lexical import LexicalMatcher

if TYPE_CHECKING:
    from collections.abc import Iterable

FIELDS = ("conditions", "concepts", "body_sites", "symptoms")
_MIN_FUZZY_CHARS = 6  # shorter surfaces ("AK", "wart") match everywhere at the character level


@dataclass(frozen=True)
class Shortlist:
    """Canonical ontology names per label field, best first; each field may be empty."""

    conditions: tuple[str, ...] = ()
    concepts: tuple[str, ...] = ()
    body_sites: tuple[str, ...] = ()
    symptoms: tuple[str, ...] = ()
    fuzzy: frozenset[str] = frozenset()  # names offered by fuzzy matching only (dropped first for budget)

    def without_fuzzy(self) -> Shortlist:
        keep = {f: tuple(n for n in getattr(self, f) if n not in self.fuzzy) for f in FIELDS}
        return Shortlist(keep["conditions"], keep["concepts"], keep["body_sites"], keep["symptoms"])

    def capped(self, n: int) -> Shortlist:
        """At most `n` names per field (the budget's last resort before cutting the text)."""
        return Shortlist(
            self.conditions[:n], self.concepts[:n], self.body_sites[:n], self.symptoms[:n], self.fuzzy
        )


class Shortlister:
    """Builds a `Shortlist` for a text; construction indexes the ontology once, `shortlist` is cheap."""

    def __init__(self, ontology: Ontology, cfg: ShortlistConfig | None = None,
                 matcher: LexicalMatcher | None = None) -> None:  # fmt: skip
        self.ontology, self.cfg = ontology, cfg or ShortlistConfig()
        self.matcher = matcher or LexicalMatcher(ontology)
        category = {c.id: c.category for c in ontology.concepts.values()}
        self._field_of_concept = {
            cid: "body_sites" if cat == "body_site" else "symptoms" if cat == "symptom" else "concepts"
            for cid, cat in category.items()
            if cat in ("body_site", "symptom") or (cat in VISUAL_CATEGORIES and cat != "artefact")
        }
        # fuzzy choices: surface form (names and synonyms long enough to be specific) -> (field, node id)
        self._surfaces: dict[str, tuple[str, str]] = {}
        for term in ontology.terms("conditions"):
            if term.kind != "abbreviation" and len(term.surface) >= _MIN_FUZZY_CHARS:
                self._surfaces.setdefault(term.surface.lower(), ("conditions", term.node_id))
        for term in ontology.terms("concepts"):
            concept_field = self._field_of_concept.get(term.node_id)
            if concept_field and len(term.surface) >= _MIN_FUZZY_CHARS:
                self._surfaces.setdefault(term.surface.lower(), (concept_field, term.node_id))
        self._choices = list(self._surfaces)

    def _name(self, field_name: str, node_id: str) -> str:
        table = self.ontology.conditions if field_name == "conditions" else self.ontology.concepts
        return table[node_id].name

    def _diagnosable(self, node_id: str) -> bool:
        return not self.ontology.conditions[node_id].grouping

    def shortlist(self, text: str) -> Shortlist:
        found: dict[str, dict[str, None]] = {f: {} for f in FIELDS}
        labels = self.matcher.label(text)
        parents: list[str] = []
        for mention in labels.mentions:
            if mention.negated:
                continue
            if mention.kind == "condition":
                found["conditions"][mention.node_id] = None
                parent = self.ontology.conditions[mention.node_id].parent
                if parent is not None and self._diagnosable(parent):
                    parents.append(parent)
            elif (concept_field := self._field_of_concept.get(mention.node_id)) is not None:
                found[concept_field][mention.node_id] = None
        negated = {m.node_id for m in labels.mentions if m.negated}
        found["conditions"].update(dict.fromkeys(p for p in parents if p not in negated))
        fuzzy: set[str] = set()
        for field_name, node_id in self._fuzzy(text):
            if node_id not in found[field_name] and node_id not in negated:
                found[field_name][node_id] = None
                fuzzy.add(self._name(field_name, node_id))
        caps = {"conditions": self.cfg.conditions, "concepts": self.cfg.concepts,
                "body_sites": self.cfg.body_sites, "symptoms": self.cfg.symptoms}  # fmt: skip
        names = {
            f: tuple(dict.fromkeys(self._name(f, i) for i in ids))[: caps[f]] for f, ids in found.items()
        }
        return Shortlist(**names, fuzzy=frozenset(fuzzy))

    def _fuzzy(self, text: str) -> Iterable[tuple[str, str]]:
        """(field, node id) of names and synonyms that nearly equal a run of 1-4 words of `text`, best first.

        Whole word runs, not character substrings: partial matching put "id reaction" on every text saying
        "allergic reaction" (its tail "ic reaction" scores 91)."""
        from rapidfuzz import fuzz, process, utils

        words = utils.default_process(text).split()
        grams = list(
            dict.fromkeys(" ".join(words[i : i + n]) for n in range(1, 5) for i in range(len(words) - n + 1))
        )
        grams = [g for g in grams if len(g) >= _MIN_FUZZY_CHARS]
        if not grams:
            return []
        scores = process.cdist(grams, self._choices, scorer=fuzz.ratio, processor=utils.default_process,
                               score_cutoff=self.cfg.fuzzy_min_score, workers=1)  # fmt: skip
        best = scores.max(axis=0)
        ranked = sorted((-float(best[j]), j) for j in best.nonzero()[0])
        return [self._surfaces[self._choices[j]] for _, j in ranked[:40]]
