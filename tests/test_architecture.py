"""The layering rule, checked by import-linter against the contracts in pyproject.toml.

Stages (collect, preprocess, clean, pair, augment, train, report) import the capability layer (llm, vision,
vocab, formats) and the core (stage, config, warehouse, media, storage, errors, hashing), never each other;
capabilities never import a stage; there is no import cycle at any depth. Function-level imports count.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    cli = pytest.importorskip("importlinter.cli", reason="import-linter is in the dev extra")
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        code = cli.lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    finally:
        os.chdir(cwd)
    assert code == 0, "an import breaks a contract: run `lint-imports` for the offending lines"
