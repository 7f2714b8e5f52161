"""Stage 6, train: export the corpus in Derm1M's format, split it, train and evaluate a CLIP on it.

The whole corpus is one work unit, fingerprinted by every exported row and the train config: an unchanged
corpus is not retrained, and any change to a caption, label or image gives a new export and a new model.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from pipeline import storage
from pipeline.hashing import fingerprint
from pipeline.stage import Stage, UnitResult, WorkUnit
from pipeline.warehouse import now

NO_DIAGNOSIS = "no definitive diagnosis"
_EXPORT_SQL = """
SELECT p.pair_id, p.image_id, pi.path AS image_path, p.item_id AS group_id, p.cluster_id, p.source,
       p.source_type, a.caption, a.refined_caption, a.truncated_caption, a.ontology_caption, a.concept_caption,
       a.disease_label, a.hierarchical_disease_label, a.skin_concept, a.body_location, a.symptoms, a.age, a.gender
FROM pair_image_texts p
JOIN augment_captions a USING (pair_id)
JOIN preprocess_images pi ON pi.image_id = p.image_id
ORDER BY p.pair_id
"""


class TrainStage(Stage):
    name = "train"
    main_table = "train_splits"
    unit_tables = ("train_exports", "train_splits", "train_runs", "train_epochs", "train_metrics", "train_eval_sets")

    def candidates(self, con: duckdb.DuckDBPyConnection) -> Iterator[WorkUnit]:
        if not self.cfg.train.enabled:
            return
        cur = con.execute(_EXPORT_SQL)
        cols = [d[0] for d in cur.description]
        rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
        if rows:
            yield WorkUnit("export", fingerprint(rows, self.config_hash), {"rows": rows})

    def process(self, unit: WorkUnit) -> UnitResult:
        from pipeline.train.clip import ClipTrainSettings, train_clip
        from pipeline.train.export import ExportRow, assign_splits, write_export

        cfg, res = self.cfg.train, UnitResult(unit.key, unit.fingerprint)
        export_id = unit.fingerprint[:16]
        rows = [_export_row(r, ExportRow) for r in unit.payload["rows"]]
        splits = assign_splits(rows, cfg.val_fraction, cfg.seed)
        out_dir = self.cfg.data_dir / "export"
        manifest = write_export(rows, splits, out_dir, cfg.shard_size)
        filenames = manifest.filenames
        res.add("train_exports", {"export_id": export_id, "out_dir": str(out_dir),
                                  "n_train": manifest.n_rows.get("train", 0),
                                  "n_validation": manifest.n_rows.get("validation", 0),
                                  "n_images": manifest.n_images, "n_shards": len(manifest.shards),
                                  "created_at": now()})
        for r in rows:
            res.add("train_splits", {"export_id": export_id, "pair_id": r.pair_id, "split": splits[r.pair_id],
                                     "filename": filenames[r.pair_id], "group_id": r.group_id,
                                     "cluster_id": r.cluster_id})
        settings = ClipTrainSettings(model=cfg.model, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                                     weight_decay=cfg.weight_decay, seed=cfg.seed, threads=cfg.threads)
        train_dir = self.cfg.data_dir / "train" / export_id
        result = train_clip(manifest.csv_paths["train"], out_dir, settings, train_dir,
                            manifest.captions_json.get("train"))
        run_id = f"{export_id}-{cfg.model}"
        res.add("train_runs", {"train_run_id": run_id, "export_id": export_id, "model": cfg.model,
                               "epochs": cfg.epochs, "batch_size": cfg.batch_size, "lr": cfg.lr,
                               "n_train": result.n_train, "n_params": result.n_params, "seconds": result.seconds,
                               "images_per_s": result.images_per_s, "checkpoint": str(result.checkpoint)})
        for epoch, loss in enumerate(result.epoch_losses, 1):
            res.add("train_epochs", {"train_run_id": run_id, "epoch": epoch, "loss": loss})
        classes = sorted({r.disease_label for r in rows if r.disease_label and r.disease_label != NO_DIAGNOSIS})
        self._evaluate(res, run_id, result.checkpoint, out_dir, classes, train_dir)
        return res

    def _evaluate(self, res: UnitResult, run_id: str, checkpoint: Path, export_dir: Path, classes: list[str],
                  train_dir: Path) -> None:
        """The evaluation suite (validation + configured external sets; trained, untrained and any local
        pretrained checkpoints) into train_metrics / train_eval_sets, and a markdown report."""
        from pipeline.train.report import write_report
        from pipeline.train.suite import EvalSetSpec, ModelSpec, run_suite

        cfg, root = self.cfg.train, self.cfg.root
        models = [ModelSpec("trained", cfg.model, checkpoint, cfg.seed), ModelSpec("untrained", cfg.model, None, cfg.seed)]
        models += [ModelSpec(f"pretrained:{p['name']}", p["model"], root / p["checkpoint"]) for p in cfg.eval_pretrained]
        sets = [EvalSetSpec(s["name"], s["layout"], root / s["path"], root / s["image_dir"] if s.get("image_dir") else None)
                for s in cfg.eval_sets]
        suite = run_suite(models, export_dir, sets, root / cfg.eval_ontology if cfg.eval_ontology else None,
                          cfg.eval_dedup_max_distance, seed=cfg.seed, classes=classes)
        for state, eval_set, metric, value in suite.rows():
            res.add("train_metrics", {"train_run_id": run_id, "model_state": state, "split": eval_set,
                                      "metric": metric, "value": float(value)})
        for s in suite.sets:
            res.add("train_eval_sets", {"train_run_id": run_id, "eval_set": s.eval_set, "layout": s.layout,
                                        "n_images": s.n_images, "n_classes": s.n_classes, "n_missing": s.n_missing,
                                        "n_unreadable": s.n_unreadable,
                                        "n_duplicates_removed": s.n_duplicates_removed})
        if cfg.report:
            suite.write_json(train_dir / "eval_metrics.json")
            write_report(train_dir / "report.md", suite, f"Validation model {run_id}")



def _location(path: str) -> storage.Location:
    """A stored image's path as the warehouse holds it: a URL stays a string, a local path becomes a Path."""
    return path if storage.is_remote(path) else Path(path)

def _export_row(r: dict[str, Any], cls: Any) -> Any:
    captions = {"raw": r["caption"], "refined": r["refined_caption"], "ontology": r["ontology_caption"],
                "concept": r["concept_caption"]}
    return cls(
        pair_id=r["pair_id"], image_id=r["image_id"], image_path=_location(r["image_path"]), group_id=r["group_id"],
        cluster_id=r["cluster_id"], caption=r["refined_caption"], truncated_caption=r["truncated_caption"],
        source=r["source"], source_type=r["source_type"], disease_label=r["disease_label"],
        hierarchical_disease_label=r["hierarchical_disease_label"], skin_concept=r["skin_concept"],
        body_location=r["body_location"], symptoms=r["symptoms"], age=r["age"], gender=r["gender"],
        captions={k: v for k, v in captions.items() if v},
    )
