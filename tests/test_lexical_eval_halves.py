"""bench.eval_augment's held-out discipline: the analysis/held-out halves and the per-concept error counts."""

from __future__ import annotations

import csv
from pathlib import Path

from bench.eval_augment import _rows, per_concept
from ontology import default_ontology
from pipeline.vocab.lexical import LexicalMatcher


def _write(path: Path, captions: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["caption", "skin_concept"])
        writer.writeheader()
        writer.writerows({"caption": c, "skin_concept": s} for c, s in captions)
    return path


def test_halves_split_by_index_parity_and_cover_every_row(tmp_path: Path) -> None:
    path = _write(tmp_path / "rows.csv", [(f"row {i}", "No visual concepts") for i in range(7)])
    analysis, heldout = _rows(path, None, "analysis"), _rows(path, None, "heldout")
    assert [r["caption"] for r in analysis] == ["row 0", "row 2", "row 4", "row 6"]
    assert [r["caption"] for r in heldout] == ["row 1", "row 3", "row 5"]
    assert len(_rows(path, None)) == 7
    assert [r["caption"] for r in _rows(path, 4, "heldout")] == ["row 1", "row 3"]  # the limit applies first


def test_per_concept_counts_misses_and_overcalls(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "rows.csv",
        [("Scaly red plaques on the elbows.", "plaque, scale"), ("A single ulcer.", "ulcer, crust")],
    )
    onto = default_ontology()
    counts = per_concept(_rows(path, None), LexicalMatcher(onto).label, onto, scope=None)
    assert counts["tp"]["plaque"] == counts["tp"]["scale"] == counts["tp"]["ulcer"] == 1
    assert counts["fp"]["red"] == 1 and counts["fn"]["crust"] == 1
    scoped = per_concept(_rows(path, None), LexicalMatcher(onto).label, onto, scope={"plaque", "ulcer"})
    assert not scoped["fp"] and not scoped["fn"] and sum(scoped["tp"].values()) == 2
