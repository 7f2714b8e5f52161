"""`derm1m rehydrate`: the release-by-reference command (pipeline/train/rehydrate.py), kept out of cli.py.

Why here and not in pipeline/: the images come back through the project's one HTTP client, which belongs to
the collect stage (pipeline/collect/http.py), and a stage never imports another; the application layer
wires the client to the train stage's rehydrator.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["cmd_rehydrate", "register"]


def register(sub: Any) -> None:
    """Add the subcommand to `derm1m`'s subparsers."""
    p = sub.add_parser(
        "rehydrate", help="rebuild the images of a release by reference, checking their sha256"
    )
    p.add_argument("reference", nargs="?",
                   help="reference Parquet (default <data_dir>/export/reference/pairs.parquet)")  # fmt: skip
    p.add_argument("out", nargs="?", help="folder for images/ and the report (default <data_dir>/rehydrated)")
    p.add_argument("--source-root", help="folder the reference's source files are relative to (default: the "
                   "profile root); your copies of the PDFs, articles and images")  # fmt: skip
    p.add_argument("--no-download", action="store_true", help="use local sources only, never the network")
    p.set_defaults(fn=cmd_rehydrate)


def cmd_rehydrate(args: argparse.Namespace) -> int:
    from pipeline.collect.network import make_client
    from pipeline.config import load_config
    from pipeline.train.rehydrate import rehydrate

    cfg = load_config(args.config)
    reference = (
        Path(args.reference) if args.reference else cfg.data_dir / "export" / "reference" / "pairs.parquet"
    )
    if not reference.is_file():
        print(f"derm1m rehydrate: no release by reference at {reference}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else cfg.data_dir / "rehydrated"
    client = None if args.no_download else make_client(cfg)

    def download(url: str) -> tuple[str, bytes | None, str]:
        assert client is not None
        fetch = client.download(url)
        if not fetch.ok or fetch.path is None:
            return fetch.status, None, f"HTTP {fetch.http_status} {fetch.error}".strip()
        return "ok", Path(fetch.path).read_bytes(), ""

    try:
        report = rehydrate(reference, out, None if client is None else download,
                           Path(args.source_root) if args.source_root else cfg.root,
                           cfg.preprocess.image, cfg.preprocess.pdf)  # fmt: skip
    finally:
        if client is not None:
            client.close()
    counts = ", ".join(f"{n} {status}" for status, n in sorted(report.counts.items()))
    print(f"rehydrated {len(report.outcomes)} image(s): {counts} -> {out / 'images'}")
    print(f"report: {out / 'rehydrate_report.csv'}; pairs: {out / 'rehydrated.csv'}")
    return 1 if report.failed else 0
