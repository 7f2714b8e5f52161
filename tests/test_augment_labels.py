"""The augment stage writes labels a user can merge with Derm1M, and reads a lecture's title as context."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.augment.stage import AugmentStage
from pipeline.config import RunConfig
from pipeline.stage import run_stage
from pipeline.warehouse import insert_rows

DERM1M_TREE = {"Root Ontology": {
    "inflammatory": {"infectious": {"bacterial": {"Syphilis": {}}},
                     "non-infectious": {"Psoriasis": {"Psoriasis (plaque)": {}}}},
    "Nail diseases, nail disease": {"Nail psoriasis": {}},
}}  # fmt: skip


def _pairs(con, rows: list[tuple[str, str, str]]) -> None:
    insert_rows(con, "collect_items", [
        {"item_id": item, "unit_key": item, "run_id": "r0", "kind": "video", "source": "youtube", "source_type": "edu",
         "source_id": item, "title": title, "path": "x", "sha256": "0", "retrieved_at": "2026-01-01 00:00:00"}
        for item, title in {(r[1], r[2]) for r in rows}
    ])  # fmt: skip
    insert_rows(con, "pair_image_texts", [
        {"pair_id": pid, "unit_key": pid, "run_id": "r0", "item_id": item, "image_id": pid, "cluster_id": pid,
         "source_image_id": pid, "kind": "keyframe_narration", "source": "youtube", "source_type": "edu",
         "text": text, "align_score": 1.0}
        for pid, item, _, text in ((f"p{i}", r[1], r[2], r[0]) for i, r in enumerate(rows))
    ])  # fmt: skip


def test_derm1m_names_and_lecture_context(con, tmp_path: Path) -> None:
    tree = tmp_path / "nested_ontology.json"
    tree.write_text(json.dumps(DERM1M_TREE))
    _pairs(con, [
        ("Secondary syphilis with a truncal maculopapular rash.", "v:a", "Sexually transmitted infections"),
        ("Look for silvery scale, extensor sites, and nail pitting.", "v:b", "Plaque psoriasis in 30 seconds"),
    ])  # fmt: skip
    cfg = RunConfig()
    cfg.augment.label_names, cfg.augment.derm1m_ontology = "derm1m", tree
    run_stage(con, AugmentStage(cfg), "r1")
    rows = dict(con.execute("SELECT caption, hierarchical_disease_label FROM augment_captions").fetchall())
    assert rows["Secondary syphilis with a truncal maculopapular rash."] == (
        "inflammatory, infectious, bacterial, syphilis")  # Derm1M's node for every syphilis stage
    # the narration names only a finding; the lecture's title names the disease
    assert rows["Look for silvery scale, extensor sites, and nail pitting."] == (
        "inflammatory, non-infectious, psoriasis, psoriasis (plaque)")
    # the Derm1M file is part of the work: editing it redoes the labels
    tree.write_text(json.dumps({"Root Ontology": {"inflammatory": {"Syphilis": {}}}}))
    again = run_stage(con, AugmentStage(cfg), "r2")
    assert again.items_in == 2
    assert con.execute("SELECT hierarchical_disease_label FROM augment_captions WHERE caption LIKE 'Secondary%'"
                       ).fetchone()[0] == "inflammatory, syphilis"  # fmt: skip
