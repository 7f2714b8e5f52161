"""How the lexical matcher reads clinical concepts: rules a dermatologist would state, on sentences written here.

Each rule was found on the analysis half of the Derm1M dev rows (`python -m bench.eval_augment --half analysis
--per-concept`) and kept only when the held-out half did not drop; the texts below are our own.
"""

from __future__ import annotations

import pytest

from ontology import default_ontology
from pipeline.vocab.lexical import LexicalMatcher


@pytest.fixture(scope="module")
def matcher() -> LexicalMatcher:
    return LexicalMatcher(default_ontology())


def concepts(matcher: LexicalMatcher, text: str) -> set[str]:
    return set(matcher.label(text).concept_ids)


def test_a_bump_is_raised_not_a_papule(matcher: LexicalMatcher) -> None:
    """Lay "bump" says the lesion is raised, not its size: a papule (<1 cm) or a nodule alike."""
    found = concepts(matcher, "A firm bump on the shin, slowly enlarging over a year.")
    assert "raised" in found and "papule" not in found and "nodule" not in found
    assert "raised" in concepts(matcher, "Itchy bumpy skin on both arms.")
    found = concepts(matcher, "Several small papules and a pus-filled bump near the nose.")
    assert {"papule", "pustule"} <= found and "raised" not in found


def test_a_pigmented_lesion_is_darker_than_the_skin(matcher: LexicalMatcher) -> None:
    """A "pigmented" lesion (a pigmented nevus, a pigmented basal cell carcinoma) holds melanin, darker than the skin
    around it; the noun "pigmentation" stays the general word, and hypo-/de-pigmented keep their own concepts."""
    found = concepts(matcher, "A pigmented papule with a rolled border on the cheek.")
    assert "hyperpigmentation" in found and "pigmentation" not in found
    assert "pigmentation" in concepts(matcher, "Irregular pigmentation after laser treatment.")
    assert "hypopigmentation" in concepts(matcher, "Hypopigmented macules on the trunk.")
    found = concepts(matcher, "Depigmented patches around the mouth.")
    assert "depigmentation" in found and "hyperpigmentation" not in found


def test_fluid_filled_lesions_are_vesicles(matcher: LexicalMatcher) -> None:
    """A fluid-filled lesion is a blister; Derm1M's concept list reads "fluid-containing" as a vesicle."""
    assert "vesicle" in concepts(matcher, "Tense, fluid-filled lesions on the forearm.")
    assert "vesicle" in concepts(matcher, "The texture is raised, fluid filled.")
    assert "vesicle" not in concepts(matcher, "Fluid was drained from the knee.")


def test_a_desquamating_surface_is_scaly(matcher: LexicalMatcher) -> None:
    """The adjective describes a surface shedding scale; the noun (peeling, often in sheets) keeps its concept."""
    assert "scale" in concepts(matcher, "Desquamative, itchy plaques on both shins.")
    assert "scale" in concepts(matcher, "Desquamating red patches behind the ears.")
    found = concepts(matcher, "Peeling of the fingertips two weeks after the fever.")
    assert "desquamation" in found and "scale" not in found


def test_inflamed_lesions_are_red(matcher: LexicalMatcher) -> None:
    """Inflamed skin is red (rubor, the first sign of inflammation)."""
    assert "red" in concepts(matcher, "Several comedones, a few of them inflamed, on the chin.")
    assert "red" not in concepts(matcher, "Chronic inflammatory disease of the hair follicles.")


def test_an_exanthem_is_erythematous(matcher: LexicalMatcher) -> None:
    """An exanthem is a widespread erythematous eruption, whatever its cause."""
    assert "erythema" in concepts(matcher, "A morbilliform exanthem over the trunk after amoxicillin.")
    assert "erythema" in concepts(matcher, "Exanthematous rash on the chest and the back.")
