"""Forums: a connector interface, Reddit's API, and Pushshift / Arctic Shift JSONL dump import.

Both connectors speak Reddit's own JSON (dumps are archived API objects), so one normaliser turns a
submission plus its comments into a post: title, text, author, score, time, replies, and image URLs
including galleries (`media_metadata`) and previews. Images are downloaded through the shared client.
One work unit is one post, so a post found by a subreddit listing and a keyword search is collected once.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.collect.base import CollectedItem
from pipeline.collect.http import HttpClient
from pipeline.collect.netbase import NetEntry, NetworkSource, fetch_outcome
from pipeline.config import RunConfig
from pipeline.config.sources import RedditConfig
from pipeline.hashing import fingerprint
from pipeline.stage import Reject, WorkUnit
from pipeline.vocab.pii import scrub_post

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp")


def _today() -> str:
    """Failed listings are fingerprinted with the date, so they are retried on a later run day."""
    return datetime.now(UTC).strftime("%Y%m%d")


def image_urls(sub: dict[str, Any]) -> list[str]:
    """Direct image links, gallery items in gallery order, then preview sources; HTML entities undone."""
    urls: list[str] = []
    url = str(sub.get("url_overridden_by_dest") or sub.get("url") or "")
    if url.lower().split("?", 1)[0].endswith(IMAGE_SUFFIXES):
        urls.append(url)
    media = sub.get("media_metadata") or {}
    order = [g.get("media_id") for g in (sub.get("gallery_data") or {}).get("items") or []] or list(media)
    for mid in order:
        src = (media.get(mid) or {}).get("s") or {}
        if src.get("u") or src.get("gif"):
            urls.append(str(src.get("u") or src.get("gif")))
    if not urls:
        for img in (sub.get("preview") or {}).get("images") or []:
            if (img.get("source") or {}).get("url"):
                urls.append(str(img["source"]["url"]))
    return list(dict.fromkeys(html.unescape(u) for u in urls))


def normalise_post(sub: dict[str, Any], comments: list[dict[str, Any]]) -> dict[str, Any]:
    replies = [{"id": c.get("id"), "parent_id": c.get("parent_id"), "author": c.get("author"),
                "score": c.get("score"), "created_utc": c.get("created_utc"), "body": c.get("body")}
               for c in comments if c.get("body") not in (None, "[deleted]", "[removed]")]
    permalink = sub.get("permalink")
    return {
        "id": f"t3_{sub['id']}", "forum": "reddit", "subreddit": sub.get("subreddit"), "title": sub.get("title"),
        "text": sub.get("selftext") or "", "author": sub.get("author"), "score": sub.get("score"),
        "created_utc": sub.get("created_utc"), "url": f"https://www.reddit.com{permalink}" if permalink else None,
        "image_urls": image_urls(sub), "replies": replies, "over_18": sub.get("over_18"),
    }


class ForumConnector(NetworkSource):
    """A forum source: subclasses list posts; this class turns one post unit into an item with images."""

    download_images: bool = True

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
                            url=post.get("url"), licence="Reddit user content (Reddit User Agreement)",
                            meta={"post": {k: v for k, v in post.items() if k != "image_urls"},
                                  "image_urls": post["image_urls"], "images": images})


class DumpImportSource(ForumConnector):
    """Pushshift / Arctic Shift dumps: JSONL of submissions (`t3` objects) and of comments (`link_id`)."""

    name = "forum_dumps"

    def __init__(self, files: list[Path], client: HttpClient, config_hash: str, download_images: bool) -> None:
        super().__init__(client, config_hash)
        self.files, self.download_images = files, download_images
        self._posts: dict[str, dict[str, Any]] | None = None
        self.bad_lines: list[Reject] = []

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._posts is not None:
            return self._posts
        subs: dict[str, dict[str, Any]] = {}
        comments: dict[str, list[dict[str, Any]]] = {}
        for path in self.files:
            with open(path, encoding="utf-8", errors="replace") as fh:
                for lineno, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as exc:
                        self.bad_lines.append(Reject(f"dump:{path.name}:{lineno}", "invalid_json", exc.msg))
                        continue
                    if not isinstance(obj, dict) or not obj.get("id"):
                        self.bad_lines.append(Reject(f"dump:{path.name}:{lineno}", "missing_field", "no id"))
                    elif "link_id" in obj:
                        comments.setdefault(str(obj["link_id"]).removeprefix("t3_"), []).append(obj)
                    else:
                        subs.setdefault(str(obj["id"]), obj)
        self._posts = {sid: normalise_post(s, sorted(comments.get(sid, []), key=lambda c: c.get("created_utc") or 0))
                       for sid, s in subs.items()}
        return self._posts

    def units(self) -> Iterator[WorkUnit]:
        for sid, post in self._load().items():
            yield WorkUnit(f"forum_dumps:{sid}", fingerprint(self.config_hash, post),
                           {"source": self.name, "post_id": sid})
        if self.bad_lines:
            yield WorkUnit("forum_dumps:bad_lines", fingerprint(self.config_hash, [r.item_id for r in self.bad_lines]),
                           {"source": self.name, "bad_lines": True})

    def units_offline(self) -> Iterator[str]:
        for path in self.files:
            yield f"import {path} (Pushshift / Arctic Shift JSONL)"

    def items(self, unit: WorkUnit) -> Iterator[NetEntry]:  # type: ignore[override]
        if unit.payload.get("bad_lines"):
            yield from self.bad_lines
            return
        yield from self.post_item(self._load()[unit.payload["post_id"]])


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

    def listings(self) -> list[tuple[str, dict[str, str]]]:
        out = [(f"{self.cfg.api_base}/r/{s}/new", {"limit": str(self.cfg.limit_per_listing)})
               for s in self.cfg.subreddits]
        for s in self.cfg.subreddits:
            out += [(f"{self.cfg.api_base}/r/{s}/search", {"q": k, "restrict_sr": "1", "sort": "new",
                                                           "limit": str(self.cfg.limit_per_listing)})
                    for k in self.cfg.keywords]
        return out

    def units_offline(self) -> Iterator[str]:
        for url, params in self.listings():
            yield f"listing {url} {params} then one request per new post for its comments"

    def units(self) -> Iterator[WorkUnit]:
        try:
            headers = self._headers()
        except RuntimeError as exc:
            yield WorkUnit("reddit:auth", fingerprint(self.config_hash, str(exc), _today()),
                           {"source": self.name, "error": str(exc)})
            return
        for url, params in self.listings():
            fetch, body = self.client.get_api(url, params, headers=headers, cache=False)
            if body is None:
                yield WorkUnit(f"reddit:listing:{url}:{params}", fingerprint(fetch.status, fetch.error, _today()),
                               {"source": self.name, "error": f"{url}: {fetch.status} {fetch.error}"})
                continue
            for child in json.loads(body).get("data", {}).get("children", []):
                sid = str((child.get("data") or {}).get("id") or "")
                if sid:
                    yield WorkUnit(f"reddit:{sid}", fingerprint(self.config_hash, sid),
                                   {"source": self.name, "post_id": sid})

    def items(self, unit: WorkUnit) -> Iterator[NetEntry]:  # type: ignore[override]
        if "error" in unit.payload:
            yield Reject(unit.key, "source_unavailable", unit.payload["error"][:500])
            return
        sid = unit.payload["post_id"]
        fetch, body = self.client.get_api(f"{self.cfg.api_base}/comments/{sid}", {"limit": "500"},
                                          headers=self._headers(), cache=False)
        yield from fetch_outcome(self.name, f"post:t3_{sid}", fetch)
        if body is None:
            return
        post_listing, comment_listing = json.loads(body)
        sub = post_listing["data"]["children"][0]["data"]
        comments: list[dict[str, Any]] = []
        stack = [c for c in comment_listing["data"]["children"] if c.get("kind") == "t1"]
        while stack:
            c = stack.pop(0)["data"]
            comments.append(c)
            replies = c.get("replies")
            if isinstance(replies, dict):
                stack.extend(r for r in replies["data"]["children"] if r.get("kind") == "t1")
        yield from self.post_item(normalise_post(sub, comments))


def forum_sources(cfg: RunConfig, client: HttpClient) -> list[NetworkSource]:
    src = cfg.collect.sources
    out: list[NetworkSource] = []
    if src.forum_dumps:
        out.append(DumpImportSource(src.forum_dumps, client, fingerprint([str(p) for p in src.forum_dumps]),
                                    src.reddit.download_images))
    if src.reddit.enabled:
        out.append(RedditSource(src.reddit, client, fingerprint(src.reddit.model_dump(mode="json"))))
    return out
