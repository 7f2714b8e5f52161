"""Scoring the augment labels against human references (Derm1M rows, SkinCAP concept flags).

Their vocabularies are not ours. Given Derm1M's ontology file, the Derm1M rows are scored in Derm1M's own
vocabulary, as a user merging the two corpora would compare them: our node is written as its Derm1M node
through the crosswalk (pipeline/vocab/crosswalk.py), and a disease is right when that node is one the row's
label names ("consistent" also counts a more specific Derm1M node under theirs); hierarchy levels compare
the two Derm1M paths. Without it (and always, as `disease_exact_project`) every reference label is resolved
onto our ontology by the same normalisation the matcher uses (names, synonyms, plurals, spelling): a
disease is right when our node is one their label names. Concepts are scored as micro-F1 over node ids, a reference concept we cannot resolve
counting as a miss. SkinCAP's 48 flags are scored only over the flags that resolve to a concept, and
our predictions are restricted to those concepts (SkinCAP does not annotate the rest).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ontology import Ontology
from pipeline.vocab.crosswalk import Crosswalk, ExternalNode
from pipeline.vocab.lexical import NO_CONCEPTS, NO_DIAGNOSIS, Labels, term_key

Predict = Callable[[str], Labels | None]  # None: the labeller rejected the text (counted as wrong)
SKINCAP_SKIP = "Do not consider this image"


@dataclass
class F1:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, ours: set[str], theirs: set[str], unresolved: int = 0) -> None:
        self.tp += len(ours & theirs)
        self.fp += len(ours - theirs)
        self.fn += len(theirs - ours) + unresolved

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Scores:
    rows: int = 0
    rejected: int = 0
    disease_correct: int = 0
    disease_exact_project: int = 0  # our node is one their label names, in our vocabulary
    disease_consistent: int = 0  # Derm1M vocabulary: theirs, or a more specific node under theirs
    disease_named: int = 0  # Derm1M vocabulary: theirs is among every condition we found (the choice's ceiling)
    vocabulary: str = "project"
    level_agree: list[int] = field(default_factory=lambda: [0] * 5)
    level_total: list[int] = field(default_factory=lambda: [0] * 5)
    concepts: F1 = field(default_factory=F1)
    concepts_all: F1 = field(default_factory=F1)  # every concept of ours and theirs, outside their vocabulary too
    unresolved: dict[str, int] = field(default_factory=dict)  # reference labels not in our ontology

    @property
    def disease_accuracy(self) -> float:
        return self.disease_correct / self.rows if self.rows else 0.0

    def level_agreement(self) -> list[tuple[int, float]]:
        return [(n, a / n if n else 0.0) for a, n in zip(self.level_agree, self.level_total, strict=True) if n]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows, "rejected": self.rejected, "disease_accuracy": round(self.disease_accuracy, 4),
            "disease_vocabulary": self.vocabulary,
            "disease_exact_project": round(self.disease_exact_project / self.rows, 4) if self.rows else 0.0,
            "disease_consistent": round(self.disease_consistent / self.rows, 4) if self.rows else 0.0,
            "disease_named_anywhere": round(self.disease_named / self.rows, 4) if self.rows else 0.0,
            "level_agreement": [{"level": i, "n": n, "agreement": round(a, 4)}
                                for i, (n, a) in enumerate(self.level_agreement())],
            "concept_micro_f1": round(self.concepts.f1, 4), "concept_precision": round(self.concepts.precision, 4),
            "concept_recall": round(self.concepts.recall, 4),
            "concept_micro_f1_all": round(self.concepts_all.f1, 4) if self.concepts_all.tp + self.concepts_all.fn
            else None,
            "top_unresolved": sorted(self.unresolved.items(), key=lambda kv: -kv[1])[:10],
        }  # fmt: skip


class Resolver:
    """Reference label text -> our node ids (conditions including groupings, or concepts)."""

    def __init__(self, ontology: Ontology) -> None:
        self.ontology = ontology
        self.conditions: dict[tuple[str, ...], set[str]] = {}
        for cond in ontology.conditions.values():
            for surface in (cond.name, *cond.synonyms, *cond.abbreviations, *cond.lay_terms):
                self.conditions.setdefault(term_key(surface), set()).add(cond.id)
        self.concepts: dict[tuple[str, ...], set[str]] = {}
        for term in ontology.terms("concepts"):
            self.concepts.setdefault(term_key(term.surface), set()).add(term.node_id)

    @staticmethod
    def _variants(label: str) -> list[str]:
        """"brown(hyperpigmentation)" -> ["brown(hyperpigmentation)", "brown", "hyperpigmentation"]."""
        inner = re.findall(r"\((.*?)\)", label)
        outer = re.sub(r"\(.*?\)", " ", label)
        return [label, *outer.split("/"), *inner] if inner or "/" in label else [label]

    def condition(self, label: str) -> set[str]:
        return set().union(*(self.conditions.get(term_key(v), set()) for v in self._variants(label)))

    def concept(self, label: str) -> set[str]:
        """Every concept the label names: "brown(hyperpigmentation)" is brown and hyperpigmentation."""
        whole = self.concepts.get(term_key(label))
        if whole:
            return set(whole)
        return set().union(set(), *(self.concepts.get(term_key(v), set()) for v in self._variants(label)))


def _split(value: str, sentinels: Iterable[str]) -> list[str]:
    value = value.strip()
    if not value or value.lower() in {s.lower() for s in sentinels}:
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


def _derm1m_disease(theirs_label: str, ours: str | None, walk: Crosswalk) -> tuple[bool, bool, list[ExternalNode]]:
    """(right, consistent, their nodes) for one row in Derm1M's vocabulary."""
    if theirs_label in ("", NO_DIAGNOSIS):
        return ours is None, ours is None, []
    nodes = walk.theirs.find(theirs_label)
    mine = walk.node(ours) if ours else None
    if mine is None:
        return False, False, nodes
    labels = {n.label for n in nodes}
    on_path = {k.strip().strip(",").strip().lower() for k in mine.path}
    return mine.label in labels, bool(labels & on_path), nodes


def derm1m_concept_scope(concept_terms: Mapping[str, Iterable[str]], ontology: Ontology) -> set[str]:
    """Our concept ids that Derm1M's published concept list (ConceptTerms.json: name -> synonyms) names."""
    res = Resolver(ontology)
    return set().union(set(), *(res.concept(s) for name, syns in concept_terms.items() for s in (name, *syns)))


def score_derm1m(rows: Iterable[Mapping[str, str]], predict: Predict, ontology: Ontology,
                 crosswalk: Crosswalk | None = None, concept_scope: set[str] | None = None) -> Scores:
    """Rows with caption, disease_label, hierarchical_disease_label, skin_concept (Derm1M's CSV).

    With `concept_scope` (derm1m_concept_scope), concepts are scored over Derm1M's published concept
    vocabulary, both sides restricted to it as SkinCAP's flags are; `concepts_all` keeps the unrestricted
    figure."""
    res, scores = Resolver(ontology), Scores(vocabulary="derm1m" if crosswalk else "project")
    for row in rows:
        scores.rows += 1
        labels = predict(row["caption"])
        if labels is None:
            scores.rejected += 1
            labels = Labels(skin_concept="")
        theirs = row["disease_label"].strip().lower()
        ours = labels.condition_ids[0] if labels.condition_ids else None
        if theirs in ("", NO_DIAGNOSIS):
            exact = labels.disease_label == NO_DIAGNOSIS and ours is None
        else:
            nodes = set().union(*(res.condition(p) for p in _split(theirs, ())))
            exact = ours is not None and ours in nodes
            if not nodes and crosswalk is None:
                scores.unresolved[f"disease:{theirs}"] = scores.unresolved.get(f"disease:{theirs}", 0) + 1
        scores.disease_exact_project += exact
        if crosswalk is None:
            scores.disease_correct += exact
            scores.disease_consistent += exact
            levels = _split(row.get("hierarchical_disease_label", ""), (NO_DIAGNOSIS,))
            lineage = [n.id for n in ontology.lineage(ours)] if ours else []
            for depth, level in enumerate(levels[:5]):
                scores.level_total[depth] += 1
                scores.level_agree[depth] += depth < len(lineage) and lineage[depth] in res.condition(level)
        else:
            right, consistent, their_nodes = _derm1m_disease(theirs, ours, crosswalk)
            scores.disease_correct += right
            scores.disease_consistent += consistent
            scores.disease_named += right or any(
                _derm1m_disease(theirs, other, crosswalk)[0] for other in labels.condition_ids[1:])
            if theirs not in ("", NO_DIAGNOSIS) and not their_nodes:
                scores.unresolved[f"disease:{theirs}"] = scores.unresolved.get(f"disease:{theirs}", 0) + 1
            mine = crosswalk.node(ours) if ours else None
            path = [k.strip().strip(",").strip().lower() for k in their_nodes[0].path] if their_nodes else []
            my_path = [k.strip().strip(",").strip().lower() for k in mine.path] if mine else []
            for depth, level in enumerate(path[:5]):
                scores.level_total[depth] += 1
                scores.level_agree[depth] += depth < len(my_path) and my_path[depth] == level
        wanted: set[str] = set()
        missed = 0
        for concept in _split(row.get("skin_concept", ""), (NO_CONCEPTS,)):
            if hits := res.concept(concept):
                wanted |= hits
            else:
                missed += 1
                scores.unresolved[f"concept:{concept}"] = scores.unresolved.get(f"concept:{concept}", 0) + 1
        scores.concepts_all.add(set(labels.concept_ids), wanted, missed)
        if concept_scope is None:
            scores.concepts.add(set(labels.concept_ids), wanted, missed)
        else:
            scores.concepts.add(set(labels.concept_ids) & concept_scope, wanted & concept_scope)
    return scores


# SkinCon (whose 48 concepts SkinCAP flags) defines a few concepts by words that are concepts of their own
# here: its "Erythema" is redness, its "Pigmented" any pigment colour
SKINCON_DEFINITIONS = {"Erythema": ("red",), "Pigmented": ("brown", "black", "hyperpigmentation")}


def skincap_concept_map(columns: Iterable[str], ontology: Ontology) -> dict[str, set[str]]:
    """SkinCAP flag column -> our concept ids, for the flags that resolve (others are left out)."""
    res = Resolver(ontology)
    out: dict[str, set[str]] = {}
    for col in columns:
        hits = res.concept(col) if col != SKINCAP_SKIP else set()
        if hits:
            out[col] = hits.union(*(res.concept(w) for w in SKINCON_DEFINITIONS.get(col, ())))
    return out


def score_skincap(rows: Iterable[Mapping[str, str]], predict: Predict, ontology: Ontology,
                  concept_map: Mapping[str, set[str]], text_column: str = "caption_zh_polish_en") -> Scores:
    """Concept micro-F1 against SkinCAP's human flags, counted per flag (a flag is ours when we name any of
    the concepts it maps to); rows flagged "do not consider" are skipped."""
    scores = Scores()
    for row in rows:
        if row.get(SKINCAP_SKIP, "0").strip() in ("1", "1.0") or not row.get(text_column, "").strip():
            continue
        scores.rows += 1
        labels = predict(row[text_column])
        if labels is None:
            scores.rejected += 1
        named = set(labels.concept_ids if labels else [])
        ours = {col for col, ids in concept_map.items() if ids & named}
        theirs = {col for col in concept_map if row.get(col, "0").strip() in ("1", "1.0")}
        scores.concepts.add(ours, theirs)
    return scores


def skincap_text_ceiling(rows: Iterable[Mapping[str, str]], ontology: Ontology, concept_map: Mapping[str, set[str]],
                         text_column: str = "caption_zh_polish_en") -> float:
    """The share of SkinCAP's flags whose concept is named in the caption at all (any surface form, negated
    or not, stem match): its flags were set by looking at the image, so this bounds the recall of any
    labeller that reads only the caption, and with it the F1 (2R/(1+R) at perfect precision)."""
    forms = {col: [term_key(f) for i in ids for f in (ontology.concepts[i].name, *ontology.concepts[i].synonyms)]
             for col, ids in concept_map.items()}  # fmt: skip
    flagged = named = 0
    for row in rows:
        if row.get(SKINCAP_SKIP, "0").strip() in ("1", "1.0") or not row.get(text_column, "").strip():
            continue
        words = term_key(row[text_column])
        text = " " + " ".join(words) + " "
        for col in concept_map:
            if row.get(col, "0").strip() in ("1", "1.0"):
                flagged += 1
                named += any(f and f" {' '.join(f)} " in text for f in forms[col])
    return named / flagged if flagged else 0.0
