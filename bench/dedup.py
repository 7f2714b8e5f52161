"""Near-duplicate benchmark (`python -m bench.dedup`): speed at scale and quality on real images.

- scale: pipeline.vision.dedup.cluster over n random 64-bit pHash/dHash pairs with 1% planted near-duplicates
  (up to 8 pHash and 4 dHash bits flipped), one view per image ("1 view": n hashes in the index) and the
  pipeline's N_REGIONS views per image (whole image, 3x3 crops, 2 rotations: 12n hashes in the index); wall and CPU
  seconds, tracemalloc peak (numpy buffers; not numba's) and the process's max RSS so far (an upper bound:
  inputs, the interpreter and earlier sizes included), recall of the planted pairs.
- quality: real dermoscopy images from the fixtures (DERM_FIXTURES, default ../shared/fixtures) and copies
  written to a temp dir (resized 50-80%, JPEG q30-60, cropped to 80-90% of the area at a random offset,
  crop+resize+JPEG, rotated +-5 degrees, brightness x0.8-1.2), each read back through
  pipeline.media.normalise_image as the pipeline does; pairwise precision/recall of the clusters against the
  truth (an original and its copies; pixel-identical originals count as one), for the pipeline's dedup, the
  same search on the old imagehash views (imagehash_v1) and plain whole-image pHash (imagehash's) at the
  same and at the old threshold.
- hashing: images/s of pipeline.vision.dedup.region_hashes per core (one process, CPU seconds) on the quality
  run's images (normalised JPEG bytes, decode included), against imagehash_region_hashes, the imagehash
  version it replaced (dedup_views@1), on the same images in the same run; quality is reported for both.
- components: pipeline.vision.dedup.components (the clustering's union-find) against scipy's
  connected_components on 1M nodes: cluster()'s own edge list at 1% planted pairs, 1M random pairs, 1M
  pairs in shuffled chains of 1,000, one shuffled chain, one chain in order; best of 3 (`--components-only`).
The search runs the numba probe loop when numba is installed (extra `speed`); its compilation (or load from
numba's on-disk cache) happens once in a warm-up and is reported apart. Writes bench/results/dedup-<date>.json.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import platform
import random
import resource
import tempfile
import time
import tracemalloc
from datetime import date
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, ImageEnhance

from pipeline.config import CleanConfig, ImageConfig
from pipeline.media import normalise_image
from pipeline.vision.dedup import CROP_SIDE, GRID, N_REGIONS, cluster, components, region_hashes

REPO = Path(__file__).resolve().parents[1]
CFG = CleanConfig()


def _planted(n: int, views: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    p = rng.integers(0, 2**64 - 1, (n, views), dtype=np.uint64, endpoint=True)
    d = rng.integers(0, 2**64 - 1, (n, views), dtype=np.uint64, endpoint=True)
    k = max(1, n // 100)
    src, dst = rng.choice(n // 2, k, replace=False), n // 2 + rng.choice(n - n // 2, k, replace=False)
    bits = (np.uint64(1) << np.arange(64, dtype=np.uint64))
    for s, t in zip(src.tolist(), dst.tolist(), strict=True):
        v = int(rng.integers(0, views))
        fp = np.bitwise_or.reduce(bits[rng.choice(64, int(rng.integers(0, 9)), replace=False)], initial=np.uint64(0))
        fd = np.bitwise_or.reduce(bits[rng.choice(64, int(rng.integers(0, 5)), replace=False)], initial=np.uint64(0))
        p[t, 0], d[t, 0] = p[s, v] ^ fp, d[s, v] ^ fd
    return p, d, src, dst


def warm_up() -> dict[str, object]:
    """Compile (or load from numba's cache) the probe loop once, so that no size pays for it."""
    from pipeline.vision import dedup_kernel

    if not dedup_kernel.available():
        return {"compiled_probe": False}
    p, d, _, _ = _planted(2000, 1, np.random.default_rng(1))
    t0 = time.perf_counter()
    dedup_kernel.probe_band(p[:, 0], d[:, 0], np.arange(2000), p[:, 0], d[:, 0], np.arange(2000), 0, 22,
                            np.zeros(1, np.int64), 8, 16)
    return {"compiled_probe": True, "first_call_s": round(time.perf_counter() - t0, 2)}


def bench_scale(sizes: list[int], views: int = 1, seed: int = 0) -> list[dict[str, float]]:
    out = []
    for n in sizes:
        p, d, src, dst = _planted(n, views, np.random.default_rng(seed))
        area = np.ones(n, dtype=np.int64)
        tracemalloc.start()
        w0, c0 = time.perf_counter(), time.process_time()
        canonical, _, _ = cluster(p, d, area, np.ones(n, bool), -np.ones(n, np.int64),
                                  CFG.phash_max_distance, CFG.dedup_max_distance)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        found = float(np.mean(canonical[src] == canonical[dst]))
        # tracemalloc misses arrays that numba allocates; the process high-water mark (inputs included,
        # sizes run smallest first) bounds the peak from above
        max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out.append({"n": n, "views": views, "index_entries": n * views, "wall_s": round(wall, 2),
                    "cpu_s": round(cpu, 2), "peak_mb": round(peak / 2**20, 1),
                    "process_max_rss_mb": round(max_rss, 1), "planted": len(src),
                    "planted_recall": round(found, 4), "clusters": int(len(np.unique(canonical))),
                    "cpu_us_per_n_log2n": round(cpu / (n * math.log2(n)) * 1e6, 3)})
        print(json.dumps(out[-1]), flush=True)
    return out


def _scipy_components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The same labels (smallest node of each component) through scipy.sparse.csgraph."""
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    graph = coo_array((np.ones(len(a), np.int8), (a, b)), shape=(n, n))
    k, labels = connected_components(graph, directed=False)
    head = np.full(k, n, np.int64)
    np.minimum.at(head, labels, np.arange(n))
    return head[labels]


def bench_components(n: int = 1_000_000, seed: int = 0, repeats: int = 3) -> dict[str, object]:
    """Seconds (best of `repeats`) of ours and scipy's connected components on the same edges; labels
    are checked equal."""
    try:
        import scipy
    except ImportError:
        return {"skipped": "scipy is not installed"}
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    cut = np.arange(n - 1) % 1000 != 999
    planted = n // 100
    cases = {  # cluster() passes one (image, its exact-copy representative) edge per image, then the matches
        "cluster_edges_1pct_pairs": (np.r_[np.arange(n), rng.integers(0, n, planted)],
                                     np.r_[np.arange(n), rng.integers(0, n, planted)]),
        "random_pairs": (rng.integers(0, n, n), rng.integers(0, n, n)),
        "shuffled_chains_of_1000": (perm[:-1][cut], perm[1:][cut]),
        "one_shuffled_chain": (perm[:-1], perm[1:]),
        "one_chain_in_order": (np.arange(n - 1), np.arange(1, n)),
    }
    out: dict[str, object] = {"n": n, "scipy": scipy.__version__, "repeats": repeats}
    for name, (a, b) in cases.items():
        row: dict[str, float] = {"edges": len(a)}
        labels = []
        for label, fn in (("ours_s", components), ("scipy_s", _scipy_components)):
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                result = fn(n, a, b)
                times.append(time.perf_counter() - t0)
            labels.append(result)
            row[label] = round(min(times), 3)
        assert np.array_equal(labels[0], labels[1]), name
        out[name] = row
        print(name, json.dumps(row), flush=True)
    return out


def imagehash_region_hashes(img: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """The clean stage's hashes before dedup_views@2 (whole image and 3x3 grid, no rotated views): a PIL
    crop, LANCZOS resize and scipy DCT per view through imagehash; kept here as the baseline."""
    gray = img.convert("L")
    if max(gray.size) > 512:
        gray.thumbnail((512, 512), Image.Resampling.BILINEAR)
    w, h = gray.size
    views = [gray]
    cw, ch = w * CROP_SIDE, h * CROP_SIDE
    for gy in GRID:
        for gx in GRID:
            x, y = (w - cw) * gx, (h - ch) * gy
            views.append(gray.crop((round(x), round(y), round(x + cw), round(y + ch))))
    p = np.array([int(str(imagehash.phash(v)), 16) for v in views], dtype=np.uint64)
    d = np.array([int(str(imagehash.dhash(v)), 16) for v in views], dtype=np.uint64)
    return p, d


HASHERS = {"pipeline": region_hashes, "imagehash_v1": imagehash_region_hashes}


def bench_hash_speed(blobs: list[bytes], rounds: int = 3) -> dict[str, object]:
    """Images per CPU second (one process, so per core) of each hasher over the same encoded images,
    decode from bytes included (region_hashes decodes JPEGs at reduced size); best of `rounds`,
    hashers interleaved per round so that load from other processes hits both alike."""
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, fn in HASHERS.items():
            c0 = time.process_time()
            for blob in blobs:
                fn(Image.open(io.BytesIO(blob)))
            best[name] = min(best.get(name, math.inf), time.process_time() - c0)
    out: dict[str, object] = {"images": len(blobs), "rounds": rounds,
                              "views": {"pipeline": N_REGIONS, "imagehash_v1": 1 + len(GRID) ** 2}}
    for name, cpu in best.items():
        out[f"{name}_images_per_cpu_s"] = round(len(blobs) / cpu, 1)
    out["speedup"] = round(best["imagehash_v1"] / best["pipeline"], 2)
    print("hash speed", json.dumps(out), flush=True)
    return out


def _copies(img: Image.Image, rng: random.Random) -> dict[str, Image.Image]:
    w, h = img.size

    def crop(im: Image.Image) -> Image.Image:
        s = math.sqrt(rng.uniform(0.8, 0.9))
        cw, ch = int(im.width * s), int(im.height * s)
        x, y = rng.randint(0, im.width - cw), rng.randint(0, im.height - ch)
        return im.crop((x, y, x + cw, y + ch))

    f = rng.uniform(0.5, 0.8)
    return {"resize": img.resize((int(w * f), int(h * f)), Image.Resampling.LANCZOS), "jpeg": img,
            "crop": crop(img), "crop_resize_jpeg": crop(img).resize((int(w * 0.7), int(h * 0.7))),
            "rotate": img.rotate(rng.uniform(-5, 5), resample=Image.Resampling.BILINEAR),
            "bright": ImageEnhance.Brightness(img).enhance(rng.uniform(0.8, 1.2))}


def _pairwise(labels: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    iu = np.triu_indices(len(labels), 1)
    same_pred, same_true = (labels[:, None] == labels[None, :])[iu], (truth[:, None] == truth[None, :])[iu]
    tp = int((same_pred & same_true).sum())
    return tp / max(1, int(same_pred.sum())), tp / max(1, int(same_true.sum()))


def bench_quality(fixtures: Path, seed: int = 0) -> dict[str, object]:
    files = sorted((fixtures / "images" / "isic").glob("*.jpg")) + sorted((fixtures / "images" / "derm7pt").rglob("*.jpg"))
    if not files:
        return {"skipped": f"no fixture images under {fixtures}"}
    rng, img_cfg = random.Random(seed), ImageConfig()
    truth, kinds, areas, blobs = [], [], [], []
    rows: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {name: ([], []) for name in HASHERS}
    digest_rep: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, f in enumerate(files):
            img = Image.open(f).convert("RGB")
            rep = digest_rep.setdefault(hashlib.sha256(img.tobytes()).hexdigest(), i)
            for kind, copy in {"original": img, **_copies(img, rng)}.items():
                path = Path(tmp) / f"{i}_{kind}.jpg"
                copy.save(path, quality=rng.randint(30, 60) if "jpeg" in kind else 90)
                norm = normalise_image(path, img_cfg)
                for name, fn in HASHERS.items():
                    p, d = fn(Image.open(io.BytesIO(norm.data)))
                    rows[name][0].append(p)
                    rows[name][1].append(d)
                truth.append(rep)
                kinds.append(kind)
                blobs.append(norm.data)
                areas.append(norm.width * norm.height)
    truth_a, n = np.array(truth), len(truth)
    area = np.array(areas)
    new, none = np.ones(n, bool), -np.ones(n, np.int64)
    methods = {name: cluster(np.stack(ps), np.stack(ds), area, new, none, CFG.phash_max_distance,
                             CFG.dedup_max_distance)[0] for name, (ps, ds) in rows.items()}
    P = np.stack(rows["imagehash_v1"][0])  # plain pHash means imagehash's, as before
    methods |= {
        f"phash_whole_t{CFG.phash_max_distance}": cluster(P[:, :1], np.zeros((n, 1), np.uint64), area, new, none,
                                                          CFG.phash_max_distance, 64)[0],
        "phash_whole_t6": cluster(P[:, :1], np.zeros((n, 1), np.uint64), area, new, none, 6, 64)[0],
    }
    originals = {i: j for j, k in reversed(list(enumerate(kinds))) for i in [truth[j]] if k == "original"}
    result: dict[str, object] = {"originals": len(files), "distinct_originals": len(set(truth)), "images": n,
                                 "hash_speed": bench_hash_speed(blobs)}
    for name, labels in methods.items():
        prec, rec = _pairwise(labels, truth_a)
        per_kind = {k: round(float(np.mean([labels[j] == labels[originals[truth[j]]] for j in range(n)
                                            if kinds[j] == k])), 3) for k in dict.fromkeys(kinds) if k != "original"}
        result[name] = {"precision": round(prec, 4), "recall": round(rec, 4), "copy_joined_original": per_kind}
        print(name, json.dumps(result[name]), flush=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000", help="images for the 1-view scale run")
    ap.add_argument("--view-sizes", default="10000,100000,1000000", help=f"images for the {N_REGIONS}-view run")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--components-only", action="store_true", help="only ours vs scipy's connected components")
    ap.add_argument("--hashing-only", action="store_true",
                    help="only the quality and hashing speed on real images, before (imagehash) and after")
    args = ap.parse_args()
    if args.components_only:
        print(json.dumps(bench_components(), indent=2))
        return
    fixtures = Path(os.environ.get("DERM_FIXTURES", REPO.parent / "shared" / "fixtures"))
    if args.hashing_only:
        res = {"date": date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
               f"{platform.python_version()}", "quality": bench_quality(fixtures)}
        out = REPO / "bench" / "results" / f"dedup-hashing-{res['date']}.json"
        out.write_text(json.dumps(res, indent=2))
        return
    results = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "thresholds": {"phash_max_distance": CFG.phash_max_distance, "dedup_max_distance": CFG.dedup_max_distance},
        "quality": {} if args.skip_quality else bench_quality(fixtures),
        "components": bench_components(),
        "numba": warm_up(),
        "scale_1_view": bench_scale([int(s) for s in args.sizes.split(",") if s]),
        f"scale_{N_REGIONS}_views": bench_scale([int(s) for s in args.view_sizes.split(",") if s], N_REGIONS),
    }
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"dedup-{results['date']}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
