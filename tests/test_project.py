"""The project keeps its promises about itself: module map, pinned environments, clean notebooks, CI."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

from write_environment_yml import lock_lines, render  # noqa: E402


def test_module_map_lists_every_module_and_nothing_else():
    text = (REPO / "docs/architecture.md").read_text(encoding="utf-8")
    mapped = set(re.findall(r"`(src/evalkit/[\w/]+\.py)`", text))
    actual = {p.relative_to(REPO).as_posix() for p in (REPO / "src/evalkit").rglob("*.py")}
    assert not actual - mapped, f"modules missing from docs/architecture.md: {sorted(actual - mapped)}"
    assert not mapped - actual, f"docs/architecture.md names modules that do not exist: {sorted(mapped - actual)}"


def test_no_module_is_too_long():
    lengths = {p.name: len(p.read_text().splitlines()) for p in (REPO / "src/evalkit").rglob("*.py")}
    too_long = {name: n for name, n in lengths.items() if n > 550}
    assert not too_long, f"split these modules (house style: nothing past ~500 lines): {too_long}"


def test_environment_yml_pins_exactly_the_lock():
    assert (REPO / "environment.yml").read_text(encoding="utf-8") == render(), (
        "environment.yml is out of step with requirements.lock: run `python tools/write_environment_yml.py`"
    )
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]


def test_every_dependency_is_pinned_exactly():
    loose = [line for line in lock_lines() if "==" not in line]
    assert not loose, f"requirements.lock has unpinned lines: {loose}"
    names = {line.split("==")[0].lower().replace("_", "-") for line in lock_lines()}
    for needed in ("pandas", "statsmodels", "seaborn", "papermill", "nbconvert", "nbval", "pytest", "jupyterlab",
                   "duckdb", "pyarrow", "pydantic"):
        assert needed in names, f"{needed} is not pinned in requirements.lock"


def test_notebooks_are_committed_clean_and_hold_no_definitions():
    for path in (REPO / "notebooks").glob("*.ipynb"):
        nb = json.loads(path.read_text(encoding="utf-8"))
        assert nb["metadata"]["kernelspec"]["name"] == "python3", path
        tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path}: exactly one cell must be tagged `parameters`"
        for cell in nb["cells"]:
            if cell["cell_type"] != "code":
                continue
            assert not cell["outputs"] and cell["execution_count"] is None, f"{path}: clear outputs before committing"
            source = "".join(cell["source"])
            assert not re.search(r"^\s*(def|class)\s", source, re.M), f"{path}: move definitions into src/evalkit"


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci/run").read_text()
    readme = (REPO / "README.md").read_text()
    assert "make test" in ci and "make test" in readme and "make packs" in readme


def test_generated_folders_are_ignored_but_exist():
    ignore = (REPO / ".gitignore").read_text()
    for folder in ("data/raw", "data/processed", "outputs"):
        assert f"{folder}/*" in ignore
        assert (REPO / folder / "README.md").is_file()
    assert "read-only" in (REPO / "data/raw/README.md").read_text().lower()
