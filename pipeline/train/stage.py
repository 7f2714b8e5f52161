"""Stage 6, train: export the corpus in Derm1M's format, split it, train and evaluate a CLIP on it.

The whole corpus is one work unit, fingerprinted by every exported row and the train config, the recipe it
names included: an unchanged corpus is not retrained, and any change to a caption, label, image or recipe
gives a new export and a new model. Training and evaluation are pipeline/train/jobs.py's, the code
``derm1m train`` runs; the stage only turns their results into warehouse rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import duckdb

from pipeline.config import output_settings
from pipeline.hashing import fingerprint
from pipeline.stage import Stage, UnitKind, UnitResult, WorkUnit
from pipeline.train.jobs import corpus_rows, export_corpus, leak_check, profile_recipe, train_and_evaluate
from pipeline.train.placement import Placement, place
from pipeline.train.release import ReleasePolicy
from pipeline.warehouse import now

log = logging.getLogger(__name__)


class TrainStage(Stage):
    name = "train"
    main_table = "train_splits"
    unit_tables = ("train_exports", "train_splits", "train_runs", "train_epochs", "train_metrics", "train_eval_sets",
                   "train_export_exclusions")  # fmt: skip

    def unit_kinds(self) -> dict[str, UnitKind]:
        """The train section, and the clean stage's near-duplicate thresholds: the export leaves out the
        pairs that leak into an evaluation set at those thresholds (pipeline/train/external.py); the release
        profile and stated licences (`export`, pipeline/train/release.py) decide which pairs go out."""
        return {"export": UnitKind(("train", "export", "clean.phash_max_distance", "clean.dedup_max_distance"),
                                   ("eval_leaks@1", "repeated_pairs@1"))}  # fmt: skip

    def placement(self) -> Placement:
        """The recipe this machine trains (pipeline/train/placement.py): the profile's, the tiny CPU one in
        place of a GPU-class recipe without CUDA (`train.cpu_fallback: tiny`), or none (`skip`)."""
        return place(profile_recipe(self.cfg), self.cfg.train.cpu_fallback)

    @property
    def config_hash(self) -> str:
        """The train section's hash with the recipe it trains read in: a recipe file named by path is part
        of the config, an invalid recipe fails here, before the export, and a tiny CPU stand-in trained now
        does not count as the GPU recipe's run later."""
        recipe = self.placement().recipe or profile_recipe(self.cfg)
        return fingerprint(super().config_hash, output_settings(recipe))

    def device(self) -> str:
        return self.placement().device

    def notes(self) -> str | None:
        return self.placement().note if self.cfg.train.enabled else None

    def resources(self, unit: WorkUnit) -> tuple[str, ...]:
        """`gpu` only when the recipe trains on CUDA (`device: cuda`, or `auto` with a GPU visible)."""
        return ("gpu",) if self.device() == "cuda" else ()

    def candidates(self, con: duckdb.DuckDBPyConnection) -> Iterator[WorkUnit]:
        if not self.cfg.train.enabled:
            return
        placement = self.placement()
        if placement.recipe is None:  # no unit: the corpus stays untrained (pending) until a GPU run
            log.warning("train: %s", placement.note)
            return
        rows = corpus_rows(con)
        if rows:
            yield WorkUnit("export", fingerprint(rows, self.config_hash), {"rows": rows})

    def process(self, unit: WorkUnit) -> UnitResult:
        res = UnitResult(unit.key, unit.fingerprint)
        export_id = unit.fingerprint[:16]
        export = export_corpus(unit.payload["rows"], self.cfg.train, self.cfg.data_dir / "export", leak_check(self.cfg),
                               ReleasePolicy.from_config(self.cfg))  # fmt: skip
        manifest = export.manifest
        for x in export.exclusions or []:
            res.add("train_export_exclusions", {"export_id": export_id, "pair_id": x.pair_id, "item_id": x.item_id,
                                                "source": x.source, "licence": x.licence, "reason": x.reason,
                                                "detail": x.detail})  # fmt: skip
        res.add("train_exports", {"export_id": export_id, "out_dir": str(manifest.out_dir),
                                  "n_train": manifest.n_rows.get("train", 0),
                                  "n_validation": manifest.n_rows.get("validation", 0),
                                  "n_images": manifest.n_images, "n_shards": len(manifest.shards),
                                  "release": manifest.release, "n_excluded": len(export.exclusions or []),
                                  "created_at": now()})  # fmt: skip
        for r in export.rows:
            res.add("train_splits", {"export_id": export_id, "pair_id": r.pair_id,
                                     "split": export.splits[r.pair_id],
                                     "filename": manifest.filenames[r.pair_id], "group_id": r.group_id,
                                     "cluster_id": r.cluster_id})  # fmt: skip
        if not manifest.n_rows.get("train") or not manifest.n_rows.get("validation"):
            # the release profile (or a tiny corpus) left a split empty: the export stands, no model is trained
            res.reject(f"export:{export_id}", "nothing_to_train",
                       f"{manifest.n_rows} pairs per split; {len(export.exclusions or [])} left out "
                       f"({manifest.release} release)")  # fmt: skip
            return res
        recipe = self.placement().recipe or profile_recipe(self.cfg)
        run_id = f"{export_id}-{recipe.model}"
        # a build killed mid-training resumes from its last checkpoint: the folder is this unit's alone
        run = train_and_evaluate(self.cfg, manifest.out_dir, self.cfg.data_dir / "train" / export_id,
                                 resume="latest", title=f"Validation model {run_id}", recipe=recipe)  # fmt: skip
        s = run.summary
        res.add("train_runs", {"train_run_id": run_id, "export_id": export_id, "model": recipe.model,
                               "epochs": recipe.epochs, "batch_size": recipe.global_batch_size,
                               "lr": recipe.lr, "n_train": s.n_train_images, "n_params": s.n_params,
                               "seconds": s.seconds, "images_per_s": s.images_per_s,
                               "checkpoint": str(s.checkpoint)})  # fmt: skip
        for epoch, loss in enumerate(run.epoch_losses, 1):
            res.add("train_epochs", {"train_run_id": run_id, "epoch": epoch, "loss": loss})
        suite = run.suite
        if suite is None:
            raise RuntimeError("the train stage runs as one process; use derm1m train under torchrun")
        for state, eval_set, metric, value in suite.rows():
            res.add("train_metrics", {"train_run_id": run_id, "model_state": state, "split": eval_set,
                                      "metric": metric, "value": float(value)})  # fmt: skip
        for e in suite.sets:
            res.add("train_eval_sets", {"train_run_id": run_id, "eval_set": e.eval_set, "layout": e.layout,
                                        "n_images": e.n_images, "n_classes": e.n_classes,
                                        "n_missing": e.n_missing, "n_unreadable": e.n_unreadable,
                                        "n_duplicates_removed": e.n_duplicates_removed,
                                        "n_train_pairs_removed": e.n_train_pairs_removed,
                                        "n_train_images_removed": e.n_train_images_removed})  # fmt: skip
        return res
