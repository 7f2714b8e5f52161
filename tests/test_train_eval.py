"""Evaluation suite: external-set presets and dedup against training images, metrics on toy features,
and an end-to-end run on real ISIC and Derm7pt images through `derm1m train`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import require_fixture
from test_train_recipe import SAMPLE, sample_corpus_rows

from flows.cli import main as derm1m
from pipeline.train.evaluate import class_prompts, linear_probe, ontology_parents, retrieval
from pipeline.train.export import ExportManifest, assign_splits, write_export
from pipeline.train.external import ViewHashes, load_labelled_set, remove_training_duplicates
from pipeline.train.report import render_report
from pipeline.train.suite import SetSummary, SuiteResult, train_view_hashes

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> ExportManifest:
    rows = sample_corpus_rows()
    return write_export(rows, assign_splits(rows, 0.25, 0), tmp_path_factory.mktemp("ev") / "export", 4)


def test_ham10000_preset_and_dedup_against_training(export: ExportManifest) -> None:
    """The sample set is HAM10000-format; evaluated against its own export, its training images go."""
    lset = load_labelled_set("sample", "ham10000", SAMPLE / "metadata.csv", SAMPLE / "images")
    assert lset.n_missing == 1 and len(lset.items) == 19  # row 14 has no image
    assert "melanocytic nevus" in lset.classes and "nv" not in lset.classes
    train_files = {r.image_path.name for r in sample_corpus_rows()
                   if export.filenames[r.pair_id] in (export.out_dir / "train.csv").read_text()}  # fmt: skip
    deduped = remove_training_duplicates(lset, train_view_hashes(export.out_dir), (0, 0))
    kept = {i.path.name for i in deduped.items}
    assert not kept & train_files and deduped.n_duplicates_removed >= len(train_files) > 0
    assert len(kept) + deduped.n_duplicates_removed == 19
    none = ViewHashes(np.zeros((0, 10), np.uint64), np.zeros((0, 10), np.uint64), np.zeros(0, bool))
    assert remove_training_duplicates(lset, none).n_duplicates_removed == 0
    with pytest.raises(ValueError, match="lacks columns"):
        load_labelled_set("x", "pad-ufes-20", SAMPLE / "metadata.csv")
    with pytest.raises(ValueError, match="unknown external set layout"):
        load_labelled_set("x", "imagenet", SAMPLE)


def test_folder_layout(tmp_path: Path) -> None:
    for cls in ("acne", "vitiligo"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            (tmp_path / cls / f"{i}.jpg").write_bytes((SAMPLE / "images" / "SYN_9000001.jpg").read_bytes())
    lset = load_labelled_set("daffodil", "daffodil", tmp_path)
    assert lset.classes == ["acne", "vitiligo"] and len(lset.items) == 4


def test_metrics_on_known_features() -> None:
    feats = torch.nn.functional.normalize(torch.eye(4) + 0.01, dim=1)
    m = retrieval(feats, feats, torch.eye(4, dtype=torch.bool))
    assert m["i2t_R@1"] == m["t2i_R@1"] == m["i2t_R@50"] == 1.0
    m = retrieval(feats, feats.roll(1, 0), torch.eye(4, dtype=torch.bool))
    assert m["i2t_R@1"] == 0.0 and m["i2t_R@50"] == 1.0
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (100, 8)), rng.normal(3, 1, (100, 8))])
    y = ["a"] * 100 + ["b"] * 100
    probe = linear_probe(x, y, seed=0)
    assert probe["probe_acc@1"] > 0.95 and probe["probe_train_n@0.01"] == 2 and probe["probe_test_n"] == 60
    assert linear_probe(x[:5], ["a"] * 5) == {"probe_n": 5.0}


def test_ontology_prompts() -> None:
    onto = require_fixture("derm1m", "ontology.json")
    parents = ontology_parents(onto)
    prompts = class_prompts(["Alopecia areata", "made-up disease"], parents)
    assert "This is a skin image of Alopecia areata, a type of Hair diseases" in prompts[0]
    assert len(prompts[0]) == len(prompts[1]) + 1 and "This is a skin image of made-up disease" in prompts[1]


def test_isic_and_derm7pt_end_to_end(export: ExportManifest, tmp_path: Path) -> None:
    """Train briefly with `derm1m train`, then resume the finished run to evaluate it: trained / untrained /
    a local 'pretrained' checkpoint on the validation split, real ISIC (nevus vs melanoma) and Derm7pt
    (concepts) from the profile's eval settings; metrics and report land next to the checkpoint."""
    isic = require_fixture("images", "isic")
    derm7pt = require_fixture("images", "derm7pt", "meta.csv")
    run = tmp_path / "run"
    recipe = {"model": "DermMicro", "global_batch_size": 4, "micro_batch_size": 4, "threads": 1,
              "device": "cpu", "precision": "fp32"}  # fmt: skip
    train = {"recipe": recipe, "eval_pretrained": [{"name": "local", "model": "DermMicro",
                                                    "checkpoint": str(run / "checkpoint.pt")}],
             "eval_sets": [{"name": "isic", "layout": "isic-json", "path": str(isic)},
                           {"name": "derm7pt", "layout": "derm7pt", "path": str(derm7pt),
                            "image_dir": str(derm7pt.parent / "images")}]}  # fmt: skip
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump({"root": ".", "train": train}))
    args = ["--config", str(profile), "train", "--export", str(export.out_dir), "--out", str(run),
            "--max-steps", "2"]
    assert derm1m([*args, "--no-eval"]) == 0
    assert json.loads((run / "train_summary.json").read_text())["end_step"] == 2
    assert not (run / "eval_metrics.json").exists()
    assert derm1m([*args, "--resume", "latest"]) == 0  # nothing left to train: evaluation only
    assert json.loads((run / "train_summary.json").read_text())["start_step"] == 2
    result = json.loads((run / "eval_metrics.json").read_text())
    sets = {s["eval_set"]: s for s in result["sets"]}
    assert sets["isic"]["n_images"] + sets["isic"]["n_duplicates_removed"] == 134  # one JSON has no diagnosis
    assert sets["isic"]["n_classes"] == 2 and sets["derm7pt"]["n_images"] > 40
    assert set(result["metrics"]) == {"trained", "untrained", "pretrained:local"}
    for by_set in result["metrics"].values():
        isic_m = by_set["isic"]
        assert 0.0 <= isic_m["zero_shot_top1"] <= 1.0 and isic_m["zero_shot_top5"] == 1.0
        assert {"probe_acc@0.01", "probe_acc@0.1", "probe_acc@1"} <= set(isic_m)
        assert 0.0 <= by_set["derm7pt"]["concept_auroc_mean"] <= 1.0 and by_set["derm7pt"]["concept_auroc_n"] >= 5
        assert {"i2t_R@1", "i2t_R@50", "t2i_R@10"} <= set(by_set["validation"])
    assert result["metrics"]["trained"] == result["metrics"]["pretrained:local"]  # same weights, same numbers
    report = (run / "report.md").read_text()
    assert "## isic" in report and "| zero_shot_top1 |" in report and "removed as training duplicates" in report
    assert "| end_step | 2 |" in report


def test_report_renders_missing_cells() -> None:
    res = SuiteResult({"trained": {"v": {"a": 0.5}}, "untrained": {"v": {"b": 2.0}}},
                      [SetSummary("v", "csv", 3, 2, 1, 0, 4), SetSummary("w", "csv", 3, 2, 1, 0, 0, 5, 2)])  # fmt: skip
    text = render_report(res, "T", {"steps": 3})
    assert "| a | 0.500 | – |" in text and "| b | – | 2 |" in text
    assert "| v | csv | 3 | 2 | 1 | 0 | 4 | not checked | not checked |" in text and "| w | csv | 3 | 2 | 1 | 0 | 0 | 5 | 2 |" in text


@pytest.mark.slow
def test_stage_writes_suite_tables(tmp_path: Path) -> None:
    """The train stage runs the suite (validation + an external set) into train_metrics / train_eval_sets."""
    from pipeline.config import RunConfig, TrainConfig
    from pipeline.stage import WorkUnit, commit_units
    from pipeline.train.stage import TrainStage
    from pipeline.warehouse import connect

    derm7pt = require_fixture("images", "derm7pt", "meta.csv")
    payload = [{"pair_id": r.pair_id, "image_id": r.image_id, "image_path": str(r.image_path), "group_id": r.group_id,
                "cluster_id": "", "source": "dataset", "source_type": "dataset", "caption": r.captions["raw"],
                "refined_caption": r.caption, "truncated_caption": r.caption, "ontology_caption": r.captions["ontology"],
                "concept_caption": r.captions["concept"], "disease_label": r.disease_label,
                "hierarchical_disease_label": "", "skin_concept": "", "body_location": "", "symptoms": "", "age": "",
                "gender": ""} for r in sample_corpus_rows()]  # fmt: skip
    recipe = {"model": "DermMicro", "epochs": 1, "global_batch_size": 4, "micro_batch_size": 4, "threads": 1}
    train_cfg = TrainConfig(recipe=recipe, val_fraction=0.25,
                            eval_sets=[{"name": "derm7pt", "layout": "derm7pt", "path": str(derm7pt),
                                       "image_dir": str(derm7pt.parent / "images")}])  # fmt: skip
    cfg = RunConfig(data_dir=tmp_path / "data", train=train_cfg)
    cfg.export.release = "private"  # hand-made pairs without source items carry no licence
    stage = TrainStage(cfg)
    res = stage.process(WorkUnit("export", "f" * 64, {"rows": payload}))
    con = connect(":memory:")
    commit_units(con, stage, [res], "run-1")
    splits = dict(con.execute("SELECT model_state || '/' || split, count(*) FROM train_metrics GROUP BY 1").fetchall())
    assert set(splits) == {"trained/validation", "untrained/validation", "trained/derm7pt", "untrained/derm7pt"}
    n_img, n_dup, n_leak = con.execute(
        "SELECT n_images, n_duplicates_removed, n_train_pairs_removed FROM train_eval_sets").fetchone()
    assert n_img == 46 and n_dup == 0 and n_leak == 0  # the export checked the set: nothing of it in training
    assert con.execute("SELECT count(*) FROM train_metrics WHERE metric = 'concept_auroc_mean'").fetchone() == (2,)
    assert (tmp_path / "data" / "train" / ("f" * 16) / "report.md").is_file()
