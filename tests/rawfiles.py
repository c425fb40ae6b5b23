"""Small hand-made raw extracts for the ingest tests, one writer per source of the demo programme.

:func:`write_all` writes a complete, valid set (every source of
parameters/programme.yml has a file) into ``<root>/data/raw``; a test passes
its own rows for the file it is about. The rows are small enough to count by
hand: the expected numbers in tests/test_ingest.py are worked out from them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import openpyxl

DATIX = ["IncidentRef", "IncidentDate", "OrgCode", "Locality", "LocationType", "Category", "HarmGrade"]
OLDHAM = ["Reference", "Date of incident", "Site code", "Borough", "Setting", "Incident type", "Degree of harm"]
PROVIDER = ["Month", "OrgCode", "Locality", "OccupiedBedDays", "Discharges", "Readmissions30d", "SummariesSent24h",
            "MedRecsDue", "MedRecsWithin24h", "MedRecsDone", "MedRecHoursTotal", "ObsDue", "ObsOnTime",
            "HandoversAudited", "HandoversSBAR", "DelayedTransferDays"]
CARE_HOMES = ["Month", "Home group code", "Council", "Resident days", "Emergency admissions"]
WORKFORCE = ["Month", "OrgCode", "Locality", "ShiftsPlanned", "ShiftsFilled", "HuddlesPlanned", "HuddlesHeld",
             "Headcount", "Leavers", "FTEDaysAvailable", "FTEDaysLost", "StaffRequiringTraining", "StaffTrained",
             "ActionsDue", "ActionsClosedOnTime", "LearningEvents"]
ITEMS = [f"Q{i:02d}" for i in range(1, 13)]
SURVEY = ["RespondentID", "Wave", "SurveyDate", "OrgCode", "Locality", "StaffGroup", *ITEMS]

FILES = {
    "datix": "incidents/datix_salford.csv",
    "bury": "incidents/bury_incident_export.csv",
    "oldham": "incidents/oldham_incidents.xlsx",
    "provider": "activity/provider_activity.csv",
    "care_homes": "care_homes/care_home_returns.xlsx",
    "workforce": "workforce/workforce_monthly.csv",
    "survey": "survey/safety_culture_survey.csv",
}


def datix_rows() -> list[list]:
    """Salford: SLF01 has incidents in 2017-01 (3) and 2017-03 (1), none in 2017-02; SLF31 one in 2017-02."""
    return [
        ["S0001", "05/01/2017", "SLF01", "Salford", "Acute hospital", "Slips, trips and falls", "Low harm"],
        ["S0002", "17/01/2017", "SLF01", "Salford", "Acute hospital", "Slips, trips and falls", "No harm"],
        ["S0003", "28/01/2017", "SLF01", "Salford", "Acute hospital", "Medication", "Moderate harm"],
        ["S0004", "02/03/2017", "SLF01", "Salford", "Acute hospital", "Pressure ulcer", "Severe harm"],
        ["S0005", "14/02/2017", "SLF31", "Salford", "Care home", "Slips, trips and falls", "Death"],
    ]


def bury_rows() -> list[list]:
    """Bury (cp1252, ';'): BUR01 two incidents in 2017-02."""
    return [
        ["B0001", "03/02/2017", "BUR01", "Bury", "Acute hospital", "Other", "No harm"],
        ["B0002", "20/02/2017", "BUR01", "Bury", "Acute hospital", "Medication", "Low harm"],
    ]


def oldham_rows() -> list[list]:
    """Oldham (Excel, own labels): OLD01 one fall with minor harm in 2017-01."""
    return [["OLD-1", dt.date(2017, 1, 9), "OLD01", "Oldham", "Hospital", "Fall", "Minor"]]


def provider_rows() -> list[list]:
    """SLF01, BUR01 and OLD01 for 2017-01 to 2017-03."""
    rows = []
    for org, loc, beds in (("SLF01", "Salford", 3000), ("BUR01", "Bury", 2000), ("OLD01", "Oldham", 2500)):
        for m in (1, 2, 3):
            rows.append([f"2017-{m:02d}", org, loc, beds + m, 400, 40 + m, 300, 200, 150, 190, 2280.5,
                         1000, 900, 50, 40, 120])
    return rows


def care_home_rows() -> list[list]:
    """SLF31 for 2017-01 to 2017-03, months as Excel dates."""
    return [[dt.datetime(2017, m, 1), "SLF31", "Salford", 1500 + m, m] for m in (1, 2, 3)]


def workforce_rows() -> list[list]:
    return [[f"2017-{m:02d}", "SLF01", "Salford", 100, 95, 20, 18, 500, 5, 10000, 420.5, 480, 430, 30, 25, 2 + m]
            for m in (1, 2)]


def survey_rows() -> list[list]:
    """Two respondents at SLF01, one per wave; Q05 is a reversed item."""
    answers_a = [4, 5, 3, 4, 2, 4, 4, 5, 3, 4, 4, 2]
    answers_b = [5, 5, 4, 4, 5, 4, 5, 5, 4, 4, 5, 3]
    return [
        ["R001", "Baseline", "2016-11-03", "SLF01", "Salford", "Nursing", *answers_a],
        ["R002", "Follow-up", "2018-11-05", "SLF01", "Salford", "Medical", *answers_b],
    ]


def csv_bytes(header: list[str], rows: list[list], *, delimiter: str = ",", encoding: str = "utf-8",
              bom: bool = False, newline: str = "\n") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    body = buffer.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" if bom else b"") + body


def write_csv(raw: Path, relative: str, header: list[str], rows: list[list], **options) -> Path:
    path = raw / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(csv_bytes(header, rows, **options))
    return path


def write_xlsx(raw: Path, relative: str, sheet: str, header: list[str], rows: list[list],
               extra_sheets: tuple[str, ...] = ()) -> Path:
    path = raw / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    ws.append(header)
    for row in rows:
        ws.append(row)
    for name in extra_sheets:
        book.create_sheet(name)
    book.save(path)
    return path


def write_all(root: Path, **rows: list[list]) -> dict[str, Path]:
    """Write every source's file under ``root/data/raw``; ``rows`` replaces a file's rows (keys of FILES)."""
    raw = root / "data" / "raw"
    get = lambda key, default: rows[key] if key in rows else default()  # noqa: E731
    return {
        "datix": write_csv(raw, FILES["datix"], DATIX, get("datix", datix_rows)),
        "bury": write_csv(raw, FILES["bury"], DATIX, get("bury", bury_rows), delimiter=";", encoding="cp1252"),
        "oldham": write_xlsx(raw, FILES["oldham"], "Incidents", OLDHAM, get("oldham", oldham_rows)),
        "provider": write_csv(raw, FILES["provider"], PROVIDER, get("provider", provider_rows)),
        "care_homes": write_xlsx(raw, FILES["care_homes"], "Returns", CARE_HOMES, get("care_homes", care_home_rows)),
        "workforce": write_csv(raw, FILES["workforce"], WORKFORCE, get("workforce", workforce_rows)),
        "survey": write_csv(raw, FILES["survey"], SURVEY, get("survey", survey_rows)),
    }
