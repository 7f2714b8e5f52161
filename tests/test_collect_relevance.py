"""The dermatology relevance score: ontology terms count, look-alikes are pushed down, reasons say why."""

from __future__ import annotations

from pipeline.vocab.relevance import RelevanceScorer


def test_positive_negative_and_reason() -> None:
    s = RelevanceScorer.from_ontology()
    psoriasis = s.score("Plaque psoriasis explained by a dermatologist")
    assert psoriasis.score >= 4 and "psoriasis" in psoriasis.reason and "dermatologist" in psoriasis.reason
    assert s.score("How to make skinny jeans").score < 1
    makeup = s.score("No makeup makeup look for sensitive skin")
    assert makeup.score < 2 and "negative: makeup" in makeup.reason
    assert s.score("Skin", "").score == 0, "a weak word alone is not evidence"
    described = s.score("Case of the week", "An itchy annular rash: tinea corporis in a child")
    assert 2 <= described.score and described.reason.startswith("text:")


def test_abbreviations_are_weak_and_case_sensitive() -> None:
    s = RelevanceScorer(["melanoma"], abbreviations=["BCC", "MAC"])
    assert s.score("MAC eyeshadow palette").score < 0
    assert s.score("mac and cheese").score == 0
    assert s.score("BCC or melanoma?").score == 2.5
