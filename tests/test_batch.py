"""evalkit.pipeline.batch, .execute and .index: the real pack notebook, run by papermill on a small fixture."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from evalkit.config import load_project
from evalkit.errors import ConfigError, DataValidationError, NotebookExecutionError
from evalkit.pipeline.batch import SUMMARY_COLUMNS, build_packs, select_packs
from evalkit.pipeline.execute import execute_notebook
from evalkit.pipeline.index import write_index
from processed_fixture import write_processed

DELIBERATE = "deliberate failure for the test"


@pytest.fixture
def root(project: Path) -> Path:
    write_processed(project, localities=("salford",))
    return project


def notebook_source(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")


@pytest.mark.slow
def test_one_pack_end_to_end(root):
    config = load_project(root)
    result = build_packs(config, localities=["salford"], streams=["care_homes"], jobs=1)
    assert list(result.summary().columns) == list(SUMMARY_COLUMNS)
    job = result.jobs[0]
    log = job.log.read_text(encoding="utf-8") if job.log and job.log.is_file() else ""
    assert job.status == "ok", f"{job.error}\n{log}"
    assert job.notebook == root / "outputs" / "notebooks" / "salford" / "care_homes.ipynb"
    assert job.log.is_file() and "status:     ok" in job.log.read_text(encoding="utf-8")
    page = (root / "outputs" / "packs" / "salford" / "care_homes.html").read_text(encoding="utf-8")

    assert '<script src="http' not in page and "<script" not in page
    for line in notebook_source(root / "notebooks" / "pack.ipynb").splitlines():  # no input code
        if line.strip() and not line.lstrip().startswith("#"):
            assert line.strip() not in page, line
    assert "Synthetic demonstration data" in page
    for measure in config.programme.stream_measures("care_homes").values():
        assert measure.name in page
    assert page.count("<svg") >= 5 and "data:image/png" not in page  # a chart per measure, plus the ITS charts
    assert "PDSA 1: RESTORE2 training in two homes" in page

    index = write_index(config, result).read_text(encoding="utf-8")
    assert '<a href="packs/salford/care_homes.html">Safer care homes</a>' in index
    assert "Synthetic demonstration data" in index and "<script" not in index
    assert "Jan 2015 to Dec 2021" in index and "Not built in this run" in index


@pytest.mark.slow
def test_a_failing_pack_fails_alone_and_keeps_its_partial_notebook(root, tmp_path):
    broken = tmp_path / "broken" / "pack.ipynb"
    broken.parent.mkdir()
    nb = nbformat.read(root / "notebooks" / "pack.ipynb", as_version=4)
    setup = next(i for i, cell in enumerate(nb.cells) if cell.get("id") == "setup")
    nb.cells.insert(setup + 1, new_code_cell(f'if stream == "safety_culture":\n    raise RuntimeError("{DELIBERATE}")'))
    nbformat.write(nb, broken)
    previous = root / "outputs" / "packs" / "salford" / "safety_culture.html"
    previous.parent.mkdir(parents=True)
    previous.write_text("<p>pack from an earlier run</p>", encoding="utf-8")

    config = load_project(root)
    result = build_packs(config, localities=["salford"], streams=["care_homes", "safety_culture"], jobs=2,
                         template=broken)

    good, bad = result.result("salford", "care_homes"), result.result("salford", "safety_culture")
    assert good.status == "ok" and good.html.is_file()
    assert bad.status == "failed" and "RuntimeError" in bad.error and DELIBERATE in bad.error
    partial = nbformat.read(bad.notebook, as_version=4)
    errors = [o for cell in partial.cells for o in cell.get("outputs", []) if o.output_type == "error"]
    assert len(errors) == 1 and errors[0].evalue == DELIBERATE
    assert "status:     failed" in bad.log.read_text(encoding="utf-8")
    assert previous.read_text(encoding="utf-8") == "<p>pack from an earlier run</p>"
    assert result.failed == (bad,)
    assert "Built 1 of 2 evidence packs" in result.narrative()
    assert "salford/safety_culture failed" in result.narrative()

    index = write_index(config, result).read_text(encoding="utf-8")
    assert "<strong>Failed</strong>" in index and "may be out of date" in index


@pytest.mark.slow
def test_execute_notebook_error_keeps_cell_and_survives_pickling(tmp_path):
    template = tmp_path / "tiny.ipynb"
    nb = new_notebook(cells=[new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                             new_code_cell("print('before the failure')"),
                             new_code_cell("raise ValueError(f'x was {x}')")],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                               "language": "python"}})
    nbformat.write(nb, template)
    output = tmp_path / "out" / "tiny.ipynb"
    with pytest.raises(NotebookExecutionError) as caught:
        execute_notebook(template, output, {"x": 2}, cwd=tmp_path, timeout=60)
    error = caught.value
    # papermill's index counts the injected-parameters cell: parameters, injected, print, raise.
    assert (error.cell_index, error.ename, error.evalue) == (3, "ValueError", "x was 2")
    assert error.output_path == str(output) and output.is_file()
    log = (tmp_path / "out" / "tiny.log").read_text(encoding="utf-8")
    assert "before the failure" in log and "ValueError" in log and not re.search(r"\x1b\[", log)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.cell_index, copy.ename, copy.evalue, copy.output_path) == (3, "ValueError", "x was 2", str(output))


def test_every_job_is_checked_before_any_kernel_starts(project):
    config = load_project(project)  # parameters, but no processed data
    with pytest.raises(DataValidationError, match="observations.parquet: missing; run `evalkit ingest`"):
        build_packs(config, localities=["salford"], streams=["care_homes"])
    assert not (project / "outputs" / "notebooks").exists()


def test_unknown_locality_or_stream_is_a_config_error(project):
    config = load_project(project)
    with pytest.raises(ConfigError, match="Unknown locality \\['salferd'\\]"):
        select_packs(config, localities=["salferd"])
    assert len(select_packs(config, streams=["handover"])) == 5
