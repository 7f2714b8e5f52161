"""A dump post through collect, preprocess, clean, pair and augment: the answer that names the diagnosis
reaches the pair text and becomes the label, with no change to the pair stage (the post's body carries
the thread section that preprocess already pairs with the post's images)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from collect_server import LocalServer, static
from hostile_corpus import _zst
from PIL import Image

from pipeline.augment.stage import AugmentStage
from pipeline.clean.stage import CleanStage
from pipeline.collect.forums import DumpImportSource
from pipeline.collect.http import HttpClient
from pipeline.collect.stage import CollectStage
from pipeline.config import RunConfig
from pipeline.pair.stage import PairStage
from pipeline.preprocess.stage import PreprocessStage
from pipeline.stage import run_stage


def _skin_jpeg() -> bytes:
    rng = np.random.default_rng(3)
    img = np.clip(np.array([222, 176, 140]) + rng.normal(0, 6, (240, 320, 3)), 0, 255).astype(np.uint8)
    img[90:150, 120:200] = (170, 70, 60)  # a red patch
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_the_best_answer_names_the_label(tmp_path: Path, con: Any) -> None:
    with LocalServer({"/img/a.jpg": static(_skin_jpeg(), "image/jpeg")}) as srv:
        folder = tmp_path / "dumps"
        folder.mkdir()
        sub = {"id": "q1", "subreddit": "DermatologyQuestions", "title": "What is this ring on my forearm?",
               "selftext": "Itchy for three weeks, growing slowly.", "created_utc": 1650000000, "score": 4,
               "url": f"{srv.url}/img/a.jpg", "permalink": "/r/DermatologyQuestions/comments/q1/x/"}
        comments = [{"id": "c1", "link_id": "t3_q1", "parent_id": "t3_q1", "score": 25,
                     "body": "This is tinea corporis, a fungal infection. Use clotrimazole."},
                    {"id": "c2", "link_id": "t3_q1", "parent_id": "t3_q1", "score": 1, "body": "Bug bite?"}]
        (folder / "RS_2022-04.zst").write_bytes(_zst([json.dumps(sub).encode()]))
        (folder / "RC_2022-04.zst").write_bytes(_zst([json.dumps(c).encode() for c in comments]))
        cfg = RunConfig(data_dir=tmp_path / "data")
        cfg.image_type.enabled = False  # this test is about the text; the image classifier is not its subject
        client = HttpClient(tmp_path / "raw", max_retries=0, sleep=lambda s: None)
        run_stage(con, CollectStage(cfg, sources=[DumpImportSource([folder], client, "h", True)]), "r")
    for stage in (PreprocessStage, CleanStage, PairStage, AugmentStage):
        run_stage(con, stage(cfg), "r")
    (text,) = con.execute("SELECT text FROM pair_image_texts").fetchone()
    assert "tinea corporis" in text.lower() and text.lower().index("tinea") < text.lower().index("bug bite")
    (label,) = con.execute("SELECT disease_label FROM augment_captions").fetchone()
    assert "tinea corporis" in label.lower()
