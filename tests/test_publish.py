"""evalkit.pipeline.publish: an executed notebook becomes a self-contained pack with no code."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from evalkit.errors import PublishError
from evalkit.pipeline.publish import publish_html, write_atomic

SVG = ('<?xml version="1.0" encoding="utf-8" standalone="no"?>\n'
       '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
       '<svg xmlns="http://www.w3.org/2000/svg" width="10pt" height="10pt" viewBox="0 0 10 10">'
       '<metadata>credits</metadata><defs><clipPath id="p1"><rect x="0" y="0" width="5" height="5"/></clipPath>'
       '</defs><text clip-path="url(#p1)">Falls chart</text></svg>\n')


def executed_notebook(path: Path, *, error: bool = False) -> Path:
    cells = [
        new_code_cell('locality = "salford"  # default', metadata={"tags": ["parameters"]}),
        new_code_cell('locality = "secret_injected_value"', metadata={"tags": ["injected-parameters"]}),
        new_code_cell("from evalkit.report import pack\nview = pack.load_pack_view(locality, stream)",
                      outputs=[new_output("stream", name="stderr", text="ShortSeriesWarning: noisy detail\n")]),
        new_markdown_cell("## Measures\n\nNarrative for the reader."),
        new_code_cell("pack.measure_section(view, 'falls_with_harm')", outputs=[
            new_output("display_data", data={"text/html": "<h3>Falls with harm</h3>", "text/plain": "<HTML>"}),
            new_output("display_data", data={"image/svg+xml": SVG, "text/plain": "<Figure>"}),
        ]),
    ]
    if error:
        cells.append(new_code_cell("1/0", outputs=[new_output("error", ename="ZeroDivisionError",
                                                              evalue="division by zero", traceback=[])]))
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}})
    nbformat.write(nb, path)
    return path


@pytest.fixture
def page(tmp_path: Path) -> str:
    html = publish_html(executed_notebook(tmp_path / "care_homes.ipynb"), tmp_path / "packs" / "care_homes.html",
                        title="Safer care homes: Salford <pack>")
    return html.read_text(encoding="utf-8")


def test_no_code_no_parameters_no_stderr(page):
    assert "load_pack_view" not in page and "measure_section" not in page
    assert "secret_injected_value" not in page and 'locality = "salford"' not in page
    assert "noisy detail" not in page
    assert "In&nbsp;[" not in page and "Out[" not in page


def test_outputs_and_narrative_kept(page):
    assert "<h3>Falls with harm</h3>" in page
    assert "Narrative for the reader." in page


def test_svg_inline_without_prolog(page):
    assert "<svg" in page and ">Falls chart</text>" in page
    assert 'viewBox="0 0 10 10"' in page and '<clipPath id="p1">' in page  # SVG names keep their case
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page and "<metadata>" not in page
    assert "data:image/svg+xml;base64" not in page and "data:image/png" not in page


def test_self_contained_page(page):
    assert "<script" not in page  # no require.js, MathJax, Mermaid or widget code at all
    assert "<link" not in page
    assert 'lang="en-GB"' in page
    assert "<title>Safer care homes: Salford &lt;pack&gt;</title>" in page
    assert "#005EB8" in page and "Arial" in page


def test_published_twice_gives_the_same_bytes(tmp_path):
    nb = executed_notebook(tmp_path / "a.ipynb")
    first = publish_html(nb, tmp_path / "one.html").read_bytes()
    assert publish_html(nb, tmp_path / "two.html").read_bytes() == first


def test_failed_notebook_is_not_published(tmp_path):
    html = tmp_path / "pack.html"
    html.write_text("previous pack", encoding="utf-8")
    with pytest.raises(PublishError, match="cell 5 raised ZeroDivisionError"):
        publish_html(executed_notebook(tmp_path / "bad.ipynb", error=True), html)
    assert html.read_text(encoding="utf-8") == "previous pack"


def test_papermill_failure_marker_is_not_published(tmp_path):
    nb = nbformat.read(executed_notebook(tmp_path / "nb.ipynb"), as_version=4)
    nb.cells.insert(0, new_markdown_cell("An Exception was encountered",
                                         metadata={"tags": ["papermill-error-cell-tag"]}))
    nbformat.write(nb, tmp_path / "marked.ipynb")
    with pytest.raises(PublishError, match="failure marker"):
        publish_html(tmp_path / "marked.ipynb", tmp_path / "marked.html")


def test_missing_notebook_is_a_publish_error(tmp_path):
    with pytest.raises(PublishError, match="cannot read"):
        publish_html(tmp_path / "absent.ipynb", tmp_path / "absent.html")


def test_atomic_write_leaves_no_temporary_file_and_normal_permissions(tmp_path):
    target = write_atomic(tmp_path / "deep" / "index.html", "<p>x</p>")
    assert target.read_text(encoding="utf-8") == "<p>x</p>"
    assert [p.name for p in target.parent.iterdir()] == ["index.html"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_atomic_write_of_bytes_keeps_them_exactly(tmp_path):
    from evalkit.atomic import write_atomic as write

    data = bytes(range(256)) + b"\r\n"
    target = write(tmp_path / "deep" / "shot.png", data)
    assert target.read_bytes() == data and list(target.parent.iterdir()) == [target]
