"""open_clip's own training command runs in the project's venv on the export's shards (issue 16).

`python -m open_clip_train.main` needs two things the pipeline's code paths do for themselves: torchvision
importable next to CPU torch (pipeline/vision/tvshim.py) and open_clip_train reading webdataset 1.0's
end-of-shard markers. scripts/venv_import_hooks.py does both for every interpreter of the venv, through the
.pth file scripts/install_tv_shim.py writes (`make install`). The shards come from the real export writer.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from pipeline.train.export import assign_splits, write_export
from tests.test_train_export import make_rows

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import install_tv_shim  # noqa: E402 - scripts/ is not a package

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("open_clip_train") is None,
    reason="open_clip_train is not importable (it ships in the open_clip_torch wheel, extra: train)",
)

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}


def _python(code: str, site_dir: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter of this venv; with site_dir, that folder's .pth files are read first (as site does)."""
    prelude = f"import site; site.addsitedir({str(site_dir)!r})\n" if site_dir else ""
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, cwd=REPO,
                          env={**ENV, **env}, timeout=300)  # fmt: skip


def test_installer_writes_the_pth_and_the_hooks(tmp_path: Path) -> None:
    module, pth = install_tv_shim.install(tmp_path)
    assert pth.read_text() == "import _derm1m_import_hooks\n"
    assert module.read_bytes() == install_tv_shim.SOURCE.read_bytes()
    assert install_tv_shim.installed_is_current(tmp_path)
    module.write_text("# an older copy\n")
    assert not install_tv_shim.installed_is_current(tmp_path)
    assert sorted(install_tv_shim.uninstall(tmp_path)) == sorted([module, pth]) and not list(
        tmp_path.iterdir()
    )


def test_torchvision_imports_in_a_fresh_interpreter_through_the_hook(tmp_path: Path) -> None:
    """Without the hook the CUDA torchvision wheel fails next to CPU torch; with it, nms runs on CPU."""
    install_tv_shim.install(tmp_path)
    code = ("import torch, torchvision\n"
            "keep = torchvision.ops.nms(torch.tensor([[0., 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]]),"
            " torch.tensor([0.9, 0.8, 0.7]), 0.5)\n"
            "print('kept', keep.tolist())")  # fmt: skip
    bare = _python(code, DERM1M_NO_IMPORT_HOOKS="1")
    hooked = _python(code, tmp_path)
    assert hooked.returncode == 0, hooked.stderr[-2000:]
    assert "kept [0, 2]" in hooked.stdout
    if bare.returncode == 0:  # a machine whose torchvision works by itself: the hook changed nothing
        assert "kept [0, 2]" in bare.stdout
    else:
        assert "torchvision::nms" in bare.stderr


def test_the_venv_has_the_hook_installed() -> None:
    site_dir = Path(sysconfig.get_paths()["purelib"])
    if not install_tv_shim.installed_is_current(site_dir):
        pytest.fail(f"{site_dir} lacks an up-to-date {install_tv_shim.PTH}: run `make install` "
                    "(or .venv/bin/python scripts/install_tv_shim.py)")  # fmt: skip
    assert importlib.util.find_spec("pandas") is not None, (
        "open_clip_train.data imports pandas (extra: train)"
    )


def test_one_step_of_open_clip_train_main_on_the_export_shards(tmp_path: Path) -> None:
    """`python -m open_clip_train.main --dataset-type webdataset` on the export's train shards, with the
    project's smallest model config (DermMicro, as a local-dir: model), one batch on CPU."""
    rows = make_rows(tmp_path)
    m = write_export(rows, assign_splits(rows, 0.25, 0), tmp_path / "export", shard_size=5)
    pattern = re.search(r'--train-data "([^"]+)"', m.card.read_text()).group(1)  # what the card tells users
    model_dir = tmp_path / "DermMicro"
    model_dir.mkdir()
    cfg = json.loads((REPO / "pipeline" / "vision" / "model_configs" / "DermMicro.json").read_text())
    (model_dir / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg}))
    args = ["--train-data", str(m.out_dir / pattern), "--dataset-type", "webdataset", "--train-num-samples", "4",
            "--batch-size", "4", "--epochs", "1", "--workers", "0", "--device", "cpu", "--precision", "fp32",
            "--model", f"local-dir:{model_dir}", "--lr", "1e-4", "--warmup", "0", "--report-to", "",
            "--logs", str(tmp_path / "logs"), "--name", "one-step", "--seed", "0"]  # fmt: skip
    if install_tv_shim.installed_is_current(Path(sysconfig.get_paths()["purelib"])):
        run = subprocess.run([sys.executable, "-m", "open_clip_train.main", *args], capture_output=True, text=True,
                             cwd=tmp_path, env=ENV, timeout=300)  # fmt: skip
    else:  # the same command, with the hooks from a fresh copy (the venv test above says what to run)
        install_tv_shim.install(tmp_path / "site")
        run = _python(f"import runpy, sys; sys.argv = ['open_clip_train.main', *{args!r}]\n"
                      "runpy.run_module('open_clip_train.main', run_name='__main__')", tmp_path / "site")  # fmt: skip
    log = tmp_path / "logs" / "one-step" / "out.log"
    assert run.returncode == 0 and log.is_file(), (run.stdout + run.stderr)[-3000:]
    text = log.read_text()
    step = re.search(r"Train Epoch: 0 \[4/4 \(100%\)\].*?Loss: ([0-9.naif]+)", text)
    assert step is not None, text[-2000:]
    assert math.isfinite(float(step.group(1))) and float(step.group(1)) > 0
    assert "KeyError" not in run.stderr and len(re.findall(r"Train Epoch: 0 \[", text)) == 1
