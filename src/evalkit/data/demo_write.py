"""Render the demo's canonical data as the raw extracts organisations send, with planted defects.

Everything about a file comes from its source in programme.yml: the file name
(``files``), column names (``columns``, ``exposures``, ``measures``), labels (the
first raw label of each code under ``values``), delimiter, encoding, date format
and Excel sheet (``read``). Which organisation reports where is the plan made by
:func:`evalkit.data.demo.make_plan`. A file is built as a :class:`RawTable`,
defects are inserted as extra rows (:func:`plant_defects`), and it is encoded to
bytes: CSV with ``\\n`` line endings and fixed number formats, or .xlsx written by
xlsxwriter with a fixed creation time, so the same seed gives the same bytes.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xlsxwriter

from evalkit.config.models import Programme, Source
from evalkit.data.demo_series import child_rng
from evalkit.errors import ConfigError

if TYPE_CHECKING:
    from evalkit.data.demo import DemoPlan
    from evalkit.data.demo_series import DemoData

BOM_LOCALITIES = frozenset({"salford"})
"""Localities whose Datix export starts with a UTF-8 byte-order mark (as Excel's 'CSV UTF-8' writes)."""

DESCRIPTION_COLUMN = "Description"
"""A free-text column the incident systems export beside the mapped ones (evalkit ignores it)."""

DESCRIPTIONS = {
    "falls": ("Found on the floor beside the bed", "Unwitnessed fall in the bathroom",
              "Ward 3 – café area: slipped on a wet floor", "Resident’s fall in the lounge"),
    "pressure_ulcer": ("Category 2 pressure damage to the sacrum", "Heel damage at the skin check – SSKIN reviewed"),
    "medication": ("Dose omitted at the evening round", "Wrong strength given – 5 mg, not 2.5 mg"),
    "infection": ("Norovirus symptoms on the ward", "Catheter-associated infection suspected"),
    "treatment": ("Delay in starting treatment", "Procedure postponed – equipment unavailable"),
}
"""Free text by category code, with the non-ASCII characters (– ’ é) that make an encoding matter."""
OTHER_DESCRIPTIONS = ("Patient’s property mislaid", "Visitor taken ill in the café – first aid given",
                      "Information governance breach")

EPOCH = dt.date(1970, 1, 1)  # day 0 of numpy's datetime64[D]
EXCEL_EPOCH = dt.date(1899, 12, 30)  # day 0 of Excel's 1900 date system, for dates after February 1900
WORKBOOK_CREATED = dt.datetime(2022, 1, 31, 9, 0, 0)
"""Creation time stamped into every demo workbook, so the .xlsx bytes depend only on the seed."""


# --------------------------------------------------------------------------- tables


def labels(source: Source, field_name: str) -> dict[str, str]:
    """Evalkit code -> the first raw label the source maps to it."""
    return {code: label for label, code in reversed(source.values.get(field_name, {}).items())}


@dataclass
class RawTable:
    """One raw file before encoding: a header and columns of Python values (text, int, float, date, None)."""

    path: str
    """Where it goes, relative to data/raw, with forward slashes."""
    source_id: str
    source: Source
    columns: list[str]
    kinds: dict[str, str]
    """Column -> 'text', 'int', 'float', 'date' or 'month' (how a value is rendered)."""
    data: list[list]
    """One list per column (column-major, which is quicker to build and encode)."""
    bom: bool = False

    @property
    def n_rows(self) -> int:
        return len(self.data[0]) if self.data else 0

    def row(self, i: int) -> list:
        return [column[i] for column in self.data]

    @property
    def date_format(self) -> str:
        return self.source.read.date_format or "%Y-%m-%d"

    def text(self, column: str, value) -> str:
        """A cell as the CSV shows it (Excel dates as ISO dates)."""
        if value is None:
            return ""
        if isinstance(value, dt.date):
            if self.source.format == "excel":
                return value.isoformat()
            return value.strftime("%Y-%m" if self.kinds[column] == "month" and not self.source.read.date_format
                                  else self.date_format)
        if isinstance(value, float):
            return f"{value:.1f}"
        return str(value)


def _label_map(prog: Programme, source: Source, field_name: str) -> dict[str, str]:
    """Code -> raw label; a locality without a label under ``values`` is written by its name."""
    mapped = labels(source, field_name)
    if field_name == "locality":
        return {loc: mapped.get(loc, locality.name) for loc, locality in prog.localities.items()}
    return mapped


def _relabel(values: pd.Series, mapping: dict[str, str], src_id: str, field_name: str) -> list:
    codes = values.to_numpy(dtype=object)
    if not mapping:  # a field without `values` (e.g. staff_group) is written as it is
        return codes.tolist()
    missing = sorted(set(codes) - set(mapping))
    if missing:
        raise ConfigError(f"programme.yml sources.{src_id}.values.{field_name}: no raw label for the codes "
                          f"{missing}; add a label for each.")
    return [mapping[c] for c in codes]


def _assemble(path: str, src_id: str, source: Source, cols: dict[str, tuple[str, list]], bom=False) -> RawTable:
    names = list(cols)
    return RawTable(path, src_id, source, names, {c: cols[c][0] for c in names}, [cols[c][1] for c in names], bom)


def _dates(series: pd.Series) -> list:
    days = pd.to_datetime(series).to_numpy().astype("datetime64[D]").astype(np.int64).tolist()
    memo = {d: EPOCH + dt.timedelta(days=d) for d in set(days)}
    return [memo[d] for d in days]


def _record_columns(prog: Programme, src_id: str, frame: pd.DataFrame) -> dict[str, tuple[str, list]]:
    """The mapped columns of a record-level file (incidents, survey): dates, then labels or codes."""
    source, cols = prog.sources[src_id], {}
    for field_name, column in source.columns.items():
        if field_name == "date":
            cols[column] = ("date", _dates(frame["date"]))
        elif field_name in frame.columns:
            mapping = _label_map(prog, source, field_name)
            cols[column] = ("text", _relabel(frame[field_name], mapping, src_id, field_name))
        else:
            cols[column] = ("text", [None] * len(frame))
    return cols


def _incident_table(prog: Programme, plan: DemoPlan, data: DemoData, loc: str) -> RawTable:
    src_id = plan.incident_source[loc]
    source = prog.sources[src_id]
    frame = data.incidents[data.incidents["locality"] == loc].sort_values(["date", "record_id"], kind="stable")
    cols = _record_columns(prog, src_id, frame)
    pick = child_rng(data.seed, "descriptions", plan.incident_file[loc]).random(len(frame))
    texts = [DESCRIPTIONS.get(c, OTHER_DESCRIPTIONS) for c in frame["category"].to_numpy(dtype=object)]
    cols[DESCRIPTION_COLUMN] = ("text", [t[int(u * len(t))] for t, u in zip(texts, pick)])
    return _assemble(plan.incident_file[loc], src_id, source, cols, bom=loc in BOM_LOCALITIES)


def _monthly_table(prog: Programme, plan: DemoPlan, data: DemoData, src_id: str) -> RawTable:
    source = prog.sources[src_id]
    obs, expo = data.observations, data.exposures
    keys = pd.MultiIndex.from_product([sorted(set(data.exposures["period"]) | set(obs["period"])),
                                       list(plan.monthly_orgs[src_id])], names=["period", "organisation"])
    wide: dict[str, tuple[str, pd.Series]] = {}

    def put(column: str, kind: str, values: pd.Series) -> None:
        values = values.reindex(keys)
        if column in wide and not wide[column][1].equals(values):
            raise ConfigError(f"programme.yml sources.{src_id}: column {column!r} is mapped to two different "
                              "quantities; give each its own column.")
        wide[column] = (kind, values)

    for exposure, column in source.exposures.items():
        part = expo[(expo["source"] == src_id) & (expo["exposure"] == exposure)]
        put(column, "int", part.set_index(["period", "organisation"])["value"])
    for m_id, spec in source.measures.items():
        part = obs[(obs["source"] == src_id) & (obs["measure_id"] == m_id)].set_index(["period", "organisation"])
        put(spec.numerator, "float" if prog.measures[m_id].kind == "mean" else "int", part["numerator"])
        if spec.denominator:
            put(spec.denominator, "int", part["denominator"])
    label = {c: _label_map(prog, source, "locality")[plan.orgs[c].locality] for c in plan.monthly_orgs[src_id]}
    orgs = keys.get_level_values("organisation")
    cols: dict[str, tuple[str, list]] = {}
    for field_name, column in source.columns.items():
        if field_name == "period":
            cols[column] = ("month", _dates(pd.Series(keys.get_level_values("period"))))
        elif field_name == "organisation":
            cols[column] = ("text", list(orgs))
        elif field_name == "locality":
            cols[column] = ("text", [label[c] for c in orgs])
        else:
            cols[column] = ("text", [None] * len(keys))
    for column, (kind, values) in wide.items():
        cols[column] = (kind, [None if pd.isna(v) else (round(float(v), 1) if kind == "float" else int(v))
                               for v in values])
    return _assemble(source.files, src_id, source, cols)


def _survey_table(prog: Programme, data: DemoData, src_id: str) -> RawTable:
    source = prog.sources[src_id]
    frame = data.survey[data.survey["source"] == src_id].sort_values(
        ["date", "organisation", "respondent_id"], kind="stable")
    cols = _record_columns(prog, src_id, frame)
    for item in source.items:
        cols[item] = ("int", [int(v) for v in frame[item]])
    return _assemble(source.files, src_id, source, cols)


def build_tables(prog: Programme, plan: DemoPlan, data: DemoData) -> list[RawTable]:
    """Every raw file of the demo, defect-free, in a fixed order."""
    tables = [_incident_table(prog, plan, data, loc) for loc in plan.incident_source]
    tables += [_monthly_table(prog, plan, data, src_id) for src_id in plan.monthly_orgs]
    tables += [_survey_table(prog, data, s) for s, src in prog.sources.items() if src.layout == "survey"]
    return sorted(tables, key=lambda t: t.path)


# --------------------------------------------------------------------------- encoding


def _column_text(table: RawTable, column: str, values: list) -> list[str]:
    memo: dict = {}  # most cells repeat (dates, labels, small counts): format each distinct value once

    def one(value) -> str:
        key = (type(value), value)
        return memo[key] if key in memo else memo.setdefault(key, table.text(column, value))

    if table.kinds[column] == "text":
        return ["" if v is None else v if isinstance(v, str) else one(v) for v in values]
    return [one(v) for v in values]


def _csv_bytes(table: RawTable) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=table.source.read.delimiter or ",", lineterminator="\n")
    writer.writerow(table.columns)
    columns = [_column_text(table, c, values) for c, values in zip(table.columns, table.data)]
    writer.writerows(zip(*columns))
    encoding = table.source.read.encoding or "utf-8"
    try:
        body = buffer.getvalue().encode(encoding)
    except UnicodeEncodeError as exc:
        raise ConfigError(f"{table.path}: {exc.object[exc.start:exc.end]!r} cannot be written in {encoding} "
                          f"(sources.{table.source_id}.read.encoding); use labels that encoding can hold.") from exc
    return (b"\xef\xbb\xbf" if table.bom and encoding.replace("-", "").lower() == "utf8" else b"") + body


def _xlsx_bytes(table: RawTable, about: list[str]) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False,
                                        "strings_to_formulas": False, "strings_to_urls": False})
    book.set_properties({"title": f"Synthetic demo extract: {table.path}", "author": "evalkit demo-data",
                         "comments": about[0] if about else "", "created": WORKBOOK_CREATED})
    sheet_name = table.source.read.sheet if isinstance(table.source.read.sheet, str) else "Sheet1"
    sheet = book.add_worksheet(sheet_name)
    bold = book.add_format({"bold": True})
    formats = {"date": book.add_format({"num_format": "dd/mm/yyyy"}),
               "month": book.add_format({"num_format": "mmm yyyy"})}
    sheet.write_row(0, 0, table.columns, bold)
    kinds = [formats.get(table.kinds[c], formats["date"]) for c in table.columns]
    for r, row in enumerate(zip(*table.data), start=1):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, dt.date):  # Excel's day number with a date format, as write_datetime stores it
                sheet.write_number(r, c, (value - EXCEL_EPOCH).days, kinds[c])
            elif isinstance(value, str):
                sheet.write_string(r, c, value)
            else:
                sheet.write_number(r, c, value)
    sheet.set_column(0, len(table.columns) - 1, 16)
    sheet.freeze_panes(1, 0)
    notes = book.add_worksheet("About")
    notes.set_column(0, 0, 110)
    for r, line in enumerate(about):
        notes.write_string(r, 0, line, bold if r == 0 else None)
    book.close()
    return buffer.getvalue()


def encode(table: RawTable, about: list[str]) -> bytes:
    """The file's bytes: the same table always gives the same bytes."""
    return _xlsx_bytes(table, about) if table.source.format == "excel" else _csv_bytes(table)


# --------------------------------------------------------------------------- defects

DEFECT_COLUMNS = ["file", "row", "check", "column", "value"]
DEFECT_RATE = 0.0005  # planted rows per data row of an incident file (0.05%), at least one per check
FUTURE_YEAR = 2041  # dates after any plausible ingest day, so also after the programme's end
INCIDENT_CHECKS = ("unparseable_date", "date_outside_programme", "date_in_future", "unknown_organisation",
                   "organisation_locality_mismatch", "unknown_value", "missing_value", "duplicate_record_id")
SURVEY_CHECKS = ("unparseable_date", "date_outside_programme", "date_in_future", "unknown_organisation",
                 "organisation_locality_mismatch", "unknown_value", "missing_value", "response_out_of_scale",
                 "exact_duplicate")
MONTHLY_DEFECT_SOURCE = {check: src for src, checks in {
    "care_home_returns": ("unparseable_date", "date_in_future", "unknown_organisation"),
    "provider_activity": ("date_outside_programme", "missing_value", "exact_duplicate"),
    "workforce": ("organisation_locality_mismatch", "unknown_value", "non_numeric", "negative_count",
                  "zero_denominator", "numerator_exceeds_denominator", "conflicting_duplicate"),
}.items() for check in checks}
"""Monthly checks, each planted once, in the named source (else the next monthly file in turn). Those that lose
an organisation-month go to workforce, which carries no bed days, so no incident rate loses its denominator."""
IN_PLACE = frozenset({"organisation_locality_mismatch", "unknown_value", "non_numeric", "negative_count",
                      "numerator_exceeds_denominator", "zero_denominator"})
"""Monthly checks planted by corrupting a real row (an extra row for the same organisation and month would make
the real row a conflicting duplicate as well): that organisation-month is lost to the ingest."""
UNKNOWN_LABELS = {"harm": ("Near miss", "Not yet graded"), "wave": ("Midpoint", "Interim")}
"""Labels that look plausible but are not under the source's ``values`` (first one not listed is used)."""


class _Planter:
    """Inserts defect rows into one table at seeded positions and remembers what it planted."""

    def __init__(self, table: RawTable, prog: Programme, plan: DemoPlan, seed: int):
        self.table, self.prog, self.plan = table, prog, plan
        self.rng = child_rng(seed, "defects", table.path)
        self.inserts: list[tuple[float, list]] = []
        self.records: list[tuple[int, str, str]] = []  # (row: original if < n_rows, else insert), check, column
        self.used: set[int] = set()

    def at(self, field_name: str) -> int:
        return self.table.columns.index(self.table.source.columns[field_name])

    def pick(self) -> tuple[int, list]:
        while True:
            i = int(self.rng.integers(self.table.n_rows))
            if i not in self.used:
                self.used.add(i)
                return i, self.table.row(i)

    def replace(self, i: int, row: list, check: str, column: str) -> None:
        for c, value in enumerate(row):
            self.table.data[c][i] = value
        self.records.append((i, check, column))

    def add(self, row: list, check: str, column: str, after: int | None = None) -> None:
        low = 0 if after is None else after + 1
        spot = int(self.rng.integers(low, self.table.n_rows + 1)) - 0.5
        self.records.append((self.table.n_rows + len(self.inserts), check, column))
        self.inserts.append((spot, row))

    def finish(self) -> list[dict]:
        """Merge the inserts into the table; return the defect records with their final row numbers."""
        table, n = self.table, self.table.n_rows
        keys = np.concatenate([np.arange(n, dtype=float), [spot for spot, _ in self.inserts]])
        order = np.lexsort((np.arange(len(keys)), keys))
        final_row = np.empty(len(keys), dtype=np.int64)
        final_row[order] = np.arange(len(keys)) + 2  # header is row 1
        out = []
        for ref, check, column in self.records:
            value = table.row(ref) if ref < n else self.inserts[ref - n][1]
            text = table.text(column, value[table.columns.index(column)]) if column else ""
            out.append({"file": table.path, "row": int(final_row[ref]), "check": check, "column": column,
                        "value": text})
        for c, values in enumerate(table.data):
            merged = values + [row[c] for _, row in self.inserts]
            table.data[c] = [merged[j] for j in order]
        return out

    # bad values ------------------------------------------------------------------------
    def bad_date_text(self, fmt: str, year: int) -> str:
        if "%d" in fmt:
            return fmt.replace("%d", "31").replace("%m", "02").replace("%Y", str(year))
        return fmt.replace("%m", "13").replace("%Y", str(year))

    def before_start(self) -> dt.date:
        start = pd.Timestamp(self.prog.programme.period.start) - pd.DateOffset(months=2)
        return dt.date(start.year, start.month, int(self.rng.integers(1, 29)))

    def future(self) -> dt.date:
        return dt.date(FUTURE_YEAR, int(self.rng.integers(1, 13)), int(self.rng.integers(1, 29)))

    def unknown_org(self, code: str) -> str:
        stem = code.rstrip("0123456789") or "ORG"
        return next(f"{stem}{n}" for n in range(99, 0, -1) if f"{stem}{n}" not in self.plan.orgs)

    def other_org(self, code: str) -> str:
        here = self.plan.orgs[code]
        choices = [c for c, o in self.plan.orgs.items() if o.locality != here.locality and o.setting == here.setting]
        return choices[int(self.rng.integers(len(choices)))]

    def unknown_label(self, field_name: str) -> str:
        known = set(self.table.source.values.get(field_name, {}))
        return next(label for label in (*UNKNOWN_LABELS.get(field_name, ()), "Unknown", "?") if label not in known)


def _plant_common(p: _Planter, check: str, row: list, org_i: int, date_i: int, fmt: str) -> int | None:
    """Apply a check shared by every layout to ``row``; return the column index changed, or None."""
    if check == "unparseable_date":
        row[date_i] = p.bad_date_text(fmt, row[date_i].year)
    elif check == "date_outside_programme":
        row[date_i] = p.before_start()
    elif check == "date_in_future":
        row[date_i] = p.future()
    elif check == "unknown_organisation":
        row[org_i] = p.unknown_org(row[org_i])
    elif check == "organisation_locality_mismatch":
        row[org_i] = p.other_org(row[org_i])
    else:
        return None
    return date_i if "date" in check else org_i


def _plant_incidents(p: _Planter) -> None:
    rid, org, harm, date = p.at("record_id"), p.at("organisation"), p.at("harm"), p.at("date")
    prefix = p.table.data[rid][0].rstrip("0123456789")
    next_seq = p.table.n_rows + 1
    each = max(1, round(p.table.n_rows * DEFECT_RATE / len(INCIDENT_CHECKS)))
    grades = list(labels(p.table.source, "harm").values())
    for check in INCIDENT_CHECKS:
        for _ in range(each):
            i, row = p.pick()
            after = None
            if check != "duplicate_record_id":
                row[rid], next_seq = f"{prefix}{next_seq:06d}", next_seq + 1
            changed = _plant_common(p, check, row, org, date, p.table.date_format)
            if check == "unknown_value":
                row[harm], changed = p.unknown_label("harm"), harm
            elif check == "missing_value":
                row[rid], changed = None, rid
            elif check == "duplicate_record_id":
                row[harm] = grades[(grades.index(row[harm]) + 1) % len(grades)]
                changed, after = rid, i
            p.add(row, check, p.table.columns[changed], after=after)


def _plant_survey(p: _Planter) -> None:
    rid, org, date = p.at("respondent_id"), p.at("organisation"), p.at("date")
    items = list(p.table.source.items)
    for n, check in enumerate(SURVEY_CHECKS, start=1):
        i, row = p.pick()
        after, changed = None, None
        if check == "exact_duplicate":
            after = i
        else:
            row[rid] = f"{row[org]}-{9000 + n:04d}"
            changed = _plant_common(p, check, row, org, date, p.table.date_format)
        if check == "unknown_value":
            row[p.at("wave")], changed = p.unknown_label("wave"), p.at("wave")
        elif check == "missing_value":
            row[org], changed = None, org
        elif check == "response_out_of_scale":
            changed = p.table.columns.index(items[int(p.rng.integers(len(items)))])
            row[changed] = p.table.source.scale[1] + 2
        p.add(row, check, "" if changed is None else p.table.columns[changed], after=after)


def _plant_monthly(p: _Planter, check: str, prog: Programme) -> None:
    source, cols = p.table.source, p.table.columns
    org, period, loc = p.at("organisation"), p.at("period"), p.at("locality")
    counted = [s for m, s in source.measures.items() if prog.measures[m].kind != "mean"]
    shares = [s for m, s in source.measures.items() if prog.measures[m].kind == "proportion"
              and s.denominator not in source.exposures.values()] or [s for s in counted if s.denominator]
    i, row = p.pick()
    after, changed = None, None
    if check == "organisation_locality_mismatch":
        own = source.values.get("locality", {}).get(row[loc], row[loc])
        others = sorted({label for label, code in source.values.get("locality", {}).items() if code != own})
        row[loc], changed = others[int(p.rng.integers(len(others)))], loc
    elif check not in IN_PLACE:
        changed = _plant_common(p, check, row, org, period, source.read.date_format or "%Y-%m")
    if check == "unknown_value":
        row[loc] = f"{row[loc]} City" if f"{row[loc]} City" not in source.values.get("locality", {}) else "Unknown"
        changed = loc
    elif check == "missing_value":
        row[org], changed = None, org
    elif check == "non_numeric":
        changed = cols.index(counted[0].numerator)
        row[changed] = "n/a"
    elif check == "negative_count":
        changed = cols.index(counted[0].numerator)
        row[changed] = -max(int(row[changed]), 2)
    elif check == "numerator_exceeds_denominator":
        changed = cols.index(shares[0].numerator)
        row[changed] = int(row[cols.index(shares[0].denominator)]) + 1 + int(p.rng.integers(5))
    elif check == "zero_denominator":
        changed = cols.index(shares[0].denominator)
        row[changed] = 0
        for s in source.measures.values():
            if s.denominator == shares[0].denominator:
                row[cols.index(s.numerator)] = 0.0 if isinstance(row[cols.index(s.numerator)], float) else 0
    elif check == "exact_duplicate":
        after = i
    elif check == "conflicting_duplicate":
        changed, after = cols.index(shares[0].numerator), i
        row[changed] = row[changed] - 1 if row[changed] >= 1 else row[changed] + 1
        p.records.append((i, check, cols[changed]))
    if check in IN_PLACE:
        p.replace(i, row, check, cols[changed])
    else:
        p.add(row, check, "" if changed is None else cols[changed], after=after)


def plant_defects(prog: Programme, plan: DemoPlan, tables: list[RawTable], *, seed: int) -> pd.DataFrame:
    """Insert the deliberate bad rows into ``tables`` (in place); return one record per planted row."""
    planters = {t.path: _Planter(t, prog, plan, seed) for t in tables}
    monthly = [t for t in tables if t.source.layout == "monthly"]
    for t in tables:
        if t.source.layout == "incidents":
            _plant_incidents(planters[t.path])
        elif t.source.layout == "survey":
            _plant_survey(planters[t.path])
    by_source = {t.source_id: t for t in monthly}
    for n, check in enumerate(MONTHLY_DEFECT_SOURCE):
        table = by_source.get(MONTHLY_DEFECT_SOURCE[check]) or (monthly[n % len(monthly)] if monthly else None)
        if table is not None:
            _plant_monthly(planters[table.path], check, prog)
    records = [r for p in planters.values() for r in p.finish()]
    return pd.DataFrame(records, columns=DEFECT_COLUMNS).sort_values(["file", "row"], kind="stable", ignore_index=True)
