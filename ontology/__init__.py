"""The project's dermatology ontology: a condition tree plus a controlled concept vocabulary.

The data lives in YAML next to this file so clinicians can review and extend it without touching
code. Every label the pipeline writes (disease labels, hierarchical labels, concepts, prompt label
lists) is derived from it, so it is validated on load and fails loudly; its `version` is a content
hash so cached LLM or lexical labels can be keyed on the exact ontology they were made with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DATA_DIR = Path(__file__).resolve().parent
MAX_DEPTH = 5  # levels below a top category (top categories are depth 0); a fifth where the field has one
MAX_LABEL_NAMES = 5  # names in a hierarchical label, as in Derm1M's labels (its tree is 4 levels deep)
VISUAL_CATEGORIES = (
    "primary_morphology",
    "secondary_feature",
    "colour",
    "shape_arrangement",
    "surface_texture",
    "distribution",
    "dermoscopic",
    "artefact",
)
METADATA_CATEGORIES = ("body_site", "symptom")
_ID_PATTERN = r"^[a-z][a-z0-9_]*$"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser makes loading ~10x faster


class OntologyError(ValueError):
    """The ontology data is malformed; raised at load time so no stage runs on a broken tree."""


def _clean_name(value: str) -> str:
    value = " ".join(value.split())
    if not value or value != value.lower() or "," in value:
        raise ValueError(f"name {value!r} must be non-empty lowercase text without commas")
    return value


class Condition(BaseModel):
    """One node of the condition tree; `grouping` nodes are taxonomy buckets, never a diagnosis."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=_ID_PATTERN)
    name: str
    parent: str | None = None
    synonyms: tuple[str, ...] = ()
    abbreviations: tuple[str, ...] = ()
    lay_terms: tuple[str, ...] = ()
    codes: dict[str, str] = Field(default_factory=dict)
    grouping: bool = False
    finding: bool = False  # a descriptive finding (hyperpigmentation): a disease named beside it wins

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return _clean_name(value)


class Concept(BaseModel):
    """A clinical concept (visual feature, artefact) or a metadata term (body site, symptom)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=_ID_PATTERN)
    name: str
    category: str
    synonyms: tuple[str, ...] = ()

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return _clean_name(value)


class Term(NamedTuple):
    surface: str
    kind: str  # "name" | "synonym" | "abbreviation" | "lay_term"
    node_id: str


def _read_yaml(path: Path) -> tuple[Any, bytes]:
    raw = path.read_bytes()
    try:
        return yaml.load(raw, Loader=_LOADER), raw
    except yaml.YAMLError as exc:
        raise OntologyError(f"{path}: invalid YAML: {exc}") from exc


def default_version() -> str:
    """The version Ontology.load() gives the bundled files, without parsing them: what a stage that reads the
    ontology only through a default scorer or corrector puts in its fingerprint."""
    raw = (DATA_DIR / "conditions.yaml").read_bytes() + b"\0" + (DATA_DIR / "concepts.yaml").read_bytes()
    return hashlib.sha256(raw).hexdigest()[:12]


def _flatten(entries: Any, parent: str | None, out: list[dict[str, Any]]) -> None:
    if not isinstance(entries, list):
        raise OntologyError(f"expected a list of condition nodes under {parent or 'the root'}")
    for entry in entries:
        if not isinstance(entry, dict):
            raise OntologyError(f"condition entry under {parent or 'the root'} is not a mapping: {entry!r}")
        node = dict(entry)
        children = node.pop("children", None) or []
        if parent is not None:
            if node.get("parent") not in (None, parent):
                raise OntologyError(
                    f"{node.get('id')}: explicit parent {node['parent']!r} contradicts nesting"
                )
            node["parent"] = parent
        out.append(node)
        _flatten(children, node.get("id"), out)


def _build(model: type[BaseModel], raw: dict[str, Any]) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise OntologyError(f"invalid {model.__name__} {raw.get('id')!r}: {exc}") from exc


class Ontology:
    """Validated conditions and concepts with the lookups the matcher, captions and prompts need."""

    def __init__(
        self, conditions: Iterable[Condition], concepts: Iterable[Concept], version: str = ""
    ) -> None:
        self.conditions: dict[str, Condition] = _unique(conditions, "condition")
        self.concepts: dict[str, Concept] = _unique(concepts, "concept")
        self._version = version
        self._children: dict[str | None, list[str]] = {}
        for cond in self.conditions.values():
            if cond.parent is not None and cond.parent not in self.conditions:
                raise OntologyError(f"condition {cond.id!r} has unknown parent {cond.parent!r}")
            self._children.setdefault(cond.parent, []).append(cond.id)
        self._depth = {cid: self._measure_depth(cid) for cid in self.conditions}
        self._label_path = {cid: self._fit_label(cid) for cid in self.conditions}
        known = set(VISUAL_CATEGORIES) | set(METADATA_CATEGORIES)
        for concept in self.concepts.values():
            if concept.category not in known:
                raise OntologyError(f"concept {concept.id!r} has unknown category {concept.category!r}")

    @classmethod
    def load(
        cls, conditions_path: str | Path | None = None, concepts_path: str | Path | None = None
    ) -> Ontology:
        cond_data, cond_raw = _read_yaml(Path(conditions_path or DATA_DIR / "conditions.yaml"))
        conc_data, conc_raw = _read_yaml(Path(concepts_path or DATA_DIR / "concepts.yaml"))
        flat: list[dict[str, Any]] = []
        _flatten(cond_data or [], None, flat)
        if not isinstance(conc_data or {}, dict):
            raise OntologyError("concepts file must map category -> list of concepts")
        concepts = [
            _build(Concept, {**entry, "category": category})
            for category, entries in (conc_data or {}).items()
            for entry in entries or []
        ]
        version = hashlib.sha256(cond_raw + b"\0" + conc_raw).hexdigest()[:12]
        return cls((_build(Condition, node) for node in flat), concepts, version)

    @property
    def version(self) -> str:
        """Content hash of the source files; changes whenever any label could change."""
        return self._version

    def _measure_depth(self, condition_id: str) -> int:
        seen = [condition_id]
        parent = self.conditions[condition_id].parent
        while parent is not None:
            if parent in seen:
                raise OntologyError(f"cycle in condition tree: {' -> '.join([*seen, parent])}")
            seen.append(parent)
            parent = self.conditions[parent].parent
        depth = len(seen) - 1
        if depth > MAX_DEPTH:
            raise OntologyError(
                f"condition {condition_id!r} is {depth} levels below its top category (max {MAX_DEPTH})"
            )
        return depth

    def _fit_label(self, condition_id: str) -> tuple[str, ...]:
        """The ids a hierarchical label names: the lineage, less the groupings nearest the node while it
        is longer than MAX_LABEL_NAMES (a fifth-level node keeps Derm1M's five names: "proliferations,
        malignant, cutaneous t-cell lymphoma, mycosis fungoides, folliculotropic mycosis fungoides").
        The top category and every diagnosable ancestor stay, so a node too deep to fit is an error."""
        path = [node.id for node in self.lineage(condition_id)]
        for i in range(len(path) - 2, 0, -1):
            if len(path) <= MAX_LABEL_NAMES:
                break
            if self.conditions[path[i]].grouping:
                del path[i]
        if len(path) > MAX_LABEL_NAMES:
            raise OntologyError(
                f"condition {condition_id!r}: its hierarchical label needs {len(path)} names (max "
                f"{MAX_LABEL_NAMES}); only grouping ancestors can be left out of it"
            )
        return tuple(path)

    def depth(self, condition_id: str) -> int:
        return self._depth[condition_id]

    def children(self, condition_id: str | None) -> list[Condition]:
        """Direct children; `None` gives the top categories."""
        return [self.conditions[cid] for cid in self._children.get(condition_id, [])]

    def lineage(self, condition_id: str) -> list[Condition]:
        """The path from the top category down to `condition_id`, root first."""
        chain = [self.conditions[condition_id]]
        while chain[-1].parent is not None:
            chain.append(self.conditions[chain[-1].parent])
        return chain[::-1]

    def is_ancestor(self, ancestor_id: str, condition_id: str) -> bool:
        return any(node.id == ancestor_id for node in self.lineage(condition_id)[:-1])

    def hierarchical_label(self, condition_id: str) -> str:
        """Derm1M format: lowercase names from the top category down, joined by ', ', at most
        MAX_LABEL_NAMES of them (see `_fit_label`; `lineage` keeps every level)."""
        return ", ".join(self.conditions[cid].name for cid in self._label_path[condition_id])

    def condition_names(self, include_groupings: bool = False) -> list[str]:
        """Unique names of diagnosable conditions, in file order (the label list given to LLMs)."""
        names = (c.name for c in self.conditions.values() if include_groupings or not c.grouping)
        return list(dict.fromkeys(names))

    def concepts_in(self, *categories: str) -> list[Concept]:
        wanted = set(categories or VISUAL_CATEGORIES)
        return [c for c in self.concepts.values() if c.category in wanted]

    def concept_names(self, *categories: str) -> list[str]:
        """Names of concepts in `categories` (all visual categories when none are given)."""
        return [c.name for c in self.concepts_in(*categories)]

    def terms(self, of: str = "conditions") -> Iterator[Term]:
        """Every surface form of every non-grouping condition (or every concept) with its node id."""
        if of == "conditions":
            for cond in self.conditions.values():
                if cond.grouping:
                    continue
                yield Term(cond.name, "name", cond.id)
                yield from (Term(s, "synonym", cond.id) for s in cond.synonyms)
                yield from (Term(s, "abbreviation", cond.id) for s in cond.abbreviations)
                yield from (Term(s, "lay_term", cond.id) for s in cond.lay_terms)
        elif of == "concepts":
            for concept in self.concepts.values():
                yield Term(concept.name, "name", concept.id)
                yield from (Term(s, "synonym", concept.id) for s in concept.synonyms)
        else:
            raise ValueError(f"terms(of=...) must be 'conditions' or 'concepts', not {of!r}")

    def ambiguous_terms(self, of: str = "conditions") -> dict[str, list[str]]:
        """Surface forms (case-insensitive) shared by several nodes; flagged for review, not fatal.

        Conditions and concepts are checked separately: a word that is both a diagnosis and a
        morphology (e.g. "scar", "ulcer") is intended. Grouping nodes are skipped because their
        repeated names ("melanocytic" under benign and malignant) are never matched in text.
        """
        owners: dict[str, set[str]] = {}
        for term in self.terms(of):
            owners.setdefault(" ".join(term.surface.casefold().split()), set()).add(term.node_id)
        return {surface: sorted(ids) for surface, ids in sorted(owners.items()) if len(ids) > 1}


def _unique(nodes: Iterable[Any], what: str) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for node in nodes:
        if node.id in table:
            raise OntologyError(f"duplicate {what} id {node.id!r}")
        table[node.id] = node
    return table


@lru_cache(maxsize=1)
def default_ontology() -> Ontology:
    """The packaged ontology, loaded once per process (it is immutable)."""
    return Ontology.load()
