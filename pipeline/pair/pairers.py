"""Pairers: decide which text goes with an image.

Keyframes take the narration spoken while their scene is on screen plus a context window on both sides
(Quilt-1M and Derm1M pair by time); figures, PDF images, posts and dataset images take their own text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PAIR_KINDS = {
    "keyframe": "keyframe_narration",
    "jats_figure": "figure_caption",
    "pdf_figure": "pdf_caption",
    "post_image": "post_text",
    "dataset_image": "dataset_label",
}


@dataclass(frozen=True)
class TimedText:
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class NarrationPair:
    text: str
    start_s: float
    end_s: float
    align_score: float
    n_segments: int


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


class NarrationPairer:
    """Join the segments overlapping [scene start - window, scene end + window].

    align_score is the share of the joined speech time that falls inside the scene itself, so a pair made
    mostly of context-window speech scores low and can be filtered later.
    """

    def __init__(self, context_window_s: float) -> None:
        self.window = context_window_s

    def pair(self, scene_start: float, scene_end: float, segments: Sequence[TimedText]) -> NarrationPair | None:
        lo, hi = scene_start - self.window, scene_end + self.window
        chosen = [s for s in segments if _overlap(s.start_s, s.end_s, lo, hi) > 0 or lo <= s.start_s < hi]
        if not chosen:
            return None
        speech = sum(max(s.end_s - s.start_s, 1e-6) for s in chosen)
        inside = sum(_overlap(s.start_s, s.end_s, scene_start, scene_end) for s in chosen)
        return NarrationPair(
            text=" ".join(s.text.strip() for s in chosen if s.text.strip()),
            start_s=min(s.start_s for s in chosen), end_s=max(s.end_s for s in chosen),
            align_score=round(min(1.0, inside / speech), 4), n_segments=len(chosen),
        )
