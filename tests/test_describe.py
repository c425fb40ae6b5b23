"""evalkit.stats.describe: pooled before/after estimates, pinned to published and R results.

Every expected interval below is quoted from an outside source named beside it,
never from evalkit itself.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes

from evalkit.config.models import Window
from evalkit.errors import AnalysisError, ShortSeriesWarning
from evalkit.stats.describe import (
    SUMMARY_COLUMNS,
    WAVE_SUMMARY_COLUMNS,
    conf_label,
    describe_waves,
    describe_windows,
    format_estimate,
)
from measures import measure

INTERVENTION = dt.date(2017, 4, 1)


def series(rows: list[tuple[str, float, float]], *, scale: float = 1.0, kind: str = "rate") -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["period", "numerator", "denominator"])
    frame["period"] = pd.to_datetime(frame["period"]).astype("datetime64[ms]")
    frame["value"] = frame["numerator"] if kind == "count" else frame["numerator"] / frame["denominator"] * scale
    frame.insert(0, "measure_id", "falls_with_harm")
    frame.insert(0, "locality", "salford")
    return frame


def window_row(summary, window: str) -> pd.Series:
    table = summary.summary()
    return table[table["window"] == window].iloc[0]


# --------------------------------------------------------------------------- rates


def test_rate_exact_poisson_interval_matches_r_poisson_test():
    # Before: 4 + 6 = 10 falls in 400 + 600 = 1,000 bed days -> 10 per 1,000.
    # After: 137 events in 24,198.93 bed days, the example of R's ?poisson.test (Armitage & Berry).
    data = series([("2017-01-01", 4, 400), ("2017-03-01", 6, 600),
                   ("2017-05-01", 137, 24198.93)], scale=1000)
    result = describe_windows(data, measure=measure("rate"), intervention=INTERVENTION, transition_months=1)
    pre, post = window_row(result, "pre"), window_row(result, "post")
    assert pre["estimate"] == pytest.approx(10.0)
    # R 4.x: poisson.test(10, 1)$conf.int -> 4.795389 18.390356 (per unit; x 1000 / 1000 bed days)
    assert (pre["ci_lower"], pre["ci_upper"]) == pytest.approx((4.795389, 18.390356), abs=5e-7)
    # R 4.x: poisson.test(137, 24.19893) -> rate 5.661407, 95% CI 4.753125 6.692709
    assert post["estimate"] == pytest.approx(5.661407, abs=5e-7)
    assert (post["ci_lower"], post["ci_upper"]) == pytest.approx((4.753125, 6.692709), abs=5e-7)
    assert pre["method"] == "pooled rate, exact Poisson interval (Garwood)"


# --------------------------------------------------------------------------- proportions


def test_proportion_wilson_interval_matches_newcombe_table_i():
    # Newcombe RG (1998) Stat Med 17:857-872, Table I, method 3 (Wilson score):
    #   81/263 -> 0.2553 to 0.3662;  15/148 -> 0.0624 to 0.1605.
    # The same as R binom::binom.confint(81, 263, methods = "wilson").
    data = series([("2016-11-01", 40, 130), ("2017-01-01", 41, 133),
                   ("2017-07-01", 7, 70), ("2017-08-01", 8, 78)], scale=100, kind="proportion")
    result = describe_windows(data, measure=measure("proportion"), intervention=INTERVENTION, transition_months=3)
    pre, post = window_row(result, "pre"), window_row(result, "post")
    assert (pre["numerator"], pre["denominator"]) == (81, 263)
    assert pre["estimate"] == pytest.approx(100 * 81 / 263)
    assert (pre["ci_lower"], pre["ci_upper"]) == pytest.approx((25.53, 36.62), abs=0.005)
    assert (post["ci_lower"], post["ci_upper"]) == pytest.approx((6.24, 16.05), abs=0.005)


def test_proportion_with_no_events_has_zero_lower_limit():
    # Newcombe (1998) Table I: 0/20 -> 0.0000 to 0.1611 (Wilson)
    data = series([("2017-01-01", 0, 20), ("2017-05-01", 1, 29)], scale=100, kind="proportion")
    pre = window_row(describe_windows(data, measure=measure("proportion"), intervention=INTERVENTION,
                                      transition_months=0), "pre")
    assert (pre["ci_lower"], pre["ci_upper"]) == pytest.approx((0.0, 16.11), abs=0.005)
    post = window_row(describe_windows(data, measure=measure("proportion"), intervention=INTERVENTION,
                                       transition_months=0), "post")
    # Newcombe (1998) Table I: 1/29 -> 0.0061 to 0.1718
    assert (post["ci_lower"], post["ci_upper"]) == pytest.approx((0.61, 17.18), abs=0.005)


# --------------------------------------------------------------------------- counts and means


def test_count_mean_per_month_matches_r_poisson_test_with_time():
    # 4 + 6 = 10 events over 2 months -> 5 a month.
    # R 4.x: poisson.test(10, T = 2)$conf.int -> 2.397694 9.195178 (R divides poisson.test(10)'s
    # 4.795389 18.390356 by T)
    data = series([("2017-01-01", 4, np.nan), ("2017-02-01", 6, np.nan), ("2017-06-01", 1, np.nan)], kind="count")
    result = describe_windows(data, measure=measure("count", per=None), intervention=INTERVENTION,
                              transition_months=0)
    pre = window_row(result, "pre")
    assert pre["estimate"] == pytest.approx(5.0)
    assert (pre["ci_lower"], pre["ci_upper"]) == pytest.approx((2.397694, 9.195178), abs=5e-7)
    assert math.isnan(pre["denominator"])


def test_mean_t_interval_matches_r_t_test():
    # Student's sleep data (R datasets::sleep), extra sleep of drug 2 minus drug 1, ten patients:
    # R 4.x: with(sleep, t.test(extra[group == 2] - extra[group == 1]))
    #   mean of x 1.58; 95 percent confidence interval 0.7001142 2.4598858
    differences = [1.2, 2.4, 1.3, 1.3, 0.0, 1.0, 1.8, 0.8, 4.6, 1.4]
    months = pd.date_range("2016-01-01", periods=10, freq="MS").strftime("%Y-%m-%d")
    data = series([(m, d * 50, 50) for m, d in zip(months, differences)] + [("2017-06-01", 10, 5)], kind="mean")
    result = describe_windows(data, measure=measure("mean"), intervention=INTERVENTION, transition_months=2)
    pre = window_row(result, "pre")
    assert pre["n_months"] == 10
    assert pre["estimate"] == pytest.approx(1.58)
    assert (pre["ci_lower"], pre["ci_upper"]) == pytest.approx((0.7001142, 2.4598858), abs=5e-8)


def test_mean_with_one_month_has_no_interval():
    data = series([("2017-01-01", 10, 5), ("2017-05-01", 12, 6), ("2017-06-01", 8, 4)], kind="mean")
    pre = window_row(describe_windows(data, measure=measure("mean"), intervention=INTERVENTION,
                                      transition_months=0), "pre")
    assert pre["estimate"] == 2.0 and math.isnan(pre["ci_lower"]) and math.isnan(pre["ci_upper"])


# --------------------------------------------------------------------------- windows


@pytest.fixture
def monthly() -> pd.DataFrame:
    # Jan 2017 to Dec 2017, 1 event per 1,000 bed days, except 50 in the transition months April and May.
    rows = [(f"2017-{m:02d}-01", 50 if m in (4, 5) else 1, 1000) for m in range(1, 13)]
    return series(rows, scale=1000)


def test_transition_months_are_left_out(monthly):
    result = describe_windows(monthly, measure=measure("rate"), intervention=INTERVENTION, transition_months=2)
    table = result.summary()
    assert list(table.columns) == list(SUMMARY_COLUMNS)
    assert list(table["window"]) == ["pre", "post"]
    assert list(table["n_months"]) == [3, 7]  # Jan-Mar; Jun-Dec
    assert (table["start"].tolist(), table["end"].tolist()) == (
        [dt.date(2017, 1, 1), dt.date(2017, 6, 1)], [dt.date(2017, 3, 1), dt.date(2017, 12, 1)])
    assert table["estimate"].tolist() == pytest.approx([1.0, 1.0])


def test_given_windows_are_used(monthly):
    result = describe_windows(monthly, measure=measure("rate"), intervention=INTERVENTION, transition_months=2,
                              baseline=Window(start="2017-02", end="2017-03"),
                              post=Window(start="2017-07", end="2017-08"))
    assert result.summary()["n_months"].tolist() == [2, 2]


def test_gap_months_do_not_count(monthly):
    gappy = monthly.copy()
    gappy.loc[gappy["period"] == pd.Timestamp("2017-02-01"), ["numerator", "denominator", "value"]] = np.nan
    result = describe_windows(gappy, measure=measure("rate"), intervention=INTERVENTION, transition_months=2)
    assert result.summary()["n_months"].tolist() == [2, 7]


def test_window_without_data_warns_and_is_missing(monthly):
    early = monthly[monthly["period"] < pd.Timestamp("2017-04-01")]
    with pytest.warns(ShortSeriesWarning, match="no data in the post window"):
        result = describe_windows(early, measure=measure("rate"), intervention=INTERVENTION, transition_months=0)
    post = window_row(result, "post")
    assert post["n_months"] == 0 and math.isnan(post["estimate"])
    assert "no data after" in result.reading()


def test_baseline_overlapping_the_intervention_is_an_error(monthly):
    with pytest.raises(AnalysisError, match="baseline window ends 2017-04"):
        describe_windows(monthly, measure=measure("rate"), intervention=INTERVENTION, transition_months=2,
                         baseline=Window(start="2017-01", end="2017-04"))
    with pytest.raises(AnalysisError, match="inside the transition"):
        describe_windows(monthly, measure=measure("rate"), intervention=INTERVENTION, transition_months=2,
                         post=Window(start="2017-05", end="2017-12"))


def test_bad_options_are_errors(monthly):
    with pytest.raises(AnalysisError, match="alpha"):
        describe_windows(monthly, measure=measure("rate"), intervention=INTERVENTION, transition_months=0, alpha=5)
    with pytest.raises(AnalysisError, match="transition_months"):
        describe_windows(monthly, measure=measure("rate"), intervention=INTERVENTION, transition_months=-1)
    two = pd.concat([monthly, monthly.assign(locality="oldham")])
    with pytest.raises(AnalysisError, match="locality"):
        describe_windows(two, measure=measure("rate"), intervention=INTERVENTION, transition_months=0)


def test_result_keeps_options_and_summary_is_a_copy(monthly):
    before = monthly.copy(deep=True)
    result = describe_windows(monthly, measure=measure("rate"), intervention=INTERVENTION, transition_months=2,
                              alpha=0.1)
    pd.testing.assert_frame_equal(monthly, before)
    assert (result.measure_id, result.transition_months, result.alpha) == ("falls_with_harm", 2, 0.1)
    copy = result.summary()
    copy.loc[0, "estimate"] = -1
    assert result.summary().loc[0, "estimate"] == pytest.approx(1.0)
    assert isinstance(result.plot(), Axes)


def test_narrative_snapshot():
    data = series([("2017-01-01", 4, 400), ("2017-03-01", 6, 600), ("2017-05-01", 137, 24198.93)], scale=1000)
    result = describe_windows(data, measure=measure("rate"), intervention=INTERVENTION, transition_months=1)
    assert result.reading() == (
        "Falls with harm: 10.0 falls per 1,000 occupied bed days before (95% CI 4.8 to 18.4), "
        "5.66 after (4.75 to 6.69)."
    )
    assert result.narrative() == (
        "Falls with harm: 10.0 falls per 1,000 occupied bed days before (95% CI 4.8 to 18.4), "
        "5.66 after (4.75 to 6.69). Before: Jan 2017 to Mar 2017 (2 of 3 months with data); after: May 2017 "
        "to May 2017 (1 of 1 months with data); the 1 transition month is left out, from Apr 2017. "
        "The exact Poisson interval assumes that events happen independently, at one constant rate within each "
        "window, so it does not widen for extra month-to-month variation or for correlation between months. "
        "A difference between the windows describes what happened; on its own it does not show that the "
        "programme caused it, because trends, seasons and other changes at the same time can move the measure."
    )


# --------------------------------------------------------------------------- survey waves


def test_waves_wilson_interval_matches_newcombe_table_i():
    waves = pd.DataFrame({
        "locality": "salford", "measure_id": "climate", "wave": ["pre", "post"],
        "start": pd.to_datetime(["2017-02-14", "2018-06-12"]), "end": pd.to_datetime(["2017-02-28", "2018-06-30"]),
        "n_respondents": [30, 20], "numerator": [81.0, 15.0], "denominator": [263.0, 148.0],
    })
    result = describe_waves(waves, measure=measure("proportion", name="Positive responses"))
    table = result.summary()
    assert list(table.columns) == list(WAVE_SUMMARY_COLUMNS)
    # Newcombe (1998) Stat Med 17:857, Table I, Wilson: 81/263 0.2553-0.3662, 15/148 0.0624-0.1605
    assert table[["ci_lower", "ci_upper"]].to_numpy().tolist() == [
        pytest.approx([25.53, 36.62], abs=0.005), pytest.approx([6.24, 16.05], abs=0.005)]
    assert result.reading() == ("Positive responses: 30.8% at baseline (95% CI 25.5% to 36.6%), "
                                "10.1% at follow-up (6.2% to 16.0%).")
    assert result.narrative().endswith("can move the measure.")


def test_waves_need_a_proportion():
    with pytest.raises(AnalysisError, match="proportion"):
        describe_waves(pd.DataFrame(columns=["wave", "start", "end", "n_respondents", "numerator", "denominator"]),
                       measure=measure("rate"))


def test_formatting_rules():
    assert conf_label(0.05) == "95%" and conf_label(0.1) == "90%" and conf_label(0.005) == "99.5%"
    assert format_estimate(2.3149, measure("rate")) == "2.31"
    assert format_estimate(23.149, measure("rate")) == "23.1"
    assert format_estimate(1234.5, measure("rate")) == "1,234"  # whole number above 100 (banker's rounding)
    assert format_estimate(93.25, measure("proportion")) == "93.2%"
    assert format_estimate(float("nan"), measure("rate")) == "no data"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert format_estimate(np.float64(1.0), measure("mean")) == "1.00"
