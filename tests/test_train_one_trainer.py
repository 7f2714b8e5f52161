"""One training system: the build's train stage and `derm1m export` + `derm1m train` on the same warehouse
run the same trainer with the same recipe, and write the same export, checkpoints and metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from test_train_recipe import sample_corpus_rows

import pipeline.train.trainer as trainer_module
from flows.cli import main as derm1m
from pipeline.config import load_config
from pipeline.errors import ConfigError
from pipeline.stage import run_stage
from pipeline.train.jobs import profile_recipe
from pipeline.train.recipe import Recipe
from pipeline.train.stage import TrainStage
from pipeline.warehouse import connect, insert_rows

REPO = Path(__file__).resolve().parents[1]
RECIPE = {"model": "DermMicro", "epochs": 2, "global_batch_size": 8, "micro_batch_size": 4, "lr": 2e-3,
          "warmup_steps": 1, "precision": "fp32", "device": "cpu", "threads": 1,
          "save_every_steps": 2}  # fmt: skip

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def write_warehouse(path: Path) -> None:
    """The sample HAM10000-format set as the rows the augment stage leaves: images, pairs, captions."""
    con = connect(path)
    rows = sample_corpus_rows()
    insert_rows(con, "preprocess_images", [{"image_id": r.image_id, "path": str(r.image_path), "width": 64,
                                            "height": 64, "ext": ".jpg", "bytes": 1}
                                           for r in rows])  # fmt: skip
    insert_rows(con, "pair_image_texts", [{
        "pair_id": r.pair_id, "unit_key": r.pair_id, "run_id": "r", "item_id": r.group_id,
        "image_id": r.image_id, "source_image_id": r.image_id, "cluster_id": "", "kind": "dataset_label",
        "source": "derm_sample", "source_type": "dataset", "text": r.captions["raw"], "align_score": 1.0,
    } for r in rows])  # fmt: skip
    insert_rows(con, "augment_captions", [{
        "pair_id": r.pair_id, "unit_key": r.pair_id, "run_id": "r", "method": "lexical",
        "ontology_version": "t", "caption": r.captions["raw"], "truncated_caption": r.caption,
        "refined_caption": r.caption, "ontology_caption": r.captions["ontology"],
        "concept_caption": r.captions["concept"], "disease_label": r.disease_label,
        "hierarchical_disease_label": r.disease_label, "skin_concept": "", "body_location": "",
        "symptoms": "", "age": "", "gender": "", "skin_tone": "",
    } for r in rows])  # fmt: skip
    con.close()


def write_profile(root: Path, recipe: dict[str, Any] | str) -> Path:
    profile = root / "profile.yaml"
    train = {"val_fraction": 0.25, "recipe": recipe}
    profile.write_text(yaml.safe_dump({"root": ".", "warehouse": "wh.duckdb", "data_dir": "data",
                                       "train": train, "export": {"release": "private"}}))  # no source items: no licence
    return profile


Calls = list[tuple[Recipe, Path, Path]]  # trainer.train's (recipe, export_dir, out_dir), call by call


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """Every call of pipeline.train.trainer.train, which still runs."""
    calls: Calls = []
    real = trainer_module.train

    def train(recipe: Recipe, export_dir: Path, out_dir: Path, resume: str | None = None) -> Any:
        calls.append((recipe, Path(export_dir), Path(out_dir)))
        return real(recipe, export_dir, out_dir, resume)

    monkeypatch.setattr(trainer_module, "train", train)
    return calls


def test_build_stage_and_cli_run_the_same_trainer(tmp_path: Path, spy: Calls) -> None:
    profile = write_profile(tmp_path, RECIPE)
    cfg = load_config(profile)
    write_warehouse(cfg.warehouse)
    con = connect(cfg.warehouse)
    report = run_stage(con, TrainStage(cfg), "run-1")
    assert (report.status, report.items_out) == ("ok", len(sample_corpus_rows()))  # a train_splits row a pair
    run_id, epochs, ckpt = con.execute("SELECT train_run_id, epochs, checkpoint FROM train_runs").fetchone()
    losses = con.execute("SELECT loss FROM train_epochs ORDER BY epoch").fetchall()
    stage_metrics = {(s, e, m): v for s, e, m, v in con.execute(
        "SELECT model_state, split, metric, value FROM train_metrics").fetchall()}  # fmt: skip
    con.close()
    assert len(spy) == 1 and epochs == len(losses) == RECIPE["epochs"]

    assert derm1m(["--config", str(profile), "export", "--out", str(tmp_path / "cli_export")]) == 0
    assert derm1m(["--config", str(profile), "train", "--export", str(tmp_path / "cli_export"),
                   "--out", str(tmp_path / "cli_run")]) == 0  # fmt: skip
    assert len(spy) == 2
    (stage_recipe, stage_export, stage_out), (cli_recipe, cli_export, cli_out) = spy
    assert stage_recipe == cli_recipe == Recipe(**RECIPE)
    assert Path(ckpt) == stage_out / "checkpoint.pt"

    # the same export: CSVs, captions and shards byte for byte
    for rel in ("train.csv", "validation.csv", "train_captions.json", "validation_captions.json",
                "shards/train-000000.tar", "shards/validation-000000.tar"):
        assert (stage_export / rel).read_bytes() == (cli_export / rel).read_bytes(), rel
    # the same run folder layout and checkpoint format, and the same weights
    def files(d: Path) -> set[str]:
        return {str(p.relative_to(d)) for p in d.rglob("*") if p.is_file()}

    assert files(stage_out) == files(cli_out) >= {"checkpoint.pt", "train_log.jsonl", "train_summary.json",
                                                  "eval_metrics.json", "report.md"}  # fmt: skip
    steps = sorted((stage_out / "checkpoints").glob("step-*.pt"))
    assert steps and [p.name for p in steps] == sorted(p.name for p in cli_out.glob("checkpoints/step-*.pt"))
    a, b = (torch.load(d / "checkpoints" / steps[-1].name, map_location="cpu", weights_only=False)
            for d in (stage_out, cli_out))  # fmt: skip
    assert set(a) == set(b) == {"model", "optimizer", "scheduler", "step", "epoch", "rng", "meta"}
    wa, wb = torch.load(stage_out / "checkpoint.pt"), torch.load(cli_out / "checkpoint.pt")
    assert set(wa) == set(wb) and "logit_scale" in wa
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], msg=name)
    # the same evaluation: the warehouse's train_metrics are the CLI's eval_metrics.json
    cli_metrics = json.loads((cli_out / "eval_metrics.json").read_text())["metrics"]
    assert stage_metrics == pytest.approx({(s, e, m): v for s, by_set in cli_metrics.items()
                                           for e, ms in by_set.items() for m, v in ms.items()})  # fmt: skip
    assert {"trained", "untrained"} == {s for s, _, _ in stage_metrics}
    assert run_id.endswith("-DermMicro")


def test_profiles_name_one_recipe_schema(tmp_path: Path) -> None:
    """The sample profile holds the tiny recipe inline; the full profile names DermLIP's recipe file; both
    are Recipes, and an unknown recipe field fails the profile's loading, before anything runs."""
    sample = profile_recipe(load_config(REPO / "configs" / "sample.yaml"))
    assert (sample.model, sample.device, sample.global_batch_size, sample.micro_batch_size) == (
        "DermTiny", "cpu", 16, 8)
    full = load_config(REPO / "configs" / "derm1m.yaml")
    assert full.train.recipe == REPO / "configs" / "train_dermlip.yaml"  # resolved against the profile root
    assert profile_recipe(full).model == "ViT-B-16" and profile_recipe(full, epochs=1).epochs == 1
    with pytest.raises(ConfigError, match="lerning_rate"):  # when the profile loads, before any stage runs
        load_config(write_profile(tmp_path, RECIPE | {"lerning_rate": 1}))
    named = tmp_path / "recipe.yaml"
    named.write_text(yaml.safe_dump(RECIPE))
    by_path = load_config(write_profile(tmp_path, "recipe.yaml"))
    assert profile_recipe(by_path) == Recipe(**RECIPE)
    before = TrainStage(by_path).config_hash
    named.write_text(yaml.safe_dump(RECIPE | {"epochs": 3}))
    assert TrainStage(by_path).config_hash != before  # editing the named file retrains
