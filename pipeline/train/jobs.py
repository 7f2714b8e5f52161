"""The jobs the build's train stage and the ``derm1m export`` / ``derm1m train`` commands share.

Why one module for both: a sample build on two CPU cores and a DermLIP run on GPUs must differ only in
their recipe and their data, not in code. So both read the recipe from the run profile's ``train.recipe``,
export the warehouse with ``export_corpus``, train with ``pipeline.train.trainer.train`` (checkpoints,
resume, gradient caching, DDP under torchrun) and evaluate its checkpoint with the suite
(pipeline/train/suite.py), here. The stage adds only the warehouse rows; the commands only their flags.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb

from pipeline import storage
from pipeline.config import RunConfig, TrainConfig
from pipeline.train import trainer
from pipeline.train.clip_data import read_rows
from pipeline.train.export import ExportManifest, ExportRow, assign_splits, write_export
from pipeline.train.external import LeakCheck, LeakCount, remove_eval_leaks, write_leaks
from pipeline.train.placement import check_cpu
from pipeline.train.recipe import Recipe, load_recipe
from pipeline.train.release import Exclusion, ReleasePolicy, provenance
from pipeline.train.report import write_report
from pipeline.train.suite import NO_DIAGNOSIS, EvalSetSpec, ModelSpec, SuiteResult, run_suite

__all__ = [
    "CorpusExport", "TrainRun", "corpus_rows", "drop_repeated_pairs", "epoch_losses", "export_classes", "export_corpus",
    "leak_check",
    "profile_recipe", "train_and_evaluate",
]  # fmt: skip

_EXPORT_SQL = """
SELECT p.pair_id, p.image_id, p.source_image_id, pi.path AS image_path, p.item_id AS group_id, p.cluster_id, p.source,
       p.source_type, a.caption, a.refined_caption, a.truncated_caption, a.ontology_caption,
       a.concept_caption, a.disease_label, a.hierarchical_disease_label, a.skin_concept, a.body_location,
       a.symptoms, a.age, a.gender, v.* EXCLUDE (pair_id)
FROM pair_image_texts p
JOIN augment_captions a USING (pair_id)
JOIN preprocess_images pi ON pi.image_id = p.image_id
LEFT JOIN v_export_provenance v USING (pair_id)
ORDER BY p.pair_id
"""


def profile_recipe(cfg: RunConfig, **overrides: Any) -> Recipe:
    """The profile's ``train.recipe``: inline, or the recipe YAML it names (relative to the profile root)."""
    source = cfg.train.recipe
    if isinstance(source, Path):
        return load_recipe(source if source.is_absolute() else cfg.root / source, **overrides)
    return load_recipe(source.model_dump(), **overrides)


def corpus_rows(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every pair with its augmented captions and labels and its stored image: what an export holds."""
    cur = con.execute(_EXPORT_SQL)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


@dataclass
class CorpusExport:
    manifest: ExportManifest
    rows: list[ExportRow]
    splits: dict[str, str]  # pair_id -> train | validation
    leaks: list[LeakCount] | None = None  # per evaluation set, the pairs left out (None: not checked)
    exclusions: list[Exclusion] | None = None  # every pair left out: licence_excluded, eval_leak


def leak_check(cfg: RunConfig) -> LeakCheck:
    """The profile's evaluation sets at the clean stage's near-duplicate thresholds."""
    return LeakCheck(tuple(_eval_sets(cfg)), (cfg.clean.phash_max_distance, cfg.clean.dedup_max_distance))


def drop_repeated_pairs(rows: list[ExportRow]) -> tuple[list[ExportRow], list[Exclusion]]:
    """One row per (image, caption): two dataset rows of the same picture with the same generated description,
    or a figure reused with its caption, would be one training pair counted twice. The first pair id stays;
    the others are `repeated_pair` exclusions naming it."""
    first: dict[tuple[str, str], str] = {}
    kept: list[ExportRow] = []
    dropped: list[Exclusion] = []
    for row in sorted(rows, key=lambda r: r.pair_id):
        key = (row.image_id, " ".join(row.caption.split()).lower())
        if key in first:
            dropped.append(Exclusion(row.pair_id, row.group_id, row.source, row.licence, "repeated_pair",
                                     f"same image and caption as {first[key]}"))  # fmt: skip
        else:
            first[key] = row.pair_id
            kept.append(row)
    return kept, dropped


def export_corpus(
    rows: list[dict[str, Any]], cfg: TrainConfig, out_dir: Path, leaks: LeakCheck | None = None,
    release: ReleasePolicy | None = None,
) -> CorpusExport:  # fmt: skip
    """``corpus_rows`` as a Derm1M-format export in out_dir, split leak-free by the profile's settings;
    with ``leaks``, without the pairs whose image is a near-duplicate of an evaluation image; gated by the
    ``release`` policy (the build and `derm1m export` pass the profile's; None: no gate, as `private`). The
    split is drawn over every pair before the gate, so a pair keeps its side whatever the profile, and
    rehydrated pairs join on the same side."""
    release = release or ReleasePolicy("private")
    export_rows = [_export_row(r) for r in rows]
    release.label(export_rows)
    counts = None
    export_rows, exclusions = drop_repeated_pairs(export_rows)
    if leaks is not None and leaks.sets:
        before = export_rows
        export_rows, counts = remove_eval_leaks(export_rows, leaks)
        kept_ids = {r.pair_id for r in export_rows}
        exclusions += [Exclusion(r.pair_id, r.group_id, r.source, r.licence, "eval_leak",
                                 "near-duplicate of an evaluation image")
                       for r in before if r.pair_id not in kept_ids]  # fmt: skip
    splits = assign_splits(export_rows, cfg.val_fraction, cfg.split_seed)
    kept, gated = release.gate(export_rows)
    exclusions += gated
    gated_ids = {e.pair_id for e in gated}
    manifest = write_export(kept, splits, out_dir, cfg.shard_size, release=release,
                            excluded=[r for r in export_rows if r.pair_id in gated_ids], exclusions=exclusions)  # fmt: skip
    export = CorpusExport(manifest, kept, {r.pair_id: splits[r.pair_id] for r in kept}, counts, exclusions)
    if leaks is not None and counts is not None:
        write_leaks(out_dir, leaks, counts)
    return export


def _location(path: str) -> storage.Location:
    """A stored image's path as the warehouse holds it: a URL stays a string, a local path becomes a Path."""
    return path if storage.is_remote(path) else Path(path)


def _export_row(r: dict[str, Any]) -> ExportRow:
    captions = {"raw": r["caption"], "refined": r["refined_caption"], "ontology": r["ontology_caption"],
                "concept": r["concept_caption"]}  # fmt: skip
    return ExportRow(
        pair_id=r["pair_id"], image_id=r["image_id"], image_path=_location(r["image_path"]),
        group_id=r["group_id"], cluster_id=r["cluster_id"], caption=r["refined_caption"],
        truncated_caption=r["truncated_caption"],
        source=r["source"], source_type=r["source_type"], disease_label=r["disease_label"],
        hierarchical_disease_label=r["hierarchical_disease_label"], skin_concept=r["skin_concept"],
        body_location=r["body_location"], symptoms=r["symptoms"], age=r["age"], gender=r["gender"],
        captions={k: v for k, v in captions.items() if v},
        **provenance(r), source_file=r.get("source_file") or "", source_image_id=r.get("source_image_id") or "",
    )  # fmt: skip


def export_classes(export_dir: Path) -> list[str]:
    """Zero-shot classes: every diagnosis in the export, so a class absent from validation still competes."""
    labels = {r["disease_label"] for split in ("train", "validation")
              for r in read_rows(Path(export_dir) / f"{split}.csv")}  # fmt: skip
    return sorted(label for label in labels if label and label != NO_DIAGNOSIS)


def epoch_losses(out_dir: Path) -> list[float]:
    """Mean loss per epoch of the whole run from ``train_log.jsonl``, resumed parts included. A step
    logged twice (a crash after the log line, before its checkpoint) counts as its last run."""
    by_step: dict[int, tuple[int, float]] = {}
    log = Path(out_dir) / "train_log.jsonl"
    if log.is_file():
        for line in log.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            by_step[int(entry["step"])] = (int(entry["epoch"]), float(entry["loss"]))
    by_epoch: dict[int, list[float]] = {}
    for epoch, loss in by_step.values():
        by_epoch.setdefault(epoch, []).append(loss)
    return [sum(v) / len(v) for _, v in sorted(by_epoch.items())]


@dataclass
class TrainRun:
    """One ``train_and_evaluate``: the recipe, the trainer's summary, per-epoch losses and the suite's
    result (None on ranks other than 0, or when evaluation was not asked for)."""

    recipe: Recipe
    summary: trainer.TrainSummary
    epoch_losses: list[float]
    suite: SuiteResult | None = None


def _models(cfg: RunConfig, recipe: Recipe, checkpoint: Path) -> list[ModelSpec]:
    """Trained, its starting point ("untrained": the seeded init, or the recipe's pretrained weights) and
    the profile's local pretrained checkpoints, evaluated alike."""
    start = Path(recipe.pretrained) if recipe.pretrained else None
    models = [ModelSpec("trained", recipe.model, checkpoint, recipe.seed),
              ModelSpec("untrained", recipe.model, start, recipe.seed)]  # fmt: skip
    return models + [ModelSpec(f"pretrained:{p['name']}", p["model"], cfg.root / p["checkpoint"])
                     for p in cfg.train.eval_pretrained]  # fmt: skip


def _eval_sets(cfg: RunConfig) -> list[EvalSetSpec]:
    root = cfg.root
    return [EvalSetSpec(s["name"], s["layout"], root / s["path"],
                        root / s["image_dir"] if s.get("image_dir") else None)
            for s in cfg.train.eval_sets]  # fmt: skip


def train_and_evaluate(
    cfg: RunConfig, export_dir: Path, out_dir: Path, resume: str | None = None, evaluate: bool = True,
    title: str | None = None, recipe: Recipe | None = None, force_cpu: bool = False, **overrides: Any,
) -> TrainRun:  # fmt: skip
    """Train the profile's recipe (plus overrides), or `recipe` when given, on export_dir into out_dir, then
    evaluate on rank 0. A GPU-class recipe bound for the CPU raises placement.CpuRefused unless `force_cpu`
    (which also sets the device to cpu).

    out_dir gets checkpoints/, checkpoint.pt (a plain state_dict), train_log.jsonl, train_summary.json
    and, when the profile's ``train.report`` is on, eval_metrics.json and report.md. ``resume`` as in
    ``trainer.train``: None refuses an out_dir with checkpoints, "latest" continues the newest one.
    """
    if force_cpu:
        overrides["device"] = "cpu"
    recipe = recipe or profile_recipe(cfg, **overrides)
    check_cpu(recipe, force_cpu)
    summary = trainer.train(recipe, Path(export_dir), Path(out_dir), resume)
    if int(os.environ.get("RANK", 0)) != 0:
        return TrainRun(recipe, summary, [])
    facts = asdict(summary) | {"checkpoint": str(summary.checkpoint), "model": recipe.model}
    facts["step_losses"] = summary.step_losses[-5:]
    (Path(out_dir) / "train_summary.json").write_text(json.dumps(facts, indent=1))
    run = TrainRun(recipe, summary, epoch_losses(out_dir))
    if not evaluate:
        return run
    train = cfg.train
    ontology = cfg.root / train.eval_ontology if train.eval_ontology else None
    eval_device = "cuda" if summary.device.startswith("cuda") else "cpu"  # evaluate where it trained
    run.suite = run_suite(_models(cfg, recipe, summary.checkpoint), Path(export_dir), _eval_sets(cfg),
                          ontology, leak_check(cfg).thresholds, seed=recipe.seed,
                          classes=export_classes(export_dir), device=eval_device)  # fmt: skip
    if train.report:
        run.suite.write_json(Path(out_dir) / "eval_metrics.json")
        shown = ("model", "end_step", "total_steps", "n_train_images", "images_per_s", "device", "world_size")
        title = title or f"{recipe.model} on {export_dir}"
        write_report(Path(out_dir) / "report.md", run.suite, title, {k: facts[k] for k in shown})
    return run
