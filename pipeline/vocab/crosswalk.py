"""A crosswalk from the project's condition tree to Derm1M's released ontology, so labels merge.

Users merge this corpus with Derm1M and compare models with DermLIP/MAKE, which read Derm1M's label
strings: `hierarchical_disease_label` is the lowercased path of Derm1M node keys from its top category
down ("nail diseases, nail disease, onychomycosis"; a key lists a node's name and synonyms joined by
", "). Derm1M's file is the user's (CC BY-NC); `ExternalOntology.load` reads either release form:
`nested_ontology.json` (nested dicts, one node per path: preferred) or `ontology.json` (a flat parent
-> children map with a "root" list; a child listed under two parents is one node per path, and the two
"melanocytic" keys, which the flat form merges, then carry each other's children).

A few project nodes map by a curated entry (ontology/crosswalks/derm1m.yaml: erysipelas -> Derm1M's
cellulitis, and the like, each with its reason). Each other project node maps to the Derm1M node that names it (a shared surface form after the matcher's
normalisation; ties go to the node whose name is ours, then to the one whose path shares most names with
our lineage), else to what its nearest mapped ancestor maps to ("ancestor": acral lentiginous melanoma ->
Derm1M's melanoma), else nowhere. `CrosswalkReport` counts both directions.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping as MappingType
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ontology import Ontology
from pipeline.vocab.lexical import term_key

CURATED = Path(__file__).resolve().parents[2] / "ontology" / "crosswalks" / "derm1m.yaml"
_PAREN = re.compile(r"\((.*?)\)")
_WRAPPERS = ("Root Ontology", "root")


def _surfaces(key: str) -> list[str]:
    """ "Actinic solar damage(actinic keratosis), Actinic keratosis" -> every name it holds; "Psoriasis
    (plaque)" also reads as "plaque psoriasis"."""
    out: list[str] = []
    for part in (p.strip() for p in key.split(",")):
        if not part:
            continue
        out.append(part)
        if inner := _PAREN.findall(part):
            out.extend(i.strip() for i in inner if i.strip())
            outer = " ".join(_PAREN.sub(" ", part).split())
            if outer:
                out.append(outer)
                out.extend(f"{i.strip()} {outer}" for i in inner if i.strip())  # "Psoriasis (plaque)"
        if "/" in part:
            out.extend(p.strip() for p in part.split("/") if p.strip())
    return out


@dataclass(frozen=True)
class ExternalNode:
    key: str  # the release's own string, e.g. "Nail diseases, nail disease"
    path: tuple[str, ...]  # keys from the top category down, this node last

    @property
    def label(self) -> str:
        """This node's name in Derm1M's label columns (lowercase key, no stray comma)."""
        return self.key.strip().strip(",").strip().lower()

    @property
    def hierarchical_label(self) -> str:
        return ", ".join(k.strip().strip(",").strip().lower() for k in self.path)


@dataclass
class ExternalOntology:
    nodes: list[ExternalNode]
    version: str  # sha256 prefix of the file: labels written through it are keyed on it
    source: str = ""
    _by_term: dict[tuple[str, ...], list[int]] = field(default_factory=dict, repr=False)
    _by_path: dict[tuple[str, ...], int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for i, node in enumerate(self.nodes):
            self._by_path[node.path] = i
            for surface in (node.key, *_surfaces(node.key)):
                key = term_key(surface)
                if key and i not in self._by_term.setdefault(key, []):
                    self._by_term[key].append(i)

    @classmethod
    def load(cls, path: str | Path) -> ExternalOntology:
        raw_bytes = Path(path).read_bytes()
        try:
            raw = json.loads(raw_bytes)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: not a JSON ontology ({exc})") from exc
        nodes = _from_nested(raw) if _is_nested(raw) else _from_flat(raw, str(path))
        if not nodes:
            raise ValueError(f"{path}: no ontology nodes found")
        return cls(nodes, hashlib.sha256(raw_bytes).hexdigest()[:12], str(path))

    def find(self, text: str) -> list[ExternalNode]:
        """The nodes a label string names: the whole string first, else each comma-separated part."""
        hits = self._by_term.get(term_key(text))
        if hits:
            return [self.nodes[i] for i in hits]
        found: list[ExternalNode] = []
        for part in (p.strip() for p in text.split(",")):
            for i in self._by_term.get(term_key(part), []) if part else []:
                if self.nodes[i] not in found:
                    found.append(self.nodes[i])
        return found

    def candidates(self, surface: str) -> list[ExternalNode]:
        return [self.nodes[i] for i in self._by_term.get(term_key(surface), [])]

    def parent(self, node: ExternalNode) -> ExternalNode | None:
        i = self._by_path.get(node.path[:-1]) if len(node.path) > 1 else None
        return self.nodes[i] if i is not None else None

    def is_ancestor(self, ancestor: ExternalNode, node: ExternalNode) -> bool:
        return len(ancestor.path) < len(node.path) and node.path[: len(ancestor.path)] == ancestor.path


def _is_nested(raw: Any) -> bool:
    if not isinstance(raw, dict):
        return False
    if "root" in raw and isinstance(raw["root"], list):
        return False
    return all(isinstance(v, dict) for v in raw.values())


def _from_nested(raw: dict[str, Any]) -> list[ExternalNode]:
    if len(raw) == 1 and next(iter(raw)) in _WRAPPERS:
        raw = next(iter(raw.values()))
    out: list[ExternalNode] = []

    def walk(tree: dict[str, Any], path: tuple[str, ...]) -> None:
        for key, children in tree.items():
            here = (*path, key)
            out.append(ExternalNode(key, here))
            walk(children if isinstance(children, dict) else {}, here)

    walk(raw, ())
    return out


def _from_flat(raw: Any, where: str) -> list[ExternalNode]:
    if not isinstance(raw, dict) or not isinstance(raw.get("root"), list):
        raise ValueError(f"{where}: expected nested dicts or a parent -> children map with a 'root' list")
    out: list[ExternalNode] = []

    def walk(key: str, path: tuple[str, ...]) -> None:
        if key in path:  # a cycle in a user file: stop rather than recurse forever
            return
        here = (*path, key)
        out.append(ExternalNode(key, here))
        for child in raw.get(key) or []:
            if isinstance(child, str):
                walk(child, here)

    for top in raw["root"]:
        if isinstance(top, str):
            walk(top, ())
    return out


@dataclass(frozen=True)
class NodeMapping:
    node: ExternalNode | None
    how: str  # curated | exact | ancestor | none


@dataclass
class CrosswalkReport:
    ours_total: int
    ours_curated: int
    ours_exact: int
    ours_ancestor: int
    ours_unmapped: list[str]
    theirs_total: int  # distinct Derm1M node keys (the flat release repeats some under two parents)
    theirs_reached: int
    theirs_unreached: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "project_nodes": self.ours_total, "project_curated": self.ours_curated, "project_exact": self.ours_exact,
            "project_via_ancestor": self.ours_ancestor, "project_unmapped": len(self.ours_unmapped),
            "derm1m_nodes": self.theirs_total, "derm1m_reached": self.theirs_reached,
            "derm1m_unreached": len(self.theirs_unreached),
            "derm1m_unreached_examples": self.theirs_unreached[:25],
        }  # fmt: skip

    def summary(self) -> str:
        return (f"project -> Derm1M: {self.ours_exact}/{self.ours_total} nodes by name, {self.ours_curated} curated, "
                f"{self.ours_ancestor} "
                f"through an ancestor, {len(self.ours_unmapped)} unmapped; Derm1M -> project: "
                f"{self.theirs_reached}/{self.theirs_total} Derm1M nodes named by a project node")  # fmt: skip


class Crosswalk:
    """Project condition id -> Derm1M node, built once per (ontology, Derm1M file)."""

    def __init__(
        self, ontology: Ontology, theirs: ExternalOntology, curated: MappingType[str, str] | None = None
    ) -> None:
        self.ontology, self.theirs = ontology, theirs
        self.curated: dict[str, ExternalNode] = {}
        self.curated_missing: list[str] = []
        for cid, key in (curated or {}).items():
            hits = [n for n in theirs.nodes if n.key.strip() == str(key).strip()]
            if cid in ontology.conditions and hits:
                self.curated[cid] = min(hits, key=lambda n: len(n.path))
            else:
                self.curated_missing.append(f"{cid} -> {key}")
        self.map: dict[str, NodeMapping] = {}
        for cid in sorted(ontology.conditions, key=ontology.depth):
            self.map[cid] = self._map(cid)

    @property
    def version(self) -> str:
        curated = hashlib.sha256(
            json.dumps({k: v.path for k, v in self.curated.items()}, sort_keys=True).encode()
        )
        return f"{self.ontology.version}:{self.theirs.version}:{curated.hexdigest()[:8]}"

    def _map(self, cid: str) -> NodeMapping:
        if cid in self.curated:
            return NodeMapping(self.curated[cid], "curated")
        cond = self.ontology.conditions[cid]
        found: list[ExternalNode] = []
        for surface in (cond.name, *cond.synonyms, *cond.lay_terms, *cond.abbreviations):
            for node in self.theirs.candidates(surface):
                if node not in found:
                    found.append(node)
        if found:
            lineage = {term_key(n.name) for n in self.ontology.lineage(cid)[:-1]}
            name = term_key(cond.name)

            def rank(node: ExternalNode) -> tuple[int, int, int]:
                forms = [term_key(s) for s in _surfaces(node.key)]
                own = 2 if forms and forms[0] == name else int(name in forms)
                shared = sum(any(term_key(s) in lineage for s in _surfaces(k)) for k in node.path[:-1])
                return (-own, -shared, len(node.path))

            return NodeMapping(min(found, key=rank), "exact")
        if cond.parent is not None and (up := self.map.get(cond.parent)) and up.node is not None:
            return NodeMapping(up.node, "ancestor")
        return NodeMapping(None, "none")

    def node(self, condition_id: str) -> ExternalNode | None:
        mapping = self.map.get(condition_id)
        return mapping.node if mapping else None

    def report(self) -> CrosswalkReport:
        reached = {
            m.node.label for m in self.map.values() if m.how in ("exact", "curated") and m.node is not None
        }
        keys = list(dict.fromkeys(n.label for n in self.theirs.nodes))
        return CrosswalkReport(
            ours_total=len(self.map),
            ours_curated=sum(m.how == "curated" for m in self.map.values()),
            ours_exact=sum(m.how == "exact" for m in self.map.values()),
            ours_ancestor=sum(m.how == "ancestor" for m in self.map.values()),
            ours_unmapped=sorted(cid for cid, m in self.map.items() if m.how == "none"),
            theirs_total=len(keys), theirs_reached=len(reached),
            theirs_unreached=[k for k in keys if k not in reached],
        )  # fmt: skip


def load_crosswalk(
    ontology: Ontology, derm1m_ontology: str | Path, curated: Path | None = CURATED
) -> Crosswalk:
    """The crosswalk to the user's Derm1M file, with the project's curated entries (None: without)."""
    entries = yaml.safe_load(curated.read_text()) if curated is not None and curated.exists() else {}
    return Crosswalk(ontology, ExternalOntology.load(derm1m_ontology), entries or {})
