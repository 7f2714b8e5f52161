"""The ontology covers the public dermatology vocabularies in bench/vocabularies/ (issue 15's targets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.vocab_coverage import VOCAB_DIR, VocabRow, load_vocabularies, load_vocabulary, run, score_list
from ontology import Ontology, default_ontology
from pipeline.vocab.lexical import LexicalMatcher


@pytest.fixture(scope="module")
def onto() -> Ontology:
    return default_ontology()


def test_every_expected_id_is_a_node(onto: Ontology) -> None:
    lists = load_vocabularies()
    assert {"fitzpatrick17k", "ddi", "sd198", "ham10000", "pad_ufes_20", "isic", "daffodil"} <= set(lists)
    assert (
        len(lists["fitzpatrick17k"]) == 114 and len(lists["ham10000"]) == 7 and len(lists["pad_ufes_20"]) == 6
    )
    missing = {(r.source, r.name, r.expected_id) for rows in lists.values() for r in rows
               if r.expected_id and r.expected_id not in onto.conditions}  # fmt: skip
    assert not missing


def test_overall_coverage_meets_the_issue_targets(onto: Ontology) -> None:
    per_list, total = run(onto)
    fractions = total.fractions()
    print(f"\nvocabulary coverage over {total.n} names: {fractions}")
    assert fractions["named"] >= 0.95 and fractions["right"] >= 0.90
    assert all(s.fractions()["right"] >= 0.85 for s in per_list.values())


def test_subtypes_and_variants_are_named_precisely(onto: Ontology) -> None:
    matcher = LexicalMatcher(onto)
    for text, expected in [
        ("acral lentiginous melanoma", "acral_lentiginous_melanoma"),
        ("melanoma-acral-lentiginous", "acral_lentiginous_melanoma"),
        ("Graft-versus-host disease", "graft_versus_host_disease"),
        ("graft-vs-host-disease", "graft_versus_host_disease"),
        ("Fordyce spots", "fordyce_spots"),
        ("Darier's disease", "darier_disease"),
        ("Becker's_Nevus", "becker_nevus"),
        ("Generalised pustular psoriasis", "generalized_pustular_psoriasis"),
        ("kerion", "kerion"),
    ]:
        labels = matcher.label(f"Clinical photograph of {text}.")
        assert labels.condition_ids[:1] == [expected], text


def test_scoring_reports_misses_and_bad_ids(onto: Ontology, tmp_path: Path) -> None:
    path = tmp_path / "mini.csv"
    path.write_text("name,expected_id\nmelanoma,melanoma\nnodular melanoma,melanoma\nblorbosis,\n"
                    "psoriasis,no_such_node\n,\n", encoding="utf-8")  # fmt: skip
    rows = load_vocabulary(path)
    assert [r.name for r in rows] == ["melanoma", "nodular melanoma", "blorbosis", "psoriasis"]
    score = score_list(rows, onto, LexicalMatcher(onto))
    assert (score.n, score.covered, score.named, score.right) == (4, 3, 3, 1)
    why = {f["name"]: f["why"] for f in score.failures}
    assert why == {"nodular melanoma": "wrong node", "blorbosis": "no surface form",
                   "psoriasis": "expected id 'no_such_node' is not in the ontology"}  # fmt: skip
    group = score_list([VocabRow("x", "disorders of nails", level="group")], onto, LexicalMatcher(onto))
    assert (group.n, group.groups, group.groups_covered) == (0, 1, 1)


def test_vocabulary_files_need_a_name_column(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("label\nx\n", encoding="utf-8")
    with pytest.raises(ValueError, match="needs a 'name' column"):
        load_vocabulary(tmp_path / "bad.csv")
    assert VOCAB_DIR.is_dir()
