"""``evalkit ingest``: raw extracts to validated tidy Parquet, with quarantine and reconciliation.

:func:`ingest` reads every source of programme.yml from ``data/raw``, checks
every row (:mod:`evalkit.data.checks`), aggregates the accepted rows
(:mod:`evalkit.data.aggregate`) and writes, replacing the previous outputs
only once everything has succeeded:

* ``data/processed/observations.parquet`` and ``survey_responses.parquet``
  (columns in :mod:`evalkit.data.store`);
* ``data/processed/quarantine/<source>.csv``: every rejected row with its file,
  row, check and reason (stale files of sources with no rejects are removed);
* ``data/processed/ingest_report.json``: per file rows read, accepted and
  rejected (``rows_read = rows_accepted + rows_rejected`` is checked here),
  blank rows skipped, rejects by check, the file's sha256, and the
  organisation-months whose incidents had no exposure to be counted against.

Problems that stop an ingest (no file for a source, a mapped column missing, a
file that cannot be read, the same numbers from two sources) are gathered
across every source and raised together as one :class:`DataValidationError`.
All the work on rows is DuckDB SQL; Python only loops over sources and files.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import logging
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from evalkit import __version__
from evalkit.config.load import ProjectConfig
from evalkit.config.models import Programme, Source
from evalkit.config.paths import ProjectPaths
from evalkit.data.aggregate import Accepted, Tables, UnmatchedNumerator, build_tables
from evalkit.data.checks import CHECK_ORDER, mapped_columns, plan_source
from evalkit.data.readers import RawFile, open_raw
from evalkit.data.store import QUARANTINE_COLUMNS
from evalkit.errors import ConfigError, DataValidationError

logger = logging.getLogger(__name__)

PARQUET_OPTIONS = {"compression": "zstd", "use_dictionary": True, "write_statistics": True}
"""Parquet writer options; fixed so that the same inputs give the same bytes."""
SUMMARY_COLUMNS = ("source", "file", "rows_read", "rows_accepted", "rows_rejected", "sha256")
DISABLED_OPTIMIZERS = "build_side_probe_side"
"""Keep the small side of a join (the duplicates found) as its hash table (see :func:`ingest`)."""
LOCK_FILE_PREFIX = "~$"
"""Excel's lock files (``~$book.xlsx``) sit beside an open workbook; they are never extracts."""


@dataclass(frozen=True)
class FileReconciliation:
    """Where every row of one raw file went."""

    source: str
    file: str
    """Path under data/raw, forward slashes."""
    rows_read: int
    """Data rows, not counting the header or blank rows."""
    rows_accepted: int
    rows_rejected: int
    blank_rows: int
    sha256: str
    size_bytes: int
    rejected_by_check: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class IngestResult:
    """The outcome of :func:`ingest`: per-file reconciliation, totals and what was written."""

    files: tuple[FileReconciliation, ...]
    observations: int
    survey_responses: int
    unmatched_numerators: tuple[UnmatchedNumerator, ...]
    quarantine_files: tuple[Path, ...]
    today: dt.date
    root: Path

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_accepted(self) -> int:
        return sum(f.rows_accepted for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    @property
    def blank_rows(self) -> int:
        return sum(f.blank_rows for f in self.files)

    @property
    def rejected_by_check(self) -> dict[str, int]:
        """Rejected rows per check code (the first failed check of each row), in check order."""
        totals: dict[str, int] = {}
        for f in self.files:
            for code, n in f.rejected_by_check:
                totals[code] = totals.get(code, 0) + n
        return {code: totals[code] for code in CHECK_ORDER if code in totals}

    def summary(self) -> pd.DataFrame:
        """One row per raw file: source, file, rows_read, rows_accepted, rows_rejected, sha256."""
        return pd.DataFrame([[getattr(f, c) for c in SUMMARY_COLUMNS] for f in self.files],
                            columns=list(SUMMARY_COLUMNS))

    def narrative(self) -> str:
        """What happened, in plain English, ending with the assumptions the checks rest on."""
        by_check = ", ".join(f"{code} {n:,}" for code, n in self.rejected_by_check.items())
        text = (f"Read {self.rows_read:,} rows from {len(self.files):,} files; {self.rows_accepted:,} accepted, "
                f"{self.rows_rejected:,} quarantined" + (f" ({by_check})" if by_check else "") + ". ")
        if self.blank_rows:
            text += f"{self.blank_rows:,} blank rows (every cell empty) were skipped. "
        text += ("Nothing was dropped: every row is in data/processed or in quarantine. "
                 f"Wrote {self.observations:,} monthly observations and {self.survey_responses:,} survey responses.")
        if self.unmatched_numerators:
            exposures = sorted({u.exposure for u in self.unmatched_numerators})
            text += (f" {len(self.unmatched_numerators):,} organisation-months of incident measures have no "
                     f"{' or '.join(exposures)} to be counted against: their numerators are kept with an empty "
                     "denominator and listed in ingest_report.json.")
        return text + (
            f" Assumptions: dates after {self.today.isoformat()} (the day of the ingest) are errors; an incident "
            "reference is unique within its source, and each organisation sends one row per month to a monthly "
            "source; a month with an exposure but no incidents had none.")


# --------------------------------------------------------------------------- the public entry point


def ingest(config: ProjectConfig, *, today: dt.date | None = None) -> IngestResult:
    """Validate every raw extract, write the processed tables, quarantine and report; return the reconciliation.

    ``today`` (default: the real date) is used only to reject dates in the future.
    Raises :class:`DataValidationError` listing every problem with the files that stops the ingest.
    """
    today = today or dt.date.today()
    paths, programme = config.paths, config.programme
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="evalkit-ingest-") as tmp, duckdb.connect(":memory:") as con:
        # The optimizer underestimates a CSV scan and would hash millions of rows to join a few duplicates.
        con.execute(f"SET disabled_optimizers = '{DISABLED_OPTIMIZERS}'")
        opened, problems = _open_sources(paths, programme, Path(tmp))
        accepted, files = [], []
        for sid, raws in opened.items():
            if raws is None:
                continue  # its problems are listed already
            try:
                acc, recs = _validate(con, sid, programme, raws, today)
            except DataValidationError as exc:
                problems.append(str(exc))
                continue
            accepted.append(acc)
            files += recs
        _raise_all(problems)
        tables = build_tables(con, programme, accepted)
        quarantine = {acc.source_id: acc for acc in accepted
                      if any(f.rows_rejected for f in files if f.source == acc.source_id)}
        result = IngestResult(
            files=tuple(files), observations=tables.observations.num_rows, survey_responses=tables.survey.num_rows,
            unmatched_numerators=tables.unmatched,
            quarantine_files=tuple(paths.quarantine / f"{sid}.csv" for sid in quarantine), today=today,
            root=paths.root,
        )
        _write_outputs(con, paths, result, tables, quarantine, opened)
    logger.info("ingest finished in %.1f s: %s", time.perf_counter() - started, result.narrative())
    return result


# --------------------------------------------------------------------------- files


def _open_sources(paths: ProjectPaths, programme: Programme,
                  workdir: Path) -> tuple[dict[str, list[RawFile] | None], list[str]]:
    """Find and open every source's files: the opened files (None for a source with a problem) and the problems."""
    opened: dict[str, list[RawFile] | None] = {}
    problems: list[str] = []
    claimed: dict[Path, str] = {}
    for sid, src in programme.sources.items():
        matches = sorted((p for p in paths.raw.glob(src.files) if p.is_file()
                          and not p.name.startswith(LOCK_FILE_PREFIX)), key=lambda p: p.as_posix())
        if not matches:
            problems.append(
                f"sources.{sid}: no file in {paths.raw} matches {src.files!r}. Add the extract there, or fix "
                f"`files:` under sources.{sid} in {paths.programme_file}."
            )
            opened[sid] = None
            continue
        raws, before = [], len(problems)
        for path in matches:
            if path in claimed:
                problems.append(f"{path} matches the `files:` of both sources.{claimed[path]} and sources.{sid}; "
                                "narrow one of the patterns so each extract feeds one source.")
                continue
            claimed[path] = sid
            try:
                raw = open_raw(path, raw_root=paths.raw, fmt=src.format, options=src.read, workdir=workdir,
                               source_id=sid)
            except DataValidationError as exc:
                problems.append(str(exc))
                continue
            problems += _missing_columns(sid, src, raw, paths.programme_file)
            raws.append(raw)
        opened[sid] = raws if len(problems) == before else None
    return opened, problems


def _missing_columns(sid: str, src: Source, raw: RawFile, programme_file: Path) -> list[str]:
    problems = []
    for column, key in mapped_columns(sid, src):
        if column in raw.columns:
            continue
        close = difflib.get_close_matches(column, raw.columns, n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        problems.append(
            f"{raw.path} has no column {column!r} ({key} in {programme_file}).{hint} Its columns are: "
            f"{', '.join(repr(c) for c in raw.columns)}. Set {key} to the extract's column name."
        )
    return problems


def _raise_all(problems: list[str]) -> None:
    if problems:
        raise DataValidationError(f"{len(problems)} problem(s) stop the ingest:\n" +
                                  "\n".join(f"- {p}" for p in problems))


# --------------------------------------------------------------------------- one source


def _validate(con: duckdb.DuckDBPyConnection, sid: str, programme: Programme, raws: list[RawFile],
              today: dt.date) -> tuple[Accepted, list[FileReconciliation]]:
    """Check every row of one source; leave its checked table and quarantine table in ``con``."""
    src = programme.sources[sid]
    columns: list[str] = []
    for raw in raws:
        columns += [c for c in raw.columns if c not in columns]
    selects = []
    for k, raw in enumerate(raws):
        raw.register(con, f"__raw_{sid}_{k}")
        where = {name: f"c{i}" for i, name in enumerate(raw.columns)}
        cols = ", ".join(f"{where.get(name, 'NULL::VARCHAR')} AS r{i}" for i, name in enumerate(columns))
        selects.append(f"SELECT {k} AS __file, __row, {cols} FROM __raw_{sid}_{k}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW __src_{sid} AS " + " UNION ALL ".join(selects))
    plan = plan_source(sid, src, programme, columns=tuple(columns), files=tuple(r.name for r in raws), today=today)
    chk, dup, quarantine = f"__chk_{sid}", f"__dup_{sid}", f"__q_{sid}"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {dup} AS {plan.duplicates_sql(f'__src_{sid}')}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {chk} AS {plan.table_sql(f'__src_{sid}', dup)}")
    raw_cols = ", ".join(f"r{i}" for i in range(len(columns)))
    failed = f"(SELECT __file, __row, {raw_cols} FROM {chk} WHERE __failed)"
    if con.sql(f"SELECT count(*) FROM {chk} WHERE __failed").fetchall()[0][0]:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {quarantine} AS {plan.quarantine_sql(failed, dup)}")
    else:  # nothing to explain, so the reasons' SQL need not be planned
        empty = ", ".join(f"NULL::VARCHAR AS r{i}" for i in range(len(columns)))
        con.execute(f"CREATE OR REPLACE TEMP TABLE {quarantine} AS SELECT NULL::INTEGER AS __file, "
                    f"NULL::BIGINT AS __row, NULL::VARCHAR AS check_code, NULL::VARCHAR AS reason, {empty} WHERE false")
    con.execute(f"DROP VIEW __src_{sid}")
    for k in range(len(raws)):
        con.unregister(f"__raw_{sid}_{k}")  # the checked and quarantine tables hold all that is needed now
    counts = {k: (blank, read, ok) for k, blank, read, ok in con.sql(
        f"SELECT __file, sum(__n) FILTER (WHERE __blank), sum(__n) FILTER (WHERE NOT __blank), "
        f"sum(__n) FILTER (WHERE NOT __blank AND NOT __failed) FROM {chk} GROUP BY __file").fetchall()}
    by_check: dict[int, dict[str, int]] = {}
    for k, code, n in con.sql(f"SELECT __file, check_code, count(*) FROM {quarantine} GROUP BY ALL").fetchall():
        by_check.setdefault(k, {})[code] = n
    records = []
    for k, raw in enumerate(raws):
        blank, read, ok = (int(n or 0) for n in counts.get(k, (0, 0, 0)))
        checks = by_check.get(k, {})
        rejected = sum(checks.values())
        if read != ok + rejected:  # the promise that nothing is lost: a failure here is a bug in evalkit
            raise DataValidationError(
                f"{raw.path}: reconciliation failed: {read} rows read but {ok} accepted and {rejected} "
                "quarantined. This is a fault in evalkit, not in the extract: please report it with the file."
            )
        if read == 0:
            logger.warning("%s has a header but no data rows", raw.path)
        records.append(FileReconciliation(
            source=sid, file=raw.name, rows_read=read, rows_accepted=ok, rows_rejected=rejected, blank_rows=blank,
            sha256=raw.sha256, size_bytes=raw.size,
            rejected_by_check=tuple((c, checks[c]) for c in CHECK_ORDER if c in checks),
        ))
    logger.info("%s: %d file(s), %d rows read, %d quarantined", sid, len(raws),
                sum(r.rows_read for r in records), sum(r.rows_rejected for r in records))
    return Accepted(source_id=sid, source=src, plan=plan, table=chk), records


# --------------------------------------------------------------------------- outputs


def _write_outputs(con: duckdb.DuckDBPyConnection, paths: ProjectPaths, result: IngestResult, tables: Tables,
                   quarantine: Mapping[str, Accepted], opened: Mapping[str, list[RawFile] | None]) -> None:
    """Write every output to a temporary name, then move them all into place (the report last)."""
    paths.quarantine.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []

    def stage(target: Path) -> Path:
        temp = target.with_name(f".{target.name}.{os.getpid()}.partial")
        staged.append((temp, target))
        return temp

    try:
        for sid, acc in quarantine.items():
            _write_quarantine(con, acc, stage(paths.quarantine / f"{sid}.csv"))
        pq.write_table(tables.observations, stage(paths.observations_file), **PARQUET_OPTIONS)
        pq.write_table(tables.survey, stage(paths.survey_file), **PARQUET_OPTIONS)
        report = _report(result, opened, paths)
        stage(paths.ingest_report_file).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        for temp, target in staged:
            os.replace(temp, target)
    finally:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
    keep = {p.name for p in result.quarantine_files}
    for stale in paths.quarantine.glob("*.csv"):
        if stale.name not in keep:
            logger.info("removing %s: its source has no rejected rows now", stale)
            stale.unlink()


def _write_quarantine(con: duckdb.DuckDBPyConnection, acc: Accepted, target: Path) -> None:
    taken = {c.lower() for c in QUARANTINE_COLUMNS}
    names = []
    for column in acc.plan.columns:
        name = column
        while name.lower() in taken:
            name = f"{name} (original)"
        taken.add(name.lower())
        names.append(name)
    files = "[" + ", ".join(_lit(f) for f in acc.plan.files) + "]"
    raw = ", ".join(f'r{i} AS "{name.replace(chr(34), chr(34) * 2)}"' for i, name in enumerate(names))
    con.execute(
        f"COPY (SELECT {files}[__file + 1] AS \"file\", __row AS \"row\", check_code AS \"check\", "
        f"reason AS \"reason\", {raw} FROM __q_{acc.source_id} ORDER BY __file, __row) "
        f"TO {_lit(str(target))} (FORMAT csv, HEADER true)"
    )


def _report(result: IngestResult, opened: Mapping[str, list[RawFile] | None], paths: ProjectPaths) -> dict:
    raws = {(sid, raw.name): raw for sid, rs in opened.items() for raw in rs or ()}
    files = []
    for f in result.files:
        raw = raws[(f.source, f.file)]
        files.append({
            "source": f.source, "file": f.file, "format": raw.kind, "encoding": raw.encoding,
            "delimiter": raw.delimiter, "sheet": raw.sheet, "size_bytes": f.size_bytes, "sha256": f.sha256,
            "rows_read": f.rows_read, "rows_accepted": f.rows_accepted, "rows_rejected": f.rows_rejected,
            "blank_rows": f.blank_rows, "rejected_by_check": dict(f.rejected_by_check),
        })
    return {
        "evalkit_version": __version__,
        "ingest_date": result.today.isoformat(),
        "totals": {
            "files": len(result.files), "rows_read": result.rows_read, "rows_accepted": result.rows_accepted,
            "rows_rejected": result.rows_rejected, "blank_rows": result.blank_rows,
            "observations": result.observations, "survey_responses": result.survey_responses,
            "unmatched_numerators": len(result.unmatched_numerators),
        },
        "rejected_by_check": result.rejected_by_check,
        "files": files,
        "quarantine": {p.stem: p.relative_to(paths.processed).as_posix() for p in result.quarantine_files},
        "unmatched_numerators": [
            {"source": u.source, "measure_id": u.measure_id, "organisation": u.organisation,
             "period": f"{u.period:%Y-%m}", "numerator": u.numerator, "exposure": u.exposure}
            for u in result.unmatched_numerators
        ],
        "outputs": {"observations": paths.observations_file.name, "survey_responses": paths.survey_file.name},
    }


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
