"""From accepted rows to the processed tables: monthly observations and survey responses.

Each validated source is a DuckDB table of checked rows (see
:mod:`evalkit.data.checks`); :func:`build_tables` turns the accepted ones into

* monthly sources: one observation per organisation, month and measure
  (numerator and denominator columns; a ``count`` measure has no denominator).
  Their ``exposures`` (e.g. occupied bed days) are kept aside as the
  denominators of incident rates;
* incident sources: incidents counted per organisation and month with each
  measure's ``where`` filter. A rate is counted against its exposure: its
  months are those with that exposure, for the organisations the source
  reports on, within the months the source covers (first to last month with
  an accepted incident), and a month without incidents counts 0. A month with
  incidents but no exposure keeps its count with no denominator and is listed
  as an :class:`UnmatchedNumerator`. A proportion ``of`` another measure takes
  that measure's count as its denominator, in months where it is above 0. A
  ``count`` measure is zero-filled over the months the source covers;
* survey sources: one row per respondent and answered item, with ``positive``
  true when the response (reversed for ``reverse: true`` items, as
  ``lo + hi - response``) is at least ``positive_from``.

Two sources giving the same organisation, month and measure (or exposure) is an
error naming both: the numbers would be double counted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from evalkit.config.models import IncidentMeasure, MonthlyMeasure, Programme, Source
from evalkit.data.checks import SourcePlan
from evalkit.errors import ConfigError, DataValidationError

OBSERVATION_SCHEMA = pa.schema([
    ("locality", pa.string()), ("organisation", pa.string()), ("setting", pa.string()),
    ("measure_id", pa.string()), ("period", pa.timestamp("ms")), ("numerator", pa.float64()),
    ("denominator", pa.float64()), ("source", pa.string()),
])
SURVEY_SCHEMA = pa.schema([
    ("locality", pa.string()), ("organisation", pa.string()), ("source", pa.string()),
    ("respondent_id", pa.string()), ("wave", pa.string()), ("survey_date", pa.timestamp("ms")),
    ("staff_group", pa.string()), ("item_id", pa.string()), ("item_domain", pa.string()),
    ("response", pa.int16()), ("positive", pa.bool_()),
])
MAX_LISTED = 10
"""Conflicts listed in full in an error message; the rest are counted."""
ACCEPTED = "NOT __blank AND NOT __failed"


@dataclass(frozen=True)
class Accepted:
    """A validated source: its plan and the DuckDB table of its checked rows."""

    source_id: str
    source: Source
    plan: SourcePlan
    table: str


@dataclass(frozen=True)
class UnmatchedNumerator:
    """An organisation-month with incidents but no exposure to count them against."""

    source: str
    measure_id: str
    organisation: str
    period: dt.date
    numerator: float
    exposure: str


@dataclass(frozen=True)
class Tables:
    observations: pa.Table
    survey: pa.Table
    unmatched: tuple[UnmatchedNumerator, ...]


def build_tables(con: duckdb.DuckDBPyConnection, programme: Programme, sources: list[Accepted]) -> Tables:
    """The observation and survey tables of every validated source (sorted, typed as in evalkit.data.store)."""
    _register_organisations(con, programme)
    _exposures(con, sources)
    parts, unmatched = [], []
    for acc in sources:
        if acc.source.layout == "monthly":
            parts += _monthly(acc, programme)
        elif acc.source.layout == "incidents":
            sql, missing = _incidents(con, acc, programme)
            parts += sql
            unmatched += missing
    empty = "SELECT NULL::VARCHAR organisation, NULL::DATE period, NULL::VARCHAR measure_id, " \
            "NULL::DOUBLE numerator, NULL::DOUBLE denominator, NULL::VARCHAR source WHERE false"
    con.execute("CREATE OR REPLACE TEMP TABLE __obs AS " + " UNION ALL ".join([empty, *parts]))
    _conflicts(con, "__obs", "measure_id", "measure")
    observations = con.sql(
        "SELECT o.locality, b.organisation, o.setting, b.measure_id, b.period, b.numerator, b.denominator, "
        "b.source FROM __obs b JOIN __orgs o USING (organisation) "
        "ORDER BY o.locality, b.organisation, b.measure_id, b.period"
    ).to_arrow_table()
    return Tables(
        observations=_conform(observations, OBSERVATION_SCHEMA),
        survey=_conform(_survey(con, sources), SURVEY_SCHEMA),
        unmatched=tuple(sorted(unmatched, key=lambda u: (u.source, u.measure_id, u.organisation, u.period))),
    )


# --------------------------------------------------------------------------- sources


def _register_organisations(con: duckdb.DuckDBPyConnection, programme: Programme) -> None:
    index = programme.organisation_index()
    con.register("__orgs", pa.table({
        "organisation": list(index), "locality": [loc for loc, _ in index.values()],
        "setting": [org.setting for _, org in index.values()],
    }))


def _exposures(con: duckdb.DuckDBPyConnection, sources: list[Accepted]) -> None:
    parts = ["SELECT NULL::VARCHAR exposure, NULL::VARCHAR organisation, NULL::DATE period, NULL::DOUBLE value, "
             "NULL::VARCHAR source WHERE false"]
    for acc in sources:
        numeric = dict(acc.plan.numeric_columns)
        for exposure, column in acc.source.exposures.items():
            parts.append(f"SELECT '{exposure}', organisation, period, {numeric[column]}, '{acc.source_id}' "
                         f"FROM {acc.table} WHERE {ACCEPTED}")
    con.execute("CREATE OR REPLACE TEMP TABLE __exposures AS " + " UNION ALL ".join(parts))
    _conflicts(con, "__exposures", "exposure", "exposure")


def _monthly(acc: Accepted, programme: Programme) -> list[str]:
    numeric = dict(acc.plan.numeric_columns)
    parts = []
    for m_id, spec in acc.source.measures.items():
        if not isinstance(spec, MonthlyMeasure):
            continue
        count = programme.measures[m_id].kind == "count" or not spec.denominator
        den = "NULL::DOUBLE" if count else numeric[spec.denominator]
        parts.append(f"SELECT organisation, period, '{m_id}', {numeric[spec.numerator]}, {den}, '{acc.source_id}' "
                     f"FROM {acc.table} WHERE {ACCEPTED}")
    return parts


def _where(src: Source, spec: IncidentMeasure) -> str:
    terms = [f"{field} IN ({', '.join(_lit(v) for v in values)})" for field, values in spec.where.items()]
    if spec.of is not None:
        terms.append(_where(src, src.measures[spec.of]))
    return "(" + " AND ".join(terms) + ")" if terms else "true"


def _incidents(con: duckdb.DuckDBPyConnection, acc: Accepted, programme: Programme):
    src, sid = acc.source, acc.source_id
    specs = {m: s for m, s in src.measures.items() if isinstance(s, IncidentMeasure)}
    counts = f"__counts_{sid}"
    columns = ", ".join(f"coalesce(sum(__n) FILTER (WHERE {_where(src, s)}), 0)::DOUBLE AS {m}"
                        for m, s in specs.items())
    con.execute(f"CREATE OR REPLACE TEMP TABLE {counts} AS SELECT organisation, period, {columns} "
                f"FROM {acc.table} WHERE {ACCEPTED} GROUP BY organisation, period")
    covered = (f"organisation IN (SELECT organisation FROM {counts}) AND period BETWEEN "
               f"(SELECT min(period) FROM {counts}) AND (SELECT max(period) FROM {counts})")
    parts, unmatched = [], []
    for m_id, spec in specs.items():
        kind = programme.measures[m_id].kind
        if spec.denominator is not None:
            frame = (f"SELECT coalesce(c.organisation, e.organisation) AS organisation, "
                     f"coalesce(c.period, e.period) AS period, '{m_id}' AS measure_id, coalesce(c.{m_id}, 0) AS n, "
                     f"e.value AS d, '{sid}' FROM (SELECT organisation, period, {m_id} FROM {counts} "
                     f"WHERE {m_id} > 0) c FULL OUTER JOIN (SELECT organisation, period, value FROM __exposures "
                     f"WHERE exposure = '{spec.denominator}' AND {covered}) e USING (organisation, period)")
            parts.append(frame)
            for org, period, n in con.sql(f"SELECT organisation, period, n FROM ({frame}) WHERE d IS NULL "
                                          "ORDER BY ALL").fetchall():
                unmatched.append(UnmatchedNumerator(sid, m_id, org, period, n, spec.denominator))
        elif spec.of is not None:
            parts.append(f"SELECT organisation, period, '{m_id}', {m_id}, {spec.of}, '{sid}' FROM {counts} "
                         f"WHERE {spec.of} > 0")
        elif kind == "count":
            parts.append(
                f"SELECT o.organisation, m.period::DATE, '{m_id}', coalesce(c.{m_id}, 0), NULL::DOUBLE, '{sid}' "
                f"FROM (SELECT DISTINCT organisation FROM {counts}) o CROSS JOIN (SELECT unnest(range("
                f"(SELECT min(period) FROM {counts}), (SELECT max(period) FROM {counts}) + INTERVAL 1 MONTH, "
                f"INTERVAL 1 MONTH)) AS period) m LEFT JOIN {counts} c ON c.organisation = o.organisation "
                f"AND c.period = m.period::DATE"
            )
        else:
            raise ConfigError(f"sources.{sid}.measures.{m_id}: a {kind} of incidents needs `denominator:` or `of:`.")
    return parts, unmatched


def _survey(con: duckdb.DuckDBPyConnection, sources: list[Accepted]) -> pa.Table:
    parts = ["SELECT NULL::VARCHAR organisation, NULL::VARCHAR source, NULL::VARCHAR respondent_id, "
             "NULL::VARCHAR wave, NULL::DATE survey_date, NULL::VARCHAR staff_group, NULL::VARCHAR item_id, "
             "NULL::VARCHAR item_domain, NULL::SMALLINT response, NULL::BOOLEAN positive WHERE false"]
    for acc in sources:
        if acc.source.layout != "survey":
            continue
        (lo, hi), cut = acc.source.scale, acc.source.positive_from
        for item_id, alias in acc.plan.item_columns:
            item = acc.source.items[item_id]
            scored = f"({lo + hi} - {alias})" if item.reverse else alias
            parts.append(
                f"SELECT organisation, '{acc.source_id}', respondent_id, wave, survey_date, staff_group, "
                f"{_lit(item_id)}, {_lit(item.domain)}, {alias}, {scored} >= {cut} FROM {acc.table} "
                f"WHERE {ACCEPTED} AND {alias} IS NOT NULL"
            )
    return con.sql(
        f"SELECT o.locality, s.* FROM ({' UNION ALL '.join(parts)}) s JOIN __orgs o USING (organisation) "
        "ORDER BY o.locality, s.organisation, s.source, s.respondent_id, s.wave, s.item_id"
    ).to_arrow_table()


# --------------------------------------------------------------------------- checks across sources


def _conflicts(con: duckdb.DuckDBPyConnection, table: str, what: str, noun: str) -> None:
    rows = con.sql(
        f"WITH twice AS (SELECT organisation, {what}, period FROM {table} GROUP BY ALL "
        f"HAVING count(DISTINCT source) > 1) "
        f"SELECT organisation, {what}, list_sort(list(DISTINCT source)), count(DISTINCT period), min(period), "
        f"max(period) FROM {table} JOIN twice USING (organisation, {what}, period) "
        f"GROUP BY organisation, {what} ORDER BY organisation, {what}"
    ).fetchall()
    if not rows:
        return
    lines = [
        f"  {org} {noun} {item}: {' and '.join(srcs)} both give {months} month(s) "
        f"({first:%Y-%m} to {last:%Y-%m})"
        for org, item, srcs, months, first, last in rows[:MAX_LISTED]
    ]
    if len(rows) > MAX_LISTED:
        lines.append(f"  ... and {len(rows) - MAX_LISTED} more organisation/{noun} pairs")
    raise DataValidationError(
        f"The same organisation, month and {noun} comes from more than one source, so it would be counted "
        f"twice:\n" + "\n".join(lines) + "\nEach organisation's data for a measure must come from one source: "
        "remove its rows from one extract, or narrow that source's `files:` in parameters/programme.yml."
    )


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast to the documented schema (dates to timestamp[ms]), with no pandas or DuckDB metadata."""
    columns = []
    for field in schema:
        column = table.column(field.name)
        if pa.types.is_date(column.type) and pa.types.is_timestamp(field.type):
            column = column.cast(pa.timestamp("s")).cast(field.type)
        columns.append(column.cast(field.type))
    return pa.Table.from_arrays(columns, schema=schema).combine_chunks()


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
