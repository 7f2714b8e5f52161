"""Training-loop throughput (`python -m bench.train_recipe`): images/s and peak memory of the DermLIP loop.

On CPU it trains the sample profile's recipe (configs/sample.yaml: DermTiny) on a synthetic export (noisy
256 px JPEGs, 3 caption kinds); with CUDA the full profile's (configs/derm1m.yaml: the DermLIP recipe,
ViT-B-16, bf16, gradient checkpointing) instead, through the trainer builds and `derm1m train` run. Steps
are few: this measures the loop (decode + augmentation + forward/backward + optimiser), not convergence.
Results print as JSON and go to bench/results/train_recipe-<date>.json.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import tempfile
from datetime import date
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def synthetic_export(root: Path, n_images: int) -> Path:
    from pipeline.train.export import ExportRow, write_export

    rng = np.random.default_rng(0)
    rows = []
    (root / "src").mkdir(parents=True)
    for i in range(n_images):
        path = root / "src" / f"{i}.jpg"
        Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(path, quality=85)
        caps = {"raw": f"case {i}", "refined": f"a lesion number {i}", "ontology": f"class {i % 7}"}
        rows.append(ExportRow(f"p{i}", f"i{i}", path, f"g{i}", "", caps["refined"], captions=caps))
    return write_export(rows, {r.pair_id: "train" for r in rows}, root / "export", 256).out_dir


def main() -> dict[str, object]:
    from pipeline.config import load_config
    from pipeline.train.jobs import profile_recipe
    from pipeline.train.trainer import train

    cuda = torch.cuda.is_available()
    profile = REPO / "configs" / ("derm1m.yaml" if cuda else "sample.yaml")
    steps = int(os.environ.get("BENCH_TRAIN_STEPS", 20 if cuda else 8))
    micro = int(os.environ.get("BENCH_TRAIN_MICRO", 128 if cuda else 16))
    overrides = {"micro_batch_size": micro, "global_batch_size": micro * 2, "max_steps": steps, "epochs": 1,
                 "warmup_steps": 1, "save_every_steps": 10_000}  # fmt: skip
    if cuda:
        overrides["workers"] = 8
    recipe = profile_recipe(load_config(profile), **overrides)
    with tempfile.TemporaryDirectory() as tmp:
        export = synthetic_export(Path(tmp), recipe.global_batch_size * steps)
        summary = train(recipe, export, Path(tmp) / "run")
    result: dict[str, object] = {
        "date": str(date.today()), "machine": platform.platform(), "cpu_count": os.cpu_count(),
        "device": summary.device, "model": recipe.model, "micro_batch": recipe.micro_batch_size,
        "global_batch": recipe.global_batch_size, "steps": summary.end_step, "seconds": round(summary.seconds, 2),
        "images_per_s": round(summary.images_per_s, 2), "peak_gpu_memory_gib": round(summary.peak_memory_bytes / 2**30, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
    }  # fmt: skip
    out = REPO / "bench" / "results" / f"train_recipe-{date.today()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
