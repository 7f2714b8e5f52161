"""`derm1m`: the command line. Make targets call it; each command is a thin shell over pipeline/ or flows/."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from flows.cli_labels import register as register_labels
from flows.cli_push import register as register_push
from flows.cli_release import register as register_release

DEFAULT_CONFIG = "configs/sample.yaml"


def _config_first(argv: list[str]) -> list[str]:
    """`--config X` (or `--config=X`) given after the subcommand moved before it, where argparse reads it:
    `derm1m build --config x.yaml` and `derm1m --config x.yaml build` mean the same."""
    out, moved, i = [], [], 0
    while i < len(argv):
        if argv[i] == "--config" and i + 1 < len(argv):
            moved += argv[i:i + 2]
            i += 2
            continue
        if argv[i].startswith("--config="):
            moved.append(argv[i])
        else:
            out.append(argv[i])
        i += 1
    return moved + out


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("derm1m-pipeline")
    except PackageNotFoundError:
        import pipeline

        return pipeline.__version__


def _prefect_env() -> None:
    """Quiet, offline-friendly Prefect defaults (telemetry off; warnings only) unless the user set them."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def cmd_build(args: argparse.Namespace) -> int:
    _prefect_env()
    from flows.stage_names import check_stages
    from pipeline.config import load_config

    stages = check_stages(args.stages)  # before Prefect starts: a typo costs no server start-up
    cfg = load_config(args.config)
    if args.warehouse:
        cfg.warehouse = Path(args.warehouse).resolve()
    if not cfg.warehouse.exists():  # a first build has work for the flow: its server boots during the imports
        from flows.runners import start_server_early

        start_server_early()
    from flows.build import build, summary

    if getattr(args, "runner", None):
        cfg.runner.kind = args.runner
    if getattr(args, "dask_workers", None):
        cfg.runner.n_workers = args.dask_workers
    progress = sys.stderr.isatty() if getattr(args, "progress", None) is None else args.progress
    reports = build(cfg, stages=stages, progress=progress)
    print(f"{'stage':<11}{'in':>6}{'out':>7}{'rejected':>10}{'skipped':>9}  status")
    for r in reports:
        print(f"{r['stage']:<11}{r['items_in']:>6}{r['items_out']:>7}{r['items_rejected']:>10}"
              f"{r['items_skipped']:>9}  {r['status']}")
    print(f"warehouse: {cfg.warehouse}")
    print(summary(cfg, None if args.config == DEFAULT_CONFIG else args.config))
    return build_exit_code(reports)


def build_exit_code(reports: list[dict[str, Any]]) -> int:
    """0 when every stage ended ok; 1, with one line per stage that did not, when units were left pending
    because an external service failed (a `degraded` stage run: the next build retries them)."""
    bad = [r for r in reports if r["status"] != "ok"]
    for r in bad:
        print(f"derm1m build: {r['stage']} {r['status']}: {r.get('error') or 'see stage_runs'}", file=sys.stderr)
    return 1 if bad else 0


def cmd_collect(args: argparse.Namespace) -> int:
    """Run the collect stage, or with --dry-run print what it would fetch and from where (no network;
    the warehouse is only read, for the cursors of finished search windows)."""
    if not args.dry_run:
        args.stages, args.warehouse = "collect", None
        return cmd_build(args)
    from pipeline.collect.stage import dry_run_plan
    from pipeline.config import load_config

    cfg = load_config(args.config)
    cursors: dict[str, dict[str, set[str]]] = {}
    if cfg.warehouse.exists():
        import duckdb

        from pipeline.warehouse import open_readonly

        con = open_readonly(cfg.warehouse)
        try:
            for source, key, value in con.execute("SELECT source, cursor_key, value FROM collect_cursors").fetchall():
                cursors.setdefault(source, {}).setdefault(key, set()).add(value)
        except duckdb.CatalogException:
            pass  # a warehouse from before migration 0009: no cursors yet
        finally:
            con.close()
    n = 0
    for line in dry_run_plan(cfg, cursors):
        print(line)
        n += 1
    print(f"# {n} planned unit(s); nothing was fetched (dry run)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Row counts and the last run's stage_runs; while a build holds the warehouse, the build's progress."""
    import json

    from pipeline.config import load_config
    from pipeline.warehouse import WarehouseUnavailable, count, open_readonly, progress_file, user_tables

    cfg = load_config(args.config)
    try:
        con = open_readonly(cfg.warehouse)
    except WarehouseUnavailable as exc:
        snap = progress_file(cfg.warehouse)
        if not snap.exists():
            raise
        print(f"derm1m status: {exc}")
        progress = json.loads(snap.read_text())
        print(f"build {progress['run_id']} (PID {progress['pid']}):")
        for r in progress["stages"]:
            done = (f"{r['units_done']}/{r['units']} units" if r["status"] == "running" else
                    f"in {r['items_in']} out {r['items_out']} rejected {r['items_rejected']} "
                    f"skipped {r['items_skipped']}")
            print(f"  {r['stage']:<11}{r['status']:<10}{done}")
        return 0
    try:
        for table in user_tables(con):
            print(f"{table:<34}{count(con, table):>8}")
        print()
        rows = con.execute(
            "SELECT stage, status, items_in, items_out, items_rejected, items_skipped FROM stage_runs "
            "WHERE run_id = (SELECT max(run_id) FROM stage_runs) ORDER BY started_at"
        ).fetchall()
        for row in rows:
            print(*row, sep="\t")
    finally:
        con.close()
    return 0


def cmd_label(args: argparse.Namespace) -> int:
    from pipeline.augment.label_csv import label_csv
    from pipeline.config import load_config

    cfg = load_config(args.config) if Path(args.config).exists() else None
    counts = label_csv(args.src, args.dst, args.method, cfg)
    print(f"labelled {counts['labelled']}/{counts['rows']} row(s) ({counts['with_diagnosis']} with a diagnosis, "
          f"{counts['errors']} error(s)) -> {args.dst}")
    return 0


def cmd_estimate(args: argparse.Namespace) -> int:
    """Tokens and USD (live, batch) of the LLM work the warehouse has pending, before sending any of it."""
    from pipeline.augment.estimate import estimate_lines
    from pipeline.config import load_config
    from pipeline.warehouse import open_readonly

    cfg = load_config(args.config)
    con = open_readonly(cfg.warehouse)
    try:
        print("\n".join(estimate_lines(con, cfg, args.pairs)))
    finally:
        con.close()
    return 0


def cmd_classify_images(args: argparse.Namespace) -> int:
    """One CSV row per image under DIR: its type, skin score and confidence from the chosen backend. When the
    images carry labels (--truth CSV, or folders named like a type or skin/non_skin) it also prints skin
    recall, non-skin rejection and the confusion table; --tones adds recall on darker-tone copies."""
    import csv

    from pipeline.config import ImageTypeConfig
    from pipeline.vision.classifier import make_classifier
    from pipeline.vision.image_type import ImageTypeResult, classify_folder
    from pipeline.vision.image_type_eval import labelled_report, read_truth_csv

    cfg = ImageTypeConfig(backend=args.backend, model_path=args.model_path, clip_model=args.clip_model,
                          object_gate=args.object_gate)
    try:
        truth = read_truth_csv(Path(args.truth)) if args.truth else None
    except (OSError, ValueError) as exc:
        print(f"classify-images: {exc}", file=sys.stderr)
        return 2
    clf = make_classifier(cfg)
    n = failed = 0
    classified: list[tuple[Path, ImageTypeResult | None]] = []
    with open(args.out, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "image_type", "skin_score", "confidence", "backend"])
        for path, res in classify_folder(Path(args.dir), clf):
            n += 1
            classified.append((path, res))
            if res is None:
                failed += 1
                writer.writerow([str(path), "", "", "", "unreadable"])
            else:
                writer.writerow([str(path), res.image_type, res.skin_score, res.confidence, res.backend])
    print(f"classified {n - failed}/{n} image(s) -> {args.out}")
    report = labelled_report(Path(args.dir), classified, clf, cfg.keep, truth, tones=args.tones)
    if report:
        print("\n".join(report))
    elif truth is not None:
        print("no image under DIR is named in the truth CSV")
    return 0


def cmd_train_image_classifier(args: argparse.Namespace) -> int:
    from pipeline.vision.image_type_backends import train_image_classifier

    path = train_image_classifier(Path(args.image_folder), Path(args.out_dir), epochs=args.epochs,
                                  max_steps=args.max_steps, batch_size=args.batch_size, lr=args.lr,
                                  image_size=args.image_size, init_weights=args.init_weights)
    print(f"checkpoint: {path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """The warehouse's pairs as a Derm1M-format export (CSVs, images, WebDataset shards with sizes.json,
    Parquet for `datasets` and its dataset card), split as the train stage splits them; the warehouse is
    only read."""
    from pipeline.config import load_config
    from pipeline.train.jobs import corpus_rows, export_corpus, leak_check
    from pipeline.train.release import ReleasePolicy
    from pipeline.warehouse import open_readonly

    cfg = load_config(args.config)
    con = open_readonly(cfg.warehouse)
    try:
        rows = corpus_rows(con)
    finally:
        con.close()
    if not rows:
        print(f"derm1m export: no captioned pairs in {cfg.warehouse}; run the build first", file=sys.stderr)
        return 2
    m = export_corpus(rows, cfg.train, Path(args.out) if args.out else cfg.data_dir / "export", leak_check(cfg),
                      ReleasePolicy.from_config(cfg)).manifest
    print(f"exported {m.n_rows.get('train', 0)} train + {m.n_rows.get('validation', 0)} validation pair(s), "
          f"{m.n_images} image(s), {len(m.shards)} shard(s), "
          f"{sum(len(v) for v in m.parquet.values())} Parquet file(s) + README.md card -> {m.out_dir}")
    left = [f"{n} {lic} ({reason})" for reason, by in m.excluded.items() for lic, n in by.items()]
    if left:  # what the release profile (and the dedup of repeated pairs) kept out, and where it is listed
        print(f"left out ({m.release} release): {', '.join(left)}"
              + (f"; listed in {m.reference}" if m.reference else ""))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train the profile's `train.recipe` on an export with the trainer the build's train stage runs, then
    evaluate the checkpoint on rank 0 (pipeline/train/jobs.py). Under torchrun every rank runs this."""
    import json

    from pipeline.config import load_config
    from pipeline.train.jobs import train_and_evaluate

    cfg = load_config(args.config)
    export = Path(args.export) if args.export else cfg.data_dir / "export"
    try:
        run = train_and_evaluate(cfg, export, Path(args.out), args.resume, evaluate=not args.no_eval,
                                 device=args.device, max_steps=args.max_steps, epochs=args.epochs,
                                 force_cpu=args.force_cpu)
    except (OSError, RuntimeError, ValueError) as exc:  # no CUDA, a GPU recipe on the CPU, no shards, ...
        print(f"derm1m train: {exc}", file=sys.stderr)
        return 2
    s = run.summary
    if os.environ.get("RANK", "0") == "0":
        print(json.dumps({"model": run.recipe.model, "start_step": s.start_step, "end_step": s.end_step,
                          "total_steps": s.total_steps, "images_per_s": round(s.images_per_s, 2),
                          "peak_memory_bytes": s.peak_memory_bytes, "device": s.device,
                          "checkpoint": str(s.checkpoint)}))
        if run.suite is not None and cfg.train.report:
            print(f"report: {Path(args.out) / 'report.md'}")
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    """One query, printed tab-separated; with no query, an interactive shell (flows/shell.py)."""
    import duckdb

    from flows.shell import print_result, repl
    from pipeline.config import load_config
    from pipeline.warehouse import open_readonly

    cfg = load_config(args.config)
    con = open_readonly(cfg.warehouse)
    try:
        if args.query is None:
            return repl(con, str(cfg.warehouse))
        try:
            cur = con.execute(args.query)
        except duckdb.Error as exc:  # a typo in the query: the database's own words, one line
            print(f"derm1m sql: {str(exc).splitlines()[0]}", file=sys.stderr)
            return 2
        print_result(cur)
    finally:
        con.close()
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """The HTML corpus report (pipeline/report/) from the warehouse: plots, rejects, throughput."""
    import time

    from pipeline.config import load_config
    from pipeline.report import write_report
    from pipeline.warehouse import open_readonly

    cfg = load_config(args.config)
    out = args.out or cfg.data_dir / "report.html"
    start = time.perf_counter()
    con = open_readonly(cfg.warehouse)
    try:
        write_report(con, out)
    finally:
        con.close()
    print(f"report: {out} ({time.perf_counter() - start:.1f} s)")
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    """Register the deployments (flows/deployments.py) with a process work pool on PREFECT_API_URL."""
    _prefect_env()
    from prefect.settings import PREFECT_API_URL

    from flows.deployments import deploy_all, ensure_concurrency_limits

    if not PREFECT_API_URL.value():
        print("derm1m deploy: PREFECT_API_URL is not set; start a server (make prefect-server) and set it, "
              "e.g. PREFECT_API_URL=http://127.0.0.1:4200/api (make deploy does)", file=sys.stderr)
        return 2
    url = str(PREFECT_API_URL.value())
    if not _server_answers(url):
        print(f"derm1m deploy: no Prefect server answers at {url}; start one (make prefect-server) or fix "
              "PREFECT_API_URL", file=sys.stderr)
        return 2
    names = deploy_all(pool=args.pool)
    limits = {} if args.no_limits else ensure_concurrency_limits()
    print(f"work pool {args.pool}: " + ", ".join(names))
    for tag, n in limits.items():
        print(f"concurrency limit {tag} = {n}")
    print(f"start a worker: prefect worker start --pool {args.pool}")
    return 0


def _server_answers(api_url: str, timeout_s: float = 3.0) -> bool:
    """Whether a Prefect API answers its health check (GET <api>/health)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(api_url.rstrip("/") + "/health", timeout=timeout_s) as resp:  # noqa: S310
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def cmd_serve(args: argparse.Namespace) -> int:
    """A scheduled deployment of the build flow (needs a Prefect server: `prefect server start`)."""
    _prefect_env()
    from flows.build import build_derm1m
    from pipeline.config import load_config

    cfg = load_config(args.config)
    build_derm1m.serve(name=args.name, cron=args.cron, parameters={"cfg": cfg.model_dump(mode="json")})
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="derm1m", description="Build a Derm1M-style dermatology corpus.")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="run profile (YAML); default %(default)s")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="run the pipeline flow (all stages, or --stages a,b)")
    p.add_argument("--stages", help="comma-separated subset, run in pipeline order")
    p.add_argument("--warehouse", help="override the DuckDB file")
    p.add_argument("--runner", choices=("threads", "dask"), help="override the profile's runner.kind")
    p.add_argument("--dask-workers", type=int, help="override runner.n_workers (Dask LocalCluster)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars on stderr (default: when stderr is a terminal)")
    p.set_defaults(fn=cmd_build)
    p = sub.add_parser("collect", help="run the collect stage; --dry-run prints what would be fetched")
    p.add_argument("--dry-run", action="store_true", help="print planned fetches and sources, fetch nothing")
    p.set_defaults(fn=cmd_collect)
    sub.add_parser("status", help="table row counts and the last run's stage_runs").set_defaults(fn=cmd_status)
    p = sub.add_parser("sql", help="run one SQL query against the warehouse; no query: interactive shell")
    p.add_argument("query", nargs="?")
    p.set_defaults(fn=cmd_sql)
    p = sub.add_parser("report", help="write the HTML corpus report (default <data_dir>/report.html)")
    p.add_argument("--out", help="output path or fsspec URL")
    p.set_defaults(fn=cmd_report)
    p = sub.add_parser("deploy", help="register the Prefect deployments with a process work pool")
    p.add_argument("--pool", default="derm1m", help="work pool, created if missing (default %(default)s)")
    p.add_argument("--no-limits", action="store_true", help="do not create the tag concurrency limits")
    p.set_defaults(fn=cmd_deploy)
    p = sub.add_parser("label", help="label a CSV's `caption` column with Derm1M's metadata columns")
    p.add_argument("src", help="input CSV with a caption column")
    p.add_argument("dst", help="output CSV (input columns plus the label columns)")
    p.add_argument("--method", choices=("lexical", "llm"), default="lexical")
    p.set_defaults(fn=cmd_label)
    p = sub.add_parser("estimate", help="tokens and cost (live, batch) of the pending LLM work; no call made")
    p.add_argument("--pairs", type=int, help="also project to this many pairs at the measured mean size")
    p.set_defaults(fn=cmd_estimate)
    p = sub.add_parser("classify-images", help="write image type + skin score of every image under DIR to a CSV")
    p.add_argument("dir")
    p.add_argument("out", help="output CSV: path, image_type, skin_score, confidence, backend")
    p.add_argument("--backend", choices=("heuristic", "densenet", "clip"), default="heuristic")
    p.add_argument("--model-path", type=Path, help="densenet checkpoint, or CLIP weights file")
    p.add_argument("--clip-model", default="ViT-B-32", help="open_clip model name (clip backend)")
    p.add_argument("--object-gate", choices=("auto", "on", "off"), default="auto",
                   help="heuristic: the ImageNet veto (extra imagenet); auto = when installed")
    p.add_argument("--truth", help="CSV path,label (a type, skin or non_skin): print recall/rejection/confusion "
                   "(default: labels from folder names under DIR, when any)")
    p.add_argument("--tones", action="store_true",
                   help="also report skin recall on copies of the skin images shifted to darker tones")
    p.set_defaults(fn=cmd_classify_images)
    p = sub.add_parser("train-image-classifier", help="fine-tune DenseNet121 on an ImageFolder of image types")
    p.add_argument("image_folder", help="one subfolder per class (clinical_photo, dermoscopy, ...)")
    p.add_argument("out_dir", help="where densenet121-v<N>.pt and its .json go")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--init-weights", type=Path, help="torchvision densenet121 state dict (e.g. ImageNet)")
    p.set_defaults(fn=cmd_train_image_classifier)
    p = sub.add_parser("export", help="write the warehouse's pairs as a Derm1M export (CSVs, shards, Parquet)")
    p.add_argument("--out", help="export folder (default <data_dir>/export)")
    p.set_defaults(fn=cmd_export)
    p = sub.add_parser("train", help="train the profile's train.recipe on an export, then evaluate it")
    p.add_argument("--export", help="export folder with shards/ (default <data_dir>/export)")
    p.add_argument("--out", required=True, help="run folder: checkpoints, logs, checkpoint.pt, report")
    p.add_argument("--resume", help="'latest' (the newest checkpoint in --out, if any) or a checkpoint path")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="override the recipe's device")
    p.add_argument("--max-steps", type=int, help="stop (with a checkpoint) after this many steps in total")
    p.add_argument("--epochs", type=int, help="override the recipe's epochs")
    p.add_argument("--no-eval", action="store_true", help="train only; no evaluation suite")
    p.add_argument("--force-cpu", action="store_true",
                   help="train a GPU-class recipe (requires_cuda, device: cuda) on the CPU anyway")
    p.set_defaults(fn=cmd_train)
    p = sub.add_parser("serve", help="serve a scheduled deployment of the build flow")
    p.add_argument("--name", default="derm1m-nightly")
    p.add_argument("--cron", default="0 3 * * *")
    p.set_defaults(fn=cmd_serve)
    register_release(sub)  # derm1m rehydrate (flows/cli_release.py)
    register_labels(sub)  # derm1m crosswalk (flows/cli_labels.py)
    register_push(sub)  # derm1m push (flows/cli_push.py)
    args = parser.parse_args(_config_first(sys.argv[1:] if argv is None else argv))
    try:
        return int(args.fn(args))
    except Exception as exc:  # noqa: BLE001 - a CLI prints the reason instead of a traceback wall
        from pipeline.errors import ConfigError

        if isinstance(exc, ConfigError):
            print(f"derm1m: {exc}", file=sys.stderr)
            return 2
        raise


def entry() -> None:
    """The `derm1m` command: main(), then an exit without the interpreter's teardown. After a build the
    process holds torch, CTranslate2, OpenCV and a large heap, and Python's final collection and module
    teardown took 1.8 s of a 25 s sample build (0.5 s after collect alone), time in which nothing is
    written. The exit handlers still run (atexit: Prefect's log and event queues, logging, temporary
    folders) and the output is flushed; with a thread that is not a daemon still running, or when main()
    raises, the exit is Python's own."""
    import atexit
    import threading

    code = main()
    if any(t is not threading.main_thread() and not t.daemon for t in threading.enumerate()):
        sys.exit(code)
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_handlers is None:  # an interpreter without it: the ordinary exit
        sys.exit(code)
    run_exit_handlers()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
