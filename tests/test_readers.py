"""evalkit.data.readers: every supported kind of raw file opens as text columns with its own row numbers."""

from __future__ import annotations

import datetime as dt
import hashlib
import zipfile
from pathlib import Path

import duckdb
import pytest

from evalkit.config.models import ReadOptions
from evalkit.data.readers import RawFile, _cell_text, open_raw
from evalkit.errors import DataValidationError
from rawfiles import write_xlsx


@pytest.fixture
def con():
    with duckdb.connect() as connection:
        yield connection


def _open(tmp_path: Path, name: str, body: bytes, **options) -> RawFile:
    path = tmp_path / name
    path.write_bytes(body)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    fmt = "excel" if name.endswith(".xlsx") else "csv"
    return open_raw(path, raw_root=tmp_path, fmt=fmt, options=ReadOptions(**options), workdir=work, source_id="src")


def _rows(raw: RawFile, con) -> list[tuple]:
    return [tuple(r.values()) for r in raw.load(con).to_pylist()]


# --------------------------------------------------------------------------- text encodings and delimiters


def test_utf8_with_byte_order_mark(tmp_path, con):
    raw = _open(tmp_path, "a.csv", b"\xef\xbb\xbfName,Town\ncaf\xc3\xa9,Salford\n")
    assert raw.columns == ("Name", "Town")
    assert raw.encoding == "utf-8-sig"
    assert _rows(raw, con) == [(2, "café", "Salford")]


def test_semicolon_delimiter_is_sniffed_from_the_header(tmp_path, con):
    raw = _open(tmp_path, "a.csv", b'Ref;Category\nA1;"Slips, trips and falls"\n')
    assert raw.delimiter == ";"
    assert _rows(raw, con) == [(2, "A1", "Slips, trips and falls")]


def test_declared_delimiter_wins(tmp_path, con):
    raw = _open(tmp_path, "a.csv", b"a|b,c\n1|2,3\n", delimiter="|")
    assert raw.columns == ("a", "b,c")
    assert _rows(raw, con) == [(2, "1", "2,3")]


def test_cp1252_is_transcoded(tmp_path, con):
    body = "Ref;Note\nB1;caf\u00e9 \u20ac5 \u2013 ok\n".encode("cp1252")
    raw = _open(tmp_path, "bury.csv", body, encoding="cp1252", delimiter=";")
    assert raw.encoding == "cp1252"
    assert _rows(raw, con) == [(2, "B1", "café €5 – ok")]
    assert raw.sha256 == hashlib.sha256(body).hexdigest()  # the original bytes, not the UTF-8 copy


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be"])
def test_utf16_is_detected_by_its_byte_order_mark(tmp_path, con, codec):
    body = "Ref\tTown\nC1\tOldham\n".encode(codec)
    if codec == "utf-16-be":
        body = b"\xfe\xff" + body
    raw = _open(tmp_path, "a.csv", body)
    assert raw.encoding == "utf-16"
    assert raw.delimiter == "\t"
    assert _rows(raw, con) == [(2, "C1", "Oldham")]


def test_invalid_utf8_names_the_file_offset_line_and_the_fix(tmp_path):
    body = b"Ref,Town\nA1,Salford\nA2,caf\xe9\n"
    with pytest.raises(DataValidationError) as err:
        _open(tmp_path, "bad.csv", body)
    message = str(err.value)
    assert body.index(0xE9) == 26 and "byte offset 26" in message
    assert "bad.csv" in message and "line 3" in message
    assert "0xE9" in message and "read: {encoding: cp1252}" in message and "sources.src" in message


def test_bytes_undefined_in_the_declared_encoding_are_an_error(tmp_path):
    with pytest.raises(DataValidationError, match=r"not valid cp1252 text: byte 0x81 at byte offset 8 \(line 3\)"):
        _open(tmp_path, "bad.csv", b"Ref\nA1\nA\x81\n", encoding="cp1252")


def test_unknown_encoding_name_points_at_the_key(tmp_path):
    with pytest.raises(DataValidationError, match=r"sources\.src\.read\.encoding: 'klingon'"):
        _open(tmp_path, "a.csv", b"a\n1\n", encoding="klingon")


# --------------------------------------------------------------------------- rows and row numbers


def test_header_only_file_has_no_rows(tmp_path, con):
    raw = _open(tmp_path, "a.csv", b"Ref,Town")
    assert raw.columns == ("Ref", "Town")
    assert _rows(raw, con) == []


@pytest.mark.parametrize("body", [b"", b"\n\n  \n"])
def test_empty_file_is_an_error_naming_it(tmp_path, body):
    with pytest.raises(DataValidationError, match=r"empty\.csv (is empty|has no header row)"):
        _open(tmp_path, "empty.csv", body)


def test_blank_first_line_is_an_error(tmp_path):
    with pytest.raises(DataValidationError, match="line 1 is blank"):
        _open(tmp_path, "a.csv", b"\nRef\nA1\n")


def test_row_numbers_count_blank_lines_and_records_like_a_spreadsheet(tmp_path, con):
    body = b'Ref,Note\r\nA1,x\r\n\r\nA2,"two\nlines"\r\n,\r\nA3,z\r\n\r\n'
    raw = _open(tmp_path, "a.csv", body)
    # header 1, A1 2, blank 3, A2 4 (one record over two lines), empty cells 5, A3 6
    assert _rows(raw, con) == [(2, "A1", "x"), (4, "A2", "two\nlines"), (5, None, None), (6, "A3", "z")]


def test_trailing_blank_lines_need_no_renumbering(tmp_path, con):
    raw = _open(tmp_path, "a.csv", b"Ref,Town\nA1,x\nA2,y\n\n\n")
    assert raw.row_numbers is None
    assert _rows(raw, con) == [(2, "A1", "x"), (3, "A2", "y")]


def test_blank_lines_of_a_one_column_file_are_empty_rows(tmp_path, con):
    raw = _open(tmp_path, "a.csv", b"Ref\nA1\n\nA2\n")
    assert _rows(raw, con) == [(2, "A1"), (3, None), (4, "A2")]


def test_a_row_with_too_many_fields_names_file_line_and_delimiter(tmp_path, con):
    raw = _open(tmp_path, "a.csv", b"Ref,Town\nA1,Salford\nA2,Bury,extra\n")
    with pytest.raises(DataValidationError) as err:
        raw.load(con)
    message = str(err.value)
    assert "a.csv" in message and "Line: 3" in message and "as many fields as the header (2" in message
    assert "read: {delimiter: ...}" in message


def test_header_names_are_stripped_and_made_unique(tmp_path):
    raw = _open(tmp_path, "a.csv", b" Ref ,Town,Town,\n1,2,3,4\n")
    assert raw.columns == ("Ref", "Town", "Town (2)", "(column 4)")


def test_sha256_and_size_are_of_the_file(tmp_path):
    body = b"Ref\nA1\n"
    raw = _open(tmp_path, "sub.csv", body)
    assert (raw.sha256, raw.size, raw.name) == (hashlib.sha256(body).hexdigest(), len(body), "sub.csv")


# --------------------------------------------------------------------------- Excel


def test_excel_sheet_by_name_keeps_sheet_rows_and_iso_dates(tmp_path, con):
    rows = [[dt.datetime(2017, 4, 1), "SLF31", 1234, 12.5], [None, None, None, None],
            [dt.date(2017, 5, 1), "SLF32", 7.0, None]]
    write_xlsx(tmp_path, "r.xlsx", "Returns", ["Month", "Code", "Days", "Hours"], rows, extra_sheets=("Notes",))
    raw = open_raw(tmp_path / "r.xlsx", raw_root=tmp_path, fmt="excel", options=ReadOptions(sheet="Returns"),
                   workdir=tmp_path)
    assert raw.columns == ("Month", "Code", "Days", "Hours") and raw.sheet == "Returns"
    assert _rows(raw, con) == [(2, "2017-04-01", "SLF31", "1234", "12.5"), (3, None, None, None, None),
                               (4, "2017-05-01", "SLF32", "7", None)]


def test_excel_sheet_by_index(tmp_path, con):
    write_xlsx(tmp_path, "r.xlsx", "First", ["A"], [["x"]], extra_sheets=("Second",))
    raw = open_raw(tmp_path / "r.xlsx", raw_root=tmp_path, fmt="excel", options=ReadOptions(sheet=0),
                   workdir=tmp_path)
    assert raw.sheet == "First" and _rows(raw, con) == [(2, "x")]


def test_missing_sheet_lists_the_sheets(tmp_path):
    write_xlsx(tmp_path, "r.xlsx", "Returns", ["A"], [["x"]], extra_sheets=("Notes",))
    with pytest.raises(DataValidationError, match=r"r\.xlsx has no sheet named 'Incidents'; its sheets are "
                                                  r"'Returns', 'Notes'"):
        open_raw(tmp_path / "r.xlsx", raw_root=tmp_path, fmt="excel", options=ReadOptions(sheet="Incidents"),
                 workdir=tmp_path)
    with pytest.raises(DataValidationError, match=r"no sheet index 5"):
        open_raw(tmp_path / "r.xlsx", raw_root=tmp_path, fmt="excel", options=ReadOptions(sheet=5),
                 workdir=tmp_path)


@pytest.mark.parametrize("kind", ["not a zip", "zip without a workbook", "empty"])
def test_corrupt_workbook_is_an_error_naming_the_file(tmp_path, kind):
    path = tmp_path / "broken.xlsx"
    if kind == "not a zip":
        path.write_bytes(b"this is not a workbook")
    elif kind == "zip without a workbook":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("hello.txt", "hi")
    else:
        path.write_bytes(b"")
    with pytest.raises(DataValidationError, match=r"broken\.xlsx (is not a readable Excel workbook|is empty)"):
        open_raw(path, raw_root=tmp_path, fmt="excel", options=ReadOptions(), workdir=tmp_path)


def test_excel_without_header_is_an_error(tmp_path):
    write_xlsx(tmp_path, "r.xlsx", "S", [], [])
    with pytest.raises(DataValidationError, match="row 1 is empty"):
        open_raw(tmp_path / "r.xlsx", raw_root=tmp_path, fmt="excel", options=ReadOptions(), workdir=tmp_path)


@pytest.mark.parametrize("value, text", [
    (None, None), ("", None), ("x", "x"), (True, "TRUE"), (3, "3"), (3.0, "3"), (2.5, "2.5"),
    (dt.datetime(2020, 1, 2), "2020-01-02"), (dt.datetime(2020, 1, 2, 10, 30), "2020-01-02 10:30:00"),
    (dt.date(2020, 1, 2), "2020-01-02"),
])
def test_cell_text(value, text):
    assert _cell_text(value) == text


@pytest.mark.parametrize("name, fmt, words", [
    ("returns.xlsx", "csv", "set `format: excel`"),
    ("returns.csv", "excel", "set `format: csv`"),
    ("returns.xls", "excel", "save it as .xlsx"),
])
def test_a_file_of_the_wrong_kind_says_how_to_fix_the_source(tmp_path, name, fmt, words):
    (tmp_path / name).write_bytes(b"a,b\n1,2\n")
    with pytest.raises(DataValidationError, match=words.replace(".", r"\.").replace("`", "`")) as err:
        open_raw(tmp_path / name, raw_root=tmp_path, fmt=fmt, options=ReadOptions(), workdir=tmp_path, source_id="s")
    assert name in str(err.value) and "sources.s" in str(err.value)
