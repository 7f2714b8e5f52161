"""Benchmarks (`make bench`): wall time and peak memory, written to bench/results/<date>.json.

- build: the sample profile end to end in a fresh warehouse and media folder, then the no-op rerun;
  per-stage seconds come from stage_runs, peak RSS from the child process; the first build's overhead is its
  wall time less the stages' own (interpreter, imports, Prefect's temporary server and flow runs).
- normalise: images/s through decode + EXIF + RGB + JPEG re-encode + sha256 (pipeline.media).
- dedup: the clean stage's near-duplicate clustering (pipeline.vision.dedup) over random planted hashes;
  `python -m bench.dedup` has the 10k/100k/1M runs and the precision/recall on real images.
Timings are wall clock on whatever machine runs it; the README quotes one run with machine and date.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def bench_build() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        cfg = Path(tmp) / "bench.yaml"
        base = (REPO / "configs" / "sample.yaml").read_text()
        cfg.write_text(f"root: {REPO}\n" + base.replace("warehouse: warehouse/derm1m.duckdb", f"warehouse: {db}")
                       .replace("data_dir: data", f"data_dir: {Path(tmp) / 'data'}"))
        out: dict[str, object] = {}
        for label in ("first", "rerun"):
            t0 = time.perf_counter()
            cmd = [sys.executable, "-m", "flows.cli", "--config", str(cfg), "build"]
            subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO)})
            out[f"{label}_s"] = round(time.perf_counter() - t0, 1)
        out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 0)
        import duckdb

        con = duckdb.connect(str(db), read_only=True)
        out["stages_first_run_s"] = {
            stage: round(secs, 2) for stage, secs in con.execute(
                "SELECT stage, epoch(finished_at - started_at) FROM stage_runs "
                "WHERE run_id = (SELECT min(run_id) FROM stage_runs) ORDER BY started_at").fetchall()
        }
        stages_s = sum(out["stages_first_run_s"].values())  # type: ignore[union-attr]
        out["first_overhead_s"] = round(float(out["first_s"]) - stages_s, 1)  # type: ignore[arg-type]
        out["pairs"] = con.execute("SELECT count(*) FROM pair_image_texts").fetchone()[0]  # type: ignore[index]
        return out


def bench_normalise(n: int = 200) -> dict[str, object]:
    from PIL import Image

    from pipeline.config import ImageConfig
    from pipeline.media import normalise_image

    rng = np.random.default_rng(0)
    import io

    blobs = []
    for _ in range(20):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)).save(buf, format="JPEG", quality=90)
        blobs.append(buf.getvalue())
    cfg = ImageConfig()
    t0 = time.perf_counter()
    for i in range(n):
        normalise_image(blobs[i % len(blobs)], cfg)
    dt = time.perf_counter() - t0
    return {"images": n, "size": "640x480 JPEG", "images_per_s": round(n / dt, 1)}


def bench_dedup(n: int = 100_000) -> dict[str, object]:
    from bench.dedup import bench_scale
    from pipeline.vision.dedup import N_REGIONS

    return {"views_1": bench_scale([n])[0], f"views_{N_REGIONS}": bench_scale([n // 10], N_REGIONS)[0]}


def main() -> None:
    results = {
        "date": date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_version()}", "normalise": bench_normalise(), "dedup": bench_dedup(),
        "build": bench_build(),
    }
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{results['date']}.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
