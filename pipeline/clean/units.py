"""The clean stage's work units, typed: what `candidates()` reads from the warehouse for each kind, and all
that `process()` may use (it never reads the warehouse itself, and it may run in another process)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pipeline.hashing import shallow_fields

Segment = tuple[int, float, float, str]  # (seg_index, start_s, end_s, text)


@dataclass(frozen=True)
class ImageUnit:
    """A stored image to score; `known_type` is a `vision_image_types` row when it was classified before."""

    kind: ClassVar[str] = "image"
    image_id: str
    path: str
    known_type: dict[str, Any] | None = None


@dataclass(frozen=True)
class TextUnit:
    """One image reference's text (caption, post, description) and its context."""

    kind: ClassVar[str] = "text"
    ref_id: str
    item_id: str
    image_id: str
    ref_kind: str  # preprocess_image_refs.kind: jats_figure, pdf_figure, keyframe, post_image, dataset_image
    text: str | None
    context: str | None

    def content(self) -> dict[str, Any]:
        """What the unit's fingerprint covers: every field (a changed caption or context redoes it)."""
        return shallow_fields(self)


@dataclass(frozen=True)
class TranscriptUnit:
    """One video's timed speech segments."""

    kind: ClassVar[str] = "transcript"
    item_id: str
    segments: tuple[Segment, ...]


CleanUnit = ImageUnit | TextUnit | TranscriptUnit
