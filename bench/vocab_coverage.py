"""`python -m bench.vocab_coverage`: how much of the field's vocabulary the ontology and the matcher cover.

The lists in bench/vocabularies/ are the condition names of public dermatology datasets and references
(Fitzpatrick17k, DDI, SD-198, HAM10000, ISIC, ...; see its README), written by the project from their
public class lists. For every name it measures, per list and overall:

- covered: the name is a surface form of some ontology node after the matcher's normalisation
  (`term_key`; abbreviations compare case-sensitively, as the matcher reads them; a grouping's name or
  synonym counts, since the matcher names a taxonomy bucket such as "vascular lesions" as a last resort);
- named: `LexicalMatcher(onto).label("Clinical photograph of <name>.")` names a condition at all;
- right: the condition it names first is the list's expected node id, or, where the list gives none, a
  node whose surface form the name is.

Rows whose `level` is `group` (ICD-11 block titles) are a checklist of the tree's branches: they count
for coverage against grouping nodes only and are left out of named/right (a photograph of "inflammatory
dermatoses" has no diagnosis). Results go to bench/results/vocab_coverage.json with every failure, so a
miss can be traced to the ontology (no surface form) or to the matcher (a surface form the text does not
reach).

Held-out check: the lists above were written by the engineer who extended the ontology, so they are also
measured on names nobody here wrote, read at run time from the fixtures (DERM_FIXTURES, default
../shared/fixtures; skipped when absent): the node names of Derm1M's released ontology and the disease
names of the SkinCAP dev rows. Only their counts are written to the results (the names are the datasets',
CC BY-NC); "right" there is over the covered names (the node the name is a surface form of).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ontology import Ontology, default_ontology
from pipeline.vocab.lexical import LexicalMatcher, term_key

REPO = Path(__file__).resolve().parents[1]
VOCAB_DIR = REPO / "bench" / "vocabularies"
TEMPLATE = "Clinical photograph of {}."


@dataclass(frozen=True)
class VocabRow:
    source: str
    name: str
    expected_id: str = ""
    level: str = "diagnosis"  # "diagnosis" | "group"


@dataclass
class ListScore:
    source: str
    n: int = 0  # diagnosis rows (named/right denominators)
    covered: int = 0
    named: int = 0
    right: int = 0
    groups: int = 0
    groups_covered: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)

    def fractions(self) -> dict[str, float]:
        n = self.n or 1
        return {"covered": self.covered / n, "named": self.named / n, "right": self.right / n}


def load_vocabulary(path: Path) -> list[VocabRow]:
    """One list: a CSV with `name`, optional `expected_id` and `level`; blank names are skipped."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "name" not in reader.fieldnames:
            raise ValueError(f"{path}: needs a 'name' column")
        rows = []
        for rec in reader:
            name = (rec.get("name") or "").strip()
            if name:
                level = (rec.get("level") or "").strip() or "diagnosis"
                rows.append(VocabRow(path.stem, name, (rec.get("expected_id") or "").strip(), level))
        return rows


def load_vocabularies(folder: Path = VOCAB_DIR) -> dict[str, list[VocabRow]]:
    return {p.stem: load_vocabulary(p) for p in sorted(folder.glob("*.csv"))}


class _Surfaces:
    """Normalised surface form -> owning node ids, for diagnosable nodes and (separately) groupings."""

    def __init__(self, onto: Ontology) -> None:
        self.folded: dict[tuple[str, ...], set[str]] = {}
        self.exact: dict[str, set[str]] = {}
        self.groups: dict[tuple[str, ...], set[str]] = {}
        for term in onto.terms("conditions"):
            if term.kind == "abbreviation":
                self.exact.setdefault(term.surface, set()).add(term.node_id)
            else:
                self.folded.setdefault(term_key(term.surface), set()).add(term.node_id)
        for cond in onto.conditions.values():
            if cond.grouping:
                for surface in (cond.name, *cond.synonyms):
                    self.groups.setdefault(term_key(surface), set()).add(cond.id)

    def owners(self, name: str) -> set[str]:
        key = term_key(name)
        return self.folded.get(key, set()) | self.exact.get(name.strip(), set()) | self.groups.get(key, set())


def score_list(rows: Iterable[VocabRow], onto: Ontology, matcher: LexicalMatcher,
               surfaces: _Surfaces | None = None) -> ListScore:  # fmt: skip
    surfaces = surfaces or _Surfaces(onto)
    rows = list(rows)
    score = ListScore(rows[0].source if rows else "")
    for row in rows:
        if row.level == "group":
            score.groups += 1
            known = surfaces.owners(row.name)
            score.groups_covered += bool(known)
            if not known:
                score.failures.append({"name": row.name, "why": "group not covered"})
            continue
        score.n += 1
        owners = surfaces.owners(row.name)
        labels = matcher.label(TEMPLATE.format(row.name))
        got = labels.condition_ids[0] if labels.condition_ids else ""
        if row.expected_id and row.expected_id not in onto.conditions:
            wanted: set[str] = set()
            why = f"expected id {row.expected_id!r} is not in the ontology"
        else:
            wanted = {row.expected_id} if row.expected_id else owners
            why = ""
        ok = bool(got) and got in wanted
        score.covered += bool(owners)
        score.named += bool(got)
        score.right += ok
        if not ok or not owners:
            why = why or ("no surface form" if not owners else "not named" if not got else "wrong node")
            score.failures.append({"name": row.name, "expected": row.expected_id or "|".join(sorted(owners)),
                                   "got": got, "covered": str(bool(owners)), "why": why})  # fmt: skip
    return score


def run(onto: Ontology | None = None, folder: Path = VOCAB_DIR) -> tuple[dict[str, ListScore], ListScore]:
    onto = onto or default_ontology()
    matcher, surfaces = LexicalMatcher(onto), _Surfaces(onto)
    per_list = {
        name: score_list(rows, onto, matcher, surfaces) for name, rows in load_vocabularies(folder).items()
    }
    total = ListScore("overall")
    for s in per_list.values():
        for attr in ("n", "covered", "named", "right", "groups", "groups_covered"):
            setattr(total, attr, getattr(total, attr) + getattr(s, attr))
    return per_list, total


def held_out_lists(fixtures: Path) -> dict[str, list[VocabRow]]:
    """Names nobody on the project wrote, from the fixtures in place (empty when they are absent)."""
    lists: dict[str, list[VocabRow]] = {}
    derm1m = fixtures / "derm1m" / "ontology.json"
    if derm1m.is_file():
        tree = json.loads(derm1m.read_text(encoding="utf-8"))
        keys = {str(k) for k in tree.get("root", [])} | {str(k) for k in tree if k != "root"}
        keys |= {str(c) for k, v in tree.items() if k != "root" for c in v}
        names = sorted({k.split(",")[0].strip() for k in keys} - {""})
        lists["derm1m_ontology"] = [VocabRow("derm1m_ontology", n) for n in names]
    skincap = fixtures / "skincap" / "skincap_dev.csv"
    if skincap.is_file():
        with skincap.open(newline="", encoding="utf-8") as fh:
            names = sorted({(r.get("disease") or "").strip() for r in csv.DictReader(fh)} - {""})
        lists["skincap_diseases"] = [VocabRow("skincap_diseases", n) for n in names]
    return lists


def _line(score: ListScore) -> str:
    f = score.fractions()
    groups = f"  groups {score.groups_covered}/{score.groups}" if score.groups else ""
    return (f"{score.source:<16} n={score.n:<4} covered {f['covered']:.3f}  named {f['named']:.3f}  "
            f"right {f['right']:.3f}{groups}")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocabularies", type=Path, default=VOCAB_DIR)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "vocab_coverage.json")
    parser.add_argument("--failures", type=int, default=0, help="print up to N failures per list")
    args = parser.parse_args(argv)
    onto = default_ontology()
    per_list, total = run(onto, args.vocabularies)
    print(f"ontology {onto.version}: {len(onto.conditions)} condition nodes; template {TEMPLATE!r}")
    for score in per_list.values():
        print(_line(score))
        for fail in score.failures[: args.failures]:
            print(f"    {fail}")
    print(_line(total))
    fixtures = Path(os.environ.get("DERM_FIXTURES", REPO.parent / "shared" / "fixtures"))
    held_out = held_out_lists(fixtures)
    if not held_out:
        print(f"held-out lists skipped: no Derm1M ontology or SkinCAP rows under {fixtures}")
    matcher, surfaces = LexicalMatcher(onto), _Surfaces(onto)
    held: dict[str, dict[str, float | int]] = {}
    for name, rows in held_out.items():
        score = score_list(rows, onto, matcher, surfaces)
        n = score.n or 1
        held[name] = {"n": score.n, "covered": score.covered / n, "named": score.named / n,
                      "right_of_covered": score.right / (score.covered or 1)}  # fmt: skip
        print(f"held-out {name:<16} n={score.n:<4} covered {held[name]['covered']:.3f}  named "
              f"{held[name]['named']:.3f}  right (of covered) {held[name]['right_of_covered']:.3f}")  # fmt: skip
        for fail in score.failures[: args.failures]:
            print(f"    {fail}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "ontology_version": onto.version, "conditions": len(onto.conditions), "template": TEMPLATE,
        "overall": {**total.fractions(), "n": total.n, "groups": total.groups,
                    "groups_covered": total.groups_covered},
        "lists": {name: {**s.fractions(), **{k: v for k, v in asdict(s).items() if k != "source"}}
                  for name, s in per_list.items()},
        "held_out": held,
    }  # fmt: skip
    args.out.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")


if __name__ == "__main__":
    main()
