"""`derm1m push`: send an export folder to a Hugging Face dataset repository (pipeline/train/push.py), kept
out of cli.py. The repository, its visibility and the Hub come from the profile's `export.push` or the
flags; the token only from the environment (`HF_TOKEN`, or the variable `export.push.token_env` names)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["cmd_push", "register"]


def register(sub: Any) -> None:
    """Add the subcommand to `derm1m`'s subparsers."""
    p = sub.add_parser(
        "push", help="push an export (CSV, images, shards, Parquet, card) to a Hugging Face dataset repo"
    )
    p.add_argument("export_dir", nargs="?", help="the export folder (default <data_dir>/export)")
    p.add_argument("--repo-id", help="user/name or org/name (default export.push.repo_id)")
    vis = p.add_mutually_exclusive_group()
    vis.add_argument("--private", dest="private", action="store_true", default=None,
                     help="create the repository private (the default unless export.push.private: false)")  # fmt: skip
    vis.add_argument("--public", dest="private", action="store_false", help="create the repository public")
    p.add_argument(
        "--endpoint", help="the Hub's URL (default export.push.endpoint, HF_ENDPOINT or huggingface.co)"
    )
    p.add_argument("--revision", help="branch to commit to (default the repository's main branch)")
    p.add_argument("--message", help="commit message (default: pairs per split and the release profile)")
    p.add_argument(
        "--no-xet", action="store_true", help="upload over Git LFS in one commit instead of hf_xet"
    )
    p.set_defaults(fn=cmd_push)


def cmd_push(args: argparse.Namespace) -> int:
    from pipeline.config import load_config
    from pipeline.errors import ConfigError
    from pipeline.train.push import push_export

    cfg = load_config(args.config)
    settings = cfg.export.push
    export_dir = Path(args.export_dir) if args.export_dir else cfg.data_dir / "export"
    repo_id = args.repo_id or settings.repo_id
    if not repo_id:
        raise ConfigError("push: no repository: pass --repo-id user/name or set export.push.repo_id")
    private = settings.private if args.private is None else args.private
    try:
        result = push_export(export_dir, repo_id, os.environ.get(settings.token_env, ""), private=private,
                             endpoint=args.endpoint or settings.endpoint, revision=args.revision or settings.revision,
                             commit_message=args.message, xet=not args.no_xet)  # fmt: skip
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - the Hub's refusal (HTTP status, offline mode) in one line
        print(
            f"derm1m push: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            file=sys.stderr,
        )
        return 1
    splits = ", ".join(f"{s} {n}" for s, n in result.splits.items())
    print(f"pushed {result.n_files} files ({result.n_bytes / 1e6:.1f} MB; rows: {splits}) to "
          f"{'private' if result.private else 'public'} dataset {result.repo_id}")  # fmt: skip
    print(f"repository: {result.repo_url}\ncommit:     {result.commit_url}")
    return 0
