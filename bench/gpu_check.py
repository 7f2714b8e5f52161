"""GPU check (issue 14): ASR, one DermLIP training epoch and zero-shot evaluation on one CUDA machine.

Prints and saves (bench/results/gpu-check-<date>.json) the ASR realtime factor, training and evaluation
images/s and peak GPU memory. What it runs is what the full profile runs, through the same code:
`configs/derm1m.yaml`'s ASR settings (large-v3 when its weights are in the Hugging Face cache, else the
bundled tiny.en, on CUDA) and its DermLIP recipe (ViT-B/16, bf16, global batch 4096 by gradient caching,
OpenAI's weights when cached, else a seeded random init) for one epoch on the sample export. Sized for
about 8 minutes on one H100; bench/gpu_check.sh (make gpu-check) is the way in.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
FULL = REPO / "configs" / "derm1m.yaml"
VIDEOS = sorted((REPO / "samples" / "videos").glob("derm_lecture_*.mp4"))


def _gib(n: int) -> float:
    return round(n / 2**30, 2)


def _device_used() -> int:
    free, total = torch.cuda.mem_get_info()
    return total - free  # CTranslate2 allocates outside torch: the device's view counts it


def asr_check() -> dict[str, Any]:
    from faster_whisper.utils import download_model

    from pipeline.config import load_config
    from pipeline.preprocess.asr import load_audio, make_transcriber

    asr = load_config(FULL).preprocess.asr.model_copy(update={"device": "cuda", "compute_type": "auto"})
    try:
        download_model(asr.model, local_files_only=True)
    except Exception:  # noqa: BLE001 - not in the cache (no network here): the bundled weights instead
        print(f"asr: {asr.model} is not in the Hugging Face cache; using the bundled tiny.en", file=sys.stderr)
        asr = asr.model_copy(update={"model": "tiny.en", "model_path": None})
    transcriber = make_transcriber(asr)
    assert transcriber is not None
    before = _device_used()
    t0 = time.perf_counter()
    transcriber._model()  # type: ignore[attr-defined]
    load_s = time.perf_counter() - t0
    audio_s = wall = 0.0
    words = 0
    for video in VIDEOS:
        audio_s += len(load_audio(video)) / 16000
        t0 = time.perf_counter()
        words += sum(len(s.text.split()) for s in transcriber.transcribe(video).segments)
        wall += time.perf_counter() - t0
    plan = transcriber.plan  # type: ignore[attr-defined]
    return {"model": transcriber.name, "compute_type": plan.compute_type, "batch_size": plan.batch_size,
            "videos": len(VIDEOS), "audio_s": round(audio_s, 1), "load_s": round(load_s, 2),
            "transcribe_s": round(wall, 2), "realtime_factor": round(audio_s / wall, 1) if wall else None,
            "words": words, "device_memory_gib": _gib(_device_used() - before)}


def export_dir() -> Path:
    """data/export after `make build-derm1m`; else the sample build, then its export."""
    from pipeline.train.wds import list_shards

    export = REPO / "data" / "export"
    try:
        if list_shards(export, "train"):
            return export
    except (OSError, ValueError):
        pass
    from flows.cli import main as derm1m

    config = str(REPO / "configs" / "sample.yaml")
    print("gpu-check: no data/export; building the sample corpus first", file=sys.stderr)
    if derm1m(["--config", config, "build"]) not in (0, 1) or derm1m(["--config", config, "export"]) != 0:
        raise SystemExit("gpu-check: the sample build or its export failed")
    return export


def _pretrained(recipe: Any) -> str | None:
    """The recipe's `pretrained` when it loads offline (a file, or a tag already cached), else None."""
    from pipeline.vision.clip_model import create_model

    if not recipe.pretrained:
        return None
    try:
        create_model(recipe.model, recipe.pretrained, recipe.seed)
        return str(recipe.pretrained)
    except Exception as exc:  # noqa: BLE001 - offline: no weights to be had, train from the seeded init
        print(f"train: pretrained {recipe.pretrained!r} unavailable ({str(exc)[:120]}); random init", file=sys.stderr)
        return None


def train_and_zero_shot(export: Path, out: Path) -> dict[str, Any]:
    from pipeline.config import load_config
    from pipeline.train import trainer
    from pipeline.train.clip_data import read_rows
    from pipeline.train.evaluate import load_encoder, zero_shot
    from pipeline.train.jobs import export_classes, profile_recipe

    cfg = load_config(FULL)
    recipe = profile_recipe(cfg, epochs=1, device="cuda", workers=min(8, os.cpu_count() or 1))
    recipe = recipe.model_copy(update={"pretrained": _pretrained(recipe)})
    torch.cuda.reset_peak_memory_stats()
    s = trainer.train(recipe, export, out / "train")
    train = {"model": recipe.model, "pretrained": recipe.pretrained, "precision": recipe.precision,
             "global_batch_size": recipe.global_batch_size, "micro_batch_size": recipe.micro_batch_size,
             "steps": s.end_step, "train_images": s.n_train_images, "seconds": round(s.seconds, 2),
             "images_per_s": round(s.images_per_s, 1), "peak_gpu_memory_gib": _gib(s.peak_memory_bytes)}
    classes = export_classes(export)
    labels = {r["filename"]: r["disease_label"] for r in read_rows(export / "validation.csv")
              if r["disease_label"] in classes}
    every = list(dict.fromkeys(r["filename"] for split in ("train", "validation")
                               for r in read_rows(export / f"{split}.csv")))
    torch.cuda.reset_peak_memory_stats()
    enc = load_encoder(recipe.model, s.checkpoint, recipe.seed, device="cuda")
    enc.batch_size = 256
    metrics = zero_shot(enc, enc.images([export / f for f in labels]), list(labels.values()), classes) \
        if labels else {}
    timed = [export / f for f in (every * (2048 // max(1, len(every)) + 1))[:2048]]  # decoding included
    t0 = time.perf_counter()
    enc.images(timed)
    torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    zs = {"val_images": len(labels), "classes": len(classes), "timed_images": len(timed),
          "seconds": round(wall, 2), "images_per_s": round(len(timed) / wall, 1),
          "peak_gpu_memory_gib": _gib(torch.cuda.max_memory_allocated()),
          **{k: round(v, 4) for k, v in metrics.items()}}
    return {"train": train, "zero_shot": zs}


def main() -> int:
    if not torch.cuda.is_available():
        print(f"gpu-check: no CUDA GPU visible to torch {torch.__version__}; run it on a CUDA machine with a "
              "CUDA build of torch (make install sets up CPU torch)", file=sys.stderr)
        return 2
    result: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds"),
                              "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}
    result["asr"] = asr_check()
    print(json.dumps({"asr": result["asr"]}), flush=True)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        result.update(train_and_zero_shot(export_dir(), Path(tmp)))
    out = REPO / "bench" / "results" / f"gpu-check-{result['when'][:10]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    print(f"gpu-check: ASR {result['asr']['realtime_factor']}x realtime, training "
          f"{result['train']['images_per_s']} images/s (peak {result['train']['peak_gpu_memory_gib']} GiB), "
          f"zero-shot {result['zero_shot']['images_per_s']} images/s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
