"""The ingest row checks, as vectorised DuckDB SQL.

:func:`plan_source` turns one source of programme.yml into a
:class:`SourcePlan`: SQL expressions that parse the mapped columns, and one
:class:`Check` per thing that can be wrong with a row, each a boolean
``failed`` expression with a ``reason`` sentence naming the file's column and
the value. Ingest evaluates them over a whole source at once; nothing here
touches files.

The relation a plan reads has ``__file`` (index into ``files``), ``__row``
(spreadsheet row number) and ``r0 .. rK`` (the source's columns as text, see
:attr:`SourcePlan.columns`). The SQL runs in steps: ``t`` adds the row's
position, ``p0``, ``p1`` and ``p`` parse, ``k`` builds the duplicate key, ``q``
joins the duplicate table; checks are written over ``q``. Codes, dates and numbers are
looked up on the raw text first and on the whitespace-stripped text only where
that fails, so a clean extract is never stripped cell by cell.

Decisions the checks encode:

* Whitespace (space, tab, no-break space) around a value is ignored; an empty
  value is missing. Every mapped field is required except ``staff_group``; a
  blank survey item is an item the respondent skipped, not an error.
* Dates are read with ``read.date_format`` or as ISO ``YYYY-MM-DD`` (ISO is
  always accepted: it cannot be misread, and Excel date cells arrive in it).
  A monthly ``period`` may be ``YYYY-MM``, ``YYYY-MM-DD`` or an Excel date.
  A date after ``today`` is ``date_in_future`` (not also outside the programme).
* Numbers may carry thousands separators (``1,234``) and decimals (``12.5``);
  a comma is never a decimal point. Counts below zero are rejected, as is a
  zero denominator of a rate, proportion or mean (even 0 of 0: there is no
  rate to report), and a zero exposure, since it is a rate's denominator.
* Duplicates are looked for among every row of a source (all its files), in
  file-then-row order, whether or not the row passes its other checks: a
  repeated incident reference keeps its first row; a repeated organisation and
  month (or respondent and wave) keeps the first row if the repeats are
  identical, and rejects them all if they differ.
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
"""A survey response: a whole number (``4.0``, as a spreadsheet may write it, is accepted)."""
ISO_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")
MONTH_FORMATS = ("%Y-%m", *ISO_FORMATS)
MIN_YEAR = 1000
"""A parsed year below this came from a 2-digit year read with %Y: not a date."""
POSITION_BASE = 2**40
"""``__pos = __file * POSITION_BASE + __row`` orders rows across a source's files."""
OPTIONAL_FIELDS = frozenset({"staff_group"})
WHITESPACE = (" ", "\t", "\u00a0")
"""Characters stripped from both ends of a value, with CR and LF."""


@dataclass(frozen=True)
class Check:
    """One check: SQL over the parsed row that is true when the row fails, and the sentence saying why."""

    code: str
    failed: str
    reason: str


@dataclass(frozen=True)
class SourcePlan:
    """The SQL that validates one source; build it with :func:`plan_source`.

    Run :meth:`duplicates_sql` over the source's relation first (its result is
    the ``duplicates`` table of the other two), then :meth:`table_sql` for the
    main pass and :meth:`quarantine_sql` for the rejected rows and reasons.
    """

    source_id: str
    layout: str
    columns: tuple[str, ...]
    """The source's columns (all its files' headers, in order of first appearance): r0, r1, ..."""
    files: tuple[str, ...]
    parsed: tuple[tuple[str, str], ...]
    """Values read from the raw text (step p0)."""
    fallbacks: tuple[tuple[str, str], ...]
    """The same read from the stripped text, only where the raw text did not do (step p1)."""
    derived: tuple[tuple[str, str], ...]
    """Values computed from those: dates checked and truncated, an organisation's locality (step p)."""
    checks: tuple[Check, ...]
    outputs: tuple[tuple[str, str], ...]
    """Typed columns kept for the accepted rows (alias, SQL)."""
    numeric_columns: tuple[tuple[str, str], ...]
    """Monthly sources: (file column, output alias) of every count, total and exposure."""
    item_columns: tuple[tuple[str, str], ...]
    """Survey sources: (item id, output alias) of every item."""
    duplicate_key: str
    duplicate_values: str | None
    """Monthly and survey sources: the row's values, to tell exact from conflicting repeats of a key."""

    def _chain(self, relation: str, duplicates: str) -> str:
        raw = ", ".join(f"r{i}" for i in range(len(self.columns)))
        blank = f"coalesce({raw}) IS NULL" if len(self.columns) > 1 else "r0 IS NULL"
        parsed = ", ".join(f"{sql} AS {alias}" for alias, sql in self.parsed)
        fallbacks = "".join(f", {sql} AS {alias}" for alias, sql in self.fallbacks)
        derived = "".join(f", {sql} AS {alias}" for alias, sql in self.derived)
        return (
            f"t AS (SELECT __file, __row, __file * {POSITION_BASE} + __row AS __pos, {raw}, {blank} AS __blank "
            f"FROM {relation}), p0 AS (SELECT *, {parsed} FROM t), p1 AS (SELECT *{fallbacks} FROM p0), "
            f"p AS (SELECT *{derived} FROM p1), "
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
        return (f"WITH {self._chain(relation, empty)} SELECT __k AS k, min(__pos) AS first_pos, {values} AS n_values, "
                f"{rows} AS rows FROM k WHERE __k IS NOT NULL GROUP BY __k HAVING count(*) > 1")

    def table_sql(self, relation: str, duplicates: str) -> str:
        """The main pass, grouped: ``__n`` accepted (or blank) rows per file and set of typed outputs, and
        each failed row on its own with its ``__row`` and raw text (``r0 .. rK``)."""
        outputs = ", ".join(f"CASE WHEN NOT __failed THEN {sql} END AS {alias}" for alias, sql in self.outputs)
        raw = ", ".join(f"CASE WHEN __failed THEN r{i} END AS r{i}" for i in range(len(self.columns)))
        return (f"WITH {self._chain(relation, duplicates)}, c AS (SELECT *, {self.failed_sql} AS __failed FROM q) "
                f"SELECT __file, CASE WHEN __failed THEN __row END AS __row, __blank, __failed, {outputs}, {raw}, "
                "count(*) AS __n FROM c GROUP BY ALL")

    def quarantine_sql(self, relation: str, duplicates: str) -> str:
        """Every failing row of ``relation``: __file, __row, check_code, reason, then r0 .. rK."""
        code = " ".join(f"WHEN {c.failed} THEN '{c.code}'" for c in self.checks)
        reason = ", ".join(f"CASE WHEN {c.failed} THEN {c.reason} END" for c in self.checks)
        raw = ", ".join(f"r{i}" for i in range(len(self.columns)))
        return (f"WITH {self._chain(relation, duplicates)} SELECT __file, __row, CASE {code} END AS check_code, "
                f"concat_ws('; ', {reason}) AS reason, {raw} FROM q WHERE {self.failed_sql} ORDER BY __file, __row")


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
        self.parsed: dict[str, str] = {}
        self.fallbacks: dict[str, str] = {}
        self.derived: dict[str, str] = {}
        self.outputs: dict[str, str] = {}
        self.values: list[tuple[str, str]] = []
        """(alias, column) of every parsed value: a row's signature, to compare repeats."""
        self.checks: list[tuple[int, int, Check]] = []

    def add(self, code: str, column: str, failed: str, reason: str) -> None:
        self.checks.append((CHECK_ORDER.index(code), int(self.ident[column][1:]), Check(code, failed, reason)))

    def text(self, column: str) -> str:
        return _strip(self.ident[column])

    def said(self, column: str, *rest: str) -> _Sql:
        """A reason starting "<column> '<stripped value>'"."""
        return _concat(f"{column} ", _Sql(f"('''' || {self.text(column)} || '''')"), *rest)

    def missing(self, column: str, unusable: str) -> None:
        """missing_value when the column is empty; ``unusable`` is a cheap test, true wherever it may be."""
        self.add("missing_value", column, _guard(unusable, f"{self.text(column)} IS NULL"), _lit(f"{column} is empty"))

    def read(self, alias: str, column: str, parse) -> str:
        """``alias`` = parse(raw text), or parse(stripped text) where that gives nothing (evaluated only there)."""
        raw = self.ident[column]
        self.parsed[f"{alias}_raw"] = parse(raw)
        self.fallbacks[alias] = (f"CASE WHEN {alias}_raw IS NULL AND {raw} IS NOT NULL THEN {parse(self.text(column))} "
                                 f"ELSE {alias}_raw END")
        return alias

    def position_text(self, pos: str) -> _Sql:
        return _Sql(f"('row ' || ({pos} % {POSITION_BASE})::VARCHAR || ' of ' || "
                    f"{_list(self.files)}[({pos} // {POSITION_BASE})::BIGINT + 1])")

    def free(self, field: str) -> str:
        """A field kept as stripped text (f_<field>)."""
        column = self.src.columns[field]
        self.parsed[f"f_{field}"] = _strip_every(self.ident[column])
        self.values.append((f"f_{field}", column))
        if field not in OPTIONAL_FIELDS:
            self.add("missing_value", column, f"f_{field} IS NULL", _lit(f"{column} is empty"))
        return f"f_{field}"

    def coded(self, field: str, mapping: dict[str, str] | None, problem: str) -> str:
        """A field read through a label -> code mapping (v_<field>): unknown labels fail with ``problem``."""
        column = self.src.columns[field]
        alias = self.read(f"v_{field}", column, lambda x: _case(x, mapping))
        self.values.append((alias, column))
        self.missing(column, f"{alias} IS NULL")
        self.add("unknown_value" if field != "organisation" else "unknown_organisation", column,
                 _guard(f"{alias} IS NULL", f"{self.text(column)} IS NOT NULL"), self.said(column, f" {problem}"))
        return alias

    def label(self, field: str) -> str | None:
        """A field with a `values` mapping (the locality and wave also without one)."""
        if field not in self.src.columns:
            return None
        mapping = self.src.values.get(field)
        problem = f"is not a label listed under sources.{self.sid}.values.{field}; add it there or correct it"
        if mapping is None and field == "locality":
            mapping = {loc: loc for loc in self.prog.localities}
            problem = (f"is not a locality id in programme.yml; correct it, or map the extract's labels under "
                       f"sources.{self.sid}.values.locality")
        elif mapping is None and field == "wave":
            mapping = {"pre": "pre", "post": "post"}
            problem = f"is not pre or post; map the extract's labels under sources.{self.sid}.values.wave"
        elif mapping is None:
            return self.free(field)
        return self.coded(field, mapping, problem)

    def organisation(self) -> str:
        index = self.prog.organisation_index()
        column = self.src.columns["organisation"]
        code = self.coded("organisation", {c: c for c in index}, "is not an organisation code listed under "
                          "`localities` in programme.yml; correct the code or add the organisation there")
        self.derived["org_locality"] = _case(code, {c: loc for c, (loc, _) in index.items()})
        if "locality" in self.src.columns:
            loc = self.label("locality")
            loc_col = self.src.columns["locality"]
            self.add("organisation_locality_mismatch", loc_col,
                     f"org_locality IS NOT NULL AND {loc} IS NOT NULL AND org_locality <> {loc}",
                     self.said(column, " belongs to ", _Sql("org_locality"), " in programme.yml, not to ",
                               self.said(loc_col)))
        return code

    def date(self, field: str, *, monthly: bool) -> str:
        column = self.src.columns[field]
        text, alias = self.text(column), f"d_{field}"
        declared = self.src.read.date_format
        formats = _list(([declared] if declared else []) +
                        [f for f in (MONTH_FORMATS if monthly else ISO_FORMATS) if f != declared])
        self.read(f"{alias}_any", column, lambda x: f"try_strptime({x}, {formats})::DATE")
        value = f"CASE WHEN year({alias}_any) >= {MIN_YEAR} THEN {alias}_any END"
        self.derived[alias] = f"date_trunc('month', {value})::DATE" if monthly else value
        self.values.append((alias, column))
        self.missing(column, f"{alias} IS NULL")
        form = declared or ("YYYY-MM" if monthly else "YYYY-MM-DD")
        self.add("unparseable_date", column, _guard(f"{alias} IS NULL", f"{text} IS NOT NULL"), self.said(
            column, f" is not {'a month' if monthly else 'a date'} in the form {form}; correct it, or set "
                    f"sources.{self.sid}.read.date_format to the form the extract uses"))
        period, today = self.prog.programme.period, self.today.isoformat()
        end = period.end
        after_end = dt.date(end.year + end.month // 12, end.month % 12 + 1, 1).isoformat()
        self.add("date_in_future", column, f"{alias} > DATE '{today}'",
                 self.said(column, f" is after the day of the ingest ({today}); correct the date"))
        self.add("date_outside_programme", column,
                 f"{alias} <= DATE '{today}' AND ({alias} < DATE '{period.start.isoformat()}' "
                 f"OR {alias} >= DATE '{after_end}')",
                 self.said(column, f" is outside the programme period {period.start:%Y-%m} to {end:%Y-%m} "
                                   "(programme.period in programme.yml)"))
        return alias

    def number(self, alias: str, column: str, pattern: str) -> str:
        self.values.append((alias, column))
        return self.read(alias, column, lambda x: f"CASE WHEN regexp_full_match({x}, '{pattern}') "
                                                  f"THEN replace({x}, ',', '')::DOUBLE END")

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


def plan_source(source_id: str, source: Source, programme: Programme, *, columns: tuple[str, ...],
                files: tuple[str, ...], today: dt.date) -> SourcePlan:
    """The checks and outputs of one source whose files have (together) the given columns."""
    b = _Builder(source_id, source, programme, columns, files, today)
    b.outputs["organisation"] = b.organisation()
    numeric: dict[str, str] = {}
    items: dict[str, str] = {}
    if source.layout == "incidents":
        key = _incidents(b)
    elif source.layout == "monthly":
        numeric = _monthly(b)
        key = "v_organisation || '|' || strftime(d_period, '%Y-%m')"
    else:
        items = _survey(b)
        key = "v_organisation || '|' || f_respondent_id || '|' || v_wave"
    known = {"organisation", "locality", "category", "harm", "setting", "wave", "record_id", "respondent_id",
             "staff_group", "date", "period"}
    for field in source.columns:
        if field not in known:  # mapped beyond what the layout uses: still required
            b.free(field)
    signature = ", ".join(f"coalesce({alias}::VARCHAR, {b.text(column)})" for alias, column in b.values)
    values = None if source.layout == "incidents" else f"list_value({signature})::VARCHAR"
    checks = tuple(check for *_, check in sorted(b.checks, key=lambda c: (c[0], c[1])))
    return SourcePlan(
        source_id=source_id, layout=source.layout, columns=columns, files=files, parsed=tuple(b.parsed.items()),
        fallbacks=tuple(b.fallbacks.items()), derived=tuple(b.derived.items()), checks=checks, outputs=tuple(b.outputs.items()),
        numeric_columns=tuple(numeric.items()), item_columns=tuple(items.items()), duplicate_key=key,
        duplicate_values=values,
    )


def _incidents(b: _Builder) -> str:
    rid = b.free("record_id")
    b.outputs["period"] = f"date_trunc('month', {b.date('date', monthly=False)})::DATE"
    for field in ("category", "harm", "setting"):
        alias = b.label(field)
        if alias:
            b.outputs[field] = alias
    column = b.src.columns["record_id"]
    b.repeated(b.said(column), column)
    return rid


def _monthly(b: _Builder) -> dict[str, str]:
    b.outputs["period"] = b.date("period", monthly=True)
    numbers: dict[str, str] = {}
    for i, (column, _key) in enumerate(_numeric_columns(b.sid, b.src)):
        alias = numbers[column] = b.outputs[f"n{i}"] = b.number(f"n{i}", column, NUMBER_PATTERN)
        b.missing(column, f"{alias} IS NULL")
        b.add("non_numeric", column, _guard(f"{alias} IS NULL", f"{b.text(column)} IS NOT NULL"),
              b.said(column, " is not a number; write digits only, e.g. 1234 or 1,234.5"))
        b.add("negative_count", column, f"{alias} < 0", b.said(column, " is below zero"))
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
            b.add("numerator_exceeds_denominator", spec.numerator, f"{num} > {den}", b.said(
                spec.numerator, " is more than ", b.said(spec.denominator), f", and {m_id} is a proportion of it"))
    for exposure, column in b.src.exposures.items():
        if column not in zero_checked:
            zero_checked.add(column)
            b.add("zero_denominator", column, f"{numbers[column]} = 0", _lit(
                f"{column} is 0, the exposure {exposure} that incident rates are counted against"))
    org_col, period_col = b.src.columns["organisation"], b.src.columns["period"]
    b.repeats(b.said(org_col, " and ", b.said(period_col)), period_col, "organisation and month")
    return numbers


def _survey(b: _Builder) -> dict[str, str]:
    b.outputs["respondent_id"] = b.free("respondent_id")
    b.outputs["wave"] = b.label("wave")
    b.outputs["survey_date"] = b.date("date", monthly=False)
    b.outputs["staff_group"] = b.free("staff_group") if "staff_group" in b.src.columns else "NULL::VARCHAR"
    lo, hi = b.src.scale
    items: dict[str, str] = {}
    for i, item in enumerate(b.src.items):
        alias = items[item] = b.number(f"i{i}", item, WHOLE_NUMBER_PATTERN)
        b.outputs[alias] = f"{alias}::SMALLINT"
        b.add("response_out_of_scale", item,
              f"{_guard(f'{alias} IS NULL', f'{b.text(item)} IS NOT NULL')} OR {alias} < {lo} OR {alias} > {hi}",
              b.said(item, f" is not a whole number from {lo} to {hi}"))
    cols = b.src.columns
    b.repeats(b.said(cols["respondent_id"], " in ", b.said(cols["wave"], " for ", b.said(cols["organisation"]))),
              cols["respondent_id"], "respondent and wave")
    return items


# --------------------------------------------------------------------------- SQL helpers


def _strip(column: str) -> str:
    """The column's text without surrounding whitespace, NULL when empty (for rows already singled out)."""
    return f"nullif(trim({column}, '{''.join(WHITESPACE)}\r\n'), '')"


def _strip_every(column: str) -> str:
    """:func:`_strip` for every row of a column: trims only values that start or end with whitespace."""
    tests = " OR ".join(f"prefix({column}, '{w}') OR suffix({column}, '{w}')" for w in (*WHITESPACE, "\n"))
    return f"(CASE WHEN {tests} THEN {_strip(column)} WHEN {column} = '' THEN NULL ELSE {column} END)"


def _guard(cheap: str, costly: str) -> str:
    """``cheap AND costly``, evaluating ``costly`` only where ``cheap`` holds (DuckDB's AND does not)."""
    return f"(CASE WHEN {cheap} THEN {costly} ELSE false END)"


def _case(expr: str, mapping: dict[str, str]) -> str:
    if not mapping:
        return "NULL::VARCHAR"
    return f"CASE {expr} " + " ".join(f"WHEN {_lit(a)} THEN {_lit(b)}" for a, b in mapping.items()) + " END"


def _lit(text: str) -> _Sql:
    return _Sql("'" + text.replace("'", "''") + "'")


def _list(items) -> str:
    return "[" + ", ".join(_lit(i) for i in items) + "]"


def _concat(*parts: str) -> _Sql:
    """SQL concatenating literal text (plain str) and SQL pieces (:class:`_Sql`)."""
    return _Sql("(" + " || ".join(p if isinstance(p, _Sql) else _lit(p) for p in parts) + ")")
