"""Shared fixtures: a throw-away copy of the project, and the shared reference data."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REFDATA = SHARED / "refdata"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh project root in a temporary folder: parameters and notebooks copied, no data."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copytree(REPO / "parameters", root / "parameters")
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    for folder in ("data/raw", "data/processed", "outputs"):
        (root / folder).mkdir(parents=True)
    return root


@pytest.fixture
def refdata() -> Path:
    """The shared reference data; skipped where ../shared is absent, a failure under CI."""
    if not REFDATA.is_dir():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{REFDATA} is missing; CI must have ../shared beside the clone")
        pytest.skip(f"{REFDATA} is absent (a clone outside the workspace): reference tests skipped")
    return REFDATA


@pytest.fixture(scope="session")
def demo_project(tmp_path_factory) -> Path:
    """The whole demo programme generated and ingested once per test session (read-only for tests)."""
    from evalkit.config import load_project
    from evalkit.data.demo import generate
    from evalkit.data.ingest import ingest

    root = tmp_path_factory.mktemp("demo") / "project"
    root.mkdir()
    shutil.copytree(REPO / "parameters", root / "parameters")
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    config = load_project(root)
    generate(config)
    ingest(config)
    return root
