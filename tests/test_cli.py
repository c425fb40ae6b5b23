"""End to end through the command line, on the demo programme, as an evaluator runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest


def evalkit(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "EVALKIT_ROOT"}
    env["MPLBACKEND"] = "Agg"
    return subprocess.run(
        [sys.executable, "-m", "evalkit", "--root", str(root), *args],
        capture_output=True, text=True, env=env, timeout=900,
    )


@pytest.mark.slow
def test_demo_subset_end_to_end(project):
    done = evalkit(project, "validate")
    assert done.returncode == 0, done.stderr
    assert "25 pack files are valid" in done.stdout

    done = evalkit(project, "demo-data")
    assert done.returncode == 0, done.stderr
    assert (project / "data/raw/demo_truth.csv").is_file()
    again = evalkit(project, "demo-data")
    assert again.returncode == 0 and "already" in again.stdout

    done = evalkit(project, "ingest", "--today", "2022-03-31")
    assert done.returncode == 0, done.stderr
    report = json.loads((project / "data/processed/ingest_report.json").read_text())
    for entry in report["files"]:
        assert entry["rows_read"] == entry["rows_accepted"] + entry["rows_rejected"], entry
    # Every planted defect is in quarantine, not in the processed data.
    defects = pd.read_csv(project / "data/raw/demo_defects.csv", dtype=str)
    quarantined = pd.concat(
        [pd.read_csv(f, dtype=str) for f in (project / "data/processed/quarantine").glob("*.csv")]
    )
    got = set(zip(quarantined["file"], quarantined["row"]))
    missing = [(f, r) for f, r in zip(defects["file"], defects["row"]) if (f, r) not in got]
    assert not missing, f"planted defects not quarantined: {missing}"

    done = evalkit(project, "run", "--locality", "salford", "--stream", "care_homes", "--stream", "safety_culture")
    assert done.returncode == 0, done.stdout + done.stderr
    for stream in ("care_homes", "safety_culture"):
        html = project / f"outputs/packs/salford/{stream}.html"
        notebook = project / f"outputs/notebooks/salford/{stream}.ipynb"
        assert html.is_file() and notebook.is_file()
        text = html.read_text(encoding="utf-8")
        assert "synthetic" in text.lower()
        assert not re.search(r"""(src|href)=["']https?://""", text), "pack must not fetch anything"
    index = (project / "outputs/index.html").read_text(encoding="utf-8")
    assert 'href="packs/salford/care_homes.html"' in index
    assert 'href="packs/salford/safety_culture.html"' in index


def test_errors_exit_2_with_a_clear_message(project):
    (project / "parameters/salford/care_homes.yml").write_text("intervention: {start: 2017-04}\nfoo: 1\n")
    done = evalkit(project, "validate")
    assert done.returncode == 2
    assert "salford/care_homes.yml" in done.stderr and "unknown key 'foo'" in done.stderr
    assert "Traceback" not in done.stderr


def test_run_before_ingest_says_what_to_do(project):
    done = evalkit(project, "ingest")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "data/raw" in done.stderr or "programme.yml" in done.stderr
