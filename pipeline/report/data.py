"""The numbers behind the corpus report, read from the warehouse views (migration 0016) and the ontology.

One query per figure, mirroring Derm1M's Figure 1 (source mix, top conditions, caption lengths, concept
frequencies, ontology coverage) plus what an operator needs: rejects by reason and source, throughput. The
other figures a dataset paper shows (skin tone, image types, body sites, age and sex, the long tail, the
split and the validation model) come from paper.py, the example grid from gallery.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from ontology import Ontology
from pipeline.report.gallery import Example, examples
from pipeline.report.paper import PaperData, gather_paper

NO_DIAGNOSIS = "no definitive diagnosis"


@dataclass
class Coverage:
    branch: str
    nodes: int
    covered: int


@dataclass
class ReportData:
    totals: dict[str, int] = field(default_factory=dict)
    source_mix: list[tuple[str, int]] = field(default_factory=list)
    kind_mix: list[tuple[str, int]] = field(default_factory=list)
    top_conditions: list[tuple[str, int]] = field(default_factory=list)
    caption_words: list[int] = field(default_factory=list)
    concepts: list[tuple[str, int]] = field(default_factory=list)
    coverage: list[Coverage] = field(default_factory=list)
    concept_coverage: tuple[int, int] = (0, 0)
    rejects: list[tuple[str, str, str, int]] = field(default_factory=list)  # stage, reason, source, items
    throughput: list[tuple[str, int, float, float | None]] = field(default_factory=list)  # stage, in, s, /s
    licences: list[tuple[str, str, int, int]] = field(default_factory=list)  # source, licence, items, pairs
    # the latest export: its release profile, and the pairs it left out by reason, licence and source
    release: str = ""
    exclusions: list[tuple[str, str, str, int]] = field(default_factory=list)  # reason, licence, source, pairs
    # the dataset-paper figures (paper.py) and the example grid (gallery.py)
    paper: PaperData = field(default_factory=PaperData)
    examples: list[Example] = field(default_factory=list)


def _pairs(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[str, int]]:
    return [(str(k), int(n)) for k, n in con.execute(sql).fetchall()]


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def ontology_coverage(con: duckdb.DuckDBPyConnection, onto: Ontology) -> list[Coverage]:
    """Per top-level branch: its nodes, and how many have a pair on themselves or on a descendant."""
    hit = {cid for (cid,) in con.execute("SELECT condition_id FROM v_pairs_per_condition").fetchall()
           if cid in onto.conditions}
    covered = {node.id for cid in hit for node in onto.lineage(cid)}
    out = []
    for top in onto.children(None):
        subtree = [cid for cid in onto.conditions if onto.lineage(cid)[0].id == top.id]
        out.append(Coverage(top.name, len(subtree), sum(cid in covered for cid in subtree)))
    return sorted(out, key=lambda c: -c.nodes)


def last_active_runs(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int, float, float | None]]:
    """Per stage, its most recent run that had work (a no-op rerun says nothing about speed)."""
    rows = con.execute(
        "SELECT stage, items_in, seconds, units_per_s FROM (SELECT *, row_number() OVER "
        "(PARTITION BY stage ORDER BY run_id DESC) AS k FROM v_stage_throughput WHERE items_in > 0 "
        "AND status = 'ok') WHERE k = 1").fetchall()  # fmt: skip
    order = ["collect", "preprocess", "clean", "pair", "augment", "train"]
    rows.sort(key=lambda r: order.index(r[0]) if r[0] in order else len(order))
    return [(str(s), int(n), float(sec or 0.0), None if r is None else float(r)) for s, n, sec, r in rows]


def gather(con: duckdb.DuckDBPyConnection, onto: Ontology | None = None, top_n: int = 20,
           max_examples: int = 12) -> ReportData:  # fmt: skip
    onto = onto or Ontology.load()
    d = ReportData()
    d.totals = {
        "source items": _scalar(con, "SELECT count(*) FROM collect_items"),
        "images": _scalar(con, "SELECT count(*) FROM preprocess_images"),
        "pairs": _scalar(con, "SELECT count(*) FROM pair_image_texts"),
        "labelled pairs": _scalar(con, f"SELECT count(*) FROM augment_captions WHERE disease_label <> '{NO_DIAGNOSIS}'"),
        "rejects": _scalar(con, "SELECT count(*) FROM rejects"),
    }
    d.source_mix = _pairs(con, "SELECT coalesce(source, 'unknown'), count(*) FROM v_pair_provenance GROUP BY 1 ORDER BY 2 DESC, 1")
    d.kind_mix = _pairs(con, "SELECT pair_kind, count(*) FROM v_pair_provenance GROUP BY 1 ORDER BY 2 DESC, 1")
    d.top_conditions = _pairs(con, f"SELECT disease_label, count(*) FROM augment_captions WHERE disease_label <> "
                                   f"'{NO_DIAGNOSIS}' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {int(top_n)}")
    d.caption_words = [int(n) for (n,) in con.execute(
        "SELECT len(string_split(trim(coalesce(a.caption, p.text)), ' ')) FROM pair_image_texts p "
        "LEFT JOIN augment_captions a USING (pair_id)").fetchall()]  # fmt: skip
    d.concepts = _pairs(con, f"SELECT concept_id, pairs FROM v_pairs_per_concept LIMIT {int(top_n)}")
    d.coverage = ontology_coverage(con, onto)
    seen = {c for (c,) in con.execute("SELECT concept_id FROM v_pairs_per_concept").fetchall()}
    d.concept_coverage = (len(seen & set(onto.concepts)), len(onto.concepts))
    d.rejects = [(str(a), str(b), str(c), int(n)) for a, b, c, n in
                 con.execute("SELECT stage, reason, source, items FROM v_reject_summary").fetchall()]
    d.throughput = last_active_runs(con)
    d.licences = [(str(a), str(b), int(c), int(n)) for a, b, c, n in
                  con.execute("SELECT source, licence, items, pairs FROM v_licence_mix").fetchall()]
    d.release, d.exclusions = export_exclusions(con)
    d.paper = gather_paper(con, top_n)
    d.examples = examples(con, max_examples)
    return d


def export_exclusions(con: duckdb.DuckDBPyConnection) -> tuple[str, list[tuple[str, str, str, int]]]:
    """The latest export's release profile and what it left out (v_export_exclusions, migration 0027)."""
    latest = con.execute("SELECT export_id, coalesce(release, '') FROM train_exports "
                         "ORDER BY created_at DESC, export_id LIMIT 1").fetchone()  # fmt: skip
    if latest is None:
        return "", []
    rows = con.execute("SELECT reason, licence, source, pairs FROM v_export_exclusions WHERE export_id = ?",
                       [latest[0]]).fetchall()  # fmt: skip
    return str(latest[1]), [(str(a), str(b), str(c), int(n)) for a, b, c, n in rows]
