"""Text in whatever encoding a file really has: UTF-8 when it is, else what charset-normalizer finds.

Shared by every reader of user files (forum JSONL, dataset CSV in collect; JATS here): a Latin-1 or cp1252
file decodes to the right letters, and a file no encoding fits is an error for the caller to name, so text
is never kept with U+FFFD replacement characters in it.
"""

from __future__ import annotations


class UndecodableText(ValueError):
    """Neither UTF-8 nor any encoding charset-normalizer can decode without replacement characters."""


def decode_text(data: bytes) -> tuple[str, str]:
    """(text, encoding): "utf-8" (a BOM allowed) when the bytes are UTF-8, else the detected encoding."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or "\ufffd" in str(best):
        raise UndecodableText(f"not UTF-8 (byte {first_bad}) and no encoding fits")
    return str(best), best.encoding
