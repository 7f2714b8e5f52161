"""Matplotlib figures rendered to inline SVG strings, so the report is one file that needs no network.

Agg backend (no display), text kept as text (`svg.fonttype: none`, smaller and searchable) and a fixed
hash salt, so the same data renders the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first

plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "derm1m-report", "font.size": 9,
                     "axes.spines.top": False, "axes.spines.right": False})
COLOUR = "#3b6ea5"
PALETTE = ["#3b6ea5", "#e07b39", "#5a9e5a", "#c44e52", "#8172b2", "#937860", "#da8bc3", "#8c8c8c"]


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: the SVG sits inside HTML


def _empty(title: str) -> str:
    fig, ax = plt.subplots(figsize=(5, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, f"{title}: no data yet", ha="center", va="center", color="#777")
    return _svg(fig)


def bar_h(items: Sequence[tuple[str, float]], title: str, xlabel: str, colour: str = COLOUR) -> str:
    """Horizontal bars, largest on top (names read left to right, however long)."""
    if not items:
        return _empty(title)
    labels, values = [str(k) for k, _ in items][::-1], [float(v) for _, v in items][::-1]
    fig, ax = plt.subplots(figsize=(6.4, 0.6 + 0.24 * len(items)))
    bars = ax.barh(labels, values, color=colour)
    ax.bar_label(bars, labels=[f"{v:g}" for v in values], padding=2, fontsize=8)
    ax.set_title(title, loc="left", fontweight="bold")
    ax.set_xlabel(xlabel)
    ax.margins(x=0.12)
    return _svg(fig)


def histogram(values: Sequence[int], title: str, xlabel: str, bins: int = 20) -> str:
    if not values:
        return _empty(title)
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    ax.hist(values, bins=bins, color=COLOUR, edgecolor="white")
    mean = sum(values) / len(values)
    ax.axvline(mean, color="#c44e52", linestyle="--", linewidth=1)
    ax.text(mean, ax.get_ylim()[1] * 0.95, f" mean {mean:.1f}", color="#c44e52", va="top", fontsize=8)
    ax.set_title(title, loc="left", fontweight="bold")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("pairs")
    return _svg(fig)


def coverage_bars(rows: Sequence[tuple[str, int, int]], title: str) -> str:
    """Per branch: covered nodes as a share of the branch's nodes, with the counts written on the bar."""
    if not rows:
        return _empty(title)
    rows = list(rows)[::-1]
    labels = [r[0] for r in rows]
    share = [100.0 * r[2] / r[1] if r[1] else 0.0 for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 0.6 + 0.3 * len(rows)))
    ax.barh(labels, [100.0] * len(rows), color="#e6e6e6")
    bars = ax.barh(labels, share, color="#5a9e5a")
    ax.bar_label(bars, labels=[f"{r[2]}/{r[1]}" for r in rows], padding=3, fontsize=8)
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of the branch's ontology nodes with at least one pair (on the node or below)")
    ax.set_title(title, loc="left", fontweight="bold")
    return _svg(fig)


def stacked_h(rows: Sequence[tuple[str, str, int]], title: str, xlabel: str) -> str:
    """Bars per first key (e.g. reject reason), stacked by second key (e.g. source)."""
    if not rows:
        return _empty(title)
    keys = sorted({r[0] for r in rows}, key=lambda k: sum(r[2] for r in rows if r[0] == k))
    stacks = sorted({r[1] for r in rows})
    fig, ax = plt.subplots(figsize=(6.4, 0.9 + 0.28 * len(keys)))
    left = [0.0] * len(keys)
    for i, s in enumerate(stacks):
        vals = [float(sum(r[2] for r in rows if r[0] == k and r[1] == s)) for k in keys]
        ax.barh(keys, vals, left=left, color=PALETTE[i % len(PALETTE)], label=s)
        left = [a + b for a, b in zip(left, vals, strict=True)]
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    ax.set_title(title, loc="left", fontweight="bold")
    ax.set_xlabel(xlabel)
    return _svg(fig)
