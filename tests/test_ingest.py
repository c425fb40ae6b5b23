"""evalkit.data.ingest: raw extracts -> observations, survey responses, quarantine and reconciliation.

The raw files are written by tests/rawfiles.py; every expected number below is
counted by hand from the rows there (the comments say how).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging

import pandas as pd
import pyarrow.parquet as pq
import pytest

import rawfiles as rf
from evalkit.config import load_project
from evalkit.data.ingest import IngestResult, ingest
from evalkit.data.store import (
    OBSERVATION_COLUMNS, QUARANTINE_COLUMNS, SURVEY_COLUMNS, load_ingest_report, load_observations, load_quarantine,
    load_survey,
)
from evalkit.errors import ConfigError, DataValidationError

TODAY = dt.date(2025, 1, 1)


def run(project, **rows) -> tuple[IngestResult, pd.DataFrame]:
    rf.write_all(project, **rows)
    config = load_project(project)
    result = ingest(config, today=TODAY)
    return result, load_observations(config.paths)


def obs(frame: pd.DataFrame, org: str, measure: str) -> list[tuple[str, float, float]]:
    """(month, numerator, denominator) of one organisation's measure, in month order."""
    rows = frame[(frame.organisation == org) & (frame.measure_id == measure)].sort_values("period")
    return [(f"{p:%Y-%m}", n, None if pd.isna(d) else d) for p, n, d in zip(rows.period, rows.numerator, rows.denominator)]


def quarantined(project, source: str) -> pd.DataFrame:
    frame = load_quarantine(load_project(project).paths)
    return frame[frame.source == source].reset_index(drop=True)


# --------------------------------------------------------------------------- good data, end to end


def test_good_data_reconciles_and_nothing_is_quarantined(project):
    result, _ = run(project)
    assert list(result.summary().columns) == ["source", "file", "rows_read", "rows_accepted", "rows_rejected", "sha256"]
    assert (result.rows_read, result.rows_accepted, result.rows_rejected) == (24, 24, 0)
    assert list((project / "data/processed/quarantine").glob("*.csv")) == []
    for f in result.files:
        assert f.sha256 == hashlib.sha256((project / "data/raw" / f.file).read_bytes()).hexdigest()
    assert result.narrative().startswith(
        "Read 24 rows from 7 files; 24 accepted, 0 quarantined. Nothing was dropped: every row is in "
        "data/processed or in quarantine."
    )


def test_incident_rates_count_against_bed_days_and_months_without_incidents_are_zero(project):
    _, frame = run(project)
    # SLF01: 3 incidents in 2017-01 (one low-harm fall, one no-harm fall, one moderate medication), none in
    # 2017-02, one severe pressure ulcer in 2017-03; bed days 3001, 3002, 3003 from provider_activity.
    assert obs(frame, "SLF01", "incident_reporting_rate") == [("2017-01", 3, 3001), ("2017-02", 0, 3002),
                                                             ("2017-03", 1, 3003)]
    assert obs(frame, "SLF01", "falls_with_harm") == [("2017-01", 1, 3001), ("2017-02", 0, 3002), ("2017-03", 0, 3003)]
    assert obs(frame, "SLF01", "medication_incidents_harm")[0] == ("2017-01", 1, 3001)
    assert obs(frame, "SLF01", "pressure_ulcers") == [("2017-01", 0, 3001), ("2017-02", 0, 3002), ("2017-03", 1, 3003)]
    # SLF31 (care home): one fatal fall in 2017-02, counted against resident days from the care-home workbook.
    assert obs(frame, "SLF31", "falls_with_harm") == [("2017-01", 0, 1501), ("2017-02", 1, 1502), ("2017-03", 0, 1503)]
    # Bury (cp1252, ';'): two incidents in 2017-02, one a low-harm medication incident; Oldham (Excel): a minor fall.
    assert obs(frame, "BUR01", "incident_reporting_rate") == [("2017-02", 2, 2002)]
    assert obs(frame, "BUR01", "medication_incidents_harm") == [("2017-02", 1, 2002)]
    assert obs(frame, "OLD01", "falls_with_harm") == [("2017-01", 1, 2501)]
    assert set(frame[frame.organisation == "BUR01"].source) >= {"datix_incidents_bury", "provider_activity"}


def test_proportion_of_incidents_uses_the_referenced_count_where_it_is_above_zero(project):
    _, frame = run(project)
    assert obs(frame, "SLF01", "no_harm_incident_proportion") == [("2017-01", 1, 3), ("2017-03", 0, 1)]
    assert obs(frame, "SLF31", "no_harm_incident_proportion") == [("2017-02", 0, 1)]
    assert obs(frame, "BUR01", "no_harm_incident_proportion") == [("2017-02", 1, 2)]


def test_monthly_measures_take_numerator_and_denominator_columns(project):
    _, frame = run(project)
    assert obs(frame, "SLF01", "readmissions_30d") == [("2017-01", 41, 400), ("2017-02", 42, 400), ("2017-03", 43, 400)]
    assert obs(frame, "SLF01", "mean_hours_to_med_rec")[0] == ("2017-01", 2280.5, 190)
    assert obs(frame, "OLD01", "delayed_transfer_days")[1] == ("2017-02", 120, 2502)
    assert obs(frame, "SLF31", "emergency_admissions_care_homes") == [("2017-01", 1, 1501), ("2017-02", 2, 1502),
                                                                      ("2017-03", 3, 1503)]
    assert obs(frame, "SLF01", "learning_events") == [("2017-01", 3, None), ("2017-02", 4, None)]  # a count
    assert obs(frame, "SLF01", "sickness_absence")[0] == ("2017-01", 420.5, 10000)


def test_observations_have_the_documented_columns_types_order_and_settings(project):
    _, frame = run(project)
    table = pq.read_table(project / "data/processed/observations.parquet")
    assert tuple(table.column_names) == OBSERVATION_COLUMNS
    assert str(table.schema.field("period").type) == "timestamp[ms]"
    assert {str(table.schema.field(c).type) for c in ("numerator", "denominator")} == {"double"}
    keys = frame[["locality", "organisation", "measure_id", "period"]]
    assert keys.equals(keys.sort_values(list(keys.columns)).reset_index(drop=True))
    assert not keys.duplicated().any()
    assert set(frame[frame.organisation == "SLF31"].setting) == {"care_home"}
    assert set(frame[frame.organisation == "SLF01"][["locality", "setting"]].itertuples(index=False)) == \
        {("salford", "acute")}


def test_survey_is_long_with_reversed_items(project):
    run(project)
    survey = load_survey(load_project(project).paths)
    table = pq.read_table(project / "data/processed/survey_responses.parquet")
    assert tuple(table.column_names) == SURVEY_COLUMNS
    assert (str(table.schema.field("response").type), str(table.schema.field("survey_date").type)) == \
        ("int16", "timestamp[ms]")
    assert len(survey) == 24  # 2 respondents x 12 items
    r1 = survey[survey.respondent_id == "R001"].set_index("item_id")
    assert (r1.wave.iloc[0], r1.staff_group.iloc[0], f"{r1.survey_date.iloc[0]:%Y-%m-%d}") == \
        ("pre", "Nursing", "2016-11-03")
    # Q05 is reversed on a 1-5 scale: 2 -> 4 (positive), 5 -> 1 (not); Q03 = 3 is below positive_from 4.
    assert (r1.loc["Q05", "response"], bool(r1.loc["Q05", "positive"])) == (2, True)
    assert bool(r1.loc["Q03", "positive"]) is False
    r2 = survey[survey.respondent_id == "R002"].set_index("item_id")
    assert (r2.loc["Q05", "response"], bool(r2.loc["Q05", "positive"]), r2.wave.iloc[0]) == (5, False, "post")
    assert survey.groupby("respondent_id").positive.sum().to_dict() == {"R001": 9, "R002": 10}
    assert r1.loc["Q06", "item_domain"] == "learning"


def test_skipped_survey_items_are_not_responses(project):
    rows = rf.survey_rows()
    rows[0][6 + 2] = ""  # R001 skipped Q03
    run(project, survey=rows)
    survey = load_survey(load_project(project).paths)
    assert len(survey) == 23 and "Q03" not in set(survey[survey.respondent_id == "R001"].item_id)


def test_whitespace_and_thousands_separators_are_accepted(project):
    datix = rf.datix_rows() + [[" S0009 ", " 20/01/2017 ", "SLF01 ", " Salford", "Acute hospital ", " Other", "No harm "]]
    provider = rf.provider_rows()
    provider[0][4] = " 1,400 "  # SLF01 2017-01 Discharges
    result, frame = run(project, datix=datix, provider=provider)
    assert result.rows_rejected == 0
    assert obs(frame, "SLF01", "incident_reporting_rate")[0] == ("2017-01", 4, 3001)
    assert obs(frame, "SLF01", "readmissions_30d")[0] == ("2017-01", 41, 1400)


# --------------------------------------------------------------------------- bad rows go to quarantine

BAD_ROWS = [
    # (file, column index, bad value, check, words the reason must contain)
    ("datix", 1, "31/02/2016", "unparseable_date", "IncidentDate '31/02/2016' is not a date in the form %d/%m/%Y"),
    ("datix", 1, "01/01/2030", "date_in_future", "IncidentDate '01/01/2030' is after the day of the ingest (2025-01-01)"),
    ("datix", 1, "15/12/2014", "date_outside_programme",
     "IncidentDate '15/12/2014' is outside the programme period 2015-01 to 2021-12"),
    ("datix", 2, "XYZ99", "unknown_organisation", "OrgCode 'XYZ99' is not an organisation code"),
    ("datix", 2, "ROC01", "organisation_locality_mismatch",
     "OrgCode 'ROC01' belongs to rochdale in programme.yml, not to Locality 'Salford'"),
    ("datix", 6, "Near miss", "unknown_value",
     "HarmGrade 'Near miss' is not a label listed under sources.datix_incidents.values.harm"),
    ("datix", 3, "Narnia", "unknown_value", "Locality 'Narnia' is not a label listed"),
    ("datix", 0, "", "missing_value", "IncidentRef is empty"),
    ("datix", 0, "S0002", "duplicate_record_id",
     "IncidentRef 'S0002' already appears at row 3 of incidents/datix_salford.csv; the first is kept"),
    ("provider", 0, "2017-13", "unparseable_date", "Month '2017-13' is not a month in the form YYYY-MM"),
    ("provider", 1, "", "missing_value", "OrgCode is empty"),
    ("provider", 4, "n/a", "non_numeric", "Discharges 'n/a' is not a number"),
    ("provider", 5, "-1", "negative_count", "Readmissions30d '-1' is below zero"),
    ("provider", 6, "500", "numerator_exceeds_denominator", "SummariesSent24h '500' is more than Discharges '400'"),
    ("provider", 9, "0", "zero_denominator", "MedRecsDone is 0, the denominator of mean_hours_to_med_rec"),
    ("provider", 3, "0", "zero_denominator", "OccupiedBedDays is 0, the denominator of delayed_transfer_days"),
    ("care_homes", 2, "Salford City", "unknown_value", "Council 'Salford City' is not a label listed"),
    ("workforce", 12, "", "missing_value", "StaffTrained is empty"),
    ("survey", 6 + 6, "7", "response_out_of_scale", "Q07 '7' is not a whole number from 1 to 5"),
    ("survey", 6 + 6, "3.5", "response_out_of_scale", "Q07 '3.5' is not a whole number from 1 to 5"),
    ("survey", 1, "Midpoint", "unknown_value",
     "Wave 'Midpoint' is not a label listed under sources.safety_culture_survey.values.wave"),
    ("survey", 2, "03/11/2016", "unparseable_date", "SurveyDate '03/11/2016' is not a date in the form YYYY-MM-DD"),
]
SOURCE = {"datix": "datix_incidents", "provider": "provider_activity", "care_homes": "care_home_returns",
          "workforce": "workforce", "survey": "safety_culture_survey"}
FRESH = {"datix": (0, "S0099"), "provider": (0, "2017-04"), "care_homes": (0, dt.datetime(2017, 4, 1)),
         "workforce": (0, "2017-03"), "survey": (0, "R099")}
"""Each bad row is a copy of the file's first row made new (a new reference or month) before it is spoilt."""


@pytest.mark.parametrize("key, column, value, check, words", BAD_ROWS, ids=[f"{r[0]}-{r[3]}-{r[2]}" for r in BAD_ROWS])
def test_bad_row_is_quarantined_whole_with_its_check_and_reason(project, key, column, value, check, words):
    rows = getattr(rf, {"care_homes": "care_home_rows"}.get(key, f"{key}_rows"))()
    bad = list(rows[0])
    bad[FRESH[key][0]] = FRESH[key][1]
    bad[column] = value
    rows.append(bad)
    result, _ = run(project, **{key: rows})
    q = quarantined(project, SOURCE[key])
    assert len(q) == 1 and result.rows_rejected == 1
    got = q.iloc[0]
    assert (got.file, int(got.row), got.check) == (rf.FILES[key], len(rows) + 1, check)
    assert words in got.reason
    header = {"datix": rf.DATIX, "provider": rf.PROVIDER, "care_homes": rf.CARE_HOMES, "workforce": rf.WORKFORCE,
              "survey": rf.SURVEY}[key]
    frame = pd.read_csv(project / f"data/processed/quarantine/{SOURCE[key]}.csv", dtype=str, keep_default_na=False)
    assert list(frame.columns) == [*QUARANTINE_COLUMNS, *header]
    assert frame.iloc[0][header[column]] == value  # the original text, as it was in the file
    per_file = {f.file: f for f in result.files}[rf.FILES[key]]
    assert per_file.rows_read == per_file.rows_accepted + per_file.rows_rejected == len(rows)


def test_every_failing_check_is_in_the_reason_and_the_first_is_the_code(project):
    datix = rf.datix_rows() + [["S0010", "1/1/17", "SLF01", "Narnia", "Acute hospital", "Other", ""]]
    run(project, datix=datix)
    got = quarantined(project, "datix_incidents").iloc[0]
    assert got.check == "missing_value"  # the first in check order; a 2-digit year is not read as year 17
    assert got.reason == (
        "HarmGrade is empty; IncidentDate '1/1/17' is not a date in the form %d/%m/%Y; correct it, or set "
        "sources.datix_incidents.read.date_format to the form the extract uses; Locality 'Narnia' is not a label "
        "listed under sources.datix_incidents.values.locality; add it there or correct it"
    )


def test_future_dates_depend_on_the_day_given(project):
    datix = rf.datix_rows() + [["S0011", "01/06/2020", "SLF01", "Salford", "Acute hospital", "Other", "No harm"]]
    rf.write_all(project, datix=datix)
    config = load_project(project)
    assert ingest(config, today=dt.date(2020, 1, 1)).rejected_by_check == {"date_in_future": 1}
    assert ingest(config, today=TODAY).rows_rejected == 0


# --------------------------------------------------------------------------- duplicates


def test_exact_duplicate_month_keeps_the_first(project):
    provider = rf.provider_rows() + [list(rf.provider_rows()[0])]
    result, frame = run(project, provider=provider)
    q = quarantined(project, "provider_activity")
    assert q[["row", "check"]].values.tolist() == [["11", "exact_duplicate"]]
    assert "repeats row 2 of activity/provider_activity.csv exactly (OrgCode 'SLF01' and Month '2017-01')" in q.reason[0]
    assert obs(frame, "SLF01", "readmissions_30d")[0] == ("2017-01", 41, 400)


def test_conflicting_months_are_all_rejected_and_their_incidents_keep_an_empty_denominator(project):
    changed = list(rf.provider_rows()[0])
    changed[4] = 401
    result, frame = run(project, provider=rf.provider_rows() + [changed])
    q = quarantined(project, "provider_activity")
    assert q[["row", "check"]].values.tolist() == [["2", "conflicting_duplicate"], ["11", "conflicting_duplicate"]]
    assert q.reason[0].startswith("rows 2, 11 of activity/provider_activity.csv hold different values for "
                                  "OrgCode 'SLF01' and Month '2017-01'")
    assert obs(frame, "SLF01", "readmissions_30d")[0][0] == "2017-02"
    # SLF01's 2017-01 incidents now have no bed days: kept with no denominator, and reported.
    assert obs(frame, "SLF01", "incident_reporting_rate")[0] == ("2017-01", 3, None)
    unmatched = {(u.measure_id, f"{u.period:%Y-%m}", u.numerator) for u in result.unmatched_numerators}
    assert unmatched == {("incident_reporting_rate", "2017-01", 3), ("falls_with_harm", "2017-01", 1),
                         ("medication_incidents_harm", "2017-01", 1)}
    report = load_ingest_report(load_project(project).paths)
    assert report["totals"]["unmatched_numerators"] == 3
    assert {"source": "datix_incidents", "measure_id": "falls_with_harm", "organisation": "SLF01",
            "period": "2017-01", "numerator": 1.0, "exposure": "bed_days"} in report["unmatched_numerators"]
    assert "3 organisation-months of incident measures have no bed_days" in result.narrative()


def test_survey_repeats_exact_and_conflicting(project):
    rows = rf.survey_rows()
    other = list(rows[1])
    other[6] = 1
    run(project, survey=rows + [list(rows[0]), other])
    q = quarantined(project, "safety_culture_survey")
    assert q[["row", "check"]].values.tolist() == [["3", "conflicting_duplicate"], ["4", "exact_duplicate"],
                                                   ["5", "conflicting_duplicate"]]


def test_incident_months_without_exposure_are_kept_and_listed(project):
    datix = rf.datix_rows() + [["S0020", "10/04/2017", "SLF01", "Salford", "Acute hospital", "Other", "No harm"]]
    result, frame = run(project, datix=datix)
    assert obs(frame, "SLF01", "incident_reporting_rate")[-1] == ("2017-04", 1, None)
    assert [(u.organisation, f"{u.period:%Y-%m}", u.measure_id) for u in result.unmatched_numerators] == \
        [("SLF01", "2017-04", "incident_reporting_rate")]
    assert not [r for r in obs(frame, "SLF31", "falls_with_harm") if r[0] == "2017-04"]  # nothing to count against


def test_two_sources_giving_the_same_numbers_is_an_error_naming_both(project):
    bury = rf.bury_rows() + [["B0003", "04/02/2017", "SLF01", "Salford", "Acute hospital", "Other", "No harm"]]
    with pytest.raises(DataValidationError) as err:
        run(project, bury=bury)
    message = str(err.value)
    assert "SLF01" in message and "datix_incidents and datix_incidents_bury" in message
    assert "incident_reporting_rate" in message and "`files:`" in message


# --------------------------------------------------------------------------- problems that stop the ingest


def test_missing_files_are_all_named_with_the_fix(project):
    paths = rf.write_all(project)
    paths["workforce"].unlink()
    paths["survey"].unlink()
    with pytest.raises(DataValidationError) as err:
        ingest(load_project(project), today=TODAY)
    message = str(err.value)
    assert message.startswith("2 problem(s) stop the ingest")
    for source, glob in (("workforce", "workforce/workforce_monthly.csv"),
                         ("safety_culture_survey", "survey/safety_culture_survey.csv")):
        assert f"sources.{source}: no file in {project / 'data/raw'} matches {glob!r}" in message
    assert "fix `files:`" in message and "programme.yml" in message


def test_missing_column_names_file_column_columns_found_and_key(project):
    rf.write_all(project)
    header = [c if c != "HarmGrade" else "Harm grade" for c in rf.DATIX]
    rf.write_csv(project / "data/raw", rf.FILES["datix"], header, rf.datix_rows())
    with pytest.raises(DataValidationError) as err:
        ingest(load_project(project), today=TODAY)
    message = str(err.value)
    assert "datix_salford.csv has no column 'HarmGrade' (sources.datix_incidents.columns.harm" in message
    assert "Did you mean 'Harm grade'?" in message and "'IncidentRef', 'IncidentDate'" in message


@pytest.mark.parametrize("damage, words", [
    ("encoding", ["datix_salford.csv is not valid utf-8 text", "byte offset", "read: {encoding: cp1252}"]),
    ("corrupt_xlsx", ["oldham_incidents.xlsx is not a readable Excel workbook"]),
    ("sheet", ["care_home_returns.xlsx has no sheet named 'Returns'; its sheets are 'Sheet1'"]),
    ("empty", ["workforce_monthly.csv is empty (0 bytes)"]),
    ("ragged", ["provider_activity.csv: cannot be read as CSV", "Line: 3"]),
])
def test_unreadable_files_are_errors_naming_the_file_and_the_fix(project, damage, words):
    paths = rf.write_all(project)
    if damage == "encoding":  # a Windows-1252 e-acute in a file read as UTF-8
        paths["datix"].write_bytes(paths["datix"].read_bytes() + b"S0100,01/01/2017,SLF01,Salford,Caf\xe9,Other,No harm\n")
    elif damage == "corrupt_xlsx":
        paths["oldham"].write_bytes(b"PK\x03\x04 not really a zip")
    elif damage == "sheet":
        rf.write_xlsx(project / "data/raw", rf.FILES["care_homes"], "Sheet1", rf.CARE_HOMES, rf.care_home_rows())
    elif damage == "empty":
        paths["workforce"].write_bytes(b"")
    else:
        paths["provider"].write_bytes(paths["provider"].read_bytes().replace(b"\n2017-02,SLF01", b"\n2017-02,x,SLF01", 1))
    with pytest.raises(DataValidationError) as err:
        ingest(load_project(project), today=TODAY)
    for word in words:
        assert word in str(err.value)


def test_failed_ingest_leaves_the_previous_outputs(project):
    run(project)
    before = (project / "data/processed/observations.parquet").read_bytes()
    (project / "data/raw" / rf.FILES["workforce"]).unlink()
    with pytest.raises(DataValidationError):
        ingest(load_project(project), today=TODAY)
    assert (project / "data/processed/observations.parquet").read_bytes() == before


def test_header_only_file_is_valid_with_no_rows(project, caplog):
    with caplog.at_level(logging.WARNING, logger="evalkit.data.ingest"):
        result, _ = run(project, survey=[])
    assert {f.source: f.rows_read for f in result.files}["safety_culture_survey"] == 0
    assert "header but no data rows" in caplog.text
    survey = pq.read_table(project / "data/processed/survey_responses.parquet")
    assert survey.num_rows == 0 and tuple(survey.column_names) == SURVEY_COLUMNS


def test_unknown_codes_in_values_are_a_config_error(project):
    programme = project / "parameters/programme.yml"
    programme.write_text(programme.read_text().replace('"Bury": bury', '"Bury": burry'))
    rf.write_all(project)
    with pytest.raises(ConfigError, match=r"values\.locality: 'burry' is not a locality id"):
        load_project(project)


# --------------------------------------------------------------------------- files, reports, determinism


def test_blank_rows_are_skipped_counted_and_row_numbers_kept(project):
    path = rf.write_all(project)["datix"]
    lines = path.read_bytes().split(b"\n")
    bad = b"S0030,01/01/2017,XYZ99,Salford,Acute hospital,Other,No harm"
    path.write_bytes(b"\n".join([*lines[:3], b"", b",,,,,,", bad, *lines[3:]]))
    result, _ = run_again(project)
    datix = {f.file: f for f in result.files}[rf.FILES["datix"]]
    assert (datix.rows_read, datix.blank_rows, datix.rows_rejected) == (6, 1, 1)
    # header 1, two rows 2-3, empty line 4, empty cells 5, the bad row 6
    assert quarantined(project, "datix_incidents").row.tolist() == ["6"]
    assert "1 blank rows (every cell empty) were skipped" in result.narrative()


def run_again(project):
    config = load_project(project)
    return ingest(config, today=TODAY), load_observations(config.paths)


def test_report_reconciles_every_file(project):
    datix = rf.datix_rows() + [["S0040", "31/02/2016", "SLF01", "Salford", "Acute hospital", "Other", "No harm"]]
    result, _ = run(project, datix=datix)
    report = json.loads((project / "data/processed/ingest_report.json").read_text())
    assert report["ingest_date"] == "2025-01-01"
    assert report["totals"]["rows_read"] == 25 == report["totals"]["rows_accepted"] + report["totals"]["rows_rejected"]
    assert report["rejected_by_check"] == {"unparseable_date": 1}
    for entry, rec in zip(report["files"], result.files):
        assert entry["rows_read"] == entry["rows_accepted"] + entry["rows_rejected"]
        assert (entry["file"], entry["sha256"], entry["rows_read"]) == (rec.file, rec.sha256, rec.rows_read)
    formats = {e["file"]: (e["format"], e["encoding"], e["delimiter"], e["sheet"]) for e in report["files"]}
    assert formats[rf.FILES["bury"]] == ("csv", "cp1252", ";", None)
    assert formats[rf.FILES["oldham"]] == ("excel", None, None, "Incidents")
    assert report["quarantine"] == {"datix_incidents": "quarantine/datix_incidents.csv"}


def test_outputs_are_byte_for_byte_the_same_for_the_same_inputs(project):
    datix = rf.datix_rows() + [["S0050", "31/02/2016", "SLF01", "Salford", "Acute hospital", "Other", "No harm"]]
    run(project, datix=datix)
    names = ["observations.parquet", "survey_responses.parquet", "quarantine/datix_incidents.csv", "ingest_report.json"]
    first = {n: (project / "data/processed" / n).read_bytes() for n in names}
    run_again(project)
    assert {n: (project / "data/processed" / n).read_bytes() for n in names} == first


def test_stale_quarantine_is_removed_and_no_partial_files_are_left(project):
    datix = rf.datix_rows() + [["S0060", "31/02/2016", "SLF01", "Salford", "Acute hospital", "Other", "No harm"]]
    run(project, datix=datix)
    assert (project / "data/processed/quarantine/datix_incidents.csv").is_file()
    run(project)
    assert list((project / "data/processed/quarantine").iterdir()) == []
    assert not [p for p in (project / "data/processed").rglob("*") if p.name.endswith(".partial")]


def test_the_callers_config_is_not_changed(project):
    rf.write_all(project)
    config = load_project(project)
    before = (config.programme.model_dump(), config.paths, [p.parameters.model_dump() for p in config.packs])
    result = ingest(config, today=TODAY)
    assert (config.programme.model_dump(), config.paths, [p.parameters.model_dump() for p in config.packs]) == before
    with pytest.raises(AttributeError):
        result.observations = 0  # frozen
    assert result.observations == len(load_observations(config.paths))


def test_default_today_is_the_real_date(project):
    rf.write_all(project)
    assert ingest(load_project(project)).today == dt.date.today()


def test_files_of_a_source_may_order_columns_differently_and_repeats_span_them(project):
    rf.write_all(project)
    header = ["Notes", *reversed(rf.DATIX)]
    rows = [["", *reversed(["R0001", "09/02/2017", "ROC01", "Rochdale", "Acute hospital", "Other", "No harm"])],
            ["seen before", *reversed(["S0001", "09/02/2017", "ROC01", "Rochdale", "Acute hospital", "Other", "Low harm"])]]
    rf.write_csv(project / "data/raw", "incidents/datix_rochdale.csv", header, rows)
    result, frame = run_again(project)
    assert [f.file for f in result.files][:2] == ["incidents/datix_rochdale.csv", "incidents/datix_salford.csv"]
    q = quarantined(project, "datix_incidents")
    # files are read in name order, so Rochdale's S0001 is the first and Salford's row 2 the repeat
    assert q[["file", "row", "check"]].values.tolist() == [["incidents/datix_salford.csv", "2", "duplicate_record_id"]]
    assert "already appears at row 3 of incidents/datix_rochdale.csv" in q.reason[0]
    columns = pd.read_csv(project / "data/processed/quarantine/datix_incidents.csv", nrows=0).columns.tolist()
    assert columns == [*QUARANTINE_COLUMNS, "Notes", *reversed(rf.DATIX)]
    # ROC01 has no bed days in these extracts: both its incidents are kept, with no denominator
    assert obs(frame, "ROC01", "incident_reporting_rate") == [("2017-02", 2, None)]


def test_problems_of_every_kind_are_listed_together(project):
    paths = rf.write_all(project)
    paths["workforce"].unlink()
    paths["provider"].write_bytes(paths["provider"].read_bytes() + b"2017-04,SLF01,Salford,1,2\n")
    with pytest.raises(DataValidationError) as err:
        ingest(load_project(project), today=TODAY)
    message = str(err.value)
    assert message.startswith("2 problem(s) stop the ingest")
    assert "sources.workforce: no file" in message and "provider_activity.csv: cannot be read as CSV" in message


def test_staff_group_may_be_empty(project):
    rows = rf.survey_rows()
    rows[0][5] = ""
    result, _ = run(project, survey=rows)
    survey = load_survey(load_project(project).paths)
    assert result.rows_rejected == 0 and survey[survey.respondent_id == "R001"].staff_group.isna().all()
