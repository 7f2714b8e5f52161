"""Augment's pending LLM work, for `derm1m estimate`: the pairs the labeller would send now.

Counted as the stage itself would: its candidates less those done in `work_log` with the same fingerprint,
less the texts the answer cache already holds, with identical texts sent once. A profile whose
`augment.method` is `lexical` is estimated as if it were `llm` (what switching it on would cost).
"""

from __future__ import annotations

import duckdb

from ontology import Ontology
from pipeline.augment.stage import AugmentStage
from pipeline.config import RunConfig
from pipeline.llm.estimate import Workload, prompt_workload, report
from pipeline.stage import pending_units


def augment_workload(con: duckdb.DuckDBPyConnection, cfg: RunConfig, ontology: Ontology | None = None) -> Workload:
    cfg = cfg.model_copy(deep=True)
    cfg.augment.method = "llm"
    stage = AugmentStage(cfg, ontology)
    assert stage.llm is not None
    pending, _ = pending_units(con, stage, stage.candidates(con))
    texts = {u.payload["text"] for u in pending if "cached" not in u.payload}
    llm = stage.llm
    return prompt_workload("augment labels", lambda text: llm.messages(text)[0]["content"],
                           llm.prompt_key, sorted(texts), cfg.llm, con)


def estimate_lines(con: duckdb.DuckDBPyConnection, cfg: RunConfig, project: int | None = None) -> list[str]:
    """`derm1m estimate`: augment's pending work priced, and `project` requests at its mean size if asked.
    The other LLM options (clean's transcript correction and translation, pair's LLM captions) send one
    request per transcript, foreign post or keyframe; they are named when on, not yet counted."""
    work = augment_workload(con, cfg)
    lines = report([work], cfg.llm)
    if project is not None:
        lines += [f"projected to {project:,} pair(s) at the measured mean size:", *report([work.scaled(project)], cfg.llm)[1:]]
    on = [name for name, flag in (("clean.transcript.llm_correct", cfg.clean.transcript.llm_correct),
                                  ("clean.pii.translate", cfg.clean.pii.translate in ("on", True) or (
                                      cfg.clean.pii.translate == "auto" and "llm" in cfg.model_fields_set)),
                                  ("pair.caption_method: llm", cfg.pair.caption_method == "llm")) if flag]
    if on:
        lines.append(f"not counted: {', '.join(on)} (also call the LLM)")
    if cfg.augment.method != "llm":
        lines.append("augment.method is lexical: the figures are what `augment.method: llm` would send")
    return lines
