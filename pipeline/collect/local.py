"""Local-folder sources for the five source kinds Derm1M draws on.

Each folder layout mirrors what the network collectors download: yt-dlp's `<id>.mp4` + `<id>.info.json`
+ `<id>.<lang>.vtt`, PMC's `<article>.xml` + figure files, PDFs, forum dumps as JSONL, and public
datasets as metadata CSV + image folder.
"""

from __future__ import annotations

import csv
import io
import json
import os
from bisect import bisect_left
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from pipeline.collect.base import (
    CollectedItem,
    Source,
    file_unit,
    files_signature,
    unsupported_rejects,
    unsupported_unit,
)
from pipeline.collect.filehash import canonical, walk_files
from pipeline.collect.inputs import (
    PATH_OUTSIDE_SOURCE,
    WRONG_TYPE,
    inside_root,
    parse_post,
    read_text,
    root_of,
)
from pipeline.config import DatasetSourceConfig
from pipeline.errors import ItemError
from pipeline.hashing import fingerprint
from pipeline.stage import Reject, WorkUnit
from pipeline.vocab.pii import scrub_post

SUBTITLE_SUFFIXES = (".vtt", ".srt")
_VIDEO_INFO_KEYS = ("id", "title", "description", "channel", "uploader", "duration", "license",
                    "webpage_url", "upload_date", "language", "chapters", "extractor")


@lru_cache(maxsize=8)
def _sorted_names(folder: str, mtime_ns: int) -> list[str]:
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries)


def starting_with(folder: Path, prefix: str) -> list[Path]:
    """`folder.glob(prefix + "*")` from one sorted listing per folder version: a PMC bulk folder holds every
    article's figures side by side, and a glob per article read the whole folder each time (quadratic)."""
    try:
        names = _sorted_names(str(folder), folder.stat().st_mtime_ns)
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    for name in names[bisect_left(names, prefix):]:
        if not name.startswith(prefix):
            break
        out.append(folder / name)
    return out


def _files(roots: list[Path], suffixes: tuple[str, ...]) -> Iterator[Path]:
    for root in roots:
        if root.is_file() and root.suffix.lower() in suffixes:
            yield root
        elif root.is_dir():
            yield from sorted(Path(p) for p in walk_files(str(root)) if os.path.splitext(p)[1].lower() in suffixes)


class LocalVideoSource(Source):
    """Videos with optional yt-dlp info JSON and subtitle sidecars sharing the video's stem."""

    name = "local_videos"

    def __init__(self, roots: list[Path], suffixes: list[str], config_hash: str) -> None:
        self.roots, self.suffixes, self.config_hash = roots, tuple(suffixes), config_hash

    @staticmethod
    def sidecars(video: Path) -> list[Path]:
        return sorted(p for p in video.parent.glob(f"{video.stem}.*")
                      if p != video and (p.name.endswith(".info.json") or p.suffix in SUBTITLE_SUFFIXES))

    def units(self) -> Iterator[WorkUnit]:
        claimed: set[str] = set()
        for path in _files(self.roots, self.suffixes):
            sidecars = self.sidecars(path)
            claimed.update(canonical(p) for p in (path, *sidecars))
            yield file_unit(self.name, path, sidecars, self.config_hash, self.hash_file)
        if extra := unsupported_unit(self.name, self.roots, claimed, self.config_hash):
            yield extra

    def items(self, unit: WorkUnit) -> Iterator[CollectedItem | Reject]:
        if "unsupported" in unit.payload:
            yield from unsupported_rejects(unit, f"{self.name} ({', '.join(self.suffixes)} and sidecars)")
            return
        path = Path(unit.payload["path"])
        info: dict[str, Any] = {}
        info_path = path.with_name(f"{path.stem}.info.json")
        if info_path.exists():
            try:
                info = {k: v for k, v in json.loads(info_path.read_text()).items() if k in _VIDEO_INFO_KEYS}
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield Reject(f"video:{path.stem}", "invalid_info_json", f"{info_path.name}: {exc}")
        subs = [str(p) for p in self.sidecars(path) if p.suffix in SUBTITLE_SUFFIXES]
        url = info.get("webpage_url")
        yield CollectedItem(
            kind="video", source="youtube" if url and "youtu" in str(url) else "video", source_type="edu",
            source_id=str(info.get("id") or path.stem), path=path, sha256=unit.payload["content_sha256"],
            title=info.get("title"), url=url, licence=info.get("license"),
            meta={"info": info, "subtitles": subs, "bytes": path.stat().st_size},
        )


class _SingleFileSource(Source):
    """One item per file: the shape shared by articles and PDFs."""

    suffixes: ClassVar[tuple[str, ...]]
    kind: ClassVar[str]
    source: ClassVar[str]

    def __init__(self, roots: list[Path], config_hash: str) -> None:
        self.roots, self.config_hash = roots, config_hash

    def sidecars(self, path: Path) -> list[Path]:
        return []

    def units(self) -> Iterator[WorkUnit]:
        """One unit per file. Two files with one stem (`a.xml` and `a.nxml`, or in two folders) would be one
        item id: the first in path order is kept, every later one is a `duplicate_item` naming it."""
        claimed: set[str] = set()
        first: dict[str, Path] = {}
        for path in sorted(_files(self.roots, self.suffixes)):
            sidecars = self.sidecars(path)
            claimed.update(canonical(p) for p in (path, *sidecars))
            unit = file_unit(self.name, path, sidecars, self.config_hash, self.hash_file)
            if path.stem in first:
                unit.payload["duplicate_of"] = str(first[path.stem])
            first.setdefault(path.stem, path)
            yield unit
        if extra := unsupported_unit(self.name, self.roots, claimed, self.config_hash):
            yield extra

    def items(self, unit: WorkUnit) -> Iterator[CollectedItem | Reject]:
        if "unsupported" in unit.payload:
            yield from unsupported_rejects(unit, f"{self.name} ({', '.join(self.suffixes)} and sidecars)")
            return
        path = Path(unit.payload["path"])
        if "duplicate_of" in unit.payload:
            yield Reject(str(path), "duplicate_item", f"same id {path.stem!r} as {unit.payload['duplicate_of']}, "
                         "which is kept (the first in path order)")
            return
        yield CollectedItem(kind=self.kind, source=self.source, source_type="knowledge", source_id=path.stem,
                            path=path, sha256=unit.payload["content_sha256"], meta={"bytes": path.stat().st_size})


class LocalJatsSource(_SingleFileSource):
    """PMC JATS XML files; figure files sit next to the XML (PMC packages keep them side by side)."""

    name, suffixes, kind, source = "local_jats", (".xml", ".nxml"), "article", "pubmed_english"

    def sidecars(self, path: Path) -> list[Path]:
        return [p for p in starting_with(path.parent, path.stem) if p != path and p.suffix.lower() not in self.suffixes]


class LocalPdfSource(_SingleFileSource):
    """Teaching PDFs (textbooks, slides, handouts)."""

    name, suffixes, kind, source = "local_pdfs", (".pdf",), "pdf", "textbook_english"


class LocalForumSource(Source):
    """Forum dumps as JSONL, one post per line, image paths relative to the file."""

    name = "local_forums"

    def __init__(self, roots: list[Path], config_hash: str) -> None:
        self.roots, self.config_hash = roots, config_hash

    def units(self) -> Iterator[WorkUnit]:
        """One unit per JSONL file. A post id already in an earlier file (in path order) is named in the
        later file's payload and rejected there as `duplicate_item`: overlapping dumps would otherwise fail
        the later file's whole commit on the item id and lose every post in it."""
        claimed: set[str] = set()
        first_file: dict[str, str] = {}
        for path in _files(self.roots, (".jsonl",)):
            unit = file_unit(self.name, path, [], self.config_hash, self.hash_file)
            own = unit.payload["path"]
            images, ids = self._scan(path)
            earlier = {pid: first_file[pid] for pid in ids if first_file.get(pid, own) != own}
            for pid in ids:
                first_file.setdefault(pid, own)
            claimed.update(canonical(p) for p in (path, *images))
            unit.fingerprint = fingerprint(unit.fingerprint, files_signature(images), sorted(earlier.items()))
            unit.payload["root"] = str(root_of(path, self.roots))
            unit.payload["earlier"] = earlier
            yield unit
        if extra := unsupported_unit(self.name, self.roots, claimed, self.config_hash):
            yield extra

    @staticmethod
    def _scan(path: Path) -> tuple[list[Path], list[str]]:
        """The images a file's posts name (for the fingerprint) and their post ids (for duplicates across
        files); a file that cannot be read here is rejected by items()."""
        refs: list[Path] = []
        ids: list[str] = []
        try:
            text = read_text(path)[0]
        except (ItemError, OSError):
            return refs, ids
        for line in text.splitlines():
            try:
                post = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(post, dict):
                refs.extend(path.parent / str(p) for p in post.get("images") or [])
                if post.get("id"):
                    ids.append(str(post["id"]))
        return refs, ids

    def items(self, unit: WorkUnit) -> Iterator[CollectedItem | Reject]:
        if "unsupported" in unit.payload:
            yield from unsupported_rejects(unit, "local_forums (.jsonl and the images its posts name)")
            return
        path = Path(unit.payload["path"])
        root = Path(unit.payload.get("root") or path.parent)
        earlier: dict[str, str] = unit.payload.get("earlier") or {}
        seen: set[str] = set()
        try:
            text, _ = read_text(path)
        except ItemError as exc:
            yield Reject(f"forum:{path.name}", exc.reason, exc.detail)
            return
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            ref = f"post:{path.name}:{lineno}"
            try:
                post = json.loads(line)
            except json.JSONDecodeError as exc:
                yield Reject(ref, "invalid_json", f"line {lineno}: {exc.msg}")
                continue
            if not isinstance(post, dict) or not post.get("id"):
                yield Reject(ref, "missing_field", f"line {lineno}: no post id")
                continue
            typed, problem = parse_post(post)
            if typed is None:
                yield Reject(ref, WRONG_TYPE, f"line {lineno}: {problem}")
                continue
            post_id = str(typed.id)
            if post_id in seen:
                yield Reject(f"post:{post_id}", "duplicate_item", f"line {lineno} repeats post {post_id}")
                continue
            if post_id in earlier:
                yield Reject(f"post:{post_id}", "duplicate_item",
                             f"line {lineno}: post {post_id} is already in {earlier[post_id]}, which is kept")
                continue
            seen.add(post_id)
            images = []
            for name in typed.images:
                resolved = inside_root(path.parent / name, root)
                if resolved is None:
                    yield Reject(f"post:{post_id}#{name}"[:300], PATH_OUTSIDE_SOURCE,
                                 f"line {lineno}: image {name!r} resolves outside the source folder {root}")
                else:
                    images.append(str(resolved))
            forum = typed.forum or "forum"
            # personal data never reaches the warehouse: title, body, replies and any other text field are
            # scrubbed, authors pseudonymised (pipeline.vocab.pii)
            clean, _ = scrub_post({k: v for k, v in post.items() if k != "images"})
            yield CollectedItem(
                kind="post", source=f"{forum}_english", source_type="forum", source_id=post_id, path=path,
                sha256=fingerprint(post), title=clean.get("title"), url=typed.url, licence=typed.licence,
                meta={"post": clean, "images": images},
            )


class LocalDatasetSource(Source):
    """A public dataset: metadata CSV plus image folder, columns mapped by config.

    The CSV is split into units of CHUNK_ROWS rows: a dataset that grows by appending rows (a new release)
    then redoes its last chunk and the new ones, not 100k rows. The first chunk keeps the key the whole
    file had, so a warehouse from before the split replaces its rows instead of colliding with them."""

    name = "local_datasets"
    CHUNK_ROWS = 5000

    def __init__(self, datasets: list[DatasetSourceConfig], config_hash: str) -> None:
        self.datasets, self.config_hash = {d.name: d for d in datasets}, config_hash

    def units(self) -> Iterator[WorkUnit]:
        for ds in self.datasets.values():
            csv_path = ds.path / ds.csv
            if not csv_path.exists():
                continue
            base = file_unit(self.name, csv_path, [], self.config_hash, self.hash_file)
            base.payload["dataset"] = ds.name
            images: list[Path] = []
            try:
                rows = list(csv.DictReader(io.StringIO(read_text(csv_path)[0], newline="")))
            except (ItemError, OSError):  # items() turns the unreadable file into a reject
                rows = None
                yield base
            names = [(row.get(ds.image_column) or "").strip() for row in rows or []]
            first: dict[str, int] = {}
            for n, name in enumerate(names, 1):
                first.setdefault(name, n)
            for lo in range(0, max(len(names), 1), self.CHUNK_ROWS) if rows is not None else ():
                hi = min(lo + self.CHUNK_ROWS, len(names))
                chunk_images = [self.image_path(ds, n) for n in names[lo:hi] if n]
                images.extend(chunk_images)
                repeats = {n: first[names[n - 1]] for n in range(lo + 1, hi + 1)
                           if names[n - 1] and first[names[n - 1]] != n}
                unit = WorkUnit(base.key if lo == 0 else f"{base.key}#row{lo + 1}",
                                fingerprint((rows or [])[lo:hi], repeats, ds.model_dump(mode="json"),
                                            files_signature(chunk_images), self.config_hash),
                                {**base.payload, "rows": [lo, hi], "repeats": repeats})
                yield unit
            claimed = {canonical(p) for p in (csv_path, *images)}
            if extra := unsupported_unit(self.name, [ds.path], claimed, self.config_hash, scope=ds.name):
                extra.payload["dataset"] = ds.name
                yield extra

    @staticmethod
    def image_path(ds: DatasetSourceConfig, image_name: str) -> Path:
        return ds.path / ds.image_dir / (image_name + ("" if Path(image_name).suffix else ds.image_suffix))

    def items(self, unit: WorkUnit) -> Iterator[CollectedItem | Reject]:
        ds = self.datasets[unit.payload["dataset"]]
        if "unsupported" in unit.payload:
            yield from unsupported_rejects(unit, f"local_datasets ({ds.csv} and the images its rows name)")
            return
        try:
            text, _ = read_text(Path(unit.payload["path"]))
        except ItemError as exc:
            yield Reject(f"dataset:{ds.name}", exc.reason, exc.detail)
            return
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        lo, hi = unit.payload.get("rows") or (0, len(rows))
        repeats = {int(k): v for k, v in (unit.payload.get("repeats") or {}).items()}
        for n, row in enumerate(rows[lo:hi], lo + 1):
            image_name = (row.get(ds.image_column) or "").strip()
            if not image_name:
                yield Reject(f"dataset:{ds.name}:row{n}", "missing_field", f"row {n}: no {ds.image_column}")
                continue
            if n in repeats:  # one item id per image: a repeated row would fail its chunk's commit
                yield Reject(f"dataset:{ds.name}:row{n}", "duplicate_item",
                             f"row {n} repeats image {image_name!r} of row {repeats[n]}; the first is kept")
                continue
            if inside_root(self.image_path(ds, image_name), ds.path) is None:
                yield Reject(f"dataset:{ds.name}:row{n}", PATH_OUTSIDE_SOURCE,
                             f"row {n}: image {image_name!r} resolves outside the dataset folder {ds.path}")
                continue
            image = self.image_path(ds, image_name)
            label = (row.get(ds.label_column) or "").strip()
            fields = {role: (row.get(col) or "").strip() for role, col in ds.extra_columns.items()}
            yield CollectedItem(
                kind="dataset_image", source="public", source_type="knowledge",
                source_id=f"{ds.name}:{image_name}", path=image,
                sha256=fingerprint(row, self.hash_file(image) if image.exists() else "missing"),
                title=None, licence=ds.licence,
                meta={"dataset": ds.name, "label": ds.label_map.get(label, label), "raw_label": label,
                      "row": n, "fields": fields, "modality": ds.modality, "images": [str(image)]},
            )
