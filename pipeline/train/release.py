"""Licence and provenance gates of the export: each pair's licence as an id, the release profiles, and the
release by reference of what a profile leaves out.

Why ids and not the collected text: licences arrive as JATS URLs (`https://creativecommons.org/licenses/
by-nc/4.0/`), yt-dlp strings ("Creative Commons Attribution license (reuse allowed)"), a dataset's prose
("CC BY-NC-SA 3.0 (images from ...)") or nothing at all. A gate has to compare them, a card has to count
them and a user has to filter on them, so each becomes one SPDX-like id (`CC-BY-4.0`, `CC-BY-NC-SA-3.0`,
`CC0-1.0`) or one of the non-SPDX terms `youtube-standard`, `forum-terms`, `proprietary`, `unknown`; the
text stays beside it (`licence_text`) for an auditor.

What is unstated gets the terms that actually apply, never a guess that opens it up: a forum post is the
forum's terms, a YouTube video without a Creative Commons flag is YouTube's standard licence, a textbook or
slide PDF is `proprietary` (copyrighted unless its owner says otherwise), anything else `unknown`. Only the
user can state better, per source, in `export.licences`.

The profiles (`export.release`):
- `open`: CC0, public domain (PDM), CC BY, CC BY-SA: anyone may redistribute and adapt, commercially too.
- `research` (default): `open` plus CC BY-NC and CC BY-NC-SA, for a non-commercial research release (Derm1M
  itself is CC BY-NC 4.0). NoDerivatives (CC BY-ND, CC BY-NC-ND) stays out: the export does not ship the
  works as published but keyframes, figure panels and crops cut out of them and re-encoded, next to rewritten
  captions, which is the adapted material ND forbids sharing. They go in the release by reference instead.
- `private`: everything, for use inside the group that built it.

The release by reference (`reference/pairs.parquet`) lists what was left out: where to get each image again
(source URL or id, timestamps, page or figure, an image URL when one is known, the source file relative to
the profile root), the sha256 of the image as the pair's own source gives it (`image_id`, beside it, is the
exported near-duplicate cluster's canonical image), its caption and labels; `derm1m rehydrate`
(pipeline/train/rehydrate.py) rebuilds the images from it and checks the hashes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.config import RunConfig
from pipeline.errors import ConfigError
from pipeline.formats.licences import licence_family, normalise_licence

__all__ = [
    "OPEN_FAMILIES", "PROFILES", "PROVENANCE_COLUMNS", "REFERENCE_COLUMNS", "RESEARCH_FAMILIES", "Exclusion",
    "ReleasePolicy", "admits", "default_licence", "exclusion_counts", "licence_family", "normalise_licence", "provenance",
    "write_reference",
]  # fmt: skip

OPEN_FAMILIES = frozenset({"CC0", "PDM", "CC-BY", "CC-BY-SA"})
RESEARCH_FAMILIES = OPEN_FAMILIES | {"CC-BY-NC", "CC-BY-NC-SA"}
PROFILES: dict[str, frozenset[str] | None] = {"open": OPEN_FAMILIES, "research": RESEARCH_FAMILIES,
                                              "private": None}  # fmt: skip  # None: every licence

# the provenance a pair carries in every format of the export (CSV after Derm1M's columns, Parquet, WebDataset)
PROVENANCE_COLUMNS = [
    "licence", "licence_text", "source_url", "source_id", "locator", "page", "start_s", "end_s", "frame_s",
    "dataset", "dataset_row", "image_url",
]  # fmt: skip
REFERENCE_COLUMNS = [
    "pair_id", "image_id", "sha256", "split", "source", "source_type", "item_id", *PROVENANCE_COLUMNS,
    "source_file", "caption", "truncated_caption", "disease_label", "hierarchical_disease_label",
    "skin_concept", "body_location", "symptoms", "age", "gender", "reason",
]  # fmt: skip


def admits(profile: str, licence: str) -> bool:
    """Whether a release profile may carry a pair under this licence id."""
    if profile not in PROFILES:
        raise ConfigError(f"export.release: unknown profile {profile!r}; choose from {sorted(PROFILES)}")
    families = PROFILES[profile]
    return families is None or licence_family(licence) in families


def default_licence(item_kind: str, source_url: str | None) -> str:
    """The terms of an item whose source stated none (see the module docstring)."""
    if item_kind == "post":
        return "forum-terms"
    if item_kind == "video" and source_url and ("youtube.com" in source_url or "youtu.be" in source_url):
        return "youtube-standard"
    if item_kind == "pdf":
        return "proprietary"
    return "unknown"


def _s(value: Any) -> str:
    """A cell: None is blank, floats lose a trailing `.0` noise only where they are whole."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


def provenance(r: Mapping[str, Any]) -> dict[str, str]:
    """The provenance cells of one corpus row (pipeline/train/jobs.py's query of v_export_provenance): the
    licence as found (its id is decided by ReleasePolicy.label), where the item and the image came from."""
    pmcid = r.get("pmcid")
    url = r.get("source_url") or (f"https://pmc.ncbi.nlm.nih.gov/articles/{pmcid}/" if pmcid else None)
    text = r.get("collected_licence") or r.get("article_licence")
    kind = _s(r.get("item_kind"))
    licence = normalise_licence(text) if text else default_licence(kind, url)
    if kind == "pdf" and licence == "unknown":  # "per-document (see the source page)" states none: a textbook's
        licence = default_licence(kind, url)  # copyright applies (proprietary), as for no text at all
    return {
        "licence": licence,
        "licence_text": _s(text), "source_url": _s(url), "source_id": _s(r.get("source_id")),
        "locator": _s(r.get("locator")), "page": _s(r.get("page")), "start_s": _s(r.get("start_s")),
        "end_s": _s(r.get("end_s")), "frame_s": _s(r.get("frame_s")), "dataset": _s(r.get("dataset")),
        "dataset_row": _s(r.get("dataset_row")), "image_url": _s(r.get("image_url")),
    }  # fmt: skip


@dataclass
class Exclusion:
    """A pair the export left out and why (`licence_excluded`: the profile does not admit its licence)."""

    pair_id: str
    item_id: str
    source: str
    licence: str
    reason: str
    detail: str = ""


@dataclass
class ReleasePolicy:
    """The profile and the licences the user stated (keys as in ExportConfig.licences), paths resolved
    against the profile root, which also makes `source_file` relative in the release by reference."""

    release: str = "research"
    stated: dict[str, str] = field(default_factory=dict)  # key -> licence id
    root: Path | None = None

    def __post_init__(self) -> None:
        admits(self.release, "unknown")  # an unknown profile fails here
        bad = {k: v for k, v in self.stated.items() if normalise_licence(v) == "unknown" and v != "unknown"}
        if bad:
            raise ConfigError(f"export.licences: no licence recognised in {bad}; write an id such as "
                              "CC-BY-4.0, CC-BY-NC-SA-3.0, CC0-1.0, proprietary")  # fmt: skip
        self.stated = {k: normalise_licence(v) for k, v in self.stated.items()}

    @classmethod
    def from_config(cls, cfg: RunConfig) -> ReleasePolicy:
        return cls(cfg.export.release, dict(cfg.export.licences), cfg.root)

    def _stated_for(self, row: Any) -> str | None:
        """The user's licence for a row: its source id, dataset, a folder or file holding its source file
        (the deepest wins), then its collect source name."""
        for key in (row.source_id, row.dataset):
            if key and key in self.stated:
                return self.stated[key]
        path = Path(row.source_file) if row.source_file else None
        if path is not None:
            best: tuple[int, str] | None = None
            for key, lic in self.stated.items():
                base = Path(key) if Path(key).is_absolute() or self.root is None else self.root / key
                if path == base or base in path.parents:
                    best = max(best or (-1, ""), (len(base.parts), lic))
            if best is not None:
                return best[1]
        return self.stated.get(row.source)

    def label(self, rows: Iterable[Any]) -> None:
        """Set each row's `licence` to the user's stated licence where one applies (the collected text stays
        in `licence_text`)."""
        for row in rows:
            stated = self._stated_for(row)
            if stated is not None:
                row.licence = stated

    def gate(self, rows: Sequence[Any]) -> tuple[list[Any], list[Exclusion]]:
        """The rows this profile admits, and an Exclusion for each of the others."""
        kept: list[Any] = []
        out: list[Exclusion] = []
        for row in rows:
            if admits(self.release, row.licence):
                kept.append(row)
            else:
                out.append(Exclusion(row.pair_id, row.group_id, row.source, row.licence, "licence_excluded",
                                     f"{row.licence} is not in the {self.release} release"))  # fmt: skip
        return kept, out

    def relative(self, path: str) -> str:
        """A source file as the release by reference names it: relative to the profile root when inside it
        (no machine's absolute paths go out), else its file name."""
        if not path:
            return ""
        p = Path(path)
        if self.root is not None and (p == self.root or self.root in p.parents):
            return p.relative_to(self.root).as_posix()
        return p.name


def exclusion_counts(exclusions: Iterable[Exclusion]) -> dict[str, dict[str, int]]:
    """reason -> licence -> pairs: what the manifest, the card and the summary show."""
    out: dict[str, Counter[str]] = {}
    for e in exclusions:
        out.setdefault(e.reason, Counter())[e.licence] += 1
    return {r: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) for r, c in sorted(out.items())}


def write_reference(out_dir: Path, rows: Sequence[Any], splits: Mapping[str, str], reasons: Mapping[str, str],
                    policy: ReleasePolicy) -> Path | None:  # fmt: skip
    """``out_dir/reference/pairs.parquet``: one row per excluded pair (pair_id order), no image bytes; None
    when nothing was excluded. Each row keeps the split the pair would have had, so images rebuilt with
    `derm1m rehydrate` join the export without crossing the leak-free split."""
    if not rows:
        return None
    records = []
    for r in sorted(rows, key=lambda r: r.pair_id):
        cells = {c: "" if getattr(r, c, None) is None else str(getattr(r, c)) for c in REFERENCE_COLUMNS}
        cells |= {"item_id": r.group_id or "", "sha256": r.source_image_id or r.image_id,
                  "split": splits.get(r.pair_id, ""), "source_file": policy.relative(r.source_file or ""),
                  "reason": reasons.get(r.pair_id, "")}  # fmt: skip
        records.append(cells)
    path = Path(out_dir) / "reference" / "pairs.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = pa.schema(
        [(c, pa.string()) for c in REFERENCE_COLUMNS],
        metadata={"derm1m": f"release by reference ({policy.release} profile); derm1m rehydrate"},
    )
    pq.write_table(pa.Table.from_pylist(records, schema=schema), path)
    return path
