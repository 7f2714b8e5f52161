"""How faster-whisper's batched pipeline runs on a CPU: one 30 s chunk at a time where that is cheaper.

`BatchedInferencePipeline` encodes, decodes and aligns a batch of VAD chunks in one CTranslate2 call
each. On one CPU thread two of the three are cheaper chunk by chunk (process CPU seconds for the six
chunks of bench/video.py's 158 s narration, tiny.en int8, `python -m bench.video --asr-levers`,
bench/results/asr-levers-2026-12-06.json):

- the encoder: 2.35 s chunk by chunk, 2.99 s batched. It is compute-bound, and its attention scores
  (6 heads x 1500 x 1500 floats, 54 MB a chunk) already overflow the cache for one chunk;
- word alignment (`Whisper.align`, the cross-attention pass behind word timestamps): 0.50 s one chunk
  at a time, 0.75-0.89 s for the batch (pairs measured 0.60 s, threes 0.76 s);
- decoding stays batched: each step reads the vocabulary projection once for the whole batch (beam 3:
  1.97 s batched, 3.22 s one chunk at a time).

The outputs are the same tensors and alignments, row for row (tests/test_asr_guards.py). A GPU runs the
batch at once; this wrapper is for `device: cpu`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["CpuChunkwise"]


def _rows(view: Any) -> list[Any]:
    import ctranslate2

    array = np.asarray(view)
    return [
        ctranslate2.StorageView.from_array(np.ascontiguousarray(array[i : i + 1])) for i in range(len(array))
    ]


class _AlignEach:
    """A CTranslate2 Whisper whose `align` takes a batch one chunk at a time; the rest is the model's."""

    def __init__(self, ct2: Any) -> None:
        self._ct2 = ct2

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ct2, name)

    def align(
        self,
        features: Any,
        start_sequence: list[int],
        text_tokens: list[list[int]],
        num_frames: int | list[int],
        **kwargs: Any,
    ) -> list[Any]:
        if len(text_tokens) <= 1:
            return list(self._ct2.align(features, start_sequence, text_tokens, num_frames, **kwargs))
        frames = num_frames if isinstance(num_frames, list) else [num_frames] * len(text_tokens)
        out: list[Any] = []
        for row, tokens, n in zip(_rows(features), text_tokens, frames, strict=True):
            out.extend(self._ct2.align(row, start_sequence, [tokens], [n], **kwargs))
        return out


class CpuChunkwise:
    """A faster-whisper WhisperModel for BatchedInferencePipeline on a CPU: encoder and word alignment
    chunk by chunk, decoding batched (see the module docstring for the measurements)."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.model = _AlignEach(model.model)  # what the pipeline's decode and alignment calls reach

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def encode(self, features: np.ndarray) -> Any:
        if features.ndim == 2 or features.shape[0] == 1:
            return self._model.encode(features)
        import ctranslate2

        parts = [np.asarray(self._model.encode(features[i : i + 1])) for i in range(features.shape[0])]
        return ctranslate2.StorageView.from_array(np.ascontiguousarray(np.concatenate(parts)))

    # faster-whisper's own methods, run with this object as `self` so that they reach `self.model.align`
    def add_word_timestamps(self, *args: Any, **kwargs: Any) -> Any:
        from faster_whisper.transcribe import WhisperModel

        return WhisperModel.add_word_timestamps(self, *args, **kwargs)  # type: ignore[arg-type]

    def find_alignment(self, *args: Any, **kwargs: Any) -> Any:
        from faster_whisper.transcribe import WhisperModel

        return WhisperModel.find_alignment(self, *args, **kwargs)  # type: ignore[arg-type]
