"""Markdown report of a training run and its evaluation: one table per evaluation set, models as columns.

Why markdown: it is what a reviewer reads next to the corpus, and it diffs cleanly between builds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.train.suite import SuiteResult

__all__ = ["render_report", "write_report"]

_HEADLINE = ("zero_shot_top1", "zero_shot_balanced_acc", "i2t_R@1", "i2t_R@10", "t2i_R@1", "t2i_R@10",
             "probe_acc@0.01", "probe_acc@0.1", "probe_acc@1", "concept_auroc_mean")  # fmt: skip


def _fmt(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:.0f}" if float(v).is_integer() and abs(v) >= 1 else f"{v:.3f}"


def _count(v: int | None) -> str:
    return "not checked" if v is None else str(v)


def render_report(result: SuiteResult, title: str, training: dict[str, Any] | None = None) -> str:
    """The report text: training facts, evaluation sets (with dedup counts), then the metric tables."""
    lines = [f"# {title}", ""]
    if training:
        lines += ["## Training", "", "| field | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in training.items()] + [""]
    if result.sets:
        lines += ["## External sets", "",
                  "| set | layout | images kept | classes | missing | unreadable | removed as training duplicates "
                  "| training pairs removed (leaks) | training images removed |",
                  "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
        lines += [f"| {s.eval_set} | {s.layout} | {s.n_images} | {s.n_classes} | {s.n_missing} | {s.n_unreadable} "
                  f"| {s.n_duplicates_removed} | {_count(s.n_train_pairs_removed)} | {_count(s.n_train_images_removed)} |"
                  for s in result.sets]  # fmt: skip
        lines.append("")
    states = list(result.metrics)
    sets = list(dict.fromkeys(e for by_set in result.metrics.values() for e in by_set))
    for eval_set in sets:
        names = sorted({m for s in states for m in result.metrics[s].get(eval_set, {})})
        ordered = [m for m in _HEADLINE if m in names] + [m for m in names if m not in _HEADLINE]
        lines += [f"## {eval_set}", "", "| metric | " + " | ".join(states) + " |",
                  "|---|" + "---|" * len(states)]  # fmt: skip
        for m in ordered:
            cells = [_fmt(result.metrics[s].get(eval_set, {}).get(m)) for s in states]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def write_report(path: Path, result: SuiteResult, title: str, training: dict[str, Any] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(result, title, training), encoding="utf-8")
    return path
