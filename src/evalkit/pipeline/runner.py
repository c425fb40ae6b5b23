"""``evalkit run``: validate every job, plan, skip what is unchanged, run the rest, record it all.

Order of work: (1) every parameter file against its schema, then every
selected pack against the processed data; invalid jobs are reported together
and nothing runs (``skip_invalid`` builds the valid ones); (2) the plan and the
key of each job; (3) the outputs lock; (4) jobs whose key and outputs are
unchanged are reused, the others run on the chosen executor with the network
disabled; (5) ``outputs/manifest.json`` and ``outputs/index.html``. An
interrupted run records what finished and marks the rest ``interrupted``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import sys
import urllib.parse
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from evalkit.config.paths import ProjectPaths
from evalkit.errors import ConfigError, DataValidationError
from evalkit.pipeline import executors, manifest, netguard, validate
from evalkit.pipeline.index import write_index
from evalkit.pipeline.job import JobOutcome, JobSpec, running_file
from evalkit.pipeline.lock import outputs_lock
from evalkit.pipeline.plan import Job, Plan, code_fingerprint, data_files, plan_jobs, sha256_file
from evalkit.pipeline.progress import Reporter

logger = logging.getLogger(__name__)

SUMMARY_COLUMNS = ("job", "kind", "status", "reason", "seconds", "notebook", "html", "log", "error", "cell",
                   "partial", "stale")


@dataclass(frozen=True)
class RunOptions:
    """The options of ``evalkit run`` (see ``evalkit run --help``)."""

    localities: Sequence[str] | None = None
    streams: Sequence[str] | None = None
    jobs: int | None = None
    executor: str = "local"
    scheduler: str | None = None
    force: bool = False
    fail_fast: bool = False
    dry_run: bool = False
    skip_invalid: bool = False
    timeout: float | None = None
    wait: bool = False


@dataclass(frozen=True)
class RunResult:
    """What one run did. ``summary()`` has one row per job: ``job``, ``kind``, ``status`` (ok, cached, failed,
    skipped, interrupted, planned), ``reason``, ``seconds``, ``notebook``, ``html``, ``log``, ``error``, ``cell``,
    ``partial`` (the failed run's partial notebook), ``stale`` (an older pack was kept)."""

    plan: Plan
    rows: tuple[dict[str, Any], ...]
    seconds: float
    workers: int
    executor: str
    invalid: tuple[validate.Problem, ...] = ()
    manifest: Path | None = None
    index: Path | None = None
    dry_run: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> Any:
        """A pandas DataFrame of ``rows``."""
        import pandas as pd

        return pd.DataFrame(list(self.rows), columns=list(SUMMARY_COLUMNS))

    @property
    def failed(self) -> tuple[dict[str, Any], ...]:
        return tuple(r for r in self.rows if r["status"] == "failed")

    def count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.rows)


def _spec(job: Job, root: Path, options: RunOptions) -> JobSpec:
    return JobSpec(id=job.id, notebook=str(job.notebook), parameters=dict(job.parameters), executed=str(job.executed),
                   html=str(job.html), title=job.title, root=str(root), timeout=options.timeout,
                   guard_process=options.executor != "dask")


def scheduler_hosts(address: str | None) -> tuple[str, ...]:
    """The Dask scheduler's host name and addresses: the only place the runner's process may connect to."""
    if not address:
        return ()
    host = urllib.parse.urlsplit(address if "://" in address else f"tcp://{address}").hostname
    if not host:
        raise ConfigError(f"--scheduler {address!r} is not an address; give tcp://HOST:PORT")
    try:
        found = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError as exc:
        raise ConfigError(f"--scheduler {address!r}: cannot resolve {host!r} ({exc})") from exc
    return (host, *sorted(found))


def validation_key(config: Any, packs: Sequence[Any]) -> str:
    """What stage 2 of validation depends on: the data, the pack files and evalkit's code."""
    parts = {"code": code_fingerprint(), "data": [sha256_file(f) for f in data_files(config)],
             "packs": {p.key: sha256_file(p.file) for p in packs}}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _prepare(paths: ProjectPaths, options: RunOptions,
             previous: Any) -> tuple[Plan, list[validate.Problem], Any, str | None]:
    config, problems = validate.load_packs(paths)
    names = []
    for kind, wanted, known in (("locality", options.localities, config.programme.localities),
                                ("stream", options.streams, config.programme.streams)):
        unknown = [n for n in wanted or () if n not in known]
        if unknown:
            raise ConfigError(f"Unknown {kind} {unknown}; programme.yml lists {', '.join(known)}.")
        names.append(set(wanted) if wanted else None)
    packs = [p for p in config.packs if _matches(f"pack:{p.key}", *names)]
    problems = [p for p in problems if _matches(p.job, *names)]
    if not packs and not problems:
        raise ConfigError(f"No pack parameter file matches localities={options.localities} and "
                          f"streams={options.streams}; add parameters/<locality>/<stream>.yml files.")
    checked = validation_key(config, packs)
    if previous.get("run", {}).get("validated") != checked or problems:
        problems += validate.check_data(config, packs)  # unchanged inputs passed before: no need to reread
    if problems and (not options.skip_invalid or any(p.job == "all" for p in problems)):
        raise DataValidationError(validate.report(problems))
    bad = {p.job for p in problems}
    valid = [p for p in packs if f"pack:{p.key}" not in bad]
    if not valid:
        raise DataValidationError(validate.report(problems))
    for problem in problems:
        logger.warning("skipped (invalid): %s", problem)
    everything = [p for p in config.packs if f"pack:{p.key}" not in bad]
    return plan_jobs(config, valid, all_packs=everything), problems, config, None if problems else checked


def _matches(job: str, localities: set[str] | None, streams: set[str] | None) -> bool:
    if not job.startswith("pack:"):
        return False
    locality, stream = job[5:].split("/", 1)
    return (localities is None or locality in localities) and (streams is None or stream in streams)


def _row(job: Job, status: str, reason: str, root: Path, entry: dict[str, Any] | None = None,
         outcome: JobOutcome | None = None) -> dict[str, Any]:
    return {"job": job.id, "kind": job.kind, "status": status, "reason": reason,
            "seconds": outcome.seconds if outcome else None, "notebook": str(job.executed.relative_to(root)),
            "html": str(job.html.relative_to(root)), "log": str(job.log.relative_to(root)),
            "error": outcome.error if outcome else None, "cell": outcome.cell if outcome else None,
            "partial": outcome.partial if outcome else None, "stale": bool(entry and entry.get("stale"))}


def decide(plan: Plan, previous: Any, root: Path, *, force: bool = False) -> dict[str, tuple[bool, str]]:
    """Per job: reuse it or not, and why. A job reruns when its key or outputs changed, or when a job it
    needs reruns (its inputs are about to change), as ``make`` does."""
    decisions: dict[str, tuple[bool, str]] = {}
    for job in plan.jobs:  # in dependency order
        if force:
            decisions[job.id] = (False, "forced")
            continue
        rerun = [n for n in job.needs if n in decisions and not decisions[n][0]]
        if rerun:
            decisions[job.id] = (False, f"{len(rerun)} job(s) it depends on rerun ({rerun[0]}"
                                        f"{', ...' if len(rerun) > 1 else ''})")
            continue
        decisions[job.id] = manifest.reuse(job, previous, root)
    return decisions


def run(root: str | Path | None = None, options: RunOptions | None = None, *, stream: IO[str] | None = None,
        live: bool | None = None) -> RunResult:
    """Validate, plan and run a build; see the module docstring. Raises ``DataValidationError`` for invalid jobs
    (nothing has run) and ``lock.BusyError`` when another run holds the outputs."""
    options = options or RunOptions()
    paths = ProjectPaths.from_root(root)
    executors.get(options.executor)  # an unknown executor is an error before anything starts
    previous = manifest.read(paths.manifest_file)
    plan, problems, config, checked = _prepare(paths, options, previous)
    workers = max(1, options.jobs or os.cpu_count() or 1)
    reporter = Reporter(stream or sys.stdout, live=live)
    clock = time.perf_counter()
    if options.dry_run:
        rows = []
        decisions = decide(plan, previous, paths.root, force=options.force)
        for job in plan.jobs:
            cached, why = decisions[job.id]
            rows.append(_row(job, "cached" if cached else "planned", why, paths.root))
        return RunResult(plan, tuple(rows), 0.0, workers, options.executor, tuple(problems), dry_run=True)
    allowed = scheduler_hosts(options.scheduler)
    with outputs_lock(paths.outputs, wait=options.wait), netguard.no_network(allow=allowed):
        return _execute(plan, problems, config, options, workers, reporter, clock, checked)


def _execute(plan: Plan, problems: list, config: Any, options: RunOptions, workers: int, reporter: Reporter,
             clock: float, checked: str | None) -> RunResult:
    paths = config.paths
    root = paths.root
    previous = manifest.read(paths.manifest_file)
    decisions = decide(plan, previous, root, force=options.force)
    to_run = {j.id: _spec(j, root, options) for j in plan.jobs if not decisions[j.id][0]}
    run_info = {"started": manifest.now(), "executor": options.executor, "workers": workers,
                "command": " ".join(sys.argv[:1] + [a for a in sys.argv[1:]]), "versions": manifest.versions(),
                "git": manifest.git_state(root), "validated": checked}
    reporter.start(queued=list(to_run), cached=[j for j in decisions if decisions[j][0]])
    outcomes: dict[str, JobOutcome | None] = {}
    interrupted = False
    try:
        outcomes = executors.run_all(to_run, {j.id: j.needs for j in plan.jobs}, executor=options.executor,
                                     workers=workers, scheduler=options.scheduler, fail_fast=options.fail_fast,
                                     callback=lambda job, state, outcome: (outcomes.__setitem__(job, outcome),
                                                                           reporter.update(job, state, outcome)))
    except KeyboardInterrupt:
        interrupted = True
        for job in plan.jobs:  # a job cut off mid-run leaves its log, never a notebook that looks finished
            running_file(job).unlink(missing_ok=True)
        raise
    finally:
        reporter.stop()
        entries, rows = {}, []
        for job in plan.jobs:
            prior = previous.get("jobs", {}).get(job.id)
            cached, why = decisions[job.id]
            outcome = outcomes.get(job.id)
            if cached:
                status = "cached"
            elif outcome is None:
                status = "interrupted" if interrupted else "skipped"
            else:
                status = outcome.status
            entry = manifest.job_entry(job, root, status=status, previous=prior, reason=why, outcome=outcome,
                                       started=outcome.started if outcome else None,
                                       finished=outcome.finished if outcome else None)
            entries[job.id] = entry
            rows.append(_row(job, status, why, root, entry, outcome))
        run_info.update(finished=manifest.now(), seconds=round(time.perf_counter() - clock, 3),
                        interrupted=interrupted)
        manifest_path = manifest.write(paths.manifest_file, run_info, entries, previous)
        index = write_index(config, manifest.read(manifest_path)["jobs"])
    seconds = round(time.perf_counter() - clock, 3)
    result = RunResult(plan, tuple(rows), seconds, workers, options.executor, tuple(problems), manifest_path, index)
    reporter.summary(rows, seconds=seconds, workers=workers, executor=options.executor)
    return result


__all__ = ["RunOptions", "RunResult", "run"]
