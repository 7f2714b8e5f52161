"""Figure-caption relevance: the terms that fire and the look-alikes that must not, the clean-stage
rejection, and precision/recall on real, hand-labelled PMC captions (ROCO; fixtures read in place)."""

from __future__ import annotations

import pytest

from pipeline.config import CaptionRelevanceConfig, RunConfig
from pipeline.vocab.relevance import CaptionRelevanceScorer
from tests.conftest import require_fixture

THRESHOLD = CaptionRelevanceConfig().min_score


@pytest.fixture(scope="module")
def scorer() -> CaptionRelevanceScorer:
    return CaptionRelevanceScorer.default()


@pytest.mark.parametrize("caption", [
    "Erythematous scaly plaques on the extensor surface of the elbow, typical of plaque psoriasis.",
    "Dermoscopy showing an atypical pigment network and a blue-white veil.",
    "Histopathology of the skin biopsy: hyperkeratosis, acanthosis and a dense dermal infiltrate (H&E x100).",
    "Multiple umbilicated papules on the trunk of a child.",
])
def test_dermatology_captions_pass(scorer, caption):
    rel = scorer.score(caption)
    assert rel.score >= THRESHOLD, rel
    assert rel.strong and "strong:" in rel.explanation


@pytest.mark.parametrize("caption", [
    "Scanning electron micrograph of the wing skin of a fruit bat.",
    "A 2 cm skin incision was made over the iliac crest.",
    "Skin closure with interrupted nylon sutures.",
    "The skin graft donor site on the anterior thigh two weeks after harvesting.",
    "Mouse skin after 14 days of topical treatment.",
    "Distance from the skin to the epidural space on ultrasound.",
    "Bar chart of the mean score per group.",
])
def test_look_alikes_fail(scorer, caption):
    rel = scorer.score(caption)
    assert rel.score < THRESHOLD, rel
    assert "negative:" in rel.explanation or "other organ:" in rel.explanation or not rel.strong


def test_explanation_names_every_term_and_context_helps(scorer):
    rel = scorer.score("Skin incision over the plaque.")
    assert "negative: skin incision" in rel.explanation and "weak:" in rel.explanation
    bare = scorer.score("Ulcer area at weeks 2, 4 and 8.")
    with_ctx = scorer.score("Ulcer area at weeks 2, 4 and 8.",
                            "Pyoderma gangrenosum with a dermal neutrophilic infiltrate.")
    assert bare.score < THRESHOLD <= with_ctx.score and "context:" in with_ctx.explanation
    assert scorer.score(None).explanation == "no dermatology term"


def test_clean_stage_rejects_off_topic_caption(con, tmp_path):
    from pipeline.clean.stage import CAPTION_NOT_DERMATOLOGY, CleanStage
    from pipeline.stage import run_stage

    refs = [("a#f1", "jats_figure", "Erythematous plaques with silvery scale on the knee."),
            ("a#f2", "jats_figure", "A small skin incision was made and closed with sutures."),
            ("p#1", "post_image", "A small skin incision was made and closed with sutures.")]
    for ref_id, kind, text in refs:
        con.execute("INSERT INTO preprocess_image_refs (ref_id, unit_key, run_id, item_id, image_id, kind, locator, "
                    "text) VALUES (?, 'u', 'r', ?, 'img', ?, 'x', ?)", [ref_id, ref_id.split("#")[0], kind, text])
    run_stage(con, CleanStage(RunConfig()), "run1")
    rows = dict(con.execute("SELECT ref_id, caption_score FROM clean_texts").fetchall())
    assert set(rows) == {"a#f1", "p#1"}  # the post text is not a figure caption: not scored, kept
    assert rows["a#f1"] >= THRESHOLD and rows["p#1"] is None
    rejects = con.execute("SELECT item_id, reason FROM rejects WHERE stage = 'clean'").fetchall()
    assert rejects == [("a#f2", CAPTION_NOT_DERMATOLOGY)]
    off = RunConfig.model_validate({"clean": {"caption": {"enabled": False}}})
    unit = next(u for u in CleanStage(off).candidates(con) if u.key == "text:a#f2")
    assert CleanStage(off).process(unit).rejects == []


def test_precision_recall_on_labelled_pmc_captions():
    """296 real ROCO captions labelled by hand (tests/data/roco_derm_labels.csv: ids and labels only)."""
    require_fixture("captions", "roco_train", "captions.txt")
    from bench.caption_relevance import evaluate

    res = evaluate()
    assert res["n"] == 296 and res["positives"] >= 30
    assert res["precision"] >= 0.8 and res["recall"] >= 0.75, {k: res[k] for k in ("tp", "fp", "fn", "tn")}
