"""YouTube (and any page yt-dlp understands) through the yt-dlp Python API.

Planning (`units()`) lists video ids from search queries, channels and playlists with a flat, metadata-only
extraction, cached per day on disk; one work unit is one video id, so a video found by several queries is
collected once. Per video: full metadata first (title, description, channel, duration, licence, language,
chapters, subtitles), the relevance filter with its score and reason, and only then the download capped at
720p with audio plus manual and automatic subtitles. A download archive makes reruns skip finished ids.
Bot checks, geo and age blocks, private or removed videos become a per-video status, never a crash.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.collect.base import CollectedItem
from pipeline.collect.http import Fetch, HttpClient
from pipeline.collect.netbase import FetchRecord, NetEntry, NetworkSource, fetch_outcome, link_or_copy
from pipeline.config.sources import YouTubeConfig
from pipeline.hashing import fingerprint, sha256_file
from pipeline.stage import Reject, WorkUnit
from pipeline.vocab.relevance import RelevanceScorer

INFO_KEYS = ("id", "title", "description", "channel", "channel_id", "uploader", "duration", "license",
             "language", "chapters", "webpage_url", "upload_date", "tags", "categories", "extractor",
             "view_count", "age_limit")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov")
log = logging.getLogger(__name__)
_BLOCKS = (  # (pattern in yt-dlp's message, status); first match wins
    (r"confirm you.?re not a bot", "bot_check"),
    (r"confirm your age|age[- ]restricted|inappropriate for some users", "age_restricted"),
    (r"not (?:made )?(?:this video )?available in your country|not available from your location|geo[- ]?restrict"
     r"|blocked it in your country", "geo_blocked"),
    (r"private video", "private"),
    (r"members[- ]only|join this channel", "members_only"),
    (r"video unavailable|has been removed|no longer available|account .* terminated", "unavailable"),
    (r"HTTP Error 404|404: Not Found", "not_found"),
    (r"HTTP Error 429|too many requests", "rate_limited"),
    (r"HTTP Error 5\d\d|timed out|connection", "connection_error"),
)


class _Log:
    """yt-dlp's messages into Python logging instead of stderr (errors also come back as statuses)."""

    def debug(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    info = debug

    def warning(self, msg: str) -> None:
        log.info("yt-dlp: %s", msg)

    error = warning


def block_status(message: str) -> str:
    for pattern, status in _BLOCKS:
        if re.search(pattern, message, re.I):
            return status
    return "extract_error"


def load_channels(path: Path | None) -> list[str]:
    if path is None:
        return []
    import yaml

    data = yaml.safe_load(path.read_text()) or []
    return [str(e["url"] if isinstance(e, dict) else e) for e in data]


class YouTubeSource(NetworkSource):
    name = "youtube"

    def __init__(self, cfg: YouTubeConfig, client: HttpClient, data_dir: Path, config_hash: str,
                 scorer: RelevanceScorer | None = None) -> None:
        super().__init__(client, config_hash)
        self.cfg, self.out_dir = cfg, data_dir / "collect" / "youtube"
        self.lists_dir = data_dir / "raw" / "_youtube_lists"
        self.scorer = scorer or RelevanceScorer.from_ontology()

    def targets(self) -> list[tuple[str, str]]:
        """(kind, yt-dlp target) for every query, channel/playlist and single URL in the config."""
        queries = list(self.cfg.queries)
        if self.cfg.queries_from_ontology:
            from ontology.queries import youtube_queries

            queries += [q for q in youtube_queries() if q not in queries]
        out = [("search", f"ytsearch{self.cfg.max_results_per_query}:{q}") for q in queries]
        out += [("list", u) for u in [*self.cfg.channels, *load_channels(self.cfg.channels_file)]]
        return out + [("video", u) for u in self.cfg.urls]

    def units_offline(self) -> Iterator[str]:
        for kind, target in self.targets():
            yield f"{kind} {target} (metadata only, then relevance >= {self.cfg.min_relevance}, " \
                  f"download <= {self.cfg.max_height}p + subtitles into {self.out_dir})"

    def _ydl_opts(self, **extra: Any) -> dict[str, Any]:
        opts: dict[str, Any] = {
            "quiet": True, "no_warnings": True, "noprogress": True, "socket_timeout": self.cfg.socket_timeout_s,
            "retries": self.cfg.retries, "extractor_retries": 2, "sleep_interval_requests": self.cfg.sleep_interval_s,
            "http_headers": {"User-Agent": self.client_user_agent()}, "logger": _Log(),
        }
        if self.cfg.cookies_file:
            opts["cookiefile"] = str(self.cfg.cookies_file)
        return {**opts, **extra}

    def client_user_agent(self) -> str:
        from pipeline.collect.http import USER_AGENT

        return USER_AGENT

    def _listing(self, target: str) -> list[dict[str, Any]]:
        """Flat entries of a search/channel/playlist, cached on disk for the day."""
        import yt_dlp

        day = datetime.now(UTC).strftime("%Y%m%d")
        cache = self.lists_dir / f"{fingerprint(target, day)}.json"
        if cache.exists():
            return list(json.loads(cache.read_text()))
        with yt_dlp.YoutubeDL(self._ydl_opts(extract_flat="in_playlist")) as ydl:
            info = ydl.extract_info(target, download=False) or {}
        entries = [{"id": e.get("id"), "url": e.get("url") or e.get("webpage_url"), "title": e.get("title")}
                   for e in (info.get("entries") or []) if e and e.get("id")]
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(entries))
        return entries

    def units(self) -> Iterator[WorkUnit]:
        import yt_dlp

        for kind, target in self.targets():
            if kind == "video":
                yield self._video_unit(target, target, target)
                continue
            try:
                entries = self._listing(target)
            except yt_dlp.utils.DownloadError as exc:
                day = datetime.now(UTC).strftime("%Y%m%d")  # retried on a later day
                yield WorkUnit(f"youtube:list:{target}", fingerprint(self.config_hash, "failed", day),
                               {"source": self.name, "list_error": str(exc)[:500], "url": target})
                continue
            youtube = kind == "search" or "youtube.com" in target or "youtu.be" in target
            for e in entries:
                url = e["url"] or (f"https://www.youtube.com/watch?v={e['id']}" if youtube else None)
                if url:  # a non-YouTube listing entry without its own URL cannot be fetched on its own
                    yield self._video_unit(str(e["id"]), url, target)

    def _video_unit(self, video_id: str, url: str, found_by: str) -> WorkUnit:
        return WorkUnit(f"youtube:{video_id}", fingerprint(self.config_hash, video_id),
                        {"source": self.name, "url": url, "found_by": found_by})

    def items(self, unit: WorkUnit) -> Iterator[NetEntry]:  # type: ignore[override]
        import yt_dlp

        url = unit.payload["url"]
        if "list_error" in unit.payload:
            status = block_status(unit.payload["list_error"])
            yield from fetch_outcome(self.name, unit.key, Fetch(url, status, error=unit.payload["list_error"]))
            return
        try:
            with yt_dlp.YoutubeDL(self._ydl_opts()) as ydl:
                info = ydl.sanitize_info(ydl.extract_info(url, download=False)) or {}
        except yt_dlp.utils.DownloadError as exc:
            yield from fetch_outcome(self.name, f"video:{url}", Fetch(url, block_status(str(exc)), error=str(exc)[:500]))
            return
        vid = str(info.get("id") or unit.key.split(":", 1)[1])
        meta = {k: info.get(k) for k in INFO_KEYS if info.get(k) is not None}
        meta["subtitle_langs"] = sorted(info.get("subtitles") or {})
        meta["auto_caption_langs"] = sorted(info.get("automatic_captions") or {})
        raw, _ = self.client.store.put_bytes(json.dumps(meta, sort_keys=True).encode(), ".info.json")
        yield FetchRecord(self.name, f"metadata:{vid}", Fetch(url, "ok", bytes=raw.stat().st_size, path=str(raw)))
        rel = self.scorer.score(str(meta.get("title") or ""), str(meta.get("description") or ""),
                               [str(t) for t in meta.get("tags") or []])
        relevance = {"score": rel.score, "reason": rel.reason}
        if rel.score < self.cfg.min_relevance:
            yield Reject(f"video:{vid}", "not_relevant", f"score {rel.score}: {rel.reason}"[:500])
            return
        if (duration := meta.get("duration")) and duration > self.cfg.max_duration_s:
            yield Reject(f"video:{vid}", "too_long", f"{duration} s > {self.cfg.max_duration_s} s")
            return
        video = self._download(url, vid) if self.cfg.download else None
        if self.cfg.download and not isinstance(video, Path):
            yield from fetch_outcome(self.name, f"video:{vid}", video or Fetch(url, "extract_error"))
            return
        yield from self._item(vid, url, meta, relevance, video, raw)

    def _download(self, url: str, vid: str) -> Path | Fetch:
        import yt_dlp

        existing = self._video_file(vid)
        if existing is not None:
            return existing
        self.out_dir.mkdir(parents=True, exist_ok=True)
        h = self.cfg.max_height
        opts = self._ydl_opts(
            format=f"bv*[height<=?{h}]+ba/b[height<=?{h}]/bv*[height<=?{h}]", merge_output_format="mp4",
            outtmpl=str(self.out_dir / "%(id)s.%(ext)s"), writesubtitles=True, writeautomaticsub=True,
            subtitleslangs=self.cfg.subtitle_langs, subtitlesformat="vtt/best", writeinfojson=True,
            download_archive=str(self.out_dir / "archive.txt"), max_filesize=self.client.max_bytes,
            sleep_interval=self.cfg.sleep_interval_s, max_sleep_interval=self.cfg.sleep_interval_s * 2,
        )
        try:
            with yt_dlp.YoutubeDL(opts) as ydl:
                ydl.download([url])
        except yt_dlp.utils.DownloadError as exc:
            return Fetch(url, block_status(str(exc)), error=str(exc)[:500])
        return self._video_file(vid) or Fetch(url, "no_file", error="yt-dlp wrote no video file (over max_bytes?)")

    def _video_file(self, vid: str) -> Path | None:
        for p in sorted(self.out_dir.glob(f"{vid}.*")):
            if p.suffix in VIDEO_SUFFIXES and not p.name.endswith(".part"):
                return p
        return None

    def _item(self, vid: str, url: str, meta: dict[str, Any], relevance: dict[str, Any],
              video: Path | Fetch | None, info_path: Path) -> Iterator[CollectedItem | FetchRecord]:
        """The video item; in metadata-only mode (download: false) its file is the stored info JSON."""
        path = video if isinstance(video, Path) else info_path
        sha = sha256_file(path)
        extra: dict[str, Any] = {"info": meta, "relevance": relevance, "subtitles": []}
        if isinstance(video, Path):
            raw = self.client.store.path_for(sha, video.suffix)
            link_or_copy(video, raw)
            extra["raw_path"], extra["bytes"] = str(raw), video.stat().st_size
            extra["subtitles"] = [str(p) for p in sorted(self.out_dir.glob(f"{vid}.*"))
                                  if p.suffix in (".vtt", ".srt")]
            yield FetchRecord(self.name, f"video:{vid}", Fetch(url, "ok", bytes=extra["bytes"], sha256=sha,
                                                                path=str(raw)), meta.get("license"))
        yield CollectedItem(kind="video", source="youtube", source_type="edu", source_id=vid, path=path,
                            sha256=sha, title=meta.get("title"), url=meta.get("webpage_url") or url,
                            licence=meta.get("license"), meta=extra)
