"""The export's release settings: which licences a release may carry, and licences the user states.

Why a section of its own: what may be redistributed is a decision about the release, not about training,
and `derm1m export` and the build's train stage must apply the same one. The train stage's export unit
reads this section (pipeline/train/stage.py), so changing the profile re-exports. pipeline/train/release.py
says what each profile admits and how licence texts become ids.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


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
