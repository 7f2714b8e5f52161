"""The packaged ontology is valid and big enough, and broken ontologies fail with a clear error."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from ontology import DATA_DIR, MAX_DEPTH, MAX_LABEL_NAMES, Ontology, OntologyError, default_ontology

CONCEPTS_OK = "primary_morphology:\n  - {id: papule, name: papule}\n"


def write(tmp_path: Path, conditions: str, concepts: str = CONCEPTS_OK) -> tuple[Path, Path]:
    cond, conc = tmp_path / "conditions.yaml", tmp_path / "concepts.yaml"
    cond.write_text(conditions, encoding="utf-8")
    conc.write_text(concepts, encoding="utf-8")
    return cond, conc


@pytest.fixture(scope="module")
def onto() -> Ontology:
    return default_ontology()


def test_packaged_ontology_is_large_and_shallow(onto: Ontology) -> None:
    diagnosable = [c for c in onto.conditions.values() if not c.grouping]
    assert len(onto.conditions) >= 250 and len(diagnosable) >= 250
    assert len(onto.concepts_in()) >= 100
    assert max(onto.depth(cid) for cid in onto.conditions) <= MAX_DEPTH
    assert len(onto.concepts_in("body_site")) >= 40 and len(onto.concepts_in("symptom")) >= 10


def test_top_categories_match_derm1m_style(onto: Ontology) -> None:
    roots = {c.name for c in onto.children(None)}
    assert {"inflammatory", "proliferations", "hereditary", "exogenous"} <= roots
    assert {"hair diseases", "nail diseases", "reaction patterns"} <= roots


def test_names_ids_and_codes_are_well_formed(onto: Ontology) -> None:
    for cond in onto.conditions.values():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", cond.id)
        assert cond.name == cond.name.lower() and "," not in cond.name
        assert set(cond.codes) <= {"icd11"}
    for concept in onto.concepts.values():
        assert concept.name == concept.name.lower()


def test_lineage_and_hierarchical_label(onto: Ontology) -> None:
    assert [c.id for c in onto.lineage("basal_cell_carcinoma")] == [
        "proliferations",
        "malignant",
        "malignant_non_melanocytic",
        "basal_cell_carcinoma",
    ]
    assert onto.hierarchical_label("basal_cell_carcinoma") == (
        "proliferations, malignant, non-melanocytic, basal cell carcinoma"
    )
    assert (
        onto.hierarchical_label("tinea_capitis") == "inflammatory, infectious, fungal, tinea, tinea capitis"
    )
    assert onto.hierarchical_label("hereditary") == "hereditary"
    assert onto.is_ancestor("psoriasis", "plaque_psoriasis")
    assert not onto.is_ancestor("plaque_psoriasis", "psoriasis")


def test_condition_names_and_terms(onto: Ontology) -> None:
    names = onto.condition_names()
    assert "psoriasis" in names and "infectious" not in names
    assert "infectious" in onto.condition_names(include_groupings=True)
    terms = {(t.surface, t.kind, t.node_id) for t in onto.terms()}
    assert ("BCC", "abbreviation", "basal_cell_carcinoma") in terms
    assert ("shingles", "lay_term", "herpes_zoster") in terms
    assert ("plaque", "name", "plaque") in {(t.surface, t.kind, t.node_id) for t in onto.terms("concepts")}


def test_ambiguous_terms_are_flagged_not_fatal(onto: Ontology) -> None:
    ambiguous = onto.ambiguous_terms()
    assert ambiguous["pg"] == ["pyoderma_gangrenosum", "pyogenic_granuloma"]
    assert set(ambiguous) == {
        "pg"
    }  # reviewed: "mucous cyst" is the lip's (mucocele), the finger's is "digital"
    assert all(len(ids) > 1 for ids in ambiguous.values())
    print(f"\nambiguous condition terms: {ambiguous}")


def test_version_is_a_content_hash(tmp_path: Path, onto: Ontology) -> None:
    assert re.fullmatch(r"[0-9a-f]{12}", onto.version)
    for name in ("conditions.yaml", "concepts.yaml"):
        shutil.copy(DATA_DIR / name, tmp_path / name)
    copy = Ontology.load(tmp_path / "conditions.yaml", tmp_path / "concepts.yaml")
    assert copy.version == onto.version
    with (tmp_path / "concepts.yaml").open("a", encoding="utf-8") as fh:
        fh.write("  - {id: extra_site, name: extra site}\n")
    assert Ontology.load(tmp_path / "conditions.yaml", tmp_path / "concepts.yaml").version != onto.version


def test_flat_entries_with_explicit_parent(tmp_path: Path) -> None:
    onto = Ontology.load(
        *write(
            tmp_path,
            "- {id: root, name: root, grouping: true}\n- {id: leaf, name: leaf, parent: root}\n",
        )
    )
    assert onto.hierarchical_label("leaf") == "root, leaf"


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ("- {id: a, name: a}\n- {id: a, name: b}\n", "duplicate condition id 'a'"),
        ("- {id: a, name: a, parent: missing}\n", "unknown parent 'missing'"),
        ("- {id: a, name: a, parent: b}\n- {id: b, name: b, parent: a}\n", "cycle"),
        ("- {id: a, name: a, children: [{id: b, name: b, parent: x}]}\n", "contradicts nesting"),
        ("- {id: a, name: 'Upper, case'}\n", "lowercase"),
        ("- {id: Bad-Id, name: a}\n", "invalid Condition"),
        ("- [not, a, mapping]\n", "not a mapping"),
        ("- {id: a, name: a\n", "invalid YAML"),
    ],
)
def test_malformed_conditions_raise(tmp_path: Path, conditions: str, message: str) -> None:
    with pytest.raises(OntologyError, match=re.escape(message)):
        Ontology.load(*write(tmp_path, conditions))


def test_too_deep_tree_raises(tmp_path: Path) -> None:
    def chain(level: int) -> str:
        child = f", children: [{chain(level + 1)}]" if level < MAX_DEPTH + 1 else ""
        return f"{{id: n{level}, name: n{level}{child}}}"

    deepest = MAX_DEPTH + 1
    with pytest.raises(OntologyError, match=rf"'n{deepest}' is {deepest} levels below its top category"):
        Ontology.load(*write(tmp_path, f"- {chain(0)}\n"))


def test_fifth_level_label_keeps_five_names(onto: Ontology) -> None:
    """A fifth-level node's label leaves out the grouping nearest it, so exports keep Derm1M's five names."""
    fifth = [cid for cid in onto.conditions if onto.depth(cid) == MAX_DEPTH]
    assert {"kerion", "folliculotropic_mycosis_fungoides", "pigmented_spindle_cell_nevus"} <= set(fifth)
    assert all(len(onto.hierarchical_label(cid).split(", ")) <= MAX_LABEL_NAMES for cid in onto.conditions)
    assert [c.id for c in onto.lineage("kerion")][-3:] == ["tinea", "tinea_capitis", "kerion"]
    assert len(onto.lineage("kerion")) == MAX_DEPTH + 1  # lineage keeps every level
    assert onto.hierarchical_label("kerion") == "inflammatory, infectious, tinea, tinea capitis, kerion"
    assert onto.hierarchical_label("folliculotropic_mycosis_fungoides") == (
        "proliferations, malignant, cutaneous t-cell lymphoma, mycosis fungoides, folliculotropic mycosis fungoides"
    )
    assert (
        onto.hierarchical_label("tinea_capitis") == "inflammatory, infectious, fungal, tinea, tinea capitis"
    )


def test_too_long_label_without_groupings_raises(tmp_path: Path) -> None:
    chain = "- {id: a, name: a, grouping: true, children: [{id: b, name: b, children: [{id: c, name: c, children: ["
    chain += "{id: d, name: d, children: [{id: e, name: e, children: [{id: f, name: f}]}]}]}]}]}\n"
    with pytest.raises(OntologyError, match=r"'f': its hierarchical label needs 6 names"):
        Ontology.load(*write(tmp_path, chain))
    fits = chain.replace("{id: b, name: b,", "{id: b, name: b, grouping: true,")
    assert Ontology.load(*write(tmp_path, fits)).hierarchical_label("f") == "a, c, d, e, f"


def test_subtypes_are_children_and_findings_flagged(onto: Ontology) -> None:
    for child, parent in [("acral_lentiginous_melanoma", "melanoma"), ("nodular_melanoma", "melanoma"),
                          ("lentigo_maligna_melanoma", "melanoma"), ("kerion", "tinea_capitis"),
                          ("steroid_rosacea", "rosacea"), ("nickel_dermatitis", "allergic_contact_dermatitis"),
                          ("lichen_amyloidosis", "cutaneous_amyloidosis"), ("sjs_ten_overlap", "stevens_johnson_syndrome")]:  # fmt: skip
        assert onto.conditions[child].parent == parent
    assert onto.conditions["hyperpigmentation"].finding and onto.conditions["photoaging"].finding
    assert not onto.conditions["melasma"].finding
    surfaces = {(t.surface, t.node_id) for t in onto.terms()}
    assert {("fordyce spots", "fordyce_spots"), ("GVHD", "graft_versus_host_disease"),
            ("darier's disease", "darier_disease"), ("graft-vs-host disease", "graft_versus_host_disease")} <= surfaces  # fmt: skip


def test_unknown_concept_category_raises(tmp_path: Path) -> None:
    with pytest.raises(OntologyError, match="unknown category 'smell'"):
        Ontology.load(*write(tmp_path, "- {id: a, name: a}\n", "smell:\n  - {id: musty, name: musty}\n"))
