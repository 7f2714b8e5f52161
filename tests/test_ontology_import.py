"""Importers for Derm1M's released ontology and DermO's OBO file, read in place from the fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import require_fixture

from ontology import MAX_LABEL_NAMES, Ontology, OntologyError
from ontology.importers import (
    enrich_with_obo,
    load_derm1m_ontology,
    load_obo_ontology,
    main,
    parse_obo,
    write_conditions_yaml,
)

IMPORT_DEPTH = MAX_LABEL_NAMES - 1  # imported trees keep Derm1M's five-name labels without dropping levels

OBO_SNIPPET = """format-version: 1.2
ontology: test

[Term]
id: T:0000001
name: skin disease

[Term]
id: T:0000002
name: Psoriasis, vulgaris
synonym: "psoriasis vulgaris" EXACT []
synonym: "PsV" EXACT []
synonym: "scaly rash" RELATED []
xref: SNOMEDCT_US_2015_03_01:9014002 "psoriasis"
xref: DOID:8893
is_a: T:0000001 ! skin disease

[Term]
id: T:0000003
name: guttate psoriasis
is_a: T:0000002 ! psoriasis
is_a: T:0000001 ! skin disease

[Term]
id: T:0000004
name: old thing
is_obsolete: true
is_a: T:0000001

[Typedef]
id: has_symptom
name: has symptom
"""


def test_derm1m_flat_and_nested_give_the_same_tree() -> None:
    flat = load_derm1m_ontology(require_fixture("derm1m", "ontology.json"))
    nested = load_derm1m_ontology(require_fixture("derm1m", "nested_ontology.json"))
    assert sorted(flat.conditions) == sorted(nested.conditions)
    assert len(flat.conditions) > 400 and max(flat.depth(c) for c in flat.conditions) <= IMPORT_DEPTH
    assert [c.name for c in flat.children(None)][:2] == ["hair diseases", "nail diseases"]
    assert all(c.grouping for c in flat.children(None))
    angioma = flat.conditions["angioma"]  # "Angioma, Hemangioma": name + synonym
    assert angioma.synonyms == ("hemangioma",) and not angioma.grouping
    # "melanocytic" sits under benign and malignant: one node per path, a grouping, distinct ids
    twins = [c for c in flat.conditions.values() if c.name == "melanocytic"]
    assert len(twins) == 2 and all(t.grouping for t in twins) and len({t.id for t in twins}) == 2
    labels = {
        flat.hierarchical_label(c.id) for c in flat.conditions.values() if c.name == "malignant melanoma"
    }
    assert "proliferations, malignant, melanocytic, malignant melanoma" in labels
    assert "psoriasis" in flat.conditions["psoriasis_plaque"].synonyms  # "Psoriasis (plaque)"
    assert flat.concepts and flat.version.startswith("derm1m-")


def test_derm1m_import_round_trips_through_yaml(tmp_path: Path) -> None:
    flat = load_derm1m_ontology(require_fixture("derm1m", "ontology.json"))
    write_conditions_yaml(flat, tmp_path / "conditions.yaml")
    again = Ontology.load(tmp_path / "conditions.yaml")
    assert again.conditions == flat.conditions


def test_derm1m_rejects_other_json(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"a": 1, "b": 2}')
    with pytest.raises(OntologyError, match="not a Derm1M ontology"):
        load_derm1m_ontology(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("{nope")
    with pytest.raises(OntologyError, match="invalid JSON"):
        load_derm1m_ontology(tmp_path / "y.json")


def test_obo_parser_and_tree(tmp_path: Path) -> None:
    path = tmp_path / "t.obo"
    path.write_text(OBO_SNIPPET)
    terms = parse_obo(path)
    assert set(terms) == {"T:0000001", "T:0000002", "T:0000003", "T:0000004"}  # Typedef ignored
    assert terms["T:0000003"].parents == ["T:0000002", "T:0000001"] and terms["T:0000004"].obsolete
    assert terms["T:0000002"].synonyms[0] == ("psoriasis vulgaris", "EXACT")
    onto = load_obo_ontology(path)
    assert set(onto.conditions) == {"t_0000001", "t_0000002", "t_0000003"}  # obsolete dropped
    psoriasis = onto.conditions["t_0000002"]
    assert psoriasis.name == "psoriasis vulgaris" and psoriasis.abbreviations == ("PsV",)
    assert psoriasis.synonyms == () and "scaly rash" not in psoriasis.synonyms  # RELATED not taken
    assert psoriasis.codes == {"snomedct": "9014002", "doid": "DOID:8893"}
    assert onto.hierarchical_label("t_0000003") == "skin disease, psoriasis vulgaris, guttate psoriasis"
    rooted = load_obo_ontology(path, root="T:0000001")
    assert [c.id for c in rooted.children(None)] == ["t_0000002"] and rooted.conditions["t_0000002"].grouping
    with pytest.raises(OntologyError, match="root"):
        load_obo_ontology(path, root="T:0000004")


def test_obo_deep_chains_are_flattened_to_max_depth(tmp_path: Path) -> None:
    stanzas = ["[Term]\nid: D:0\nname: level zero\n"]
    stanzas += [f"[Term]\nid: D:{i}\nname: level {i}\nis_a: D:{i - 1} ! x\n" for i in range(1, 8)]
    (tmp_path / "deep.obo").write_text("\n".join(stanzas))
    onto = load_obo_ontology(tmp_path / "deep.obo")
    assert max(onto.depth(c) for c in onto.conditions) == IMPORT_DEPTH  # Derm1M's depth, not our fifth level
    assert onto.conditions["d_7"].parent == "d_3"  # hung under the depth-3 ancestor


def test_dermo_fixture_imports_and_enriches_ours() -> None:
    path = require_fixture("vocab", "dermatology.obo")
    dermo = load_obo_ontology(path, root="DERMO:0000001")
    assert len(dermo.conditions) > 3000 and max(dermo.depth(c) for c in dermo.conditions) == IMPORT_DEPTH
    assert "psoriasis" in {c.name for c in dermo.conditions.values()}
    ours = Ontology.load()
    enriched, matched = enrich_with_obo(ours, parse_obo(path))
    assert len(matched) > 300 and set(enriched.conditions) == set(ours.conditions)
    zoster = enriched.conditions["herpes_zoster"]
    assert zoster.codes["icd11"] == "1E91" and zoster.codes["dermo"].startswith("DERMO:")
    assert "snomedct" in zoster.codes and "shingles" not in zoster.synonyms  # already a lay term
    assert set(enriched.ambiguous_terms()) == set(ours.ambiguous_terms())  # no new ambiguity


def test_enrich_cli_reports_counts_and_writes_a_loadable_tree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    obo = tmp_path / "t.obo"
    obo.write_text(
        '[Term]\nid: T:1\nname: Psoriasis\nsynonym: "psoriasis disease" EXACT []\n'
        'synonym: "psoriasis vulgaris" EXACT []\n'  # plaque psoriasis's synonym: ambiguous, so no match
        '[Term]\nid: T:2\nname: Guttate psoriasis\nsynonym: "raindrop psoriasis" EXACT []\n'
        "xref: SNOMEDCT_US:37042000\nxref: DOID:9999\n"
        "[Term]\nid: T:3\nname: Blorbosis\n"
    )
    out = tmp_path / "enriched.yaml"
    assert main(["enrich", "--obo", str(obo), "--write", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    report = dict(line.split() for line in lines if not line.startswith("wrote"))
    assert report["matched"] == "1" and report["codes_snomedct"] == "1" and report["synonyms_added"] == "1"
    enriched = Ontology.load(out)
    guttate = enriched.conditions["guttate_psoriasis"]
    assert guttate.codes == {"snomedct": "37042000", "doid": "DOID:9999", "dermo": "T:2"}
    assert guttate.synonyms == ("raindrop psoriasis",)
    assert "dermo" not in enriched.conditions["psoriasis"].codes
    assert enriched.conditions["hyperpigmentation"].finding and enriched.depth("kerion") == 5
    with pytest.raises(SystemExit) as exc:
        main(["enrich", "--obo", str(tmp_path / "missing.obo")])
    assert exc.value.code == 2


def test_enrich_cli_on_dermo(capsys: pytest.CaptureFixture[str]) -> None:
    path = require_fixture("vocab", "dermatology.obo")
    assert main(["enrich", "--obo", str(path)]) == 0
    report = dict(line.split() for line in capsys.readouterr().out.splitlines())
    assert int(report["matched"]) > 400 and int(report["codes_snomedct"]) > 300
