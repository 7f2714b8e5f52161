"""Licence ids: one SPDX-like id per licence text, URL or code, shared by collect (PMC's file lists and
Cloud Service metadata say `CC BY`, `CC BY-NC-ND`, `CC0`, `NO-CC CODE`), formats (JATS <license>) and the
release gates of train (pipeline/train/release.py says why ids and which profiles admit which).

Ids: `CC-BY[-NC][-SA|-ND][-<version>]`, `CC0-1.0`, `PDM-1.0`, or one of the non-SPDX terms in NON_CC.
Anything unrecognisable is `unknown`, never a guess that opens it up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["NON_CC", "licence_family", "normalise_licence"]

NON_CC = ("youtube-standard", "forum-terms", "proprietary", "unknown")

_CC_URL = re.compile(r"creativecommons\.org/licen[cs]es/((?:by)(?:-nc)?(?:-sa|-nd)?)/(\d(?:\.\d)?)", re.I)
_CC_ZERO = re.compile(r"creativecommons\.org/publicdomain/zero|\bcc[\s-]?0\b|\bcc[\s-]?zero\b", re.I)
_PD_MARK = re.compile(r"creativecommons\.org/publicdomain/mark|\bpublic[\s-]domain\b|\bpdm\b", re.I)
_CC_SHORT = re.compile(r"\bcc[\s-]+by((?:[\s-]+(?:nc|sa|nd))*)(?:[\s-]+(\d(?:\.\d)?))?\b", re.I)
_VERSION = re.compile(r"\b(\d\.\d)\b")
_KNOWN_ID = re.compile(r"^(CC0-1\.0|PDM-1\.0|CC-BY(?:-NC)?(?:-SA|-ND)?(?:-\d\.\d)?)$", re.I)


def _cc(parts: Iterable[str], version: str | None) -> str:
    """`CC-BY[-NC][-SA|-ND][-<version>]` from the licence elements found, in the canonical order."""
    found = {p.upper() for p in parts}
    elements = ["BY"] + [e for e in ("NC", "SA", "ND") if e in found]
    if "SA" in elements and "ND" in elements:  # no such licence: read as the stricter one
        elements.remove("SA")
    version = f"{version}.0" if version and "." not in version else version
    return "-".join(["CC", *elements, *([version] if version else [])])


def normalise_licence(text: str | None) -> str:
    """The id of a licence text, URL or id; `unknown` when nothing recognisable is in it."""
    raw = (text or "").strip()
    if not raw:
        return "unknown"
    if raw.lower() in NON_CC:
        return raw.lower()
    if _KNOWN_ID.match(raw):
        return raw.upper().replace("CC0", "CC0").replace("PDM", "PDM")
    if m := _CC_URL.search(raw):
        return _cc(m.group(1).split("-"), m.group(2))
    if _CC_ZERO.search(raw):
        return "CC0-1.0"
    if _PD_MARK.search(raw):
        return "PDM-1.0"
    low = raw.lower()
    if "creative commons" in low or "creativecommons" in low:
        parts = ["nc"] if re.search(r"non[\s-]?commercial", low) else []
        parts += ["sa"] if re.search(r"share[\s-]?alike", low) else []
        parts += ["nd"] if re.search(r"no[\s-]?deriv", low) else []
        version = _VERSION.search(raw)
        # YouTube's one Creative Commons option is CC BY 3.0; yt-dlp reports it without the version
        default = "3.0" if "reuse allowed" in low else None
        return _cc(parts, version.group(1) if version else default)
    if m := _CC_SHORT.search(raw):
        return _cc(re.split(r"[\s-]+", m.group(1).strip(" -")) if m.group(1) else [], m.group(2))
    if "youtube" in low and "standard" in low:
        return "youtube-standard"
    if re.search(r"user agreement|forum|terms of (?:service|use)|reddit", low):
        return "forum-terms"
    if re.search(r"all rights reserved|copyright|©|proprietary|research use|agreement|restricted", low):
        return "proprietary"
    return "unknown"


def licence_family(licence: str) -> str:
    """The licence without its version: `CC-BY-NC-4.0` -> `CC-BY-NC`, `CC0-1.0` -> `CC0`."""
    return re.sub(r"-\d\.\d$", "", licence)
