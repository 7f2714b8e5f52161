"""The scale rehearsal's corpus generator and profile (bench/scale_corpus.py, bench/scale_rehearsal.py) stay
loadable and consistent; the rehearsal itself is `make scale-rehearsal` (docs/scale.md), too long for tests."""

from __future__ import annotations

import csv
import json
from io import BytesIO

import numpy as np
from PIL import Image

from bench.scale_corpus import Size, generate, near_copy, skin_image
from bench.scale_rehearsal import profile
from pipeline.collect.stage import CollectStage
from pipeline.config import load_config
from pipeline.vision.dedup import match_sets, region_hashes


def test_generated_corpus_grows_without_rewriting_and_the_profile_loads(tmp_path):
    corpus = tmp_path / "corpus"
    first = generate(corpus, Size(articles=6, posts=7, dataset_images=9, video_s=0.0))
    assert first == {"articles": 6, "posts": 7, "dataset_images": 9, "videos": 0, "images": 6 * 2 + 2 + 7 + 9}
    before = {p: p.stat().st_mtime_ns for p in corpus.rglob("*.xml")}
    generate(corpus, Size(1, 2, 3, 0.0), start=Size(6, 7, 9, 0.0))
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())  # growth adds files, never rewrites
    with (corpus / "datasets" / "scale" / "metadata.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == 12
    posts = [json.loads(line) for f in sorted((corpus / "forums").glob("*.jsonl")) for line in f.open()]
    assert len({p["id"] for p in posts}) == 9
    cfg = load_config(profile(tmp_path, "off"))
    assert cfg.batch_size == 32 and not cfg.train.enabled
    units = [u.key for s in CollectStage(cfg).sources.values() if s.name.startswith("local_") for u in s.units()]
    assert sum(k.startswith("local_jats:") for k in units) == 7
    assert sum(k.startswith("local_forums:") for k in units) == 2 and sum(k.startswith("local_datasets:") for k in units) == 1


def test_near_copies_match_their_source_and_not_each_other():
    """The rehearsal's planted copies (70-90 % crops, recoloured) are what the clean stage must find."""
    originals = [Image.open(BytesIO(skin_image(s))) for s in (1, 2, 3)]
    copies = [Image.open(BytesIO(near_copy(skin_image(s), 100 + s))) for s in (1, 2, 3)]
    a = [region_hashes(im) for im in originals]
    b = [region_hashes(im) for im in copies]
    rows_a, rows_b = match_sets(np.stack([h[0] for h in a]), np.stack([h[1] for h in a]),
                                np.stack([h[0] for h in b]), np.stack([h[1] for h in b]), 8, 16)
    assert sorted(zip(rows_a.tolist(), rows_b.tolist(), strict=True)) == [(0, 0), (1, 1), (2, 2)]
