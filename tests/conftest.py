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
