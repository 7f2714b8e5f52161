"""First sample build and no-op rerun: wall time, the stages' own time and what is left (the overhead:
interpreter, imports, Prefect's temporary server and flow runs, exit), optionally alternated with another
checkout of the project (`--against DIR`, e.g. a `git worktree` of an older commit) on the same machine.

Each round builds the sample profile into a fresh warehouse and media folder with `python -m flows.cli
build` (a new process, as `make build-derm1m` runs it), then runs the same build again (nothing to do).
Stage time is the sum of stage_runs (finished_at - started_at) of the first build.
Results: bench/results/first_build-<date>.json.  Run: `python -m bench.first_build [--rounds 3]
[--against DIR]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]


def one_round(repo: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        db, cfg = Path(tmp) / "bench.duckdb", Path(tmp) / "bench.yaml"
        base = (repo / "configs" / "sample.yaml").read_text()
        cfg.write_text(f"root: {repo}\n" + base.replace("warehouse: warehouse/derm1m.duckdb", f"warehouse: {db}")
                       .replace("data_dir: data", f"data_dir: {Path(tmp) / 'data'}"))  # fmt: skip
        cmd = [sys.executable, "-m", "flows.cli", "--config", str(cfg), "build"]
        env = {**os.environ, "PYTHONPATH": str(repo)}
        out: dict[str, float] = {"load_1min": round(os.getloadavg()[0], 2)}
        for label in ("first", "noop"):
            t0 = time.perf_counter()
            subprocess.run(cmd, cwd=repo, check=True, capture_output=True, env=env)
            out[f"{label}_s"] = round(time.perf_counter() - t0, 2)
            if label == "first":
                con = duckdb.connect(str(db), read_only=True)
                row = con.execute("SELECT sum(epoch(finished_at - started_at)) FROM stage_runs").fetchone()
                con.close()
                out["stages_s"] = round(float(row[0] if row else 0.0), 2)
                out["overhead_s"] = round(out["first_s"] - out["stages_s"], 2)
        return out


def summarise(runs: list[dict[str, float]]) -> dict[str, object]:
    keys = ("first_s", "stages_s", "overhead_s", "noop_s")
    return {"runs": runs, **{f"median_{k}": round(statistics.median(r[k] for r in runs), 2) for k in keys}}


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--against", type=Path, help="another checkout, built in turn with this one")
    args = ap.parse_args()
    repos = {"this": REPO} | ({"against": args.against.resolve()} if args.against else {})
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in repos}
    for _ in range(args.rounds):
        for name, repo in repos.items():
            runs[name].append(one_round(repo))
            print(name, runs[name][-1], flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    result: dict[str, object] = {
        "date": date.today().isoformat(), "commit": commit.stdout.strip(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        **({"against": str(args.against)} if args.against else {}),
        **{name: summarise(r) for name, r in runs.items()},
    }  # fmt: skip
    out = REPO / "bench" / "results" / f"first_build-{date.today().isoformat()}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in repos}, indent=2))
    for name in repos:
        s = result[name]
        assert isinstance(s, dict)
        print(name, {k: v for k, v in s.items() if k != "runs"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
