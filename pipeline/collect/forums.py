"""Forums: a connector interface, Reddit's API, and Pushshift / Arctic Shift dump import.

Both connectors speak Reddit's own JSON (dumps are archived API objects), so one normaliser
(`pipeline.collect.threads`) turns a submission plus its comments into a post: title, text, the body with
its best answers, the threaded replies, score, time and image URLs including galleries (`media_metadata`)
and previews. Images are downloaded through the shared client.

Reddit listings are paged with the `after` cursor; each post unit records the cursor of the page it was
listed on, so a run that stops at `max_pages` continues where it stopped, and a later run reads from the
top only until it meets the newest post already listed. One post is one unit, so a post found by a
subreddit listing and a keyword search is collected once. Dumps stream (`pipeline.collect.dumps`): one
unit per submission file, read again only when its content, its comment partner or the filters change.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.collect.base import CollectedItem, file_unit
from pipeline.collect.dumps import DumpFilter, dump_files, pair_files, scan_dump
from pipeline.collect.http import HttpClient
from pipeline.collect.netbase import CursorRecord, NetEntry, NetworkSource, fetch_outcome
from pipeline.collect.threads import gone_reason, image_urls, normalise_post
from pipeline.config import RunConfig
from pipeline.config.sources import ForumDumpFilterConfig, RedditConfig
from pipeline.hashing import fingerprint
from pipeline.stage import Reject, WorkUnit
from pipeline.vocab.pii import scrub_post

__all__ = ["DumpImportSource", "ForumConnector", "RedditSource", "forum_sources", "image_urls", "normalise_post"]
REDDIT_LICENCE = "Reddit user content (Reddit User Agreement)"


def _today() -> str:
    """Failed listings are fingerprinted with the date, so they are retried on a later run day."""
    return datetime.now(UTC).strftime("%Y%m%d")


DUMP_POSTS = "posts:"  # + a dump unit's key: the dump source's cursor of the ids that unit collected


def api_posts(peers: dict[str, dict[str, set[str]]]) -> set[str]:
    """Submission ids the Reddit API source has collected (its `seen:` cursor values, any listing)."""
    return {v[5:] for values in peers.get(RedditSource.name, {}).values() for v in values if v.startswith("seen:")}


def dump_posts(cursors: dict[str, set[str]], but: str = "") -> set[str]:
    """Submission ids the dump units (all, or all but the unit `but`) have collected."""
    return {sid for key, ids in cursors.items() if key.startswith(DUMP_POSTS) and key != DUMP_POSTS + but
            for sid in ids}


def id36(fullname: str) -> int:
    """A Reddit id (`1abcde` or `t3_1abcde`) as a number: ids grow with time, so the smallest `after`
    recorded is the deepest page reached and the largest id seen the newest post listed."""
    try:
        return int(fullname.rsplit("_", 1)[-1], 36)
    except ValueError:
        return -1


class ForumConnector(NetworkSource):
    """A forum source: subclasses list posts; this class turns one post into an item with images."""

    download_images: bool = True
    licence: str = REDDIT_LICENCE

    def post_item(self, post: dict[str, Any]) -> Iterator[NetEntry]:
        images: list[str] = []
        if self.download_images:
            for n, url in enumerate(post["image_urls"]):
                f = self.client.download(url, Path(url.split("?", 1)[0]).suffix.lower()[:6] or ".img")
                yield from fetch_outcome(self.name, f"image:{post['id']}:{n}", f)
                if f.ok and f.path:
                    images.append(f.path)
        # personal data never reaches the store or the warehouse: texts scrubbed, authors pseudonymised
        post, _ = scrub_post(post)
        raw, sha = self.client.store.put_bytes(json.dumps(post, sort_keys=True).encode(), ".json")
        yield CollectedItem(kind="post", source=f"{post['forum']}_english", source_type="forum",
                            source_id=str(post["id"]), path=raw, sha256=sha, title=post.get("title"),
                            url=post.get("url"), licence=self.licence,
                            meta={"post": {k: v for k, v in post.items() if k != "image_urls"},
                                  "image_urls": post["image_urls"], "images": images})


class DumpImportSource(ForumConnector):
    """Pushshift / Arctic Shift dumps (`.zst` or JSONL): submission files, each with its comment partner."""

    name = "forum_dumps"

    def __init__(self, files: list[Path], client: HttpClient, config_hash: str, download_images: bool,
                 filters: ForumDumpFilterConfig | None = None) -> None:
        super().__init__(client, config_hash)
        self.files, self.download_images = files, download_images
        self._claims: dict[str, str] = {}  # post id -> the unit that met it first in this process
        self._lock = threading.Lock()
        self.filter = DumpFilter(filters or ForumDumpFilterConfig())

    def units(self) -> Iterator[WorkUnit]:
        groups, orphans = pair_files(dump_files(self.files))
        for path, partners in groups:
            unit = file_unit(self.name, path, partners, self.config_hash, self.hash_file)
            unit.payload["comment_files"] = [str(p) for p in partners]
            yield unit
        if orphans:
            yield WorkUnit("forum_dumps:orphan_comments", fingerprint(self.config_hash, [str(p) for p in orphans]),
                           {"source": self.name, "orphans": [str(p) for p in orphans]})

    def units_offline(self) -> Iterator[str]:
        for path, partners in pair_files(dump_files(self.files))[0]:
            yield f"stream {path} (comments from {', '.join(p.name for p in partners) or 'the same file'})"

    def items(self, unit: WorkUnit) -> Iterator[NetEntry]:  # type: ignore[override]
        if "orphans" in unit.payload:
            for name in unit.payload["orphans"]:
                yield Reject(f"dump:{Path(name).name}", "no_submissions",
                             "a comment dump with no submission file beside it (RC_ needs RS_, "
                             "X_comments needs X_submissions): its comments have no post to join")
            return
        path = Path(unit.payload["path"])
        subs, comments, problems = scan_dump(path, [Path(p) for p in unit.payload["comment_files"]], self.filter)
        for problem in problems:
            yield Reject(problem.ref, problem.reason, problem.detail)
        from_api, other_dumps = api_posts(self.peer_cursors), dump_posts(self.cursors, but=unit.key)
        for sid, sub in subs.items():
            if reason := gone_reason(sub):
                yield Reject(f"post:t3_{sid}", "deleted_post", reason)
                continue
            if sid in from_api:
                yield Reject(f"post:t3_{sid}", "duplicate_item", "already collected from Reddit's API, which keeps it")
                continue
            with self._lock:  # two new dump files holding one post in the same run: the first keeps it
                first = self._claims.setdefault(sid, unit.key)
            if sid in other_dumps or first != unit.key:
                yield Reject(f"post:t3_{sid}", "duplicate_item", "already collected from another dump file "
                             f"({first.split(':', 1)[1] if first != unit.key else 'an earlier run'}), which keeps it")
                continue
            yield CursorRecord(self.name, DUMP_POSTS + unit.key, sid)
            yield from self.post_item(normalise_post(sub, comments.get(sid, [])))


class RedditSource(ForumConnector):
    """Reddit's OAuth API (application-only token from env credentials): subreddit `new` listings and
    keyword searches list post ids; each post unit then fetches the post with its comment tree."""

    name = "reddit"

    def __init__(self, cfg: RedditConfig, client: HttpClient, config_hash: str) -> None:
        super().__init__(client, config_hash)
        self.cfg, self.download_images = cfg, cfg.download_images
        self._token: str | None = None

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            cid, secret = os.environ.get(self.cfg.client_id_env), os.environ.get(self.cfg.client_secret_env)
            if not cid or not secret:
                raise RuntimeError(f"set {self.cfg.client_id_env} and {self.cfg.client_secret_env} for Reddit")
            import base64

            basic = base64.b64encode(f"{cid}:{secret}".encode()).decode()
            fetch, body = self.client.get_api(self.cfg.token_url, headers={"Authorization": f"Basic {basic}"},
                                              data={"grant_type": "client_credentials"})
            if body is None:
                raise RuntimeError(f"Reddit token request failed: {fetch.status} {fetch.error}")
            self._token = str(json.loads(body)["access_token"])
        return {"Authorization": f"Bearer {self._token}"}

    def listings(self) -> list[tuple[str, str, dict[str, str]]]:
        """(cursor key, url, params) of each listing: subreddit `new`, then keyword searches sorted by new."""
        out = [(f"{self.cfg.api_base}/r/{s}/new", {"limit": str(self.cfg.limit_per_listing)})
               for s in self.cfg.subreddits]
        for s in self.cfg.subreddits:
            out += [(f"{self.cfg.api_base}/r/{s}/search", {"q": k, "restrict_sr": "1", "sort": "new",
                                                           "limit": str(self.cfg.limit_per_listing)})
                    for k in self.cfg.keywords]
        return [(fingerprint(url.removeprefix(self.cfg.api_base), params)[:16], url, params) for url, params in out]

    def units_offline(self) -> Iterator[str]:
        for key, url, params in self.listings():
            done = self.cursors.get(key, set())
            yield (f"listing {url} {params}: " + ("new posts from the top, then " if done else "")
                   + f"up to {self.cfg.max_pages or 'all'} page(s) by `after`, then one request per new post")

    def _pages(self, url: str, params: dict[str, str], headers: dict[str, str], after: str | None,
               stop: int | None, max_pages: int | None) -> Iterator[tuple[list[str], str | None] | WorkUnit]:
        """Listing pages from `after` on: (post ids, the page's next `after`), until the listing ends, a
        page lists a post with an id <= `stop` (already listed), or `max_pages`; an error unit on failure."""
        pages = 0
        while max_pages is None or pages < max_pages:
            fetch, body = self.client.get_api(url, {**params, **({"after": after} if after else {})},
                                              headers=headers, cache=False)
            pages += 1
            try:
                data = json.loads(body)["data"] if body is not None else None
                ids = [str(c["data"]["id"]) for c in data["children"] if c.get("kind") == "t3"] if data else []
                nxt = data.get("after") if data else None
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                fetch.status, fetch.error, data = "invalid_json", f"not a listing: {exc}"[:300], None
            if data is None:
                yield WorkUnit(f"reddit:listing:{url}:{params}:{after}", fingerprint(fetch.status, fetch.error, _today()),
                               {"source": self.name, "error": f"{url} after={after}: {fetch.status} {fetch.error}"})
                return
            yield ids, nxt if isinstance(nxt, str) and nxt else None
            if not isinstance(nxt, str) or not nxt or (stop is not None and any(id36(i) <= stop for i in ids)):
                return
            after = nxt

    def units(self) -> Iterator[WorkUnit]:
        try:
            headers = self._headers()
        except RuntimeError as exc:
            yield WorkUnit("reddit:auth", fingerprint(self.config_hash, str(exc), _today()),
                           {"source": self.name, "error": str(exc)})
            return
        posts: dict[str, list[list[str | None]]] = {}
        for key, url, params in self.listings():
            done = self.cursors.get(key, set())
            seen = [id36(v.split(":", 1)[1]) for v in done if v.startswith(("seen:", "listed:"))]
            afters = [v[6:] for v in done if v.startswith("after:")]
            walks: list[tuple[str | None, int | None, int | None]] = [(None, None, self.cfg.max_pages)]
            if seen:  # new posts from the top until the newest listed one; then the backlog, if any
                walks = [(None, max(seen), None)]
                if afters and "end" not in done:
                    walks.append((min(afters, key=id36), None, self.cfg.max_pages))
            for after, stop, max_pages in walks:
                for page in self._pages(url, params, headers, after, stop, max_pages):
                    if isinstance(page, WorkUnit):
                        yield page
                        break
                    ids, nxt = page
                    for sid in ids:
                        posts.setdefault(sid, []).append([key, nxt])
        from_dumps = dump_posts(self.peer_cursors.get(DumpImportSource.name, {}))
        for sid, listed in posts.items():
            owned = sid in from_dumps  # listed (its cursors count), not fetched: a dump collected it
            yield WorkUnit(f"reddit:{sid}", fingerprint(self.config_hash, sid, "dump" if owned else ""),
                           {"source": self.name, "post_id": sid, "listed": listed, "in_dump": owned})

    def cursor_records(self, unit: WorkUnit) -> Iterator[CursorRecord]:
        """What a committed post unit says about its listings: this post was listed, and the page it was on
        continues at `after` (or the listing ended there)."""
        mark = "listed" if unit.payload.get("in_dump") else "seen"  # `seen`: collected from the API itself
        for key, nxt in unit.payload.get("listed") or []:
            yield CursorRecord(self.name, key, f"{mark}:{unit.payload['post_id']}")
            yield CursorRecord(self.name, key, f"after:{nxt}" if nxt else "end")

    def items(self, unit: WorkUnit) -> Iterator[NetEntry]:  # type: ignore[override]
        if "error" in unit.payload:
            yield Reject(unit.key, "source_unavailable", unit.payload["error"][:500])
            return
        sid = unit.payload["post_id"]
        if unit.payload.get("in_dump"):
            yield from self.cursor_records(unit)
            return
        fetch, body = self.client.get_api(f"{self.cfg.api_base}/comments/{sid}", {"limit": "500"},
                                          headers=self._headers(), cache=False)
        yield from fetch_outcome(self.name, f"post:t3_{sid}", fetch)
        if body is None:
            return
        yield from self.cursor_records(unit)
        try:
            sub, comments = comment_tree(json.loads(body))
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            yield Reject(f"post:t3_{sid}", "invalid_json", f"not a [submission, comments] answer: {exc}"[:300])
            return
        if reason := gone_reason(sub):
            yield Reject(f"post:t3_{sid}", "deleted_post", reason)
            return
        yield from self.post_item(normalise_post(sub, comments))


def comment_tree(answer: list[Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Reddit's `/comments/<id>` answer ([submission listing, comment listing]) as (submission, every
    comment of the tree, flat: `parent_id` keeps the threading); `more` stubs are not expanded."""
    post_listing, comment_listing = answer
    sub = post_listing["data"]["children"][0]["data"]
    comments: list[dict[str, Any]] = []
    stack = [c for c in comment_listing["data"]["children"] if c.get("kind") == "t1"]
    while stack:
        c = stack.pop(0)["data"]
        comments.append(c)
        replies = c.get("replies")
        if isinstance(replies, dict):
            stack.extend(r for r in replies["data"]["children"] if r.get("kind") == "t1")
    return sub, comments


def forum_sources(cfg: RunConfig, client: HttpClient) -> list[NetworkSource]:
    """The enabled forum sources. Their units' fingerprints hold only what changes a post: a dump file's
    content and the filters (not the list of dump files, so adding a month redoes no other month), and
    Reddit's settings less the page budget (raising `max_pages` lists more posts, it changes none)."""
    src = cfg.collect.sources
    out: list[NetworkSource] = []
    if src.forum_dumps:
        flt = src.forum_dump_filter
        out.append(DumpImportSource(src.forum_dumps, client,
                                    fingerprint(flt.model_dump(mode="json"), src.reddit.download_images, "dumps@2"),
                                    src.reddit.download_images, flt))
    if src.reddit.enabled:
        out.append(RedditSource(src.reddit, client,
                                fingerprint(src.reddit.model_dump(mode="json", exclude={"max_pages"}))))
    return out
