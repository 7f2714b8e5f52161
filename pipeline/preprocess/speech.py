"""Timed speech as every transcript source gives it (subtitles, ASR backends, guards, pairing)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Word:
    start_s: float
    end_s: float
    text: str
    probability: float | None = None


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    text: str
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    words: tuple[Word, ...] = ()


@dataclass
class Transcript:
    segments: list[Segment]
    language: str | None
    model: str  # "<backend>:<model name>", e.g. "faster-whisper:tiny.en"
    language_probability: float | None = None
    prompt: str | None = None
