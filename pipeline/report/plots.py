"""Matplotlib figures rendered to inline SVG strings, so the report is one file that needs no network.

Agg backend (no display), text kept as text (`svg.fonttype: none`, smaller and searchable) and a fixed
hash salt, so the same data renders the same bytes. Readable at the default zoom: no text under 9 pt (a
6.4-inch figure fills a ~600 px report column, so 9 pt is about 11 px), and before a figure is written its
tick labels are measured with the renderer: overlapping category labels are rotated, then thinned. What is
left is written on the <svg> (`data-label-overlaps`, `data-min-font-pt`), which the tests read.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
from matplotlib.ticker import MaxNLocator  # noqa: E402

MIN_FONT_PT = 9.0
plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "derm1m-report", "font.size": 10,
                     "xtick.labelsize": 9, "ytick.labelsize": 9, "legend.fontsize": 9, "axes.titlesize": 11,
                     "axes.spines.top": False, "axes.spines.right": False})  # fmt: skip
COLOUR = "#3b6ea5"
PALETTE = ["#3b6ea5", "#e07b39", "#5a9e5a", "#c44e52", "#8172b2", "#937860", "#da8bc3", "#8c8c8c"]


def _overlapping(labels: Sequence[Any], renderer: Any) -> int:
    """Pairs of neighbouring visible labels whose drawn boxes intersect (a 1 pt gap is allowed to touch)."""
    boxes = [t.get_window_extent(renderer) for t in labels if t.get_visible() and t.get_text()]
    return sum(a.x1 - 1 > b.x0 and b.x1 - 1 > a.x0 and a.y1 - 1 > b.y0 and b.y1 - 1 > a.y0
               for a, b in zip(boxes, boxes[1:], strict=False))  # fmt: skip


def readable(fig: Any) -> tuple[int, float]:
    """Rotate, then thin, overlapping x tick labels; returns (overlapping label pairs left, smallest font pt)."""
    renderer = fig.canvas.get_renderer()
    fig.canvas.draw()
    left = 0
    for ax in fig.axes:
        labels = ax.get_xticklabels()
        if _overlapping(labels, renderer):
            for t in labels:
                t.set_rotation(35)
                t.set_horizontalalignment("right")
                t.set_rotation_mode("anchor")
            fig.canvas.draw()
        step = 2
        while _overlapping(labels, renderer) and step < len(labels):
            for i, t in enumerate(labels):
                t.set_visible(i % step == 0)
            fig.canvas.draw()
            step *= 2
        left += _overlapping(labels, renderer) + _overlapping(ax.get_yticklabels(), renderer)
    sizes = [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text()]
    return left, min(sizes, default=MIN_FONT_PT)


def _svg(fig: Any) -> str:
    overlaps, min_font = readable(fig)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    svg = text[text.index("<svg"):]  # drop the XML prolog and doctype: the SVG sits inside HTML
    return svg.replace("<svg ", f'<svg data-label-overlaps="{overlaps}" data-min-font-pt="{min_font:g}" ', 1)


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
    ax.bar_label(bars, labels=[f"{v:g}" for v in values], padding=2, fontsize=MIN_FONT_PT)
    ax.set_title(title, loc="left", fontweight="bold")
    ax.set_xlabel(xlabel)
    ax.margins(x=0.12)
    if all(v == int(v) for v in values):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _svg(fig)


def histogram(values: Sequence[int], title: str, xlabel: str, bins: int = 20) -> str:
    if not values:
        return _empty(title)
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    ax.hist(values, bins=bins, color=COLOUR, edgecolor="white")
    mean = sum(values) / len(values)
    ax.axvline(mean, color="#c44e52", linestyle="--", linewidth=1)
    ax.text(mean, ax.get_ylim()[1] * 0.95, f" mean {mean:.1f}", color="#c44e52", va="top", fontsize=MIN_FONT_PT)
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
    ax.bar_label(bars, labels=[f"{r[2]}/{r[1]}" for r in rows], padding=3, fontsize=MIN_FONT_PT)
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
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars, never on them
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title, loc="left", fontweight="bold")
    ax.set_xlabel(xlabel)
    return _svg(fig)


def stacked_v(rows: Sequence[tuple[str, str, int]], order: Sequence[str], title: str, ylabel: str) -> str:
    """Vertical bars per category in `order` (e.g. age groups), stacked by second key (e.g. sex)."""
    if not rows:
        return _empty(title)
    cats = [c for c in order if any(r[0] == c for r in rows)]
    stacks = sorted({r[1] for r in rows})
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    bottom = [0.0] * len(cats)
    for i, s in enumerate(stacks):
        vals = [float(sum(r[2] for r in rows if r[0] == c and r[1] == s)) for c in cats]
        ax.bar(cats, vals, bottom=bottom, color=PALETTE[i % len(PALETTE)], label=s)
        bottom = [a + b for a, b in zip(bottom, vals, strict=True)]
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title, loc="left", fontweight="bold")
    ax.set_ylabel(ylabel)
    return _svg(fig)


def rank_plot(counts: Sequence[int], title: str, ylabel: str) -> str:
    """Long tail: items per category against the category's rank, both on log scales, with the share of the
    pairs the top tenth of categories holds written on the plot."""
    counts = sorted((c for c in counts if c > 0), reverse=True)
    if not counts:
        return _empty(title)
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    ranks = list(range(1, len(counts) + 1))
    ax.plot(ranks, counts, color=COLOUR, marker="o" if len(counts) <= 60 else None, markersize=3, linewidth=1.5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    head = max(1, len(counts) // 10)
    share = 100.0 * sum(counts[:head]) / sum(counts)
    singles = sum(c == 1 for c in counts)
    ax.text(0.98, 0.95, f"top {head} of {len(counts)} hold {share:.0f}% of pairs\n{singles} with a single pair",
            transform=ax.transAxes, ha="right", va="top", fontsize=MIN_FONT_PT, color="#555")  # fmt: skip
    ax.set_title(title, loc="left", fontweight="bold")
    ax.set_xlabel("rank (log scale)")
    ax.set_ylabel(ylabel)
    return _svg(fig)


def grouped_bars(groups: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], title: str,
                 ylabel: str, ylim: tuple[float, float] | None = None) -> str:  # fmt: skip
    """Vertical bars per group (e.g. metric), one bar per series (e.g. trained / untrained), values on top."""
    if not groups or not series:
        return _empty(title)
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    width = 0.8 / len(series)
    for i, (name, values) in enumerate(series):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        bars = ax.bar(xs, list(values), width=width, color=PALETTE[i % len(PALETTE)], label=name)
        ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], padding=1, fontsize=MIN_FONT_PT, rotation=90)
    ax.set_xticks(range(len(groups)), list(groups))
    if ylim:
        ax.set_ylim(*ylim)
    ax.legend(frameon=False, loc="upper left", ncols=len(series))
    ax.set_title(title, loc="left", fontweight="bold")
    ax.set_ylabel(ylabel)
    return _svg(fig)
