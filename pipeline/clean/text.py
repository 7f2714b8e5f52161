"""Text normalisation for captions, posts and transcripts."""

from __future__ import annotations

import re
import unicodedata

from pipeline.vocab.pii import scrub_pii

_CONTROL = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b-\u200f\ufeff]")
_TAGS = re.compile(r"<[^>]{1,200}>")
_SPACE = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?%)\]])")
_NO_SPACE_AFTER = re.compile(r"([,;])(?=[A-Za-z])")
_REPEAT_WORD = re.compile(r"\b(\w+)(\s+\1\b)+", re.IGNORECASE)


def normalise_text(text: str | None) -> str | None:
    """NFKC, no control or zero-width characters, no markup remnants, single spaces, tidy punctuation."""
    if text is None:
        return None
    out = unicodedata.normalize("NFKC", text)
    out = _TAGS.sub(" ", _CONTROL.sub("", out))
    out = _SPACE_BEFORE_PUNCT.sub(r"\1", _SPACE.sub(" ", out)).strip()
    out = _NO_SPACE_AFTER.sub(r"\1 ", out)
    return out or None


def remove_fillers(text: str, fillers: list[str]) -> tuple[str, int]:
    """Drop spoken fillers ("um", "uh") and stutters ("the the"); return the text and fillers removed."""
    removed = 0
    for filler in sorted(fillers, key=len, reverse=True):
        pattern = re.compile(rf"(?<!\w){re.escape(filler)}(?!\w)[,]?", re.IGNORECASE)
        text, n = pattern.subn("", text)
        removed += n
    text = _REPEAT_WORD.sub(r"\1", text)
    return normalise_text(text) or "", removed


# Forum posts carry personal data; the scrubber lives in the capability layer (pipeline/vocab/pii.py) because
# the collect stage scrubs posts at ingest too and stages never import each other. The clean stage runs it
# again on every forum text (idempotent: placeholders never match).
__all__ = ["normalise_text", "remove_fillers", "scrub_pii"]
