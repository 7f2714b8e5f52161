"""Each unit kind's fingerprint covers exactly what it reads: its config fields (without the ones that
change only speed or placement), its step versions and the optional tools that change its output.
tests/test_build_e2e.py shows the same on the sample build through stage_runs counts."""

from __future__ import annotations

import pytest

from pipeline.augment.stage import AugmentStage
from pipeline.clean.stage import CleanStage
from pipeline.collect.stage import CollectStage
from pipeline.config import RunConfig
from pipeline.pair.stage import PairStage
from pipeline.preprocess.stage import PreprocessStage
from pipeline.stage import Stage


def changed(before: Stage, after: Stage) -> set[str]:
    """The unit kinds whose fingerprint differs between the two stages."""
    a, b = before.kind_hashes(), after.kind_hashes()
    return {k for k in a if a[k] != b[k]}


def test_a_pdf_option_redoes_pdfs_only():
    cfg = RunConfig()
    new = cfg.model_copy(deep=True)
    new.preprocess.pdf.caption_max_gap_pt = 95.0
    assert changed(PreprocessStage(cfg), PreprocessStage(new)) == {"pdf"}


def test_asr_threads_and_workers_redo_nothing():
    cfg = RunConfig()
    new = cfg.model_copy(deep=True)
    new.preprocess.asr.cpu_threads, new.preprocess.asr.num_workers, new.workers = 2, 1, 8
    assert changed(PreprocessStage(cfg), PreprocessStage(new)) == set()
    new.preprocess.asr.beam_size = 5  # decoding changes the transcript: videos only
    assert changed(PreprocessStage(cfg), PreprocessStage(new)) == {"video"}


def test_installing_tesseract_redoes_figures_not_videos(monkeypatch):
    import pipeline.preprocess.panel_letters as letters

    cfg = RunConfig()
    monkeypatch.setattr(letters, "tesseract_available", lambda: False)
    without = PreprocessStage(cfg)
    before = without.kind_hashes()
    monkeypatch.setattr(letters, "tesseract_available", lambda: True)
    after = PreprocessStage(cfg).kind_hashes()
    assert {k for k in before if before[k] != after[k]} == {"article", "pdf"}
    cfg.preprocess.subfigures.letter_reader = "none"  # letters not read: Tesseract is irrelevant
    monkeypatch.setattr(letters, "tesseract_available", lambda: False)
    none_without = PreprocessStage(cfg).kind_hashes()
    monkeypatch.setattr(letters, "tesseract_available", lambda: True)
    assert PreprocessStage(cfg).kind_hashes() == none_without


def test_the_shared_classifier_is_read_by_keyframes_and_clean_images():
    cfg = RunConfig()
    new = cfg.model_copy(deep=True)
    new.image_type.skin_score_min = 0.3
    assert changed(PreprocessStage(cfg), PreprocessStage(new)) == {"video"}
    assert changed(CleanStage(cfg), CleanStage(new)) == {"image"}
    new.preprocess.video.frame_filter = "none"
    cfg.preprocess.video.frame_filter = "none"
    assert changed(PreprocessStage(cfg), PreprocessStage(new)) == set()


@pytest.mark.parametrize("transport", ["timeout_s", "concurrency", "price_per_1k_input", "batch"])
def test_llm_transport_settings_redo_nothing(transport):
    cfg = RunConfig()
    cfg.augment.method, cfg.clean.transcript.llm_correct, cfg.pair.caption_method = "llm", True, "llm"
    new = cfg.model_copy(deep=True)
    setattr(new.llm, transport, {"timeout_s": 5.0, "concurrency": 9, "price_per_1k_input": 1.0,
                                 "batch": True}[transport])
    client = object()
    for make in (CleanStage, PairStage):
        assert changed(make(cfg), make(new)) == set()
    assert changed(AugmentStage(cfg, llm_client=client), AugmentStage(new, llm_client=client)) == set()


def test_a_new_llm_model_redoes_exactly_the_units_that_call_it():
    cfg = RunConfig()
    new = cfg.model_copy(deep=True)
    new.llm.model = "another-model"
    for make in (CleanStage, PairStage, AugmentStage):  # no LLM option on: nothing depends on the model
        assert changed(make(cfg), make(new)) == set()
    for c in (cfg, new):
        c.clean.transcript.llm_correct, c.pair.caption_method = True, "llm"
        c.clean.pii.translate = "off"  # "auto" would translate as soon as an LLM option is on
    assert changed(CleanStage(cfg), CleanStage(new)) == {"transcript"}
    assert changed(PairStage(cfg), PairStage(new)) == {"keyframe"}
    for c in (cfg, new):
        c.clean.pii.translate, c.augment.method = True, "llm"
    assert changed(CleanStage(cfg), CleanStage(new)) == {"transcript", "text"}
    client = object()
    assert changed(AugmentStage(cfg, llm_client=client), AugmentStage(new, llm_client=client)) == {"pair"}


def test_collect_kinds_read_their_own_source_settings():
    cfg = RunConfig()
    new = cfg.model_copy(deep=True)
    new.collect.http.timeout_s, new.collect.sources.pubmed.query = 1.0, "psoriasis"
    new.collect.video_suffixes = [".mp4"]
    assert changed(CollectStage(cfg, sources=[]), CollectStage(new, sources=[])) == {"local_videos", "pubmed"}


def test_old_profiles_with_stage_scoped_shared_sections_still_load():
    cfg = RunConfig.model_validate({"clean": {"image_type": {"backend": "heuristic", "skin_score_min": 0.4}},
                                    "augment": {"llm": {"model": "m2"}, "method": "llm"}})
    assert cfg.image_type.skin_score_min == 0.4 and cfg.llm.model == "m2" and cfg.augment.method == "llm"
    with pytest.raises(ValueError, match="both given"):
        RunConfig.model_validate({"llm": {}, "augment": {"llm": {}}})


def test_recipe_threads_retrain_nothing_but_epochs_do():
    from pipeline.train.stage import TrainStage

    cfg = RunConfig()
    new = cfg.model_copy(deep=True)
    new.train.recipe = new.train.recipe.model_copy(update={"threads": 1, "workers": 2, "save_every_steps": 5})
    assert TrainStage(cfg).config_hash == TrainStage(new).config_hash
    new.train.recipe = new.train.recipe.model_copy(update={"epochs": 4})
    assert TrainStage(cfg).config_hash != TrainStage(new).config_hash


def test_an_ontology_edit_redoes_clean_text_and_transcripts(monkeypatch):
    """Caption relevance and the transcript term corrector read the ontology's names, so a new synonym
    rescores captions and recorrects transcripts; images and clusters stay."""
    import ontology

    cfg = RunConfig()
    before = CleanStage(cfg).kind_hashes()
    monkeypatch.setattr(ontology, "default_version", lambda: "edited")
    after = CleanStage(cfg).kind_hashes()
    assert {k for k in before if before[k] != after[k]} == {"text", "transcript"}
