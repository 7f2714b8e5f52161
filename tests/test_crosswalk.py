"""The crosswalk to Derm1M's ontology (pipeline/vocab/crosswalk.py) and scoring in Derm1M's vocabulary."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import require_fixture

from ontology import Ontology
from pipeline.augment.evaluate import derm1m_concept_scope, score_derm1m
from pipeline.vocab.crosswalk import Crosswalk, ExternalOntology, load_crosswalk
from pipeline.vocab.lexical import Labels, LexicalMatcher

# a project-written tree in Derm1M's two release forms: keys carry synonyms after ", "
NESTED = {"Root Ontology": {
    "inflammatory": {"infectious": {"bacterial": {"Syphilis": {}, "Cellulitis": {}},
                                    "fungal": {"Tinea": {}, "Tinea capitis": {}}},
                     "non-infectious": {"Psoriasis": {"Psoriasis (plaque)": {}, "Guttate psoriasis": {}}}},
    "Nail diseases, nail disease": {"Onychomycosis": {}},
}}  # fmt: skip


def flat(tree: dict, out: dict | None = None, name: str = "root") -> dict:
    out = {} if out is None else out
    out[name] = list(tree)
    for key, sub in tree.items():
        flat(sub, out, key)
    return out


@pytest.fixture(scope="module")
def onto() -> Ontology:
    return Ontology.load()


@pytest.fixture
def nested_file(tmp_path: Path) -> Path:
    path = tmp_path / "nested_ontology.json"
    path.write_text(json.dumps(NESTED))
    return path


def test_both_release_forms_read_alike(tmp_path: Path, nested_file: Path) -> None:
    flat_file = tmp_path / "ontology.json"
    flat_file.write_text(json.dumps(flat(NESTED["Root Ontology"])))
    a, b = ExternalOntology.load(nested_file), ExternalOntology.load(flat_file)
    assert [n.path for n in a.nodes] == [n.path for n in b.nodes]
    nail = a.find("onychomycosis")[0]
    assert nail.hierarchical_label == "nail diseases, nail disease, onychomycosis"
    assert [n.label for n in a.find("nail disease")] == ["nail diseases, nail disease"]
    # a two-disease label finds each; "Psoriasis (plaque)" is found by its parenthesised name too
    assert {n.label for n in a.find("syphilis, tinea")} == {"syphilis", "tinea"}
    assert "psoriasis (plaque)" in {n.label for n in a.find("plaque")}


def test_bad_files_are_refused_with_a_reason(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    for text, why in (
        ("[1, 2]", "expected nested dicts"),
        ("{not json", "not a JSON ontology"),
        ("{}", "no ontology"),
    ):
        bad.write_text(text)
        with pytest.raises(ValueError, match=why):
            ExternalOntology.load(bad)


def test_project_nodes_map_by_name_then_through_ancestors(onto: Ontology, nested_file: Path) -> None:
    walk = load_crosswalk(onto, nested_file)
    assert walk.node("psoriasis").label == "psoriasis"  # its own name beats "Psoriasis (plaque)"
    assert walk.map["plaque_psoriasis"].how == "exact"
    assert walk.node("plaque_psoriasis").label == "psoriasis (plaque)"
    assert (
        walk.map["secondary_syphilis"].how == "ancestor"
        and walk.node("secondary_syphilis").label == "syphilis"
    )
    assert walk.map["erysipelas"].how == "curated" and walk.node("erysipelas").label == "cellulitis"
    assert walk.node("onychomycosis").hierarchical_label == "nail diseases, nail disease, onychomycosis"
    report = walk.report()
    assert report.ours_total == len(onto.conditions)
    assert (
        report.ours_exact + report.ours_curated + report.ours_ancestor + len(report.ours_unmapped)
        == report.ours_total
    )
    assert report.theirs_total == 14 and "guttate psoriasis" not in report.theirs_unreached
    # without the curated entries erysipelas falls back to its ancestor
    assert load_crosswalk(onto, nested_file, curated=None).map["erysipelas"].how != "curated"
    assert "viral_warts -> Skin diseases caused by warts" in walk.curated_missing


def test_crosswalk_on_derm1m_release(onto: Ontology) -> None:
    walk = load_crosswalk(onto, require_fixture("derm1m", "nested_ontology.json"))
    report = walk.report()
    assert not report.ours_unmapped  # every project node has a Derm1M node (at worst its top category)
    assert report.ours_exact >= 250 and report.theirs_reached >= 250  # measured 256 and 252 of 369
    assert (
        walk.node(
            "acral_lentiginous_melanoma" if "acral_lentiginous_melanoma" in onto.conditions else "melanoma"
        ).label
        == "malignant melanoma, melanoma"
    )
    assert walk.node("basal_cell_carcinoma").hierarchical_label == (
        "proliferations, malignant, non-melanocytic, basal cell carcinoma"
    )
    assert not walk.curated_missing  # every curated entry names a node of the real release
    flat_walk = load_crosswalk(onto, require_fixture("derm1m", "ontology.json"))
    assert flat_walk.report().ours_exact == report.ours_exact


def test_scoring_in_derm1m_vocabulary(onto: Ontology, nested_file: Path) -> None:
    walk = Crosswalk(onto, ExternalOntology.load(nested_file))
    rows = [
        {"caption": "a", "disease_label": "syphilis", "hierarchical_disease_label": "", "skin_concept": ""},
        {"caption": "b", "disease_label": "tinea", "hierarchical_disease_label": "", "skin_concept": ""},
    ]
    predictions = {
        "a": Labels(condition_ids=["secondary_syphilis"]),
        "b": Labels(condition_ids=["tinea_capitis"]),
    }
    scores = score_derm1m(rows, lambda t: predictions[t], onto, walk)
    d = scores.as_dict()
    # secondary syphilis is written as Derm1M's syphilis (right); tinea capitis is a Derm1M node of its own
    # (wrong, but consistent: a more specific node than theirs)
    assert (d["disease_accuracy"], d["disease_consistent"], d["disease_exact_project"]) == (0.5, 0.5, 0.0)
    assert d["disease_vocabulary"] == "derm1m"


def test_lexical_scores_in_derm1m_vocabulary(onto: Ontology) -> None:
    walk = load_crosswalk(onto, require_fixture("derm1m", "nested_ontology.json"))
    scope = derm1m_concept_scope(json.loads(require_fixture("derm1m", "ConceptTerms.json").read_text()), onto)
    assert len(scope) >= 55  # measured 64: each of Derm1M's concepts resolves onto ours
    with require_fixture("derm1m", "derm1m_v2_rows_dev.csv").open(newline="", encoding="utf-8") as fh:
        scores = score_derm1m(list(csv.DictReader(fh)), LexicalMatcher(onto).label, onto, walk, scope)
    assert scores.disease_accuracy > 0.6  # measured 0.668
    assert scores.concepts.f1 > 0.65  # measured 0.723


def test_crosswalk_command(nested_file: Path, tmp_path: Path, capsys) -> None:
    from flows.cli import main

    out = tmp_path / "walk.csv"
    assert main(["crosswalk", str(nested_file), "--csv", str(out)]) == 0
    assert "nodes by name" in capsys.readouterr().out
    with out.open(newline="") as fh:
        rows = {r["condition_id"]: r for r in csv.DictReader(fh)}
    assert rows["secondary_syphilis"]["derm1m_label"] == "inflammatory, infectious, bacterial, syphilis"
    assert rows["secondary_syphilis"]["how"] == "ancestor"
    assert main(["crosswalk", str(tmp_path / "missing.json")]) == 2
