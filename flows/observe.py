"""What a stage run shows while and after it runs: a progress bar in the terminal and a Prefect artifact.

The artifact is the stage's one-screen summary in the Prefect UI (items in, out, rejected by reason,
throughput), read back from the rows the driver committed, so it says what the warehouse holds.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

import duckdb

from pipeline.stage import StageReport


class StageProgress:
    """A tqdm bar over a stage's pending units (to stderr); a no-op when disabled or nothing is pending."""

    def __init__(self, stage: str, enabled: bool = True) -> None:
        self.stage, self.enabled = stage, enabled
        self.bar: Any = None

    def __enter__(self) -> StageProgress:
        return self

    def update(self, done: int, total: int) -> None:
        if not self.enabled or total == 0:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=f"{self.stage:<10}", unit="unit", file=sys.stderr,
                            dynamic_ncols=True, leave=True)
        self.bar.update(done - self.bar.n)

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self.bar is not None:
            self.bar.close()


def stage_summary_markdown(con: duckdb.DuckDBPyConnection, report: StageReport) -> str:
    """The artifact's markdown: the run's counts and throughput, then its rejects by reason."""
    row = con.execute(
        "SELECT epoch(finished_at - started_at) FROM stage_runs WHERE run_id = ? AND stage = ?",
        [report.run_id, report.stage]).fetchone()  # fmt: skip
    seconds = float(row[0]) if row and row[0] is not None else 0.0
    rate = f"{report.items_in / seconds:.1f}" if seconds > 0 and report.items_in else "-"
    reasons = con.execute(
        "SELECT reason, count(*) FROM rejects WHERE run_id = ? AND stage = ? GROUP BY 1 ORDER BY 2 DESC, 1",
        [report.run_id, report.stage]).fetchall()  # fmt: skip
    lines = [
        f"# {report.stage}: run {report.run_id}",
        "",
        "| units in | rows out | rejected | skipped (already done) | seconds | units/s | status |",
        "|---:|---:|---:|---:|---:|---:|---|",
        f"| {report.items_in} | {report.items_out} | {report.items_rejected} | {report.items_skipped} "
        f"| {seconds:.1f} | {rate} | {report.status} |",
        "",
        "| reject reason | items |",
        "|---|---:|",
        *(f"| `{reason}` | {n} |" for reason, n in reasons),
    ]
    if not reasons:
        lines.append("| (none) | 0 |")
    return "\n".join(lines) + "\n"


def publish_stage_artifact(con: duckdb.DuckDBPyConnection, report: StageReport) -> None:
    """One markdown artifact per stage run, keyed by stage so the UI shows its history run by run."""
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(markdown=stage_summary_markdown(con, report), key=f"stage-{report.stage}",
                             description=f"derm1m {report.stage} stage, run {report.run_id}")
