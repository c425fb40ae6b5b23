"""The jobs of one build and the content key of each.

A build has one job per locality x stream (``notebooks/pack.ipynb``), one
summary per locality (``notebooks/locality.ipynb``) after that locality's
packs, and one whole-system job (``notebooks/system.ipynb``) after every
other; the index is written last, by the runner. A job's *key* hashes what
its output depends on: the notebook's source, its resolved parameters, the
processed data it reads, evalkit's version and source code, and the keys of
the jobs it depends on. The same key means the same output, so a job whose
key and outputs are unchanged need not run again.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import evalkit
from evalkit.config.load import Pack, ProjectConfig
from evalkit.errors import ConfigError

PACK_NOTEBOOK = "pack.ipynb"
LOCALITY_NOTEBOOK = "locality.ipynb"
SYSTEM_NOTEBOOK = "system.ipynb"
KINDS = ("pack", "locality", "system")
PACKAGE_ROOT = Path(evalkit.__file__).resolve().parent
CODE_SUFFIXES = (".py", ".j2", ".css", ".json")  # what evalkit's behaviour is made of (code, templates, styles)


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, hashed once per process while its size and modification time stay the same."""
    path = Path(path).resolve()
    stat = path.stat()
    return _sha256(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4096)
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _hash(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def code_fingerprint() -> str:
    """evalkit's version and a hash of its source files, templates and style sheets."""
    digest = hashlib.sha256(evalkit.__version__.encode())
    for path in sorted(p for p in PACKAGE_ROOT.rglob("*") if p.suffix in CODE_SUFFIXES and p.is_file()
                       and "__pycache__" not in p.parts):
        digest.update(path.relative_to(PACKAGE_ROOT).as_posix().encode())
        digest.update(sha256_file(path).encode())
    return f"{evalkit.__version__}+{digest.hexdigest()[:16]}"


@dataclass(frozen=True)
class Job:
    """One notebook to execute and publish.

    ``id`` is ``pack:<locality>/<stream>``, ``locality:<locality>`` or ``system``; ``needs`` are the ids of
    the jobs that must finish first; ``components`` are the hashes the key is made of (shown by
    ``--dry-run`` to say why a job reruns).
    """

    id: str
    kind: str
    title: str
    notebook: Path
    parameters: Mapping[str, Any]
    executed: Path
    html: Path
    parameter_file: Path | None
    needs: tuple[str, ...]
    reads: tuple[Path, ...]
    results: Path | None = None
    """The small results file a pack notebook writes for the locality and system jobs."""
    components: Mapping[str, str] = field(default_factory=dict)
    key: str = ""

    @property
    def log(self) -> Path:
        return self.executed.with_suffix(".log")

    @property
    def failed_notebook(self) -> Path:
        """Where a failed run's partial notebook is kept (a name that never looks finished)."""
        return self.executed.with_name(f"{self.executed.stem}.failed.ipynb")

@dataclass(frozen=True)
class Plan:
    """Jobs in an order that respects ``needs`` (packs, then localities, then the system)."""

    jobs: tuple[Job, ...]

    def job(self, job_id: str) -> Job:
        for job in self.jobs:
            if job.id == job_id:
                return job
        raise KeyError(job_id)

    def dependents(self, job_id: str) -> tuple[str, ...]:
        return tuple(j.id for j in self.jobs if job_id in j.needs)


def data_files(config: ProjectConfig) -> tuple[Path, ...]:
    """The processed files a pack reads, and the programme file."""
    paths = config.paths
    files = [paths.programme_file, paths.observations_file, paths.survey_file, paths.ingest_report_file]
    if paths.quarantine.is_dir():
        files += sorted(paths.quarantine.glob("*.csv"))
    return tuple(f for f in files if f.is_file())


def _digests(files: Iterable[Path], root: Path) -> dict[str, str]:
    return {f.relative_to(root).as_posix(): sha256_file(f) for f in files}


def _stream_title(config: ProjectConfig, pack: Pack) -> str:
    prog = config.programme
    return f"{prog.streams[pack.stream].name}: {prog.localities[pack.locality].name} (evidence pack)"


def plan_jobs(config: ProjectConfig, packs: Iterable[Pack], *, all_packs: Iterable[Pack] | None = None) -> Plan:
    """The jobs for ``packs``, their locality summaries and the system job, with their keys.

    ``all_packs`` (default: ``packs``) are every valid pack of the project: a locality summary's key depends
    on all of its locality's packs, and the system's on every pack, built in this run or not.
    """
    paths, root = config.paths, config.paths.root
    packs = list(packs)
    all_packs = list(all_packs) if all_packs is not None else packs
    code = code_fingerprint()
    reads = data_files(config)
    data = _hash(_digests(reads, root))
    notebooks = {name: paths.notebooks / name for name in (PACK_NOTEBOOK, LOCALITY_NOTEBOOK, SYSTEM_NOTEBOOK)}
    source = {name: (sha256_file(p) if p.is_file() else "missing") for name, p in notebooks.items()}
    keys: dict[str, str] = {}
    jobs: list[Job] = []

    def add(job: Job, parts: dict[str, str]) -> None:
        key = _hash(job.kind, parts)
        keys[job.id] = key
        jobs.append(Job(**{**job.__dict__, "components": MappingProxyType(parts), "key": key}))

    chosen = {p.key for p in packs}
    for pack in all_packs:
        parameters = {"locality": pack.locality, "stream": pack.stream, "project_root": str(root)}
        job = Job(id=f"pack:{pack.key}", kind="pack", title=_stream_title(config, pack),
                  notebook=notebooks[PACK_NOTEBOOK], parameters=MappingProxyType(parameters),
                  executed=paths.executed / pack.locality / f"{pack.stream}.ipynb",
                  html=paths.packs / pack.locality / f"{pack.stream}.html", parameter_file=pack.file,
                  needs=(), reads=reads, results=paths.outputs / "results" / pack.locality / f"{pack.stream}.json")
        parts = {"notebook": source[PACK_NOTEBOOK], "parameters": _hash(parameters, _pack_content(pack)),
                 "data": data, "code": code}
        if pack.key in chosen:
            add(job, parts)
        else:  # not built in this run, but its key still feeds its locality's and the system's
            keys[job.id] = _hash("pack", parts)
    localities = list(dict.fromkeys(p.locality for p in packs))
    for locality in localities:
        members = [f"pack:{p.key}" for p in all_packs if p.locality == locality]
        parameters = {"locality": locality, "project_root": str(root)}
        name = config.programme.localities[locality].name
        job = Job(id=f"locality:{locality}", kind="locality", title=f"{name}: all streams (locality summary)",
                  notebook=notebooks[LOCALITY_NOTEBOOK], parameters=MappingProxyType(parameters),
                  executed=paths.executed / f"{locality}.ipynb", html=paths.packs / f"{locality}.html",
                  parameter_file=None, needs=tuple(m for m in members if m in keys and any(
                      j.id == m for j in jobs)), reads=reads)
        add(job, {"notebook": source[LOCALITY_NOTEBOOK], "parameters": _hash(parameters), "code": code,
                  "programme": sha256_file(paths.programme_file), "inputs": _hash([keys[m] for m in members])})
    system_inputs = [keys[f"pack:{p.key}"] for p in all_packs]
    parameters = {"project_root": str(root)}
    job = Job(id="system", kind="system", title=f"{config.programme.programme.name}: whole system",
              notebook=notebooks[SYSTEM_NOTEBOOK], parameters=MappingProxyType(parameters),
              executed=paths.executed / "system.ipynb", html=paths.packs / "system.html", parameter_file=None,
              needs=tuple(j.id for j in jobs), reads=reads)
    add(job, {"notebook": source[SYSTEM_NOTEBOOK], "parameters": _hash(parameters), "code": code, "data": data,
              "inputs": _hash(system_inputs)})
    return Plan(jobs=tuple(jobs))


def _pack_content(pack: Pack) -> Any:
    """The pack file's resolved parameters (comments and layout do not change a key)."""
    return pack.parameters.model_dump(mode="json")


def select(config: ProjectConfig, packs: Iterable[Pack], *, localities: Iterable[str] | None = None,
           streams: Iterable[str] | None = None) -> list[Pack]:
    """The packs of the chosen localities and streams (all when ``None``); unknown names are errors."""
    packs = list(packs)
    chosen = []
    for kind, wanted, known in (("locality", localities, config.programme.localities),
                                ("stream", streams, config.programme.streams)):
        names = None if wanted is None else list(wanted)
        unknown = [n for n in names or [] if n not in known]
        if unknown:
            raise ConfigError(f"Unknown {kind} {unknown}; programme.yml lists {', '.join(known)}.")
        chosen.append(None if names is None else set(names))
    out = [p for p in packs if (chosen[0] is None or p.locality in chosen[0])
           and (chosen[1] is None or p.stream in chosen[1])]
    if not out:
        raise ConfigError(f"No valid pack parameter file matches localities={localities} and streams={streams}; "
                          f"the packs are {', '.join(p.key for p in packs) or 'none'}.")
    return out


__all__ = ["Job", "KINDS", "LOCALITY_NOTEBOOK", "PACK_NOTEBOOK", "Plan", "SYSTEM_NOTEBOOK", "code_fingerprint",
           "data_files", "plan_jobs", "select", "sha256_file"]
