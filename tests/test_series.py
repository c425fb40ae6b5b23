"""evalkit.data.series: organisations summed to one monthly series per locality; survey waves pooled.

Expected values are worked by hand from the small tables below (sums and ratios),
so each test states its arithmetic.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from evalkit.config.models import Measure
from evalkit.data.series import (
    SERIES_COLUMNS,
    WAVE_COLUMNS,
    data_period,
    measure_series,
    month_count,
    survey_waves,
    unpaired_numerators,
)
from evalkit.errors import DataQualityWarning, DataValidationError


def measure(kind: str, **extra) -> Measure:
    base = dict(name=f"A {kind}", domain="past_harm", family="outcome", kind=kind, numerator="events",
                unit="events", improvement_direction="decrease", streams=("care_homes",))
    if kind in ("rate", "proportion", "mean"):
        base["denominator"] = "Occupied bed days"
    if kind == "rate":
        base["per"] = 1000
    return Measure(**{**base, **extra})


def observations(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["locality", "organisation", "measure_id", "period", "numerator",
                                        "denominator"])
    frame["setting"] = "acute"
    frame["source"] = "test"
    frame["period"] = pd.to_datetime(frame["period"]).astype("datetime64[ms]")
    return frame


@pytest.fixture
def obs() -> pd.DataFrame:
    # Two Salford organisations; March 2017 missing entirely; B absent in April; one Oldham month.
    return observations([
        ("salford", "A", "falls", "2017-01-01", 3.0, 1000.0),
        ("salford", "B", "falls", "2017-01-01", 1.0, 1000.0),
        ("salford", "A", "falls", "2017-02-01", 2.0, 500.0),
        ("salford", "B", "falls", "2017-02-01", 2.0, 1500.0),
        ("salford", "A", "falls", "2017-04-01", 5.0, 1000.0),
        ("oldham", "C", "falls", "2017-02-01", 4.0, 2000.0),
        ("salford", "A", "other", "2017-01-01", 99.0, 100.0),
    ])


def test_rate_sums_organisations_then_divides(obs):
    series = measure_series(obs, measure=measure("rate"), measure_id="falls", locality="salford")
    assert list(series.columns) == list(SERIES_COLUMNS)
    jan = series.iloc[0]
    # (3 + 1) / (1000 + 1000) * 1000 = 2.0
    assert (jan["numerator"], jan["denominator"], jan["value"], jan["n_organisations"]) == (4.0, 2000.0, 2.0, 2)
    # Feb: (2 + 2) / (500 + 1500) * 1000 = 2.0, not the mean of 4.0 and 1.33
    assert series.iloc[1]["value"] == pytest.approx(2.0)


def test_gap_month_is_a_visible_missing_row_never_interpolated(obs):
    series = measure_series(obs, measure=measure("rate"), measure_id="falls", locality="salford")
    assert list(series["period"].dt.strftime("%Y-%m")) == ["2017-01", "2017-02", "2017-03", "2017-04"]
    march = series.iloc[2]
    assert np.isnan(march["numerator"]) and np.isnan(march["denominator"]) and np.isnan(march["value"])
    assert march["n_organisations"] == 0
    assert series.iloc[3]["n_organisations"] == 1  # B did not report in April: shown, not hidden


def test_proportion_and_count_and_mean_values(obs):
    proportion = measure_series(obs, measure=measure("proportion"), measure_id="falls", locality="salford")
    assert proportion.iloc[0]["value"] == pytest.approx(4 / 2000 * 100)
    mean = measure_series(obs, measure=measure("mean"), measure_id="falls", locality="salford")
    assert mean.iloc[0]["value"] == pytest.approx(4 / 2000)
    counts = observations([("salford", "A", "events", "2017-01-01", 3.0, np.nan),
                           ("salford", "B", "events", "2017-01-01", 4.0, np.nan)])
    count = measure_series(counts, measure=measure("count"))
    assert count.iloc[0]["value"] == 7.0 and np.isnan(count.iloc[0]["denominator"])
    assert count.iloc[0]["measure_id"] == "events"  # the only measure, so its id is inferred


def test_one_series_per_locality_when_none_given(obs):
    series = measure_series(obs, measure=measure("rate"), measure_id="falls")
    assert list(series["locality"].unique()) == ["oldham", "salford"]
    assert len(series[series["locality"] == "oldham"]) == 1  # its own first-to-last range, not Salford's


def test_organisation_filter(obs):
    series = measure_series(obs, measure=measure("rate"), measure_id="falls", locality="salford",
                            organisations=["B"])
    assert list(series["numerator"]) == [1.0, 2.0]


def test_caller_data_not_modified(obs):
    before = obs.copy(deep=True)
    measure_series(obs, measure=measure("rate"), measure_id="falls", locality="salford")
    pd.testing.assert_frame_equal(obs, before)


def test_no_rows_gives_an_empty_series(obs):
    series = measure_series(obs, measure=measure("rate"), measure_id="falls", locality="bury")
    assert series.empty and list(series.columns) == list(SERIES_COLUMNS)


def test_several_measures_need_a_measure_id(obs):
    with pytest.raises(DataValidationError, match="measure_id="):
        measure_series(obs, measure=measure("rate"))


def test_numerator_without_denominator_is_left_out_with_a_warning():
    # Ingest keeps incident counts whose bed days were quarantined, with an empty denominator.
    rows = observations([("salford", "A", "falls", "2017-01-01", 3.0, np.nan),
                         ("salford", "B", "falls", "2017-01-01", 1.0, 1000.0)])
    with pytest.warns(DataQualityWarning, match="falls: 1 organisation-month.*A 2017-01.*left out of the rate"):
        series = measure_series(rows, measure=measure("rate"))
    assert (series.iloc[0]["numerator"], series.iloc[0]["value"], series.iloc[0]["n_organisations"]) == (1.0, 1.0, 1)
    unpaired = unpaired_numerators(rows, measures={"falls": measure("rate")}, locality="salford")
    assert unpaired[["organisation", "numerator"]].to_dict("records") == [{"organisation": "A", "numerator": 3.0}]
    assert unpaired_numerators(rows, measures={"falls": measure("count")}).empty  # counts have no denominator


def test_missing_numerator_is_an_error_naming_the_rows():
    bad = observations([("salford", "A", "falls", "2017-01-01", np.nan, 10.0)])
    with pytest.raises(DataValidationError, match="no numerator.*A 2017-01"):
        measure_series(bad, measure=measure("rate"))


def test_missing_column_is_an_error():
    with pytest.raises(DataValidationError, match="lacks the columns"):
        measure_series(pd.DataFrame({"locality": []}), measure=measure("rate"))


def survey(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["locality", "organisation", "respondent_id", "wave", "survey_date",
                                        "item_domain", "positive"])
    frame["survey_date"] = pd.to_datetime(frame["survey_date"]).astype("datetime64[ms]")
    return frame


def test_survey_waves_pool_item_responses_per_wave():
    rows = [
        ("salford", "A", "r1", "post", "2018-06-01", "safety_climate", True),
        ("salford", "A", "r1", "post", "2018-06-01", "learning", False),
        ("salford", "A", "r2", "pre", "2017-02-01", "safety_climate", True),
        ("salford", "A", "r2", "pre", "2017-02-03", "safety_climate", False),
        ("salford", "A", "r3", "pre", "2017-02-02", "learning", True),
        ("oldham", "C", "r9", "pre", "2017-02-02", "learning", True),
    ]
    waves = survey_waves(survey(rows), measure=measure("proportion"), measure_id="climate", locality="salford")
    assert list(waves.columns) == list(WAVE_COLUMNS)
    assert list(waves["wave"]) == ["pre", "post"]  # time order, whatever the row order
    pre = waves.iloc[0]
    # pre: 2 positive of 3 responses from 2 respondents, 2017-02-01 to 2017-02-03
    assert (pre["numerator"], pre["denominator"], pre["n_respondents"]) == (2.0, 3.0, 2)
    assert pre["value"] == pytest.approx(200 / 3)
    assert (pre["start"], pre["end"]) == (pd.Timestamp("2017-02-01"), pd.Timestamp("2017-02-03"))
    climate = survey_waves(survey(rows), measure=measure("proportion"), measure_id="climate",
                           locality="salford", item_domains=["safety_climate"])
    assert list(climate["denominator"]) == [2.0, 1.0]


def test_survey_unknown_wave_is_an_error():
    rows = [("salford", "A", "r1", "midway", "2018-06-01", "safety_climate", True)]
    with pytest.raises(DataValidationError, match="midway"):
        survey_waves(survey(rows), measure=measure("proportion"), measure_id="climate")


def test_data_period_and_month_count(obs):
    assert data_period(obs, locality="salford", measure_ids=["falls"]) == (dt.date(2017, 1, 1), dt.date(2017, 4, 1))
    assert data_period(obs, locality="bury", measure_ids=["falls"]) is None
    assert month_count(dt.date(2015, 1, 1), dt.date(2017, 3, 1)) == 27
    assert month_count(dt.date(2017, 3, 1), dt.date(2017, 1, 1)) == 0
