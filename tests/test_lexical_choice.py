"""Which condition the lexical matcher names when a text names several (pipeline/vocab/lexical.py)."""

from __future__ import annotations

import pytest

from pipeline.vocab.lexical import NO_DIAGNOSIS, LexicalMatcher


@pytest.fixture(scope="module")
def matcher() -> LexicalMatcher:
    return LexicalMatcher()


def test_a_disease_beats_a_finding(matcher: LexicalMatcher) -> None:
    text = "This image discusses squamous cell carcinoma, which can present as a chronic skin ulcer."
    assert matcher.label(text).disease_label == "squamous cell carcinoma"
    assert matcher.label("A chronic skin ulcer on the shin.").disease_label != NO_DIAGNOSIS  # alone, it is the label


def test_an_abbreviation_defining_its_name_counts_once(matcher: LexicalMatcher) -> None:
    text = ("This image describes lichen planus. Chronic lichen planus of the oral cavity can lead to squamous "
            "cell carcinoma (SCC).")
    assert matcher.label(text).disease_label == "lichen planus"


def test_the_named_subject_beats_a_passing_mention(matcher: LexicalMatcher) -> None:
    text = "Conditions like urticaria were mentioned, but the diagnosis of molluscum contagiosum was made."
    assert matcher.label(text).disease_label == "molluscum contagiosum"


def test_a_taxonomy_bucket_is_the_last_resort(matcher: LexicalMatcher) -> None:
    labels = matcher.label("Dermoscopy image of vascular lesion on the trunk.")
    assert labels.disease_label == "vascular lesions"  # HAM10000's vasc
    assert labels.hierarchical_disease_label.endswith("vascular")
    assert matcher.label("A vascular lesion: a cherry angioma.").disease_label == "cherry angioma"
    assert matcher.label("Inflammatory and infectious causes were discussed.").disease_label == NO_DIAGNOSIS


def test_the_context_names_the_disease_only_when_the_text_does_not(matcher: LexicalMatcher) -> None:
    title = "Plaque psoriasis in 30 seconds: clinical signs and dermoscopy"
    assert matcher.label("Look for silvery scale and nail pitting.", title).disease_label == "plaque psoriasis"
    assert matcher.label("A pearly papule: basal cell carcinoma.", title).disease_label == "basal cell carcinoma"
    # a hedged title gives nothing
    assert matcher.label("Silvery scale.", "Is it psoriasis?").disease_label == NO_DIAGNOSIS


def test_back_of_a_body_part_is_that_part(matcher: LexicalMatcher) -> None:
    assert matcher.label("Crusty lump on the back of my hand.").body_location == "hand"
    assert matcher.label("Rash on the back and chest.").body_location == "back, chest"


@pytest.mark.parametrize(("text", "label"), [
    ("peri-ungual wart on the finger", "periungual wart"),  # a hyphenated prefix
    ("para-psoriasis en plaques", "parapsoriasis"),
    ("multiple xanthomata on the elbows", "xanthoma"),  # a Greek plural
    ("angio-oedema of the lips", "angioedema"),  # UK spelling mid-word
    ("generalised pustular psoriasis", "generalized pustular psoriasis"),  # -ise
    ("Psoriasis (plaque)", "plaque psoriasis"),  # Derm1M's way of writing a subtype
    ("Melanoma (acral lentiginous)", "acral lentiginous melanoma"),
])  # fmt: skip
def test_spelling_variants(matcher: LexicalMatcher, text: str, label: str) -> None:
    assert matcher.label(text).disease_label == label
