"""Config models for the network sources. All are off by default, so a profile that does not name them
stays offline; `pipeline.config` hangs them under `collect:`. Values only live in YAML profiles."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HttpConfig(_Model):
    """The shared HTTP client. Intervals are per host; NCBI's own limits are applied by the PubMed source."""

    timeout_s: float = 30.0
    max_retries: int = 4
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    min_interval_s: float = 0.5
    host_intervals: dict[str, float] = Field(default_factory=dict)
    max_bytes: int = 2 << 30
    cache_api_responses: bool = True


class YouTubeConfig(_Model):
    """yt-dlp search queries and channel/playlist URLs; metadata first, relevance filter, then download."""

    enabled: bool = False
    queries: list[str] = Field(default_factory=list)
    queries_from_ontology: bool = False  # append ontology.queries.youtube_queries()
    max_results_per_query: int = 50
    channels: list[str] = Field(default_factory=list)  # channel or playlist URLs
    channels_file: Path | None = None  # YAML list of {url, name}
    urls: list[str] = Field(default_factory=list)  # single video pages
    min_relevance: float = 2.0  # one dermatology term in the title; see bench/youtube_relevance.py
    max_height: int = 720
    subtitle_langs: list[str] = Field(default_factory=lambda: ["en", "en-orig", "en.*"])
    download: bool = True
    cookies_file: Path | None = None
    sleep_interval_s: float = 2.0
    max_duration_s: int = 4 * 3600
    socket_timeout_s: float = 30.0
    retries: int = 5


class PubMedConfig(_Model):
    """PMC through E-utilities: esearch over date windows, efetch JATS in batches, figures from the
    PMC Cloud Service. `figure_url_template` fields: base (cloud_base), pmcid, version (the article's
    current version, discovered from a listing of the bucket), href (the JATS graphic name), ext.

    Licences come from PMC's own statements (pipeline/collect/pmc_oa.py): the OA file lists named in
    `oa_file_lists` (URLs or local paths of oa_file_list.csv / oa_comm_use_file_list.csv ...), then the
    Cloud Service's per-version metadata (`cloud_metadata`), then the JATS <license> text as the fallback;
    `licence_source` in the item's meta says which one decided."""

    enabled: bool = False
    query: str = '(dermatology[MeSH Terms] OR skin diseases[MeSH Terms]) AND "open access"[filter]'
    db: str = "pmc"
    date_from: str = "2000/01/01"
    date_to: str | None = None  # None: today
    window_days: int = 30
    batch_size: int = 100
    max_results: int | None = None
    email: str = ""
    api_key_env: str = "NCBI_API_KEY"
    tool: str = "derm1m-pipeline"
    eutils_base: str = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"
    figures: bool = True
    figure_url_template: str = "{base}/{pmcid}.{version}/{href}{ext}"
    cloud_base: str = "https://pmc-oa-opendata.s3.amazonaws.com"
    cloud_metadata: bool = True  # list the article's versions, read metadata/<pmcid>.<version>.json
    oa_file_lists: list[str] = Field(default_factory=list)  # PMC OA file lists (CSV), URLs or paths
    skip_retracted: bool = True  # an article the metadata marks is_retracted is a `retracted` reject
    figure_ext: str = ".jpg"
    licence_groups: list[str] = Field(default_factory=lambda: ["oa_comm", "oa_noncomm"])
    europepmc: bool = False  # fetch full text from Europe PMC instead of efetch
    europepmc_base: str = "https://www.ebi.ac.uk/europepmc/webservices/rest"


class RedditConfig(_Model):
    """Reddit's API (credentials from env: client id/secret) for subreddits and keyword searches."""

    enabled: bool = False
    subreddits: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    limit_per_listing: int = 100  # posts per listing page (Reddit's most is 100)
    max_pages: int | None = 10  # listing pages per listing per run into the backlog; None: until `after` ends
    client_id_env: str = "REDDIT_CLIENT_ID"
    client_secret_env: str = "REDDIT_CLIENT_SECRET"
    api_base: str = "https://oauth.reddit.com"
    token_url: str = "https://www.reddit.com/api/v1/access_token"
    download_images: bool = True


class ForumDumpFilterConfig(_Model):
    """Which submissions of a Pushshift / Arctic Shift dump are kept (comments follow their submission).
    Empty lists keep everything; subreddits match case-insensitively, keywords as whole words of the
    title or text; dates are UTC days on `created_utc`, both ends included."""

    subreddits: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    date_from: date | None = None
    date_to: date | None = None
    max_line_bytes: int = 1 << 20  # a longer dump line is a `line_too_long` reject, never read whole


class ForumImportConfig(_Model):
    """Exported threads of a non-Reddit forum (or exported tweets): JSONL with a field mapping, or saved
    HTML pages with CSS selectors. `fields` maps a post field (id, title, body, url, created_utc, score,
    images, replies) to the export's key, dotted for nesting (`user.text`); for HTML, `selectors` maps the
    same fields (plus `post`, one element per post, and `reply`/`reply_body`/`reply_score` inside it) to
    CSS selectors, a value read from the element's text or from `selector@attr`. Images are local files
    (a saved page's `_files` folder, paths relative to the export) and must stay inside `path`."""

    name: str
    path: Path
    format: Literal["jsonl", "html"] = "jsonl"
    fields: dict[str, str] = Field(default_factory=dict)
    selectors: dict[str, str] = Field(default_factory=dict)
    reply_fields: dict[str, str] = Field(default_factory=dict)  # JSONL: body/score/id keys inside a reply
    licence: str = "unknown"


class PdfUrlListConfig(_Model):
    """Teaching PDFs listed by URL, one per line (blank lines and # comments ignored)."""

    name: str
    list_file: Path
    licence: str = "unknown"
