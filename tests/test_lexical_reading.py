"""How the lexical matcher picks the disease: reading rules a dermatologist would state, on sentences written here.

Each rule was found on the analysis half of the Derm1M dev rows (`python -m bench.eval_augment --half analysis`)
and kept only when the held-out half did not drop; the texts below are our own.
"""

from __future__ import annotations

import pytest

from ontology import default_ontology
from pipeline.vocab.lexical import LexicalMatcher


@pytest.fixture(scope="module")
def matcher() -> LexicalMatcher:
    return LexicalMatcher(default_ontology())


def best(matcher: LexicalMatcher, text: str) -> str | None:
    ids = matcher.label(text).condition_ids
    return ids[0] if ids else None


def test_non_denies_the_subtype_modifier_not_the_disease(matcher: LexicalMatcher) -> None:
    """A "non-nodular basal cell carcinoma" is a basal cell carcinoma that is not nodular."""
    assert best(matcher, "A shiny non-nodular basal cell carcinoma on the temple.") == "basal_cell_carcinoma"
    labels = matcher.label("A shiny non-nodular basal cell carcinoma on the temple.")
    assert not any(m.negated for m in labels.mentions if m.node_id == "basal_cell_carcinoma")
    assert best(matcher, "Crusted non-bullous impetigo around the nostrils.") == "nonbullous_impetigo"
    assert (
        best(matcher, "No nodular basal cell carcinoma was seen; a seborrheic keratosis.")
        == "seborrheic_keratosis"
    )


@pytest.mark.parametrize("cue", ["similar to", "akin to", "comparable to", "reminiscent of"])
def test_a_comparison_is_not_the_diagnosis(matcher: LexicalMatcher, cue: str) -> None:
    """What the lesion is compared with ("plaques similar to psoriasis") is not what the patient has."""
    labels = matcher.label(f"Scaly plaques {cue} psoriasis in a child with tinea corporis.")
    assert labels.condition_ids[0] == "tinea_corporis"
    assert next(m for m in labels.mentions if m.node_id == "psoriasis").uncertain


def test_subtypes_named_alike_give_the_disease(matcher: LexicalMatcher) -> None:
    """A text naming several subtypes of one disease equally is about the disease; one subtype named more
    often is the subject, and two different diseases never merge into a taxonomy bucket."""
    assert best(matcher, "Examples of plantar warts and filiform warts in adolescents.") == "viral_warts"
    text = "Plantar warts on both soles. A filiform wart on the lip. The plantar warts were pared."
    assert best(matcher, text) == "plantar_wart"
    assert best(matcher, "Basal cell carcinoma and squamous cell carcinoma on sun-damaged skin.") == (
        "basal_cell_carcinoma"
    )


def test_a_disease_adjective_names_the_disease(matcher: LexicalMatcher) -> None:
    """Lesions called "syphilitic", "psoriatic", "scabietic", "leprous" or "vitiliginous" belong to that disease,
    and beat a descriptive finding; longer names that hold the adjective keep their own node."""
    assert best(matcher, "Granulation tissue in a syphilitic lesion of the palm.") == "syphilis"
    assert best(matcher, "Thick psoriatic plaques on the knees.") == "psoriasis"
    assert best(matcher, "Scabietic burrows between the fingers.") == "scabies"
    assert best(matcher, "Leprous nodules on the earlobes.") == "leprosy"
    assert best(matcher, "Vitiliginous patches around the eyes.") == "vitiligo"
    assert best(matcher, "Psoriatic nail dystrophy with pitting.") == "nail_psoriasis"


def test_a_disease_named_by_its_only_cause(matcher: LexicalMatcher) -> None:
    """Dermatophytes cause tinea and nothing else: "an infection caused by dermatophytes" is tinea, and a
    named tinea keeps its site ("tinea cruris from a dermatophyte")."""
    assert best(matcher, "An itchy infection caused by dermatophytes, spreading at the edge.") == "tinea"
    assert best(matcher, "Tinea cruris from a dermatophyte picked up at the gym.") == "tinea_cruris"
