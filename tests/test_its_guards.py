"""Deliberately broken inputs to its.fit: each gives a clear AnalysisError (or ShortSeriesWarning)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from evalkit.errors import AnalysisError, ShortSeriesWarning
from evalkit.stats import its


def _series(n_pre: int = 12, n_post: int = 12, *, start: str = "2020-01-01") -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = n_pre + n_post
    months = pd.date_range(start, periods=n, freq="MS")
    post = np.arange(n) >= n_pre
    counts = rng.poisson(50 - 10 * post)
    return pd.DataFrame({"month": months, "count": counts.astype(float), "beds": 1000.0,
                         "event": (np.arange(n) == 3).astype(float)})


def _fit(frame, **options):
    settings = {"value_col": "count", "date_col": "month", "intervention": "2021-01-01"} | options
    return its.fit(frame, **settings)


def test_too_few_points_either_side():
    with pytest.raises(AnalysisError, match=r"2 periods before .* at least 3"):
        _fit(_series(2, 12), intervention="2020-03-01")


def test_transition_counts_against_post_points():
    with pytest.raises(AnalysisError, match=r"after the 10 transition periods"):
        _fit(_series(12, 12), transition=10)


def test_short_series_warns_and_continues():
    with pytest.warns(ShortSeriesWarning, match="fewer than 8"):
        result = _fit(_series(5, 12), intervention="2020-06-01")
    assert np.isfinite(result.summary()["estimate"]).all()


def test_gap_names_the_period():
    frame = _series().drop(index=5)
    with pytest.raises(AnalysisError, match=r"gap after period 2020-05 .* 2020-07"):
        _fit(frame)


def test_duplicate_period():
    frame = _series()
    frame = pd.concat([frame.iloc[:6], frame.iloc[[5]], frame.iloc[6:]])
    with pytest.raises(AnalysisError, match=r"period 2020-06 appears more than once"):
        _fit(frame)


def test_unsorted_tells_user_to_sort():
    frame = _series().iloc[::-1]
    with pytest.raises(AnalysisError, match=r"not in order .* sort"):
        _fit(frame)


@pytest.mark.parametrize("when", ["2019-06-01", "2020-01-01", "2030-01-01"])
def test_intervention_outside_data(when):
    with pytest.raises(AnalysisError, match=r"outside the data .* 2020-01 to 2021-12"):
        _fit(_series(), intervention=when)


@pytest.mark.parametrize("bad", [0.0, np.nan])
def test_zero_or_missing_denominator(bad):
    frame = _series()
    frame.loc[4, "beds"] = bad
    with pytest.raises(AnalysisError, match=r"'beds' is .* in period 2020-05-01"):
        _fit(frame, family="poisson", denominator_col="beds")


def test_missing_outcome_names_period():
    frame = _series()
    frame.loc[7, "count"] = np.nan
    with pytest.raises(AnalysisError, match=r"'count' is missing .* period 2020-08-01"):
        _fit(frame)


def test_unknown_column():
    with pytest.raises(AnalysisError, match=r"no column 'admissions'.*'count'"):
        _fit(_series(), value_col="admissions")


def test_bad_family_lists_allowed():
    with pytest.raises(AnalysisError, match=r"family='poison' .* 'gaussian', 'poisson', 'quasipoisson'"):
        _fit(_series(), family="poison")


def test_bad_errors_lists_allowed():
    with pytest.raises(AnalysisError, match=r"errors='hac' .* 'ols', 'newey_west', 'prais_winsten', 'arma'"):
        _fit(_series(), errors="hac")


def test_arma_is_gaussian_only():
    with pytest.raises(AnalysisError, match=r"errors='arma' is implemented for family='gaussian' only.*newey_west"):
        _fit(_series(), family="poisson", denominator_col="beds", errors="arma")


def test_prais_winsten_estimates_its_own_dispersion_so_not_with_the_negative_binomial():
    with pytest.raises(AnalysisError, match=r"prais_winsten.*family='quasipoisson'"):
        _fit(_series(), family="negative_binomial", denominator_col="beds", errors="prais_winsten")


def test_seasonality_needs_dates():
    frame = pd.DataFrame({"year": range(2000, 2020), "value": np.arange(20.0)})
    with pytest.raises(AnalysisError, match="needs monthly dates"):
        its.fit(frame, value_col="value", date_col="year", intervention=2010, seasonality=2)


def test_bad_seasonality_and_transition_values():
    with pytest.raises(AnalysisError, match="seasonality"):
        _fit(_series(), seasonality=7)
    with pytest.raises(AnalysisError, match="transition"):
        _fit(_series(), transition=-1)


def test_binomial_needs_trials_and_successes_within_them():
    with pytest.raises(AnalysisError, match="needs denominator_col"):
        _fit(_series(), family="binomial")
    frame = _series().assign(trials=10.0)
    with pytest.raises(AnalysisError, match="exceeds 'trials'"):
        _fit(frame, family="binomial", denominator_col="trials")


def test_controlled_needs_both_and_known_treated_value():
    frame = pd.concat([_series().assign(site="a"), _series().assign(site="b")], ignore_index=True)
    with pytest.raises(AnalysisError, match="both"):
        _fit(frame, group_col="site")
    with pytest.raises(AnalysisError, match=r"treated='c' is not a value of 'site'"):
        _fit(frame, group_col="site", treated="c")
    shuffled = frame.sort_values(["month", "site"])
    with pytest.raises(AnalysisError, match=r"not sorted by \('site', 'month'\)"):
        _fit(shuffled, group_col="site", treated="a")
    result = _fit(frame, group_col="site", treated="a", errors="newey_west")
    assert set(result.summary()["group"]) == {"treated", "comparator", "difference"}


def test_intervention_type_must_match_periods():
    with pytest.raises(AnalysisError, match="periods are dates"):
        _fit(_series(), intervention=2021)


def test_effects_at_pre_period_is_an_error():
    result = _fit(_series())
    with pytest.raises(AnalysisError, match="from the intervention"):
        result.effects(at="2020-03-01")


def test_caller_frame_not_modified():
    frame = _series()
    before = frame.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _fit(frame, family="poisson", denominator_col="beds", seasonality=2, covariates=("event",), transition=2)
    pd.testing.assert_frame_equal(frame, before)


def test_month_terms_and_collinear_design():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = _fit(_series(24, 24), seasonality="month")
    assert "month_1" not in result.design.columns  # the first period's month is the reference
    with pytest.raises(AnalysisError, match="collinear"):
        _fit(_series(), covariates=("beds",))
