"""open_clip behind the torchvision shim, and the trainer's checkpoints through the evaluation suite:
training lowers the loss on a fixed batch, the checkpoint reloads, validation metrics are well-formed."""

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

from pipeline.train.evaluate import load_encoder
from pipeline.train.export import ExportManifest, ExportRow, assign_splits, write_export
from pipeline.train.recipe import Recipe
from pipeline.train.suite import ModelSpec, run_suite
from pipeline.train.trainer import TrainSummary, train
from pipeline.train.wds import ShardStream, list_shards
from pipeline.vision.clip_model import open_clip_module
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

pytestmark = pytest.mark.usefixtures("torch_one_thread")


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
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[ExportManifest, TrainSummary]:
    tmp = tmp_path_factory.mktemp("clip")
    rows = make_rows(tmp)
    manifest = write_export(rows, assign_splits(rows, 0.25, 0), tmp / "export", shard_size=50)
    recipe = Recipe(epochs=4, global_batch_size=4, micro_batch_size=4, lr=1e-3, precision="fp32",
                    device="cpu", threads=1)  # fmt: skip
    return manifest, train(recipe, manifest.out_dir, tmp / "run")


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


def test_stream_captions_are_seeded(run: tuple[ExportManifest, TrainSummary]) -> None:
    """The trainer's stream draws caption variants per (seed, epoch, position): they vary across epochs
    and repeat exactly when an epoch is streamed again (what makes a resume exact)."""
    manifest, _ = run
    stream = ShardStream(list_shards(manifest.out_dir, "train"), lambda im: torch.zeros(1), 4, 4,
                         {"raw": 1.0, "refined": 1.0}, seed=3)  # fmt: skip
    draws = []
    for epoch in (0, 1, 2, 1):
        stream.set_epoch(epoch)
        draws.append([c for _, caps in stream for c in caps])
    assert draws[1] == draws[3] and len({tuple(d) for d in draws}) > 1


def _fixed_batch_loss(checkpoint: Path | None, manifest: ExportManifest) -> float:
    """ClipLoss of the model over every training pair as one batch (eval transform); checkpoint=None is
    the seeded init the trainer started from."""
    from pipeline.train.clip_data import read_rows

    rows = read_rows(manifest.csv_paths["train"])
    enc = load_encoder("DermTiny", checkpoint)
    img = enc.images([manifest.out_dir / r["filename"] for r in rows])
    txt = enc.texts([r["caption"] for r in rows])
    with torch.no_grad():
        return float(open_clip_module().ClipLoss()(img, txt, enc.net.logit_scale.exp()))


def test_training_lowers_loss_and_checkpoint_loads(run: tuple[ExportManifest, TrainSummary]) -> None:
    manifest, summary = run
    assert summary.checkpoint.is_file() and summary.end_step == summary.total_steps > 0
    assert all(math.isfinite(x) for x in summary.step_losses) and summary.n_params > 1_000_000
    before, after = _fixed_batch_loss(None, manifest), _fixed_batch_loss(summary.checkpoint, manifest)
    print(f"\nfixed-batch loss {before:.3f} -> {after:.3f}; {summary.images_per_s:.0f} img/s")
    assert math.isfinite(before) and after < before - 0.05


def test_suite_on_trained_and_untrained(run: tuple[ExportManifest, TrainSummary]) -> None:
    manifest, summary = run
    start = time.perf_counter()
    models = [ModelSpec("trained", "DermTiny", summary.checkpoint), ModelSpec("untrained", "DermTiny", None)]
    result = run_suite(models, manifest.out_dir, [], classes=CLASSES)
    print(f"\nsuite {time.perf_counter() - start:.2f} s: {result.metrics}")
    for state in ("trained", "untrained"):
        metrics = result.metrics[state]["validation"]
        assert KEYS | {"zero_shot_top1", "zero_shot_top5", "zero_shot_n"} <= set(metrics)
        assert metrics["n_val"] == manifest.n_rows["validation"]
        assert metrics["zero_shot_n"] == metrics["n_val_images"]  # every image is labelled
        for key, value in metrics.items():
            assert math.isfinite(value)
            if "R@" in key or key.startswith("zero_shot_top"):
                assert 0.0 <= value <= 1.0
        assert metrics["zero_shot_top5"] == 1.0  # 4 classes: top-5 clamps to all of them
        assert metrics["i2t_R@1"] <= metrics["i2t_R@5"] <= metrics["i2t_R@10"]


def test_suite_without_labels_or_rows(run: tuple[ExportManifest, TrainSummary], tmp_path: Path) -> None:
    manifest, _ = run
    with pytest.raises(FileNotFoundError):
        run_suite([ModelSpec("trained", "DermTiny", tmp_path / "missing.pt")], manifest.out_dir, [])
    empty = tmp_path / "export"
    empty.mkdir()
    header = manifest.csv_paths["validation"].read_text().splitlines()[0] + "\n"
    for split in ("train", "validation"):
        (empty / f"{split}.csv").write_text(header)
    result = run_suite([ModelSpec("untrained", "DermTiny", None)], empty, [])
    assert result.metrics == {"untrained": {"validation": {"n_val": 0.0}}}
