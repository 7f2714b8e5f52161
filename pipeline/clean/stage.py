"""Stage 3, clean: score and filter images, cluster near-duplicates, normalise texts and transcripts.

Three kinds of work unit share the stage: one per image (scores and the keep/drop decision), one per image
reference (its caption or post text), one per transcript. Near-duplicate clustering needs every image at
once, so it runs in finalize() (pipeline.clean.clusters): new images are searched against every kept one
with multi-index hashing over whole-image and crop hashes; the largest image of a cluster is canonical.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import duckdb

from pipeline.clean.filters import ImageScores, decide, score_image
from pipeline.clean.text import normalise_text, remove_fillers
from pipeline.clean.translate import clean_forum_text, detector_tools, translation_on
from pipeline.clean.units import CleanUnit, ImageUnit, Segment, TextUnit, TranscriptUnit
from pipeline.hashing import fingerprint
from pipeline.llm.calls import infrastructure_failure, outage_note
from pipeline.stage import Stage, StageReport, UnitKind, UnitResult, WorkUnit
from pipeline.vision.dedup import hash_columns

if TYPE_CHECKING:
    from pipeline.clean.caption_llm import LlmCaptionJudge
    from pipeline.clean.translate import Translator
    from pipeline.config import ImageTypeConfig
    from pipeline.vision.image_type import ImageTypeClassifier


CAPTION_NOT_DERMATOLOGY = "caption_not_dermatology"
NOT_ENGLISH = "not_english"


@lru_cache(maxsize=4)
def _classifier(cfg_json: str) -> ImageTypeClassifier:
    from pipeline.config import ImageTypeConfig
    from pipeline.vision.classifier import make_classifier

    return make_classifier(ImageTypeConfig.model_validate_json(cfg_json))


def image_classifier(cfg: ImageTypeConfig) -> ImageTypeClassifier | None:
    """The profile's image-type backend, built once per process (a model load is slow), or None if off."""
    return _classifier(cfg.model_dump_json()) if cfg.enabled else None


class CleanStage(Stage):
    name = "clean"
    main_table = "clean_texts"
    unit_tables = ("clean_image_scores", "clean_texts", "clean_transcript_segments", "clean_transcript_corrections",
                   "clean_transcript_sentences", "clean_deid", "clean_deid_findings")
    # calls of transcript_llm and translate: append-only; preprocess_images: de-identified copies (deid.py);
    # llm_cache: accepted translations, reused when a text unit is redone
    shared_tables = ("llm_calls", "llm_cache", "vision_image_types", "preprocess_images")

    def unit_kinds(self) -> dict[str, UnitKind]:
        """Images read the size/skin thresholds and the shared classifier; texts the caption and PII rules;
        transcripts the filler and transcript rules. A kind reads the shared `llm` only while an option of
        it calls the model (translation, LLM transcript correction), so a model change redoes just those."""
        c = self.cfg.clean
        image = ("clean.min_side_px", "clean.skin_score_min") + (("image_type",) if self.cfg.image_type.enabled else ())
        image_steps: tuple[str, ...] = ("image_scores@1", "dedup_views@2")
        if self.cfg.image_type.enabled:  # a new heuristic, or the ImageNet veto installed, decides again
            from pipeline.vision.classifier import classifier_version

            image_steps += (f"image_type@{classifier_version(self.cfg.image_type)}",)
        image_tools: tuple[str, ...] = ()
        if self.cfg.deid.enabled:  # the policies, the stored copy's encoding, the detectors' versions
            from pipeline.clean.deid import deid_tools

            image += ("deid", "preprocess.image")
            image_steps += ("deid@1",)
            image_tools = deid_tools(self.cfg.deid)
        text: tuple[str, ...] = ("clean.caption", "clean.pii") + (("llm",) if self._translates() else ())
        text_steps: tuple[str, ...] = ("text_normalise@1", "pii@1", "language@1", "caption_relevance@1")
        if self._judges_captions():  # only then: the default hashes stay as they were
            text += ("clean.caption.method",) + (() if "llm" in text else ("llm",))
            text_steps += ("caption_llm@1",)
        transcript: tuple[str, ...] = ("clean.filler_words", "clean.transcript")
        if c.transcript.llm_correct:
            transcript += ("llm",)
        from ontology import default_version

        vocab = (f"ontology@{default_version()}",)  # caption relevance and the term corrector read its names
        return {"image": UnitKind(image, image_steps, image_tools),
                "text": UnitKind(text, text_steps, detector_tools(c.pii) + vocab),
                "transcript": UnitKind(transcript, ("transcript_clean@1",), vocab),
                # no units: finalize's near-duplicate clustering, so stage_runs.config_hash covers it
                "clusters": UnitKind(("clean.phash_max_distance", "clean.dedup_max_distance"), ("clusters@1",))}

    def resources(self, unit: WorkUnit) -> tuple[str, ...]:
        c, p = self.cfg.clean, unit.payload
        uses_llm = (isinstance(p, TranscriptUnit) and c.transcript.llm_correct) or (
            isinstance(p, TextUnit) and (self._translates() or (
                self._judges_captions() and p.ref_kind in c.caption.kinds)))
        return ("llm",) if uses_llm else ()

    def candidates(self, con: duckdb.DuckDBPyConnection) -> Iterator[WorkUnit]:
        hashes = self.kind_hashes()
        known = self._known_types(con)
        for image_id, path in con.execute(
            "SELECT image_id, path FROM preprocess_images WHERE image_id IN "
            "(SELECT image_id FROM preprocess_image_refs) ORDER BY image_id"
        ).fetchall():  # known_type: classified before (a keyframe in preprocess, or an earlier clean run)
            yield WorkUnit(f"image:{image_id}", fingerprint(image_id, hashes["image"]),
                           ImageUnit(image_id, path, known.get(image_id)))
        if self._translates():
            self._load_translations(con)
        if self._judges_captions():
            self._caption_cache = self._stored_answers(con, "caption_relevance")
        for ref_id, item_id, image_id, kind, text, context in con.execute(
            "SELECT ref_id, item_id, image_id, kind, text, context FROM preprocess_image_refs ORDER BY ref_id"
        ).fetchall():
            unit = TextUnit(ref_id, item_id, image_id, kind, text, context)
            yield WorkUnit(f"text:{ref_id}", fingerprint(unit.content(), hashes["text"]), unit)
        segments: dict[str, list[Segment]] = {}
        for item_id, idx, start, end, text in con.execute(
            "SELECT item_id, seg_index, start_s, end_s, text FROM preprocess_transcript_segments "
            "ORDER BY item_id, seg_index"
        ).fetchall():
            segments.setdefault(item_id, []).append((idx, start, end, text))
        for item_id, segs in segments.items():
            yield WorkUnit(f"transcript:{item_id}", fingerprint(segs, hashes["transcript"]),
                           TranscriptUnit(item_id, tuple(segs)))

    def _known_types(self, con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
        if not self.cfg.image_type.enabled:
            return {}
        from pipeline.vision.classifier import classifier_key

        cols = ["image_id", "image_type", "confidence", "skin_score", "backend"]
        rows = con.execute(f"SELECT {', '.join(cols)} FROM vision_image_types WHERE classifier = ?",
                           [classifier_key(self.cfg.image_type)]).fetchall()
        return {r[0]: dict(zip(cols, r, strict=True)) for r in rows}

    def process(self, unit: WorkUnit) -> UnitResult:
        res = UnitResult(unit.key, unit.fingerprint)
        p: CleanUnit = unit.payload
        if isinstance(p, ImageUnit):
            self._image(p, res)
        elif isinstance(p, TextUnit):
            self._text(p, res)
        elif isinstance(p, TranscriptUnit):
            self._transcript(p, res)
        else:
            raise TypeError(f"clean cannot process a {type(p).__name__} unit")
        return res

    def _image(self, p: ImageUnit, res: UnitResult) -> None:
        scores = self._score(p, res)
        reason = decide(scores, self.cfg.clean, self.cfg.image_type.keep)
        detail = f"{scores.width}x{scores.height}, skin {scores.skin_score}, type {scores.image_type} " \
                 f"({scores.type_confidence})"
        if reason is None and self.cfg.deid.enabled:
            reason, detail = self._deid(p, res) or (None, detail)
        res.add("clean_image_scores", {"image_id": p.image_id, "width": scores.width, "height": scores.height,
                                       "phash": scores.phash, "skin_score": scores.skin_score,
                                       "image_type": scores.image_type, "type_confidence": scores.type_confidence,
                                       "type_backend": scores.type_backend, "status": reason or "pending",
                                       **hash_columns(p.path)})  # dedup views (pipeline.vision.dedup)
        if reason:
            res.reject(p.image_id, reason, detail)

    def _deid(self, p: ImageUnit, res: UnitResult) -> tuple[str, str] | None:
        """Faces and burned-in text (pipeline.clean.deid): its rows, the de-identified copy stored and
        registered as an image; (reason, detail) when the policy drops the image."""
        from pipeline.clean.deid import deid_image
        from pipeline.media import MediaStore

        out = deid_image(p.path, p.image_id, self.cfg.deid, self.cfg.preprocess.image)
        res.add("clean_deid", out.decision)
        for finding in out.findings:
            res.add("clean_deid_findings", finding)
        if out.image is not None:
            store = MediaStore(self.cfg.media_url or self.cfg.data_dir / "media")
            res.add("preprocess_images", {
                "image_id": out.image.sha256, "path": str(store.put(out.image)), "width": out.image.width,
                "height": out.image.height, "ext": out.image.ext, "bytes": len(out.image.data),
                "source_mode": "RGB", "source_format": f"deid:{out.decision['action']}"})
        return (out.reject, out.decision["detail"] or "") if out.reject else None

    def _text(self, p: TextUnit, res: UnitResult) -> None:
        text, context = normalise_text(p.text), normalise_text(p.context)
        translate = self._translates()
        forum = clean_forum_text(text, context, p.ref_kind, self.cfg, translate,  # PII, language, translation
                                 self._translator() if translate else None)
        text, context = forum.text, forum.context
        for call in forum.calls:
            res.add("llm_calls", call)
            if infrastructure_failure(call["error"]):  # translation not possible now: pending, retried
                res.unavailable = outage_note(self.cfg.llm, call["error"])
                return
        for cached in forum.cache_rows:
            res.add("llm_cache", cached)
        lang = forum.language
        if lang is not None and not lang.english and forum.extra.get("translation") != "translated" \
                and self.cfg.clean.pii.untranslated == "reject":
            res.reject(p.ref_id, NOT_ENGLISH, f"{lang.code} ({lang.detector} {lang.confidence}), translation "
                                              f"{forum.extra.get('translation')}")
            return
        row: dict[str, Any] = {"ref_id": p.ref_id, "item_id": p.item_id, "image_id": p.image_id, "kind": p.ref_kind,
               "text": text, "context": context, "changed": text != p.text or context != p.context}
        row |= forum.extra
        ccfg = self.cfg.clean.caption
        if ccfg.enabled and p.ref_kind in ccfg.kinds:
            from pipeline.vocab.relevance import CaptionRelevanceScorer

            rel = CaptionRelevanceScorer.default().score(text, context if ccfg.use_context else None)
            row |= {"caption_score": rel.score, "caption_reason": rel.explanation[:500]}
            keep, why = rel.score >= ccfg.min_score, f"score {rel.score}: {rel.explanation}"
            if ccfg.method == "llm" and text:  # the model decides; the lexical score when it cannot answer
                verdict = self._caption_judge().judge(text, context if ccfg.use_context else None)
                for call in verdict.calls:
                    res.add("llm_calls", call)
                if verdict.outage:  # not the caption's fault: pending, retried
                    res.unavailable = outage_note(self.cfg.llm, verdict.error)
                    return
                for cached in verdict.cache_rows:
                    res.add("llm_cache", cached)
                if verdict.relevant is not None:
                    keep, why = verdict.relevant, f"llm:{self.cfg.llm.model}: {verdict.reason}"
                    row["caption_reason"] = why[:500]
            if not keep:  # no clean_texts row: the pair stage never sees it
                res.reject(p.ref_id, CAPTION_NOT_DERMATOLOGY, why[:500])
                return
        res.add("clean_texts", row)

    def _score(self, p: ImageUnit, res: UnitResult) -> ImageScores:
        """Scores with the shared classifier's result: the one recorded for this image, else a new one,
        recorded in `vision_image_types` for every later run."""
        from pipeline.vision.classifier import classifier_key, known_result, type_row

        if p.known_type is not None:
            return score_image(p.path, known=known_result(p.known_type))
        scores = score_image(p.path, image_classifier(self.cfg.image_type))
        if scores.result is not None:
            res.add("vision_image_types", type_row(p.image_id, classifier_key(self.cfg.image_type),
                                                   scores.result, self.name))
        return scores

    def _translates(self) -> bool:
        """Non-English text is translated: clean.pii.translate on, or auto with an LLM configured (the
        profile's `llm:`, or a client handed to the stage)."""
        return translation_on(self.cfg, self.llm_client)

    def _judges_captions(self) -> bool:
        c = self.cfg.clean.caption
        return c.enabled and c.method == "llm"

    def _stored_answers(self, con: duckdb.DuckDBPyConnection, prompt: str) -> dict[str, str]:
        """Accepted answers of `prompt`'s current version and this model (`llm_cache`) by input hash."""
        from pipeline.llm.prompts import load_prompt

        rows = con.execute("SELECT input_hash, CAST(response AS VARCHAR) FROM llm_cache WHERE prompt = ? AND model = ?",
                           [load_prompt(prompt).key, self.cfg.llm.model]).fetchall()
        return dict(rows)

    def _caption_judge(self) -> LlmCaptionJudge:
        """One judge per stage (pipeline.clean.caption_llm) with the stored answers read in candidates."""
        if getattr(self, "_caption_judge_obj", None) is None:
            from pipeline.clean.caption_llm import LlmCaptionJudge

            self._caption_judge_obj = LlmCaptionJudge(self.cfg.llm, self.llm_client,
                                                      getattr(self, "_caption_cache", None))
        return self._caption_judge_obj

    def _load_translations(self, con: duckdb.DuckDBPyConnection) -> None:
        """Accepted translations of this prompt version and model (`llm_cache`), so a redone unit reuses
        its answer instead of paying for the call again."""
        from pipeline.llm.prompts import load_prompt

        rows = con.execute("SELECT input_hash, CAST(response AS VARCHAR) FROM llm_cache WHERE prompt = ? AND model = ?",
                           [load_prompt("translation").key, self.cfg.llm.model]).fetchall()
        self._translation_cache = dict(rows)

    def _translator(self) -> Translator:
        """One translator per stage, on the client given or the profile's server, holding the stored
        answers (`llm_cache`, read in candidates) and a memo of this process's answers."""
        if getattr(self, "_translator_obj", None) is None:
            from pipeline.clean.translate import Translator
            from pipeline.llm.calls import openai_client

            client = self.llm_client if self.llm_client is not None else openai_client(self.cfg.llm)
            self._translator_obj = Translator(client, self.cfg.llm.model, self.cfg.llm,
                                              getattr(self, "_translation_cache", None))
        return self._translator_obj

    def _transcript(self, p: TranscriptUnit, res: UnitResult) -> None:
        """Fillers out, misheard ontology terms corrected (each change a row), then timed sentences."""
        from pipeline.vocab.transcript import Correction, default_corrector, timed_sentences

        tcfg = self.cfg.clean.transcript
        corrector = default_corrector() if tcfg.correct_terms else None
        llm = None
        if tcfg.llm_correct:
            from pipeline.clean.transcript_llm import LlmTranscriptCorrector

            llm = LlmTranscriptCorrector(self.cfg.llm, default_corrector(), client=self.llm_client)
        kept: list[tuple[float, float, str]] = []
        for idx, start, end, raw in p.segments:
            text, n = remove_fillers(normalise_text(raw) or "", self.cfg.clean.filler_words)
            if not text:
                res.reject(f"{p.item_id}@{start:.2f}", "empty_after_cleaning", raw[:200])
                continue
            changes: list[Correction] = []
            if corrector is not None:
                text, changes = corrector.correct(text)
            if llm is not None:  # char_start of its changes: in the text after the phonetic pass
                text, more, call = llm.correct(text)
                changes = [*changes, *more]
                res.add("llm_calls", call)
                if infrastructure_failure(call["error"]):  # not the transcript's fault: pending, retried
                    res.unavailable = outage_note(self.cfg.llm, call["error"])
                    return
            for k, c in enumerate(changes):
                res.add("clean_transcript_corrections", {
                    "item_id": p.item_id, "seg_index": idx, "corr_index": k, "char_start": c.start,
                    "original": c.original, "replacement": c.replacement, "node_id": c.node_id,
                    "method": c.method})
            kept.append((start, end, text))
            res.add("clean_transcript_segments", {"item_id": p.item_id, "seg_index": idx, "start_s": start,
                                                  "end_s": end, "text": text, "fillers_removed": n})
        if tcfg.sentences:
            for k, (start, end, sentence) in enumerate(timed_sentences(kept)):
                res.add("clean_transcript_sentences", {"item_id": p.item_id, "sent_index": k,
                                                       "start_s": round(start, 3), "end_s": round(end, 3),
                                                       "text": sentence})

    def finalize(self, con: duckdb.DuckDBPyConnection, report: StageReport) -> None:
        """Near-duplicate clusters over all images at once (pipeline.clean.clusters), new images only."""
        from pipeline.clean.clusters import update_clusters

        report.items_rejected += update_clusters(con, self.cfg.clean, self.name, report.run_id)
