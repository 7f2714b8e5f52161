"""ASR benchmark: realtime factor and word error rate of the project's transcriber against plain
faster-whisper on the same audio (issue 18's bar: WER <= plain beam 5 at >= 1.5x plain beam 1).

- Audio: ~2.6 minutes of espeak-ng speech (en-us, 150 wpm) from dermatology sentences (apt install
  espeak-ng), transcribed by FasterWhisperTranscriber (bundled tiny.en, int8) in the modes of ASR_OURS
  and by plain faster-whisper (WhisperModel.transcribe, beam 1 and beam 5) with the same weights and
  cores: two videos in flight with one thread each; realtime factor = audio seconds transcribed per
  wall second, and per CPU second of the process (steadier on a shared machine), models loaded and
  warmed up, all modes taking turns, median of --repeats rounds, ratio to plain beam 1; WER (and
  substituted / deleted / inserted words) after lower-casing and stripping punctuation; "goal" says per
  mode whether the bar is met in the run.
- Levers (`bench_asr_levers`): what each speed lever does on one thread, process CPU seconds and WER.
Run through bench/video.py: `python -m bench.video --asr-only [--repeats 5]` (results
bench/results/asr-<date>.json) and `python -m bench.video --asr-levers` (asr-levers-<date>.json).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
