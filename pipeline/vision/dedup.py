"""Exact and near-duplicate image search that scales: multi-index hashing, sort-based, incremental.

Why not all pairs: comparing every new hash with every kept one is O(n^2) and stops at a few hundred
thousand images. Why several hashes per image: a global perceptual hash moves when a copy is cropped
(plain phash at distance 6 joined 17% of 80-90%-area crops to their originals on real dermoscopy
images, bench/dedup.py). So every image carries N_REGIONS views, its whole frame, a 3x3 grid of crops
covering CROP_SIDE of each side and its whole frame rotated by ROTATIONS, each hashed with phash and
dhash (64 bits each); a cropped copy's whole frame lands close to one crop of its original, a slightly
rotated one close to a rotated view. Two images are near-duplicates when the whole frame of one and some
view of the other are within `phash_max` phash bits *and* `max_distance` phash+dhash bits (rotated views:
ROTATED_MARGIN bits less): the phash gate makes the search indexable, the 128-bit sum keeps look-alike
lesions apart (dermoscopy thumbnails share a low-frequency layout that fools phash alone).

Why matrix products rather than imagehash per view: the views are all resamplings of one grey image and
the DCT is linear, so every view's hash inputs come from two small products with precomputed matrices
(`_plan`), after one decode at reduced size. imagehash took ~6.6 ms per image for 10 views (crop, LANCZOS
resize and scipy DCT each); this takes about a tenth of that for 12 (bench.dedup --hashing-only).

Search is multi-index hashing (Norouzi, Punjani & Fleet, CVPR 2012): the 64 phash bits are split into m
bands; two hashes within t bits agree to within floor(t/m) bits on some band (pigeonhole), so a query only
probes the buckets within that radius of its band values. Buckets are a counting sort of band values (one
argsort per band plus a start-offset table indexed by value), never a Python dict per hash. m comes from a
cost model so that a band has about log2(index size) bits: buckets stay O(1) and the work grows close to
n log n. Plain banding (t+1 bands, exact band match) is the m = t+1 case, which small indexes get.

Clusters come from our vectorised union-find (`components`), not scipy.sparse.csgraph.connected_components:
on 1M nodes ours took 0.026-0.028 s against scipy's 0.036-0.043 s for cluster()'s own edges (an edge per
image plus 1% planted pairs), 0.099-0.115 s against 0.24-0.31 s for 1M random pairs, 0.11 s against
0.33-0.36 s for 1M pairs in shuffled chains of 1,000 and 0.13-0.14 s against 0.32-0.34 s for one
shuffled chain; scipy won only on one chain in node order (0.028 s against 0.039-0.042 s). Same labels
in every case; best of 3, two runs, 2-core machine, scipy 1.17.1: `python -m bench.dedup --components-only`.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable

import numpy as np
from PIL import Image

from pipeline import storage
from pipeline.storage import Location
from pipeline.vision import dedup_kernel

CROP_SIDE = 0.92  # 85% of the area: 80-90%-area crops are within ~2% of some grid crop
GRID = (0.0, 0.5, 1.0)
ROTATIONS = (4.0, -4.0)  # degrees; with the upright frame they cover copies rotated by up to 5 degrees
N_REGIONS = 1 + len(GRID) ** 2 + len(ROTATIONS)
ROTATED_MARGIN = 4  # bits a match through a rotated view must stay under max_distance by
HASH_SIDE = 96  # every view is read from one grey square of this side (64 joined two synthetic look-alikes)
_MAX_BAND_BITS = 24  # offset table of 2^24 int64 = 128 MB at most
_BRUTE_FORCE_MAX = 20_000_000  # query x entry comparisons below which a plain popcount matrix is faster

Box = tuple[float, float, float, float]  # top, bottom, left, right as fractions of the image


def _lanczos(n: int, lo: float, hi: float, size: int) -> np.ndarray:
    """(n, size) weights that resample pixels [lo, hi) of a line of `size` pixels to n, as PIL's LANCZOS
    resize of that crop would: a wider, area-like kernel when shrinking, clipped to the crop. An area
    average instead joined two different blurred ISIC thumbnails (precision 0.99 on bench.dedup)."""
    scale = (hi - lo) / n
    widen = max(scale, 1.0)
    centre = lo + (np.arange(n) + 0.5) * scale
    pixel = np.arange(size) + 0.5
    x = (pixel[None, :] - centre[:, None]) / widen
    w = np.sinc(x) * np.sinc(x / 3) * (np.abs(x) < 3) * ((pixel >= lo) & (pixel <= hi))[None, :]
    return w / w.sum(axis=1, keepdims=True)


@functools.cache
def _plan(boxes: tuple[Box, ...]) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """Matrices that give every box's hash inputs from a HASH_SIDE square in two products.

    Resizing is linear and so is the DCT, so pHash's 8x8 low frequencies of a box resized to 32x32 are
    (C @ A_rows) @ G @ (A_cols.T @ C.T), and dHash's 9x8 pixels are A9_rows @ G @ A8_cols.T. Boxes share
    their row and column intervals (a 3x3 grid has 3 of each), so G is multiplied by each distinct interval
    once: (16 rows per row interval) @ G @ (17 columns per column interval), and each box picks its block.
    """
    side = HASH_SIDE
    k = np.arange(8)[:, None]
    dct = np.cos(np.pi * k * (2 * np.arange(32)[None, :] + 1) / 64)  # DCT-II rows 0..7 of 32 points
    rows = sorted({(b[0], b[1]) for b in boxes})
    cols = sorted({(b[2], b[3]) for b in boxes})

    def block(lo: float, hi: float, dhash_n: int) -> np.ndarray:
        return np.concatenate([dct @ _lanczos(32, lo * side, hi * side, side), _lanczos(dhash_n, lo * side, hi * side, side)])

    left = np.concatenate([block(a, b, 8) for a, b in rows]).astype(np.float32)  # (16 per interval, side)
    right = np.concatenate([block(a, b, 9) for a, b in cols]).T.astype(np.float32)  # (side, 17 per interval)
    ri = np.array([rows.index((b[0], b[1])) for b in boxes])[:, None, None] * 16
    ci = np.array([cols.index((b[2], b[3])) for b in boxes])[:, None, None] * 17
    eight, nine = np.arange(8), np.arange(9)
    index = (ri + eight[None, :, None], ci + eight[None, None, :], ri + 8 + eight[None, :, None], ci + 8 + nine[None, None, :])
    return left, right, index


def _grid(sides: tuple[float, ...]) -> tuple[Box, ...]:
    return tuple(((1 - s) * gy, (1 - s) * gy + s, (1 - s) * gx, (1 - s) * gx + s)
                 for s in sides for gy in GRID for gx in GRID)


def _pack(bits: np.ndarray) -> np.ndarray:
    """(views, 64) bools to uint64, first bit most significant (imagehash's hex order)."""
    packed = np.ascontiguousarray(np.packbits(bits.reshape(-1, 64), axis=1))
    return packed.view(">u8").ravel().astype(np.uint64)


def _hash_boxes(squares: np.ndarray, boxes: tuple[Box, ...]) -> tuple[np.ndarray, np.ndarray]:
    """pHash and dHash of every box of every (HASH_SIDE, HASH_SIDE) square, square-major."""
    left, right, (pr, pc, dr, dc) = _plan(boxes)
    v = (left @ squares) @ right
    low = v[:, pr, pc].reshape(-1, 64)
    px = v[:, dr, dc]
    return _pack(low > np.median(low, axis=1, keepdims=True)), _pack(px[..., 1:] > px[..., :-1])


def _square(img: Image.Image) -> np.ndarray:
    return np.asarray(img if img.size == (HASH_SIDE, HASH_SIDE)
                      else img.resize((HASH_SIDE, HASH_SIDE), Image.Resampling.BOX), dtype=np.float32)


def region_hashes(img: Image.Image, extra_sides: tuple[float, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """(phash, dhash) uint64 arrays of length N_REGIONS (+ 9 per extra side): region 0 is the whole image,
    1..9 the grid crops, then the whole image rotated by each of ROTATIONS, then 3x3 grids of crops
    covering each of `extra_sides` of a side (the evaluation sets' deeper crops).

    pHash and dHash as imagehash defines them (32x32 DCT, 8x8 low frequencies above their median; 9x8
    horizontal gradients), but read from one grey HASH_SIDE square by matrix products instead of a PIL
    crop, resize and scipy DCT per view (bench.dedup --hashing-only measures both).
    An image not loaded yet is decoded at reduced size (JPEG draft mode; `img` is changed). The rotated
    views are there because a copy rotated by a few degrees (black corners) moved 10+ bits from every
    upright view; they rotate nearest-neighbour (the 32x32 read averages it out; bilinear cost 5x for the
    same bench.dedup numbers).
    """
    img.draft("L", (HASH_SIDE, HASH_SIDE))
    gray = img if img.mode == "L" else img.convert("L")
    shrink = HASH_SIDE / min(gray.size)
    if shrink < 1:
        gray = gray.resize((max(HASH_SIDE, round(gray.width * shrink)), max(HASH_SIDE, round(gray.height * shrink))),
                           Image.Resampling.BOX)
    upright = ((0.0, 1.0, 0.0, 1.0), *_grid((CROP_SIDE,)), *_grid(extra_sides))
    p, d = _hash_boxes(_square(gray)[None], upright)
    rotated = np.stack([_square(gray.rotate(a, resample=Image.Resampling.NEAREST)) for a in ROTATIONS])
    rp, rd = _hash_boxes(rotated, upright[:1])
    cut = 1 + len(GRID) ** 2
    return np.concatenate([p[:cut], rp, p[cut:]]), np.concatenate([d[:cut], rd, d[cut:]])


def hash_columns(path: Location) -> dict[str, list[int]]:
    """clean_images.dedup_phash / dedup_dhash for one stored image (BIGINT[]: the bits as signed int64);
    `path` is a local path or a media-store URL."""
    with storage.open_file(path) as fh, Image.open(fh) as img:
        p, d = region_hashes(img)
    return {"dedup_phash": p.view(np.int64).tolist(), "dedup_dhash": d.view(np.int64).tolist()}


def popcount(x: np.ndarray) -> np.ndarray:
    """Set bits per uint64 (numpy >= 2 has a ufunc; the fallback unpacks bytes)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    return np.unpackbits(x.view(np.uint8).reshape(*x.shape, 8), axis=-1).sum(axis=-1)


def _ball(width: int, radius: int) -> int:
    return sum(math.comb(width, k) for k in range(radius + 1))


def plan_bands(n_entries: int, t: int) -> tuple[list[tuple[int, int]], int]:
    """Bands as (shift, width) over 64 bits and the probe radius per band, by least estimated work.

    Work per query is probes (m * ball(width, r)) plus candidates (probes * entries / 2^width).
    """
    best: tuple[float, list[tuple[int, int]], int] | None = None
    for m in range(max(1, math.ceil(64 / _MAX_BAND_BITS)), 17):
        widths = [64 // m + (1 if i < 64 % m else 0) for i in range(m)]
        r = t // m
        probes = sum(_ball(w, r) for w in widths)
        cost = probes * (1.0 + n_entries / 2.0 ** min(widths))
        if best is None or cost < best[0]:
            shifts = np.cumsum([0, *widths[:-1]]).tolist()
            best = (cost, list(zip(shifts, widths, strict=True)), r)
    assert best is not None
    return best[1], best[2]


def _flips(width: int, radius: int) -> np.ndarray:
    masks = [0]
    for k in range(1, radius + 1):
        masks += [sum(1 << b for b in bits) for bits in itertools.combinations(range(width), k)]
    return np.array(masks, dtype=np.int64)


def search(
    index_p: np.ndarray, index_d: np.ndarray, index_owner: np.ndarray,
    query_p: np.ndarray, query_d: np.ndarray, query_owner: np.ndarray,
    phash_max: int, max_distance: int, memory_items: int = 4_000_000, compiled: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query owner, index owner, phash+dhash distance) of every match between different owners.

    A match is phash distance <= phash_max and phash+dhash distance <= max_distance. Pairs may repeat
    (several views or bands can match); callers deduplicate. memory_items bounds the candidate arrays
    of one chunk of queries on the numpy path. `compiled`: probe with the numba loop (dedup_kernel);
    None means whenever numba is installed.
    """
    empty = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int16)
    if len(index_p) == 0 or len(query_p) == 0:
        return empty
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def verify(qi: np.ndarray, ep: np.ndarray, ed: np.ndarray, eo: np.ndarray) -> None:
        dp = popcount(query_p[qi] ^ ep).astype(np.int16)
        keep = (dp <= phash_max) & (query_owner[qi] != eo)
        qi, ed, eo, dp = qi[keep], ed[keep], eo[keep], dp[keep]
        dist = dp + popcount(query_d[qi] ^ ed).astype(np.int16)
        keep = dist <= max_distance
        found.append((query_owner[qi[keep]], eo[keep], dist[keep]))

    if len(index_p) * len(query_p) <= _BRUTE_FORCE_MAX:
        step = max(1, memory_items // len(index_p))
        for c0 in range(0, len(query_p), step):
            qm, em = np.meshgrid(np.arange(c0, min(c0 + step, len(query_p))), np.arange(len(index_p)),
                                 indexing="ij")
            e = em.ravel()
            verify(qm.ravel(), index_p[e], index_d[e], index_owner[e])
    else:
        bands, radius = plan_bands(len(index_p), phash_max)
        if compiled is None:
            compiled = dedup_kernel.available()
        for shift, width in bands:
            if compiled:
                found.append(dedup_kernel.probe_band(index_p, index_d, index_owner, query_p, query_d, query_owner,
                                                     shift, width, _flips(width, radius), phash_max, max_distance))
            else:
                _probe_band(index_p, index_d, index_owner, query_p, shift, width, radius, memory_items, verify)
    if not found:
        return empty
    return tuple(np.concatenate([f[k] for f in found]) for k in range(3))  # type: ignore[return-value]


def _probe_band(
    index_p: np.ndarray, index_d: np.ndarray, index_owner: np.ndarray, query_p: np.ndarray,
    shift: int, width: int, radius: int, memory_items: int,
    verify: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], None],
) -> None:
    """Probe one band. Entries are counting-sorted by band value and queries sorted too, and probes run
    flip-major, so table look-ups and candidate reads walk memory almost in order (random gathers into a
    table of millions were the bottleneck: a cache miss each)."""
    mask = np.uint64((1 << width) - 1)
    vals = ((index_p >> np.uint64(shift)) & mask).astype(np.int64)
    order = np.argsort(vals, kind="stable")
    counts = np.bincount(vals, minlength=1 << width)
    starts = np.zeros((1 << width) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    occupied = counts > 0  # 1 byte per bucket: stays in cache, unlike the 8-byte offsets
    del vals, counts
    sp, sd, so = index_p[order], index_d[order], index_owner[order]
    del order
    flips = _flips(width, radius)
    qvals = ((query_p >> np.uint64(shift)) & mask).astype(np.int64)
    qorder = np.argsort(qvals, kind="stable")
    qvals = qvals[qorder]
    per_query = len(flips) * (1.0 + len(index_p) / (1 << width))
    step = max(64, int(memory_items / per_query))
    for c0 in range(0, len(qvals), step):
        qv = qvals[c0:c0 + step]
        probes = (flips[:, None] ^ qv[None, :]).ravel()
        nz = np.flatnonzero(occupied[probes])
        if not len(nz):
            continue
        lo = starts[probes[nz]]
        cnt = starts[probes[nz] + 1] - lo
        ends = np.cumsum(cnt)
        pos = np.repeat(lo - ends + cnt, cnt) + np.arange(int(ends[-1]))
        qi = np.repeat(qorder[c0 + nz % len(qv)], cnt)
        verify(qi, sp[pos], sd[pos], so[pos])


def match_sets(
    a_p: np.ndarray, a_d: np.ndarray, b_p: np.ndarray, b_d: np.ndarray, phash_max: int, max_distance: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Unique (row of A, row of B) near-duplicate pairs between two sets of (n, views) hash arrays (view 0
    the whole frame; A and B may have different numbers of views), with the rule `cluster` applies: A's
    whole frames against every view of B, and B's against every view of A (a crop of an image matches one
    of its grid crops; the original matches one of the crop's)."""
    na, nb = len(a_p), len(b_p)
    rows_a, rows_b = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for (p, d, owner), (qp, qd, qowner), views in (((b_p, b_d, np.arange(na, na + nb)), (a_p, a_d, np.arange(na)), b_p.shape[1]),
                                                   ((a_p, a_d, np.arange(na)), (b_p, b_d, np.arange(na, na + nb)), a_p.shape[1])):
        for cols, limit in view_groups(views, max_distance):
            q, e, _ = search(p[:, cols].ravel(), d[:, cols].ravel(), np.repeat(owner, len(cols)),
                             qp[:, 0], qd[:, 0], qowner, phash_max, limit)
            rows_a.append(np.minimum(q, e))
            rows_b.append(np.maximum(q, e))
    pairs = np.unique(np.stack([np.concatenate(rows_a), np.concatenate(rows_b) - na]), axis=1)
    return pairs[0], pairs[1]


def view_groups(views: int, max_distance: int) -> list[tuple[np.ndarray, int]]:
    """Columns of a (n, views) hash array by the phash+dhash limit a match through them gets.

    Rotated views (the region_hashes layout) get ROTATED_MARGIN bits less: their black corners are
    alike in every rotated image, so a rotated copy of one image came within 14-16 bits of another's
    rotated view, while true rotated copies matched theirs within 12 (bench.dedup's real images). Fewer
    views than N_REGIONS (one whole-image hash, an older layout) are all upright.
    """
    if views < N_REGIONS:
        return [(np.arange(views), max_distance)]
    rotated = np.arange(1 + len(GRID) ** 2, N_REGIONS)
    upright = np.setdiff1d(np.arange(views), rotated)
    return [(upright, max_distance), (rotated, max_distance - ROTATED_MARGIN)]


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Union-find over edges (a[i], b[i]), vectorised: root hooking by minimum, then pointer jumping.

    Returns each node's component label, the smallest node index in it.
    """
    parent = np.arange(n, dtype=np.int64)
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    while len(a):
        ra, rb = parent[a], parent[b]
        np.minimum.at(parent, np.maximum(ra, rb), np.minimum(ra, rb))
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
        open_ = parent[a] != parent[b]
        a, b = a[open_], b[open_]
    return parent


def view_distance(p: np.ndarray, d: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Smallest phash+dhash distance between image i's whole frame and any view of j, or vice versa."""
    full = (popcount(p[i, :1] ^ p[j]) + popcount(d[i, :1] ^ d[j])).astype(np.int16)
    back = (popcount(p[j, :1] ^ p[i]) + popcount(d[j, :1] ^ d[i])).astype(np.int16)
    return np.minimum(full.min(axis=1), back.min(axis=1))


def cluster(
    p: np.ndarray, d: np.ndarray, area: np.ndarray, is_new: np.ndarray, old_canonical: np.ndarray,
    phash_max: int, max_distance: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cluster n images (rows of the (n, views) hash arrays) incrementally; returns three arrays of n:
    the index of each image's canonical, its distance to it, and whether its cluster was (re)computed.

    Only new images are searched: their whole frames against every view, and their views against the old
    images' whole frames. Old images keep their old clusters (old_canonical, -1 if none) unless a new
    image joins or bridges them. Exact copies (same whole-frame phash and dhash) are grouped by one sort
    first and searched once, so a frame repeated 10,000 times does not fill a bucket. The canonical image
    of a cluster is its largest (width x height), then the one earliest in the given order.
    """
    n = len(p)
    is_new = np.asarray(is_new, dtype=bool)
    order = np.lexsort((np.arange(n), d[:, 0], p[:, 0]))
    first = np.ones(n, dtype=bool)
    first[1:] = (p[order[1:], 0] != p[order[:-1], 0]) | (d[order[1:], 0] != d[order[:-1], 0])
    rep_of = np.empty(n, dtype=np.int64)
    rep_of[order] = order[first][np.cumsum(first) - 1]
    rep_new = np.zeros(n, dtype=bool)
    np.logical_or.at(rep_new, rep_of, is_new)
    reps = np.flatnonzero(rep_of == np.arange(n))
    new_reps, old_reps = reps[rep_new[reps]], reps[~rep_new[reps]]
    a, b = [np.arange(n)], [rep_of]
    for cols, limit in view_groups(p.shape[1], max_distance):
        pairs = search(p[reps][:, cols].ravel(), d[reps][:, cols].ravel(), np.repeat(reps, len(cols)),
                       p[new_reps, 0], d[new_reps, 0], new_reps, phash_max, limit)
        a.append(pairs[0])
        b.append(pairs[1])
        cols = cols[cols > 0]
        if len(cols):
            pairs = search(p[old_reps, 0], d[old_reps, 0], old_reps, p[new_reps][:, cols].ravel(),
                           d[new_reps][:, cols].ravel(), np.repeat(new_reps, len(cols)), phash_max, limit)
            a.append(pairs[0])
            b.append(pairs[1])
    old = np.flatnonzero(old_canonical >= 0)
    labels = components(n, np.concatenate([*a, old]), np.concatenate([*b, old_canonical[old]]))
    touched = np.zeros(n, dtype=bool)
    touched[labels[is_new]] = True
    affected = touched[labels]
    by_size = np.lexsort((np.arange(n), -np.asarray(area, dtype=np.int64), labels))
    heads = by_size[np.r_[True, labels[by_size[1:]] != labels[by_size[:-1]]]]
    canon_of = np.empty(n, dtype=np.int64)
    canon_of[labels[heads]] = heads
    canonical = canon_of[labels]
    distance = np.zeros(n, dtype=np.int16)
    moved = np.flatnonzero(affected & (canonical != np.arange(n)))
    if len(moved):
        distance[moved] = view_distance(p, d, moved, canonical[moved])
    return canonical, distance, affected
