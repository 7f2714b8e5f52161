"""Scoring code (pipeline/augment/evaluate.py) and the `derm1m label` CSV command."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from conftest import require_fixture

from ontology import Ontology
from pipeline.augment.evaluate import F1, score_derm1m, score_skincap, skincap_concept_map
from pipeline.augment.label_csv import LABEL_COLUMNS, label_csv
from pipeline.errors import ConfigError
from pipeline.vocab.lexical import NO_CONCEPTS, NO_DIAGNOSIS, Labels, LexicalMatcher


@pytest.fixture(scope="module")
def onto() -> Ontology:
    return Ontology.load()


def fixed(labels: dict[str, Labels | None]):
    return lambda text: labels[text]


def test_f1_counts() -> None:
    f = F1()
    f.add({"a", "b"}, {"b", "c"}, unresolved=1)
    assert (f.tp, f.fp, f.fn) == (1, 1, 2)
    assert f.precision == 0.5 and f.recall == pytest.approx(1 / 3) and f.f1 == pytest.approx(0.4)
    assert F1().f1 == 0.0


def test_derm1m_scoring_resolves_their_vocabulary(onto: Ontology) -> None:
    psoriasis = Labels(disease_label="plaque psoriasis", condition_ids=["plaque_psoriasis"],
                       concept_ids=["plaque", "scale"])
    rows = [
        # their "Psoriasis (plaque)"-style label and "scaly" concept resolve onto our nodes
        {"caption": "a", "disease_label": "plaque psoriasis",
         "hierarchical_disease_label": onto.hierarchical_label("plaque_psoriasis"),
         "skin_concept": "plaque, scaly, glitter"},
        {"caption": "b", "disease_label": NO_DIAGNOSIS, "hierarchical_disease_label": NO_DIAGNOSIS,
         "skin_concept": NO_CONCEPTS},
        {"caption": "c", "disease_label": "tinea corporis", "hierarchical_disease_label": "", "skin_concept": "red"},
    ]  # fmt: skip
    scores = score_derm1m(rows, fixed({"a": psoriasis, "b": Labels(), "c": None}), onto)
    assert (scores.rows, scores.rejected, scores.disease_correct) == (3, 1, 2)
    depth = len(onto.lineage("plaque_psoriasis"))
    assert scores.level_total[:depth] == [1] * depth and scores.level_agree[:depth] == [1] * depth
    assert (scores.concepts.tp, scores.concepts.fp, scores.concepts.fn) == (2, 0, 2)  # glitter + red missed
    assert scores.unresolved == {"concept:glitter": 1}
    wrong = Labels(disease_label="tinea corporis", condition_ids=["tinea_corporis"])
    scores = score_derm1m(rows[:2], fixed({"a": wrong, "b": psoriasis}), onto)
    assert scores.disease_correct == 0 and scores.level_agree[0] == 1  # both inflammatory
    assert scores.as_dict()["level_agreement"][0] == {"level": 0, "n": 1, "agreement": 1.0}


def test_skincap_flags_map_and_score(onto: Ontology) -> None:
    cols = ["Plaque", "Brown(Hyperpigmentation)", "Purpura/Petechiae", "Salmon", "Do not consider this image"]
    cmap = skincap_concept_map(cols, onto)
    assert cmap["Plaque"] == {"plaque"} and "Do not consider this image" not in cmap
    assert cmap["Purpura/Petechiae"] and cmap["Brown(Hyperpigmentation)"]
    rows = [
        {"caption_zh_polish_en": "x", "Plaque": "1", "Purpura/Petechiae": "0", "Do not consider this image": "0"},
        {"caption_zh_polish_en": "y", "Plaque": "1", "Do not consider this image": "1"},
    ]
    labels = Labels(concept_ids=["plaque", "scale", *cmap["Purpura/Petechiae"]])
    scores = score_skincap(rows, fixed({"x": labels}), onto, cmap)
    assert scores.rows == 1  # "do not consider" skipped
    assert (scores.concepts.tp, scores.concepts.fp, scores.concepts.fn) == (1, 1, 0)  # scale not scored


def test_lexical_scores_on_the_real_references(onto: Ontology) -> None:
    matcher = LexicalMatcher(onto)
    with require_fixture("derm1m", "derm1m_v2_rows_dev.csv").open(newline="", encoding="utf-8") as fh:
        scores = score_derm1m(list(csv.DictReader(fh)), matcher.label, onto)
    assert scores.rows == 301 and scores.disease_accuracy > 0.45  # measured 0.555
    assert scores.concepts.f1 > 0.55  # measured 0.689
    with require_fixture("skincap", "skincap_dev.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    cmap = skincap_concept_map(rows[0].keys(), onto)
    assert len(cmap) >= 40
    assert score_skincap(rows, matcher.label, onto, cmap).concepts.f1 > 0.3  # measured 0.388


def test_label_csv_writes_derm1m_columns(tmp_path: Path, onto: Ontology) -> None:
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text("id,caption\n1,\"Basal cell carcinoma (BCC) on the nose of a 70-year-old man.\"\n2,Nice day.\n")
    counts = label_csv(src, dst, "lexical", ontology=onto)
    assert counts == {"rows": 2, "labelled": 2, "with_diagnosis": 1, "errors": 0}
    with dst.open(newline="") as fh:
        first, second = list(csv.DictReader(fh))
    assert first["id"] == "1" and first["disease_label"] == "basal cell carcinoma"
    assert first["hierarchical_disease_label"] == onto.hierarchical_label("basal_cell_carcinoma")
    assert (first["age"], first["gender"], first["label_method"], first["label_error"]) == ("70", "male", "lexical", "")
    assert all(c in first for c in LABEL_COLUMNS)
    assert (second["disease_label"], second["skin_concept"], second["age"]) == (
        NO_DIAGNOSIS, NO_CONCEPTS, "No age information")


def test_label_csv_needs_a_caption_column(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("text\nhello\n")
    with pytest.raises(ConfigError, match="no 'caption' column"):
        label_csv(tmp_path / "in.csv", tmp_path / "out.csv")
    with pytest.raises(ConfigError, match="--method"):
        label_csv(tmp_path / "in.csv", tmp_path / "out.csv", method="magic")


def test_cli_label_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from flows.cli import main

    src = tmp_path / "in.csv"
    src.write_text("caption\nItchy ringworm on the forearm.\n")
    assert main(["--config", str(tmp_path / "none.yaml"), "label", str(src), str(tmp_path / "o.csv")]) == 0
    assert "labelled 1/1 row(s) (1 with a diagnosis" in capsys.readouterr().out
    assert main(["label", str(tmp_path / "o.csv"), str(tmp_path / "o2.csv"), "--method", "lexical"]) == 0
    (tmp_path / "bad.csv").write_text("x\n1\n")
    assert main(["label", str(tmp_path / "bad.csv"), str(tmp_path / "o3.csv")]) == 2


def test_skincap_flags_score_once_and_the_text_ceiling(onto: Ontology) -> None:
    from pipeline.augment.evaluate import skincap_text_ceiling

    cols = ["Erythema", "Brown(Hyperpigmentation)", "Plaque", "Do not consider this image"]
    cmap = skincap_concept_map(cols, onto)
    assert {"red", "erythema"} <= cmap["Erythema"]  # SkinCon's erythema is redness
    assert {"brown", "hyperpigmentation"} <= cmap["Brown(Hyperpigmentation)"]
    rows = [{"caption_zh_polish_en": "red brown papules", "Erythema": "1", "Brown(Hyperpigmentation)": "1",
             "Plaque": "1", "Do not consider this image": "0"}]
    labels = Labels(concept_ids=["red", "brown", "hyperpigmentation", "papule"])
    scores = score_skincap(rows, fixed({"red brown papules": labels}), onto, cmap)
    # one flag counts once however many of its concepts we name; plaque is flagged but never said
    assert (scores.concepts.tp, scores.concepts.fp, scores.concepts.fn) == (2, 0, 1)
    assert skincap_text_ceiling(rows, onto, cmap) == pytest.approx(2 / 3)
