"""The processed tables: their columns, and how to read them back.

Ingest writes, everything downstream reads, through the names defined here.

``observations.parquet``, one row per locality, organisation, measure and month:

==============  ==============  ==================================================
column          type            meaning
==============  ==============  ==================================================
locality        string          locality id from programme.yml
organisation    string          organisation code as the extracts spell it
setting         string          the organisation's setting (acute, care_home, ...)
measure_id      string          measure id from the measure catalogue
period          timestamp[ms]   the month, as its first day
numerator       float64         what was counted (sum, for a ``mean`` measure)
denominator     float64         what it was counted out of; null for counts
source          string          id of the raw source it came from
==============  ==============  ==================================================

``survey_responses.parquet``, one row per respondent and survey item:
locality, organisation, source, respondent_id, wave (``pre``/``post``),
survey_date (timestamp[ms]), staff_group, item_id, item_domain,
response (int16, on the source's Likert scale), positive (bool: agreement with
a positively worded item, or disagreement with a reversed one).

``quarantine/<source>.csv``: every rejected raw row, with ``file`` (path under
data/raw, forward slashes), ``row`` (the row number a spreadsheet shows: header =
row 1, first data row = 2), ``check`` (the failed check's code, see
:data:`CHECKS`), ``reason`` (a sentence naming the column and value and how to
fix it; several failed checks are joined with "; "), then the row's original
columns as text.

``ingest_report.json``: the reconciliation, per file ``rows_read =
rows_accepted + rows_rejected``, and the input file hashes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from evalkit.config.paths import ProjectPaths
from evalkit.errors import DataValidationError

OBSERVATION_COLUMNS = (
    "locality", "organisation", "setting", "measure_id", "period", "numerator", "denominator", "source",
)
SURVEY_COLUMNS = (
    "locality", "organisation", "source", "respondent_id", "wave", "survey_date", "staff_group",
    "item_id", "item_domain", "response", "positive",
)
QUARANTINE_COLUMNS = ("file", "row", "check", "reason")

CHECKS = {
    "unparseable_date": "a date that cannot be read in the expected format",
    "date_outside_programme": "a date before the programme starts or after it ends",
    "date_in_future": "a date after the day of the ingest (reported instead of date_outside_programme)",
    "unknown_organisation": "an organisation code not listed in programme.yml",
    "organisation_locality_mismatch": "an organisation reported under a locality it does not belong to",
    "unknown_value": "a label not listed under the source's `values` (category, harm grade, wave, ...)",
    "missing_value": "a required field left empty",
    "non_numeric": "a count or total that is not a number",
    "negative_count": "a count below zero",
    "numerator_exceeds_denominator": "more events than the population they are counted in",
    "zero_denominator": "a zero denominator for a rate, proportion or mean",
    "duplicate_record_id": "an incident reference already seen in this source",
    "exact_duplicate": "a repeat of an earlier row, identical in every value (the first is kept)",
    "conflicting_duplicate": "two rows for the same organisation and month with different values (both rejected)",
    "response_out_of_scale": "a survey response outside the Likert scale",
}
"""Codes of the ingest checks that send a raw row to quarantine."""


def _read_parquet(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise DataValidationError(
            f"{path} does not exist: the raw extracts have not been ingested yet. "
            "Run `evalkit ingest` (or `make data`) first."
        )
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a damaged file
        raise DataValidationError(f"{path} cannot be read ({exc}); rerun `evalkit ingest` to rebuild it.") from exc
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"{path} lacks the columns {missing}: it was written by another version of evalkit. "
            "Rerun `evalkit ingest` to rebuild it."
        )
    return frame


def load_observations(paths: ProjectPaths) -> pd.DataFrame:
    """The tidy monthly observations (see the module docstring for the columns)."""
    return _read_parquet(paths.observations_file, OBSERVATION_COLUMNS)


def load_survey(paths: ProjectPaths) -> pd.DataFrame:
    """The respondent-level survey responses (see the module docstring for the columns)."""
    return _read_parquet(paths.survey_file, SURVEY_COLUMNS)


def load_ingest_report(paths: ProjectPaths) -> dict:
    """The reconciliation written by the last ingest."""
    path = paths.ingest_report_file
    if not path.is_file():
        raise DataValidationError(f"{path} does not exist; run `evalkit ingest` first.")
    return json.loads(path.read_text(encoding="utf-8"))


def load_quarantine(paths: ProjectPaths) -> pd.DataFrame:
    """Every quarantined row of every source, with a ``source`` column; empty when nothing was rejected."""
    frames = []
    for file in sorted(paths.quarantine.glob("*.csv")):
        frame = pd.read_csv(file, dtype=str, keep_default_na=False)
        frame.insert(0, "source", file.stem)
        frames.append(frame[["source", *QUARANTINE_COLUMNS]])
    if not frames:
        return pd.DataFrame(columns=["source", *QUARANTINE_COLUMNS])
    return pd.concat(frames, ignore_index=True)
