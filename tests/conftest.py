"""Shared fixtures: an in-memory migrated warehouse, paths to the repo and to ../shared/fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

REPO = Path(__file__).resolve().parents[1]


def fixtures_dir() -> Path:
    """Third-party test data, read in place (never copied into the repo)."""
    return Path(os.environ.get("DERM_FIXTURES", REPO / ".." / "shared" / "fixtures")).resolve()


def require_fixture(*parts: str) -> Path:
    path = fixtures_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"fixture {path} absent (set DERM_FIXTURES to the shared fixtures folder)")
    return path


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def con():
    from pipeline.warehouse import connect

    c = connect(":memory:")
    yield c
    c.close()


@pytest.fixture(scope="module")
def torch_one_thread():
    """One intra-op thread for a torch-heavy module (`pytestmark = pytest.mark.usefixtures(...)`): on a
    shared 2-core machine two threads are several times slower, not faster."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def stage_table_counts(warehouse: Path, stages: list[str]) -> dict[str, int]:
    """Rows per user table written by `stages` (rejects and work_log filtered by stage; the tables of
    other stages, named by their stage prefix, left out), so builds of different stage lists compare."""
    from pipeline.warehouse import connect, count, user_tables

    con = connect(warehouse)
    try:
        out = {}
        for t in user_tables(con):
            if t in ("rejects", "work_log", "stage_runs"):
                placeholders = ", ".join("?" * len(stages))
                out[t] = con.execute(f"SELECT count(*) FROM {t} WHERE stage IN ({placeholders})", stages).fetchone()[0]
            elif t.startswith("_") or t.split("_")[0] in stages:
                out[t] = count(con, t)
        return out
    finally:
        con.close()


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API for the session (each start costs seconds)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def sample_build(prefect_harness, tmp_path_factory):
    """The sample corpus built once per session with the default thread runner, every stage, then rebuilt
    with no new input. Shared by tests/test_build_e2e.py and tests/test_platform.py: a build takes about a
    minute. Counts are taken right after each build, and `snapshot` is a copy of the warehouse after the
    first, so tests that add input later change neither."""
    import shutil

    from flows.build import build_derm1m
    from pipeline.config import load_config, resolve_paths
    from pipeline.warehouse import connect, count, user_tables

    repo = Path(__file__).resolve().parents[1]
    root = tmp_path_factory.mktemp("e2e")
    shutil.copytree(repo / "samples", root / "samples")
    cfg = resolve_paths(load_config(repo / "configs" / "sample.yaml", base_dir=root), root)
    out: dict = {"cfg": cfg, "root": root, "build": build_derm1m}
    for key, run_id in (("first", "run1"), ("second", "run2")):
        out[key] = build_derm1m(cfg, run_id=run_id)
        con = connect(cfg.warehouse)
        out["counts1" if key == "first" else "counts2"] = {t: count(con, t) for t in user_tables(con)}
        if key == "first":
            out["pairs"] = sorted(r[0] for r in con.execute("SELECT pair_id FROM pair_image_texts").fetchall())
        con.close()
        if key == "first":
            out["snapshot"] = root / "run1.duckdb"
            shutil.copyfile(cfg.warehouse, out["snapshot"])
    return out
