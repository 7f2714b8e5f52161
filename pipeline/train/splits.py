"""Leakage-free train/validation split of exported pairs.

Why: several pairs come from one source item (a video's frames, an article's figures), and the clean stage
groups near-duplicate images into clusters; if such siblings sit on both sides, validation retrieval
measures memorisation. So whole connected groups are assigned, deterministically for a given seed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

__all__ = ["SPLITS", "SplitRow", "assign_splits"]

SPLITS = ("train", "validation")


class SplitRow(Protocol):
    """What splitting needs from a row (ExportRow has it); "" in a group/cluster id means "none"."""

    @property
    def pair_id(self) -> str: ...
    @property
    def image_id(self) -> str: ...
    @property
    def group_id(self) -> str: ...
    @property
    def cluster_id(self) -> str: ...


def _unit_interval(seed: int, key: str) -> float:
    """A stable uniform number in [0, 1) for (seed, key)."""
    return int(hashlib.sha256(f"{seed}\x00{key}".encode()).hexdigest()[:16], 16) / float(1 << 64)


def assign_splits(rows: Sequence[SplitRow], val_fraction: float, seed: int) -> dict[str, str]:
    """Map pair_id -> "train" | "validation" without leakage.

    Rows are joined (union-find) when they share a group_id, a cluster_id or an image_id; whole
    components go to one side, by a hash of (seed, the component's smallest pair_id) against val_fraction,
    so a component keeps its side as the corpus grows unless new pairs join it. With at least two
    components both sides are non-empty.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    ids = [r.pair_id for r in rows]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate pair_id in rows")
    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_seen: dict[tuple[str, str], int] = {}
    for i, r in enumerate(rows):
        for key in (("g", r.group_id), ("c", r.cluster_id), ("i", r.image_id)):
            if not key[1]:
                continue
            j = first_seen.setdefault(key, i)
            ri, rj = find(i), find(j)
            if ri != rj:
                parent[max(ri, rj)] = min(ri, rj)

    components: dict[int, list[str]] = {}
    for i, r in enumerate(rows):
        components.setdefault(find(i), []).append(r.pair_id)
    comps = sorted(sorted(members) for members in components.values())
    # A component's side is a coin of its own: validation when the hash of (seed, its smallest pair id) falls
    # under val_fraction. No other component moves it, so adding pairs to a corpus moves only the components
    # the new pairs join (a greedy fill to a target count reshuffled 25 of 152 validation pairs when a corpus
    # grew by 20 %); the validation share is val_fraction in expectation, not exactly.
    val_idx = {ci for ci, members in enumerate(comps) if _unit_interval(seed, members[0]) < val_fraction}
    if len(comps) == 1:  # one component cannot be split: it trains
        val_idx = set()
    if len(comps) >= 2:
        if not val_idx:  # a tiny corpus where every coin said train: the smallest component validates
            val_idx.add(min(range(len(comps)), key=lambda c: (len(comps[c]), _unit_interval(seed, comps[c][0]))))
        elif len(val_idx) == len(comps):
            val_idx.discard(max(val_idx, key=lambda c: (len(comps[c]), _unit_interval(seed, comps[c][0]))))
    return {
        pid: SPLITS[1] if ci in val_idx else SPLITS[0] for ci, members in enumerate(comps) for pid in members
    }
