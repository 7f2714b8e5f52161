"""Install the venv's import hooks (scripts/venv_import_hooks.py) into site-packages, so that every interpreter
of the venv can ``import torchvision`` / ``open_clip`` and run ``python -m open_clip_train.main`` without
loading the pipeline's torchvision shim first. `make install` runs it; rerunning it replaces the copy.

    .venv/bin/python scripts/install_tv_shim.py [--site-dir DIR] [--uninstall]

Writes ``_derm1m_import_hooks.py`` (a copy of the hooks) and ``derm1m-import-hooks.pth`` (one ``import``
line, which ``site`` runs at start-up) into the interpreter's purelib directory or DIR.
"""

from __future__ import annotations

import argparse
import shutil
import sysconfig
from pathlib import Path

SOURCE = Path(__file__).with_name("venv_import_hooks.py")
MODULE = "_derm1m_import_hooks"
PTH = "derm1m-import-hooks.pth"


def install(site_dir: Path) -> list[Path]:
    """Copy the hooks and write the .pth line; returns the two files."""
    site_dir.mkdir(parents=True, exist_ok=True)
    module = site_dir / f"{MODULE}.py"
    shutil.copyfile(SOURCE, module)
    pth = site_dir / PTH
    pth.write_text(f"import {MODULE}\n", encoding="utf-8")
    return [module, pth]


def uninstall(site_dir: Path) -> list[Path]:
    gone = [p for p in (site_dir / f"{MODULE}.py", site_dir / PTH) if p.exists()]
    for p in gone:
        p.unlink()
    return gone


def installed_is_current(site_dir: Path) -> bool:
    """Whether site_dir holds the .pth and an up-to-date copy of the hooks."""
    module, pth = site_dir / f"{MODULE}.py", site_dir / PTH
    return pth.is_file() and module.is_file() and module.read_bytes() == SOURCE.read_bytes()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--site-dir", type=Path, default=Path(sysconfig.get_paths()["purelib"]))
    ap.add_argument("--uninstall", action="store_true")
    args = ap.parse_args(argv)
    if args.uninstall:
        print("removed:", ", ".join(map(str, uninstall(args.site_dir))) or "nothing")
    else:
        print("installed:", ", ".join(map(str, install(args.site_dir))))


if __name__ == "__main__":
    main()
