"""A writable copy of the demo project with results files recorded for chosen packs.

The session's ``demo_project`` is read-only: tests copy its parameters,
notebooks and processed tables, then record results the way the pack
notebook's last cell does (formative fits of every monthly measure, the
interrupted time series of every outcome measure), without displaying them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import papermill

from evalkit.report import formative, pack, results, summative


def copy_project(source: Path, dest: Path, *, with_results: bool = True) -> Path:
    """Parameters, notebooks and processed tables of ``source`` copied to ``dest`` (raw extracts left out);
    its results files too unless ``with_results`` is false (other tests may have written some)."""
    dest.mkdir(parents=True)
    for folder in ("parameters", "notebooks", "data/processed"):
        shutil.copytree(source / folder, dest / folder)
    (dest / "data/raw").mkdir(parents=True)
    (dest / "outputs").mkdir()
    if with_results and (source / "outputs/results").is_dir():
        shutil.copytree(source / "outputs/results", dest / "outputs/results")
    return dest


def fit_pack(root: Path, locality: str, stream: str):
    """The view and the fits the pack notebook makes: (view, formative fits, ITS fits)."""
    view = pack.load_pack_view(locality, stream, root=root)
    fits = formative.fit_all(view)
    its_fits = {m: summative.fit_measure(view, m) for m in summative.summative_measure_ids(view)}
    return view, fits, its_fits


def record_packs(root: Path, packs: Iterable[tuple[str, str]]) -> list[Path]:
    """Record the results of each (locality, stream) pack; the paths written."""
    return [results.record(*fit_pack(root, locality, stream)) for locality, stream in packs]


def rename_in_programme(root: Path, old: str, new: str) -> None:
    """Replace a YAML line's text in the copy's programme.yml (e.g. a locality's display name)."""
    path = root / "parameters/programme.yml"
    text = path.read_text(encoding="utf-8")
    if old not in text:
        raise ValueError(f"{old!r} is not in {path}")
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def run_notebook(root: Path, name: str, parameters: dict, output: Path) -> Path:
    """Execute ``notebooks/<name>.ipynb`` of ``root`` with papermill, in its folder as the batch runs it; the
    executed notebook's path."""
    papermill.execute_notebook(str(root / "notebooks" / f"{name}.ipynb"), str(output), parameters=parameters,
                               cwd=str(root / "notebooks"), kernel_name="python3", progress_bar=False)
    return output
