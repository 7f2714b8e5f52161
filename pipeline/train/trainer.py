"""The DermLIP training loop over the export's WebDataset shards, with open_clip as the model library.

What it adds to the library: torchrun-style multi-process setup (init_process_group when WORLD_SIZE > 1,
DDP, local ClipLoss with gathered features), a global batch larger than memory by gradient caching
(open_clip's ``accum_freq`` scheme: features of every micro-batch are computed without grad, then each
micro-batch is re-run with grad against the full cached batch, so the loss is the exact large-batch
contrastive loss, not an average of small ones), bf16 autocast on CUDA, gradient checkpointing, and exact
resume. Only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from pipeline.devices import resolve_device as core_resolve_device
from pipeline.train.checkpoint import (
    latest_checkpoint,
    load_training_state,
    prune_checkpoints,
    save_atomic,
    save_training_state,
)  # fmt: skip
from pipeline.train.recipe import Recipe, lr_lambda, train_transform
from pipeline.train.wds import ShardStream, count_samples, list_shards
from pipeline.vision.clip_model import create_model, image_size, open_clip_module, param_groups

__all__ = ["TrainSummary", "autocast_for", "resolve_device", "train"]


@dataclass
class TrainSummary:
    """One call of ``train``: the steps it ran (global step numbers) and their losses, and throughput."""

    checkpoint: Path
    start_step: int
    end_step: int
    total_steps: int
    steps_per_epoch: int
    step_losses: list[float] = field(default_factory=list)
    n_train_images: int = 0
    n_params: int = 0
    seconds: float = 0.0
    images_per_s: float = 0.0
    peak_memory_bytes: int = 0
    device: str = "cpu"
    world_size: int = 1


def resolve_device(requested: str, local_rank: int = 0) -> torch.device:
    """cuda:LOCAL_RANK when CUDA is asked for (or "auto" finds it), else cpu; asking for absent CUDA fails
    (pipeline.devices.CudaUnavailable, a RuntimeError)."""
    if core_resolve_device(requested, "training") == "cuda":
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def autocast_for(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CUDA when the recipe asks for it; a no-op elsewhere (CPU runs in fp32)."""
    if device.type == "cuda" and precision == "bf16":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _dist_env() -> tuple[int, int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def _loss_and_backward(
    net: Any, unwrapped: Any, loss_fn: Any, micro: list[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device, precision: str,
) -> float:  # fmt: skip
    """Forward/backward of one optimiser step over its micro-batches (gradient caching when >1)."""
    if len(micro) == 1:
        images, texts = micro[0]
        with autocast_for(device, precision):
            out = net(images, texts)
            loss = loss_fn(out["image_features"], out["text_features"], out["logit_scale"])
        loss.backward()
        return float(loss.detach())
    with torch.no_grad(), autocast_for(device, precision):
        cached = [net(images, texts) for images, texts in micro]
    img_cache = [c["image_features"] for c in cached]
    txt_cache = [c["text_features"] for c in cached]
    total = 0.0
    for j, (images, texts) in enumerate(micro):
        sync = contextlib.nullcontext() if j == len(micro) - 1 or net is unwrapped else net.no_sync()
        with sync:
            with autocast_for(device, precision):
                out = net(images, texts)
                img = torch.cat(img_cache[:j] + [out["image_features"]] + img_cache[j + 1 :])
                txt = torch.cat(txt_cache[:j] + [out["text_features"]] + txt_cache[j + 1 :])
                last = j == len(micro) - 1  # logit_scale's gradient counted once, in the pass DDP syncs
                scale = out["logit_scale"] if last else out["logit_scale"].detach()
                loss = loss_fn(img, txt, scale)
            loss.backward()
        total = float(loss.detach())
    return total


def train(recipe: Recipe, export_dir: Path, out_dir: Path, resume: str | None = None) -> TrainSummary:
    """Train ``recipe.model`` on ``export_dir``'s train shards; checkpoints and logs go to ``out_dir``.

    ``resume``: None (fresh; refuses to overwrite existing checkpoints), "latest" (the newest checkpoint in
    out_dir, or fresh when there is none), or a checkpoint path.
    Stops after ``recipe.max_steps`` total steps when set (checkpointing there), else after all epochs.
    """
    rank, world, local_rank = _dist_env()
    device = resolve_device(recipe.device, local_rank)
    distributed = world > 1
    if distributed and not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    out_dir = Path(out_dir)
    if resume is None and latest_checkpoint(out_dir) is not None:
        raise FileExistsError(f"{out_dir} already has checkpoints; pass resume='latest' or a new out_dir")
    previous_threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(recipe.threads)
    try:
        return _run(recipe, Path(export_dir), out_dir, resume, device, rank, world)
    finally:
        torch.set_num_threads(previous_threads)


def _run(
    recipe: Recipe, export_dir: Path, out_dir: Path, resume: str | None, device: torch.device,
    rank: int, world: int,
) -> TrainSummary:  # fmt: skip
    oc = open_clip_module()
    accum = recipe.accum_steps(world)
    shards = list_shards(export_dir, "train")
    n_images = count_samples(shards)
    steps_per_epoch = max(1, n_images // recipe.global_batch_size)
    total_steps = recipe.epochs * steps_per_epoch
    torch.manual_seed(recipe.seed)
    net, _, _, tokenizer = create_model(recipe.model, recipe.pretrained, recipe.seed)  # a file or a tag
    if recipe.grad_checkpointing:
        net.set_grad_checkpointing(True)
    net.to(device)
    size = image_size(net) or 224
    transform = train_transform(recipe, size, getattr(net.visual, "image_mean", None),
                                getattr(net.visual, "image_std", None))  # fmt: skip
    opt = torch.optim.AdamW(param_groups(net, recipe.weight_decay), lr=recipe.lr, betas=recipe.betas, eps=recipe.eps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(recipe.warmup_steps, total_steps))
    meta = {"model": recipe.model, "steps_per_epoch": steps_per_epoch,
            "global_batch_size": recipe.global_batch_size, "world_size": world}  # fmt: skip
    step = epoch = 0
    path = latest_checkpoint(out_dir) if resume == "latest" else Path(resume) if resume else None
    if resume not in (None, "latest") and (path is None or not path.is_file()):
        raise FileNotFoundError(f"no checkpoint to resume from at {resume}")
    if path is not None:  # "latest" with nothing saved yet starts fresh, as open_clip's --resume latest
        step, epoch = load_training_state(path, net, opt, sched, meta)
    start_step = step
    model: Any = net
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        model = torch.nn.parallel.DistributedDataParallel(net, device_ids=ids)
    loss_fn = oc.ClipLoss(local_loss=recipe.local_loss and world > 1, gather_with_grad=recipe.gather_with_grad,
                          rank=rank, world_size=world)  # fmt: skip
    stream = ShardStream(shards, transform, recipe.micro_batch_size, steps_per_epoch * accum,
                         recipe.caption_weights, recipe.seed, rank, world, recipe.shuffle_buffer, size)  # fmt: skip
    loader = DataLoader(stream, batch_size=None, num_workers=recipe.workers,
                        pin_memory=device.type == "cuda", persistent_workers=False)  # fmt: skip
    stop_at = min(total_steps, recipe.max_steps) if recipe.max_steps else total_steps
    losses: list[float] = []
    log = out_dir / "train_log.jsonl"
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model.train()
    start = time.perf_counter()
    while step < stop_at:
        epoch = step // steps_per_epoch
        stream.set_epoch(epoch, (step % steps_per_epoch) * accum)
        micro: list[tuple[torch.Tensor, torch.Tensor]] = []
        for images, captions in loader:
            micro.append((images.to(device, non_blocking=True), tokenizer(captions).to(device)))
            if len(micro) < accum:
                continue
            opt.zero_grad(set_to_none=True)
            lr = sched.get_last_lr()[0]
            loss = _loss_and_backward(model, net, loss_fn, micro, device, recipe.precision)
            micro = []
            if recipe.grad_clip_norm:
                torch.nn.utils.clip_grad_norm_(net.parameters(), recipe.grad_clip_norm)
            opt.step()
            sched.step()
            with torch.no_grad():
                net.logit_scale.clamp_(0, math.log(100))
            step += 1
            losses.append(loss)
            if rank == 0:
                with open(log, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"step": step, "epoch": epoch, "loss": loss, "lr": lr}) + "\n")
            boundary = step % steps_per_epoch == 0 or step % recipe.save_every_steps == 0 or step >= stop_at
            if rank == 0 and boundary:
                save_training_state(out_dir, net, opt, sched, step, step // steps_per_epoch, meta)
                prune_checkpoints(out_dir, recipe.keep_checkpoints)
            if step >= stop_at or step % steps_per_epoch == 0:
                break
    seconds = time.perf_counter() - start
    final = out_dir / "checkpoint.pt"
    if rank == 0:
        save_atomic(net.state_dict(), final)
    if world > 1:
        torch.distributed.barrier()
    done = step - start_step
    return TrainSummary(
        checkpoint=final, start_step=start_step, end_step=step, total_steps=total_steps,
        steps_per_epoch=steps_per_epoch, step_losses=losses, n_train_images=n_images,
        n_params=sum(p.numel() for p in net.parameters()), seconds=seconds,
        images_per_s=done * recipe.global_batch_size / seconds if seconds > 0 else 0.0,
        peak_memory_bytes=torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0,
        device=str(device), world_size=world,
    )  # fmt: skip
