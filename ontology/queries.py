"""Search queries generated from the ontology, so the YouTube crawl covers every condition we label.

One query per diagnosable condition name ("<name> dermatology", which steers search results towards
clinical content), plus one per lay term ("<lay term> skin") because patient-facing videos use lay words.
The list is deterministic (file order), so a rerun plans the same units.
"""

from __future__ import annotations

from ontology import Ontology, default_ontology


def youtube_queries(onto: Ontology | None = None) -> list[str]:
    onto = onto or default_ontology()
    out: list[str] = []
    for cond in onto.conditions.values():
        if cond.grouping:
            continue
        out.append(f"{cond.name} dermatology")
        out.extend(f"{lay} skin" for lay in cond.lay_terms)
    return list(dict.fromkeys(out))


def main() -> None:
    """Print the query list (`python -m ontology.queries`), e.g. to review it or paste it into a profile."""
    for q in youtube_queries():
        print(q)


if __name__ == "__main__":
    main()
