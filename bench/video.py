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
- ASR: ~3 minutes of espeak-ng speech (en-us, 150 wpm) from dermatology sentences, transcribed by
  FasterWhisperTranscriber (int8, beam 1) in the modes of ASR_MODES; realtime factor = audio seconds
  transcribed per wall second, with as many videos in flight as the mode runs at once (the preprocess
  stage's thread pool does the same), median of 3 runs, model loaded and warmed up; WER after
  lower-casing and stripping punctuation.
Results: bench/results/video-<date>.json.  Run: `python -m bench.video [--minutes 60] [--skip-asr]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("DERM_BENCH_DIR", "/tmp/derm_bench"))

NARRATION = [
    "Psoriasis presents as well demarcated erythematous plaques with silvery scale on the extensor surfaces.",
    "Tinea corporis forms an annular plaque with an active scaly border and central clearing.",
    "Melanoma should be suspected when a pigmented lesion is asymmetric, with irregular borders and colours.",
    "Dermoscopy of a benign naevus shows a regular pigment network that fades at the periphery.",
    "Seborrhoeic keratosis has a stuck on appearance with milia like cysts and comedo like openings.",
    "Basal cell carcinoma is a pearly papule with arborising telangiectasia and rolled edges.",
    "Atopic eczema affects the flexures in older children and causes intense itching.",
    "Urticaria consists of transient wheals that resolve within twenty four hours without a mark.",
    "Lichen planus gives purple polygonal papules with fine white lines called Wickham striae.",
    "Rosacea causes persistent central facial erythema with papules and pustules but no comedones.",
    "Acne vulgaris is a disorder of the pilosebaceous unit with comedones, papules and nodules.",
    "Scabies causes burrows in the finger webs and a generalised itchy eruption worse at night.",
    "Vitiligo is an acquired loss of pigment in sharply defined white patches.",
    "Bullous pemphigoid produces tense blisters on an urticarial base in elderly patients.",
    "Pemphigus vulgaris has flaccid blisters and erosions of the mouth with a positive Nikolsky sign.",
    "Cellulitis is a spreading infection of the dermis with warmth, swelling and tenderness.",
    "Herpes zoster follows a dermatome with grouped vesicles on a red base and marked pain.",
    "Actinic keratosis is a rough scaly patch on sun damaged skin that may progress to carcinoma.",
    "Squamous cell carcinoma can present as a keratotic nodule that grows over weeks to months.",
    "Granuloma annulare forms rings of smooth papules without scale on the hands and feet.",
    "Nummular eczema produces coin shaped plaques that ooze and crust on the legs.",
    "Pityriasis rosea begins with a herald patch followed by oval plaques along skin cleavage lines.",
    "Erythema multiforme shows target lesions with three zones, often after herpes simplex.",
    "Molluscum contagiosum gives small umbilicated pearly papules, common in children.",
]


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


ASR_MODES = {
    # label: (AsrConfig overrides, what it stands for)
    "default": ({}, "profile default: batched VAD chunks, 2 videos at once with 1 thread each"),
    "default_segments_only": ({"word_timestamps": False}, "the same without word timestamps"),
    "one_video_batched_2_threads": ({"cpu_threads": 2, "num_workers": 1}, "one video on both cores"),
    "one_video_sequential_2_threads": (
        {"batch_size": 0, "cpu_threads": 2, "num_workers": 1},
        "faster-whisper's sequential decoder with temperature fallback",
    ),
}


def _narration_wav(tmp: Path) -> Path:
    import wave

    import numpy as np

    parts = []
    for n, sentence in enumerate(NARRATION):
        wav = tmp / f"{n}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), sentence], check=True)
        with wave.open(str(wav)) as w:
            rate = w.getframerate()
            parts.append(np.frombuffer(w.readframes(w.getnframes()), np.int16))
            parts.append(np.zeros(int(rate * 0.6), np.int16))
    audio = tmp / "narration.wav"
    with wave.open(str(audio), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.concatenate(parts).tobytes())
    return audio


def bench_asr(repeats: int = 3) -> dict[str, object]:
    """Throughput as the preprocess stage sees it: `num_workers` videos transcribed at once from threads
    (the stage's thread pool), aggregate audio seconds per wall second; the median of `repeats` runs
    after one warm-up call."""
    import statistics
    from concurrent.futures import ThreadPoolExecutor

    from pipeline.config import AsrConfig
    from pipeline.preprocess.asr import FasterWhisperTranscriber, load_audio
    from pipeline.preprocess.asr_guards import word_error_rate

    with tempfile.TemporaryDirectory() as tmp:
        audio = _narration_wav(Path(tmp))
        seconds = len(load_audio(audio)) / 16000
        out: dict[str, object] = {"audio_s": round(seconds, 1), "repeats": repeats}
        for label, (overrides, meaning) in ASR_MODES.items():
            cfg = AsrConfig(**overrides)
            asr = FasterWhisperTranscriber(cfg)
            t0 = time.perf_counter()
            asr._model()
            load_s = time.perf_counter() - t0
            asr.transcribe(audio)
            rates, transcripts = [], []
            with ThreadPoolExecutor(cfg.num_workers) as pool:
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    transcripts = list(pool.map(asr.transcribe, [audio] * cfg.num_workers))
                    rates.append(seconds * cfg.num_workers / (time.perf_counter() - t0))
            hyp = " ".join(s.text for s in transcripts[0].segments)
            out["model"] = asr.name
            out[label] = {
                "meaning": meaning,
                "batch_size": cfg.batch_size,
                "cpu_threads": cfg.cpu_threads,
                "parallel_videos": cfg.num_workers,
                "word_timestamps": cfg.word_timestamps,
                "load_s": round(load_s, 2),
                "x_realtime_median": round(statistics.median(rates), 1),
                "x_realtime_runs": [round(r, 1) for r in rates],
                "segments": len(transcripts[0].segments),
                "wer": round(word_error_rate(" ".join(NARRATION), hyp), 4),
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--skip-asr", action="store_true")
    parser.add_argument("--asr-only", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--videos", nargs="*", choices=list(VIDEOS), help="scene-cut videos (default: all)")
    args = parser.parse_args()
    results: dict[str, object] = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_avg_1min_before": round(os.getloadavg()[0], 2),
        "scene_cuts": {} if args.asr_only else bench_scene_cuts(args.minutes, args.repeats, args.videos),
        "load_avg_1min_after_scene_cuts": round(os.getloadavg()[0], 2),
    }
    if not args.skip_asr:
        results["asr"] = bench_asr()
        results["load_avg_1min_after_asr"] = round(os.getloadavg()[0], 2)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"video-{results['date']}.json"
    if target.exists():  # a partial run (--asr-only, --skip-asr) keeps the other half of the day's file
        earlier = json.loads(target.read_text())
        results = {**earlier, **{k: v for k, v in results.items() if v != {}}}
    target.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
