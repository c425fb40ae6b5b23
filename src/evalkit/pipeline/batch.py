"""Build every selected evidence pack: execute the pack notebook, then publish it as HTML.

Each locality x stream pack is one job: ``notebooks/pack.ipynb`` is executed
with papermill into ``outputs/notebooks/<locality>/<stream>.ipynb`` (with its
``.log`` beside it) and published to ``outputs/packs/<locality>/<stream>.html``.
Jobs run on a thread pool; each starts its own kernel process, so the threads
only wait. A failing job is recorded and never stops the others; its partial
notebook and log stay, and an HTML pack from an earlier run is left in place.

Everything a job needs is checked before any kernel starts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from evalkit.config.load import Pack, ProjectConfig
from evalkit.errors import ConfigError, DataValidationError, EvalkitError
from evalkit.pipeline.execute import TIMEOUT_SECONDS, execute_notebook, log_path
from evalkit.pipeline.publish import publish_html

logger = logging.getLogger(__name__)

PACK_NOTEBOOK = "pack.ipynb"
KERNEL_ENVIRONMENT = {
    "MPLBACKEND": "Agg",  # no display in a kernel; setup_notebook() switches to inline SVG output
    "PYTHONHASHSEED": "0",  # same set and dict-of-hash order in every kernel (Makefile does the same)
}
ROOT_VARIABLE = "EVALKIT_ROOT"  # evalkit.config.paths.ROOT_ENV_VAR
STATUSES = ("ok", "failed")
SUMMARY_COLUMNS = ("locality", "stream", "status", "seconds", "notebook", "html", "log", "error")


@dataclass(frozen=True)
class JobResult:
    """The outcome of one pack."""

    locality: str
    stream: str
    status: str
    """``ok`` or ``failed``."""
    seconds: float
    notebook: Path
    html: Path
    log: Path
    error: str | None = None

    @property
    def key(self) -> str:
        return f"{self.locality}/{self.stream}"


@dataclass(frozen=True)
class BatchResult:
    """Every job of one build, in the order the packs were selected.

    ``summary()`` columns: ``locality``, ``stream``, ``status`` (ok/failed),
    ``seconds`` (execute and publish), ``notebook`` (executed notebook),
    ``html`` (the pack), ``log``, ``error`` (missing when ok).
    """

    jobs: tuple[JobResult, ...]
    workers: int
    seconds: float

    @property
    def failed(self) -> tuple[JobResult, ...]:
        return tuple(job for job in self.jobs if job.status == "failed")

    def result(self, locality: str, stream: str) -> JobResult | None:
        return next((j for j in self.jobs if j.locality == locality and j.stream == stream), None)

    def summary(self) -> pd.DataFrame:
        rows = [{"locality": j.locality, "stream": j.stream, "status": j.status, "seconds": j.seconds,
                 "notebook": str(j.notebook), "html": str(j.html), "log": str(j.log), "error": j.error}
                for j in self.jobs]
        return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))

    def narrative(self) -> str:
        built = len(self.jobs) - len(self.failed)
        text = (f"Built {built} of {len(self.jobs)} evidence pack{'s' if len(self.jobs) != 1 else ''} in "
                f"{self.seconds:.1f} s with {self.workers} parallel job{'s' if self.workers != 1 else ''}.")
        for job in self.failed:
            text += (f" {job.key} failed ({job.error}); its partial notebook and log are in {job.notebook.parent}, "
                     "and any pack from an earlier run was kept, so it may be out of date.")
        return (text + " Each pack ran in its own kernel from the same parameter files and processed data, so "
                "its numbers depend only on those and on the evalkit version.")


def select_packs(config: ProjectConfig, *, localities: Iterable[str] | None = None,
                 streams: Iterable[str] | None = None) -> list[Pack]:
    """The configured packs of the chosen localities and streams (all when ``None``)."""
    chosen = []
    for kind, wanted, known in (("locality", localities, config.programme.localities),
                                ("stream", streams, config.programme.streams)):
        names = None if wanted is None else list(wanted)
        unknown = [n for n in names or [] if n not in known]
        if unknown:
            raise ConfigError(f"Unknown {kind} {unknown}; programme.yml lists {', '.join(known)}.")
        chosen.append(None if names is None else set(names))
    packs = [p for p in config.packs if (chosen[0] is None or p.locality in chosen[0])
             and (chosen[1] is None or p.stream in chosen[1])]
    if not packs:
        raise ConfigError(f"No pack parameter file matches localities={localities} and streams={streams}; "
                          f"the packs are {', '.join(p.key for p in config.packs)}.")
    return packs


def _validate(config: ProjectConfig, packs: list[Pack], template: Path) -> None:
    """Check every job's inputs before any kernel starts; one error lists every problem."""
    paths, problems = config.paths, []
    if not template.is_file():
        problems.append(f"{template}: the pack notebook is missing.")
    needed = [paths.observations_file, paths.ingest_report_file]
    if any(m.cadence == "survey_wave" for p in packs for m in config.programme.stream_measures(p.stream).values()):
        needed.append(paths.survey_file)
    problems += [f"{file}: missing; run `evalkit ingest` (or `make data`) first." for file in needed
                 if not file.is_file()]
    if problems:
        raise DataValidationError("Cannot build the packs:\n" + "\n".join(f"  {p}" for p in problems))


@contextlib.contextmanager
def kernel_environment(root: Path) -> Iterator[None]:
    """Environment variables every kernel inherits while the build runs; restored afterwards."""
    values = {ROOT_VARIABLE: str(root), **KERNEL_ENVIRONMENT}
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _title(config: ProjectConfig, pack: Pack) -> str:
    prog = config.programme
    return f"{prog.streams[pack.stream].name}: {prog.localities[pack.locality].name} (evidence pack)"


def _run_job(config: ProjectConfig, pack: Pack, template: Path, timeout: int) -> JobResult:
    paths = config.paths
    notebook = paths.executed / pack.locality / f"{pack.stream}.ipynb"
    html = paths.packs / pack.locality / f"{pack.stream}.html"
    clock = time.perf_counter()
    error = None
    try:
        execute_notebook(template, notebook, {"locality": pack.locality, "stream": pack.stream,
                                              "project_root": str(paths.root)},
                         cwd=template.parent, timeout=timeout)
        publish_html(notebook, html, title=_title(config, pack))
    except EvalkitError as exc:
        error = str(exc)
    except Exception as exc:  # noqa: BLE001 - one job's unexpected failure is recorded, never stops the others
        logger.exception("%s: unexpected failure", pack.key)
        error = f"{type(exc).__name__}: {exc}"
    seconds = round(time.perf_counter() - clock, 3)
    status = "failed" if error else "ok"
    (logger.error if error else logger.info)("%s: %s in %.1f s%s", pack.key, status, seconds,
                                             f" ({error})" if error else "")
    return JobResult(locality=pack.locality, stream=pack.stream, status=status, seconds=seconds,
                     notebook=notebook, html=html, log=log_path(notebook), error=error)


def build_packs(
    config: ProjectConfig,
    *,
    localities: Iterable[str] | None = None,
    streams: Iterable[str] | None = None,
    jobs: int | None = None,
    template: Path | None = None,
    timeout: int = TIMEOUT_SECONDS,
) -> BatchResult:
    """Execute and publish every selected pack, ``jobs`` at a time (default: one per CPU).

    ``template`` is the pack notebook (default ``notebooks/pack.ipynb``); each
    kernel runs in its folder, with ``project_root`` and ``$EVALKIT_ROOT`` set
    to the project.
    """
    packs = select_packs(config, localities=localities, streams=streams)
    template = Path(template) if template is not None else config.paths.notebooks / PACK_NOTEBOOK
    _validate(config, packs, template)
    workers = max(1, min(jobs or os.cpu_count() or 1, len(packs) or 1))
    logger.info("Building %d pack(s) with %d worker(s)", len(packs), workers)
    clock = time.perf_counter()
    with kernel_environment(config.paths.root), ThreadPoolExecutor(max_workers=workers,
                                                                   thread_name_prefix="evalkit-pack") as pool:
        futures = [pool.submit(_run_job, config, pack, template, timeout) for pack in packs]
        results = tuple(future.result() for future in futures)
    return BatchResult(jobs=results, workers=workers, seconds=round(time.perf_counter() - clock, 3))


__all__ = ["BatchResult", "JobResult", "PACK_NOTEBOOK", "build_packs", "kernel_environment", "select_packs"]
