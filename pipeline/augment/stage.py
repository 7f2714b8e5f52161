"""Stage 5, augment: map each pair's text onto the ontology and write Derm1M's caption kinds.

`augment.method: lexical` (the offline default) uses the LexicalMatcher; `llm` asks any OpenAI-compatible
server through LlmLabeller, logs every call in `llm_calls`, and rejects a pair whose answer never
resolves onto the ontology. Both produce the same Labels, so the table and the export do not depend on
the method; the method and prompt version are stored on every row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import duckdb

from ontology import Ontology
from pipeline.augment.captions import concept_caption, ontology_caption, refined_caption, truncated_caption
from pipeline.config import RunConfig
from pipeline.hashing import fingerprint, stable_json
from pipeline.llm.calls import outage_note
from pipeline.llm.ledger import BatchLedger, WarehouseLedger
from pipeline.stage import Stage, StageReport, UnitKind, UnitResult, WorkUnit
from pipeline.vocab.crosswalk import Crosswalk, load_crosswalk
from pipeline.vocab.lexical import Labels, LexicalMatcher

if TYPE_CHECKING:
    from pipeline.augment.refine import RefineOutcome


class AugmentStage(Stage):
    name = "augment"
    main_table = "augment_captions"
    unit_tables = ("augment_captions",)
    # append-only call log (a redone pair adds calls, never drops them) and the answer cache
    shared_tables = ("llm_calls", "llm_cache")

    def __init__(self, cfg: RunConfig, ontology: Ontology | None = None, *, llm_client: Any = None) -> None:
        super().__init__(cfg, llm_client=llm_client)
        self.ontology = ontology or Ontology.load()
        self.llm = None
        self.refiner = None
        self._ledger: BatchLedger | None = None
        if cfg.augment.method == "llm":
            from pipeline.augment.llm import LlmLabeller  # the openai client is an optional extra

            self.llm = LlmLabeller(cfg.llm, self.ontology, cfg.augment.llm_prompt, client=llm_client,
                                   shortlist=cfg.augment.shortlist)  # fmt: skip
        if cfg.augment.caption_method == "llm":  # refined captions written by the model, grounded
            from pipeline.augment.refine import CaptionRefiner

            self.refiner = CaptionRefiner(cfg.llm, self.ontology, self.matcher, cfg.augment.refined_max_words,
                                          client=llm_client)  # fmt: skip

    @cached_property
    def matcher(self) -> LexicalMatcher:
        return LexicalMatcher(self.ontology)

    @cached_property
    def crosswalk(self) -> Crosswalk | None:
        """Derm1M's names for the labels (`augment.label_names: derm1m`), else None."""
        aug = self.cfg.augment
        if aug.label_names != "derm1m" or aug.derm1m_ontology is None:
            return None
        return load_crosswalk(self.ontology, aug.derm1m_ontology)

    def named(self, labels: Labels) -> Labels:
        """The labels in the profile's vocabulary: Derm1M's node names through the crosswalk when asked."""
        walk = self.crosswalk
        if walk is None or not labels.condition_ids or (node := walk.node(labels.condition_ids[0])) is None:
            return labels
        return replace(labels, disease_label=node.label, hierarchical_disease_label=node.hierarchical_label)

    @property
    def method(self) -> str:
        return f"llm:{self.cfg.llm.model}" if self.llm else "lexical"

    def unit_kinds(self) -> dict[str, UnitKind]:
        """One kind: every pair is labelled the same way; it reads the shared `llm` only in the llm method."""
        uses_llm = self.llm is not None or self.refiner is not None
        steps = ("labels@2", "captions@1") + ((self.refiner.prompt_key,) if self.refiner else ())
        return {"pair": UnitKind(("augment",) + (("llm",) if uses_llm else ()), steps)}

    def resources(self, unit: WorkUnit) -> tuple[str, ...]:
        calls = (self.llm is not None and "cached" not in unit.payload) or (
            self.refiner is not None and "refine_cached" not in unit.payload)  # fmt: skip
        return ("llm",) if calls else ()

    def candidates(self, con: duckdb.DuckDBPyConnection) -> Iterator[WorkUnit]:
        prompt = self.llm.prompt_key if self.llm else None
        cache: dict[str, str] = {}
        if self.llm is not None and self.cfg.llm.cache:  # process() must not read the DB
            cache = dict(con.execute(
                "SELECT input_hash, CAST(response AS VARCHAR) FROM llm_cache WHERE prompt = ? AND model = ?",
                [prompt, self.cfg.llm.model]).fetchall())  # fmt: skip
        refine_cache: dict[str, str] = {}
        if self.refiner is not None and self.cfg.llm.cache:
            refine_cache = dict(con.execute(
                "SELECT input_hash, CAST(response AS VARCHAR) FROM llm_cache WHERE prompt = ? AND model = ?",
                [self.refiner.prompt_key, self.cfg.llm.model]).fetchall())  # fmt: skip
        h = self.kind_hash("pair")
        if self.crosswalk is not None:  # the Derm1M file's bytes, not only its path, decide the labels
            h = fingerprint(h, self.crosswalk.version)
        rows = con.execute(
            "SELECT p.pair_id, p.text, i.title FROM pair_image_texts p LEFT JOIN collect_items i USING (item_id) "
            "ORDER BY p.pair_id").fetchall()  # fmt: skip
        for pair_id, text, title in rows:
            payload: dict[str, Any] = {"text": text}
            if title and title.strip() and title.strip() not in text:
                payload["context"] = title.strip()  # a lecture's title: the disease when the scene names none
            if self.llm is not None and (hit := cache.get(self.llm.cache_key(text))):
                payload["cached"] = hit
            if self.refiner is not None and (hit := refine_cache.get(self.refiner.cache_key(text))):
                payload["refine_cached"] = hit
            yield WorkUnit(pair_id, fingerprint(text, payload.get("context"), self.ontology.version, h, prompt),
                           payload)

    def prepare(self, pending: list[WorkUnit], con: duckdb.DuckDBPyConnection) -> None:
        """Batch API mode: answer every pending unit through batches before processing starts; the outcome
        rides in the payload, so process() makes no call (except a corrective retry). The batches are
        recorded in `llm_batches` as they are submitted, so a killed run's batches are resumed, not paid
        for twice."""
        if self.llm is None or not self.cfg.llm.batch or not pending:
            return
        from pipeline.augment.batch import label_batch

        self._ledger = WarehouseLedger(con)
        cache = {u.key: u.payload["cached"] for u in pending if "cached" in u.payload}
        outcomes = label_batch(self.llm, {u.key: u.payload["text"] for u in pending},
                               {self.llm.cache_key(u.payload["text"]): c for u in pending
                                if (c := cache.get(u.key)) is not None}, ledger=self._ledger)
        for unit in pending:
            unit.payload["outcome"] = outcomes[unit.key]

    def finalize(self, con: duckdb.DuckDBPyConnection, report: StageReport) -> None:
        """Every unit's rows are committed: the batches read this run are consumed."""
        if self._ledger is not None:
            self._ledger.mark_consumed()

    def process(self, unit: WorkUnit) -> UnitResult:
        res = UnitResult(unit.key, unit.fingerprint)
        text: str = unit.payload["text"]
        lexical = self.matcher.label(text, unit.payload.get("context"))
        labels, prompt_version = lexical, None
        if self.llm is not None:
            outcome = unit.payload.get("outcome") or self.llm.label(text, cached=unit.payload.get("cached"))
            res.rows["llm_calls"] = outcome.calls
            res.rows["llm_cache"] = outcome.cache_rows
            if outcome.labels is None:
                if outcome.outage:  # the server, not the text: pending, retried by the next run
                    res.unavailable = outage_note(self.cfg.llm, outcome.detail)
                else:
                    res.reject(unit.key, outcome.reason or "llm_invalid_output", outcome.detail)
                return res
            labels, prompt_version = outcome.labels, self.llm.prompt_key
        refine = None
        if self.refiner is not None:  # a refused or missing answer falls back to the extractive caption
            refine = self.refiner.refine(text, labels, lexical, cached=unit.payload.get("refine_cached"))
            res.rows["llm_calls"] = [*res.rows.get("llm_calls", []), *refine.calls]
            res.rows["llm_cache"] = [*res.rows.get("llm_cache", []), *refine.cache_rows]
        res.add("augment_captions", caption_row(unit.key, text, self.named(labels), lexical, self.method, prompt_version,
                                                self.ontology.version, self.cfg.augment.refined_max_words, refine))
        return res


def caption_row(pair_id: str, text: str, labels: Labels, lexical: Labels, method: str,
                prompt_version: str | None, ontology_version: str, max_words: int,
                refine: RefineOutcome | None = None) -> dict[str, Any]:
    """One augment_captions row. `refine`: what the refiner gave (the model's caption, or the extractive one
    with the reason); None: the extractive one, which ranks sentences by the lexical mentions (the LLM
    labels have none). refined_method / refined_reason say which, so the two can be told apart."""
    refined = refine.caption if refine is not None else None
    return {
        "pair_id": pair_id, "method": method, "prompt_version": prompt_version,
        "ontology_version": ontology_version, "caption": text,
        "truncated_caption": truncated_caption(text),
        "refined_caption": refined if refined is not None else refined_caption(text, lexical, max_words=max_words),
        "refined_method": refine.method if refine is not None else "extractive",
        "refined_reason": refine.reason if refine is not None else None,
        "ontology_caption": ontology_caption(labels), "concept_caption": concept_caption(labels),
        "disease_label": labels.disease_label, "hierarchical_disease_label": labels.hierarchical_disease_label,
        "condition_ids": stable_json(labels.condition_ids), "skin_concept": labels.skin_concept,
        "concept_ids": stable_json(labels.concept_ids), "body_location": labels.body_location,
        "symptoms": labels.symptoms, "age": labels.age, "gender": labels.gender, "skin_tone": labels.skin_tone,
    }
