"""evalkit.pipeline.reproducible: two runs of the same notebook give the same bytes, notebook and HTML."""

from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat
import papermill
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from evalkit.pipeline.execute import execute_notebook
from evalkit.pipeline.publish import publish_html
from evalkit.pipeline.reproducible import digest, normalise_file, normalise_notebook, write_notebook

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
PACK = {"locality": "salford", "stream": "care_homes"}
STAMP = "2026-01-01T00:00:00.000000Z"
STYLER = ('<style type="text/css">\n#T_{u}_row1_col0 {{\n  background-color: yellow;\n}}\n</style>\n'
          '<table id="T_{u}">\n<td id="T_{u}_row1_col0" class="data row1 col0" >2</td>\n</table>\n')


def run_papermill(template: Path, output: Path, parameters: dict, cwd: Path) -> None:
    """Papermill with the arguments evalkit.pipeline.execute passes, but no normalising afterwards."""
    papermill.execute_notebook(str(template), str(output), parameters=parameters, cwd=str(cwd),
                               kernel_name="python3", execution_timeout=120, start_timeout=60, progress_bar=False,
                               log_output=False, extra_arguments=["--IPKernelApp.log_level=ERROR"])


def executed(seconds: float, injected_id: str, uuid: str, address: str) -> nbformat.NotebookNode:
    """An executed notebook as papermill leaves it; two calls differ only where runs differ."""
    timing = {"papermill": {"start_time": STAMP, "end_time": STAMP, "duration": seconds, "exception": False,
                            "status": "completed"},
              "execution": {"iopub.execute_input": STAMP, "iopub.status.busy": STAMP, "iopub.status.idle": STAMP,
                            "shell.execute_reply": STAMP}}
    cells = [
        new_code_cell("x = 1", id="parameters", metadata={"tags": ["parameters"], **timing}),
        new_code_cell("x = 2", id=injected_id, metadata={"tags": ["injected-parameters"], **timing}),
        new_code_cell("table", id="table", metadata=dict(timing), execution_count=3, outputs=[
            new_output("execute_result", execution_count=3,
                       data={"text/html": STYLER.format(u=uuid),
                             "text/plain": f"<pandas.io.formats.style.Styler at 0x{address}>"})]),
        new_code_cell("print(object())", id="printed", metadata=dict(timing), execution_count=4,
                      outputs=[new_output("stream", name="stdout", text=f"<object object at 0x{address}>\n")]),
    ]
    metadata = {"kernelspec": KERNELSPEC, "papermill": {"start_time": STAMP, "end_time": STAMP,
                                                        "duration": seconds * 4, "exception": None,
                                                        "parameters": {"x": 2}}}
    return new_notebook(cells=cells, metadata=metadata)


def test_normalise_strips_timings_and_fixes_random_ids():
    raw = executed(0.5, "818f9980", "50b78", "7f3a2c1d9e80")
    nb = normalise_notebook(raw)
    assert "start_time" not in nb.metadata.papermill and "duration" not in nb.metadata.papermill
    assert nb.metadata.papermill.exception is None and nb.metadata.papermill.parameters == {"x": 2}
    for cell in nb.cells:
        assert "execution" not in cell.metadata
        assert dict(cell.metadata.papermill) == {"exception": False, "status": "completed"}
    assert [cell.id for cell in nb.cells] == ["parameters", "injected-parameters", "table", "printed"]
    html = nb.cells[2].outputs[0].data["text/html"]
    assert "50b78" not in html and html.count("T_evalkit1") == 3
    assert nb.cells[2].outputs[0].data["text/plain"] == "<pandas.io.formats.style.Styler at 0x0>"
    assert nb.cells[3].outputs[0].text == "<object object at 0x0>\n"
    # the caller's notebook is untouched
    assert raw.cells[1].id == "818f9980" and "execution" in raw.cells[0].metadata


def test_two_runs_normalise_to_the_same_bytes(tmp_path):
    first, second = executed(0.5, "818f9980", "50b78", "7f3a2c1d9e80"), executed(0.7, "72b6b68d", "c01d2", "7f00aa")
    assert nbformat.writes(first) != nbformat.writes(second)
    a, b = write_notebook(first, tmp_path / "a.ipynb"), write_notebook(second, tmp_path / "b.ipynb")
    assert a.read_bytes() == b.read_bytes() and a.read_bytes().endswith(b"}\n")
    assert normalise_notebook(normalise_notebook(first)) == normalise_notebook(first)  # idempotent
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left behind


def test_fixed_ids_stay_unique_and_error_markers_are_fixed():
    nb = executed(0.5, "818f9980", "50b78", "7f3a2c1d9e80")
    nb.cells[0].id = "injected-parameters"  # an author's cell already has the id papermill's cell gets
    marker = {"tags": ["papermill-error-cell-tag"]}
    nb.cells.insert(0, new_markdown_cell("<span>An Exception was encountered at 'In [4]'.</span>", id="a1b2c3d4",
                                         metadata=marker))
    nb.cells.insert(4, new_markdown_cell('<span id="papermill-error-cell">stopped:</span>', id="e5f6a7b8",
                                         metadata=dict(marker)))
    ids = [cell.id for cell in normalise_notebook(nb).cells]
    assert ids == ["papermill-error-message", "injected-parameters", "injected-parameters-2", "table",
                   "papermill-error-anchor", "printed"]


def test_normalise_file_and_digest(tmp_path):
    path = tmp_path / "run.ipynb"
    nbformat.write(executed(0.5, "818f9980", "50b78", "7f3a2c1d9e80"), path)
    before = digest(path)
    assert normalise_file(path) == path and digest(path) != before
    assert digest(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "abc").write_bytes(b"abc")
    # FIPS 180-2, appendix B.1: SHA-256("abc")
    assert digest(tmp_path / "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.slow
def test_a_small_notebook_run_twice_differs_raw_and_matches_normalised(tmp_path):
    template = tmp_path / "small.ipynb"
    nbformat.write(new_notebook(cells=[
        new_code_cell("x = 1", id="parameters", metadata={"tags": ["parameters"]}),
        new_code_cell("from evalkit.report.notebook import setup_notebook\nimport matplotlib.pyplot as plt\n"
                      "import pandas as pd\nsetup_notebook()\nprint(x + 1)", id="setup"),
        new_code_cell("pd.DataFrame({'a': [1, x]}).style.highlight_max()", id="styler"),
        new_code_cell("object()", id="address"),
        new_code_cell("fig, ax = plt.subplots(figsize=(2, 2))\nax.plot([1, 3, 2])\nplt.show()", id="chart"),
    ], metadata={"kernelspec": KERNELSPEC}), template)
    output = tmp_path / "out" / "small.ipynb"
    output.parent.mkdir()
    raw, normalised = [], []
    for _ in range(2):
        run_papermill(template, output, {"x": 2}, tmp_path)
        raw.append(output.read_bytes())
        normalised.append(write_notebook(nbformat.read(output, as_version=4), output).read_bytes())
    assert raw[0] != raw[1], "papermill's timings and ids should differ between raw runs"
    assert normalised[0] == normalised[1]
    first = [nbformat.reads(r.decode("utf-8"), as_version=4) for r in raw]
    charts = [next(o.data["image/svg+xml"] for o in nb.cells[-1].outputs if "image/svg+xml" in o.get("data", {}))
              for nb in first]
    assert charts[0] == charts[1] and "<dc:date>" not in charts[0]  # svg.hashsalt fixes the ids already
    tables = [nb.cells[3].outputs[0].data["text/html"] for nb in first]
    assert tables[0] != tables[1], "pandas Styler should give each run's table a new random id"
    nb = nbformat.reads(normalised[0].decode("utf-8"), as_version=4)
    assert nb.cells[1].id == "injected-parameters" and "T_evalkit1" in nb.cells[3].outputs[0].data["text/html"]
    assert nb.cells[4].outputs[0].data["text/plain"] == "<object at 0x0>"


@pytest.mark.slow
def test_a_failed_run_twice_keeps_its_failure_marker_and_matches_normalised(tmp_path):
    template, output = tmp_path / "broken.ipynb", tmp_path / "out" / "broken.ipynb"
    nbformat.write(new_notebook(cells=[
        new_code_cell("x = 1", id="parameters", metadata={"tags": ["parameters"]}),
        new_code_cell("print('before')", id="before"),
        new_code_cell("raise ValueError(f'x was {x}')", id="broken"),
        new_code_cell("print('never')", id="after"),
    ], metadata={"kernelspec": KERNELSPEC}), template)
    output.parent.mkdir()
    raw, normalised = [], []
    for _ in range(2):
        with pytest.raises(papermill.PapermillExecutionError):
            run_papermill(template, output, {"x": 2}, tmp_path)
        raw.append(output.read_bytes())
        normalised.append(write_notebook(nbformat.read(output, as_version=4), output).read_bytes())
    assert raw[0] != raw[1] and normalised[0] == normalised[1]
    nb = nbformat.reads(normalised[0].decode("utf-8"), as_version=4)
    assert [cell.id for cell in nb.cells] == ["papermill-error-message", "parameters", "injected-parameters",
                                              "before", "papermill-error-anchor", "broken", "after"]
    assert [cell.metadata.get("papermill", {}).get("status") for cell in nb.cells if cell.cell_type == "code"] == [
        "completed", "completed", "completed", "failed", "pending"]
    assert nb.metadata.papermill.exception is True


@pytest.mark.slow
def test_the_pack_run_twice_gives_identical_notebook_and_html(demo_project, tmp_path, monkeypatch):
    # What evalkit.pipeline.batch.kernel_environment gives every kernel.
    for name, value in {"EVALKIT_ROOT": str(demo_project), "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}.items():
        monkeypatch.setenv(name, value)
    template, notebook = demo_project / "notebooks" / "pack.ipynb", tmp_path / "salford" / "care_homes.ipynb"
    notebooks, pages = [], []
    for run in range(2):
        execute_notebook(template, notebook, {**PACK, "project_root": str(demo_project)}, cwd=template.parent,
                         timeout=300)
        normalise_file(notebook)
        html = publish_html(notebook, tmp_path / f"care_homes.{run}.html", title="Safer care homes: Salford")
        notebooks.append(notebook.read_bytes())
        pages.append(html.read_bytes())
    assert notebooks[0] == notebooks[1]
    assert pages[0] == pages[1]
    assert digest(tmp_path / "care_homes.0.html") == digest(tmp_path / "care_homes.1.html")
    nb = nbformat.reads(notebooks[0].decode("utf-8"), as_version=4)
    assert "injected-parameters" in [cell.id for cell in nb.cells]
