"""DermLIP training loop on CPU with a micro model: the loss falls, a resume continues the same run,
gradient caching matches, a toy image-text set is retrieved perfectly, and profiles/devices fail clearly."""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from flows.cli import main as derm1m
from pipeline.train.evaluate import load_encoder, retrieval
from pipeline.train.export import ExportManifest, ExportRow, assign_splits, write_export
from pipeline.train.recipe import Recipe, RecipeError, load_recipe
from pipeline.train.trainer import TrainSummary, autocast_for, resolve_device, train
from pipeline.train.wds import ShardStream, count_samples, list_shards, sample_caption

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "datasets" / "derm_sample"
HAM_DX = {"nv": "melanocytic nevus", "mel": "melanoma", "bkl": "benign keratosis", "bcc": "basal cell carcinoma",
          "akiec": "actinic keratosis", "df": "dermatofibroma", "vasc": "vascular lesion"}  # fmt: skip
MICRO = {"model": "DermMicro", "global_batch_size": 8, "micro_batch_size": 4, "lr": 2e-3, "warmup_steps": 2,
         "precision": "fp32", "device": "cpu", "threads": 1, "save_every_steps": 2, "keep_checkpoints": 20}  # fmt: skip


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def sample_corpus_rows() -> list[ExportRow]:
    """The project's sample HAM10000-format set as corpus pairs, with caption variants per kind."""
    rows = []
    with open(SAMPLE / "metadata.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            path = SAMPLE / "images" / f"{r['image_id']}.jpg"
            if not path.is_file():
                continue
            name, site = HAM_DX[r["dx"]], r["localization"]
            caps = {"raw": f"dermoscopy of {name}", "refined": f"a dermoscopic image of {name} on the {site}",
                    "ontology": f"{name}, a skin lesion", "concept": f"{name} on the {site}, {r['dx_type']}"}  # fmt: skip
            rows.append(ExportRow(r["image_id"], r["image_id"], path, r["lesion_id"], "", caps["refined"],
                                  disease_label=name, captions=caps))  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def sample_export(tmp_path_factory: pytest.TempPathFactory) -> ExportManifest:
    rows = sample_corpus_rows()
    return write_export(rows, assign_splits(rows, 0.25, 0), tmp_path_factory.mktemp("export") / "export", 4)


@pytest.fixture(scope="module")
def straight(sample_export: ExportManifest, tmp_path_factory: pytest.TempPathFactory) -> TrainSummary:
    """One uninterrupted run: 8 epochs of the sample corpus' train split, global batch 8 as 2 x 4."""
    return train(Recipe(epochs=8, **MICRO), sample_export.out_dir, tmp_path_factory.mktemp("straight"))


def test_loss_falls_on_sample_corpus(straight: TrainSummary) -> None:
    losses = straight.step_losses
    assert straight.end_step == straight.total_steps == len(losses) >= 8
    assert all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.05, losses
    state = torch.load(straight.checkpoint, map_location="cpu")
    assert "logit_scale" in state  # a plain state_dict, loadable by open_clip as pretrained=
    log = [json.loads(line) for line in (straight.checkpoint.parent / "train_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == list(range(1, len(losses) + 1))
    assert log[0]["lr"] < log[2]["lr"]  # warmup


def test_resume_continues_the_run(sample_export: ExportManifest, straight: TrainSummary, tmp_path: Path) -> None:
    """Stop at step 3, resume 'latest': steps 4.. reproduce the uninterrupted run's losses."""
    first = train(Recipe(epochs=8, max_steps=3, **MICRO), sample_export.out_dir, tmp_path)
    assert (first.start_step, first.end_step) == (0, 3)
    with pytest.raises(FileExistsError):
        train(Recipe(epochs=8, **MICRO), sample_export.out_dir, tmp_path)
    ckpt = torch.load(tmp_path / "checkpoints" / "step-00000003.pt", map_location="cpu", weights_only=False)
    assert ckpt["step"] == 3 and {int(s["step"]) for s in ckpt["optimizer"]["state"].values()} == {3}
    second = train(Recipe(epochs=8, **MICRO), sample_export.out_dir, tmp_path, resume="latest")
    assert (second.start_step, second.end_step) == (3, straight.end_step)
    np.testing.assert_allclose(first.step_losses, straight.step_losses[:3], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(second.step_losses, straight.step_losses[3:], rtol=1e-4, atol=1e-4)
    final = torch.load(tmp_path / "checkpoints" / f"step-{straight.end_step:08d}.pt", map_location="cpu",
                       weights_only=False)  # fmt: skip
    assert {int(s["step"]) for s in final["optimizer"]["state"].values()} == {straight.end_step}
    with pytest.raises(ValueError, match="another run layout"):  # a different batch layout is refused
        train(Recipe(epochs=8, **(MICRO | {"global_batch_size": 4})), sample_export.out_dir, tmp_path, "latest")


COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220), "yellow": (230, 220, 30),
           "black": (10, 10, 10), "white": (245, 245, 245), "magenta": (220, 30, 220), "cyan": (30, 220, 220)}  # fmt: skip


def test_toy_colours_retrieved_perfectly(tmp_path: Path) -> None:
    """Each image is a solid colour named in its caption: after training, R@1 is 1.0 both ways."""
    rows = []
    for i, (name, rgb) in enumerate(COLOURS.items()):
        path = tmp_path / f"{name}.png"
        Image.new("RGB", (32, 32), rgb).save(path)
        rows.append(ExportRow(f"p{i}", f"c{i}", path, f"g{i}", "", f"a patch of {name} colour"))
    manifest = write_export(rows, {r.pair_id: "train" for r in rows}, tmp_path / "export", 3)
    recipe = Recipe(**(MICRO | {"epochs": 40, "lr": 3e-3, "micro_batch_size": 8, "color_jitter_prob": 0.0,
                                "gray_scale_prob": 0.0, "save_every_steps": 1000}))  # fmt: skip
    summary = train(recipe, manifest.out_dir, tmp_path / "run")
    enc = load_encoder("DermMicro", summary.checkpoint)
    metrics = retrieval(enc.images([r.image_path for r in rows]), enc.texts([r.caption for r in rows]),
                        torch.eye(len(rows), dtype=torch.bool))  # fmt: skip
    assert metrics["i2t_R@1"] == 1.0 and metrics["t2i_R@1"] == 1.0, (metrics, summary.step_losses[-3:])
    untrained = load_encoder("DermMicro", None)
    base = retrieval(untrained.images([r.image_path for r in rows]), untrained.texts([r.caption for r in rows]),
                     torch.eye(len(rows), dtype=torch.bool))  # fmt: skip
    assert base["i2t_R@1"] < 1.0


def test_stream_partitions_and_samples_captions(sample_export: ExportManifest) -> None:
    shards = list_shards(sample_export.out_dir, "train")
    n = count_samples(shards)
    assert len(shards) > 1 and n == len(set(sample_export.filenames[p] for p, s in _train_pairs(sample_export)))
    def ident(img: Image.Image) -> torch.Tensor:
        return torch.zeros(1)
    weights = {"ontology": 1.0}
    seen = []
    for rank in range(2):
        s = ShardStream(shards, ident, 1, (n + 1) // 2, weights, seed=0, rank=rank, world_size=2)
        seen += [caps[0] for _, caps in s]
    assert all(c.endswith(", a skin lesion") for c in seen)
    assert len(seen) == 2 * ((n + 1) // 2)
    s = ShardStream(shards, ident, 2, 3, weights)
    s.set_epoch(0, skip_batches=1)
    assert len(list(s)) == 2


def _train_pairs(m: ExportManifest) -> list[tuple[str, str]]:
    with open(m.csv_paths["train"], newline="") as fh:
        files = {r["filename"] for r in csv.DictReader(fh)}
    return [(p, "train") for p, f in m.filenames.items() if f in files]


def test_sample_caption_weights() -> None:
    caps = {"refined": ["r1", "r2"], "ontology": ["o"], "caption": ["c"]}
    rng = random.Random(0)
    assert {sample_caption(caps, {"refined": 1.0, "ontology": 0.0}, rng) for _ in range(50)} == {"r1", "r2"}
    assert sample_caption(caps, {"concept": 1.0}, rng) == "c"  # no weighted kind present: CSV caption
    draws = [sample_caption(caps, {"refined": 1.0, "ontology": 3.0}, rng) for _ in range(400)]
    assert 0.65 < draws.count("o") / 400 < 0.85


def test_profiles_and_devices(tmp_path: Path, sample_export: ExportManifest) -> None:
    dermlip = load_recipe(REPO / "configs" / "train_dermlip.yaml")
    assert (dermlip.model, dermlip.lr, dermlip.weight_decay, dermlip.warmup_steps, dermlip.epochs) == (
        "ViT-B-16", 1e-4, 0.1, 1000, 30)
    assert dermlip.aug_scale == (0.4, 1.0) and dermlip.color_jitter == (0.32, 0.32, 0.32, 0.08)
    assert (dermlip.color_jitter_prob, dermlip.gray_scale_prob, dermlip.grad_checkpointing) == (0.8, 0.2, True)
    assert dermlip.accum_steps(1) * dermlip.micro_batch_size == 4096 and dermlip.accum_steps(8) == 2
    with pytest.raises(RecipeError, match="not a multiple"):
        dermlip.accum_steps(3)
    bad = tmp_path / "bad.yaml"
    bad.write_text("lerning_rate: 1\n")
    with pytest.raises(RecipeError, match="lerning_rate"):
        load_recipe(bad)
    bad.write_text("train:\n  lr: 1\n")
    with pytest.raises(RecipeError, match="train"):  # a recipe file is the recipe itself, not a run profile
        load_recipe(bad)
    assert load_recipe({"lr": 0.5}, lr=None, epochs=1) == Recipe(lr=0.5, epochs=1)
    assert isinstance(autocast_for(torch.device("cpu"), "bf16"), type(autocast_for(torch.device("cpu"), "fp32")))
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA"):
            resolve_device("cuda")
        rc = derm1m(["--config", str(REPO / "configs" / "derm1m.yaml"), "train", "--export",
                     str(sample_export.out_dir), "--out", str(tmp_path / "gpu")])  # fmt: skip
        assert rc == 2 and not (tmp_path / "gpu").exists()
    assert resolve_device("cpu").type == "cpu"


def test_gradient_caching_equals_full_batch(sample_export: ExportManifest, tmp_path: Path) -> None:
    """Global batch 8 as one forward of 8, as 2 cached micro-batches of 4, or with gradient checkpointing:
    same loss, same update."""
    one = Recipe(**(MICRO | {"epochs": 1, "max_steps": 1, "micro_batch_size": 8}))
    two = Recipe(**(MICRO | {"epochs": 1, "max_steps": 1, "micro_batch_size": 4}))
    ckpt = Recipe(**(MICRO | {"epochs": 1, "max_steps": 1, "micro_batch_size": 4, "grad_checkpointing": True}))
    a = train(one, sample_export.out_dir, tmp_path / "a")
    b = train(two, sample_export.out_dir, tmp_path / "b")
    c = train(ckpt, sample_export.out_dir, tmp_path / "c")  # gradient checkpointing changes nothing either
    assert a.step_losses == pytest.approx(b.step_losses, abs=1e-5) == c.step_losses
    wa = torch.load(a.checkpoint)
    for other in (torch.load(b.checkpoint), torch.load(c.checkpoint)):
        for name in wa:
            torch.testing.assert_close(wa[name], other[name], atol=2e-5, rtol=1e-4, msg=name)


@pytest.mark.slow
def test_torchrun_two_processes(sample_export: ExportManifest, tmp_path: Path) -> None:
    """`derm1m train` under torchrun with 2 CPU ranks (gloo): DDP, local loss over gathered features,
    gradient caching, resume; rank 0 alone writes the summary and evaluates."""
    profile = tmp_path / "p.yaml"
    profile.write_text("root: .\ntrain:\n  recipe:\n    model: DermMicro\n    global_batch_size: 4\n"
                       "    micro_batch_size: 1\n    epochs: 1\n    threads: 1\n    device: cpu\n"
                       "    precision: fp32\n    save_every_steps: 1\n")  # fmt: skip
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
           "flows.cli", "--config", str(profile), "train", "--export", str(sample_export.out_dir),
           "--out", str(tmp_path / "run"), "--resume", "latest"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    for max_steps in ("1", "2"):
        done = subprocess.run([*cmd, "--max-steps", max_steps], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "train_summary.json").read_text())
    assert (summary["start_step"], summary["end_step"], summary["world_size"]) == (1, 2, 2)
    log = [json.loads(x) for x in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [1, 2] and all(np.isfinite(e["loss"]) for e in log)
    assert "trained" in json.loads((tmp_path / "run" / "eval_metrics.json").read_text())["metrics"]
