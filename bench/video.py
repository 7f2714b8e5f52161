"""Video benchmark: scene-cut speed, accuracy and peak memory against PySceneDetect on three generated
videos, and ASR realtime factor / word error rate of the bundled tiny.en on espeak-ng narration.

- Videos (bench/video_gen.py, cached in $DERM_BENCH_DIR, default /tmp/derm_bench, never committed):
  (a) 10 min of busy noise-like content at 30 fps with a keyframe every 250 frames and nowhere else,
  (b) the project's one-hour lecture (640x360, 25 fps, hard cuts at known frames, pans/zooms/fades/pointer
  inside scenes, x264 defaults), (c) 10 min of lecture content with a keyframe every 12 frames and B-frames.
- Ours: `detect_scenes(path, VideoConfig())` (the profile default, detector "fast": the sparse scan of
  pipeline/preprocess/sparse_scan.py), and `video_keyframes` (scenes + one keyframe per scene) alongside.
  Reference: PySceneDetect's `detect(path, ContentDetector())` (its defaults). Each call runs in a fresh
  interpreter (time of the call, imports excluded; peak RSS of that process), ours and the reference
  alternated, median of 3; the 1-minute load average is recorded before and after each video.
- Cut accuracy: a detected cut matches an unmatched true cut within +-0.5 s; recall = matched / true;
  false cuts = unmatched detections, also as a share of the true cuts.
- ASR: bench/asr.py (narration, modes, WER, the issue 18 levers), run from here.
Results: bench/results/video-<date>.json (asr-<date>.json with --asr-only).
Run: `python -m bench.video [--minutes 60] [--skip-asr | --asr-only]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
from datetime import date
from pathlib import Path

from bench.asr import ASR_OURS, bench_asr, bench_asr_levers

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("DERM_BENCH_DIR", "/tmp/derm_bench"))



def _cut_accuracy(truth: list[float], found: list[float], tol: float = 0.5) -> dict[str, float | int]:
    unmatched = sorted(truth)
    matched = 0
    for t in sorted(found):
        near = [u for u in unmatched if abs(u - t) <= tol]
        if near:
            unmatched.remove(min(near, key=lambda u: abs(u - t)))
            matched += 1
    false = len(found) - matched
    return {
        "true_cuts": len(truth),
        "found": len(found),
        "recall": round(matched / max(1, len(truth)), 4),
        "false_cuts": false,
        "false_cut_rate": round(false / max(1, len(truth)), 4),
    }


_RUN = """
import json, resource, sys, time
tool, path = sys.argv[1], sys.argv[2]
if tool == "pyscenedetect":
    from scenedetect import ContentDetector, detect
    t0 = time.perf_counter()
    cuts = [float(start.seconds) for start, _ in detect(path, ContentDetector())[1:]]
    extra = {}
else:
    from pathlib import Path
    from pipeline.config import VideoConfig
    from pipeline.preprocess.video import detect_scenes, video_keyframes
    t0 = time.perf_counter()
    if tool == "ours":
        cuts = [s.start_s for s in detect_scenes(Path(path), VideoConfig())[1:]]
        extra = {}
    else:
        _, scenes, keyframes = video_keyframes(Path(path), VideoConfig())
        cuts, extra = [s.start_s for s in scenes[1:]], {"keyframes": len(keyframes)}
seconds = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "cuts": cuts, "peak_rss_mb": rss, **extra}))
"""

VIDEOS = {
    # label: (file name, generator, what it stands for)
    "a_noise_keyint250": (
        "noise_10min_k250.mp4",
        "noise",
        "10 min, 30 fps, busy noise-like scenes of 1-8 s "
        "drifting under per-frame grain, a keyframe every 250 frames and nowhere else",
    ),
    "b_lecture_1h": (
        "lecture_{minutes:g}min.mp4",
        "lecture",
        "the project's generated lecture (25 fps, x264 "
        "defaults: keyint 250, scene-cut keyframes, 3 B-frames)",
    ),
    "c_lecture_keyint12_bframes": (
        "lecture_10min_k12b3.mp4",
        "lecture_k12",
        "10 min of lecture content, a keyframe every 12 frames (0.48 s), 3 B-frames, scene-cut I-frames",
    ),
}


def _video(label: str, minutes: float) -> tuple[Path, dict[str, object]]:
    from bench.video_gen import generate, generate_noise

    name, kind, _ = VIDEOS[label]
    path = CACHE / name.format(minutes=minutes)
    if kind == "noise":
        return path, generate_noise(path, 600.0)
    if kind == "lecture_k12":
        return path, generate(path, 600.0, seed=23, x264_params="keyint=12:min-keyint=12:bframes=3")
    return path, generate(path, minutes * 60)


def _run(tool: str, path: Path) -> dict[str, object]:
    """One detection in a fresh interpreter: wall seconds of the call (imports excluded) and peak RSS."""
    import sys

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", _RUN, tool, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=REPO,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _summary(runs: list[dict[str, object]], true_cuts: list[float], duration: float) -> dict[str, object]:
    import statistics

    secs = [float(r["seconds"]) for r in runs]  # type: ignore[arg-type]
    med = statistics.median(secs)
    out: dict[str, object] = {
        "seconds_median": round(med, 2),
        "seconds_runs": [round(x, 2) for x in secs],
        "x_realtime": round(duration / med, 1),
        "peak_rss_mb": round(max(float(r["peak_rss_mb"]) for r in runs), 1),  # type: ignore[arg-type]
        **_cut_accuracy(true_cuts, list(runs[0]["cuts"])),  # type: ignore[call-overload]
    }
    if "keyframes" in runs[0]:
        out["keyframes"] = runs[0]["keyframes"]
    return out


def bench_scene_cuts(minutes: float, repeats: int = 3, labels: list[str] | None = None) -> dict[str, object]:
    """Ours (detect_scenes, profile default) against PySceneDetect's detect(ContentDetector()) on each test
    video, alternated in the same run, each call in a fresh interpreter; medians of `repeats`. Our full
    keyframe path (scenes + one decoded keyframe per scene) is timed alongside; PySceneDetect has none."""
    CACHE.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {"repeats": repeats}
    for label in labels or list(VIDEOS):
        path, truth = _video(label, minutes)
        fps = float(truth["fps"])  # type: ignore[arg-type]
        duration = int(truth["frames"]) / fps  # type: ignore[call-overload]
        true_cuts = [c / fps for c in truth["cuts"]]  # type: ignore[attr-defined]
        load_before = round(os.getloadavg()[0], 2)
        runs: dict[str, list[dict[str, object]]] = {"ours": [], "pyscenedetect": [], "ours_keyframes": []}
        for _ in range(repeats):
            for tool in runs:
                runs[tool].append(_run(tool, path))
                print(f"{label} {tool} {runs[tool][-1]['seconds']:.2f} s", flush=True)
        ours, ref = (
            _summary(runs["ours"], true_cuts, duration),
            _summary(runs["pyscenedetect"], true_cuts, duration),
        )
        ratio = round(float(ref["seconds_median"]) / float(ours["seconds_median"]), 2)  # type: ignore[arg-type]
        load = [load_before, round(os.getloadavg()[0], 2)]
        results[label] = {
            "video": {
                "path": str(path),
                "about": VIDEOS[label][2],
                "duration_s": duration,
                "fps": fps,
                "true_cuts": len(true_cuts),
                "bytes": path.stat().st_size,
            },
            "load_avg_1min": load,
            "ours": ours,
            "pyscenedetect": ref,
            "ours_with_keyframes": _summary(runs["ours_keyframes"], true_cuts, duration),
            "speedup_vs_pyscenedetect": ratio,
        }
        print(
            f"{label}: ours {ours['seconds_median']} s (recall {ours['recall']}, false {ours['false_cuts']}, "
            f"{ours['peak_rss_mb']} MB) | PySceneDetect {ref['seconds_median']} s (recall {ref['recall']}, "
            f"false {ref['false_cuts']}, {ref['peak_rss_mb']} MB) | ratio {ratio}x | load {load}",
            flush=True,
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--skip-asr", action="store_true")
    parser.add_argument("--asr-only", action="store_true")
    parser.add_argument("--asr-levers", action="store_true", help="only the issue 18 levers, one thread")
    parser.add_argument("--asr-modes", nargs="*", choices=list(ASR_OURS), help="our ASR modes (default: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--videos", nargs="*", choices=list(VIDEOS), help="scene-cut videos (default: all)")
    args = parser.parse_args()
    if args.asr_levers:
        levers = {
            "date": date.today().isoformat(),
            "load_avg_1min_before": round(os.getloadavg()[0], 2),
            **bench_asr_levers(),
        }
        levers["uptime"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        path = REPO / "bench" / "results" / f"asr-levers-{levers['date']}.json"
        path.write_text(json.dumps(levers, indent=2))
        print(json.dumps(levers, indent=2))
        return
    results: dict[str, object] = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_avg_1min_before": round(os.getloadavg()[0], 2),
        "scene_cuts": {} if args.asr_only else bench_scene_cuts(args.minutes, args.repeats, args.videos),
        "load_avg_1min_after_scene_cuts": round(os.getloadavg()[0], 2),
    }
    if not args.skip_asr:
        results["asr"] = bench_asr(args.repeats, args.asr_modes)
        results["load_avg_1min_after_asr"] = round(os.getloadavg()[0], 2)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    # --asr-only writes its own file, with its own load record, next to the scene cuts' one
    target = out / f"{'asr' if args.asr_only else 'video'}-{results['date']}.json"
    if args.asr_only:
        results = {
            k: v for k, v in results.items() if k not in ("scene_cuts", "load_avg_1min_after_scene_cuts")
        }
        results["uptime"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    elif target.exists():  # a partial run (--asr-only, --skip-asr) keeps the other half of the day's file
        earlier = json.loads(target.read_text())
        results = {**earlier, **{k: v for k, v in results.items() if v != {}}}
    target.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
