"""Guards around Whisper output and the vocabulary prompt that steers it, plus word error rate.

Whisper invents text where there is none: "Thank you." over silence, lyrics or "[Music]" over music,
loops of one phrase, and echoes of its own prompt. Each guard names its reason so dropped segments
become reject rows that can be audited. The prompt lists ontology terms that the video's own metadata
(title, description, tags, chapters) mentions, so the decoder is nudged towards the spelling of the
conditions the lecture is about instead of a fixed list the 224-token prompt window could not hold.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jiwer
import numpy as np

from pipeline.preprocess.speech import Segment

_NON_SPEECH = re.compile(r"^\s*(\[[^\]]*\]|\([^)]*\))\s*$")  # "[Music]", "(applause)"


def norm_words(text: str) -> list[str]:
    """Lower-cased words without punctuation (apostrophes kept): what the guards and the WER compare."""
    return re.sub(r"[^\w\s']", " ", text.lower()).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, on lower-cased, unpunctuated words.

    jiwer aligns; `norm_words` normalises first (jiwer's default transform only splits on spaces), so the
    numbers equal those of the hand-written dynamic programme this replaced. An empty reference gives 1.0
    when anything was heard, else 0.0.
    """
    ref, hyp = " ".join(norm_words(reference)), " ".join(norm_words(hypothesis))
    if not ref:
        return float(bool(hyp))
    return float(jiwer.wer(ref, hyp))


def compression_ratio(text: str) -> float:
    """Whisper's own loop signal: raw bytes / zlib bytes; above ~2.4 the text repeats itself."""
    data = text.encode()
    return len(data) / max(1, len(zlib.compress(data))) if data else 0.0


def has_loop(words: list[str], min_repeats: int = 4) -> bool:
    """A phrase of 1-6 words said `min_repeats` times back to back ("the the the the", ...)."""
    for size in range(1, 7):
        for start in range(0, max(0, len(words) - size * min_repeats) + 1):
            unit = words[start:start + size]
            if all(words[start + k * size:start + (k + 1) * size] == unit for k in range(1, min_repeats)):
                return True
    return False


@dataclass(frozen=True)
class GuardConfig:
    no_speech_max: float = 0.6
    logprob_min: float = -1.0
    compression_ratio_max: float = 2.4
    silence_dbfs: float = -50.0  # RMS of the segment's audio below this: nothing was said


def _rms_dbfs(audio: np.ndarray, sr: int, start_s: float, end_s: float) -> float | None:
    chunk = audio[max(0, int(start_s * sr)):max(0, int(end_s * sr))]
    if chunk.size == 0:
        return None
    rms = float(np.sqrt(np.mean(np.square(chunk, dtype=np.float64))))
    return 20 * np.log10(max(rms, 1e-10))


def drop_hallucinations(
    segments: Iterable[Segment], no_speech_max: float = 0.6, logprob_min: float = -1.0,
    audio: np.ndarray | None = None, sr: int = 16000, prompt: str | None = None,
    guards: GuardConfig | None = None,
) -> tuple[list[Segment], list[tuple[Segment, str]]]:
    """Whisper's known failure modes, keeping the reason for every drop:

    - `empty`: no words once punctuation is removed; `non_speech`: only a tag like [Music] or ♪;
    - `silence`: the audio under the segment is below `silence_dbfs` (needs `audio`);
    - `no_speech`: the model thinks there is no speech AND is unsure of the text (Whisper's rule:
      no_speech_prob > 0.6 with avg_logprob < -1);
    - `compression_ratio` / `repetition_loop`: the text loops inside the segment;
    - `prompt_echo`: the text is a piece of the initial prompt;
    - `repetition`: the same text as each of the previous two segments (the third and later copies of a
      loop; two identical short answers in a row can be real speech).
    """
    g = guards or GuardConfig(no_speech_max=no_speech_max, logprob_min=logprob_min)
    prompt_norm = " ".join(norm_words(prompt)) if prompt else ""
    kept: list[Segment] = []
    dropped: list[tuple[Segment, str]] = []
    history: list[str] = []
    for seg in segments:
        words = norm_words(seg.text)
        norm = " ".join(words)
        loud = _rms_dbfs(audio, sr, seg.start_s, seg.end_s) if audio is not None else None
        reason: str | None = None
        if not norm:
            reason = "empty"
        elif _NON_SPEECH.match(seg.text):
            reason = "non_speech"
        elif loud is not None and loud < g.silence_dbfs:
            reason = "silence"
        elif (seg.no_speech_prob is not None and seg.avg_logprob is not None
              and seg.no_speech_prob > g.no_speech_max and seg.avg_logprob < g.logprob_min):
            reason = "no_speech"
        elif compression_ratio(seg.text) > g.compression_ratio_max:
            reason = "compression_ratio"
        elif has_loop(words):
            reason = "repetition_loop"
        elif prompt_norm and len(words) >= 3 and norm in prompt_norm:
            reason = "prompt_echo"
        elif len(history) >= 2 and history[-1] == norm and history[-2] == norm:
            reason = "repetition"
        history.append(norm)
        if reason is None:
            kept.append(seg)
        else:
            dropped.append((seg, reason))
    return kept, dropped


def ontology_prompt(meta: dict[str, Any] | None, ontology: Any = None, max_terms: int = 40) -> str | None:
    """An initial prompt naming the ontology conditions and concepts that the video's metadata mentions.

    None when the metadata names none (a generic prompt would only add echo risk).
    """
    if not meta:
        return None
    if ontology is None:
        from ontology import default_ontology

        ontology = default_ontology()
    info = meta.get("info") or meta
    parts = [str(info.get(k) or "") for k in ("title", "description")]
    parts += [str(t) for t in info.get("tags") or []]
    parts += [str(c.get("title", "")) for c in info.get("chapters") or [] if isinstance(c, dict)]
    haystack = f" {' '.join(norm_words(' '.join(parts)))} "
    found: dict[str, None] = {}
    for of in ("conditions", "concepts"):
        for term in ontology.terms(of):
            surface = " ".join(norm_words(term.surface))
            if len(surface) >= 4 and f" {surface} " in haystack:
                found.setdefault(surface, None)
    if not found:
        return None
    terms = sorted(found, key=lambda t: (-len(t), t))[:max_terms]
    return "Dermatology lecture about " + ", ".join(sorted(terms)) + "."
