"""Open one raw extract as an Arrow table of text columns for DuckDB, keeping its row numbers.

:func:`open_raw` reads a CSV or Excel file once to hash it, check its text
encoding and find its header, and returns a :class:`RawFile`.
:meth:`RawFile.register` then registers an Arrow table in DuckDB with the columns
``__row`` (BIGINT, the row number a spreadsheet shows: header = 1, first data
row = 2) and ``c0 .. c{n-1}`` (VARCHAR, the file's columns in order, as text;
an empty cell is NULL). Nothing is trimmed or converted here: checks do that.

CSV files are scanned by DuckDB. Text encodings:

* UTF-8, with or without a byte-order mark, is read in place (DuckDB reads it
  in parallel into an Arrow table, in file order);
* UTF-16/UTF-32 (detected by their byte-order mark) and any declared encoding
  other than UTF-8 (``read: {encoding: cp1252}``) are transcoded to a UTF-8
  copy in ``workdir`` first;
* bytes that are not valid in the encoding raise :class:`DataValidationError`
  naming the byte offset and line, and how to declare the encoding.

The delimiter is ``read.delimiter`` if given, else the most frequent of
``, ; TAB |`` in the header line. DuckDB skips wholly blank lines, so a file
with a blank line before its last row has its row numbers taken from Python's
:mod:`csv` reader instead (slower, and rare). Excel workbooks are read with
python-calamine (``read.sheet``: a sheet name or 0-based index; default the first);
date cells become ISO text (``2017-04-01``), numbers their shortest exact text.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import logging
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from evalkit.config.models import ReadOptions
from evalkit.errors import DataValidationError

logger = logging.getLogger(__name__)

CHUNK_BYTES = 16 * 1024 * 1024
"""Bytes read at a time while hashing and validating a file."""
HEADER_PROBE_BYTES = 1024 * 1024
"""Bytes decoded to find the header line."""
DELIMITER_CANDIDATES = (",", ";", "\t", "|")
"""Delimiters tried, in order of preference, when ``read.delimiter`` is not given."""
UTF8 = "utf-8"
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)  # UTF-32 LE starts with the UTF-16 LE mark, so it is tested first
_BLANK_LINE = re.compile(rb"\n\r?\n")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
OLD_EXCEL_SUFFIXES = (".xls",)
"""Binary .xls workbooks (Excel 97-2003) cannot be read: they must be saved again as .xlsx."""
FIRST_DATA_ROW = 2
"""Spreadsheet row of the first data row: the header is row 1."""


@dataclass(frozen=True)
class RawFile:
    """One raw extract, opened: what it is and how to scan it.

    ``columns`` are the header's names, stripped of surrounding spaces; an
    empty name becomes ``(column N)`` and a repeated one gets `` (2)``.
    """

    path: Path
    name: str
    """Path under data/raw with forward slashes, as reports and quarantine show it."""
    kind: str
    """``csv`` or ``excel``."""
    columns: tuple[str, ...]
    sha256: str
    size: int
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    scan_path: Path | None = None
    """The UTF-8 file DuckDB scans (the original, or its transcoded copy)."""
    row_numbers: pa.Array | None = None
    """Spreadsheet row of each record DuckDB returns, when blank lines shift them."""
    table: pa.Table | None = None
    """Excel only: the sheet as text columns c0.. plus __row."""

    def load(self, con: duckdb.DuckDBPyConnection) -> pa.Table:
        """The file's rows as an Arrow table: ``__row``, then ``c0 ..`` as text (raises DataValidationError)."""
        if self.table is not None:
            return self.table
        spec = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(self.columns)))
        scan = (f"SELECT * FROM read_csv({_literal(str(self.scan_path))}, header = true, auto_detect = false, "
                f"delim = {_literal(self.delimiter)}, quote = '\"', escape = '\"', columns = {{{spec}}})")
        try:
            # DuckDB reads in parallel and, keeping insertion order, returns the rows in file order.
            table = con.sql(scan).to_arrow_table()
        except (duckdb.InvalidInputException, duckdb.ConversionException) as exc:
            raise self.describe_scan_error(exc) from exc
        rows = self.row_numbers
        if rows is None:
            rows = pa.array(np.arange(FIRST_DATA_ROW, FIRST_DATA_ROW + table.num_rows, dtype=np.int64))
        elif len(rows) != table.num_rows:
            raise DataValidationError(
                f"{self.path}: {table.num_rows} rows were read but {len(rows)} found when numbering them, so "
                "row numbers cannot be trusted. Open the file, remove blank lines between rows, and save it again."
            )
        return table.add_column(0, "__row", rows)

    def register(self, con: duckdb.DuckDBPyConnection, view: str) -> None:
        """Register this file's rows (see :meth:`load`) in ``con`` under the name ``view``."""
        con.register(view, self.load(con))

    def describe_scan_error(self, exc: duckdb.Error) -> DataValidationError:
        """Turn a DuckDB error met while scanning this file into a message that says how to fix it."""
        lines = []
        for line in str(exc).splitlines():
            if line.startswith("Possible") or not line.strip():
                break
            lines.append(line.removeprefix("Invalid Input Error: ").strip())
        detail = "; ".join(lines) or type(exc).__name__
        hint = (
            "Each row must have as many fields as the header "
            f"({len(self.columns)}, separated by {self.delimiter!r}); a field holding the separator, a quote or a "
            "line break must be in double quotes (a quote inside doubled). If the file uses another separator, "
            "set `read: {delimiter: ...}` for its source in parameters/programme.yml."
        )
        return DataValidationError(f"{self.path}: cannot be read as CSV ({detail}). {hint}")


# --------------------------------------------------------------------------- entry point


def open_raw(path: Path, *, raw_root: Path, fmt: str, options: ReadOptions, workdir: Path,
             source_id: str = "<source>") -> RawFile:
    """Open ``path`` (a CSV or Excel extract) for scanning; raise DataValidationError if it cannot be."""
    try:
        name = path.relative_to(raw_root).as_posix()
    except ValueError:
        name = path.as_posix()
    suffix = path.suffix.lower()
    if (fmt == "excel") != (suffix in EXCEL_SUFFIXES) or suffix in OLD_EXCEL_SUFFIXES:
        if suffix in OLD_EXCEL_SUFFIXES:
            fix = "open it in Excel and save it as .xlsx"
        else:
            fix = f"set `format: {'excel' if suffix in EXCEL_SUFFIXES else 'csv'}` under sources.{source_id} or " \
                  "narrow its `files:` pattern"
        raise DataValidationError(f"{path} is not a {'workbook' if fmt == 'excel' else 'CSV file'} of the kind "
                                  f"sources.{source_id} reads (`format: {fmt}`): {fix}.")
    if fmt == "excel":
        return _open_excel(path, name, options, source_id)
    return _open_csv(path, name, options, workdir, source_id)


# --------------------------------------------------------------------------- CSV


def _open_csv(path: Path, name: str, options: ReadOptions, workdir: Path, source_id: str) -> RawFile:
    with path.open("rb") as handle:
        head = handle.read(4)
    encoding = _choose_encoding(path, head, options.encoding, source_id)
    if encoding in (UTF8, "utf-8-sig"):
        digest, size, blank_line = _scan_utf8(path, source_id)
        scan_path = path
    else:
        scan_path = workdir / f"{len(list(workdir.iterdir())):04d}_{path.stem}.utf8.csv"
        digest, size, blank_line = _transcode(path, scan_path, encoding, source_id)
    if size == 0:
        raise DataValidationError(f"{path} is empty (0 bytes): replace it with the full extract, header row first.")
    text = _read_head(scan_path)
    if not text.strip():
        raise DataValidationError(f"{path} has no header row (it holds only blank lines): replace it with the full extract.")
    first_line = text.splitlines()[0] if text else ""
    if not first_line.strip():
        raise DataValidationError(
            f"{path}: line 1 is blank; the header (column names) must be on line 1. Delete the blank lines above it."
        )
    delimiter = _choose_delimiter(path, first_line, options.delimiter, source_id)
    header = next(csv.reader(io.StringIO(text), delimiter=delimiter))
    columns = _unique_names(header)
    row_numbers = _row_numbers(scan_path, delimiter, len(columns)) if blank_line else None
    if row_numbers is not None:
        logger.info("%s has blank lines between rows: row numbers taken from a full parse", name)
    return RawFile(path=path, name=name, kind="csv", columns=columns, sha256=digest, size=size,
                   encoding=encoding, delimiter=delimiter, scan_path=scan_path, row_numbers=row_numbers)


def _choose_encoding(path: Path, head: bytes, declared: str | None, source_id: str) -> str:
    if declared:
        try:
            name = codecs.lookup(declared).name
        except LookupError:
            raise DataValidationError(
                f"sources.{source_id}.read.encoding: {declared!r} is not a text encoding Python knows "
                f"(reading {path}). Use e.g. utf-8, cp1252, latin-1 or utf-16."
            ) from None
        if name == UTF8 and head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        return name
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    return UTF8


def _scan_utf8(path: Path, source_id: str) -> tuple[str, int, bool]:
    """Hash the file, check it is UTF-8, and say whether a blank line precedes its last row."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder(UTF8)()
    size, first_blank, tail = 0, None, b""
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
            if not chunk.isascii() or decoder.getstate()[0]:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    raise _decode_error(path, size + exc.start, chunk[exc.start:exc.start + 1], UTF8, source_id) from None
            if first_blank is None:
                found = _BLANK_LINE.search(tail + chunk)
                if found:
                    first_blank = size - len(tail) + found.start()
            tail = chunk[-2:]
            size += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise _decode_error(path, size - 1, b"", UTF8, source_id) from None
    return digest.hexdigest(), size, _blank_before_end(path, first_blank, size)


def _transcode(path: Path, target: Path, encoding: str, source_id: str) -> tuple[str, int, bool]:
    """Copy ``path`` to ``target`` as UTF-8; hash the original bytes."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder(encoding)()
    size, out_size, first_blank, tail = 0, 0, None, b""
    with path.open("rb") as src, target.open("wb") as out:
        while chunk := src.read(CHUNK_BYTES):
            digest.update(chunk)
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise _decode_error(path, size + exc.start, chunk[exc.start:exc.start + 1], encoding, source_id) from None
            size += len(chunk)
            data = text.lstrip("\ufeff").encode(UTF8) if out_size == 0 else text.encode(UTF8)
            if first_blank is None:
                found = _BLANK_LINE.search(tail + data)
                if found:
                    first_blank = out_size - len(tail) + found.start()
            tail = data[-2:] if data else tail
            out.write(data)
            out_size += len(data)
        try:
            rest = decoder.decode(b"", final=True).encode(UTF8)
        except UnicodeDecodeError:
            raise _decode_error(path, size - 1, b"", encoding, source_id) from None
        out.write(rest)
        out_size += len(rest)
    return digest.hexdigest(), size, _blank_before_end(target, first_blank, out_size)


def _blank_before_end(path: Path, first_blank: int | None, size: int) -> bool:
    """True if the first blank line found lies before the file's last non-blank line."""
    if first_blank is None:
        return False
    with path.open("rb") as handle:
        handle.seek(max(0, size - CHUNK_BYTES))
        end = handle.read()
    content_end = size - (len(end) - len(end.rstrip(b"\r\n")))
    return first_blank + 1 < content_end


def _decode_error(path: Path, offset: int, byte: bytes, encoding: str, source_id: str) -> DataValidationError:
    with path.open("rb") as handle:
        line = handle.read(offset).count(b"\n") + 1
    shown = f"byte 0x{byte.hex().upper()}" if byte else "an incomplete character"
    fix = ("If the file was saved by Excel or another Windows program, declare its encoding under "
           f"sources.{source_id} in parameters/programme.yml: `read: {{encoding: cp1252}}`")
    if encoding != UTF8:
        fix = (f"Check `read: {{encoding: ...}}` under sources.{source_id} in parameters/programme.yml "
               "(utf-8 is the default; cp1252 and latin-1 are common for Windows exports)")
    return DataValidationError(
        f"{path} is not valid {encoding} text: {shown} at byte offset {offset} (line {line}) cannot be decoded. {fix}."
    )


def _read_head(path: Path) -> str:
    with path.open("rb") as handle:
        data = handle.read(HEADER_PROBE_BYTES)
    return data.decode(UTF8, errors="replace").lstrip("\ufeff")


def _choose_delimiter(path: Path, first_line: str, declared: str | None, source_id: str) -> str:
    if declared is not None:
        if declared in ("\\t", "tab"):
            return "\t"
        if len(declared) != 1 or declared in "\"\r\n":
            raise DataValidationError(
                f"sources.{source_id}.read.delimiter: {declared!r} cannot separate fields of {path}; "
                "use one character such as ',' ';' '|' or '\\t'."
            )
        return declared
    counts = {d: _count_outside_quotes(first_line, d) for d in DELIMITER_CANDIDATES}
    best = max(DELIMITER_CANDIDATES, key=lambda d: counts[d])
    return best if counts[best] else ","


def _count_outside_quotes(line: str, char: str) -> int:
    count, quoted = 0, False
    for c in line:
        if c == '"':
            quoted = not quoted
        elif c == char and not quoted:
            count += 1
    return count


def _unique_names(header: list[str]) -> tuple[str, ...]:
    names: list[str] = []
    for i, raw in enumerate(header, start=1):
        name = raw.strip() or f"(column {i})"
        base, n = name, 1
        while name in names:
            n += 1
            name = f"{base} ({n})"
        names.append(name)
    return tuple(names)


def _row_numbers(path: Path, delimiter: str, width: int) -> pa.Array:
    """The spreadsheet row of every record DuckDB returns (it skips blank lines, a spreadsheet does not)."""
    rows = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for number, record in enumerate(csv.reader(handle, delimiter=delimiter), start=1):
            if number > 1 and (record or width == 1):
                rows.append(number)
    return pa.array(rows, pa.int64())


# --------------------------------------------------------------------------- Excel


def _open_excel(path: Path, name: str, options: ReadOptions, source_id: str) -> RawFile:
    import python_calamine

    data = path.read_bytes()
    if not data:
        raise DataValidationError(f"{path} is empty (0 bytes): replace it with the full workbook.")
    try:
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except (python_calamine.CalamineError, python_calamine.ZipError, python_calamine.XmlError,
            python_calamine.PasswordError, ValueError, OSError) as exc:
        raise DataValidationError(
            f"{path} is not a readable Excel workbook ({type(exc).__name__}: {exc}). Open it in Excel and save it "
            "again as .xlsx, or export the sheet to CSV and set `format: csv` for this source."
        ) from exc
    try:
        sheet = _pick_sheet(path, book.sheet_names, options.sheet, source_id)
        # Calamine reads the sheet in compiled code; empty cells come back as "".
        grid = book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    except (python_calamine.CalamineError, python_calamine.XmlError, python_calamine.ZipError) as exc:
        raise DataValidationError(f"{path}, sheet {sheet!r} cannot be read ({exc}). Save the workbook again.") from exc
    finally:
        book.close()
    rows = iter(grid)
    header = next(rows, None)
    if not header or all(_cell_text(v) is None for v in header):
        raise DataValidationError(
            f"{path}, sheet {sheet!r}: row 1 is empty; the header (column names) must be on row 1."
        )
    width = max(i + 1 for i, v in enumerate(header) if _cell_text(v) is not None)
    body, numbers, pending = [], [], []
    for number, values in enumerate(rows, start=2):
        cells = [_cell_text(v) for v in values]
        if any(c is not None for c in cells[width:]):
            width = len(cells) - next(i for i, c in enumerate(reversed(cells)) if c is not None)
        if all(c is None for c in cells):
            pending.append(number)  # blank so far: kept only if a later row has data
            continue
        for blank in pending:
            body.append([])
            numbers.append(blank)
        pending = []
        body.append(cells)
        numbers.append(number)
    header_cells = [_cell_text(v) or "" for v in header] + [""] * width
    columns = _unique_names(header_cells[:width])
    arrays = {"__row": pa.array(numbers, pa.int64())}
    for i in range(width):
        arrays[f"c{i}"] = pa.array([r[i] if i < len(r) else None for r in body], pa.string())
    digest = hashlib.sha256(data).hexdigest()
    return RawFile(path=path, name=name, kind="excel", columns=columns, sha256=digest, size=len(data),
                   sheet=sheet, table=pa.table(arrays))


def _pick_sheet(path: Path, names: list[str], wanted: str | int | None, source_id: str) -> str:
    listed = ", ".join(repr(n) for n in names)
    if wanted is None:
        return names[0]
    if isinstance(wanted, int):
        if 0 <= wanted < len(names):
            return names[wanted]
        raise DataValidationError(
            f"{path} has {len(names)} sheet(s) ({listed}), so there is no sheet index {wanted} (counted from 0). "
            f"Fix `read: {{sheet: ...}}` under sources.{source_id} in parameters/programme.yml."
        )
    if wanted in names:
        return wanted
    raise DataValidationError(
        f"{path} has no sheet named {wanted!r}; its sheets are {listed}. "
        f"Fix `read: {{sheet: ...}}` under sources.{source_id} in parameters/programme.yml, or rename the sheet."
    )


def _cell_text(value: object) -> str | None:
    """A cell's value as text: dates in ISO form, whole numbers without '.0', empty as None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    text = str(value)
    return text if text != "" else None


def _literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"
