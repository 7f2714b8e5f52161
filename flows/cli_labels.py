"""`derm1m crosswalk`: how the project's ontology maps onto a Derm1M ontology file, each way.

Users who merge this corpus with Derm1M or compare with DermLIP/MAKE need to know which labels carry over
before they set `augment.label_names: derm1m`: the counts, and per project node the Derm1M path it is written as
and how it got there (curated, by name, through an ancestor).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

__all__ = ["cmd_crosswalk", "register"]


def register(sub: Any) -> None:
    """Add the subcommand to `derm1m`'s subparsers."""
    p = sub.add_parser("crosswalk", help="map the project ontology onto Derm1M's ontology file; counts each way")
    p.add_argument("derm1m_ontology", help="Derm1M's nested_ontology.json or ontology.json (your copy)")
    p.add_argument("--csv", help="write one row per project node: id, project path, Derm1M path, how")
    p.add_argument("--json", action="store_true", help="print the counts as JSON")
    p.set_defaults(fn=cmd_crosswalk)


def cmd_crosswalk(args: argparse.Namespace) -> int:
    from ontology import Ontology
    from pipeline.vocab.crosswalk import load_crosswalk

    onto = Ontology.load()
    try:
        walk = load_crosswalk(onto, args.derm1m_ontology)
    except (OSError, ValueError) as exc:
        print(f"derm1m crosswalk: {exc}", file=sys.stderr)
        return 2
    report = walk.report()
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            out.writerow(["condition_id", "project_label", "derm1m_label", "how"])
            for cid, mapping in walk.map.items():
                out.writerow([cid, onto.hierarchical_label(cid),
                              mapping.node.hierarchical_label if mapping.node else "", mapping.how])  # fmt: skip
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(report.summary())
        if walk.curated_missing:
            print("curated entries not in this file: " + "; ".join(walk.curated_missing))
        if report.theirs_unreached:
            shown = ", ".join(report.theirs_unreached[:15])
            print(f"Derm1M nodes no project node names ({len(report.theirs_unreached)}): {shown}"
                  + (", ..." if len(report.theirs_unreached) > 15 else ""))  # fmt: skip
    return 0
