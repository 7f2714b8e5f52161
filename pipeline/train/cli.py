"""Standalone training application: ``python -m pipeline.train.cli {train,evaluate}`` (torchrun-ready).

Why apart from the pipeline stage: open_clip keeps its library apart from its training app, and so do
we - the stage trains a tiny model inside a build, while a DermLIP run is hours on GPUs, launched by hand
(``make train-gpu`` or ``torchrun --nproc_per_node N -m pipeline.train.cli train ...``) on an export the
build wrote. Profiles are YAML with a ``train:`` section (the Recipe) and an optional ``eval:`` section
(external sets, ontology, pretrained checkpoints to compare).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from pipeline.train.recipe import RecipeError, load_recipe

__all__ = ["main"]


def _eval_section(profile: Path | None) -> dict[str, Any]:
    if profile is None:
        return {}
    raw = yaml.safe_load(profile.read_text(encoding="utf-8")) or {}
    section = raw.get("eval", {}) if isinstance(raw, dict) else {}
    return section if isinstance(section, dict) else {}


def _external(arg: str) -> dict[str, str]:
    """``name:layout:path[:image_dir]`` -> an eval-set mapping."""
    parts = arg.split(":")
    if len(parts) not in (3, 4):
        raise argparse.ArgumentTypeError(f"expected name:layout:path[:image_dir], got {arg!r}")
    return dict(zip(("name", "layout", "path", "image_dir"), parts, strict=False))


def _train(args: argparse.Namespace) -> int:
    from pipeline.train.trainer import train

    recipe = load_recipe(args.profile, device=args.device, max_steps=args.max_steps, epochs=args.epochs)
    summary = train(recipe, args.export, args.out, args.resume)
    if int(os.environ.get("RANK", 0)) == 0:
        facts = asdict(summary) | {"checkpoint": str(summary.checkpoint), "model": recipe.model}
        facts["step_losses"] = summary.step_losses[-5:]
        (Path(args.out) / "train_summary.json").write_text(json.dumps(facts, indent=1))
        print(json.dumps({k: facts[k] for k in ("start_step", "end_step", "total_steps", "images_per_s",
                                                "peak_memory_bytes", "device", "checkpoint")}))  # fmt: skip
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from pipeline.train.report import write_report
    from pipeline.train.suite import EvalSetSpec, ModelSpec, run_suite

    section = _eval_section(args.profile)
    recipe = load_recipe(args.profile)
    model = args.model or recipe.model
    models = [ModelSpec("untrained", model, None, recipe.seed)]
    if args.checkpoint:
        models.insert(0, ModelSpec("trained", model, Path(args.checkpoint), recipe.seed))
    for item in section.get("pretrained", []) + [dict(zip(("name", "model", "checkpoint"), p.split(":", 2),
                                                          strict=False)) for p in args.pretrained]:  # fmt: skip
        models.append(ModelSpec(f"pretrained:{item['name']}", item["model"], Path(item["checkpoint"])))
    sets = [EvalSetSpec(s["name"], s["layout"], Path(s["path"]), Path(s["image_dir"]) if s.get("image_dir") else None)
            for s in section.get("external", []) + args.external]  # fmt: skip
    ontology = args.ontology or section.get("ontology")
    result = run_suite(models, args.export, sets, Path(ontology) if ontology else None,
                       int(section.get("dedup_max_distance", 6)), args.device_eval, recipe.seed)  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result.write_json(out / "eval_metrics.json")
    report = write_report(out / "report.md", result, f"DermLIP evaluation of {args.export}")
    print(report)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="derm1m-train", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train a CLIP on an export's WebDataset shards")
    tr.add_argument("--profile", type=Path, help="training profile YAML (configs/train_*.yaml)")
    tr.add_argument("--export", type=Path, required=True, help="export folder (with shards/)")
    tr.add_argument("--out", type=Path, required=True, help="run folder: checkpoints, logs")
    tr.add_argument("--resume", help="'latest' or a checkpoint path")
    tr.add_argument("--device", choices=["auto", "cpu", "cuda"])
    tr.add_argument("--max-steps", type=int)
    tr.add_argument("--epochs", type=int)
    ev = sub.add_parser("evaluate", help="zero-shot / retrieval / probe / concept evaluation + report")
    ev.add_argument("--profile", type=Path)
    ev.add_argument("--export", type=Path, required=True)
    ev.add_argument("--out", type=Path, required=True)
    ev.add_argument("--model", help="open_clip model name (default: the profile's)")
    ev.add_argument("--checkpoint", type=Path, help="trained weights (a plain state_dict)")
    ev.add_argument("--pretrained", action="append", default=[], help="name:model:local_checkpoint (repeatable)")
    ev.add_argument("--external", action="append", default=[], type=_external,
                    help="name:layout:path[:image_dir] (layouts: ham10000, pad-ufes-20, fitzpatrick17k, derm7pt, "
                         "csv, folder, daffodil, isic-json)")  # fmt: skip
    ev.add_argument("--ontology", type=Path, help="Derm1M ontology.json for parent-aware class prompts")
    ev.add_argument("--device-eval", default="cpu")
    args = parser.parse_args(argv)
    try:
        return _train(args) if args.command == "train" else _evaluate(args)
    except (RecipeError, FileNotFoundError, FileExistsError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
