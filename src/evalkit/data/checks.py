"""The ingest row checks, as vectorised DuckDB SQL.

:func:`plan_source` turns one source of programme.yml into a
:class:`SourcePlan`: SQL expressions that strip and parse the mapped columns,
and one :class:`Check` per thing that can be wrong with a row, each a boolean
``failed`` expression with a ``reason`` sentence naming the file's column and
the value. Ingest evaluates them over a whole source at once; nothing here
touches files.

The relation a plan reads has ``__file`` (index into ``files``), ``__row``
(spreadsheet row number) and ``r0 .. rK`` (the source's columns as text, see
:attr:`SourcePlan.columns`). The SQL runs in three steps: ``t`` strips text,
``p`` parses it, ``q`` joins the duplicate table; checks are written over ``q``.

Decisions the checks encode (also in the ingest narrative's assumptions):

* Whitespace around a value is ignored; an empty value is missing. Every mapped
  field is required except ``staff_group``; a blank survey item is an item the
  respondent skipped, not an error.
* Dates are read with ``read.date_format`` or as ISO ``YYYY-MM-DD`` (ISO is
  always accepted: it cannot be misread, and Excel date cells arrive in it).
  A monthly ``period`` may be ``YYYY-MM``, ``YYYY-MM-DD`` or an Excel date.
* Numbers may carry thousands separators (``1,234``) and decimals
  (``12.5``); a comma is never a decimal point. Counts below zero are
  rejected, as is a zero denominator of a rate, proportion or mean, and a zero
  exposure (it is a rate's denominator).
* Duplicates are looked for among every row of a source (all its files), in
  file-then-row order, whether or not the row passes its other checks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from evalkit.config.models import MonthlyMeasure, Programme, Source
from evalkit.data.store import CHECKS

CHECK_ORDER = (
    "missing_value", "unparseable_date", "date_in_future", "date_outside_programme", "unknown_organisation",
    "unknown_value", "organisation_locality_mismatch", "non_numeric", "negative_count", "zero_denominator",
    "numerator_exceeds_denominator", "response_out_of_scale", "duplicate_record_id", "conflicting_duplicate",
    "exact_duplicate",
)
"""Precedence of the check codes: a rejected row's ``check`` is the first that failed."""
if set(CHECK_ORDER) != set(CHECKS):  # a programming error, caught by the first import in any test
    raise RuntimeError(f"CHECK_ORDER and store.CHECKS differ: {set(CHECK_ORDER) ^ set(CHECKS)}")

NUMBER_PATTERN = r"[+-]?(\d+|\d{1,3}(,\d{3})+)(\.\d+)?([eE][+-]?\d+)?"
"""A number: optional sign, digits with optional comma thousands groups, optional decimals and exponent."""
WHOLE_NUMBER_PATTERN = r"[+-]?\d+(\.0+)?"
"""A survey response: a whole number (``4.0`` as a spreadsheet may write it is accepted)."""
ISO_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")
MONTH_FORMATS = ("%Y-%m", *ISO_FORMATS)
MIN_YEAR = 1000
"""A parsed year below this came from a 2-digit year read with %Y: not a date."""
POSITION_BASE = 2**40
"""``__pos = __file * POSITION_BASE + __row`` orders rows across a source's files."""
OPTIONAL_FIELDS = frozenset({"staff_group"})
WHITESPACE = (" ", "\t", "\r", "\n", "\u00a0")


@dataclass(frozen=True)
class Check:
    """One check: SQL over the parsed row that is true when the row fails, and the sentence saying why."""

    code: str
    failed: str
    reason: str


@dataclass(frozen=True)
class SourcePlan:
    """The SQL that validates one source; build it with :func:`plan_source`.

    Use :meth:`duplicates_sql` over the source's relation first (its result is
    the ``duplicates`` table of the other two), then :meth:`table_sql` for the
    main pass and :meth:`quarantine_sql` for the rejected rows' reasons.
    """

    source_id: str
    layout: str
    columns: tuple[str, ...]
    """The source's columns (all its files' headers, in order of first appearance): r0, r1, ..."""
    files: tuple[str, ...]
    text: tuple[tuple[str, str], ...]
    parsed: tuple[tuple[str, str], ...]
    checks: tuple[Check, ...]
    outputs: tuple[tuple[str, str], ...]
    """Typed columns kept for the accepted rows (alias, SQL)."""
    numeric_columns: tuple[tuple[str, str], ...]
    """Monthly sources: (file column, output alias) of every count and total."""
    item_columns: tuple[tuple[str, str], ...]
    """Survey sources: (item id, output alias) of every item."""
    duplicate_key: str
    duplicate_values: str | None
    """Monthly and survey sources: the row's values, to tell exact from conflicting repeats of a key."""

    def _chain(self, relation: str, duplicates: str) -> str:
        raw = ", ".join(f"r{i}" for i in range(len(self.columns)))
        blank = f"coalesce({raw}) IS NULL" if len(self.columns) > 1 else "r0 IS NULL"
        text = ", ".join(f"{sql} AS {alias}" for alias, sql in self.text)
        parsed = ", ".join(f"{sql} AS {alias}" for alias, sql in self.parsed)
        return (
            f"t AS (SELECT __file, __row, __file * {POSITION_BASE} + __row AS __pos, {raw}, "
            f"{blank} AS __blank, {text} FROM {relation}), "
            f"p AS (SELECT *, {parsed} FROM t), "
            f"k AS (SELECT *, {self.duplicate_key} AS __k, {self.duplicate_values or 'NULL'} AS __v FROM p), "
            f"q AS (SELECT k.*, d.first_pos AS dup_first, d.n_values AS dup_values, d.rows AS dup_rows "
            f"FROM k LEFT JOIN {duplicates} d ON k.__k = d.k)"
        )

    @property
    def failed_sql(self) -> str:
        """True for a row (not blank) that fails any check."""
        if not self.checks:
            return "false"
        return "(NOT __blank AND coalesce(" + " OR ".join(f"({c.failed})" for c in self.checks) + ", false))"

    def duplicates_sql(self, relation: str) -> str:
        """Each key seen more than once: k, first_pos, n_values (distinct value sets), rows (text)."""
        rows, values = "NULL", "NULL"
        if self.duplicate_values:
            values = "count(DISTINCT __v)"
            files = f"{_list(self.files)}[(__pos // {POSITION_BASE})::BIGINT + 1]"
            rows = f"string_agg(__row::VARCHAR, ', ' ORDER BY __pos) || ' of ' || string_agg(DISTINCT {files}, ', ')"
        empty = ("(SELECT NULL::VARCHAR AS k, NULL::BIGINT AS first_pos, NULL::BIGINT AS n_values, "
                 "NULL::VARCHAR AS rows WHERE false)")
        return (
            f"WITH {self._chain(relation, empty)} "
            f"SELECT __k AS k, min(__pos) AS first_pos, {values} AS n_values, {rows} AS rows "
            "FROM k WHERE __k IS NOT NULL AND NOT __blank GROUP BY __k HAVING count(*) > 1"
        )

    def table_sql(self, relation: str, duplicates: str) -> str:
        """The main pass: per row, blank or failed, its typed outputs, and its raw text if it failed."""
        outputs = ", ".join(f"{sql} AS {alias}" for alias, sql in self.outputs)
        raw = ", ".join(f"CASE WHEN __failed THEN r{i} END AS r{i}" for i in range(len(self.columns)))
        return (
            f"WITH {self._chain(relation, duplicates)}, c AS (SELECT *, {self.failed_sql} AS __failed FROM q) "
            f"SELECT __file, __row, __blank, __failed, {outputs}, {raw} FROM c"
        )

    def quarantine_sql(self, relation: str, duplicates: str) -> str:
        """Every failing row of ``relation``: __file, __row, check_code, reason, then r0 .. rK."""
        code = " ".join(f"WHEN {c.failed} THEN '{c.code}'" for c in self.checks)
        reason = ", ".join(f"CASE WHEN {c.failed} THEN {c.reason} END" for c in self.checks)
        raw = ", ".join(f"r{i}" for i in range(len(self.columns)))
        return (
            f"WITH {self._chain(relation, duplicates)} "
            f"SELECT __file, __row, CASE {code} END AS check_code, concat_ws('; ', {reason}) AS reason, {raw} "
            f"FROM q WHERE {self.failed_sql} ORDER BY __file, __row"
        )


def mapped_columns(source_id: str, source: Source) -> list[tuple[str, str]]:
    """Every column a source needs from its files, with the programme.yml key that names it."""
    wanted: dict[str, str] = {}
    for field, column in source.columns.items():
        wanted.setdefault(column, f"sources.{source_id}.columns.{field}")
    for column, key in _numeric_columns(source_id, source):
        wanted.setdefault(column, key)
    for item in source.items:
        wanted.setdefault(item, f"sources.{source_id}.items.{item}")
    return list(wanted.items())


def _numeric_columns(source_id: str, source: Source) -> list[tuple[str, str]]:
    if source.layout != "monthly":
        return []
    found: dict[str, str] = {}
    for m_id, spec in source.measures.items():
        if isinstance(spec, MonthlyMeasure):
            found.setdefault(spec.numerator, f"sources.{source_id}.measures.{m_id}.numerator")
            if spec.denominator:
                found.setdefault(spec.denominator, f"sources.{source_id}.measures.{m_id}.denominator")
    for exposure, column in source.exposures.items():
        found.setdefault(column, f"sources.{source_id}.exposures.{exposure}")
    return list(found.items())


# --------------------------------------------------------------------------- building a plan


class _Sql(str):
    """A piece of SQL inside a reason, as opposed to literal text."""


class _Builder:
    """Collects a source's expressions and checks while the layout functions walk its mapping."""

    def __init__(self, source_id: str, source: Source, programme: Programme, columns: tuple[str, ...],
                 files: tuple[str, ...], today: dt.date):
        self.sid, self.src, self.prog, self.today = source_id, source, programme, today
        self.ident = {name: f"r{i}" for i, name in enumerate(columns)}
        self.files = files
        self.text: dict[str, str] = {}
        self.parsed: dict[str, str] = {}
        self.outputs: dict[str, str] = {}
        self.checks: list[tuple[int, int, Check]] = []

    def add(self, code: str, column: str | None, failed: str, reason: str) -> None:
        where = int(self.ident[column][1:]) if column in self.ident else len(self.ident)
        self.checks.append((CHECK_ORDER.index(code), where, Check(code, failed, reason)))

    def field(self, field: str) -> str:
        """Register a mapped field's stripped text as f_<field>; return the alias."""
        return self.column_text(f"f_{field}", self.src.columns[field], required=field not in OPTIONAL_FIELDS)

    def column_text(self, alias: str, column: str, *, required: bool) -> str:
        if alias not in self.text:
            self.text[alias] = _strip(self.ident[column])
            if required:
                self.add("missing_value", column, f"{alias} IS NULL", _lit(f"{column} is empty"))
        return alias

    def position_text(self, pos: str) -> _Sql:
        return _Sql(f"('row ' || ({pos} % {POSITION_BASE})::VARCHAR || ' of ' || "
                    f"{_list(self.files)}[({pos} // {POSITION_BASE})::BIGINT + 1])")

    def date(self, field: str, *, monthly: bool) -> str:
        column, text = self.src.columns[field], self.field(field)
        declared = self.src.read.date_format
        formats = [declared] if declared else []
        formats += [f for f in (MONTH_FORMATS if monthly else ISO_FORMATS) if f not in formats]
        parsed = f"try_strptime({text}, {_list(formats)})::DATE"
        value = f"CASE WHEN year({parsed}) >= {MIN_YEAR} THEN {parsed} END"
        alias = f"d_{field}"
        self.parsed[alias] = f"date_trunc('month', {value})::DATE" if monthly else value
        form = declared or ("YYYY-MM" if monthly else "YYYY-MM-DD")
        fix = f"; correct it, or set sources.{self.sid}.read.date_format to the form the extract uses"
        shown = (f"{column} ", _shown(text))
        self.add("unparseable_date", column, f"{text} IS NOT NULL AND {alias} IS NULL",
                 _concat(*shown, f" is not {'a month' if monthly else 'a date'} in the form {form}{fix}"))
        period, today = self.prog.programme.period, self.today.isoformat()
        end = period.end
        after_end = dt.date(end.year + end.month // 12, end.month % 12 + 1, 1).isoformat()
        self.add("date_in_future", column, f"{alias} > DATE '{today}'",
                 _concat(*shown, f" is after the day of the ingest ({today}); correct the date"))
        self.add("date_outside_programme", column,
                 f"{alias} <= DATE '{today}' AND ({alias} < DATE '{period.start.isoformat()}' "
                 f"OR {alias} >= DATE '{after_end}')",
                 _concat(*shown, f" is outside the programme period {period.start:%Y-%m} to {end:%Y-%m} "
                         "(programme.period in programme.yml)"))
        return alias

    def organisation(self) -> str:
        column, text = self.src.columns["organisation"], self.field("organisation")
        index = self.prog.organisation_index()
        self.parsed["org_locality"] = _case(text, {code: loc for code, (loc, _) in index.items()})
        self.add("unknown_organisation", column, f"{text} IS NOT NULL AND org_locality IS NULL",
                 _concat(f"{column} ", _shown(text), " is not an organisation code listed under `localities` "
                         "in programme.yml; correct the code or add the organisation there"))
        return text

    def coded(self, field: str) -> str | None:
        """A field read through its `values` mapping (the locality and wave also without one): v_<field>."""
        if field not in self.src.columns:
            return None
        column, text = self.src.columns[field], self.field(field)
        alias, mapping = f"v_{field}", self.src.values.get(field)
        if mapping is None and field == "locality":
            mapping = {loc: loc for loc in self.prog.localities}
            problem = "is not a locality id in programme.yml; correct it, or map the labels under " \
                      f"sources.{self.sid}.values.locality"
        elif mapping is None and field == "wave":
            mapping = {"pre": "pre", "post": "post"}
            problem = f"is not pre or post; map the labels under sources.{self.sid}.values.wave"
        elif mapping is None:
            self.parsed[alias] = text
            return alias
        else:
            problem = f"is not a label listed under sources.{self.sid}.values.{field}; add it there or correct it"
        self.parsed[alias] = _case(text, mapping)
        self.add("unknown_value", column, f"{text} IS NOT NULL AND {alias} IS NULL",
                 _concat(f"{column} ", _shown(text), f" {problem}"))
        return alias

    def locality_match(self) -> None:
        if "locality" not in self.src.columns:
            return
        loc = self.coded("locality")
        org_col, loc_col = self.src.columns["organisation"], self.src.columns["locality"]
        self.add("organisation_locality_mismatch", loc_col,
                 f"org_locality IS NOT NULL AND {loc} IS NOT NULL AND org_locality <> {loc}",
                 _concat(f"{org_col} ", _shown("f_organisation"), " belongs to ", _Sql("org_locality"),
                         " in programme.yml, not to ", f"{loc_col} ", _shown("f_locality")))

    def repeated(self, described: _Sql, column: str) -> None:
        """A record id seen before in the source: later rows are rejected, whatever they hold."""
        self.add("duplicate_record_id", column, "dup_first < __pos",
                 _concat(described, " already appears at ", self.position_text("dup_first"), "; the first is kept"))

    def repeats(self, described: _Sql, column: str, what: str) -> None:
        """A key seen more than once: identical rows keep the first, differing ones are all rejected."""
        self.add("conflicting_duplicate", column, "dup_values > 1",
                 _concat("rows ", _Sql("dup_rows"), " hold different values for ", described, "; all are set "
                         f"aside, as the right one cannot be told, until the extract has one row per {what}"))
        self.add("exact_duplicate", column, "dup_values = 1 AND dup_first < __pos",
                 _concat("repeats ", self.position_text("dup_first"), " exactly (", described, "); the first is kept"))

    def signature(self) -> str:
        """SQL text of every mapped value of the row (numbers and dates normalised), to compare repeats."""
        parts = []
        for alias in self.text:
            if alias.startswith("f_n") and alias[3:].isdigit():
                parts.append(f"coalesce({alias[2:]}::VARCHAR, {alias})")
            elif f"d_{alias[2:]}" in self.parsed:
                parts.append(f"coalesce(d_{alias[2:]}::VARCHAR, {alias})")
            else:
                parts.append(alias)
        return f"list_value({', '.join(parts)})::VARCHAR"


def plan_source(source_id: str, source: Source, programme: Programme, *, columns: tuple[str, ...],
                files: tuple[str, ...], today: dt.date) -> SourcePlan:
    """The checks and outputs of one source whose files have (together) the given columns."""
    b = _Builder(source_id, source, programme, columns, files, today)
    b.outputs["organisation"] = b.organisation()
    numeric: dict[str, str] = {}
    items: dict[str, str] = {}
    if source.layout == "incidents":
        _incidents(b)
        key = "f_record_id"
    elif source.layout == "monthly":
        numeric = _monthly(b)
        key = "f_organisation || '|' || strftime(d_period, '%Y-%m')"
    else:
        items = _survey(b)
        key = "f_organisation || '|' || f_respondent_id || '|' || f_wave"
    b.locality_match()
    for field in source.columns:  # fields mapped beyond what the layout uses are still required
        b.field(field)
    values = None if source.layout == "incidents" else b.signature()
    checks = tuple(check for *_, check in sorted(b.checks, key=lambda c: (c[0], c[1])))
    return SourcePlan(
        source_id=source_id, layout=source.layout, columns=columns, files=files,
        text=tuple(b.text.items()), parsed=tuple(b.parsed.items()), checks=checks,
        outputs=tuple(b.outputs.items()), numeric_columns=tuple(numeric.items()),
        item_columns=tuple(items.items()), duplicate_key=key, duplicate_values=values,
    )


def _incidents(b: _Builder) -> None:
    rid = b.field("record_id")
    b.outputs["period"] = f"date_trunc('month', {b.date('date', monthly=False)})::DATE"
    for field in ("category", "harm", "setting"):
        alias = b.coded(field)
        if alias:
            b.outputs[field] = alias
    column = b.src.columns["record_id"]
    b.repeated(_concat(f"{column} ", _shown(rid)), column)


def _monthly(b: _Builder) -> dict[str, str]:
    b.outputs["period"] = b.date("period", monthly=True)
    numbers: dict[str, str] = {}
    for i, (column, _key) in enumerate(_numeric_columns(b.sid, b.src)):
        text, alias = b.column_text(f"f_n{i}", column, required=True), f"n{i}"
        numbers[column] = alias
        b.parsed[alias] = (f"CASE WHEN regexp_full_match({text}, '{NUMBER_PATTERN}') "
                           f"THEN replace({text}, ',', '')::DOUBLE END")
        b.outputs[alias] = alias
        b.add("non_numeric", column, f"{text} IS NOT NULL AND {alias} IS NULL",
              _concat(f"{column} ", _shown(text), " is not a number; write digits only, e.g. 1234 or 1,234.5"))
        b.add("negative_count", column, f"{alias} < 0", _concat(f"{column} ", _shown(text), " is below zero"))
    zero_checked: set[str] = set()
    for m_id, spec in b.src.measures.items():
        kind = b.prog.measures[m_id].kind
        if not isinstance(spec, MonthlyMeasure) or not spec.denominator or kind == "count":
            continue
        num, den = numbers[spec.numerator], numbers[spec.denominator]
        if spec.denominator not in zero_checked:
            zero_checked.add(spec.denominator)
            b.add("zero_denominator", spec.denominator, f"{den} = 0", _lit(
                f"{spec.denominator} is 0, the denominator of {m_id} (a {kind} needs a denominator above zero)"))
        if kind == "proportion":
            b.add("numerator_exceeds_denominator", spec.numerator, f"{num} > {den}", _concat(
                f"{spec.numerator} ", _shown(f"f_{num}"), f" is more than {spec.denominator} ",
                _shown(f"f_{den}"), f", and {m_id} is a proportion of it"))
    for exposure, column in b.src.exposures.items():
        if column not in zero_checked:
            zero_checked.add(column)
            b.add("zero_denominator", column, f"{numbers[column]} = 0", _lit(
                f"{column} is 0, the exposure {exposure} that incident rates are counted against"))
    org_col, period_col = b.src.columns["organisation"], b.src.columns["period"]
    b.repeats(_concat(f"{org_col} ", _shown("f_organisation"), f" and {period_col} ", _shown("f_period")),
              period_col, "organisation and month")
    return numbers


def _survey(b: _Builder) -> dict[str, str]:
    b.outputs["respondent_id"] = b.field("respondent_id")
    b.outputs["wave"] = b.coded("wave")
    b.outputs["survey_date"] = b.date("date", monthly=False)
    b.outputs["staff_group"] = b.field("staff_group") if "staff_group" in b.src.columns else "NULL::VARCHAR"
    lo, hi = b.src.scale
    items: dict[str, str] = {}
    for i, item in enumerate(b.src.items):
        text, alias = b.column_text(f"f_i{i}", item, required=False), f"i{i}"
        items[item] = alias
        b.parsed[alias] = f"CASE WHEN regexp_full_match({text}, '{WHOLE_NUMBER_PATTERN}') THEN {text}::DOUBLE END"
        b.outputs[alias] = f"{alias}::SMALLINT"
        b.add("response_out_of_scale", item,
              f"{text} IS NOT NULL AND ({alias} IS NULL OR {alias} < {lo} OR {alias} > {hi})",
              _concat(f"{item} ", _shown(text), f" is not a whole number from {lo} to {hi}"))
    cols = b.src.columns
    b.repeats(_concat(f"{cols['respondent_id']} ", _shown("f_respondent_id"), f" in {cols['wave']} ",
                      _shown("f_wave"), f" for {cols['organisation']} ", _shown("f_organisation")),
              cols["respondent_id"], "respondent and wave")
    return items


# --------------------------------------------------------------------------- SQL helpers


def _strip(column: str) -> str:
    """The column's text without surrounding whitespace, NULL when empty (cheap when there is none)."""
    tests = " OR ".join(f"{column} LIKE '{w}%' OR {column} LIKE '%{w}'" for w in WHITESPACE)
    return f"nullif(CASE WHEN {tests} THEN trim({column}, '{''.join(WHITESPACE)}') ELSE {column} END, '')"


def _case(expr: str, mapping: dict[str, str]) -> str:
    if not mapping:
        return "NULL::VARCHAR"
    whens = " ".join(f"WHEN {_lit(label)} THEN {_lit(code)}" for label, code in mapping.items())
    return f"CASE {expr} {whens} END"


def _lit(text: str) -> _Sql:
    return _Sql("'" + text.replace("'", "''") + "'")


def _list(items) -> str:
    return "[" + ", ".join(_lit(i) for i in items) + "]"


def _shown(alias: str) -> _Sql:
    """SQL text of a value in single quotes."""
    return _Sql(f"('''' || {alias} || '''')")


def _concat(*parts: str) -> _Sql:
    """SQL concatenating literal text (plain str) and SQL pieces (:class:`_Sql`)."""
    return _Sql("(" + " || ".join(p if isinstance(p, _Sql) else _lit(p) for p in parts) + ")")
