"""Run a plan's jobs in dependency order on a local process pool or on Dask distributed.

Both executors take :class:`~evalkit.pipeline.job.JobSpec` values and run
:func:`~evalkit.pipeline.job.run_job` in worker processes, so the outputs are
the same either way. A job starts when every job it needs has finished (done,
cached or failed: a summary still runs when one of its packs failed, and says
so). ``fail_fast`` stops starting new jobs after the first failure. Ctrl-C
cancels what has not started, stops the workers (their kernels exit with
them) and re-raises, so the caller can record the interrupted run.

Executors live in a small registry: :func:`register` and :func:`get`.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol

from evalkit.errors import ConfigError
from evalkit.pipeline.job import JobOutcome, JobSpec, run_job

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.1  # how often the Dask pool looks for finished jobs (jobs take seconds)

Callback = Callable[[str, str, JobOutcome | None], None]
"""``callback(job_id, state, outcome)``; state is ``running``, ``done``, ``failed`` or ``skipped``."""


class Pool(Protocol):
    def submit(self, spec: JobSpec) -> Any: ...

    def wait_any(self, futures: Iterable[Any]) -> set[Any]: ...

    def result(self, future: Any) -> JobOutcome: ...

    def cancel(self, futures: Iterable[Any]) -> None: ...

    def close(self, *, abort: bool = False) -> None: ...


class LocalPool:
    """A process pool of ``workers`` processes (spawned: no state copied from the parent)."""

    def __init__(self, workers: int, scheduler: str | None = None):
        if scheduler:
            raise ConfigError("--scheduler applies to --executor dask only; the local executor runs here")
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, spec: JobSpec) -> Future:
        return self._pool.submit(run_job, spec)

    def wait_any(self, futures: Iterable[Future]) -> set[Future]:
        done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
        return set(done)

    def result(self, future: Future) -> JobOutcome:
        return future.result()

    def cancel(self, futures: Iterable[Future]) -> None:
        for future in futures:
            future.cancel()

    def close(self, *, abort: bool = False) -> None:
        if abort:
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.terminate()  # its kernels notice their parent has gone and exit
        self._pool.shutdown(wait=not abort, cancel_futures=abort)


class DaskPool:
    """Dask distributed: a ``LocalCluster`` of ``workers`` single-threaded processes, or a running scheduler."""

    def __init__(self, workers: int, scheduler: str | None = None):
        from distributed import Client, LocalCluster

        self._cluster = None
        if scheduler:
            self._client = Client(scheduler, set_as_default=False)
        else:
            self._cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                         dashboard_address=None, host="127.0.0.1")
            self._client = Client(self._cluster, set_as_default=False)

    def submit(self, spec: JobSpec) -> Any:
        return self._client.submit(run_job, spec, pure=False, key=f"evalkit-{spec.id}-{time.monotonic_ns()}")

    def wait_any(self, futures: Iterable[Any]) -> set[Any]:
        futures = list(futures)
        while True:  # polled: distributed.wait would look for a default client, which evalkit never sets
            done = {f for f in futures if f.done()}
            if done:
                return done
            time.sleep(POLL_SECONDS)

    def result(self, future: Any) -> JobOutcome:
        return future.result()

    def cancel(self, futures: Iterable[Any]) -> None:
        self._client.cancel(list(futures))

    def close(self, *, abort: bool = False) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


_EXECUTORS: dict[str, type] = {}


def register(name: str, pool: type) -> None:
    _EXECUTORS[name] = pool


def get(name: str) -> type:
    try:
        return _EXECUTORS[name]
    except KeyError:
        raise ConfigError(f"Unknown executor {name!r}; known executors: {', '.join(_EXECUTORS)}") from None


register("local", LocalPool)
register("dask", DaskPool)


def run_all(specs: Mapping[str, JobSpec], needs: Mapping[str, Iterable[str]], *, executor: str = "local",
            workers: int = 1, scheduler: str | None = None, fail_fast: bool = False,
            callback: Callback | None = None) -> dict[str, JobOutcome | None]:
    """Run ``specs`` (by job id) respecting ``needs``; return each job's outcome (None if it never ran).

    ``needs`` may name jobs that are not in ``specs`` (cached ones): those count as finished.
    """
    notify = callback or (lambda *_: None)
    waiting = {job: {n for n in needs.get(job, ()) if n in specs} for job in specs}
    outcomes: dict[str, JobOutcome | None] = {}
    running: dict[Any, str] = {}
    stop = False
    pool = get(executor)(max(1, workers), scheduler)
    try:
        while waiting or running:
            ready = [job for job, deps in waiting.items() if not deps] if not stop else []
            for job in ready:
                del waiting[job]
                try:
                    running[pool.submit(specs[job])] = job
                except Exception as exc:  # noqa: BLE001 - e.g. a broken pool: this job fails, the loop goes on
                    now = time.time()
                    outcomes[job] = JobOutcome(job, "failed", now, now, error=f"could not start: "
                                               f"{type(exc).__name__}: {exc}", ename=type(exc).__name__)
                    notify(job, "failed", outcomes[job])
                    for deps in waiting.values():
                        deps.discard(job)
                    continue
                notify(job, "running", None)
            if stop and not running:
                break
            if not running:  # nothing can start: a dependency cycle cannot occur in a plan, but never spin
                break
            for future in pool.wait_any(list(running)):
                job = running.pop(future)
                try:
                    outcome = pool.result(future)
                except Exception as exc:  # noqa: BLE001 - a worker that died fails its job, not the build
                    logger.error("%s: worker failed: %r", job, exc)
                    now = time.time()
                    outcome = JobOutcome(job, "failed", now, now, error=f"the worker running it failed: "
                                         f"{type(exc).__name__}: {exc}", ename=type(exc).__name__)
                outcomes[job] = outcome
                notify(job, "done" if outcome.status == "ok" else "failed", outcome)
                for deps in waiting.values():
                    deps.discard(job)
                if outcome.status != "ok" and fail_fast:
                    stop = True
        for job in waiting:
            outcomes[job] = None
            notify(job, "skipped", None)
    except BaseException:
        pool.cancel(list(running))
        pool.close(abort=True)
        raise
    pool.close()
    return outcomes


__all__ = ["DaskPool", "LocalPool", "get", "register", "run_all"]
