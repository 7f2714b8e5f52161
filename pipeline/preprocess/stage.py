"""Stage 2, preprocess: turn each collected item into stored images, where they appear, and transcripts.

Videos give scenes, one keyframe per scene and timed speech (subtitles first, ASR otherwise); JATS
articles give figures with captions; PDFs give embedded images with their "Figure N" captions; posts and
dataset rows give their images with the post text or a description built from the labels.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from pipeline.config import RunConfig
from pipeline.errors import ItemError
from pipeline.hashing import fingerprint, stable_json
from pipeline.media import MediaStore, NormalisedImage, normalise_image
from pipeline.preprocess.keyframe_filter import FrameFilter, FrameView, make_frame_filter
from pipeline.stage import Stage, UnitKind, UnitResult, WorkUnit


class PreprocessStage(Stage):
    name = "preprocess"
    main_table = "preprocess_image_refs"
    unit_tables = ("preprocess_items", "preprocess_image_refs", "preprocess_scenes", "preprocess_transcript_segments",
                   "preprocess_subfigures")
    # content-addressed: inserted if absent; llm_calls/llm_cache: the LLM subcaption split's (append-only)
    shared_tables = ("preprocess_images", "vision_image_types", "llm_calls", "llm_cache")

    def __init__(self, cfg: RunConfig) -> None:
        super().__init__(cfg)
        self.store = MediaStore(cfg.media_url or cfg.data_dir / "media")
        self._frame_filter: FrameFilter | None = None

    @property
    def frame_filter(self) -> FrameFilter:
        """Built on first use: a DenseNet or CLIP backend loads weights, which item kinds without video
        never need."""
        if self._frame_filter is None:
            self._frame_filter = make_frame_filter(self.cfg)
        return self._frame_filter

    @frame_filter.setter
    def frame_filter(self, value: FrameFilter) -> None:
        self._frame_filter = value

    def unit_kinds(self) -> dict[str, UnitKind]:
        """One kind per collected item kind. Keyframes go through the shared image-type classifier; figure
        panels are keyed differently when letter_reader "auto" finds Tesseract, so that is a tool input."""
        pp, image = self.cfg.preprocess, ("preprocess.image",)
        video: tuple[str, ...] = ("preprocess.video", "preprocess.asr", *image)
        video_steps: tuple[str, ...] = ("keyframes@2", "asr@1", "subtitles@1")
        if pp.video.frame_filter == "image_type" and self.cfg.image_type.enabled:
            from pipeline.vision.classifier import classifier_version

            video += ("image_type",)
            video_steps += (f"image_type@{classifier_version(self.cfg.image_type)}",)  # a new filter decides again
        panels: tuple[str, ...] = ("preprocess.subfigures",) if pp.subfigures.enabled else ()
        split_llm = self._splits_with_llm()
        if split_llm:  # only then: the default hashes stay as they were
            panels += ("preprocess.subcaptions", "llm")
        figure_steps: tuple[str, ...] = ("panels@1",) + (("subcaptions_llm@1",) if split_llm else ())
        letters: tuple[str, ...] = ()
        if pp.subfigures.enabled and pp.subfigures.letter_reader == "auto":
            from pipeline.preprocess.panel_letters import tesseract_available

            letters = ("tesseract",) if tesseract_available() else ()
        return {
            "video": UnitKind(video, video_steps, self._asr_tools()),
            "article": UnitKind((*image, *panels), ("jats_figures@1", *figure_steps), letters),
            "pdf": UnitKind(("preprocess.pdf", *image, *panels), ("pdf_figures@2", "pdf_ocr@1", *figure_steps),
                            letters + self._pdf_ocr_tools()),
            "post": UnitKind(image, ("post_images@1",)),
            "dataset_image": UnitKind(image, ("dataset_images@1",)),
        }

    def _pdf_ocr_tools(self) -> tuple[str, ...]:
        """The page reader of scanned PDF pages (its Tesseract and model version): installing it, or a new
        model, redoes the PDFs, whose scanned pages were rejects (or read differently) before."""
        from pipeline.formats.pdf_ocr import make_page_reader

        try:
            reader = make_page_reader(self.cfg.preprocess.pdf.ocr)
        except ValueError:  # `tesseract` required but missing: each scanned page says so as a reject
            return ()
        return (reader.version,) if reader is not None else ()

    def _asr_tools(self) -> tuple[str, ...]:
        from pipeline.preprocess.asr_plan import compute_tools

        return compute_tools(self.cfg.preprocess.asr)

    def device(self) -> str:
        """`cuda` when ASR (pipeline/preprocess/asr_plan.py) or the keyframe classifier runs there; `cpu` also
        when either is off or misconfigured (the units report that)."""
        from pipeline.devices import CudaUnavailable
        from pipeline.preprocess.asr_plan import asr_plan
        from pipeline.vision.classifier import classifier_device

        devices: list[str] = []
        try:
            if self.cfg.preprocess.asr.backend != "none":
                devices.append(asr_plan(self.cfg.preprocess.asr).device)
            if self.cfg.preprocess.video.frame_filter == "image_type" and self.cfg.image_type.enabled:
                devices.append(classifier_device(self.cfg.image_type))
        except (ValueError, CudaUnavailable):
            pass
        return "cuda" if "cuda" in devices else "cpu"

    def resources(self, unit: WorkUnit) -> tuple[str, ...]:
        """`gpu` for video units only when ASR runs on CUDA; on the CPU they run in parallel like every
        other unit instead of queueing behind the one-slot `gpu` limit."""
        kind = unit.payload.get("kind") if isinstance(unit.payload, dict) else None
        if kind in ("article", "pdf") and self._splits_with_llm():
            return ("llm",)
        return ("gpu",) if kind == "video" and self.device() == "cuda" else ()

    def _splits_with_llm(self) -> bool:
        pp = self.cfg.preprocess
        return pp.subfigures.enabled and pp.subcaptions.method == "llm"

    def _splitter(self) -> Any:
        """One LLM subcaption splitter per stage, holding the stored answers read in candidates."""
        if getattr(self, "_splitter_obj", None) is None:
            from pipeline.preprocess.subcaptions_llm import LlmSubcaptionSplitter

            self._splitter_obj = LlmSubcaptionSplitter(self.cfg.llm, self.llm_client,
                                                       getattr(self, "_split_cache", None))
        return self._splitter_obj

    def candidates(self, con: duckdb.DuckDBPyConnection) -> Iterator[WorkUnit]:
        cols, hashes = ["item_id", "kind", "source", "path", "sha256", "title", "meta"], self.kind_hashes()
        if self._splits_with_llm():  # accepted answers of this prompt version and model (llm_cache)
            from pipeline.llm.prompts import load_prompt

            self._split_cache = dict(con.execute(
                "SELECT input_hash, CAST(response AS VARCHAR) FROM llm_cache WHERE prompt = ? AND model = ?",
                [load_prompt("subcaption_split").key, self.cfg.llm.model]).fetchall())
        for row in con.execute(f"SELECT {', '.join(cols)} FROM collect_items ORDER BY item_id").fetchall():
            rec = dict(zip(cols, row, strict=True))
            rec["meta"] = json.loads(rec["meta"]) if rec["meta"] else {}
            yield WorkUnit(rec["item_id"], fingerprint(rec["sha256"], hashes.get(rec["kind"], "unknown_kind")), rec)

    def process(self, unit: WorkUnit) -> UnitResult:
        res = UnitResult(unit.key, unit.fingerprint)
        item = unit.payload
        handler = {
            "video": self._video, "article": self._article, "pdf": self._pdf,
            "post": self._post, "dataset_image": self._dataset_image,
        }[item["kind"]]
        doc_meta = handler(item, res)
        res.add("preprocess_items", {
            "item_id": item["item_id"], "kind": item["kind"], "title": doc_meta.pop("title", item["title"]),
            "n_images": len(res.rows.get("preprocess_image_refs", [])),
            "n_segments": len(res.rows.get("preprocess_transcript_segments", [])),
            "meta": stable_json(doc_meta),
        })
        return res

    def _store(self, res: UnitResult, image: NormalisedImage) -> str:
        path = self.store.put(image)
        res.add("preprocess_images", {
            "image_id": image.sha256, "path": str(path), "width": image.width, "height": image.height,
            "ext": image.ext, "bytes": len(image.data), "source_mode": image.source_mode,
            "source_format": image.source_format,
        })
        return image.sha256

    def _ref(self, res: UnitResult, item_id: str, image_id: str, kind: str, locator: str, **fields: Any) -> None:
        meta = fields.pop("meta", None)
        res.add("preprocess_image_refs", {
            "ref_id": f"{item_id}#{locator}", "item_id": item_id, "image_id": image_id, "kind": kind,
            "locator": locator, "meta": stable_json(meta) if meta else None, **fields,
        })

    def _panels(self, res: UnitResult, item_id: str, locator: str, kind: str, figure: NormalisedImage,
                caption: str | None, **fields: Any) -> None:
        """Panels of a compound figure as refs of the figure's kind (locator `<figure>/p<n>`) whose text is
        the aligned subcaption, or the whole caption with caption_scope 'whole', plus their geometry."""
        scfg = self.cfg.preprocess.subfigures
        if not scfg.enabled:
            return
        import numpy as np

        from pipeline.media import decode_image
        from pipeline.preprocess.panel_letters import make_letter_reader
        from pipeline.preprocess.subfigures import figure_panels, make_detector

        detector = make_detector(scfg.detector)
        reader = make_letter_reader(scfg.letter_reader)
        rgb = np.asarray(decode_image(figure.data, self.cfg.preprocess.image.max_pixels).convert("RGB"))
        sources: dict[str, str] = {}  # caption -> "llm:<model>" | "rules" (LLM split only)
        splitter = self._splitter().recording(res, sources) if self._splits_with_llm() else None
        found = figure_panels(rgb, caption or "", detector, scfg.min_panel_side_px, scfg.max_panels, reader, splitter)
        split_by = {"subcaption_source": next(iter(sources.values()))} if sources else {}  # LLM option only
        for fp in found:
            panel_locator, (x0, y0, x1, y1) = f"{locator}/p{fp.panel.index}", fp.panel.bbox
            image_id = self._store(res, normalise_image(fp.rgb, self.cfg.preprocess.image))
            self._ref(res, item_id, image_id, kind, panel_locator, text=fp.text or None,
                      meta={"parent": f"{item_id}#{locator}", "panel_index": fp.panel.index,
                            "bbox": [x0, y0, x1, y1], "panel_key": fp.key, "caption_scope": fp.scope,
                            **split_by}, **fields)
            res.add("preprocess_subfigures", {
                "ref_id": f"{item_id}#{panel_locator}", "item_id": item_id, "parent_ref_id": f"{item_id}#{locator}",
                "parent_image_id": figure.sha256, "panel_index": fp.panel.index, "image_id": image_id,
                "x0": x0, "y0": y0, "x1": x1, "y1": y1, "panel_key": fp.key, "caption_scope": fp.scope,
                "has_label_glyph": fp.panel.has_label, "detector": detector.name, "key_source": fp.key_source})

    def _video(self, item: dict[str, Any], res: UnitResult) -> dict[str, Any]:
        from pipeline.preprocess.keyframe_filter import cluster_repeats, perceptual_hash
        from pipeline.preprocess.video import video_keyframes

        path, item_id, vcfg = Path(item["path"]), item["item_id"], self.cfg.preprocess.video
        info, scenes, keyframes = video_keyframes(path, vcfg)
        for scene in scenes:
            res.add("preprocess_scenes", {"item_id": item_id, "scene_index": scene.index,
                                          "start_s": scene.start_s, "end_s": scene.end_s})
        video_info = item["meta"].get("info") or {}
        kept: list[tuple[Any, FrameView, int]] = []  # (keyframe, view, crop number within the frame)
        for kf in keyframes:
            image_type, skin_score, views = self.frame_filter.views(kf.rgb)
            if not views:
                res.reject(f"{item_id}#scene{kf.scene_index:04d}", f"keyframe_{image_type}",
                           f"t={kf.timestamp_s:.2f}s skin_score={skin_score:.3f}")
            kept.extend((kf, view, n) for n, view in enumerate(views))
        groups = cluster_repeats([v.rgb for _, v, _ in kept], [k.sharpness for k, _, _ in kept],
                                 vcfg.cluster_max_distance)
        for group in groups:
            kf, view, n = kept[group.representative]
            repeats = [kept[m][0] for m in group.members if m != group.representative]
            image_id = self._store(res, normalise_image(view.rgb, self.cfg.preprocess.image))
            if view.result is not None:  # classified here, so clean does not classify it again
                from pipeline.vision.classifier import classifier_key, type_row

                res.add("vision_image_types", type_row(image_id, classifier_key(self.cfg.image_type), view.result,
                                                       self.name))
            key = f"scene{kf.scene_index:04d}" + ("" if view.crop is None else f"_crop{n}")
            self._ref(res, item_id, image_id, "keyframe", key,
                      start_s=kf.start_s, end_s=kf.end_s, timestamp_s=kf.timestamp_s,
                      meta={"frame_index": kf.frame_index, "sharpness": round(kf.sharpness, 3),
                            "video_id": video_info.get("id") or item_id, "format_id": video_info.get("format_id"),
                            "phash": perceptual_hash(kf.rgb), "image_type": view.image_type,
                            "skin_score": view.skin_score, "detector": vcfg.detector,
                            "crop": list(view.crop) if view.crop else None,
                            "repeats": [{"scene_index": r.scene_index, "timestamp_s": round(r.timestamp_s, 3)}
                                        for r in repeats]})
        speech = self._speech(item, res)
        return {"duration_s": info.duration_s, "fps": info.fps, "width": info.width, "height": info.height,
                "n_scenes": len(scenes), "n_keyframes": len(groups), **speech}

    def _speech(self, item: dict[str, Any], res: UnitResult) -> dict[str, Any]:
        """Manual subtitles, then automatic captions, then ASR prompted with the ontology terms that the
        video's metadata names; ASR segments pass the hallucination guards (drops become rejects)."""
        from pipeline.preprocess.asr import load_audio, make_transcriber
        from pipeline.preprocess.asr_guards import GuardConfig, drop_hallucinations, ontology_prompt
        from pipeline.preprocess.subtitles import parse_subtitles, pick_subtitles

        acfg, item_id = self.cfg.preprocess.asr, item["item_id"]
        info = item["meta"].get("info") or {}
        languages = (acfg.language,) if acfg.language else ("en",)
        picked = pick_subtitles(item["meta"].get("subtitles") or [], languages, info)
        extra: dict[str, Any] = {}
        if acfg.prefer_subtitles and picked:
            segments, origin, model = parse_subtitles(picked[0]), f"subtitles_{picked[1]}", None
            middle = picked[0].name[len(Path(item["path"]).stem) + 1:].rsplit(".", 1)[0]  # "en", "en.auto", ""
            language: str | None = middle.split(".")[0] or info.get("language")
        else:
            transcriber = make_transcriber(acfg)
            if transcriber is None:
                return {"speech": "none"}
            prompt = ontology_prompt(item["meta"]) if acfg.ontology_prompt else None
            try:
                transcript = transcriber.transcribe(Path(item["path"]), prompt=prompt)
                audio = load_audio(Path(item["path"]))
            except ItemError as exc:
                res.reject(item_id, exc.reason, exc.detail)
                return {"speech": "failed"}
            segments, origin = transcript.segments, "asr"
            model, language = transcript.model, transcript.language
            guards = GuardConfig(acfg.no_speech_max, acfg.logprob_min, acfg.compression_ratio_max, acfg.silence_dbfs)
            segments, dropped = drop_hallucinations(segments, audio=audio, prompt=prompt, guards=guards)
            for seg, reason in dropped:
                res.reject(f"{item_id}@{seg.start_s:.2f}", reason, seg.text[:200])
            extra = {"language_probability": transcript.language_probability, "asr_prompt": prompt,
                     "asr_dropped": len(dropped)}
        for n, seg in enumerate(segments):
            res.add("preprocess_transcript_segments", {
                "item_id": item_id, "seg_index": n, "start_s": seg.start_s, "end_s": seg.end_s,
                "text": seg.text, "origin": origin, "model": model, "language": language,
                "avg_logprob": seg.avg_logprob, "no_speech_prob": seg.no_speech_prob,
                "compression_ratio": seg.compression_ratio,
                "words": stable_json([[round(w.start_s, 3), round(w.end_s, 3), w.text, w.probability]
                                      for w in seg.words]) if seg.words else None,
            })
        return {"speech": origin, "asr_model": model, "language": language, **extra}

    def _article(self, item: dict[str, Any], res: UnitResult) -> dict[str, Any]:
        from pipeline.formats.jats import parse_jats, resolve_graphic

        path, item_id = Path(item["path"]), item["item_id"]
        article = parse_jats(path.read_bytes())
        for fig in article.figures:
            if not fig.graphic_hrefs:
                res.reject(f"{item_id}#{fig.fig_id}", "no_graphic", f"{fig.label or fig.fig_id}: a <fig> without <graphic>")
            for n, href in enumerate(fig.graphic_hrefs):
                locator = fig.fig_id if len(fig.graphic_hrefs) == 1 else f"{fig.fig_id}/{n}"
                graphic = resolve_graphic(path, href)
                if graphic is None:
                    res.reject(f"{item_id}#{locator}", "missing_file", f"graphic {href} not found")
                    continue
                try:
                    image = normalise_image(graphic, self.cfg.preprocess.image)
                except ItemError as exc:
                    res.reject(f"{item_id}#{locator}", exc.reason, f"{graphic.name}: {exc.detail}")
                    continue
                context = " ".join(fig.cited_paragraphs) or None
                self._ref(res, item_id, self._store(res, image), "jats_figure", locator, label=fig.label,
                          text=fig.caption, context=context)
                self._panels(res, item_id, locator, "jats_figure", image, fig.caption, label=fig.label,
                             context=context)
        if not article.figures:  # nothing for the corpus; said, so the file does not vanish without a trace
            res.reject(item_id, "no_figures", "the article has no <fig>")
        return {"title": article.title, "pmcid": article.pmcid, "pmid": article.pmid, "doi": article.doi,
                "licence": article.licence, "article_type": article.article_type, "journal": article.journal,
                "keywords": article.keywords, "recovered": article.recovered, "n_figures": len(article.figures)}

    def _pdf(self, item: dict[str, Any], res: UnitResult) -> dict[str, Any]:
        from pipeline.formats.pdf import extract_pdf_figures

        item_id = item["item_id"]
        # a downloaded book is stored under its hash; its title is the stem of its URL, which `books` matches
        names = (f"{item['title']}.pdf",) if item.get("title") else ()
        doc = extract_pdf_figures(Path(item["path"]), self.cfg.preprocess.pdf, names)
        for locator, reason, detail in doc.rejects:  # pages left out: a scan without OCR, a page too large
            res.reject(f"{item_id}#{locator}", reason, detail)
        for fig in doc.figures:
            prefix = {"vector": "v", "scan": "s"}.get(fig.source, "")  # v: a drawn figure, s: cut from a scan
            locator = f"p{fig.page}/{prefix}{fig.index}"
            try:
                image = normalise_image(fig.image_bytes, self.cfg.preprocess.image)
            except ItemError as exc:
                res.reject(f"{item_id}#{locator}", exc.reason, exc.detail)
                continue
            self._ref(res, item_id, self._store(res, image), "pdf_figure", locator, label=fig.label,
                      text=fig.caption, meta={"page": fig.page, "bbox": [round(v, 1) for v in fig.bbox]})
            self._panels(res, item_id, locator, "pdf_figure", image, fig.caption, label=fig.label)
        if not doc.figures:
            res.reject(item_id, "no_figures", f"{doc.page_count} page(s), no embedded image or captioned drawing")
        return {"title": doc.title, "page_count": doc.page_count, "ocr_pages": doc.ocr_pages}

    def _post(self, item: dict[str, Any], res: UnitResult) -> dict[str, Any]:
        post, item_id = item["meta"].get("post", {}), item["item_id"]
        text = ". ".join(s.strip().rstrip(".") for s in (post.get("title"), post.get("body")) if s and s.strip())
        replies = " ".join(str(r.get("body", "")) for r in post.get("replies") or [] if isinstance(r, dict))
        for image in item["meta"].get("images", []):
            locator = Path(image).name
            try:
                image_id = self._store(res, normalise_image(Path(image), self.cfg.preprocess.image))
            except ItemError as exc:
                res.reject(f"{item_id}#{locator}", exc.reason, f"{locator}: {exc.detail}")
                continue
            self._ref(res, item_id, image_id, "post_image", locator, text=text + "." if text else None,
                      context=replies or None)
        return {"community": post.get("community"), "score": post.get("score"),
                "created_utc": post.get("created_utc"), "n_replies": len(post.get("replies") or [])}

    def _dataset_image(self, item: dict[str, Any], res: UnitResult) -> dict[str, Any]:
        meta, item_id = item["meta"], item["item_id"]
        image = Path(meta["images"][0])
        image_id = self._store(res, normalise_image(image, self.cfg.preprocess.image))
        text = describe_dataset_image(meta)
        self._ref(res, item_id, image_id, "dataset_image", image.name, text=text,
                  meta={"label": meta.get("label"), **meta.get("fields", {})})
        return {"dataset": meta.get("dataset"), "label": meta.get("label")}


def describe_dataset_image(meta: dict[str, Any]) -> str:
    """A caption from structured labels, the way Derm1M turns public-dataset rows into text."""
    fields = meta.get("fields", {})
    parts = [f"{meta.get('modality', 'skin image').capitalize()} of {meta.get('label') or 'a skin lesion'}"]
    site = fields.get("site")
    if site and site.lower() not in ("unknown", "nan"):
        parts.append(f"on the {site.lower()}")
    age, sex = fields.get("age"), fields.get("sex")
    who = " ".join(p for p in (
        f"{int(float(age))}-year-old" if age and age.replace(".", "", 1).isdigit() else "",
        sex.lower() if sex and sex.lower() in ("male", "female") else "",
    ) if p)
    if who:
        parts.append(f"of a {who} patient")
    skin = fields.get("skin_type")
    if skin:
        parts.append(f"with Fitzpatrick skin type {skin}")
    return " ".join(parts) + "."
