"""The augment stage's LLM options: the shortlist the labeller's v3 prompt chooses from, and the caption method.

Why a shortlist: the v2 prompt sent the whole ontology (~6K tokens) with every pair; at Derm1M's scale that is
the whole cost of the LLM path, and a small local model reads a long list badly. The shortlist (lexical
mentions, their parents, fuzzy matches; pipeline/augment/shortlist.py) keeps a prompt near 700 tokens and
becomes the answer schema's enums, so the model can only choose among candidates the text supports.
The sizes below were chosen on the dev rows (bench/eval_llm.py): a Derm1M caption rarely names more than
three conditions or ten concepts, so the caps are generous for recall and bounded for cost.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ShortlistConfig(BaseModel):
    """Caps per label field (the most candidates offered) and the prompt budget.

    Args:
        conditions: condition candidates (lexical mentions first, then their parents, then fuzzy matches).
        concepts: visual concept candidates.
        body_sites: body-site candidates.
        symptoms: symptom candidates.
        fuzzy_min_score: rapidfuzz ratio (0-100) a name must reach against a run of 1-4 words of the text to
            be offered without a lexical match (misspellings, hyphenation); 90 catches "basal cel carcinoma"
            and "seborrhoeic keratoses" but not "allergic reaction" for "id reaction".
        max_prompt_tokens: the estimated prompt size the labeller stays under, by dropping fuzzy candidates
            and then cutting the text's tail (never the lexical mentions).
    """

    model_config = ConfigDict(extra="forbid")

    conditions: int = Field(default=10, ge=1, le=60)
    concepts: int = Field(default=14, ge=1, le=80)
    body_sites: int = Field(default=5, ge=1, le=40)
    symptoms: int = Field(default=4, ge=1, le=20)
    fuzzy_min_score: float = Field(default=90.0, ge=50.0, le=100.0)
    max_prompt_tokens: int = Field(default=1000, ge=300)
