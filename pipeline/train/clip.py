"""Train and evaluate a tiny CLIP on the exported corpus, on CPU, with open_clip as a library.

Why: the corpus is only useful if image and text carry a learnable joint signal. A few epochs of a
~8 M-parameter CLIP ("DermTiny", 64-px images, pipeline/vision/model_configs/DermTiny.json) against the same model
untrained (checkpoint=None) shows that cheaply; retrieval recall and zero-shot accuracy on the
leakage-free validation split are the numbers to compare. Checkpoints are plain state_dicts, which
``open_clip.create_model_and_transforms(model, pretrained=str(path))`` loads directly.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from pipeline.train.clip_data import CaptionImageDataset, load_caption_variants, load_image, read_rows
from pipeline.vision.clip_model import CONFIG_DIR, create_model, image_size, open_clip_module, param_groups

__all__ = [
    "CONFIG_DIR", "ClipTrainSettings", "TrainResult", "contrastive_loss", "evaluate_clip", "train_clip",
]  # fmt: skip

_CHUNK = 1024


@dataclass
class ClipTrainSettings:
    """Knobs of the validation run; defaults fit a few-thousand-pair corpus in minutes on 2 CPU cores.

    caption_kinds picks which caption variants (write_export's captions json) are sampled per epoch.
    """

    model: str = "DermTiny"
    epochs: int = 3
    batch_size: int = 16
    lr: float = 5e-4
    weight_decay: float = 0.1
    seed: int = 0
    threads: int = 2
    caption_kinds: tuple[str, ...] = ("raw", "refined", "ontology", "concept")


@dataclass
class TrainResult:
    """What one run produced and how fast: seconds cover the training loop (decode included), not setup."""

    epoch_losses: list[float]
    checkpoint: Path
    n_train: int
    n_params: int
    seconds: float
    images_per_s: float
    steps: int = 0


def train_clip(
    train_csv: Path,
    image_root: Path,
    settings: ClipTrainSettings,
    out_dir: Path,
    captions_json: Path | None = None,
) -> TrainResult:
    """Train ``settings.model`` from scratch on train_csv; write ``out_dir/checkpoint.pt`` atomically.

    Contrastive (ClipLoss) training with AdamW and a cosine schedule; captions are sampled per epoch
    from captions_json when given. Single process, no DataLoader workers: on 2 cores the model, not
    image decoding, is the bottleneck.
    """
    rows = read_rows(train_csv)
    if not rows:
        raise ValueError(f"no training rows in {train_csv}")
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        torch.manual_seed(settings.seed)
        net, pre_train, _, tokenizer = create_model(settings.model, None, settings.seed)
        oc = open_clip_module()
        variants = load_caption_variants(captions_json, settings.caption_kinds) if captions_json else {}
        ds = CaptionImageDataset(rows, image_root, pre_train, variants, settings.seed, image_size(net))

        def collate(batch: list[tuple[torch.Tensor, str]]) -> tuple[torch.Tensor, torch.Tensor]:
            return torch.stack([b[0] for b in batch]), tokenizer([b[1] for b in batch])

        loader = DataLoader(
            ds,
            batch_size=settings.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(settings.seed),
            drop_last=len(ds) > settings.batch_size,
            collate_fn=collate,
        )
        total = max(1, settings.epochs * len(loader))
        opt = torch.optim.AdamW(
            param_groups(net, settings.weight_decay), lr=settings.lr, betas=(0.9, 0.98), eps=1e-6
        )
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1.0 + math.cos(math.pi * s / total)))
        loss_fn = oc.ClipLoss()
        net.train()
        epoch_losses: list[float] = []
        seen = steps = 0
        start = time.perf_counter()
        for epoch in range(settings.epochs):
            ds.set_epoch(epoch)
            losses = []
            for images, texts in loader:
                out = net(images, texts)
                loss = loss_fn(out["image_features"], out["text_features"], out["logit_scale"])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                with torch.no_grad():
                    net.logit_scale.clamp_(0, math.log(100))
                losses.append(float(loss.item()))
                seen += images.shape[0]
                steps += 1
            epoch_losses.append(sum(losses) / max(1, len(losses)))
        seconds = time.perf_counter() - start
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        ckpt = out_dir / "checkpoint.pt"
        tmp = out_dir / f".checkpoint.pt.tmp-{os.getpid()}"
        torch.save(net.state_dict(), tmp)
        os.replace(tmp, ckpt)
    finally:
        torch.set_num_threads(previous_threads)
    return TrainResult(
        epoch_losses=epoch_losses,
        checkpoint=ckpt,
        n_train=len(ds),
        n_params=sum(p.numel() for p in net.parameters()),
        seconds=seconds,
        images_per_s=seen / seconds if seconds > 0 else 0.0,
        steps=steps,
    )


@torch.no_grad()
def _encode(
    net: Any, preprocess: Any, tokenizer: Any, image_paths: list[Path], texts: list[str],
    batch_size: int,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """L2-normalised image and text embeddings, computed in batches."""
    size = image_size(net)
    imgs, txts = [], []
    for i in range(0, len(image_paths), batch_size):
        batch = torch.stack([preprocess(load_image(p, size)) for p in image_paths[i : i + batch_size]])
        imgs.append(net.encode_image(batch, normalize=True))
    for i in range(0, len(texts), batch_size):
        txts.append(net.encode_text(tokenizer(texts[i : i + batch_size]), normalize=True))
    dim = int(net.text_projection.shape[-1]) if hasattr(net, "text_projection") else 0
    empty = torch.empty(0, dim)
    return (torch.cat(imgs) if imgs else empty), (torch.cat(txts) if txts else empty)


def contrastive_loss(
    checkpoint: Path | None, model: str, csv_path: Path, image_root: Path, seed: int = 0
) -> float:
    """ClipLoss of the model over all rows of csv_path as one batch (eval transforms, no dropout).

    With checkpoint=None and the training seed this is the loss train_clip started from, which makes
    "did training lower the loss on this fixed batch" a direct check.
    """
    rows = read_rows(csv_path)
    net, _, pre_val, tokenizer = create_model(model, checkpoint, seed)
    net.eval()
    paths = [Path(image_root) / r["filename"] for r in rows]
    img, txt = _encode(
        net, pre_val, tokenizer, paths, [r["caption"] for r in rows], batch_size=len(rows) or 1
    )
    with torch.no_grad():
        loss = open_clip_module().ClipLoss()(img, txt, net.logit_scale.exp())
    return float(loss)


def _recall(
    queries: torch.Tensor,
    candidates: torch.Tensor,
    positive: Callable[[slice], torch.Tensor],
    ks: tuple[int, ...],
) -> dict[int, float]:
    """Fraction of queries with a positive among their top-k candidates (k clamped to #candidates).

    Queries go in chunks so memory stays O(chunk x candidates) on large validation sets.
    """
    hits = dict.fromkeys(ks, 0.0)
    for start in range(0, queries.shape[0], _CHUNK):
        block = slice(start, start + _CHUNK)
        sims, pos = queries[block] @ candidates.T, positive(block)
        for k in ks:
            top = sims.topk(min(k, candidates.shape[0]), dim=1).indices
            hits[k] += float(pos.gather(1, top).any(dim=1).sum())
    return {k: v / max(1, queries.shape[0]) for k, v in hits.items()}


def evaluate_clip(
    checkpoint: Path | None,
    model: str,
    val_csv: Path,
    image_root: Path,
    class_names: list[str],
    template: str = "This is a skin image of {c}",
    batch_size: int = 64,
    seed: int = 0,
) -> dict[str, float]:
    """Retrieval R@1/5/10 both ways and zero-shot top-1/top-5 on val_csv; checkpoint=None = untrained.

    Retrieval candidates: distinct images and all row captions. A caption counts as a positive for an
    image when that image has a row with the same filename or the identical caption text (identical
    texts embed identically, so ranking them apart would be arbitrary). Zero-shot uses rows whose
    disease_label matches a class name (case-insensitive); without any, only zero_shot_n=0 is given.
    """
    rows = read_rows(val_csv)
    result: dict[str, float] = {"n_val": float(len(rows))}
    if not rows:
        return result | {"zero_shot_n": 0.0}
    net, _, pre_val, tokenizer = create_model(model, checkpoint, seed)
    net.eval()
    image_of = {f: i for i, f in enumerate(dict.fromkeys(r["filename"] for r in rows))}
    captions = [r["caption"] for r in rows]
    text_id = {t: i for i, t in enumerate(dict.fromkeys(captions))}
    row_image = torch.tensor([image_of[r["filename"]] for r in rows])
    row_text = torch.tensor([text_id[c] for c in captions])
    has_text = torch.zeros(len(image_of), len(text_id), dtype=torch.bool)  # image i has a row with text t
    has_text[row_image, row_text] = True
    paths = [Path(image_root) / f for f in image_of]
    img, txt = _encode(net, pre_val, tokenizer, paths, captions, batch_size)
    ks = (1, 5, 10)
    i2t = _recall(img, txt, lambda b: has_text[b][:, row_text], ks)
    t2i = _recall(txt, img, lambda b: has_text[:, row_text[b]].T, ks)
    for name, rec in (("i2t", i2t), ("t2i", t2i)):
        result.update({f"{name}_R@{k}": v for k, v in rec.items()})
    result["n_val_images"] = float(len(image_of))

    index = {c.strip().casefold(): i for i, c in enumerate(class_names)}
    labelled = [(i, index[r["disease_label"].strip().casefold()]) for i, r in enumerate(rows)
                if r["disease_label"].strip().casefold() in index]  # fmt: skip
    result["zero_shot_n"] = float(len(labelled))
    if labelled and class_names:
        _, cls = _encode(net, pre_val, tokenizer, [], [template.format(c=c) for c in class_names], batch_size)
        row_img = img[row_image[[i for i, _ in labelled]]]
        target = torch.tensor([c for _, c in labelled])
        scores = row_img @ cls.T
        for k, key in ((1, "zero_shot_top1"), (5, "zero_shot_top5")):
            top = scores.topk(min(k, len(class_names)), dim=1).indices
            result[key] = float((top == target[:, None]).any(dim=1).float().mean())
    return result
