"""Push an export folder (CSV + images, WebDataset shards, Parquet, the dataset card) to a Hugging Face dataset
repository with huggingface_hub: `create_repo(exist_ok=True)` then one `upload_folder`.

Why the checks before anything is sent: the Hub reads the card's YAML header to find the Parquet files
(`configs`) and to show the licence; a header that does not parse, names no files or counts other rows
than the files hold makes a repository that `load_dataset(repo_id)` cannot read, and a failed push of
gigabytes is the expensive place to learn it. A `private` release (everything, licences that forbid
redistribution included) never goes to a public repository. The token comes from the environment only.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

from pipeline.errors import ConfigError

__all__ = ["CardError", "PushResult", "export_files", "push_export", "read_card_header", "validate_card"]

IGNORE = [".*", "**/.*", "*.partial", "**/*.partial", "**/__pycache__/**"]
REQUIRED_KEYS = ("license", "language", "task_categories", "size_categories", "configs", "dataset_info")


class CardError(ConfigError):
    """The export's README.md is not a dataset card the Hub can use; nothing was sent."""


@dataclass
class PushResult:
    repo_id: str
    repo_url: str
    commit_url: str
    commit_oid: str
    private: bool
    n_files: int
    n_bytes: int
    splits: dict[str, int] = field(default_factory=dict)  # split -> rows, from the card


def read_card_header(card: Path) -> dict[str, Any]:
    """The YAML header of a card (between the first two '---' lines)."""
    if not card.is_file():
        raise CardError(f"no dataset card at {card} (derm1m export writes it)")
    text = card.read_text(encoding="utf-8")
    if not text.startswith("---\n") or "\n---\n" not in text[4:]:
        raise CardError(f"{card}: no YAML header (the card must start with a '---' block)")
    try:
        header = yaml.safe_load(text[4 : text.index("\n---\n", 4) + 1])
    except yaml.YAMLError as exc:
        raise CardError(f"{card}: the YAML header does not parse: {exc}") from exc
    if not isinstance(header, dict):
        raise CardError(f"{card}: the YAML header is not a mapping")
    return header


def validate_card(export_dir: Path) -> dict[str, int]:
    """Check the card's header against the folder; returns rows per split. Raises CardError naming the
    first problem: a missing key, a licence `other` without `license_name`, a data_files pattern that
    matches no file, or a split whose Parquet files hold another number of rows than the card says."""
    header = read_card_header(export_dir / "README.md")
    missing = [k for k in REQUIRED_KEYS if not header.get(k)]
    if missing:
        raise CardError(f"dataset card: missing {', '.join(missing)} in the YAML header")
    if header["license"] == "other" and not header.get("license_name"):
        raise CardError("dataset card: license 'other' needs a license_name")
    files = [p.relative_to(export_dir).as_posix() for p in export_files(export_dir)]
    matched: dict[str, list[str]] = {}
    for config in header["configs"]:
        for entry in config.get("data_files") or []:
            split, pattern = entry.get("split"), entry.get("path")
            hits = [f for f in files if pattern and fnmatch.fnmatch(f, pattern)]
            if not split or not hits:
                raise CardError(f"dataset card: data_files {entry} matches no file in {export_dir}")
            matched[split] = hits
    stated = {s["name"]: int(s["num_examples"]) for s in header["dataset_info"].get("splits") or []}
    rows = {
        split: sum(pq.ParquetFile(export_dir / f).metadata.num_rows for f in hits)
        for split, hits in matched.items()
    }
    if stated != rows:
        raise CardError(
            f"dataset card: dataset_info.splits says {stated} rows, the Parquet files hold {rows}"
        )
    return rows


def export_files(export_dir: Path) -> list[Path]:
    """The files a push sends (hidden files, partial writes and caches left out), in path order."""
    out = []
    for p in sorted(export_dir.rglob("*")):
        rel = p.relative_to(export_dir).as_posix()
        if p.is_file() and not any(fnmatch.fnmatch(rel, pat) for pat in IGNORE):
            out.append(p)
    return out


def _release_profile(export_dir: Path) -> str | None:
    path = export_dir / "release.json"
    if not path.is_file():
        return None
    return str(json.loads(path.read_text(encoding="utf-8")).get("release") or "") or None


def push_export(export_dir: Path, repo_id: str, token: str, *, private: bool = True, endpoint: str | None = None,
                revision: str | None = None, commit_message: str | None = None, xet: bool = True) -> PushResult:  # fmt: skip
    """Validate, create the dataset repository if it does not exist, upload the folder in one call.

    xet=False uploads large files over Git LFS in one commit instead of hf_xet's streamed multi-commit
    pipeline (the default when hf_xet is installed): for a Hub or a proxy without Xet storage."""
    from huggingface_hub import constants

    previous = constants.HF_HUB_DISABLE_XET
    constants.HF_HUB_DISABLE_XET = previous or not xet  # huggingface_hub reads it at each upload_folder
    try:
        return _push(Path(export_dir), repo_id, token, private, endpoint, revision, commit_message)
    finally:
        constants.HF_HUB_DISABLE_XET = previous


def _push(export_dir: Path, repo_id: str, token: str, private: bool, endpoint: str | None, revision: str | None,
          commit_message: str | None) -> PushResult:  # fmt: skip
    from huggingface_hub import HfApi

    if not repo_id or repo_id.count("/") != 1:
        raise ConfigError(f"push: repo id {repo_id!r} must be 'user/name' or 'org/name'")
    if not token:
        raise ConfigError(
            "push: no Hugging Face token (set HF_TOKEN, or the variable export.push.token_env names)"
        )
    splits = validate_card(export_dir)
    release = _release_profile(export_dir)
    if release == "private" and not private:
        raise ConfigError("push: this export is a 'private' release (licences that forbid redistribution "
                          "included); it goes only to a private repository")  # fmt: skip
    files = export_files(export_dir)
    api = HfApi(endpoint=endpoint, token=token)
    repo_url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    message = commit_message or (f"Derm1M-style export: {sum(splits.values())} pairs "
                                 f"({', '.join(f'{s} {n}' for s, n in splits.items())}), {release or 'unknown'} release")  # fmt: skip
    info = api.upload_folder(folder_path=export_dir, repo_id=repo_id, repo_type="dataset", revision=revision,
                             commit_message=message, ignore_patterns=IGNORE)  # fmt: skip
    return PushResult(repo_id=repo_id, repo_url=str(repo_url), commit_url=str(getattr(info, "commit_url", info)),
                      commit_oid=str(getattr(info, "oid", "")), private=private, n_files=len(files),
                      n_bytes=sum(p.stat().st_size for p in files), splits=splits)  # fmt: skip
