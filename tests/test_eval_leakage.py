"""Honest evaluation (issue 14): training copies of external evaluation images (cropped, rescaled,
recoloured) leave the export, counted per set, with the clean stage's crop-robust search; one label map per
dataset for collection and evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import require_fixture
from PIL import Image, ImageEnhance

from pipeline.collect.presets import PRESETS
from pipeline.config import RunConfig, TrainConfig
from pipeline.train.export import ExportRow
from pipeline.train.external import (
    FORMATS,
    LEAKS_FILE,
    EvalSetSpec,
    LeakCheck,
    load_labelled_set,
    read_leaks,
    remove_eval_leaks,
)  # fmt: skip
from pipeline.train.jobs import export_corpus, leak_check
from pipeline.train.suite import run_suite
from pipeline.vocab.datasets import LABEL_MAPS
from pipeline.warehouse import connect

REPO = Path(__file__).resolve().parents[1]
SAMPLE_IMAGES = REPO / "samples" / "datasets" / "derm_sample" / "images"
CLEAN = (8, 16)  # CleanConfig's phash_max_distance, dedup_max_distance


def crop_resize(img: Image.Image, area: float = 0.7) -> Image.Image:
    """A centre crop to `area` of the image, scaled back to the original size."""
    w, h = img.size
    s = area**0.5
    cw, ch = round(w * s), round(h * s)
    x, y = (w - cw) // 2, (h - ch) // 2
    return img.crop((x, y, x + cw, y + ch)).resize((w, h), Image.Resampling.BICUBIC)


def recolour(img: Image.Image) -> Image.Image:
    hsv = np.asarray(img.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + 20) % 256
    out = Image.fromarray(hsv, "HSV").convert("RGB")
    return ImageEnhance.Brightness(ImageEnhance.Color(out).enhance(1.3)).enhance(0.85)


def _row(pair_id: str, image_id: str, path: Path) -> ExportRow:
    return ExportRow(
        pair_id, image_id, path, f"item-{image_id}", "", f"caption {pair_id}", disease_label="melanoma"
    )


def _corpus(tmp: Path, eval_files: dict[str, list[Path]], copies: dict[str, Image.Image], other: list[Path]
            ) -> tuple[list[ExportRow], list[EvalSetSpec]]:  # fmt: skip
    """Eval sets as class folders (tmp/<set>/<class>/<file>) and training rows: each copy twice (two
    pairs of one image), each other image once."""
    specs = []
    for name, files in eval_files.items():
        for k, f in enumerate(files):
            (tmp / name / f"class{k % 2}").mkdir(parents=True, exist_ok=True)
            Image.open(f).convert("RGB").save(tmp / name / f"class{k % 2}" / f"{f.stem}.png")
        specs.append(EvalSetSpec(name, "folder", tmp / name))
    rows = []
    (tmp / "train").mkdir()
    for image_id, img in copies.items():
        img.save(tmp / "train" / f"{image_id}.jpg", quality=80)
        rows += [_row(f"{image_id}-{k}", image_id, tmp / "train" / f"{image_id}.jpg") for k in range(2)]
    rows += [_row(f.stem, f.stem, f) for f in other]
    return rows, specs


@pytest.fixture
def synthetic(tmp_path: Path) -> tuple[list[ExportRow], list[EvalSetSpec]]:
    """Eval set "a" holds SYN_2, SYN_3; set "b" SYN_4; training holds a 70% crop of SYN_2, a recoloured
    SYN_4 and, untouched, four images in neither set. (SYN_1 is SYN_2's lesion again, left out.)"""
    files = sorted(SAMPLE_IMAGES.glob("SYN_*.jpg"))
    a, b = files[1:3], files[3:4]
    copies = {"crop-of-a": crop_resize(Image.open(a[0]).convert("RGB")),
              "recolour-of-b": recolour(Image.open(b[0]).convert("RGB"))}  # fmt: skip
    return _corpus(tmp_path, {"a": a, "b": b}, copies, files[4:8])


def test_crop_and_recolour_of_eval_images_leave_training_counted_per_set(
    synthetic: tuple[list[ExportRow], list[EvalSetSpec]],
) -> None:
    rows, specs = synthetic
    kept, counts = remove_eval_leaks(rows, LeakCheck(tuple(specs), CLEAN))
    assert {r.image_id for r in kept} == {r.image_id for r in rows} - {"crop-of-a", "recolour-of-b"}
    by_set = {
        c.eval_set: (c.n_eval_images, c.n_train_images_removed, c.n_train_pairs_removed) for c in counts
    }
    assert by_set == {"a": (2, 1, 2), "b": (1, 1, 2)}


def test_export_writes_counts_and_the_suite_reports_them(
    synthetic: tuple[list[ExportRow], list[EvalSetSpec]], tmp_path: Path
) -> None:
    """Through export_corpus and run_suite (no models: only the sets), then the warehouse columns."""
    rows, specs = synthetic
    dicts = [{"pair_id": r.pair_id, "image_id": r.image_id, "image_path": str(r.image_path), "group_id": r.group_id,
              "cluster_id": "", "source": "s", "source_type": "dataset", "caption": r.caption,
              "refined_caption": r.caption, "truncated_caption": r.caption, "ontology_caption": "",
              "concept_caption": "", "disease_label": r.disease_label, "hierarchical_disease_label": "",
              "skin_concept": "", "body_location": "", "symptoms": "", "age": "", "gender": ""}
             for r in rows]  # fmt: skip
    cfg = RunConfig(
        data_dir=tmp_path / "data",
        train=TrainConfig(
            val_fraction=0.25,
            eval_sets=[{"name": s.name, "layout": s.layout, "path": str(s.path)} for s in specs],
        ),
    )
    check = leak_check(cfg)
    assert check.thresholds == (cfg.clean.phash_max_distance, cfg.clean.dedup_max_distance) == CLEAN
    export = export_corpus(dicts, cfg.train, tmp_path / "export", check)
    written = (tmp_path / "export" / "train.csv").read_text() + (
        tmp_path / "export" / "validation.csv"
    ).read_text()
    assert "crop-of-a" not in written and "recolour-of-b" not in written and "SYN_" in written
    assert json.loads((tmp_path / "export" / LEAKS_FILE).read_text())["thresholds"] == list(CLEAN)
    assert {c.eval_set: c.n_train_pairs_removed for c in export.leaks or []} == {"a": 2, "b": 2}

    result = run_suite([], tmp_path / "export", list(check.sets), dedup=check.thresholds)
    sets = {s.eval_set: s for s in result.sets}
    assert (sets["a"].n_images, sets["a"].n_duplicates_removed, sets["a"].n_train_pairs_removed) == (2, 0, 2)
    assert (sets["b"].n_train_images_removed, sets["b"].n_train_pairs_removed) == (1, 2)

    con = connect(":memory:")
    assert {"n_train_pairs_removed", "n_train_images_removed"} <= {
        r[0] for r in con.execute("DESCRIBE train_eval_sets").fetchall()
    }


def test_export_without_check_drops_the_leaking_eval_images(
    synthetic: tuple[list[ExportRow], list[EvalSetSpec]], tmp_path: Path
) -> None:
    """An export made without the set (another profile): the suite finds the copies itself and drops the
    evaluation images they copy, counted apart; the training counts read "not checked" (None)."""
    from pipeline.train.export import write_export

    rows, specs = synthetic
    train_only = {r.pair_id: "train" for r in rows}
    write_export(rows, train_only, tmp_path / "export", 10)
    assert read_leaks(tmp_path / "export") == {}
    sets = {s.eval_set: s for s in run_suite([], tmp_path / "export", specs, dedup=CLEAN).sets}
    assert (sets["a"].n_images, sets["a"].n_duplicates_removed, sets["a"].n_train_pairs_removed) == (
        1,
        1,
        None,
    )
    assert (sets["b"].n_images, sets["b"].n_duplicates_removed) == (0, 1)


def test_real_dermoscopy_crops_and_recolours_leave_training(tmp_path: Path) -> None:
    """ISIC images as the evaluation set; training holds 70%-area crops and recolours of five of them and
    Derm7pt images (other lesions, same modality), which must all stay."""
    isic = sorted(require_fixture("images", "isic").glob("*.jpg"))[:10]
    derm7pt = sorted(require_fixture("images", "derm7pt", "images").rglob("*.jpg"))[:10]
    copies = {f"crop-{f.stem}": crop_resize(Image.open(f).convert("RGB")) for f in isic[:5]}
    copies |= {f"recolour-{f.stem}": recolour(Image.open(f).convert("RGB")) for f in isic[5:]}
    rows, specs = _corpus(tmp_path, {"isic": isic}, copies, derm7pt)
    kept, counts = remove_eval_leaks(rows, LeakCheck(tuple(specs), CLEAN))
    assert {r.image_id for r in kept} == {f.stem for f in derm7pt}
    assert (counts[0].n_train_images_removed, counts[0].n_train_pairs_removed) == (10, 20)


def test_one_label_map_per_dataset_for_collection_and_evaluation() -> None:
    """Collect's presets and the evaluation's CSV layouts read the same map, and every name in it is an
    ontology condition (or one's synonym), so a code means one class everywhere."""
    from ontology import default_ontology

    shared = set(PRESETS) & set(FORMATS)
    assert shared == {"ham10000", "pad-ufes-20", "fitzpatrick17k"}
    for name in shared:
        assert PRESETS[name]["label_map"] == FORMATS[name].labels == LABEL_MAPS[name], name
    assert set(PRESETS) | (set(FORMATS) - {"csv"}) <= set(LABEL_MAPS)
    assert LABEL_MAPS["ham10000"]["bkl"] == LABEL_MAPS["pad-ufes-20"]["SEK"] == "seborrheic keratosis"

    def norm(s: str) -> str:
        return s.lower().removesuffix("s")

    ont = default_ontology()
    known = {norm(t) for c in ont.conditions.values() for t in (c.name, *c.synonyms)}
    names = {v for m in LABEL_MAPS.values() for v in m.values()}
    assert {n for n in names if norm(n) not in known} == set()
    sample = load_labelled_set("s", "ham10000", SAMPLE_IMAGES.parent / "metadata.csv", SAMPLE_IMAGES)
    assert set(sample.classes) <= set(LABEL_MAPS["ham10000"].values())
