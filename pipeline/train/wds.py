"""Stream the export's WebDataset shards for training: rank/worker partitioning, caption sampling, batches.

Why a custom IterableDataset instead of a stock ``wds.WebDataset`` pipeline: under DDP every rank must
run exactly the same number of steps, and a resumed run must see exactly the batches it would have seen
without the interruption. So the stream is defined as batches of a fixed size, numbered per epoch: batch
``b`` of rank ``r`` is fully determined by (seed, epoch, r, b), workers take turns batch by batch (the
DataLoader's round-robin over workers then restores the order), and resuming skips the first batches
without decoding them. Each rank's partition is cycled, so short ranks never stall the others. Shards are
read with webdataset's tar iterator; images are decoded only for the samples a worker keeps.
"""

from __future__ import annotations

import io
import json
import random
import tarfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
import webdataset as wds
from PIL import Image
from torch.utils.data import IterableDataset, get_worker_info

__all__ = ["ShardStream", "count_samples", "list_shards", "sample_caption"]

IMAGE_KEYS = ("jpg", "png", "webp", "bmp", "tif", "tiff", "gif")
Batch = tuple[torch.Tensor, list[str]]


def list_shards(export_dir: Path, split: str) -> list[Path]:
    """``shards/{split}-NNNNNN.tar`` of an export, in shard order."""
    shards = sorted((Path(export_dir) / "shards").glob(f"{split}-*.tar"))
    if not shards:
        raise FileNotFoundError(f"no {split} shards under {Path(export_dir) / 'shards'}")
    return shards


def count_samples(shards: list[Path]) -> int:
    """Samples (= images) in the shards: one ``.json`` member per sample, counted from tar headers only."""
    n = 0
    for shard in shards:
        with tarfile.open(shard) as tar:
            n += sum(1 for m in tar if m.name.endswith(".json"))
    return n


def sample_caption(captions: Mapping[str, list[str]], weights: Mapping[str, float], rng: random.Random) -> str:
    """Draw a caption kind by weight among the kinds this image has, then a text of that kind.

    Images lacking every weighted kind fall back to the plain ``caption`` variant (the CSV caption), so
    a zero weight never drops an image.
    """
    kinds = [k for k, w in weights.items() if w > 0 and captions.get(k)]
    if kinds:
        kind = rng.choices(kinds, weights=[weights[k] for k in kinds])[0]
        return rng.choice(captions[kind])
    for texts in [captions.get("caption", []), *captions.values()]:
        if texts:
            return rng.choice(texts)
    raise ValueError("sample has no caption")


class ShardStream(IterableDataset[Batch]):
    """Fixed-size (images, captions) batches of one rank, ``batches_per_epoch`` of them per epoch.

    Partitioning: with at least ``world_size`` shards, rank r reads shards r, r+W, ...; with fewer it
    reads all of them and keeps samples whose index % W == r. Order: shards shuffled per (epoch, cycle),
    then a seeded shuffle buffer. Augmentation randomness is re-seeded per sample, so it does not depend
    on worker count or on where a run was resumed.
    """

    def __init__(
        self,
        shards: list[Path],
        transform: Callable[[Image.Image], torch.Tensor],
        batch_size: int,
        batches_per_epoch: int,
        caption_weights: Mapping[str, float],
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        shuffle_buffer: int = 1000,
        size_hint: int | None = None,
    ) -> None:
        if not shards:
            raise ValueError("no shards to read")
        self.shards, self.transform = list(shards), transform
        self.batch_size, self.batches_per_epoch = batch_size, batches_per_epoch
        self.caption_weights = dict(caption_weights)
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.shuffle_buffer, self.size_hint = shuffle_buffer, size_hint
        self.epoch, self.skip_batches = 0, 0

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        """Select the epoch to stream; ``skip_batches`` (a resume) drops that many batches undecoded."""
        self.epoch, self.skip_batches = epoch, skip_batches

    def __len__(self) -> int:
        return self.batches_per_epoch - self.skip_batches

    def _raw(self) -> Iterator[dict[str, Any]]:
        """This rank's raw samples, cycled forever, each cycle in a new seeded order."""
        by_shard = len(self.shards) >= self.world_size
        mine = self.shards[self.rank :: self.world_size] if by_shard else self.shards
        cycle = 0
        while True:
            rng = random.Random(f"{self.seed}:{self.epoch}:{self.rank}:{cycle}")
            order = rng.sample(mine, len(mine))
            buffer: list[dict[str, Any]] = []
            index = 0
            for sample in wds.tarfile_samples([{"url": str(p)} for p in order]):
                index += 1
                if not by_shard and (index - 1) % self.world_size != self.rank:
                    continue
                buffer.append(sample)
                if len(buffer) >= self.shuffle_buffer:
                    yield buffer.pop(rng.randrange(len(buffer)))
            while buffer:
                yield buffer.pop(rng.randrange(len(buffer)))
            if index == 0:
                raise ValueError(f"shards are empty: {[str(p) for p in mine]}")
            cycle += 1

    def _decode(self, sample: dict[str, Any], position: int) -> tuple[torch.Tensor, str]:
        meta = json.loads(sample["json"])
        rng = random.Random(f"{self.seed}:{self.epoch}:{self.rank}:{position}")
        caption = sample_caption(meta.get("captions", {}), self.caption_weights, rng)
        key = next((k for k in IMAGE_KEYS if k in sample), None)
        if key is None:
            raise ValueError(f"sample {sample.get('__key__')} has no image")
        with Image.open(io.BytesIO(sample[key])) as img:
            if self.size_hint:
                img.draft("RGB", (2 * self.size_hint, 2 * self.size_hint))
            image = img.convert("RGB")
        # torchvision draws crops from torch's RNG, open_clip's jitter/grayscale from Python's: seed both
        saved = random.getstate()
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(rng.getrandbits(63))
                random.seed(rng.getrandbits(63))
                return self.transform(image), caption
        finally:
            random.setstate(saved)

    def __iter__(self) -> Iterator[Batch]:
        info = get_worker_info()
        worker, n_workers = (info.id, info.num_workers) if info else (0, 1)
        raw = self._raw()
        for b in range(self.batches_per_epoch):
            chunk = [next(raw) for _ in range(self.batch_size)]
            if b < self.skip_batches or (b - self.skip_batches) % n_workers != worker:
                continue
            base = b * self.batch_size
            items = [self._decode(s, base + i) for i, s in enumerate(chunk)]
            yield torch.stack([x for x, _ in items]), [c for _, c in items]
