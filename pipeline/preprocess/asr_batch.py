"""How faster-whisper's batched pipeline runs on a CPU: one 30 s chunk at a time where that is cheaper.

`BatchedInferencePipeline` encodes, decodes and aligns a batch of VAD chunks in one CTranslate2 call
each. On one CPU thread two of the three are cheaper chunk by chunk (measured with process CPU time on
the 158 s narration of bench/video.py, six chunks, tiny.en int8):

- the encoder is compute-bound and its attention maps (6 heads x 1500 x 1500 floats per chunk) fall out
  of cache when chunks go together: encoding chunk by chunk measured 10-20 % faster on the whole call;
- word alignment (`Whisper.align`, the cross-attention pass behind word timestamps) took 0.86-0.89 s
  for the batch of six and 0.51-0.53 s for the six one at a time (pairs: 0.60 s, threes: 0.76 s);
- decoding stays batched: the decoder is bound by reading the vocabulary projection once per step,
  which the batch shares (beam 5: 2.39 s batched, 3.60 s one at a time).

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
