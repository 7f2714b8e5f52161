"""The multi-index probe loop of `dedup.search`, compiled with numba when it is installed (extra `speed`).

Why a compiled loop: the numpy probe materialises every candidate (query index, entry index) before it
verifies one; with the pipeline's 10 views per image a million images make ~3.4 billion candidates, and
building, gathering and filtering those arrays took 141 s. Here each candidate is read, compared and
dropped in registers, so the index is walked once per probe and only matches are written. The loop is
the same algorithm as `dedup._probe_band` (flip-major over band-sorted queries, so bucket reads walk
memory almost in order); `tests/test_dedup.py` checks both give the same pairs.

Without numba `available()` is False and `dedup` keeps its numpy path.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - exercised where numba is not installed
    numba = None  # type: ignore[assignment]

__all__ = ["available", "probe_band"]

_BLOCK_BYTES = 256 * 1024


def available() -> bool:
    return numba is not None


def _popcount(x: Any) -> Any:
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


def _probe(sp, sd, so, starts, qvals, qp_sorted, qd_sorted, qo_sorted, flips,  # type: ignore[no-untyped-def]
           phash_max, max_distance, block_bits, k0, k1, out_q, out_e, out_dist):
    """Matches of queries qvals[k0:k1] in the band; writes up to len(out_q) of them, returns how many
    there are (a larger count tells the caller to retry with room for all).

    The query arrays come in band order (gathering them through a permutation here cost a cache miss
    per probe). Queries go in blocks that share their band value above `block_bits`, and `flips` come
    sorted by their bits above it: consecutive flips then probe the same block of buckets, which stays
    in cache while it is needed, so the index is streamed from memory far fewer times (4x faster at ten
    million entries than probing every query per flip).
    """
    found = 0
    cap = out_q.shape[0]
    kb = k0
    while kb < k1:
        block = qvals[kb] >> block_bits
        ke = kb + 1
        while ke < k1 and (qvals[ke] >> block_bits) == block:
            ke += 1
        for f in range(flips.shape[0]):
            flip = flips[f]
            for k in range(kb, ke):
                probe = qvals[k] ^ flip
                lo = starts[probe]
                hi = starts[probe + 1]
                if lo == hi:
                    continue
                qp = qp_sorted[k]
                qd = qd_sorted[k]
                qo = qo_sorted[k]
                for e in range(lo, hi):
                    dp = _popcount(qp ^ sp[e])
                    if dp <= phash_max and so[e] != qo:
                        dist = dp + _popcount(qd ^ sd[e])
                        if dist <= max_distance:
                            if found < cap:
                                out_q[found] = qo
                                out_e[found] = so[e]
                                out_dist[found] = dist
                            found += 1
        kb = ke
    return found


def _bucket_sort(p, d, owner, shift, width):  # type: ignore[no-untyped-def]
    """Counting sort of (p, d, owner) by the band value (p >> shift) & (2^width - 1), stable: bucket
    offsets and the three arrays in bucket order. One histogram pass and one scatter pass, where numpy
    needed an argsort and three gathers (4.7 s a band for ten million entries)."""
    mask = np.uint64((1 << width) - 1)
    ushift = np.uint64(shift)
    n = p.shape[0]
    starts = np.zeros((1 << width) + 1, np.int64)
    for i in range(n):
        starts[np.int64((p[i] >> ushift) & mask) + 1] += 1
    for b in range(1 << width):
        starts[b + 1] += starts[b]
    fill = starts[:-1].copy()
    sp = np.empty(n, np.uint64)
    sd = np.empty(n, np.uint64)
    so = np.empty(n, np.int64)
    for i in range(n):
        b = np.int64((p[i] >> ushift) & mask)
        j = fill[b]
        fill[b] = j + 1
        sp[j] = p[i]
        sd[j] = d[i]
        so[j] = owner[i]
    return starts, sp, sd, so


if numba is not None:
    _popcount = numba.njit(inline="always", cache=True)(_popcount)
    _probe = numba.njit(nogil=True, cache=True)(_probe)
    _bucket_sort = numba.njit(nogil=True, cache=True)(_bucket_sort)


def probe_band(
    index_p: np.ndarray, index_d: np.ndarray, index_owner: np.ndarray,
    query_p: np.ndarray, query_d: np.ndarray, query_owner: np.ndarray,
    shift: int, width: int, flips: np.ndarray, phash_max: int, max_distance: int, threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query owner, entry owner, distance) of the matches found through one band of `width` bits at
    `shift`, probing the band values within the `flips` of each query's. Index and queries are bucket-
    sorted by band value first; the query range is then split over `threads` threads (default: the
    cores, at most 8; the loop releases the GIL)."""
    threads = threads or min(8, os.cpu_count() or 1)
    owner_i, owner_q = index_owner.astype(np.int64, copy=False), query_owner.astype(np.int64, copy=False)
    with ThreadPoolExecutor(2) as pool:
        index = pool.submit(_bucket_sort, index_p, index_d, owner_i, shift, width)
        _, qp, qd, qo = _bucket_sort(query_p, query_d, owner_q, shift, width)
        starts, sp, sd, so = index.result()
    qvals = ((qp >> np.uint64(shift)) & np.uint64((1 << width) - 1)).astype(np.int64)
    # a block of buckets with its entries (8 bytes of offset + 8 per entry) should fit in ~256 KB of cache
    per_bucket = 8.0 * (1.0 + len(index_p) / 2.0 ** width)
    block_bits = int(min(width, max(4, math.floor(math.log2(_BLOCK_BYTES / per_bucket)))))
    flips = flips[np.argsort(flips >> block_bits, kind="stable")]
    cuts = np.searchsorted(qvals >> block_bits, np.linspace(0, 1 << (width - block_bits), threads + 1)[1:-1])
    bounds = np.r_[0, cuts, len(qvals)].astype(np.int64)

    def run(part: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k0, k1 = int(bounds[part]), int(bounds[part + 1])
        cap = max(1024, (k1 - k0) // 8)
        while True:
            out = np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap, np.int16)
            n = _probe(sp, sd, so, starts, qvals, qp, qd, qo, flips, phash_max, max_distance, block_bits,
                       k0, k1, *out)
            if n <= cap:
                return out[0][:n], out[1][:n], out[2][:n]
            cap = n

    if threads == 1:
        return run(0)
    with ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(run, range(threads)))
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]
