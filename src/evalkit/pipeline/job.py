"""Run one job in a worker process: execute the notebook, normalise it, publish it, all or nothing.

The notebook executes into a hidden temporary file beside its final place. On
success it is normalised (no timestamps or random ids), renamed into place,
and published to HTML (also through a temporary file and a rename). On
failure the partial notebook, with papermill's error marker, is kept as
``<name>.failed.ipynb`` beside the log, and the previous good notebook and
pack are left untouched: nothing half-written ever has a finished file's name.

A job that runs longer than its timeout has its kernel killed (a watchdog in
the worker), which fails that job only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError, NotebookExecutionError
from evalkit.pipeline import netguard

# papermill, nbformat and nbconvert are imported where a job runs (in the worker), not by the parent: a run
# with nothing to do never pays for them.
TIMEOUT_SECONDS = 600  # per cell, as evalkit.pipeline.execute.TIMEOUT_SECONDS

logger = logging.getLogger(__name__)

KERNEL_ENVIRONMENT = {
    "MPLBACKEND": "Agg",  # no display in a kernel; setup_notebook() switches to inline SVG output
    "PYTHONHASHSEED": "0",  # same set and dict order in every kernel (the Makefile does the same)
}
ROOT_VARIABLE = "EVALKIT_ROOT"  # evalkit.config.paths.ROOT_ENV_VAR


@dataclass(frozen=True)
class JobSpec:
    """Everything a worker needs, as plain values (it is pickled to the worker)."""

    id: str
    notebook: str
    parameters: Mapping[str, Any]
    executed: str
    html: str
    title: str
    root: str
    timeout: float | None = None
    """Seconds the whole job may take; None for no limit."""
    cell_timeout: int = TIMEOUT_SECONDS
    guard_process: bool = True
    """Also guard the worker process itself (not for Dask workers, whose own traffic to the scheduler and
    their peers must go on while a job runs; the kernel is guarded either way)."""


@dataclass(frozen=True)
class JobOutcome:
    """What happened to one job; ``status`` is ``ok`` or ``failed``."""

    id: str
    status: str
    started: float
    finished: float
    error: str | None = None
    cell: int | None = None
    ename: str | None = None
    partial: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return round(self.finished - self.started, 3)


def worker_environment(root: str) -> dict[str, str]:
    """Environment every kernel inherits: project root, fixed hash seed, no display, no network."""
    return {ROOT_VARIABLE: root, **KERNEL_ENVIRONMENT, **netguard.kernel_environment()}


class _Watchdog:
    """Kill this process's kernels (its child processes) if the job outlives its timeout."""

    def __init__(self, seconds: float | None):
        self.fired = False
        self._timer = threading.Timer(seconds, self._fire) if seconds else None

    def _fire(self) -> None:
        import psutil

        self.fired = True
        for child in psutil.Process().children(recursive=True):
            try:
                child.kill()
            except psutil.Error:  # already gone
                continue

    def __enter__(self) -> _Watchdog:
        if self._timer is not None:
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()


def running_file(job: Any) -> Path:
    """Where a job's notebook is written while it runs (hidden; renamed into place only when it succeeds)."""
    final = Path(job.executed)
    return final.with_name(f".{final.stem}.running.ipynb")


def run_job(spec: JobSpec) -> JobOutcome:
    """Execute and publish one notebook; never raises for a job's own failure (the outcome says it)."""
    from evalkit.pipeline import reproducible
    from evalkit.pipeline.execute import execute_notebook
    from evalkit.pipeline.publish import publish_html

    os.environ.update(worker_environment(spec.root))
    executed, html = Path(spec.executed), Path(spec.html)
    failed = executed.with_name(f"{executed.stem}.failed.ipynb")
    running = running_file(spec)
    started = time.time()
    guard = netguard.no_network() if spec.guard_process else contextlib.nullcontext()
    with _Watchdog(spec.timeout) as watchdog, guard:
        try:
            _execute_with_start_retry(execute_notebook, spec, running, executed.with_suffix(".log"))
            reproducible.normalise_file(running)
            os.replace(running, executed)
            failed.unlink(missing_ok=True)
            publish_html(executed, html, title=spec.title)
        except NotebookExecutionError as exc:
            partial = _keep_partial(running, failed)
            where = f"cell {exc.cell_index}" if exc.cell_index is not None else "the kernel"
            error = f"{Path(spec.notebook).name} failed in {where}: {exc.ename}: {exc.evalue}"
            if watchdog.fired:
                error = (f"timed out: the job ran longer than {spec.timeout:.0f} s and its kernel was stopped "
                         f"(raise --timeout if it needs longer); {exc.ename}")
            return JobOutcome(spec.id, "failed", started, time.time(), error=error, cell=exc.cell_index,
                              ename="Timeout" if watchdog.fired else exc.ename, partial=partial)
        except EvalkitError as exc:
            partial = _keep_partial(running, failed)
            return JobOutcome(spec.id, "failed", started, time.time(), error=str(exc), ename=type(exc).__name__,
                              partial=partial)
    return JobOutcome(spec.id, "ok", started, time.time())


START_ATTEMPTS = 3
"""A kernel that dies before it answers (jupyter_client picks free ports, then binds them: two kernels started
at the same moment can pick the same port, "Address already in use") is started again, up to this many times.
Only failures before the first cell count; a notebook's own error never reruns."""


def _failed_to_start(exc: NotebookExecutionError) -> bool:
    return exc.cell_index is None and ("kernel_info" in exc.evalue or "Address already in use" in exc.evalue)


def _execute_with_start_retry(execute: Any, spec: JobSpec, running: Path, log: Path) -> None:
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            execute(Path(spec.notebook), running, dict(spec.parameters), cwd=Path(spec.notebook).parent,
                    timeout=spec.cell_timeout, log=log)
            return
        except NotebookExecutionError as exc:
            if attempt == START_ATTEMPTS or not _failed_to_start(exc):
                raise
            logger.warning("%s: the kernel did not start (%s); starting it again (attempt %d of %d)", spec.id,
                           exc.evalue, attempt + 1, START_ATTEMPTS)
            time.sleep(0.5 * attempt)


def _keep_partial(running: Path, failed: Path) -> str | None:
    from evalkit.pipeline import reproducible

    if not running.is_file():
        return None
    try:
        reproducible.normalise_file(running)
    except (OSError, ValueError) as exc:  # a notebook cut off mid-write is kept as it is
        logger.warning("%s: kept as written, not normalised (%s)", running, exc)
    os.replace(running, failed)
    return str(failed)


__all__ = ["JobOutcome", "JobSpec", "run_job", "running_file", "worker_environment"]
