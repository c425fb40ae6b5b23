"""Root pytest hooks: give nbval's notebook runs a demo project to read.

``pytest --nbval-lax notebooks`` executes ``notebooks/*.ipynb`` with their
default parameters, which read the project named by ``$EVALKIT_ROOT``. Before
any kernel starts, this builds a throw-away demo project (parameters copied,
synthetic extracts generated and ingested) and points ``$EVALKIT_ROOT`` at
it, so the notebooks are tested on real ingested data without touching the
working tree. A project already named by ``$EVALKIT_ROOT`` is used as it is.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent


def _nbval_requested(config) -> bool:
    for option in ("nbval", "nbval_lax"):
        try:
            if config.getoption(option):
                return True
        except ValueError:  # nbval not installed
            return False
    return False


def pytest_configure(config):
    if not _nbval_requested(config) or hasattr(config, "workerinput") or os.environ.get("EVALKIT_ROOT"):
        return
    from evalkit.config import load_project
    from evalkit.data.demo import generate
    from evalkit.data.ingest import ingest

    root = Path(tempfile.mkdtemp(prefix="evalkit-nbval-"))
    shutil.copytree(REPO / "parameters", root / "parameters")
    config_ = load_project(root)
    generate(config_)
    ingest(config_)
    os.environ["EVALKIT_ROOT"] = str(root)
    config.add_cleanup(lambda: shutil.rmtree(root, ignore_errors=True))
    config.add_cleanup(lambda: os.environ.pop("EVALKIT_ROOT", None))
