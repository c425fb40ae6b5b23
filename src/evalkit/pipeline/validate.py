"""Check every job before any kernel starts: the parameters alone, then the parameters against the data.

Stage 1 reads every ``parameters/<locality>/<stream>.yml`` against its schema
and the programme (a bad file is one problem, named by file and key; the
others still load). Stage 2 checks each valid pack against the processed data:
the files exist, the locality has data for the stream's measures, and each
monthly measure has enough months either side of the intervention for the
interrupted time series. Every problem is collected, so one report lists them
all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from evalkit.config.load import Pack, ProjectConfig, discover_packs, load_pack, load_programme
from evalkit.config.paths import ProjectPaths
from evalkit.errors import ConfigError, DataValidationError

NOTEBOOKS = ("pack.ipynb", "locality.ipynb", "system.ipynb")


@dataclass(frozen=True)
class Problem:
    """Why one job cannot run: the file and key at fault and what to do."""

    job: str
    file: Path
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}" + (f" [{self.key}]" if self.key else "")
        return f"{where}: {self.message}"


def load_packs(paths: ProjectPaths) -> tuple[ProjectConfig, list[Problem]]:
    """Stage 1: every pack file that validates, and a problem for each that does not.

    A broken ``programme.yml`` stops everything (no pack can be checked without it): ``ConfigError``.
    """
    programme = load_programme(paths)
    packs, problems = [], []
    for locality, stream in discover_packs(paths):
        try:
            packs.append(load_pack(paths, programme, locality, stream))
        except ConfigError as exc:
            text = str(exc)
            file = paths.pack_file(locality, stream)
            message = text.split(": ", 1)[1] if text.startswith(str(file)) else text
            problems.append(Problem(f"pack:{locality}/{stream}", file, _key_of(message), message))
    return ProjectConfig(paths=paths, programme=programme, packs=tuple(packs)), problems


def _key_of(message: str) -> str:
    """The key path a config message starts with ("intervention.start: ..."), if it names one."""
    head = message.split(":", 1)[0].strip()
    return head if head and " " not in head and len(head) < 80 else ""


def _months_between(first: dt.date, last: dt.date) -> int:
    return (last.year - first.year) * 12 + last.month - first.month


def check_data(config: ProjectConfig, packs: Iterable[Pack]) -> list[Problem]:
    """Stage 2: the processed data each pack reads is there, and long enough either side of its intervention."""
    import pandas as pd

    from evalkit.data import store
    from evalkit.stats.its_design import MIN_SIDE

    paths = config.paths
    packs = list(packs)
    problems = [Problem("all", paths.notebooks / name, "", "the notebook is missing; restore it from the "
                        "project repository") for name in NOTEBOOKS if not (paths.notebooks / name).is_file()]
    needed = [paths.observations_file, paths.ingest_report_file]
    if any(m.cadence == "survey_wave" for p in packs for m in config.programme.stream_measures(p.stream).values()):
        needed.append(paths.survey_file)
    missing = [f for f in needed if not f.is_file()]
    problems += [Problem("all", f, "", "missing; run `evalkit ingest` (or `make data`) first") for f in missing]
    if missing:
        return problems
    observations = store.load_observations(paths)
    months = observations.dropna(subset=["numerator"]).groupby(["locality", "measure_id"])["period"].agg(list)
    for pack in packs:
        measures = config.programme.stream_measures(pack.stream)
        monthly = [m for m, spec in measures.items() if spec.cadence == "monthly"]
        present = [m for m in monthly if (pack.locality, m) in months.index]
        job = f"pack:{pack.key}"
        if monthly and not present:
            problems.append(Problem(job, pack.file, "", f"{config.programme.localities[pack.locality].name} has "
                                    f"no data for any measure of this stream ({', '.join(monthly)}); check the "
                                    "raw extracts and the quarantine"))
            continue
        start = pack.parameters.intervention.start
        post = pack.parameters.post_start
        for measure_id in present:
            dates = pd.to_datetime(pd.Series(months[(pack.locality, measure_id)])).dt.date
            before = int((dates < start).sum())
            after = int((dates >= post).sum())
            if min(before, after) < MIN_SIDE:
                problems.append(Problem(
                    job, pack.file, "intervention.start",
                    f"{start:%Y-%m} leaves {measure_id} with {before} month(s) of data before it and {after} after "
                    f"the transition (from {post:%Y-%m}); the analyses need at least {MIN_SIDE} each side. Move "
                    "the start or shorten transition_months, or check the data period"))
    return problems


def report(problems: Iterable[Problem]) -> str:
    problems = list(problems)
    jobs = sorted({p.job for p in problems})
    lines = [f"{len(problems)} problem(s) in {len(jobs)} job(s); nothing was run:"]
    lines += [f"  {p}" for p in problems]
    lines.append("Fix them, or pass --skip-invalid to build the valid jobs only.")
    return "\n".join(lines)


def raise_if_any(problems: Iterable[Problem]) -> None:
    problems = list(problems)
    if problems:
        raise DataValidationError(report(problems))


__all__ = ["Problem", "check_data", "load_packs", "raise_if_any", "report"]
