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
