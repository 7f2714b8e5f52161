"""The corpus report: one self-contained HTML file (inline SVG plots, no scripts, no network) written
from the warehouse. `derm1m report` / `make report` call `write_report`."""

from __future__ import annotations

import html
import time
from pathlib import Path

import duckdb

from pipeline import storage
from pipeline.report import gallery, plots
from pipeline.report.data import ReportData, gather
from pipeline.report.paper import AGE_ORDER, SHARE_METRICS, Attributes, PaperData

CSS = """body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1400px;color:#222}
h1{font-size:22px}h2{font-size:16px;margin-top:28px}.grid{display:grid;grid-template-columns:repeat(auto-fill,
minmax(560px,1fr));gap:18px}figure{margin:0;padding:8px;border:1px solid #ddd;border-radius:6px}
figure svg{width:100%;height:auto}table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;
padding:3px 8px;text-align:left}td.n{text-align:right}.totals span{display:inline-block;margin-right:22px}
.totals b{font-size:20px}.note{color:#666}
.examples{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:12px}
figure.ex{padding:6px;font-size:13px;line-height:1.35}figure.ex img{display:block;margin:0 auto 6px;
max-width:100%;height:auto}figure.ex small{color:#555}"""


def _table(headers: list[str], rows: list[tuple[object, ...]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{v:.2f}</td>' if isinstance(v, float) else
                         f'<td class="n">{v}</td>' if isinstance(v, int) else
                         f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _left_out(d: ReportData) -> list[tuple[str, int]]:
    """Pairs left out of the latest export per licence and reason (sources summed)."""
    out: dict[str, int] = {}
    for reason, licence, _, n in d.exclusions:
        key = licence if reason == "licence_excluded" else f"{licence} ({reason})"
        out[key] = out.get(key, 0) + n
    return sorted(out.items(), key=lambda kv: (-kv[1], kv[0]))


def _stated(a: Attributes) -> str:
    return f"stated for {a.stated} of {a.total} pairs"


def paper_figures(p: PaperData) -> list[str]:
    """The figures a dataset paper shows beside Derm1M's Figure 1 (paper.py gathers them)."""
    metrics = [m for m in SHARE_METRICS if p.run and any(r[1] == m and r[0] == "validation" for r in p.run.metrics)]
    states = sorted({r[2] for r in p.run.metrics if r[0] == "validation"}) if p.run else []
    value = {(r[1], r[2]): r[3] for r in p.run.metrics if r[0] == "validation"} if p.run else {}
    run_title = f"Validation: {p.run.model}, {p.run.epochs} epochs on {p.run.n_train} pairs" if p.run else "Validation model"
    return [
        plots.bar_h(p.skin_tone.values, f"Skin tone ({_stated(p.skin_tone)})", "pairs", colour="#a0522d"),
        plots.bar_h(p.image_type.values, "Image type of the pairs' images", "pairs", colour="#4c9a9a"),
        plots.bar_h(p.body_site.values, f"Top {len(p.body_site.values)} body sites ({_stated(p.body_site)})",
                    "pairs", colour="#6b8e23"),
        plots.stacked_v(p.age_sex, [*AGE_ORDER, "age not stated"],
                        f"Age and sex (either stated for {p.age_sex_stated} pairs)", "pairs"),
        plots.rank_plot(p.condition_counts, f"Long tail of {len(p.condition_counts)} conditions", "pairs per condition"),
        plots.stacked_h(p.split, "Train / validation split of the latest export, by source", "pairs"),
        plots.grouped_bars([SHARE_METRICS[m] for m in metrics], [(s, [value.get((m, s), 0.0) for m in metrics]) for s in states], run_title,
                           "share of validation pairs", (0.0, 1.25)),
    ]  # fmt: skip


def _run_table(p: PaperData) -> str:
    if p.run is None:
        return "<p class='note'>No model trained yet.</p>"
    states = sorted({r[2] for r in p.run.metrics})
    cells: dict[tuple[str, str], dict[str, float]] = {}
    for split, metric, state, v in p.run.metrics:
        cells.setdefault((split, metric), {})[state] = v
    rows: list[tuple[object, ...]] = [(split, metric, *(round(vals[s], 4) if s in vals else "-" for s in states))
            for (split, metric), vals in sorted(cells.items())]  # fmt: skip
    return (f"<p>Run {html.escape(p.run.train_run_id)} (export {html.escape(p.export_id or '-')}).</p>"
            + _table(["split", "metric", *states], rows))


def render(d: ReportData, title: str = "Derm1M-style corpus report") -> str:
    """The report's HTML for already gathered data (pure: no database, no files)."""
    cov_nodes = sum(c.nodes for c in d.coverage)
    cov_hit = sum(c.covered for c in d.coverage)
    figures = [
        plots.bar_h(d.source_mix, "Pairs by source", "pairs"),
        plots.bar_h(d.kind_mix, "Pairs by kind of image-text pairing", "pairs", colour="#8172b2"),
        plots.bar_h(d.top_conditions, f"Top {len(d.top_conditions)} conditions", "pairs", colour="#c44e52"),
        plots.histogram(d.caption_words, "Caption length", "words per caption"),
        plots.bar_h(d.concepts, f"Top {len(d.concepts)} clinical concepts", "pairs", colour="#e07b39"),
        plots.coverage_bars([(c.branch, c.nodes, c.covered) for c in d.coverage],
                            f"Ontology coverage: {cov_hit} of {cov_nodes} condition nodes"),
        plots.stacked_h([(f"{r[0]}: {r[1]}", r[2], r[3]) for r in d.rejects],
                        "Rejects by stage and reason, coloured by source", "items"),
        plots.bar_h([(s, round(r, 2)) for s, _, _, r in d.throughput if r is not None],
                    "Throughput of each stage's last run with work", "units per second", colour="#5a9e5a"),
        plots.bar_h(_left_out(d), f"Pairs the export left out ({d.release or 'no'} release), by licence",
                    "pairs", colour="#937860"),
    ]
    totals = "".join(f"<span><b>{n}</b> {html.escape(k)}</span>" for k, n in d.totals.items())
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>",
        f"<p class='totals'>{totals}</p>",
        f"<p>Concept coverage: {d.concept_coverage[0]} of {d.concept_coverage[1]} ontology concepts appear "
        f"in at least one pair. Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.</p>",
        "<div class='grid'>", *(f"<figure>{svg}</figure>" for svg in figures), "</div>",
        "<h2>Who and what the pairs show, the split and the validation model</h2>",
        "<div class='grid'>", *(f"<figure>{svg}</figure>" for svg in paper_figures(d.paper)), "</div>",
        f"<h2>Examples from the train split ({len(d.examples)})</h2>", gallery.render_grid(d.examples),
        "<h2>Validation model (latest training run)</h2>", _run_table(d.paper),
        "<h2>Stage throughput</h2>",
        _table(["stage", "units in", "seconds", "units/s"],
               [(s, n, sec, r if r is not None else "-") for s, n, sec, r in d.throughput]),
        "<h2>Rejects by stage, reason and source</h2>",
        _table(["stage", "reason", "source", "items"], list(d.rejects)),
        "<h2>Licence mix</h2>", _table(["source", "licence", "items", "pairs"], list(d.licences)),
        f"<h2>Left out of the export ({html.escape(d.release or 'no export yet')} release)</h2>",
        _table(["reason", "licence", "source", "pairs"], list(d.exclusions)),
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(con: duckdb.DuckDBPyConnection, out: storage.Location) -> Path | str:
    """Gather, render and write the report to a path or fsspec URL; returns where it went."""
    storage.write_bytes(out, render(gather(con)).encode("utf-8"))
    return out
