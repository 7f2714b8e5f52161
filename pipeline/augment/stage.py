"""Stage 5, augment: map each pair's text onto the ontology and write Derm1M's caption kinds.

The lexical matcher is the offline default; `augment.method: llm` selects the LLM labeller (issue #6)
through the same Labels contract, so the table and the export do not change with the method.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property

import duckdb

from ontology import Ontology
from pipeline.augment.captions import concept_caption, ontology_caption, refined_caption, truncated_caption
from pipeline.augment.lexical import Labels, LexicalMatcher
from pipeline.config import RunConfig
from pipeline.errors import ConfigError
from pipeline.hashing import fingerprint, stable_json
from pipeline.stage import Stage, UnitResult, WorkUnit


class AugmentStage(Stage):
    name = "augment"
    main_table = "augment_captions"
    unit_tables = ("augment_captions",)

    def __init__(self, cfg: RunConfig, ontology: Ontology | None = None) -> None:
        super().__init__(cfg)
        if cfg.augment.method != "lexical":
            raise ConfigError("augment.method 'llm' is not available yet (issue #6); use 'lexical'")
        self.ontology = ontology or Ontology.load()

    @cached_property
    def matcher(self) -> LexicalMatcher:
        return LexicalMatcher(self.ontology)

    def candidates(self, con: duckdb.DuckDBPyConnection) -> Iterator[WorkUnit]:
        for pair_id, text in con.execute("SELECT pair_id, text FROM pair_image_texts ORDER BY pair_id").fetchall():
            yield WorkUnit(pair_id, fingerprint(text, self.ontology.version, self.config_hash), {"text": text})

    def process(self, unit: WorkUnit) -> UnitResult:
        res = UnitResult(unit.key, unit.fingerprint)
        text: str = unit.payload["text"]
        labels: Labels = self.matcher.label(text)
        res.add("augment_captions", {
            "pair_id": unit.key, "method": "lexical", "prompt_version": None,
            "ontology_version": self.ontology.version, "caption": text,
            "truncated_caption": truncated_caption(text),
            "refined_caption": refined_caption(text, labels, max_words=self.cfg.augment.refined_max_words),
            "ontology_caption": ontology_caption(labels), "concept_caption": concept_caption(labels),
            "disease_label": labels.disease_label, "hierarchical_disease_label": labels.hierarchical_disease_label,
            "condition_ids": stable_json(labels.condition_ids), "skin_concept": labels.skin_concept,
            "concept_ids": stable_json(labels.concept_ids), "body_location": labels.body_location,
            "symptoms": labels.symptoms, "age": labels.age, "gender": labels.gender, "skin_tone": labels.skin_tone,
        })
        return res
