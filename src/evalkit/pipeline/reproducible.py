"""Byte-identical executed notebooks: strip what changes between two runs of the same pack.

Two runs of ``notebooks/pack.ipynb`` with the same parameters, data and
environment differ only in what the run itself writes into the notebook:

- papermill's timings: ``metadata.papermill`` ``start_time``, ``end_time`` and
  ``duration``, for the notebook and for every cell (removed; the run's start
  and length are kept in its log and the build's manifest instead);
- nbclient's ``metadata.execution`` timestamps (``iopub.*``,
  ``shell.execute_reply``) on every cell (removed);
- the random ``id`` of the cell papermill injects (``injected-parameters``) and
  of the two cells it adds when a cell fails (``papermill-error-cell-tag``):
  fixed ids, made unique against the notebook's own;
- random ids inside outputs: the ``T_<uuid>`` of pandas Styler tables (numbered
  in notebook order) and ``<object at 0x...>`` memory addresses in plain-text
  reprs (replaced by ``0x0``).

What stays is already stable for the same inputs: parameters, paths, papermill
``status`` and ``exception`` (the failure marker), ``execution_count``,
``kernelspec`` and ``language_info``. Matplotlib's SVG ids are fixed by
``svg.hashsalt`` and its creation date is left out by
:func:`evalkit.report.notebook.setup_notebook`.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import re
from pathlib import Path

import nbformat

from evalkit.atomic import write_atomic

logger = logging.getLogger(__name__)

NBFORMAT_VERSION = 4  # the notebook format every executed notebook is written in
PAPERMILL_TIMINGS = ("start_time", "end_time", "duration")  # papermill.engines.NotebookExecutionManager
INJECTED_TAG = "injected-parameters"  # papermill.parameterize
ERROR_MARKER_TAG = "papermill-error-cell-tag"  # papermill.execute.ERROR_MARKER_TAG
ERROR_ANCHOR = 'id="papermill-error-cell"'  # in papermill.execute.ERROR_ANCHOR_MSG, not in the message cell
FIXED_IDS = {INJECTED_TAG: "injected-parameters", "error-message": "papermill-error-message",
             "error-anchor": "papermill-error-anchor"}
STYLER_PREFIX = "T_evalkit"  # replaces pandas Styler's random ``T_<uuid>`` table ids
_STYLER_TABLE = re.compile(r'<table id="T_([0-9a-f]{5,32})"')  # pandas.io.formats.style_render, uuid_len 5
_ADDRESS = re.compile(r"( at 0x)[0-9a-fA-F]+>")  # object.__repr__: <module.Class object at 0x7f...>
_CHUNK = 1 << 20  # bytes read at a time by digest()


def _fixed_id(cell: nbformat.NotebookNode) -> str | None:
    tags = cell.get("metadata", {}).get("tags", [])
    if INJECTED_TAG in tags:
        return FIXED_IDS[INJECTED_TAG]
    if ERROR_MARKER_TAG in tags:
        return FIXED_IDS["error-anchor" if ERROR_ANCHOR in cell.get("source", "") else "error-message"]
    return None


def _fix_ids(nb: nbformat.NotebookNode) -> None:
    """Give papermill's own cells fixed ids, unique against the ids the author gave."""
    fixed = {index: name for index, cell in enumerate(nb.cells) if (name := _fixed_id(cell)) is not None}
    taken = {cell.get("id") for index, cell in enumerate(nb.cells) if index not in fixed}
    for index, name in fixed.items():
        candidate, suffix = name, 1
        while candidate in taken:
            suffix += 1
            candidate = f"{name}-{suffix}"
        nb.cells[index]["id"] = candidate
        taken.add(candidate)


def _strip_timings(metadata: nbformat.NotebookNode) -> None:
    metadata.pop("execution", None)  # nbclient's iopub.* and shell.execute_reply timestamps
    papermill = metadata.get("papermill")
    if papermill is not None:
        for key in PAPERMILL_TIMINGS:
            papermill.pop(key, None)


def _text(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value


def _fix_outputs(nb: nbformat.NotebookNode) -> None:
    tables = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                output["text"] = _ADDRESS.sub(r"\g<1>0>", _text(output["text"]))
            data = output.get("data", {})
            if "text/plain" in data:
                data["text/plain"] = _ADDRESS.sub(r"\g<1>0>", _text(data["text/plain"]))
            if "text/html" in data:
                html = _text(data["text/html"])
                for uuid in dict.fromkeys(_STYLER_TABLE.findall(html)):
                    tables += 1
                    html = re.sub(rf"\bT_{uuid}(?![0-9a-f])", f"{STYLER_PREFIX}{tables}", html)
                data["text/html"] = html


def normalise_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of the executed notebook ``nb`` with everything that varies between runs removed or fixed.

    ``nb`` itself is not changed. See the module docstring for the list; the
    result of two runs with the same inputs is equal, and so are the bytes
    :func:`write_notebook` writes from it.
    """
    result = copy.deepcopy(nb)
    _strip_timings(result.metadata)
    for cell in result.cells:
        _strip_timings(cell.setdefault("metadata", nbformat.NotebookNode()))
    _fix_ids(result)
    _fix_outputs(result)
    return result


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> Path:
    """Normalise ``nb`` and write it to ``path`` atomically, in nbformat 4 with nbformat's fixed layout.

    The layout is ``nbformat.writes``: keys sorted, one-space indent, and a
    final newline, as ``nbformat.write`` and papermill write it.
    """
    text = nbformat.writes(normalise_notebook(nb), version=NBFORMAT_VERSION)
    if not text.endswith("\n"):
        text += "\n"
    return write_atomic(Path(path), text)


def normalise_file(path: Path) -> Path:
    """Normalise the executed notebook at ``path`` in place (atomically); it must be a readable notebook."""
    path = Path(path)
    nb = nbformat.read(path, as_version=NBFORMAT_VERSION)
    logger.debug("Normalising %s", path)
    return write_notebook(nb, path)


def digest(path: Path) -> str:
    """The SHA-256 of the file at ``path``, as 64 lower-case hex digits (for manifests)."""
    sha = hashlib.sha256()
    with Path(path).open("rb") as file:
        while chunk := file.read(_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


__all__ = ["digest", "normalise_file", "normalise_notebook", "write_notebook"]
