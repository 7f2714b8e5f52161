"""A generic importer for exported forum threads: JSONL with a field mapping, or saved HTML pages with CSS
selectors, so a non-Reddit forum (Derm1M also drew on a Chinese forum) or exported tweets can be brought in
without a connector of their own.

Each export becomes posts shaped like Reddit's (`pipeline.collect.threads`): title, the body with the
thread section of its best answers, threaded replies with no author, image files. Only mapped fields are
read, so nothing else of the export (user names, profile links) reaches the warehouse, and the PII
scrubber still runs over every text. One unit per export file, keyed by its content hash.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from pipeline.collect.base import CollectedItem, Source, file_unit
from pipeline.collect.dumps import DumpProblem, dump_lines
from pipeline.collect.inputs import BAD_ENCODING, PATH_OUTSIDE_SOURCE, WRONG_TYPE, inside_root, read_text
from pipeline.collect.threads import thread_replies, with_thread
from pipeline.config.sources import ForumImportConfig
from pipeline.errors import ItemError
from pipeline.hashing import fingerprint
from pipeline.stage import Reject, WorkUnit
from pipeline.vocab.pii import scrub_post

POST_FIELDS = ("id", "title", "body", "url", "created_utc", "score", "images", "replies")
REPLY_FIELDS = ("id", "parent_id", "body", "score", "created_utc")
SUFFIXES = {"jsonl": (".jsonl", ".ndjson", ".zst"), "html": (".html", ".htm")}
MAX_LINE_BYTES = 8 << 20  # one exported thread with its replies


def dig(obj: Any, path: str) -> Any:
    """`obj["a"]["b"]` for the dotted path "a.b"; None where a level is missing or not an object."""
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise TypeError(type(value).__name__)


def _number(value: Any) -> float | int | None:
    if value is None or isinstance(value, int | float) and not isinstance(value, bool):
        return value
    try:
        return float(str(value).strip().replace(",", ""))
    except ValueError:
        return None


def make_post(name: str, raw: dict[str, Any], replies: list[dict[str, Any]]) -> dict[str, Any]:
    """A post from the mapped fields of one exported thread; raises TypeError on a field of the wrong type."""
    text = _text(raw.get("body")) or ""
    threaded = thread_replies(str(raw["id"]), [
        {"id": str(r.get("id") or n), "parent_id": _text(r.get("parent_id")), "body": _text(r.get("body")),
         "score": _number(r.get("score")), "created_utc": _number(r.get("created_utc"))}
        for n, r in enumerate(replies)])
    return {"id": f"{name}:{raw['id']}", "forum": name, "title": _text(raw.get("title")), "text": text,
            "body": with_thread(text, threaded), "url": _text(raw.get("url")), "score": _number(raw.get("score")),
            "created_utc": _number(raw.get("created_utc")), "replies": threaded}


class ForumImportSource(Source):
    """The exports named in `collect.sources.forum_imports`."""

    name = "forum_imports"

    def __init__(self, imports: list[ForumImportConfig], config_hash: str) -> None:
        self.imports, self.config_hash = {i.name: i for i in imports}, config_hash

    def units(self) -> Iterator[WorkUnit]:
        for imp in self.imports.values():
            suffixes = SUFFIXES[imp.format]
            files = [imp.path] if imp.path.is_file() else sorted(
                p for p in imp.path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
            for path in files:
                unit = file_unit(self.name, path, [], fingerprint(self.config_hash, imp.model_dump(mode="json")),
                                 self.hash_file)
                unit.payload["import"] = imp.name
                yield unit

    def items(self, unit: WorkUnit) -> Iterator[CollectedItem | Reject]:
        imp, path = self.imports[unit.payload["import"]], Path(unit.payload["path"])
        root = imp.path if imp.path.is_dir() else imp.path.parent
        threads = self._jsonl(imp, path) if imp.format == "jsonl" else self._html(imp, path)
        seen: set[str] = set()
        for ref, raw in threads:
            if isinstance(raw, Reject):
                yield raw
                continue
            if raw.get("id") in (None, ""):
                yield Reject(ref, "missing_field", "no post id (fields.id)")
                continue
            try:
                replies = raw.get("replies") or []
                if not isinstance(replies, list) or not all(isinstance(r, dict) for r in replies):
                    raise TypeError("replies: not a list of objects")
                post = make_post(imp.name, raw, replies)
                names = raw.get("images") or []
                names = [names] if isinstance(names, str) else names
                if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                    raise TypeError("images: not a list of paths")
            except TypeError as exc:
                yield Reject(ref, WRONG_TYPE, str(exc)[:300])
                continue
            if post["id"] in seen:
                yield Reject(f"post:{post['id']}", "duplicate_item", f"{ref} repeats post {post['id']}")
                continue
            seen.add(post["id"])
            images = []
            for name in names:
                if "://" in name:
                    continue  # a remote image an export links to: not fetched by a local import
                resolved = inside_root(path.parent / name, root)
                if resolved is None:
                    yield Reject(f"post:{post['id']}#{name}"[:300], PATH_OUTSIDE_SOURCE,
                                 f"image {name!r} resolves outside the import folder {root}")
                elif resolved.is_file():
                    images.append(str(resolved))
            clean, _ = scrub_post(post)
            yield CollectedItem(kind="post", source=f"{imp.name}_english", source_type="forum",
                                source_id=post["id"], path=path, sha256=fingerprint(post, images),
                                title=clean.get("title"), url=clean.get("url"), licence=imp.licence,
                                meta={"post": clean, "images": images})

    @staticmethod
    def _jsonl(imp: ForumImportConfig, path: Path) -> Iterator[tuple[str, dict[str, Any] | Reject]]:
        """Streamed line by line as dumps are (`.zst` too), so an export of any size is never held whole; a
        line is UTF-8 or, failing that, cp1252 (what Windows tools export), else a `bad_encoding` reject."""
        fields = {f: imp.fields.get(f, f) for f in POST_FIELDS}
        rfields = {f: imp.reply_fields.get(f, f) for f in REPLY_FIELDS}
        for entry in dump_lines(path, MAX_LINE_BYTES):
            if isinstance(entry, DumpProblem):
                yield entry.ref, Reject(f"{imp.name}:{entry.ref.removeprefix('dump:')}", entry.reason, entry.detail)
                continue
            lineno, line = entry
            ref = f"{imp.name}:{path.name}:{lineno}"
            try:
                obj = json.loads(line)
            except UnicodeDecodeError:
                try:
                    obj = json.loads(line.decode("cp1252"))
                except UnicodeDecodeError as exc:
                    yield ref, Reject(ref, BAD_ENCODING, f"line {lineno}: neither UTF-8 nor cp1252: {exc}"[:300])
                    continue
                except ValueError as exc:
                    yield ref, Reject(ref, "invalid_json", f"line {lineno}: {exc}"[:300])
                    continue
            except ValueError as exc:
                yield ref, Reject(ref, "invalid_json", f"line {lineno}: {getattr(exc, 'msg', exc)}")
                continue
            if not isinstance(obj, dict):
                yield ref, Reject(ref, WRONG_TYPE, f"line {lineno}: a JSON {type(obj).__name__}, not an object")
                continue
            raw = {f: dig(obj, key) for f, key in fields.items()}
            if isinstance(raw["replies"], list):
                raw["replies"] = [{f: dig(r, k) for f, k in rfields.items()} if isinstance(r, dict) else r
                                  for r in raw["replies"]]
            yield ref, raw

    @staticmethod
    def _html(imp: ForumImportConfig, path: Path) -> Iterator[tuple[str, dict[str, Any] | Reject]]:
        """One post per `post` element (the whole page when no `post` selector), fields by selector."""
        from cssselect import SelectorError
        from lxml import html as lxml_html

        ref_file = f"{imp.name}:{path.name}"

        try:
            text, _ = read_text(path)
            doc = lxml_html.document_fromstring(text or "<html></html>")
            sel = imp.selectors
            posts = doc.cssselect(sel["post"]) if sel.get("post") else [doc]
            for n, el in enumerate(posts):
                ref = f"{imp.name}:{path.name}#{n}"
                raw: dict[str, Any] = {f: _select(el, sel[f]) for f in ("id", "title", "body", "url", "created_utc",
                                                                        "score") if sel.get(f)}
                raw.setdefault("id", f"{path.stem}#{n}")
                raw["images"] = _select_all(el, sel["images"]) if sel.get("images") else []
                raw["replies"] = [{"id": f"r{k}", "body": _select(r, sel.get("reply_body", "")),
                                   "score": _select(r, sel["reply_score"]) if sel.get("reply_score") else None}
                                  for k, r in enumerate(el.cssselect(sel["reply"]) if sel.get("reply") else [])]
                yield ref, raw
        except ItemError as exc:  # an encoding nothing decodes
            yield ref_file, Reject(ref_file, exc.reason, exc.detail)
        except SelectorError as exc:
            yield ref_file, Reject(ref_file, "bad_selector", f"{path.name}: {exc}"[:300])
        except (ValueError, TypeError) as exc:  # lxml: a document it cannot parse
            yield ref_file, Reject(ref_file, "invalid_html", f"{path.name}: {exc}"[:300])


def _values(el: Any, selector: str) -> list[str]:
    """Texts (or `@attr` values) of the elements `selector` finds under `el`; "" selects `el` itself."""
    css, _, attr = selector.partition("@")
    found = el.cssselect(css) if css.strip() else [el]
    if attr:
        return [str(f.get(attr)) for f in found if f.get(attr) is not None]
    return [" ".join(f.text_content().split()) for f in found]


def _select(el: Any, selector: str) -> str | None:
    values = [v for v in _values(el, selector) if v]
    return "\n".join(values) if values else None


def _select_all(el: Any, selector: str) -> list[str]:
    return [os.path.normpath(unquote(v)) for v in _values(el, selector) if v]
