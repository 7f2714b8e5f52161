"""Import third-party disease ontologies into the project's `Ontology`, to swap or enrich ours.

Two formats are read: Derm1M's released tree (`ontology.json`, a flat parent -> children map with a
"root" key, or `nested_ontology.json`, nested dicts) and OBO 1.2 files such as DermO. Both are
graphs, not the strict tree the pipeline labels with, so the importers make the same three choices:
a node reached along several paths gets one node per path (ids qualified by the parent), the first
`is_a` parent is the tree parent, and anything deeper than `_IMPORT_DEPTH` (Derm1M's four levels below
a top category) is hung under its ancestor one level up, so hierarchical labels keep Derm1M's at most five
names (an imported tree has no groupings below its top categories that a label could leave out). Names are
lowercased and comma-free (labels are comma-joined); Derm1M's "name, synonym, ..." strings become a
name plus synonyms. `write_conditions_yaml` saves the result in the format `Ontology.load` reads.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ontology import MAX_LABEL_NAMES, Condition, Ontology, OntologyError, default_ontology

_SLUG_RE = re.compile(r"[^a-z0-9]+")
_ABBREVIATION_RE = re.compile(r"^(?=(?:[^A-Z]*[A-Z]){2})[A-Za-z0-9-]{2,8}$")  # "BCC", "PsV": 2+ capitals
_OBO_SYNONYM_RE = re.compile(r'^"((?:[^"\\]|\\.)*)"\s+(EXACT|RELATED|BROAD|NARROW)\b')
_IMPORT_DEPTH = MAX_LABEL_NAMES - 1  # deepest level of an imported tree (top categories are level 0)
_CODE_PREFIXES = {"SNOMEDCT": "snomedct", "ICD10": "icd10", "ICD11": "icd11", "DOID": "doid", "OMIM": "omim"}


def _clean(label: str) -> str:
    """Lowercase, comma-free, single-spaced: the form `Condition.name` accepts."""
    return " ".join(label.replace(",", " ").replace("’", "'").lower().split())


def _slug(text: str) -> str:
    slug = _SLUG_RE.sub("_", text.lower()).strip("_") or "node"
    return slug if slug[0].isalpha() else f"n_{slug}"


@dataclass
class _Node:
    key: str  # the source's identifier (Derm1M label string or OBO id)
    name: str
    synonyms: list[str] = field(default_factory=list)
    abbreviations: list[str] = field(default_factory=list)
    codes: dict[str, str] = field(default_factory=dict)
    slug: str = ""  # id stem; the name's slug when empty


def _build_tree(
    nodes: dict[str, _Node],
    children: dict[str, list[str]],
    roots: list[str],
    grouping: set[str],
    version: str,
    ontology: Ontology | None,
) -> Ontology:
    """Walk from the roots, one Condition per path; ids are slugs, parent-qualified on collision."""
    out: dict[str, Condition] = {}

    def add(key: str, parent_id: str | None, depth: int) -> str:
        node = nodes[key]
        base = node.slug or _slug(node.name)
        node_id = base if base not in out else f"{parent_id}_{base}"
        suffix = 2
        while node_id in out:
            node_id, suffix = f"{parent_id}_{base}_{suffix}", suffix + 1
        names = {node.name}
        out[node_id] = Condition(
            id=node_id, name=node.name, parent=parent_id, grouping=key in grouping or depth == 0,
            synonyms=tuple(dict.fromkeys(s for s in node.synonyms if s.lower() not in names)),
            abbreviations=tuple(dict.fromkeys(node.abbreviations)), codes=node.codes,
        )  # fmt: skip
        return node_id

    def walk(key: str, parent_id: str | None, depth: int, path: tuple[str, ...]) -> None:
        node_id = add(key, parent_id, depth)
        for child in children.get(key, []):
            if child in path:
                raise OntologyError(f"cycle in source ontology: {' -> '.join([*path, key, child])}")
            if depth + 1 <= _IMPORT_DEPTH:
                walk(child, node_id, depth + 1, (*path, key))
            else:  # flatten: the deep node becomes a sibling of its depth-_IMPORT_DEPTH ancestor
                walk(child, out[node_id].parent, depth, (*path, key))

    for root in roots:
        walk(root, None, 0, ())
    concepts = (ontology or default_ontology()).concepts.values()
    return Ontology(out.values(), concepts, version=version)


def _split_derm1m_label(label: str) -> _Node:
    """ "Angioma, Hemangioma" -> name "angioma", synonym "hemangioma"; "Psoriasis (plaque)" keeps the
    parenthesis in the name and adds the bare words as a synonym."""
    parts = [p for p in (_clean(part) for part in label.split(",")) if p]
    if not parts:
        raise OntologyError(f"empty label {label!r} in Derm1M ontology")
    synonyms = parts[1:]
    bare = _clean(re.sub(r"\(.*?\)", " ", parts[0]))
    if bare and bare != parts[0]:
        synonyms.append(bare)
    abbreviations = [tok for tok in label.replace(",", " ").split() if _ABBREVIATION_RE.match(tok)]
    return _Node(label, parts[0], synonyms, abbreviations)


def _derm1m_graph(data: Any) -> tuple[dict[str, list[str]], list[str]]:
    if isinstance(data, dict) and "root" in data and all(isinstance(v, list) for v in data.values()):
        return {k: [str(c) for c in v] for k, v in data.items() if k != "root"}, [
            str(r) for r in data["root"]
        ]
    if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), dict):
        children: dict[str, list[str]] = {}

        def flatten(tree: dict[str, Any]) -> None:
            for key, sub in tree.items():
                if not isinstance(sub, dict):
                    raise OntologyError(f"nested ontology node {key!r} is not a mapping")
                children.setdefault(key, [])
                children[key] += [c for c in sub if c not in children[key]]
                flatten(sub)

        top = next(iter(data.values()))
        flatten(top)
        return children, list(top)
    raise OntologyError(
        "not a Derm1M ontology: expected {'root': [...], parent: [children]} or one nested root"
    )


def load_derm1m_ontology(path: str | Path, ontology: Ontology | None = None) -> Ontology:
    """Derm1M's `ontology.json` or `nested_ontology.json` as an `Ontology`; concepts come from
    `ontology` (default: ours). Top categories and nodes shared by several parents that have
    children ("melanocytic") are groupings, every other node a diagnosis."""
    raw = Path(path).read_bytes()
    try:
        children, roots = _derm1m_graph(json.loads(raw))
    except json.JSONDecodeError as exc:
        raise OntologyError(f"{path}: invalid JSON: {exc}") from exc
    labels = set(roots) | set(children) | {c for cs in children.values() for c in cs}
    nodes = {label: _split_derm1m_label(label) for label in labels}
    parents: dict[str, int] = {}
    for kids in children.values():
        for kid in kids:
            parents[kid] = parents.get(kid, 0) + 1
    grouping = {k for k, n in parents.items() if n > 1 and children.get(k)}
    return _build_tree(nodes, children, roots, grouping, "derm1m-" + _digest(raw), ontology)


@dataclass
class OboTerm:
    id: str
    name: str
    parents: list[str] = field(default_factory=list)  # is_a targets, in file order
    synonyms: list[tuple[str, str]] = field(default_factory=list)  # (text, scope)
    xrefs: list[str] = field(default_factory=list)
    obsolete: bool = False


def parse_obo(path: str | Path) -> dict[str, OboTerm]:
    """[Term] stanzas of an OBO 1.2 file by id (other stanzas and tags are ignored)."""
    terms: dict[str, OboTerm] = {}
    current: OboTerm | None = None
    in_term = False
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if line.startswith("["):
            in_term = line == "[Term]"
            current = None
            continue
        if not in_term or not line or line.startswith("!") or ":" not in line:
            continue
        tag, _, value = line.partition(":")
        value = re.sub(r"\s+!.*$", "", value.strip()) if tag in ("is_a", "alt_id") else value.strip()
        if tag == "id":
            current = terms.setdefault(value, OboTerm(value, ""))
        elif current is None:
            raise OntologyError(f"{path}:{lineno}: tag {tag!r} before the stanza's id")
        elif tag == "name":
            current.name = value
        elif tag == "is_a":
            current.parents.append(value.split()[0])
        elif tag == "synonym" and (match := _OBO_SYNONYM_RE.match(value)):
            current.synonyms.append((match.group(1).replace('\\"', '"'), match.group(2)))
        elif tag == "xref":
            current.xrefs.append(value.split()[0])
        elif tag == "is_obsolete":
            current.obsolete = value == "true"
    return terms


def _obo_node(term: OboTerm) -> _Node:
    exact = [text for text, scope in term.synonyms if scope == "EXACT"]
    node = _Node(term.id, _clean(term.name) or term.id.lower(),
                 [_clean(s) for s in exact if not _ABBREVIATION_RE.match(s) and _clean(s)],
                 [s for s in exact if _ABBREVIATION_RE.match(s)], slug=_slug(term.id))  # fmt: skip
    for xref in term.xrefs:
        prefix, _, code = xref.partition(":")
        key = next((v for k, v in _CODE_PREFIXES.items() if prefix.upper().startswith(k)), None)
        if key and code and key not in node.codes:
            node.codes[key] = xref if key == "doid" else code
    return node


def load_obo_ontology(
    path: str | Path, root: str | None = None, ontology: Ontology | None = None
) -> Ontology:
    """An OBO file (e.g. DermO) as an `Ontology`. With `root`, that term's children are the top
    categories (DermO: "DERMO:0000001", cutaneous disease); without, the parentless terms are.
    Obsolete terms are dropped; the first live `is_a` parent is the tree parent."""
    raw = Path(path).read_bytes()
    terms = {tid: t for tid, t in parse_obo(path).items() if not t.obsolete and t.name}
    children: dict[str, list[str]] = {}
    for term in terms.values():
        parent = next((p for p in term.parents if p in terms), None)
        if parent is not None:
            children.setdefault(parent, []).append(term.id)
    if root is not None:
        if root not in terms:
            raise OntologyError(f"root {root!r} is not a live term of {path}")
        roots = children.get(root, [])
    else:
        roots = [t.id for t in terms.values() if not any(p in terms for p in t.parents)]
    nodes = {tid: _obo_node(t) for tid, t in terms.items()}
    return _build_tree(nodes, children, roots, set(), "obo-" + _digest(raw), ontology)


def _key(text: str) -> str:
    return " ".join(re.sub(r"[-‐]", " ", text.casefold()).split())


def enrich_with_obo(ontology: Ontology, terms: dict[str, OboTerm]) -> tuple[Ontology, dict[str, str]]:
    """Our ontology plus the OBO terms' EXACT synonyms and codes, for conditions whose name or synonym
    equals an OBO name or synonym. A synonym that is already another node's surface form is skipped,
    so enrichment never creates ambiguity. Returns the new ontology and condition id -> OBO id."""
    owner: dict[str, str] = {}
    for surface in ontology.terms("conditions"):
        owner.setdefault(_key(surface.surface), surface.node_id)
    matched: dict[str, str] = {}
    for term in terms.values():
        if term.obsolete or not term.name:
            continue
        hits = {owner[k] for k in (_key(term.name), *(_key(s) for s, scope in term.synonyms if scope == "EXACT"))
                if k in owner}  # fmt: skip
        if len(hits) == 1:
            matched.setdefault(hits.pop(), term.id)
    updated = []
    for cond in ontology.conditions.values():
        if cond.id not in matched:
            updated.append(cond)
            continue
        node = _obo_node(terms[matched[cond.id]])
        new = [s for s in (node.name, *node.synonyms) if owner.setdefault(_key(s), cond.id) == cond.id]
        known = {_key(s) for s in (cond.name, *cond.synonyms, *cond.lay_terms, *cond.abbreviations)}
        synonyms = (*cond.synonyms, *dict.fromkeys(s for s in new if _key(s) not in known))
        codes = {**node.codes, **cond.codes, "dermo": matched[cond.id]}
        updated.append(cond.model_copy(update={"synonyms": synonyms, "codes": codes}))
    version = f"{ontology.version}+obo{len(matched)}"
    return Ontology(updated, ontology.concepts.values(), version=version), matched


def enrichment_counts(before: Ontology, after: Ontology, matched: dict[str, str]) -> dict[str, int]:
    """What `enrich_with_obo` added: nodes matched, codes per scheme, synonyms (for the CLI's report)."""
    counts = {"conditions": len(before.conditions), "matched": len(matched), "synonyms_added": 0}
    for cid, cond in after.conditions.items():
        old = before.conditions[cid]
        counts["synonyms_added"] += len(cond.synonyms) - len(old.synonyms)
        for scheme in set(cond.codes) - set(old.codes):
            counts[f"codes_{scheme}"] = counts.get(f"codes_{scheme}", 0) + 1
    return counts


def write_conditions_yaml(ontology: Ontology, path: str | Path) -> None:
    """The condition tree in `conditions.yaml`'s nested format, for `Ontology.load(conditions_path=...)`."""

    def entry(cond: Condition) -> dict[str, Any]:
        data = cond.model_dump(exclude={"parent"}, exclude_defaults=True)
        data = {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}
        kids = [entry(child) for child in ontology.children(cond.id)]
        return {**data, "children": kids} if kids else data

    tree = [entry(top) for top in ontology.children(None)]
    Path(path).write_text(yaml.safe_dump(tree, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _digest(raw: bytes) -> str:
    import hashlib

    return hashlib.sha256(raw).hexdigest()[:12]


def main(argv: list[str] | None = None) -> int:
    """`python -m ontology.importers enrich --obo PATH [--write FILE]`: codes and synonyms from a user's OBO
    file (e.g. DermO) onto our nodes by exact name/synonym match, with the counts. Runtime only: the
    packaged YAML is never rewritten, so nothing derived from a third-party file lands in the repository."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m ontology.importers", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    enrich = sub.add_parser("enrich", help="add an OBO file's codes and EXACT synonyms to our conditions")
    enrich.add_argument("--obo", type=Path, required=True, help="the OBO file (e.g. DermO's dermatology.obo)")
    enrich.add_argument("--write", type=Path, help="save the enriched condition tree here (YAML)")
    args = parser.parse_args(argv)
    if not args.obo.is_file():
        parser.exit(2, f"error: {args.obo}: no such file\n")
    ours = default_ontology()
    try:
        enriched, matched = enrich_with_obo(ours, parse_obo(args.obo))
    except (OntologyError, UnicodeDecodeError) as exc:
        parser.exit(2, f"error: {args.obo}: {exc}\n")
    for key, value in enrichment_counts(ours, enriched, matched).items():
        print(f"{key:<16} {value}")
    if args.write:
        write_conditions_yaml(enriched, args.write)
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
