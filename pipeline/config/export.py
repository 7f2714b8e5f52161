"""The export's release settings: which licences a release may carry, and licences the user states.

Why a section of its own: what may be redistributed is a decision about the release, not about training,
and `derm1m export` and the build's train stage must apply the same one. The train stage's export unit
reads this section (pipeline/train/stage.py), so changing the profile re-exports. pipeline/train/release.py
says what each profile admits and how licence texts become ids.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.config.base import NOT_OUTPUT


class PushConfig(BaseModel):
    """`derm1m push` (pipeline/train/push.py): the Hugging Face dataset repository an export goes to. The token
    is never in a profile: it is read from the environment variable `token_env`. `private` defaults to true:
    making a corpus public is a decision to state. `endpoint`: another Hub (default: huggingface_hub's,
    HF_ENDPOINT or https://huggingface.co)."""

    model_config = ConfigDict(extra="forbid")

    repo_id: str | None = None  # "user/name" or "org/name"
    private: bool = True
    endpoint: str | None = None
    token_env: str = "HF_TOKEN"
    revision: str | None = None  # a branch; default the repository's main branch


class ExportConfig(BaseModel):
    """`release`: `open` (CC0, public domain, CC BY, CC BY-SA), `research` (open plus the NonCommercial
    licences CC BY-NC and CC BY-NC-SA; the default), `private` (everything, for use inside the group that
    built it). A pair whose licence the profile does not admit is left out of the export and listed in its
    release by reference (`reference/pairs.parquet`, rebuilt with `derm1m rehydrate`).

    `licences`: licences the user states, overriding what collect found; each key is a dataset name, a
    source item id (`PMC123`, a video id, a PDF's file stem), a folder or file (relative to the profile root)
    or a collect source name (`textbook_english`, `reddit_english`, ...). Textbook PDFs, forum posts and
    videos with YouTube's standard licence stay `private` unless stated here.
    """

    model_config = ConfigDict(extra="forbid")

    release: Literal["open", "research", "private"] = "research"
    licences: dict[str, str] = Field(default_factory=dict)
    # where `derm1m push` sends the export; not part of what the export holds, so it changes no fingerprint
    push: PushConfig = Field(default_factory=PushConfig, json_schema_extra=NOT_OUTPUT)
