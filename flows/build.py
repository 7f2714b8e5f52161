"""The top flow: the six stages in order. The only place that knows the order.

`build()` is what `derm1m build` runs. With no Prefect server configured it first runs, without Prefect,
the leading stages that have nothing to do (`flows.stages.run_done_stages`), so a no-op rerun never starts
Prefect's temporary server (about 4 s) nor imports Prefect; the stages left, if any, run as the flow. A first
build (no warehouse yet) is sure to need that server: `derm1m build` starts it before its own imports
(flows.runners.start_server_early) and the flow takes it over. With a server configured (PREFECT_API_URL)
every build is the flow, so the server sees every run and artifact.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from flows.runners import (
    cluster_address,
    ephemeral_settings,
    prefect_server_configured,
    task_runner,
    temporary_server,
)
from flows.stage_names import STAGE_ORDER
from flows.stages import hold_warehouse, run_done_stages
from pipeline.config import RunConfig
from pipeline.stage import new_run_id


def _selected(stages: list[str] | None) -> list[str]:
    unknown = set(stages or []) - set(STAGE_ORDER)
    if unknown:
        raise ValueError(f"unknown stage(s) {sorted(unknown)}; choose from {STAGE_ORDER}")
    return [name for name in STAGE_ORDER if not stages or name in stages]


def _build(cfg: RunConfig, stages: list[str] | None = None, run_id: str | None = None,
           progress: bool = False) -> list[dict[str, Any]]:
    """Run the selected stages (default: all) in order over one warehouse, under one run id. Work units
    run on `cfg.runner` (threads, or one Dask cluster shared by every stage of this build)."""
    from flows.stages import STAGE_FLOWS

    run_id = run_id or new_run_id()
    names = _selected(stages)
    with cluster_address(cfg.runner) as address, hold_warehouse(cfg, run_id), ephemeral_settings():
        return [STAGE_FLOWS[name].with_options(task_runner=task_runner(cfg.runner, address))(cfg, run_id, progress)
                for name in names]


# the flow's entrypoint (`flow.serve`, deployments) is the function's name: flows/build.py:build_derm1m, which
# the module's __getattr__ answers with the flow
_build.__name__ = _build.__qualname__ = "build_derm1m"


@functools.cache
def _build_flow() -> Any:
    from prefect import flow

    return flow(name="build-derm1m")(_build)


def __getattr__(name: str) -> Any:
    """`build_derm1m`, the Prefect flow (deployments serve it), made on first use (PEP 562)."""
    if name == "build_derm1m":
        return _build_flow()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build(cfg: RunConfig, stages: list[str] | None = None, run_id: str | None = None,
          progress: bool = False) -> list[dict[str, Any]]:
    """The build as `derm1m build` runs it: the flow, after the stages with nothing to do when no Prefect
    server is configured (see the module docstring). Same stage_runs rows either way, under one run id."""
    run_id = run_id or new_run_id()
    names = _selected(stages)
    if prefect_server_configured():
        return list(_build_flow()(cfg, stages=names, run_id=run_id, progress=progress))
    with hold_warehouse(cfg, run_id):
        done = run_done_stages(cfg, names, run_id)
        rest = names[len(done):]
        if not rest:
            return done
        with temporary_server(warm=_warm_jobs()), ephemeral_settings():
            return done + list(_build_flow()(cfg, stages=rest, run_id=run_id, progress=progress))


def _warm_jobs() -> Iterator[Callable[[], object]]:
    """What a first build does while Prefect's temporary server boots (about 4 s idle otherwise): make the
    flows. Importing the stages' slow modules there too (torch, open_clip ...) was measured and dropped: on
    2 cores it slowed the server's boot as much as it saved the stages (first build 27.8 s against 26.7 s
    without, medians of 3 alternated, load 1.3-1.6)."""
    from flows.stages import STAGE_FLOWS

    yield lambda: (_build_flow(), STAGE_FLOWS)


def summary(cfg: RunConfig, config: str | None = None) -> str:
    """What a build left, for the end of `derm1m build` (and so of `make build-derm1m`): the exported pairs
    by source and licence, what the release profile left out, where the export, its card, the corpus
    report and the validation model's metrics are, and the commands to run next. Read from the export
    folder and a read-only warehouse after the build, so it says what is on disk, not what was planned.
    `config`: the profile path the commands shown should name (None: the CLI's default profile)."""
    import json

    import pyarrow.parquet as pq

    from pipeline.warehouse import WarehouseUnavailable, open_readonly

    export = cfg.data_dir / "export"
    cmd = f"derm1m --config {config}" if config else "derm1m"
    lines = ["", "What you got"]
    files = sorted((export / "data").glob("*.parquet")) if export.is_dir() else []
    if not files:
        lines.append(f"  no export yet in {export}: the train stage writes it, or `derm1m export`")
    else:
        table = pq.read_table(files, columns=["source", "licence"]).group_by(["source", "licence"]).aggregate(
            [("source", "count")])  # fmt: skip
        counts = sorted(zip(*(table.column(c).to_pylist() for c in ("source", "licence", "source_count")),
                            strict=True), key=lambda r: (-r[2], r[0], r[1]))  # fmt: skip
        release_json = export / "release.json"
        release = json.loads(release_json.read_text()) if release_json.is_file() else {}
        lines.append(f"  {sum(n for *_, n in counts)} pairs exported ({release.get('release', '?')} release), "
                     "by source and licence:")  # fmt: skip
        lines += [f"    {n:>7}  {source:<22} {licence}" for source, licence, n in counts]
        excluded = release.get("excluded") or {}
        left = [(reason, lic, n) for reason, by in excluded.items() for lic, n in by.items()]
        if left:
            lines.append(f"  {sum(n for *_, n in left)} pairs left out: "
                         + ", ".join(f"{n} {lic} ({reason})" for reason, lic, n in left))  # fmt: skip
    metrics = _validation_metrics(cfg, open_readonly, WarehouseUnavailable)
    report = cfg.data_dir / "report.html"
    lines += [
        "", "Where it is",
        f"  export:     {export}  (train.csv / validation.csv + images/, data/*.parquet, shards/)",
        f"  card:       {export / 'README.md'}",
        f"  report:     {report if report.is_file() else 'not written yet: derm1m report'}",
        f"  validation: {metrics or 'no validation model yet (train stage)'}",
        f"  warehouse:  {cfg.warehouse}",
        "", "Next",
        f"  {cmd} report  # the HTML corpus report",
        f"  {cmd} sql \"SELECT * FROM v_export_exclusions\"  # what the release left out, by licence",
        f"  python -c \"import datasets; print(datasets.load_dataset('{export}'))\"",
    ]  # fmt: skip
    if (export / "reference" / "pairs.parquet").is_file():
        lines.append(f"  {cmd} rehydrate  # rebuild the images of {export / 'reference' / 'pairs.parquet'}")
    lines.append(f"  {cmd} train --out runs/mine  # train the profile's recipe on the export")
    return "\n".join(lines)


def _validation_metrics(cfg: RunConfig, open_readonly: Any, unavailable: type[Exception]) -> str:
    """`<run folder>/eval_metrics.json (zero-shot top-1 x, image->text R@1 y)` of the latest training run."""
    try:
        con = open_readonly(cfg.warehouse)
    except unavailable:
        return ""
    try:
        run = con.execute("SELECT r.train_run_id, r.checkpoint FROM train_runs r JOIN train_exports e USING "
                          "(export_id) ORDER BY e.created_at DESC LIMIT 1").fetchone()  # fmt: skip
        if run is None:
            return ""
        values = dict(con.execute("SELECT metric, value FROM train_metrics WHERE train_run_id = ? AND model_state "
                                  "= 'trained' AND split = 'validation'", [run[0]]).fetchall())  # fmt: skip
    finally:
        con.close()
    names = {"zero_shot_top1": "zero-shot top-1", "i2t_R@1": "image->text R@1"}
    shown = ", ".join(f"{name} {values[m]:.3f}" for m, name in names.items() if m in values)
    return f"{Path(run[1]).parent / 'eval_metrics.json'}" + (f" ({shown})" if shown else "")
