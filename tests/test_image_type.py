"""Image-type classifier: the heuristic on drawn and real images, the clean-stage wiring, the CLI, and the
DenseNet121 / CLIP backends at toy size (random weights: they test plumbing, not accuracy)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from bench.synthetic_images import (
    bar_chart,
    brick_wall,
    fluorescence,
    he_field,
    landscape,
    text_page,
    text_slide,
)
from pipeline.clean.filters import decide, score_image
from pipeline.config import CleanConfig, ImageTypeConfig
from pipeline.vision.classifier import make_classifier
from pipeline.vision.image_type import (
    IMAGE_TYPES,
    SKIN_TYPES,
    HeuristicClassifier,
    ImageTypeClassifier,
    classify_folder,
)
from tests.conftest import require_fixture

REPO = Path(__file__).resolve().parents[1]


def _skin_photo(seed: int = 0, size=(320, 240), lesion=(30, 30, 90, 80)) -> Image.Image:
    """Skin-toned noise with one lesion; off-centre, as in a clinical photo (a centred one reads as a close-up)."""
    rng = np.random.default_rng(seed)
    base = np.zeros((size[1], size[0], 3)) + (214, 160, 130)
    img = Image.fromarray((base + rng.normal(0, 8, base.shape)).clip(0, 255).astype(np.uint8))
    ImageDraw.Draw(img).ellipse(lesion, fill=(140, 60, 55))
    return img


def _dermoscopy(seed: int = 0) -> Image.Image:
    img = _skin_photo(seed, (300, 300), (100, 100, 200, 190))
    mask = Image.new("L", img.size, 0)
    ImageDraw.Draw(mask).ellipse((8, 8, 292, 292), fill=255)
    return Image.composite(img, Image.new("RGB", img.size, (5, 5, 5)), mask)


def test_heuristic_types_drawn_images():
    clf = HeuristicClassifier()
    assert isinstance(clf, ImageTypeClassifier)
    rng = np.random.default_rng
    cases = {
        "clinical_photo": _skin_photo(), "dermoscopy": _dermoscopy(), "histopathology": he_field(rng(1)),
        "chart_or_diagram": bar_chart(rng(2)), "slide_with_text": text_page(rng(3)), "other": landscape(rng(4)),
    }
    results = clf.classify(list(cases.values()))
    assert [r.image_type for r in results] == list(cases)
    for r in results:
        assert r.image_type in IMAGE_TYPES and 0.0 <= r.skin_score <= 1.0 and 0.0 < r.confidence <= 1.0
        assert r.backend == "heuristic" and "skin" in r.scores
    skin = {k: r.skin_score for k, r in zip(cases, results, strict=True)}
    assert min(skin["clinical_photo"], skin["dermoscopy"]) > 0.6
    assert max(skin["chart_or_diagram"], skin["slide_with_text"], skin["other"]) < 0.1


@pytest.mark.parametrize("draw", [text_slide, fluorescence, brick_wall])
def test_heuristic_rejects_hard_non_skin(draw):
    """Coloured slides, dark fluorescence fields and warm-coloured brick are not skin."""
    for seed in range(3):
        (r,) = HeuristicClassifier().classify([draw(np.random.default_rng(seed))])
        assert r.image_type not in SKIN_TYPES, (seed, r)


def test_sample_corpus_images_keep_their_kind():
    """The sample build keeps its lesions and drops its bar chart (samples/README.md)."""
    clf = HeuristicClassifier()
    paths = sorted((REPO / "samples" / "datasets" / "derm_sample" / "images").glob("*.jpg"))
    paths += [REPO / "samples" / "jats" / f"PMC900000{i}_f1.jpg" for i in range(1, 7)]
    assert all(r.image_type in SKIN_TYPES for r in clf.classify(paths))
    (chart,) = clf.classify([REPO / "samples" / "jats" / "PMC9000004_f2.jpg"])
    assert chart.image_type == "chart_or_diagram"


def test_real_dermoscopy_is_kept():
    isic = require_fixture("images", "isic")
    paths = sorted(isic.glob("*.jpg"))[:40]
    types = [r.image_type for r in HeuristicClassifier().classify(paths)]
    assert sum(t in SKIN_TYPES for t in types) >= 38, types


def test_decide_rejects_unkept_type(tmp_path):
    chart, photo = tmp_path / "chart.png", tmp_path / "photo.jpg"
    bar_chart(np.random.default_rng(0)).save(chart)
    _skin_photo().save(photo, quality=92)
    cfg, types = CleanConfig(), ImageTypeConfig()
    clf = make_classifier(types)
    sc, sp = score_image(chart, clf), score_image(photo, clf)
    assert sc.image_type == "chart_or_diagram" and sc.type_backend == clf.name
    assert decide(sc, cfg, types.keep) == "image_type_chart_or_diagram"
    assert decide(sp, cfg, types.keep) is None
    assert decide(sc, cfg, list(IMAGE_TYPES)) is None
    assert score_image(chart).image_type is None  # no classifier: the baseline score alone


def _chart_and_photo(tmp_path, con, ref_kind: str) -> None:
    """A bar chart (image id c...) and a skin photo (p...) stored by preprocess, each with one reference."""
    chart, photo = tmp_path / "chart.png", tmp_path / "photo.jpg"
    bar_chart(np.random.default_rng(0)).save(chart)
    _skin_photo().save(photo, quality=92)
    for image_id, path in (("c" * 64, chart), ("p" * 64, photo)):
        con.execute("INSERT INTO preprocess_images (image_id, path, width, height, ext, bytes) "
                    "VALUES (?, ?, 320, 240, 'png', 1)", [image_id, str(path)])
        con.execute("INSERT INTO preprocess_image_refs (ref_id, unit_key, run_id, item_id, image_id, kind, locator, "
                    "text) VALUES (?, 'u', 'r', 'item', ?, ?, 'x', 'A red papule on the arm.')",
                    [f"ref-{image_id[0]}", image_id, ref_kind])


def test_clean_stage_stores_type_and_rejects(tmp_path, con):
    from pipeline.clean.stage import CleanStage
    from pipeline.config import RunConfig
    from pipeline.stage import run_stage

    _chart_and_photo(tmp_path, con, "post_image")
    run_stage(con, CleanStage(RunConfig()), "run1")
    rows = dict(con.execute("SELECT image_id, image_type || '/' || status FROM clean_images").fetchall())
    assert rows["c" * 64] == "chart_or_diagram/image_type_chart_or_diagram"
    assert rows["p" * 64] == "clinical_photo/kept"
    reasons = [r[0] for r in con.execute("SELECT reason FROM rejects WHERE stage = 'clean'").fetchall()]
    assert reasons == ["image_type_chart_or_diagram"]


def test_classify_images_cli(tmp_path):
    from flows.cli import main

    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    _skin_photo().save(folder / "a.jpg")
    bar_chart(np.random.default_rng(0)).save(folder / "sub" / "b.png")
    (folder / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "out.csv"
    assert main(["classify-images", str(folder), str(out)]) == 0
    with open(out, newline="") as fh:
        rows = {Path(r["path"]).name: r for r in csv.DictReader(fh)}
    assert set(rows) == {"a.jpg", "b.png", "broken.jpg"}
    assert rows["a.jpg"]["image_type"] == "clinical_photo" and float(rows["a.jpg"]["skin_score"]) > 0.6
    assert rows["b.png"]["image_type"] == "chart_or_diagram" and float(rows["b.png"]["confidence"]) > 0
    assert rows["broken.jpg"]["backend"] == "unreadable"


def test_densenet_train_checkpoint_and_inference(tmp_path):
    """One optimiser step on 32 px images (DenseNet121 pools down by 32): a versioned checkpoint that loads
    and classifies."""
    from flows.cli import main

    folder = tmp_path / "folder"
    for cls, draw in (("clinical_photo", _skin_photo), ("chart_or_diagram", bar_chart)):
        (folder / cls).mkdir(parents=True)
        for i in range(2):
            img = draw(i) if cls == "clinical_photo" else draw(np.random.default_rng(i))
            img.resize((24, 24)).save(folder / cls / f"{i}.png")
    out = tmp_path / "models"
    args = ["train-image-classifier", str(folder), str(out), "--max-steps", "1", "--batch-size", "4",
            "--image-size", "32", "--epochs", "1"]
    (out / "densenet121-v1.pt").parent.mkdir(parents=True)
    (out / "densenet121-v1.pt").write_bytes(b"an older version")  # the next one must not overwrite it
    assert main(args) == 0
    assert sorted(p.name for p in out.glob("*.pt")) == ["densenet121-v1.pt", "densenet121-v2.pt"]
    import json

    meta = json.loads((out / "densenet121-v2.json").read_text())
    assert meta["classes"] == ["chart_or_diagram", "clinical_photo"] and meta["version"] == "v2"
    assert meta["steps"] == 1 and meta["n_images"] == 4
    clf = make_classifier(ImageTypeConfig(backend="densenet", model_path=out / "densenet121-v2.pt"))
    results = clf.classify(sorted((folder / "clinical_photo").glob("*.png")))
    assert len(results) == 2 and all(r.backend == "densenet:v2" for r in results)
    assert all(r.image_type in meta["classes"] and 0 <= r.skin_score <= 1 for r in results)
    assert abs(sum(results[0].scores.values()) - 1) < 1e-3
    assert abs(results[0].skin_score - results[0].scores["clinical_photo"]) < 1e-3


def test_clip_zero_shot_backend_with_random_tiny_model(tmp_path):
    clf = make_classifier(ImageTypeConfig(backend="clip", clip_model="DermMicro",
                                          prompts={"clinical_photo": ["a photo of skin"],
                                                   "chart_or_diagram": ["a bar chart"]}))
    _skin_photo().save(tmp_path / "a.jpg")
    results = list(classify_folder(tmp_path, clf))
    ((path, res),) = results
    assert path.name == "a.jpg" and res is not None
    assert res.image_type in ("clinical_photo", "chart_or_diagram") and res.backend == "clip:DermMicro"
    assert abs(res.scores["clinical_photo"] + res.scores["chart_or_diagram"] - 1) < 1e-3
    assert abs(res.skin_score - res.scores["clinical_photo"]) < 1e-3


def test_each_image_is_classified_once_per_classifier(tmp_path, con, monkeypatch):
    """A keyframe preprocess already classified is not classified again by clean; a new clean setting redoes
    the image units from the recorded classifications; a new classifier setting classifies again."""
    import pipeline.clean.stage as clean_stage
    from pipeline.clean.stage import CleanStage
    from pipeline.config import RunConfig
    from pipeline.stage import run_stage
    from pipeline.vision.classifier import classifier_key, make_classifier

    classified: list[int] = []

    class Counting:
        def __init__(self, inner: ImageTypeClassifier) -> None:
            self.inner, self.name = inner, inner.name

        def classify(self, images):
            classified.append(len(images))
            return self.inner.classify(images)

    monkeypatch.setattr(clean_stage, "image_classifier", lambda cfg: Counting(make_classifier(cfg)))
    _chart_and_photo(tmp_path, con, "keyframe")
    cfg = RunConfig()
    con.execute("INSERT INTO vision_image_types VALUES (?, ?, 'dermoscopy', 0.9, 0.8, 'heuristic', 'preprocess')",
                ["p" * 64, classifier_key(cfg.image_type)])  # the keyframe filter classified this one
    run_stage(con, CleanStage(cfg), "run1")
    assert classified == [1]  # the chart only
    rows = dict(con.execute("SELECT image_id, image_type FROM clean_images").fetchall())
    assert rows == {"c" * 64: "chart_or_diagram", "p" * 64: "dermoscopy"}
    assert con.execute("SELECT classified_by FROM vision_image_types WHERE image_id = ?",
                       ["c" * 64]).fetchone() == ("clean",)
    cfg.clean.min_side_px = 32  # a decision changed: both images redone, neither classified again
    assert run_stage(con, CleanStage(cfg), "run2").items_in >= 2 and classified == [1]
    cfg.image_type.skin_score_min = 0.3  # the classifier changed: both classified anew
    run_stage(con, CleanStage(cfg), "run3")
    assert classified == [1, 1, 1]
    assert con.execute("SELECT count(*) FROM vision_image_types").fetchone()[0] == 4
