"""Run one parameterised notebook with papermill, keeping a log and the partial notebook on failure.

Papermill writes the executed notebook after every cell, so when a cell fails
the notebook up to and including the failing cell is already on disk (with
papermill's error marker at the top) before :class:`NotebookExecutionError` is
raised. The kernel's own output (stdout and stderr) and the outcome, with the
traceback on failure, go to a log file beside the executed notebook.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TextIO

import papermill
from jupyter_client.kernelspec import NoSuchKernel
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from papermill.exceptions import PapermillException, PapermillExecutionError

from evalkit.errors import ConfigError, NotebookExecutionError

logger = logging.getLogger(__name__)

KERNEL_NAME = "python3"  # the ipykernel spec installed with the project's environment
TIMEOUT_SECONDS = 600  # per cell; a pack's slowest cell takes a few seconds
START_TIMEOUT_SECONDS = 60  # papermill's default wait for a kernel to start
LOG_SUFFIX = ".log"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # colour codes in IPython tracebacks


@dataclass(frozen=True)
class ExecutionRecord:
    """One successful notebook run: what ran, where its outputs are, and how long it took."""

    template: Path
    output: Path
    log: Path
    parameters: Mapping[str, object] = field(repr=False)
    kernel_name: str
    started: str
    """Start time, ISO 8601 in UTC."""
    seconds: float


def log_path(output: Path) -> Path:
    """The log file of an executed notebook: beside it, same name, ``.log``."""
    return Path(output).with_suffix(LOG_SUFFIX)


def _write(log: TextIO, line: str) -> None:
    log.write(line.rstrip("\n") + "\n")
    log.flush()


KERNEL_ARGUMENTS = ("--IPKernelApp.log_level=ERROR",)
"""Passed to every kernel: its own start-up warnings (e.g. about TCP transport on a local machine) are
noise in a batch log; errors still show, and cell output is captured in the notebook and the job log."""


def execute_notebook(
    template: Path,
    output: Path,
    parameters: Mapping[str, object],
    *,
    cwd: Path,
    kernel_name: str = KERNEL_NAME,
    timeout: int = TIMEOUT_SECONDS,
    log: Path | None = None,
) -> ExecutionRecord:
    """Execute ``template`` with ``parameters`` injected, writing the executed notebook to ``output``.

    Parameters
    ----------
    template
        The notebook with a cell tagged ``parameters``; it is only read.
    output
        Where the executed notebook goes (folders are created). Its log is
        :func:`log_path` of it.
    parameters
        Values for the ``parameters`` cell (strings, numbers, booleans, None).
    cwd
        The kernel's working directory.
    kernel_name, timeout
        The Jupyter kernel, and the longest a single cell may run (seconds).
    log
        Where the log goes (default :func:`log_path` of ``output``).

    Raises
    ------
    NotebookExecutionError
        A cell raised, a cell timed out or the kernel died or could not start.
        ``output_path`` names the partial notebook when one was written.
    """
    template, output, cwd = Path(template), Path(output), Path(cwd)
    if not template.is_file():
        raise ConfigError(f"{template}: notebook template not found. Check the notebooks/ folder of the project.")
    if not cwd.is_dir():
        raise ConfigError(f"{cwd}: working directory for {template.name} does not exist.")
    output.parent.mkdir(parents=True, exist_ok=True)
    log = Path(log) if log is not None else log_path(output)
    log.parent.mkdir(parents=True, exist_ok=True)
    params = {key: (str(value) if isinstance(value, Path) else value) for key, value in parameters.items()}
    started = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    clock = time.perf_counter()
    logger.info("Executing %s -> %s with %s", template, output, params)
    with log.open("w", encoding="utf-8") as handle:
        _write(handle, f"notebook:   {template}")
        _write(handle, f"output:     {output}")
        _write(handle, f"parameters: {params}")
        _write(handle, f"kernel:     {kernel_name}; working directory {cwd}")
        _write(handle, f"started:    {started}")
        _write(handle, "---- kernel output ----")
        try:
            papermill.execute_notebook(
                str(template), str(output), parameters=params, cwd=str(cwd), kernel_name=kernel_name,
                execution_timeout=timeout, start_timeout=START_TIMEOUT_SECONDS, progress_bar=False,
                log_output=False, stdout_file=handle, stderr_file=handle, request_save_on_cell_execute=True,
                extra_arguments=list(KERNEL_ARGUMENTS),
            )
        except PapermillExecutionError as exc:
            error = NotebookExecutionError(str(template), exc.cell_index, exc.ename, exc.evalue,
                                           str(output) if output.is_file() else None)
            _fail(handle, error, "\n".join(_ANSI.sub("", line) for line in exc.traceback), clock)
            raise error from exc
        except (CellTimeoutError, DeadKernelError, NoSuchKernel, PapermillException, RuntimeError,
                TimeoutError) as exc:
            # Papermill has no cell error to point at: the kernel died, never started, or a cell ran too long.
            error = NotebookExecutionError(str(template), None, type(exc).__name__, str(exc),
                                           str(output) if output.is_file() else None)
            _fail(handle, error, repr(exc), clock)
            raise error from exc
        seconds = round(time.perf_counter() - clock, 3)
        _write(handle, "---- outcome ----")
        _write(handle, f"status:     ok in {seconds:.1f} s")
    logger.info("Executed %s in %.1f s", output, seconds)
    return ExecutionRecord(template=template, output=output, log=log, parameters=MappingProxyType(dict(params)),
                           kernel_name=kernel_name, started=started, seconds=seconds)


def _fail(handle: TextIO, error: NotebookExecutionError, detail: str, clock: float) -> None:
    seconds = time.perf_counter() - clock
    _write(handle, "---- outcome ----")
    _write(handle, f"status:     failed after {seconds:.1f} s")
    _write(handle, f"error:      {error}")
    _write(handle, detail)
    logger.error("%s", error)


__all__ = ["ExecutionRecord", "KERNEL_NAME", "TIMEOUT_SECONDS", "execute_notebook", "log_path"]
