"""`derm1m rehydrate`: rebuild the images of a release by reference (release.py's reference/pairs.parquet).

Why: a pair whose licence forbids redistribution is published as where to get it (source URL or id,
timestamps, page or figure, image URL) plus the sha256 of the exported image; whoever has the right to the
source rebuilds the image and can prove it is the same one. Like img2dataset over a URL list, every row ends
as a status (never an exception), a rerun redoes only what is not on disk yet, and the report says what
failed and why.

How an image comes back, first that applies:
- `image_url`: downloaded through the caller's `download` (the CLI passes the project's HTTP client,
  pipeline/collect/http.py, with its retries, politeness and byte cap);
- `source_file`, under `source_root` (where the user keeps their copy of the sources; default the profile
  root): an image file is read; a PDF's figure is extracted again at its page and index, a JATS
  article's figure from its graphic file, with the same code preprocess used, and a video's keyframe is
  decoded at its frame time with PyAV as preprocess decodes it.
Each is then normalised as preprocess normalises (pipeline/media.py, the profile's `preprocess.image`), so
its sha256 is comparable with the one listed: a different hash is `hash_mismatch` and nothing is written.
The sha256 listed is the image as the pair's own source gives it. Figure panels were cut by the build's panel
detector and some keyframes cropped to the photo on a slide: panels are `unsupported` here and a cropped
keyframe a `hash_mismatch`; both come back by rebuilding their source through the pipeline.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from pipeline.config import ImageConfig, PdfConfig
from pipeline.errors import ItemError
from pipeline.hashing import sha256_file
from pipeline.media import normalise_image
from pipeline.train.release import REFERENCE_COLUMNS

__all__ = ["Download", "Outcome", "RehydrateReport", "rehydrate"]

# url -> (status, body, detail): status "ok" or the HTTP client's reason code (not_found, timeout, ...)
Download = Callable[[str], tuple[str, bytes | None, str]]
_PANEL = re.compile(r"/p\d+$")  # a compound figure's panel: `f1/p2`, `p3/1/p2`
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov", ".avi")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")


@dataclass
class Outcome:
    """One image of the reference: `ok` (rebuilt and verified), `exists` (already there, verified), or why
    not: a download status, `missing_source`, `hash_mismatch`, `undecodable`, `not_found_in_source`,
    `unsupported`."""

    sha256: str
    pair_ids: list[str]
    status: str
    via: str = ""  # url | file | pdf | jats | video
    detail: str = ""
    path: str = ""  # the image written, relative to out_dir


@dataclass
class RehydrateReport:
    out_dir: Path
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(o.status for o in self.outcomes))

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status not in ("ok", "exists")]


class _Sources:
    """Reads the local sources, each parsed once (a PDF with many listed figures is extracted once)."""

    def __init__(self, root: Path | None, pdf_cfg: PdfConfig) -> None:
        self.root, self.pdf_cfg = root, pdf_cfg
        self._pdfs: dict[Path, dict[str, bytes]] = {}

    def image(self, row: dict[str, str]) -> tuple[str, Any, str, str]:
        """(via, image bytes or file, status, detail) for a row's source file; no image: why, as a status."""
        if self.root is None or not row["source_file"]:
            return "", None, "missing_source", "no image URL and no source file listed"
        path = self.root / row["source_file"]
        if not path.is_file():
            return "file", None, "missing_source", f"{path} not found (pass the folder holding the sources)"
        locator, suffix = row["locator"], path.suffix.lower()
        if _PANEL.search(locator):
            return "", None, "unsupported", "a figure panel: rebuild its source through the pipeline"
        if suffix in IMAGE_SUFFIXES:
            return "file", path, "ok", ""
        if suffix == ".pdf":
            found = self._pdf(path).get(locator)
            return (
                "pdf",
                found,
                *(("ok", "") if found else ("not_found_in_source", f"{locator} in {path.name}")),
            )
        if suffix in (".xml", ".nxml"):
            return self._jats(path, locator)
        if suffix in VIDEO_SUFFIXES and row["frame_s"]:
            return self._keyframe(path, float(row["frame_s"]))
        return "", None, "unsupported", f"a {suffix or 'file'} source with no figure or frame to take"

    @staticmethod
    def _keyframe(path: Path, frame_s: float) -> tuple[str, Any, str, str]:
        """The video frame at `frame_s` (frame number round(frame_s * fps), as preprocess numbers them),
        decoded in full with PyAV as preprocess decodes keyframes, as an RGB array."""
        import av

        try:
            container = av.open(str(path))
        except (av.FFmpegError, OSError) as exc:
            return "video", None, "undecodable", f"cannot open {path.name}: {exc}"
        try:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            tb = float(stream.time_base) if stream.time_base else 1.0 / max(fps, 1.0)
            start, target = stream.start_time or 0, round(frame_s * fps)
            for frame in container.decode(stream):
                if frame.pts is not None and round((frame.pts - start) * tb * fps) >= target:
                    return "video", frame.to_ndarray(format="rgb24"), "ok", ""
        except av.FFmpegError as exc:
            return "video", None, "undecodable", f"{path.name}: {exc}"
        finally:
            container.close()
        return "video", None, "not_found_in_source", f"no frame at {frame_s} s in {path.name}"

    def _pdf(self, path: Path) -> dict[str, bytes]:
        from pipeline.formats.pdf import extract_pdf_figures

        if path not in self._pdfs:
            doc = extract_pdf_figures(path, self.pdf_cfg)
            self._pdfs[path] = {
                f"p{f.page}/{'v' if f.source == 'vector' else ''}{f.index}": f.image_bytes
                for f in doc.figures
            }
        return self._pdfs[path]

    @staticmethod
    def _jats(path: Path, locator: str) -> tuple[str, bytes | Path | None, str, str]:
        from pipeline.formats.jats import parse_jats, resolve_graphic

        fig_id, _, n = locator.partition("/")
        for fig in parse_jats(path.read_bytes()).figures:
            if fig.fig_id == fig_id and fig.graphic_hrefs:
                href = fig.graphic_hrefs[int(n) if n.isdigit() else 0]
                graphic = resolve_graphic(path, href)
                if graphic is None:
                    return (
                        "jats",
                        None,
                        "missing_source",
                        f"graphic {href} of {fig_id} not next to {path.name}",
                    )
                return "jats", graphic, "ok", ""
        return "jats", None, "not_found_in_source", f"no figure {fig_id} in {path.name}"


def _verify(
    data: bytes | Path | np.ndarray, expected: str, image_cfg: ImageConfig
) -> tuple[str, bytes | None, str, str]:
    """(status, normalised bytes, ext, detail): `ok` only when the normalised image has the listed sha256."""
    try:
        img = normalise_image(data, image_cfg)
    except ItemError as exc:
        return "undecodable", None, "", f"{exc.reason}: {exc.detail}"
    if img.sha256 != expected:
        return "hash_mismatch", None, "", f"got sha256 {img.sha256[:16]}..., listed {expected[:16]}..."
    return "ok", img.data, img.ext, ""


def _one(rows: list[dict[str, str]], out_dir: Path, download: Download | None, sources: _Sources,
         image_cfg: ImageConfig) -> Outcome:  # fmt: skip
    first = rows[0]
    sha = first["sha256"]
    outcome = Outcome(sha, [r["pair_id"] for r in rows], "missing_source")
    have = sorted((out_dir / "images").glob(f"{sha}.*"))
    if have and sha256_file(have[0]) == sha:  # the file holds the normalised bytes the hash names
        outcome.status, outcome.path = "exists", have[0].relative_to(out_dir).as_posix()
        return outcome
    data: bytes | Path | np.ndarray | None = None
    if first["image_url"] and download is not None:
        outcome.via = "url"
        status, data, detail = download(first["image_url"])
        if status != "ok":
            outcome.status, outcome.detail = status, f"{first['image_url']}: {detail}".rstrip(": ")
            data = None
    if data is None:  # no URL, or it failed: the local source, whose failure does not hide the URL's
        via, data, status, detail = sources.image(first)
        if data is not None or outcome.via != "url":
            outcome.via, outcome.status, outcome.detail = via, status, detail
    if data is None:
        return outcome
    outcome.status, body, ext, outcome.detail = _verify(data, sha, image_cfg)
    if body is not None:
        dest = out_dir / "images" / f"{sha}.{ext}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(dest.suffix + ".part")
        tmp.write_bytes(body)
        tmp.replace(dest)
        outcome.path = dest.relative_to(out_dir).as_posix()
    return outcome


def rehydrate(
    reference: Path, out_dir: Path, download: Download | None = None, source_root: Path | None = None,
    image_cfg: ImageConfig | None = None, pdf_cfg: PdfConfig | None = None,
) -> RehydrateReport:  # fmt: skip
    """Rebuild every image listed in `reference` into ``out_dir/images/<sha256>.<ext>``; write
    ``out_dir/rehydrated.csv`` (the reference's rows whose image came back, with their `filename`) and
    ``out_dir/rehydrate_report.csv`` + ``.json`` (one line per image: status, how, why)."""
    image_cfg, pdf_cfg = image_cfg or ImageConfig(), pdf_cfg or PdfConfig()
    table = pq.read_table(reference)
    missing = set(REFERENCE_COLUMNS) - set(table.column_names)
    if missing:
        raise ValueError(f"{reference} is not a release by reference: no column(s) {sorted(missing)}")
    by_image: dict[str, list[dict[str, str]]] = {}
    for row in table.to_pylist():
        by_image.setdefault(row["sha256"], []).append({k: v or "" for k, v in row.items()})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = _Sources(source_root, pdf_cfg)
    report = RehydrateReport(out_dir)
    for sha in sorted(by_image):
        report.outcomes.append(_one(by_image[sha], out_dir, download, sources, image_cfg))
    _write(report, by_image)
    return report


def _write(report: RehydrateReport, by_image: dict[str, list[dict[str, str]]]) -> None:
    out = report.out_dir
    fields = ["sha256", "status", "via", "detail", "path", "pair_ids"]
    with open(out / "rehydrate_report.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for o in report.outcomes:
            writer.writerow(asdict(o) | {"pair_ids": " ".join(o.pair_ids)})
    summary: dict[str, Any] = {"images": len(report.outcomes), "counts": report.counts,
                               "failed": [asdict(o) for o in report.failed]}  # fmt: skip
    (out / "rehydrate_report.json").write_text(
        json.dumps(summary, indent=1, sort_keys=True), encoding="utf-8"
    )
    columns = ["filename", *[c for c in REFERENCE_COLUMNS if c not in ("sha256", "reason")]]
    with open(out / "rehydrated.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for o in report.outcomes:
            if o.path:
                for row in sorted(by_image[o.sha256], key=lambda r: r["pair_id"]):
                    writer.writerow(row | {"filename": o.path})
