"""Age, sex and skin tone as a dermatologist reads them (pipeline/vocab/demographics.py), through the matcher."""

from __future__ import annotations

import pytest

from pipeline.vocab.demographics import NO_AGE, NO_GENDER, NO_SKIN_TONE, gender_of, shorthand, skin_tone_of
from pipeline.vocab.lexical import LexicalMatcher


@pytest.fixture(scope="module")
def matcher() -> LexicalMatcher:
    return LexicalMatcher()


@pytest.mark.parametrize(("text", "age", "gender"), [
    ("Crusty growing lump on the back of my hand, 74M.", "74", "male"),
    ("19F, round evenly brown mole on my arm", "19", "female"),
    ("Painful bumps on my jawline (22F)", "22", "female"),
    ("62 yo F with a plaque", "62", "female"),
    ("M/62 with plaques on the shins", "62", "male"),
    ("Follow-up at 34 M.", "34", "male"),
    ("a 45-year-old white male with a rash", "45", "male"),
    ("Male, 45 years old, farmer.", "45", "male"),
    ("Siblings, a male and a female, with pustules", NO_AGE, "male, female"),
])  # fmt: skip
def test_shorthand_and_person_context(matcher: LexicalMatcher, text: str, age: str, gender: str) -> None:
    labels = matcher.label(text)
    assert (labels.age, labels.gender) == (age, gender)


@pytest.mark.parametrize("text", [
    "The mask could be shown on a typical network and a blue -white male.",  # ASR for "blue-white veil"
    "male pattern baldness on the vertex",
    "Size 5F catheter and an 8M solution",  # units, not patients: no digit-letter run inside a word
    "Stage IIIF disease",
])  # fmt: skip
def test_no_demographics_from_words_that_are_not_about_a_person(matcher: LexicalMatcher, text: str) -> None:
    labels = matcher.label(text)
    assert labels.gender == NO_GENDER, text


def test_shorthand_positions_and_bounds() -> None:
    assert shorthand("74M. Then 19F.") == [(0, "74", "male"), (10, "19", "female")]
    assert shorthand("0M and 300F") == []
    assert gender_of("female patient") == "female" and gender_of("a female") == "female"


@pytest.mark.parametrize(("text", "tone"), [
    ("White patches on my hands. 34M, darker skin.", "dark skin"),
    ("a dark-skinned man with plaques", "dark skin"),
    ("her fair skin burns easily", "light skin"),
    ("Fitzpatrick skin type IV", "Fitzpatrick IV"),
    ("a biopsy should be performed in dark-skinned patients", NO_SKIN_TONE),
    ("common in people with darker skin types", NO_SKIN_TONE),
    ("a 45-year-old white male", NO_SKIN_TONE),  # ancestry is not a skin tone
])  # fmt: skip
def test_skin_tone_only_when_stated_for_the_patient(text: str, tone: str) -> None:
    assert skin_tone_of(text) == tone
