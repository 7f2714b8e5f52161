"""Text normalisation for captions, posts and transcripts."""

from __future__ import annotations

import re
import unicodedata

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


# Forum posts carry their authors' contact details and other users' names; none of it helps an image-text
# model and all of it is personal data, so it becomes a placeholder before anything is stored downstream.
# Order matters: URLs first (they contain @ and digits), then emails, handles, phone numbers.
_PII = (
    ("[URL]", re.compile(r"\b(?:https?://|www\.)[^\s<>\"')\]]*[^\s<>\"')\].,;:!?]", re.IGNORECASE)),
    ("[EMAIL]", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b", re.IGNORECASE)),
    ("[USER]", re.compile(r"(?<![\w/])(?:/?u/[A-Za-z0-9_-]{3,20}|@[A-Za-z0-9_](?:[A-Za-z0-9_.]{1,29}))\b")),
    ("[PHONE]", re.compile(r"(?<![\w.])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])\d{3,4}[\s.-]?\d{3,4}"
                           r"(?![\w.])|(?<![\w.])\+?\d{10,14}(?![\w.])")),
)


def scrub_pii(text: str | None) -> tuple[str | None, dict[str, int]]:
    """Replace URLs, emails, @handles / u/names and phone numbers; return the text and counts per placeholder.

    Doses and sizes ("0.05%", "2 x 3 cm", "3-4 weeks") do not look like phone numbers: those need 9+ digits
    in the usual groupings.
    """
    counts: dict[str, int] = {}
    if text is None:
        return None, counts
    for placeholder, pattern in _PII:
        text, n = pattern.subn(placeholder, text)
        if n:
            counts[placeholder] = n
    return text, counts
