"""Video benchmark: keyframe extraction speed and cut accuracy on one hour of generated lecture video, and
ASR realtime factor / word error rate of the bundled tiny.en on espeak-ng narration.

- The video (bench/video_gen.py: 640x360, 25 fps, hard cuts at known frames, pans/zooms/fades/pointer
  inside scenes) is cached in $DERM_BENCH_DIR (default /tmp/derm_bench) and never committed.
- Reference points on the same file: `ffmpeg -i x -f null -` (plain decode, bundled imageio-ffmpeg) and
  PySceneDetect's `detect(path, ContentDetector())` (its defaults). Ours: `video_keyframes` with
  detector "fast" (scan + cuts + keyframe decode), and the scan alone.
- Cut accuracy: a detected cut matches an unmatched true cut within +-0.5 s; recall = matched / true;
  false cuts = unmatched detections, also as a share of the true cuts.
- ASR: ~3 minutes of espeak-ng speech (en-us, 150 wpm) from dermatology sentences, transcribed by
  FasterWhisperTranscriber (int8, beam 1) in the modes of ASR_MODES; realtime factor = audio seconds
  transcribed per wall second, with as many videos in flight as the mode runs at once (the preprocess
  stage's thread pool does the same), median of 3 runs, model loaded and warmed up; WER after
  lower-casing and stripping punctuation.
Results: bench/results/video-<date>.json.  Run: `python -m bench.video [--minutes 60]`.
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
    return {"true_cuts": len(truth), "found": len(found), "recall": round(matched / max(1, len(truth)), 4),
            "false_cuts": false, "false_cut_rate": round(false / max(1, len(truth)), 4)}


def bench_keyframes(minutes: float) -> dict[str, object]:
    from imageio_ffmpeg import get_ffmpeg_exe
    from scenedetect import ContentDetector, detect

    from bench.video_gen import generate
    from pipeline.config import VideoConfig
    from pipeline.preprocess.keyframes import find_cuts, scan_video
    from pipeline.preprocess.video import video_keyframes

    CACHE.mkdir(parents=True, exist_ok=True)
    video = CACHE / f"lecture_{minutes:g}min.mp4"
    t0 = time.perf_counter()
    truth = generate(video, minutes * 60)
    gen_s = time.perf_counter() - t0
    fps = float(truth["fps"])  # type: ignore[arg-type]
    duration = int(truth["frames"]) / fps  # type: ignore[call-overload]
    true_cuts = [c / fps for c in truth["cuts"]]  # type: ignore[attr-defined]

    t0 = time.perf_counter()
    subprocess.run([get_ffmpeg_exe(), "-v", "error", "-i", str(video), "-f", "null", "-"], check=True)
    ffmpeg_s = time.perf_counter() - t0

    print(f"decode {ffmpeg_s:.1f} s", flush=True)
    t0 = time.perf_counter()
    psd = detect(str(video), ContentDetector())
    psd_s = time.perf_counter() - t0
    psd_cuts = [float(start.seconds) for start, _ in psd[1:]]

    print(f"pyscenedetect {psd_s:.1f} s", flush=True)
    t0 = time.perf_counter()
    scan = scan_video(video)
    cuts = find_cuts(scan)
    scan_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    _, scenes, keyframes = video_keyframes(video, VideoConfig(detector="fast"))
    fast_s = time.perf_counter() - t0
    fast_cuts = [s.start_s for s in scenes[1:]]
    assert [round(c * fps) for c in fast_cuts] == cuts  # the full path and the scan agree
    return {
        "video": {"path": str(video), "duration_s": duration, "size": f"{truth['width']}x{truth['height']}",
                  "fps": fps, "scenes": len(truth["scenes"]), "bytes": video.stat().st_size,  # type: ignore[arg-type]
                  "generate_s": round(gen_s, 1)},
        "ffmpeg_decode": {"seconds": round(ffmpeg_s, 2), "x_realtime": round(duration / ffmpeg_s, 1)},
        "pyscenedetect_content": {"seconds": round(psd_s, 2), "x_realtime": round(duration / psd_s, 1),
                                  **_cut_accuracy(true_cuts, psd_cuts)},
        "fast_scan_only": {"seconds": round(scan_s, 2), "x_realtime": round(duration / scan_s, 1),
                           "frames_decoded": int(scan.index.size), "frames_total": scan.frame_count},
        "fast_keyframes": {"seconds": round(fast_s, 2), "x_realtime": round(duration / fast_s, 1),
                           "time_vs_ffmpeg_decode": round(fast_s / ffmpeg_s, 3),
                           "speedup_vs_pyscenedetect": round(psd_s / fast_s, 2),
                           "keyframes": len(keyframes), **_cut_accuracy(true_cuts, fast_cuts)},
    }


ASR_MODES = {
    # label: (AsrConfig overrides, what it stands for)
    "default": ({}, "profile default: batched VAD chunks, 2 videos at once with 1 thread each"),
    "default_segments_only": ({"word_timestamps": False}, "the same without word timestamps"),
    "one_video_batched_2_threads": ({"cpu_threads": 2, "num_workers": 1}, "one video on both cores"),
    "one_video_sequential_2_threads": ({"batch_size": 0, "cpu_threads": 2, "num_workers": 1},
                                       "faster-whisper's sequential decoder with temperature fallback"),
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
            out[label] = {"meaning": meaning, "batch_size": cfg.batch_size, "cpu_threads": cfg.cpu_threads,
                          "parallel_videos": cfg.num_workers, "word_timestamps": cfg.word_timestamps,
                          "load_s": round(load_s, 2), "x_realtime_median": round(statistics.median(rates), 1),
                          "x_realtime_runs": [round(r, 1) for r in rates],
                          "segments": len(transcripts[0].segments),
                          "wer": round(word_error_rate(" ".join(NARRATION), hyp), 4)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--skip-asr", action="store_true")
    parser.add_argument("--asr-only", action="store_true")
    args = parser.parse_args()
    results: dict[str, object] = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_avg_1min_before": round(os.getloadavg()[0], 2),
        "keyframes": {} if args.asr_only else bench_keyframes(args.minutes),
        "load_avg_1min_after_keyframes": round(os.getloadavg()[0], 2),
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
