"""``outputs/manifest.json``: the provenance of every job, and what the next run may reuse.

Per job: kind, parameters, parameter file, input hashes, notebook hash, the
key and what it is made of, status (``ok``, ``cached``, ``failed``,
``skipped``, ``interrupted``), whether its outputs are stale (a failed rerun
kept the last good ones), start, end, duration, outputs with their hashes and
the error. Per run: versions (Python, evalkit, key packages), the project's
git commit and whether its tree was dirty, the executor and the command.

A job may be reused when the manifest holds the same key with a good status
and every output is still there with the hash it had.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import evalkit
from evalkit.pipeline.plan import Job, sha256_file
from evalkit.atomic import write_atomic

logger = logging.getLogger(__name__)

KEY_PACKAGES = ("pandas", "numpy", "scipy", "statsmodels", "matplotlib", "papermill", "nbconvert", "nbclient",
                "ipykernel", "duckdb", "pyarrow", "pydantic", "dask", "distributed")
GOOD = ("ok", "cached")
SCHEMA = 1


def read(path: Path) -> dict[str, Any]:
    """The previous manifest, or an empty one (a missing or unreadable manifest means: rebuild)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"jobs": {}}
    except (OSError, ValueError) as exc:
        logger.warning("%s unreadable (%s): every job will run", path, exc)
        return {"jobs": {}}
    return data if isinstance(data.get("jobs"), dict) and data.get("schema") == SCHEMA else {"jobs": {}}


def _rel(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def outputs_of(job: Job, root: Path) -> dict[str, dict[str, str]]:
    files = {"notebook": job.executed, "html": job.html}
    if job.results is not None:
        files["results"] = job.results
    return {name: {"path": _rel(p, root), "sha256": sha256_file(p)} for name, p in files.items() if p.is_file()}


def reuse(job: Job, previous: Mapping[str, Any], root: Path) -> tuple[bool, str]:
    """Whether ``job`` can be skipped, and why (or why not) in words."""
    entry = previous.get("jobs", {}).get(job.id)
    if entry is None:
        return False, "never built"
    if entry.get("status") not in GOOD:
        return False, f"last run {entry.get('status')}"
    if entry.get("key") != job.key:
        old = entry.get("components", {})
        changed = [name for name, value in job.components.items() if old.get(name) != value]
        return False, f"{', '.join(changed) or 'key'} changed"
    recorded = entry.get("outputs", {})
    for name in ("notebook", "html", *(n for n in recorded if n not in ("notebook", "html"))):
        record = recorded.get(name)
        path = root / record["path"] if record else None
        if record is None or not path.is_file():
            return False, f"{name} output missing"
        if sha256_file(path) != record["sha256"]:
            return False, f"{name} output edited since it was built"
    return True, "unchanged"


def versions() -> dict[str, str]:
    """Python, evalkit and the key packages, as :func:`evalkit.versions` gives them."""
    return evalkit.versions(KEY_PACKAGES)


def git_state(root: Path) -> dict[str, Any]:
    """The project's commit and whether its tree had changes; nulls outside a git work tree."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def stamp(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat(timespec="seconds")


def job_entry(job: Job, root: Path, *, status: str, previous: Mapping[str, Any] | None, started: float | None = None,
              finished: float | None = None, reason: str = "", outcome: Any = None) -> dict[str, Any]:
    """One job's record; a cached or failed job keeps the previous build's outputs, times and hashes."""
    entry: dict[str, Any] = {
        "kind": job.kind, "title": job.title, "status": status, "reason": reason, "key": job.key,
        "components": dict(job.components), "parameters": dict(job.parameters),
        "parameter_file": _rel(job.parameter_file, root) if job.parameter_file else None,
        "notebook": {"path": _rel(job.notebook, root),
                     "sha256": sha256_file(job.notebook) if job.notebook.is_file() else None},
        "inputs": {_rel(p, root): sha256_file(p) for p in job.reads if p.is_file()},
        "log": _rel(job.log, root), "stale": False,
    }
    if status == "ok":
        entry.update(started=stamp(started), finished=stamp(finished), seconds=round(finished - started, 3),
                     outputs=outputs_of(job, root))
        return entry
    prior = dict(previous or {})
    if status == "cached":
        entry.update({k: prior.get(k) for k in ("started", "finished", "seconds", "outputs")})
        entry["key"] = prior.get("key", job.key)
        return entry
    entry["outputs"] = prior.get("outputs", {}) if prior.get("status") in GOOD else {}
    entry["stale"] = bool(entry["outputs"])
    if started is not None:
        entry.update(started=stamp(started), finished=stamp(finished), seconds=round(finished - started, 3))
    if outcome is not None:
        entry["error"] = {"message": outcome.error, "cell": outcome.cell, "ename": outcome.ename,
                          "partial_notebook": _rel(Path(outcome.partial), root) if outcome.partial else None}
    # a failed rerun's key is the one that failed; the last good key stays for the record
    entry["last_good_key"] = prior.get("key") if prior.get("status") in GOOD else prior.get("last_good_key")
    return entry


def write(path: Path, run: Mapping[str, Any], jobs: Mapping[str, Any], previous: Mapping[str, Any]) -> Path:
    """Write the manifest: this run's jobs, plus jobs of earlier runs this run did not touch."""
    merged = {**previous.get("jobs", {}), **jobs}
    document = {"schema": SCHEMA, "run": dict(run), "jobs": dict(sorted(merged.items()))}
    return write_atomic(path, json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")


__all__ = ["GOOD", "git_state", "job_entry", "now", "outputs_of", "read", "reuse", "versions", "write"]
