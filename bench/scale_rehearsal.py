"""Scale rehearsal (`make scale-rehearsal SCALE=...`): build a large generated corpus as the full profile
would, offline, and report where time and memory go.

Phases, each a `derm1m build` in a child process whose whole process tree is sampled for RSS:
1. first build of the corpus that bench/scale_corpus.py writes at `--scale` (1.0: 20k articles, 50k
   posts, 100k dataset images, 2 h of video; about 200k pairs);
2. a no-op rerun (nothing changed);
3. "grow": 1 % new items (new article files, a new forum dump file, rows appended to the dataset CSV,
   new videos), then a rebuild.
The profile is configs/derm1m.yaml's minus the network: its batch size and train recipe (on a machine
without CUDA the GPU recipe is skipped, the export still runs), the bundled ASR model, lexical labelling.
Results (per-stage seconds, units and rows per second, peak RSS, warehouse and media bytes, the ratio of
the grow rebuild to the first build) go to bench/results/scale-<date>.json and stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import psutil
import yaml

from bench.scale_corpus import Size, generate

REPO = Path(__file__).resolve().parents[1]
LABELS = {"nv": "melanocytic nevus", "mel": "melanoma", "bkl": "seborrheic keratosis", "bcc": "basal cell carcinoma",
          "akiec": "actinic keratosis", "df": "dermatofibroma", "vasc": "vascular lesion"}


def profile(root: Path, train: str) -> Path:
    corpus = root / "corpus"
    full = yaml.safe_load((REPO / "configs" / "derm1m.yaml").read_text(encoding="utf-8"))
    recipe: Any = str(REPO / full["train"]["recipe"])
    if train == "tiny":
        recipe = {"model": "DermTiny", "epochs": 1, "max_steps": 20, "global_batch_size": 32,
                  "micro_batch_size": 32, "precision": "fp32", "device": "cpu", "threads": 2}
    cfg = {
        "root": str(REPO), "name": "scale-rehearsal", "warehouse": str(root / "warehouse.duckdb"),
        "data_dir": str(root / "data"), "workers": 2, "batch_size": full["batch_size"],
        "collect": {"sources": {
            "videos": [str(corpus / "videos")], "jats": [str(corpus / "jats")], "forums": [str(corpus / "forums")],
            "datasets": [{"name": "scale", "path": str(corpus / "datasets" / "scale"), "csv": "metadata.csv",
                          "image_dir": "images", "image_column": "image_id", "label_column": "dx",
                          "label_map": LABELS, "extra_columns": {"age": "age", "sex": "sex", "site": "localization"},
                          "modality": "clinical photograph", "licence": "CC0-1.0 (project-made rehearsal data)"}]}},
        "preprocess": {"asr": {"backend": "faster-whisper", "prefer_subtitles": True}},
        "augment": {"method": "lexical"},
        "train": {"enabled": train != "off", "recipe": recipe},
    }
    path = root / "scale.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def timed_build(cfg: Path, log: Path, command: str = "build") -> dict[str, Any]:
    """One `derm1m <command>` in a child process: wall seconds and the peak RSS of its whole process tree."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "flows.cli", "--config", str(cfg), command]
    peak = 0
    t0 = time.perf_counter()
    with log.open("ab") as out:
        child = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env)
        proc = psutil.Process(child.pid)
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.wait(0.5):
                peak = max(peak, _tree_rss(proc))

        watcher = threading.Thread(target=sample, daemon=True)
        watcher.start()
        rc = child.wait()
        stop.set()
        watcher.join()
    wall = time.perf_counter() - t0
    if rc not in (0, 1):  # 1 = a degraded build, which still reports
        raise SystemExit(f"{command} failed (exit {rc}); see {log}")
    return {"wall_s": round(wall, 1), "peak_rss_mb": round(peak / 2**20), "exit": rc}


def stage_table(db: Path, run: int) -> list[dict[str, Any]]:
    """Per stage of the run-th build (0-based): seconds, units in/skipped, rows out, rejects."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        runs = [r[0] for r in con.execute(
            "SELECT run_id FROM stage_runs GROUP BY run_id ORDER BY min(started_at)").fetchall()]
        rows = con.execute(
            "SELECT stage, epoch(finished_at - started_at), items_in, items_skipped, items_out, items_rejected, "
            "status FROM stage_runs WHERE run_id = ? ORDER BY started_at", [runs[run]]).fetchall()
    finally:
        con.close()
    return [{"stage": s, "seconds": round(sec or 0.0, 1), "units_in": i, "units_skipped": sk, "rows_out": o,
             "rejected": rj, "status": st, "rows_per_s": round(o / sec, 1) if sec and o else None}
            for s, sec, i, sk, o, rj, st in rows]


def corpus_counts(db: Path) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        for table in ("collect_items", "preprocess_images", "clean_images", "pair_image_texts", "augment_captions",
                      "train_splits", "rejects", "work_log", "llm_calls"):
            try:
                out[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            except duckdb.Error:
                continue
        return out
    finally:
        con.close()


def existing(corpus: Path) -> Size:
    """How many articles, posts and dataset rows the corpus holds, so growth starts after them."""
    posts = sum(1 for f in (corpus / "forums").glob("*.jsonl") for line in f.open(encoding="utf-8") if line.strip())
    with (corpus / "datasets" / "scale" / "metadata.csv").open(encoding="utf-8") as fh:
        rows = sum(1 for _ in fh) - 1
    return Size(len(list((corpus / "jats").glob("*.xml"))), posts, rows, 0.0)


def grow_only(args: argparse.Namespace, root: Path) -> None:
    """Add another `--grow` share to an existing rehearsal and time the rebuild against its first build."""
    cfg, db = root / "scale.yaml", root / "warehouse.duckdb"
    runs = duckdb.connect(str(db), read_only=True)
    n_runs = runs.execute("SELECT count(DISTINCT run_id) FROM stage_runs").fetchone()[0]  # type: ignore[index]
    runs.close()
    first = json.loads(args.grow_only.read_text(encoding="utf-8"))["first"]["wall_s"]
    result: dict[str, Any] = {"date": date.today().isoformat(), "command": " ".join(sys.argv), "first_build_s": first}
    result["grown"] = generate(root / "corpus", Size.at(args.scale * args.grow), start=existing(root / "corpus"))
    result["grow"] = timed_build(cfg, root / "build.log")
    result["grow"]["stages"] = stage_table(db, n_runs)
    result["grow"]["fraction_of_first"] = round(result["grow"]["wall_s"] / first, 4)
    out = REPO / "bench" / "results" / f"scale-grow-{result['date']}-{args.scale:g}.json"
    out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(json.dumps(result, indent=1))


def du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=0.5, help="1.0 = 20k articles, 50k posts, 100k images, 2 h video")
    ap.add_argument("--root", type=Path, default=REPO / "data-scale")
    ap.add_argument("--grow", type=float, default=0.01, help="fraction of new items for the grow rebuild")
    ap.add_argument("--train", choices=("full", "tiny", "off"), default="full",
                    help="full: the full profile's recipe (skipped without CUDA); tiny: 20 CPU steps")
    ap.add_argument("--export", action=argparse.BooleanOptionalAction, default=True,
                    help="time `derm1m export` (the Derm1M-format export that training reads) after the no-op rerun")
    ap.add_argument("--reuse", action="store_true", help="keep an existing corpus at --root (no regeneration)")
    ap.add_argument("--grow-only", type=Path, metavar="RESULT_JSON",
                    help="on an existing rehearsal: add --grow more items and time the rebuild against the first "
                         "build recorded in RESULT_JSON")
    args = ap.parse_args()
    root = args.root.resolve()
    if args.grow_only:
        grow_only(args, root)
        return
    log = root / "build.log"
    result: dict[str, Any] = {"date": date.today().isoformat(), "machine": f"{platform.node()} {os.cpu_count()} cores",
                              "scale": args.scale, "command": " ".join(sys.argv)}
    if args.reuse:  # the corpus stays; the build starts from nothing
        for stale in (root / "warehouse.duckdb", root / "warehouse.duckdb.wal", root / "data", log):
            subprocess.run(["rm", "-rf", str(stale)], check=True)
    else:
        subprocess.run(["rm", "-rf", str(root)], check=True)
        root.mkdir(parents=True)
        t0 = time.perf_counter()
        result["generated"] = generate(root / "corpus", Size.at(args.scale))
        result["generate_s"] = round(time.perf_counter() - t0, 1)
        print("generated", result["generated"], f"in {result['generate_s']} s", flush=True)
    cfg = profile(root, args.train)
    db = root / "warehouse.duckdb"
    result["first"] = timed_build(cfg, log)
    result["first"]["stages"] = stage_table(db, 0)
    result["counts"] = corpus_counts(db)
    print("first build", result["first"]["wall_s"], "s", result["counts"], flush=True)
    result["noop"] = timed_build(cfg, log)
    result["noop"]["stages"] = stage_table(db, 1)
    print("no-op rerun", result["noop"]["wall_s"], "s", flush=True)
    if args.export:
        result["export"] = timed_build(cfg, log, "export")
        print("export", result["export"]["wall_s"], "s", flush=True)
    result["grown"] = generate(root / "corpus", Size.at(args.scale * args.grow), start=existing(root / "corpus"))
    result["grow"] = timed_build(cfg, log)
    result["grow"]["stages"] = stage_table(db, 2)
    result["grow"]["fraction_of_first"] = round(result["grow"]["wall_s"] / result["first"]["wall_s"], 4)
    result["counts_after_grow"] = corpus_counts(db)
    result["warehouse_mb"] = round(du(db) / 2**20, 1)
    result["media_mb"] = round(du(root / "data") / 2**20, 1)
    result["corpus_mb"] = round(du(root / "corpus") / 2**20, 1)
    print("grow rebuild", result["grow"]["wall_s"], "s", f"({result['grow']['fraction_of_first']:.2%} of the first)")
    out = REPO / "bench" / "results" / f"scale-{result['date']}-{args.scale:g}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k not in ("first", "noop", "grow")}, indent=1))
    for phase in ("first", "noop", "grow"):
        print(f"\n{phase}: {result[phase]['wall_s']} s, peak RSS {result[phase]['peak_rss_mb']} MB")
        for s in result[phase]["stages"]:
            print(f"  {s['stage']:<11}{s['seconds']:>8} s  in {s['units_in']:>7}  skipped {s['units_skipped']:>7}  "
                  f"out {s['rows_out']:>7}  rejected {s['rejected']:>6}  {s['status']}")


if __name__ == "__main__":
    main()
