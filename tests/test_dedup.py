"""Near-duplicate search: the banded index finds exactly what brute force finds, clustering is incremental,
cropped copies of real images join their original, and the warehouse keeps every duplicate's texts."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from pipeline.clean.clusters import update_clusters
from pipeline.config import CleanConfig
from pipeline.vision import dedup
from pipeline.vision.dedup import (
    N_REGIONS,
    cluster,
    components,
    match_sets,
    plan_bands,
    region_hashes,
    search,
)
from pipeline.warehouse import insert_rows
from tests.conftest import require_fixture

RNG = np.random.default_rng(5)


def _planted(n: int, views: int) -> tuple[np.ndarray, np.ndarray]:
    p = RNG.integers(0, 2**64 - 1, (n, views), dtype=np.uint64, endpoint=True)
    d = RNG.integers(0, 2**64 - 1, (n, views), dtype=np.uint64, endpoint=True)
    for s, t in zip(RNG.integers(0, n // 2, n // 10), RNG.integers(n // 2, n, n // 10), strict=True):
        v = RNG.integers(0, views)
        flips = sum(1 << int(b) for b in RNG.choice(64, RNG.integers(0, 9), replace=False))
        p[t, 0], d[t, 0] = p[s, v] ^ np.uint64(flips), d[s, v] ^ np.uint64(1)
    return p, d


def _pairs(a: np.ndarray, b: np.ndarray) -> set[tuple[int, int]]:
    return {(min(x, y), max(x, y)) for x, y in zip(a.tolist(), b.tolist(), strict=True)}


def _triples(a: np.ndarray, b: np.ndarray, dist: np.ndarray) -> set[tuple[int, int, int]]:
    return {(min(x, y), max(x, y), int(z)) for x, y, z in zip(a.tolist(), b.tolist(), dist.tolist(), strict=True)}


@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "numba"])
def test_banded_search_equals_brute_force(monkeypatch, compiled):
    if compiled and not dedup.dedup_kernel.available():
        pytest.skip("numba is not installed (extra 'speed'); the numpy path is tested")
    p, d = _planted(3000, 1)
    owners = np.arange(3000)
    brute = search(p[:, 0], d[:, 0], owners, p[:, 0], d[:, 0], owners, 8, 16)
    monkeypatch.setattr(dedup, "_BRUTE_FORCE_MAX", 0)
    banded = search(p[:, 0], d[:, 0], owners, p[:, 0], d[:, 0], owners, 8, 16, memory_items=20_000,
                    compiled=compiled)
    assert _triples(*banded) == _triples(*brute) and len(_pairs(*brute[:2])) >= 250


def test_compiled_probe_grows_its_buffer_and_splits_over_threads():
    """Many matches (every query has 20 near entries) overflow the first output buffer; the kernel
    counts them, the caller retries, and one thread or two give the same pairs."""
    if not dedup.dedup_kernel.available():
        pytest.skip("numba is not installed (extra 'speed')")
    base = RNG.integers(0, 2**64 - 1, 200, dtype=np.uint64, endpoint=True)
    entries = np.repeat(base, 20) ^ RNG.integers(0, 4, 4000).astype(np.uint64)
    owners = np.arange(4000)
    queries = base ^ np.uint64(1 << 40)
    qowner = np.arange(200) + 10_000
    flips = dedup._flips(22, 2)
    one = dedup.dedup_kernel.probe_band(entries, entries, owners, queries, queries, qowner, 0, 22, flips, 8, 16,
                                        threads=1)
    two = dedup.dedup_kernel.probe_band(entries, entries, owners, queries, queries, qowner, 0, 22, flips, 8, 16,
                                        threads=2)
    assert len(one[0]) == 4000 and _triples(*one) == _triples(*two)


def test_plan_is_pigeonhole_safe_and_grows_bands():
    for n in (10, 10_000, 10_000_000):
        for t in range(0, 12):
            bands, radius = plan_bands(n, t)
            assert sum(w for _, w in bands) == 64 and len(bands) * (radius + 1) > t
    assert min(w for _, w in plan_bands(10_000_000, 8)[0]) > min(w for _, w in plan_bands(1000, 8)[0])


def test_components_chain_and_star():
    labels = components(7, np.array([0, 1, 2, 5]), np.array([1, 2, 3, 6]))
    assert labels.tolist() == [0, 0, 0, 0, 4, 5, 5]


def test_incremental_equals_one_pass(monkeypatch):
    monkeypatch.setattr(dedup, "_BRUTE_FORCE_MAX", 0)
    p, d = _planted(2000, dedup.N_REGIONS)
    area = RNG.integers(1, 5, 2000)
    none = -np.ones(2000, dtype=np.int64)
    once, _, _ = cluster(p, d, area, np.ones(2000, bool), none, 8, 16)
    first = np.arange(2000) < 1000
    c1, _, _ = cluster(p[first], d[first], area[first], np.ones(1000, bool), none[:1000], 8, 16)
    old = np.concatenate([c1, none[:1000]])
    c2, _, affected = cluster(p, d, area, ~first, np.where(first, old, -1), 8, 16)
    assert (c2 == once).all()
    assert not affected[first & (np.bincount(c2, minlength=2000)[c2] == 1)].any()  # lone old images untouched


def _lesion(seed: int, size: int = 256) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = np.zeros((size, size, 3)) + rng.uniform(150, 230, 3)
    yy, xx = np.mgrid[:size, :size]
    for _ in range(6):
        cx, cy, r = rng.uniform(40, size - 40, 2).tolist() + [rng.uniform(15, 60)]
        base[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] *= rng.uniform(0.4, 0.9)
    return Image.fromarray((base + rng.normal(0, 4, base.shape)).clip(0, 255).astype(np.uint8))


def _copies(img: Image.Image) -> list[Image.Image]:
    w, h = img.size
    return [img.resize((w * 2 // 3, h * 2 // 3)), img.crop((w * 3 // 50, h // 25, w * 3 // 50 + w * 9 // 10, h // 25 + h * 9 // 10)),
            ImageEnhance.Brightness(img).enhance(1.15)]


def _cluster_images(images: list[Image.Image]) -> np.ndarray:
    hashes = [region_hashes(im) for im in images]
    p, d = np.stack([h[0] for h in hashes]), np.stack([h[1] for h in hashes])
    area = np.array([im.width * im.height for im in images])
    cfg = CleanConfig()
    return cluster(p, d, area, np.ones(len(images), bool), -np.ones(len(images), np.int64),
                   cfg.phash_max_distance, cfg.dedup_max_distance)[0]


def test_copies_join_their_original_and_distinct_lesions_stay_apart():
    originals = [_lesion(s) for s in range(6)]
    images = [im for o in originals for im in (o, *_copies(o))]
    canon = _cluster_images(images)
    assert canon.tolist() == [4 * (i // 4) for i in range(len(images))]  # the full-size original is canonical


def test_real_dermoscopy_crops_are_found():
    folder = require_fixture("images", "isic")
    originals = [Image.open(f).convert("RGB") for f in sorted(folder.glob("*.jpg"))[:12]]
    images = [im for o in originals for im in (o, *_copies(o))]
    canon = _cluster_images(images)
    groups = [set(canon[4 * i:4 * i + 4].tolist()) for i in range(len(originals))]
    assert sum(len(g) == 1 for g in groups) >= 11 and len({min(g) for g in groups}) == len(originals)


def _recolour(img: Image.Image) -> Image.Image:
    hsv = np.asarray(img.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + 10) % 256
    return ImageEnhance.Brightness(Image.fromarray(hsv, "HSV").convert("RGB")).enhance(0.9)


def _jpeg(img: Image.Image, quality: int = 70) -> Image.Image:
    """Encoded and opened lazily, as hash_columns opens a stored image (so region_hashes decodes in draft mode)."""
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue()))


def test_matrix_hashes_find_crops_recolours_and_resizes_of_real_images_only() -> None:
    """region_hashes (one grey square, matrix DCT, rotated views): each edited copy matches its own original
    and no other; the layout is N_REGIONS views, then 9 per extra crop side."""
    folder = require_fixture("images", "isic")
    originals = [Image.open(f).convert("RGB") for f in sorted(folder.glob("*.jpg"))[:16]]
    copies = []
    for o in originals:
        w, h = o.size
        crop = o.crop((w // 20, h // 15, w // 20 + w * 9 // 10, h // 15 + h * 9 // 10))
        copies += [_jpeg(crop), _jpeg(_recolour(o)), _jpeg(o.resize((w * 3 // 5, h * 3 // 5))),
                   _jpeg(_recolour(crop).resize((w // 2, h // 2)), 40), _jpeg(o.rotate(4, resample=Image.Resampling.BILINEAR))]
    a = [region_hashes(o) for o in originals]
    b = [region_hashes(c) for c in copies]
    assert all(len(p) == N_REGIONS for p, _ in a + b)
    assert len(region_hashes(originals[0], extra_sides=(0.8, 0.7))[0]) == N_REGIONS + 18
    cfg = CleanConfig()
    ia, ib = match_sets(np.stack([h[0] for h in a]), np.stack([h[1] for h in a]), np.stack([h[0] for h in b]),
                        np.stack([h[1] for h in b]), cfg.phash_max_distance, cfg.dedup_max_distance)
    found = set(zip(ia.tolist(), (ib // 5).tolist(), strict=True))
    assert all(i == j for i, j in found)  # no copy joins another image
    assert len(set(ib.tolist())) >= len(copies) - 1  # every copy (one miss allowed) joins its original


def _image_row(image_id: str, side: int, p: np.ndarray, d: np.ndarray) -> dict[str, object]:
    return {"image_id": image_id, "unit_key": f"image:{image_id}", "run_id": "r", "width": side, "height": side,
            "phash": f"{int(p[0]):016x}", "skin_score": 0.5, "status": "pending",
            "dedup_phash": p.view(np.int64).tolist(), "dedup_dhash": d.view(np.int64).tolist()}


@pytest.mark.parametrize("bigger_later", [True, False])
def test_warehouse_clusters_are_incremental(con, bigger_later):
    base = _lesion(11)
    small, other = region_hashes(base.resize((128, 128))), region_hashes(_lesion(12))
    insert_rows(con, "clean_image_scores", [_image_row("a", 128, *small), _image_row("z", 256, *other)])
    assert update_clusters(con, CleanConfig(), "clean", "run1") == 0
    side = 256 if bigger_later else 64
    insert_rows(con, "clean_image_scores", [_image_row("b", side, *region_hashes(base.resize((side, side))))])
    assert update_clusters(con, CleanConfig(), "clean", "run2") == 1
    rows = dict(con.execute("SELECT image_id, status || ':' || canonical_id FROM clean_images").fetchall())
    canon = "b" if bigger_later else "a"
    dup = "a" if bigger_later else "b"
    assert rows == {canon: f"kept:{canon}", dup: f"near_duplicate:{canon}", "z": "kept:z"}
    rejects = con.execute("SELECT item_id, run_id FROM rejects WHERE reason = 'near_duplicate'").fetchall()
    assert rejects == [(dup, "run2")]
    assert update_clusters(con, CleanConfig(), "clean", "run3") == 0  # nothing pending: nothing searched
    scores = con.execute("SELECT DISTINCT status FROM clean_image_scores").fetchall()
    assert scores == [("pending",)]  # the units' own rows are never edited: clusters are rows of their own


def test_cluster_whose_canonical_was_dropped_is_released(con):
    base = _lesion(21)
    insert_rows(con, "clean_image_scores", [_image_row("a", 256, *region_hashes(base)),
                                      _image_row("b", 128, *region_hashes(base.resize((128, 128))))])
    update_clusters(con, CleanConfig(), "clean", "run1")
    # its unit was redone (the driver replaces its scores row: a new run_id) and dropped it
    con.execute("UPDATE clean_image_scores SET status = 'too_small', run_id = 'r2' WHERE image_id = 'a'")
    update_clusters(con, CleanConfig(), "clean", "run2")
    assert con.execute("SELECT status, canonical_id FROM clean_images WHERE image_id = 'b'").fetchone() == ("kept", "b")
    assert con.execute("SELECT count(*) FROM rejects WHERE item_id = 'b'").fetchone() == (0,)


def test_migration_0021_moves_clusters_out_of_the_image_rows(tmp_path):
    """A warehouse written before migration 0021 reads the same through the clean_images view after it."""
    import shutil

    from pipeline.warehouse import MIGRATIONS_DIR, apply_migrations, connect, migration_files

    before = tmp_path / "before"
    before.mkdir()
    for f in migration_files():
        if f.name < "0021":
            shutil.copy(f, before / f.name)
    con = connect(migrate=False)
    apply_migrations(con, before)
    rows = [("a", "kept", "a", 0), ("b", "near_duplicate", "a", 4), ("c", "too_small", None, None),
            ("d", "pending", None, None)]
    for image_id, status, canonical, hamming in rows:
        con.execute("INSERT INTO clean_images (image_id, unit_key, run_id, width, height, phash, skin_score, status, "
                    "cluster_id, canonical_id, hamming) VALUES (?, ?, 'r1', 64, 64, '0', 0.5, ?, ?, ?, ?)",
                    [image_id, f"image:{image_id}", status, canonical, canonical, hamming])
    apply_migrations(con, MIGRATIONS_DIR)
    view = con.execute("SELECT image_id, status, canonical_id, hamming FROM clean_images ORDER BY image_id").fetchall()
    assert view == [(i, s, c, h) for i, s, c, h in rows]
    assert con.execute("SELECT count(*) FROM clean_clusters").fetchone() == (2,)
