"""Stage 4, pair: one row per (canonical image, text) in `pair_image_texts`.

Panels of compound figures (preprocess_subfigures) pair like figures with the text preprocess aligned to
them; their rows carry caption_scope ('panel': its subcaption, 'whole': the figure's caption, kept because
the panels and the subcaptions did not match) and the whole figure's image id, so consumers can filter."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import duckdb

from pipeline.hashing import fingerprint, shallow_fields
from pipeline.llm.calls import infrastructure_failure, outage_note
from pipeline.pair.pairers import PAIR_KINDS, NarrationPairer, TimedText
from pipeline.pair.summary import LlmCaptioner, extractive_caption
from pipeline.stage import Stage, UnitKind, UnitResult, WorkUnit

_REFS = """
SELECT t.ref_id, t.item_id, t.kind, t.text, t.image_id, coalesce(d.out_image_id, i.canonical_id), i.cluster_id,
       c.source, c.source_type, r.start_s, r.end_s, s.caption_scope, s.parent_image_id
FROM clean_texts t
JOIN clean_images i ON i.image_id = t.image_id AND i.status IN ('kept', 'near_duplicate')
LEFT JOIN clean_deid d ON d.image_id = i.canonical_id  -- its blurred/masked copy (pipeline/clean/deid.py)
JOIN preprocess_image_refs r ON r.ref_id = t.ref_id
JOIN collect_items c ON c.item_id = t.item_id
LEFT JOIN preprocess_subfigures s ON s.ref_id = t.ref_id
ORDER BY t.ref_id
"""


@dataclass(frozen=True)
class PairInput:
    """One cleaned image reference to pair (a row of _REFS); a keyframe also carries its video's timed
    speech (sentences when pair.use_sentences, else segments) as (start_s, end_s, text)."""

    ref_id: str
    item_id: str
    kind: str  # preprocess_image_refs.kind
    text: str | None
    image_id: str
    canonical_id: str
    cluster_id: str | None
    source: str
    source_type: str
    start_s: float | None = None
    end_s: float | None = None
    caption_scope: str | None = None
    parent_image_id: str | None = None
    segments: tuple[tuple[float, float, str], ...] = ()


class PairStage(Stage):
    name = "pair"
    main_table = "pair_image_texts"
    unit_tables = ("pair_image_texts",)
    shared_tables = ("llm_calls",)  # LLM captions (pair.caption_method: llm): the call log

    def unit_kinds(self) -> dict[str, UnitKind]:
        """Keyframes pair with narration (window, sentences, caption method, and the `llm` when it writes
        their captions); figures, posts and dataset images keep their own text (only its minimum length)."""
        keyframe: tuple[str, ...] = ("pair",) + (("llm",) if self.cfg.pair.caption_method == "llm" else ())
        return {"keyframe": UnitKind(keyframe, ("narration_pairer@1", "keyframe_caption@1")),
                "text": UnitKind(("pair.min_text_chars",), ("text_pair@1",))}

    def resources(self, unit: WorkUnit) -> tuple[str, ...]:
        return ("llm",) if unit.payload.kind == "keyframe" and self.cfg.pair.caption_method == "llm" else ()

    def candidates(self, con: duckdb.DuckDBPyConnection) -> Iterator[WorkUnit]:
        hashes = self.kind_hashes()
        speech: dict[str, list[tuple[float, float, str]]] = {}
        for item_id, start, end, text in con.execute(
            "SELECT item_id, start_s, end_s, text FROM clean_transcript_segments ORDER BY item_id, seg_index"
        ).fetchall():
            speech.setdefault(item_id, []).append((start, end, text))
        if self.cfg.pair.use_sentences:  # whole sentences pair better than Whisper's cue-sized pieces
            sentences: dict[str, list[tuple[float, float, str]]] = {}
            for item_id, start, end, text in con.execute(
                "SELECT item_id, start_s, end_s, text FROM clean_transcript_sentences ORDER BY item_id, sent_index"
            ).fetchall():
                sentences.setdefault(item_id, []).append((start, end, text))
            speech.update(sentences)
        for row in con.execute(_REFS).fetchall():
            p = PairInput(*row)
            if p.kind == "keyframe":
                p = replace(p, segments=tuple(speech.get(p.item_id, [])))
            kind = "keyframe" if p.kind == "keyframe" else "text"
            yield WorkUnit(p.ref_id, fingerprint(shallow_fields(p), hashes[kind]), p)

    def process(self, unit: WorkUnit) -> UnitResult:
        res, cfg = UnitResult(unit.key, unit.fingerprint), self.cfg.pair
        p: PairInput = unit.payload
        row: dict[str, Any] = {"pair_id": p.ref_id, "item_id": p.item_id, "image_id": p.canonical_id,
               "source_image_id": p.image_id, "cluster_id": p.cluster_id, "kind": PAIR_KINDS[p.kind],
               "source": p.source, "source_type": p.source_type}
        if p.kind == "keyframe":
            if p.start_s is None or p.end_s is None:
                res.reject(p.ref_id, "no_scene_time", "a keyframe reference without its scene's start and end")
                return res
            pairer = NarrationPairer(cfg.context_window_s)
            narration = pairer.pair(p.start_s, p.end_s, [TimedText(*s) for s in p.segments])
            if narration is None:
                res.reject(p.ref_id, "no_narration", f"no speech within {cfg.context_window_s}s of the scene")
                return res
            if cfg.caption_method == "llm":
                captioner = LlmCaptioner(self.cfg.llm, cfg.caption_max_words, client=self.llm_client)
                caption, method, call = captioner.caption(narration.text)
                res.add("llm_calls", call)
                if infrastructure_failure(call["error"]):  # not the narration's fault: pending, retried
                    res.unavailable = outage_note(self.cfg.llm, call["error"])
                    return res
            else:
                caption, method = extractive_caption(narration.text, cfg.caption_max_words), "extractive"
            row.update(text=narration.text, start_s=narration.start_s, end_s=narration.end_s,
                       align_score=narration.align_score, n_segments=narration.n_segments,
                       caption=caption or None, caption_method=method if caption else None)
        else:
            row.update(text=p.text, align_score=1.0)
            if p.caption_scope:  # a compound-figure panel
                row.update(caption_scope=p.caption_scope, parent_image_id=p.parent_image_id)
        if not row["text"] or len(row["text"]) < cfg.min_text_chars:
            res.reject(p.ref_id, "no_text", f"text {row['text']!r} shorter than {cfg.min_text_chars} chars")
            return res
        res.add("pair_image_texts", row)
        return res
