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
- ASR: ~2.6 minutes of espeak-ng speech (en-us, 150 wpm) from dermatology sentences (apt install
  espeak-ng), transcribed by FasterWhisperTranscriber (bundled tiny.en, int8) in the modes of ASR_OURS
  and by plain faster-whisper (WhisperModel.transcribe, beam 1 and beam 5) with the same weights and
  cores: two videos in flight with one thread each; realtime factor = audio seconds transcribed per
  wall second, and per CPU second of the process (steadier on a shared machine), models loaded and
  warmed up, all modes taking turns, median of --repeats rounds, ratio to plain beam 1; WER (and
  substituted / deleted / inserted words) after lower-casing and stripping punctuation; "goal" says per
  mode whether issue 18's bar (WER <= plain beam 5, >= 1.5x plain beam 1) is met in the run.
Results: bench/results/video-<date>.json (asr-<date>.json with --asr-only).
Run: `python -m bench.video [--minutes 60] [--skip-asr | --asr-only]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

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


ASR_OURS = {
    # label: (AsrConfig overrides, what it stands for); "default" is the profile default
    "default": ({}, "profile default (AsrConfig()): batched VAD chunks, 2 videos at once with 1 thread each"),
    "batched_beam1": ({"beam_size": 1}, "the same at beam 1 (the default before the per-chunk alignment)"),
    "batched_beam5": (
        {"beam_size": 5},
        "the same at beam 5 (loops on the tinea sample with its ontology prompt)",
    ),
}
# Plain faster-whisper (WhisperModel.transcribe on the file, its own defaults: no VAD, conditioned on
# previous text, temperature fallback), same weights, int8, word timestamps, same cores as ours. Its text
# may differ between rounds (the fallback samples; int8 sums depend on threads): WER is the median over rounds.
ASR_REFERENCE = {"plain_beam1": 1, "plain_beam5": 5}


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


def _wer_parts(reference: str, hypothesis: str) -> dict[str, object]:
    import jiwer

    from pipeline.preprocess.asr_guards import norm_words

    o = jiwer.process_words(" ".join(norm_words(reference)), " ".join(norm_words(hypothesis)))
    return {
        "wer": round(o.wer, 4),
        "substituted": o.substitutions,
        "deleted": o.deletions,
        "inserted": o.insertions,
    }


def bench_asr(repeats: int = 3, ours: list[str] | None = None, workers: int = 2) -> dict[str, object]:
    """Ours (FasterWhisperTranscriber in the modes of ASR_OURS) against plain faster-whisper at beam 1 and 5
    on the same audio with the same cores: `workers` videos in flight from threads (the preprocess stage's
    pool) with one thread each, so aggregate audio seconds per wall second. Every mode is warmed up once,
    then the modes take turns, `repeats` rounds (load changes hit all of them alike); medians."""
    import statistics
    from concurrent.futures import ThreadPoolExecutor

    from faster_whisper import WhisperModel

    from pipeline.config import AsrConfig
    from pipeline.preprocess.asr import FasterWhisperTranscriber, load_audio

    def plain(model: WhisperModel, beam: int) -> Callable[[Path], str]:
        def run(path: Path) -> str:
            segments, _ = model.transcribe(str(path), language="en", beam_size=beam, word_timestamps=True)
            return " ".join(s.text for s in segments)

        return run

    def project(asr: FasterWhisperTranscriber) -> Callable[[Path], str]:
        return lambda path: " ".join(s.text for s in asr.transcribe(path).segments)

    with tempfile.TemporaryDirectory() as tmp:
        audio = _narration_wav(Path(tmp))
        seconds = len(load_audio(audio)) / 16000
        out: dict[str, object] = {
            "audio_s": round(seconds, 1),
            "repeats": repeats,
            "videos_in_flight": workers,
            "threads_per_video": 1,
        }
        runs: dict[str, Callable[[Path], str]] = {}
        meta: dict[str, dict[str, object]] = {}
        for label in ours or list(ASR_OURS):
            overrides, meaning = ASR_OURS[label]
            cfg = AsrConfig.model_validate({"cpu_threads": 1, "num_workers": workers, **overrides})
            asr = FasterWhisperTranscriber(cfg)
            runs[label] = project(asr)
            meta[label] = {
                "meaning": meaning,
                "beam_size": cfg.beam_size,
                "batch_size": cfg.batch_size,
                "word_timestamps": cfg.word_timestamps,
                "overrides": overrides,
            }
            out["model"] = asr.name
            model_path = asr.model_path
        reference = WhisperModel(model_path, "cpu", compute_type="int8", cpu_threads=1, num_workers=workers)
        for label, beam in ASR_REFERENCE.items():
            runs[label] = plain(reference, beam)
            meta[label] = {
                "meaning": f"plain faster-whisper WhisperModel.transcribe, beam {beam}, word timestamps",
                "beam_size": beam,
            }
        rates: dict[str, list[float]] = {label: [] for label in runs}
        # audio seconds per CPU second of this process (all its threads, CTranslate2's included): the
        # throughput per core, which another process's load on the machine moves much less than wall time
        per_cpu: dict[str, list[float]] = {label: [] for label in runs}
        wers: dict[str, list[dict[str, object]]] = {label: [] for label in runs}
        truth = " ".join(NARRATION)
        loads: list[float] = []
        with ThreadPoolExecutor(workers) as pool:
            for run in runs.values():  # warm-up: weights loaded, first-call costs paid
                run(audio)
            for _ in range(repeats):
                loads.append(round(os.getloadavg()[0], 2))
                for label, run in runs.items():
                    t0, c0 = time.perf_counter(), time.process_time()
                    texts = list(pool.map(run, [audio] * workers))
                    rates[label].append(seconds * workers / (time.perf_counter() - t0))
                    per_cpu[label].append(seconds * workers / (time.process_time() - c0))
                    wers[label] += [_wer_parts(truth, text) for text in texts]
        loads.append(round(os.getloadavg()[0], 2))
        out["load_avg_1min_per_round"] = loads
        base = statistics.median(rates["plain_beam1"])
        base_cpu = statistics.median(per_cpu["plain_beam1"])
        rows: dict[str, dict[str, object]] = {}
        for label, r in rates.items():
            median = statistics.median(r)
            cpu = per_cpu[label]
            by_wer = sorted(wers[label], key=lambda w: float(str(w["wer"])))
            row: dict[str, object] = {
                **meta[label],
                "x_realtime_median": round(median, 1),
                "x_realtime_runs": [round(x, 1) for x in r],
                "ratio_to_plain_beam1": round(median / base, 2),
                # the same round's ratio: both ran within seconds of each other, under the same load
                "ratio_per_round": [round(x / y, 2) for x, y in zip(r, rates["plain_beam1"], strict=True)],
                "ratio_per_round_median": round(
                    statistics.median(x / y for x, y in zip(r, rates["plain_beam1"], strict=True)), 2
                ),
                "x_realtime_per_cpu_median": round(statistics.median(cpu), 1),
                "x_realtime_per_cpu_runs": [round(x, 1) for x in cpu],
                "cpu_ratio_to_plain_beam1": round(statistics.median(cpu) / base_cpu, 2),
                **by_wer[len(by_wer) // 2],
                "wer_runs": [w["wer"] for w in wers[label]],
            }
            out[label] = rows[label] = row
            print(
                f"ASR {label}: {row['x_realtime_median']}x realtime ({row['ratio_to_plain_beam1']}x plain beam 1; "
                f"median of the rounds' ratios {row['ratio_per_round_median']}x; per CPU second "
                f"{row['x_realtime_per_cpu_median']}x = {row['cpu_ratio_to_plain_beam1']}x plain beam 1), "
                f"WER {row['wer']} (S {row['substituted']}, D {row['deleted']}, I {row['inserted']}) | "
                f"load {loads[0]}-{loads[-1]}",
                flush=True,
            )
        # issue 18's ASR goal, per mode of ours: WER no worse than plain beam 5 in this run, at >= 1.5x plain
        # beam 1's throughput (wall, median of the rounds' ratios; and per CPU second)
        bar = float(str(rows["plain_beam5"]["wer"]))
        goal: dict[str, object] = {"wer_bar_plain_beam5": bar, "speed_bar_vs_plain_beam1": 1.5}
        for label in ours or list(ASR_OURS):
            row = rows[label]
            wall = float(str(row["ratio_per_round_median"]))
            per_core = float(str(row["cpu_ratio_to_plain_beam1"]))
            wer_ok = float(str(row["wer"])) <= bar
            goal[label] = {
                "wer_ok": wer_ok,
                "speed_wall": wall,
                "speed_per_cpu": per_core,
                "met": wer_ok and min(wall, per_core) >= 1.5,
            }
            print(f"ASR goal {label}: {goal[label]}", flush=True)
        out["goal"] = goal
    return out


def bench_asr_levers(repeats: int = 2) -> dict[str, Any]:
    """What each lever tried for issue 18 does on one thread, one video: process CPU seconds (least of
    `repeats`) of each part of a batched transcription of the narration's VAD chunks, and the WER of the
    decoded text. Alignment, encoding and decoding run on the same chunks and encoder output."""
    import ctranslate2
    import numpy as np
    from faster_whisper import BatchedInferencePipeline, WhisperModel
    from faster_whisper.transcribe import get_compression_ratio
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    from pipeline.config import AsrConfig
    from pipeline.preprocess.asr import FasterWhisperTranscriber, load_audio
    from pipeline.preprocess.asr_batch import CpuChunkwise

    def cpu(fn: Callable[[], Any]) -> tuple[float, Any]:
        best, out = float("inf"), None
        for _ in range(repeats):
            c0 = time.process_time()
            out = fn()
            best = min(best, time.process_time() - c0)
        return round(best, 3), out

    model_path = FasterWhisperTranscriber(AsrConfig()).model_path
    model = WhisperModel(model_path, "cpu", compute_type="int8", cpu_threads=1, num_workers=1)
    truth = " ".join(NARRATION)
    got: dict[str, Any] = {}

    def grab(self: Any, features: Any, tokenizer: Any, meta: Any, *rest: Any) -> Any:
        got.update(features=features, tokenizer=tokenizer, meta=meta)  # the chunks, not decoded
        return iter(())

    with tempfile.TemporaryDirectory() as tmp:
        audio = load_audio(_narration_wav(Path(tmp)))
    pipe: Any = BatchedInferencePipeline
    original, pipe._batched_segments_generator = pipe._batched_segments_generator, grab
    try:
        list(BatchedInferencePipeline(model=model).transcribe(audio, language="en", batch_size=16)[0])
    finally:
        pipe._batched_segments_generator = original
    features, tok = np.asarray(got["features"]), got["tokenizer"]
    durations = [float(m["duration"]) for m in got["meta"]]
    frames = [min(3000, int(d * 100)) for d in durations]
    prompt = model.get_prompt(tok, [], without_timestamps=True)
    out: dict[str, Any] = {
        "chunks_s": [round(d, 1) for d in durations],
        "window_fill": round(sum(durations) / (30 * len(durations)), 3),
    }
    vad = VadOptions(max_speech_duration_s=30, min_silence_duration_ms=160)  # the batched pipeline's
    out["vad_cpu_s"] = cpu(lambda: get_speech_timestamps(audio, vad))[0]
    chunkwise = CpuChunkwise(model)
    out["encode_batched_cpu_s"], _ = cpu(lambda: model.encode(features))
    out["encode_chunkwise_cpu_s"], encoded = cpu(lambda: chunkwise.encode(features))

    def decode(view: Any, beam: int, idx: list[int] | None = None, **options: Any) -> list[Any]:
        if idx is not None:
            view = ctranslate2.StorageView.from_array(np.ascontiguousarray(np.asarray(view)[idx]))
        n = len(idx) if idx is not None else int(view.shape[0])
        return list(model.model.generate(view, [prompt] * n, beam_size=beam, return_scores=True, **options))

    def wer(results: list[Any]) -> float:
        return float(str(_wer_parts(truth, " ".join(tok.decode(r.sequences_ids[0]) for r in results))["wer"]))

    decoded: dict[str, dict[str, float]] = {}
    runs: list[tuple[str, int, dict[str, Any]]] = [
        ("beam1", 1, {}),
        ("beam3", 3, {}),
        ("beam5", 5, {}),
        ("beam3_patience2", 3, {"patience": 2.0}),
        ("beam3_length_penalty0.5", 3, {"length_penalty": 0.5}),
        ("beam5_repetition_penalty1.1", 5, {"repetition_penalty": 1.1}),
    ]
    results: list[Any] = []
    for label, beam, options in runs:
        seconds, results = cpu(lambda b=beam, o=options: decode(encoded, b, **o))  # type: ignore[misc]
        decoded[label] = {"cpu_s": seconds, "wer": wer(results)}
        if label == "beam1":
            greedy = results
    # one chunk at a time, as chunks encoded at their own lengths would have to be decoded (an encoder
    # output of another length cannot join the batch)
    seconds, results = cpu(lambda: [decode(encoded, 3, [i])[0] for i in range(len(durations))])
    decoded["beam3_one_chunk_at_a_time"] = {"cpu_s": seconds, "wer": wer(results)}
    for beam in (3, 5):  # beam 1, then a wider beam only on the chunks beam 1 is unsure of

        def fallback(b: int = beam) -> list[Any]:
            first = decode(encoded, 1)
            logprob = [r.scores[0] * len(r.sequences_ids[0]) / (len(r.sequences_ids[0]) + 1) for r in first]
            unsure = [i for i, lp in enumerate(logprob) if lp < -0.6]
            for i, r in zip(unsure, decode(encoded, b, unsure) if unsure else [], strict=True):
                first[i] = r
            return first

        seconds, results = cpu(fallback)
        decoded[f"beam1_then_beam{beam}_below_logprob-0.6"] = {"cpu_s": seconds, "wer": wer(results)}
    out["decode"] = decoded
    tokens = [[t for t in r.sequences_ids[0] if t < tok.eot] for r in greedy]
    batched_s, together = cpu(lambda: model.model.align(encoded, tok.sot_sequence, tokens, frames))
    each_s, each = cpu(lambda: chunkwise.model.align(encoded, tok.sot_sequence, tokens, frames))
    out["align"] = {
        "batched_cpu_s": batched_s,
        "chunkwise_cpu_s": each_s,
        "same_alignments": [a.alignments for a in together] == [a.alignments for a in each],
    }
    trimmed: dict[str, dict[str, float]] = {}
    for margin in (0.0, 1.0):  # the encoder on the chunk's own length (+ margin) instead of 30 s
        n = [min(3000, 2 * int(np.ceil((d + margin) * 50))) for d in durations]
        views = [
            ctranslate2.StorageView.from_array(np.ascontiguousarray(features[i : i + 1, :, :k]))
            for i, k in enumerate(n)
        ]
        seconds, enc = cpu(lambda v=views: [model.model.encode(x) for x in v])  # type: ignore[misc]
        row: dict[str, float] = {"encode_cpu_s": seconds}
        for beam in (1, 3, 5):
            results = [decode(e, beam)[0] for e in enc]
            row[f"beam{beam}_wer"] = wer(results)
            ratios = [get_compression_ratio(tok.decode(r.sequences_ids[0])) for r in results]
            row[f"beam{beam}_max_compression_ratio"] = round(max(ratios), 2)
        trimmed[f"margin_{margin:g}s"] = row
    out["encoder_on_chunk_length"] = trimmed
    parts = out["vad_cpu_s"] + out["encode_chunkwise_cpu_s"] + decoded["beam3"]["cpu_s"] + each_s
    out["decode_cpu_share_beam3"] = round(decoded["beam3"]["cpu_s"] / parts, 3)
    return out


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
