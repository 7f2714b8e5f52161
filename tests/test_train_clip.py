"""CLIP validation run: shim, training lowers the loss, checkpoints reload, evaluation is well-formed."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.train.clip import ClipTrainSettings, TrainResult, contrastive_loss, evaluate_clip, train_clip
from pipeline.train.clip_data import CaptionImageDataset, load_caption_variants, read_rows
from pipeline.train.export import ExportManifest, ExportRow, assign_splits, write_export
from pipeline.vision.tvshim import ensure_torchvision

os.environ.setdefault("HF_HUB_OFFLINE", "1")
COLOURS = {
    "eczema": (200, 40, 40),
    "psoriasis": (40, 200, 40),
    "melanoma": (40, 40, 200),
    "acne": (220, 200, 40),
}
CLASSES = list(COLOURS)
KEYS = {"n_val", "i2t_R@1", "i2t_R@5", "i2t_R@10", "t2i_R@1", "t2i_R@5", "t2i_R@10"}


def make_rows(tmp: Path, n_images: int = 24) -> list[ExportRow]:
    """Small noisy solid-colour images, one colour per class; pairs of images share a source item."""
    (tmp / "src").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n_images):
        label = CLASSES[i % 4]
        path = tmp / "src" / f"img{i:03d}.{'png' if i % 5 == 0 else 'jpg'}"
        noise = Image.fromarray(np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8))
        Image.blend(Image.new("RGB", (32, 32), COLOURS[label]), noise, 0.2).save(path)
        for j in range(1 + (i % 3 == 0)):
            caption = f"a skin image of {label}, case {i}" + (", close-up" if j else "")
            captions = {"raw": caption, "refined": f"{label} lesion", "ontology": f"{label}, inflammatory"}
            rows.append(
                ExportRow(f"p{i:03d}-{j}", f"im{i:03d}", path, f"g{i // 2}", "", caption, disease_label=label,
                          captions=captions)
            )  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[ExportManifest, TrainResult]:
    tmp = tmp_path_factory.mktemp("clip")
    rows = make_rows(tmp)
    manifest = write_export(rows, assign_splits(rows, 0.25, 0), tmp / "export", shard_size=50)
    settings = ClipTrainSettings(epochs=2, batch_size=4, lr=1e-3, seed=0)
    result = train_clip(
        manifest.csv_paths["train"], manifest.out_dir, settings, tmp / "run", manifest.captions_json["train"]
    )
    return manifest, result


def test_shim_open_clip_and_nms() -> None:
    ensure_torchvision()
    ensure_torchvision()  # idempotent
    import open_clip
    import torchvision

    assert hasattr(open_clip, "create_model_and_transforms")
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9.0]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    assert torchvision.ops.nms(boxes, scores, 0.5).tolist() == [3, 2]
    assert torchvision.ops.nms(boxes, scores, 0.9).tolist() == [3, 0, 1, 2]
    assert torchvision.ops.nms(boxes[:0], scores[:0], 0.5).numel() == 0


def test_shim_coexists_with_predefined_ops() -> None:
    """Another shim (e.g. a site-packages hook) that defined the ops first must not make ours fail."""
    code = (
        "import torch\n"
        "lib = torch.library.Library('torchvision', 'DEF')\n"
        "lib.define('nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')\n"
        "lib.define('qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')\n"
        "from pipeline.vision.tvshim import _nms_cpu, ensure_torchvision\n"
        "lib.impl('nms', _nms_cpu, 'CPU')\n"
        "ensure_torchvision()\n"
        "import torchvision\n"
        "b = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11.0]])\n"
        "print(torchvision.ops.nms(b, torch.tensor([0.5, 0.9]), 0.5).tolist())\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[1]"


def test_caption_sampling_is_seeded(run: tuple[ExportManifest, TrainResult]) -> None:
    manifest, _ = run
    rows = read_rows(manifest.csv_paths["train"])
    variants = load_caption_variants(manifest.captions_json["train"], ("raw", "refined"))
    assert all(len(v) >= 2 for v in variants.values())
    ds = CaptionImageDataset(rows, manifest.out_dir, lambda im: torch.zeros(1), variants, seed=3)
    draws = []
    for epoch in range(4):
        ds.set_epoch(epoch)
        draws.append([ds.caption(i) for i in range(len(ds))])
    assert len({tuple(d) for d in draws}) > 1  # captions vary across epochs
    ds.set_epoch(2)
    assert [ds.caption(i) for i in range(len(ds))] == draws[2]  # and are reproducible
    assert all(c in variants[r["filename"]] for c, r in zip(draws[0], rows, strict=True))
    assert (
        CaptionImageDataset(rows, manifest.out_dir, lambda im: torch.zeros(1)).caption(0)
        == rows[0]["caption"]
    )


def test_training_lowers_loss_and_checkpoint_loads(run: tuple[ExportManifest, TrainResult]) -> None:
    manifest, result = run
    assert result.checkpoint.is_file() and result.n_train == manifest.n_rows["train"]
    assert len(result.epoch_losses) == 2 and all(math.isfinite(x) for x in result.epoch_losses)
    assert result.steps > 0 and result.images_per_s > 0 and result.n_params > 1_000_000
    before = contrastive_loss(None, "DermTiny", manifest.csv_paths["train"], manifest.out_dir, seed=0)
    after = contrastive_loss(result.checkpoint, "DermTiny", manifest.csv_paths["train"], manifest.out_dir)
    rate = result.steps / result.seconds
    print(
        f"\nfixed-batch loss {before:.3f} -> {after:.3f}; {rate:.1f} steps/s, {result.images_per_s:.0f} img/s"
    )
    assert math.isfinite(before) and after < before - 0.05


def test_evaluate_trained_and_untrained(run: tuple[ExportManifest, TrainResult]) -> None:
    manifest, result = run
    val = manifest.csv_paths["validation"]
    for ckpt in (result.checkpoint, None):
        start = time.perf_counter()
        metrics = evaluate_clip(ckpt, "DermTiny", val, manifest.out_dir, CLASSES)
        print(f"\neval ({'trained' if ckpt else 'untrained'}) {time.perf_counter() - start:.2f} s: {metrics}")
        assert KEYS | {"zero_shot_top1", "zero_shot_top5", "zero_shot_n"} <= set(metrics)
        assert (
            metrics["n_val"] == manifest.n_rows["validation"] and metrics["zero_shot_n"] == metrics["n_val"]
        )
        for key, value in metrics.items():
            assert math.isfinite(value)
            if "R@" in key or key.startswith("zero_shot_top"):
                assert 0.0 <= value <= 1.0
        assert metrics["zero_shot_top5"] == 1.0  # 4 classes: top-5 clamps to all of them
        assert metrics["i2t_R@1"] <= metrics["i2t_R@5"] <= metrics["i2t_R@10"]


def test_evaluate_without_labels_or_rows(run: tuple[ExportManifest, TrainResult], tmp_path: Path) -> None:
    manifest, _ = run
    metrics = evaluate_clip(None, "DermTiny", manifest.csv_paths["validation"], manifest.out_dir, ["lupus"])
    assert metrics["zero_shot_n"] == 0 and "zero_shot_top1" not in metrics and KEYS <= set(metrics)
    with pytest.raises(FileNotFoundError):
        evaluate_clip(
            tmp_path / "missing.pt", "DermTiny", manifest.csv_paths["validation"], manifest.out_dir, []
        )
    empty = tmp_path / "empty.csv"
    empty.write_text(manifest.csv_paths["validation"].read_text().splitlines()[0] + "\n")
    assert evaluate_clip(None, "DermTiny", empty, manifest.out_dir, CLASSES) == {
        "n_val": 0.0,
        "zero_shot_n": 0.0,
    }
