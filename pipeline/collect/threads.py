"""Forum threads: a submission with its comments as one post, the answers ordered best first.

Derm1M's forum pairs take their label from the answers ("looks like tinea corporis"), so the thread has to
reach the text that pairing and labelling read. The preprocess stage pairs a post image with the post's
`title` and `body`; the body here is the submission's own text followed by a thread section of its best
answers (most upvoted first), so the existing pairer and labeller see the answer that names the diagnosis
without a change to either. The whole threaded reply list stays in `replies` (preprocess keeps it as the
image's context). Authors are never kept: they are dropped here, and the collector still runs the PII
scrubber over every text field.
"""

from __future__ import annotations

import html
from typing import Any

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp")
GONE = frozenset({"[deleted]", "[removed]"})
BOTS = frozenset({"automoderator"})
THREAD_ANSWERS = 5  # top-level answers written into the body
THREAD_CHARS = 4000  # the thread section's length cap (pair texts stay caption-sized)
THREAD_HEADING = "Answers (most upvoted first):"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def image_urls(sub: dict[str, Any]) -> list[str]:
    """Direct image links, gallery items in gallery order, then preview sources; HTML entities undone.
    Fields of the wrong type count as absent (a dump line may hold anything)."""
    urls: list[str] = []
    url = sub.get("url_overridden_by_dest") or sub.get("url") or ""
    if isinstance(url, str) and url.lower().split("?", 1)[0].endswith(IMAGE_SUFFIXES):
        urls.append(url)
    media = _dict(sub.get("media_metadata"))
    items = _dict(sub.get("gallery_data")).get("items")
    order = [_dict(g).get("media_id") for g in items] if isinstance(items, list) and items else list(media)
    for mid in order:
        src = _dict(_dict(media.get(mid) if isinstance(mid, str) else None).get("s"))
        link = src.get("u") or src.get("gif")
        if isinstance(link, str) and link:
            urls.append(link)
    if not urls:
        images = _dict(sub.get("preview")).get("images")
        for img in images if isinstance(images, list) else []:
            link = _dict(_dict(img).get("source")).get("url")
            if isinstance(link, str) and link:
                urls.append(link)
    return list(dict.fromkeys(html.unescape(u) for u in urls))


def gone_reason(sub: dict[str, Any]) -> str | None:
    """Why a submission is not collected: its author deleted it or a moderator removed it. Its images
    and title may still be served, but a post its owner took down does not belong in a corpus."""
    text = sub.get("selftext")
    if isinstance(text, str) and text.strip() in GONE:
        return f"selftext is {text.strip()}"
    if sub.get("removed_by_category"):
        return f"removed ({sub['removed_by_category']})"
    if isinstance(sub.get("title"), str) and sub["title"].strip() in GONE:
        return f"title is {sub['title'].strip()}"
    return None


def _score(c: dict[str, Any]) -> tuple[float, float]:
    score, when = c.get("score"), c.get("created_utc")
    return (-(score if isinstance(score, int | float) else 0),
            when if isinstance(when, int | float) else 0.0)


def thread_replies(sid: str, comments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Comments threaded under submission `sid` (parent_id `t3_<sid>` or `t1_<comment>`), flattened
    depth first with siblings ordered by score (best first). A deleted or removed comment and a bot's
    comment are left out, their replies kept one level up; a comment whose parent is not in the list
    (not in the dump, or collapsed behind "more") is taken as a top-level answer. No author is kept."""
    by_id = {str(c.get("id")): c for c in comments if c.get("id") is not None}
    children: dict[str, list[dict[str, Any]]] = {}
    for c in by_id.values():
        parent = str(c.get("parent_id") or "")
        key = parent[3:] if parent.startswith("t1_") and parent[3:] in by_id else ""
        children.setdefault(key, []).append(c)
    out: list[dict[str, Any]] = []
    stack: list[tuple[dict[str, Any], int]] = [(c, 1) for c in sorted(children.get("", []), key=_score)][::-1]
    seen: set[str] = set()
    while stack:
        c, depth = stack.pop()
        cid = str(c.get("id"))
        if cid in seen:  # a parent loop in hostile data
            continue
        seen.add(cid)
        body = c.get("body")
        shown = (isinstance(body, str) and body.strip() not in GONE and body.strip() != ""
                 and str(c.get("author") or "").lower() not in BOTS)
        if shown:
            out.append({"id": cid, "parent_id": c.get("parent_id"), "depth": depth, "score": c.get("score"),
                        "created_utc": c.get("created_utc"), "body": body})
        kids = sorted(children.get(cid, []), key=_score)
        stack.extend((k, depth + 1 if shown else depth) for k in reversed(kids))
    return out


def thread_text(replies: list[dict[str, Any]]) -> str:
    """The thread section of a post's body: its best top-level answers, one per line."""
    lines: list[str] = []
    size = len(THREAD_HEADING)
    for r in (r for r in replies if r.get("depth") == 1):
        line = "- " + " ".join(str(r["body"]).split())
        if len(lines) == THREAD_ANSWERS or size + len(line) + 1 > THREAD_CHARS:
            break
        lines.append(line)
        size += len(line) + 1
    return "\n".join([THREAD_HEADING, *lines]) if lines else ""


def with_thread(text: str, replies: list[dict[str, Any]]) -> str:
    """A post's own text followed by its thread section (what preprocess pairs with the post's images)."""
    section = thread_text(replies)
    return "\n\n".join(s for s in (text.strip(), section) if s)


def normalise_post(sub: dict[str, Any], comments: list[dict[str, Any]]) -> dict[str, Any]:
    """A Reddit submission (API or dump object) and its comments as one post. `text` is the submission's
    own text, `body` that text with the thread section; no author of the submission or a reply is kept."""
    sid = str(sub["id"])
    replies = thread_replies(sid, comments)
    text = str(sub.get("selftext") or "") if isinstance(sub.get("selftext"), str) else ""
    permalink = sub.get("permalink")
    return {
        "id": f"t3_{sid}", "forum": "reddit", "subreddit": sub.get("subreddit"), "title": sub.get("title"),
        "text": text, "body": with_thread(text, replies), "score": sub.get("score"),
        "created_utc": sub.get("created_utc"),
        "url": f"https://www.reddit.com{permalink}" if isinstance(permalink, str) and permalink else None,
        "image_urls": image_urls(sub), "replies": replies, "over_18": sub.get("over_18"),
    }
