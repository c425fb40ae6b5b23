"""Run charts against qicharts2 (Anhøj rules) and the IHI rules of Perla, Provost & Murray (2011).

qicharts2 numbers come from ../shared/refdata/spc/qicharts2 (anhoej/qicharts2 1b9487e run in R 4.2.2, see its
EXPECTED.md); the R call that made each file is named beside it. IHI tests use hand-built series whose answer
follows from the rule's wording in Perla et al. (2011) BMJ Qual Saf 20:46-51.
"""

from __future__ import annotations

import itertools
import math
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes

from evalkit.errors import AnalysisError, DataQualityWarning, ShortBaselineWarning, ShortSeriesWarning
from evalkit.stats import runchart
from evalkit.stats.runchart_result import POINT_COLUMNS, SUMMARY_COLUMNS

QIC = "spc/qicharts2"
RTOL_R = 1e-12  # the fixtures print 15 significant digits

# (fixture, input, qicharts2 call, fit options); part/baseline in fit() terms
QIC_CASES = {
    # qic(x, y, data = R1_rnorm24_seed2, chart = "run", return.data = TRUE)
    "R1": ("R1_run_rnorm24_seed2_expected.csv", "R1_rnorm24_seed2_input.csv", {}),
    # qic(x, y, data = R2_vignette_outlier, chart = "run", return.data = TRUE)
    "R2": ("R2_run_vignette_outlier_expected.csv", "R2_vignette_outlier_input.csv", {}),
    # qic(x, y, data = R3_vignette_shift2sd, chart = "run", return.data = TRUE)
    "R3": ("R3_run_vignette_shift2sd_expected.csv", "R3_vignette_shift2sd_input.csv", {}),
    # qic(x, y, data = R4_median_ties, chart = "run", return.data = TRUE)
    "R4": ("R4_run_median_ties_expected.csv", "R4_median_ties_input.csv", {}),
    # qic(x, y, data = R5_trend_1to50, chart = "run", return.data = TRUE)
    "R5": ("R5_run_trend_1to50_expected.csv", "R5_trend_1to50_input.csv", {}),
    # qic(month, n, data = cdi, chart = "run", return.data = TRUE)
    "C1": ("C1_run_cdi_expected.csv", "D_cdi_input.csv", {}),
    # qic(month, n, data = cdi, chart = "run", freeze = 24, return.data = TRUE)
    "C2": ("C2_run_cdi_freeze24_expected.csv", "D_cdi_input.csv", {"baseline": 24}),
    # qic(month, n, data = cdi, chart = "run", part = 24, return.data = TRUE): part 2 starts at point 25
    "C3": ("C3_run_cdi_part24_expected.csv", "D_cdi_input.csv", {"part": ["2014-11-01"]}),
}


def _qic_input(refdata, name: str) -> pd.DataFrame:
    frame = pd.read_csv(refdata / QIC / name)
    return frame.rename(columns={"month": "x", "n": "y"})


def _fit(frame: pd.DataFrame, **options) -> runchart.RunChartResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShortSeriesWarning)
        return runchart.fit(frame, value_col="y", date_col="x", **options)


def _check_against_qic(result: runchart.RunChartResult, expected: pd.DataFrame) -> None:
    points = result.points()
    per_point = points.merge(result.summary(), on="part", how="left", suffixes=("", "_part"))
    assert len(per_point) == len(expected)
    np.testing.assert_array_equal(per_point["part"], expected["part"])
    np.testing.assert_allclose(per_point["value"], expected["y"].astype(float), rtol=RTOL_R)
    np.testing.assert_allclose(per_point["centre"], expected["cl"].astype(float), rtol=RTOL_R)
    pairs = {"n_obs": "n.obs", "n_useful": "n.useful", "longest_run": "longest.run",
             "longest_run_max": "longest.run.max", "n_crossings": "n.crossings", "n_crossings_min": "n.crossings.min"}
    for ours, theirs in pairs.items():
        np.testing.assert_array_equal(per_point[ours].astype(int), expected[theirs].astype(int), err_msg=ours)
    np.testing.assert_array_equal(per_point["runs_signal"].astype(bool), expected["runs.signal"].astype(bool))
    np.testing.assert_array_equal(points["baseline"], expected["baseline"].astype(bool))


# --------------------------------------------------------------------------- limits


def test_anhoej_limits_match_qicharts2_for_1_to_100(refdata):
    # round(log2(n)) + 3 and qbinom(0.05, n - 1, 0.5) in R 4.2.2 (A1_anhoej_thresholds_n1-100.csv)
    table = pd.read_csv(refdata / QIC / "A1_anhoej_thresholds_n1-100.csv")
    assert len(table) == 100
    for n, longest, crossings in table.itertuples(index=False):
        assert runchart.anhoej_limits(int(n)) == (int(longest), int(crossings)), n


def test_anhoej_limits_vignette_values():
    # qicharts2 vignette / EXPECTED.md: 24 useful points -> longest run > 8, crossings < 8; 9 -> 6 and 2
    assert runchart.anhoej_limits(24) == (8, 8)
    assert runchart.anhoej_limits(9) == (6, 2)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "10"])
def test_anhoej_limits_rejects_bad_counts(bad):
    with pytest.raises(AnalysisError, match="n_useful"):
        runchart.anhoej_limits(bad)


@pytest.mark.parametrize(("n_useful", "limits"), [
    (10, (3, 9)),  # Perla, Provost & Murray 2011, Table 1
    (24, (8, 18)),  # Perla et al. 2011, Table 1
    (30, (11, 21)),  # Perla et al. 2011, Table 1
])
def test_runs_limits_reproduce_perla_table(n_useful, limits):
    assert runchart.runs_limits(n_useful) == limits


def test_runs_limits_at_20_are_exact_not_the_printed_table():
    # Perla et al. 2011 Table 1 prints (6, 16) for 20 useful points. With 10 above and 10 below,
    # P(runs <= 6) = 0.0185 and P(runs >= 16) = 0.0185 (Swed & Eisenhart 1943), both within 0.025, so the
    # exact limits at alpha 0.05 two-sided are 7 and 15: 6 or 16 runs already signal. Documented deviation.
    assert runchart.runs_limits(20) == (7, 15)


def _brute_force_limits(n: int) -> tuple[int, int]:
    """Enumerate every placement of n // 2 'above' points among n and count runs: an independent check."""
    counts: dict[int, int] = {}
    for above in itertools.combinations(range(n), n // 2):
        sides = np.zeros(n, dtype=int)
        sides[list(above)] = 1
        runs = 1 + int(np.count_nonzero(np.diff(sides)))
        counts[runs] = counts.get(runs, 0) + 1
    total = math.comb(n, n // 2)
    lower = max(r for r in counts if sum(c for k, c in counts.items() if k < r) <= 0.025 * total)
    upper = min(r for r in counts if sum(c for k, c in counts.items() if k > r) <= 0.025 * total)
    return lower, upper


@pytest.mark.parametrize("n_useful", range(10, 19))
def test_runs_limits_match_enumeration(n_useful):
    assert runchart.runs_limits(n_useful) == _brute_force_limits(n_useful)


def test_runs_limits_small_and_bad_counts():
    assert runchart.runs_limits(0) == (0, 0)
    assert runchart.runs_limits(1) == (1, 1)
    with pytest.raises(AnalysisError, match="n_useful"):
        runchart.runs_limits(-3)


# --------------------------------------------------------------------------- qicharts2 fixtures


@pytest.mark.parametrize("case", sorted(QIC_CASES))
def test_anhoej_rules_match_qicharts2(refdata, case):
    expected_file, input_file, options = QIC_CASES[case]
    expected = pd.read_csv(refdata / QIC / expected_file)
    result = _fit(_qic_input(refdata, input_file), **options)
    _check_against_qic(result, expected)


def test_median_ties_r4(refdata):
    # qic(x, y, data = R4_median_ties, chart = "run"): 11 of 20 points on the median 5 -> n.obs 20, n.useful 9,
    # longest.run 2 (max 6), n.crossings 7 (min 2), no signal
    frame = _qic_input(refdata, "R4_median_ties_input.csv")
    with pytest.warns(ShortSeriesWarning, match="9 points off the median"):
        result = runchart.fit(frame, value_col="y", date_col="x")
    row = result.summary().iloc[0]
    assert (row["n_obs"], row["n_useful"], row["longest_run"], row["longest_run_max"]) == (20, 9, 2, 6)
    assert (row["n_crossings"], row["n_crossings_min"], bool(row["runs_signal"])) == (7, 2, False)
    assert result.points()["useful"].sum() == 9


def test_part_by_period_labels_c7(refdata):
    # qic(month, n, data = cdi, chart = "run", part = period): parts from the pre/post labels; medians 19 and 6
    cdi = pd.read_csv(refdata / QIC / "D_cdi_input.csv")
    first_post = cdi.loc[cdi["period"] == "post", "month"].iloc[0]
    result = runchart.fit(cdi, value_col="n", date_col="month", part=[first_post])
    expected = pd.read_csv(refdata / QIC / "C7_run_cdi_part_by_period_label_expected.csv")
    _check_against_qic(result, expected)
    assert result.summary()["centre"].tolist() == [19.0, 6.0]


def test_freeze_runs_analysis_uses_all_points_c2(refdata):
    # qic(..., freeze = 24): median 19 from the first 24 points, runs analysis on all 36 (n.useful 31);
    # the vignette's "unusually long run of 15"
    cdi = pd.read_csv(refdata / QIC / "D_cdi_input.csv")
    result = runchart.fit(cdi, value_col="n", date_col="month", baseline="2014-10-01")
    row = result.summary().iloc[0]
    assert (row["centre"], row["n_baseline"], row["n_useful"], row["longest_run"]) == (19.0, 24, 31, 15)
    assert result.points()["long_run"].sum() == 15
    assert result.options["baseline_end"] == pd.Timestamp("2014-10-01")


def test_python_crosscheck_qicharts2_rows(refdata):
    # python_crosscheck/C_runs.csv: what other Python packages report (pyqicharts' crossings minimum is one lower,
    # clinical-qikit uses floor and >=); informational: only the qicharts2 rows are asserted
    table = pd.read_csv(refdata / "spc/python_crosscheck/C_runs.csv")
    inputs = {"R1_run_rnorm24_seed2": "R1_rnorm24_seed2_input.csv", "R3_run_vignette_shift2sd":
              "R3_vignette_shift2sd_input.csv", "R4_run_median_ties": "R4_median_ties_input.csv",
              "R5_run_trend_1to50": "R5_trend_1to50_input.csv", "C1_run_cdi": "D_cdi_input.csv"}
    rows = table[table["tool"] == "qicharts2"]
    assert len(rows) == len(inputs)
    for row in rows.itertuples(index=False):
        ours = _fit(_qic_input(refdata, inputs[row.set])).summary().iloc[0]
        got = (ours["n_useful"], ours["longest_run"], ours["longest_run_max"], ours["n_crossings"],
               ours["n_crossings_min"], bool(ours["signal"]))
        assert got == (int(row.n_useful), int(row.longest), int(row.longest_max), int(row.cross),
                       int(row.cross_min), row.signal), row.set


# --------------------------------------------------------------------------- IHI rules


def _series(values, start="2020-01-01") -> pd.DataFrame:
    return pd.DataFrame({"month": pd.date_range(start, periods=len(values), freq="MS"), "y": values})


def _ihi(values, **options) -> runchart.RunChartResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShortSeriesWarning)
        return runchart.fit(_series(values), value_col="y", date_col="month", rules="ihi", **options)


# 13 points alternating around the median 10, then the test stretch, then 13 more alternating
ALTERNATE = [8, 12, 7, 13, 9, 11, 8, 12, 7, 13, 9, 11, 8]


def test_shift_of_six_is_flagged():
    values = ALTERNATE + [14, 15, 14, 16, 15, 14] + [7, 13, 8, 12, 9, 11, 7, 13, 8, 12, 9, 11, 7, 6, 5, 4, 9, 8]
    points = _ihi(values, baseline=len(ALTERNATE)).points()
    assert points["centre"].iloc[0] == 9.0
    assert points.loc[13:18, "shift"].all() and points["shift"].sum() == 6


def test_shift_of_five_is_not_flagged():
    values = ALTERNATE + [14, 15, 14, 16, 15] + [7, 13, 8, 12, 9, 11, 7, 13, 8, 12]
    result = _ihi(values, baseline=len(ALTERNATE))
    assert not result.points()["shift"].any()
    assert not result.summary()["shift_signal"].iloc[0]


def test_points_on_the_median_neither_make_nor_break_a_shift():
    # median 10 (baseline); 3 above, one on the median, 3 above: a shift of 6, the median point not in it
    values = [8, 12, 7, 13, 10, 11, 8, 12, 11, 9, 10] + [14, 15, 13, 10, 16, 15, 14] + [7, 13, 8, 12, 9]
    result = _ihi(values, baseline=11)
    points = result.points()
    assert points["centre"].iloc[0] == 10.0
    assert not points.loc[14, "useful"] and not points.loc[14, "shift"]
    assert points.loc[[11, 12, 13, 15, 16, 17], "shift"].all() and points["shift"].sum() == 6
    assert points.loc[[11, 12, 13, 15, 16, 17], "run_id"].nunique() == 1


def test_trend_of_five_with_a_tie_inside():
    # 7 -> 2, then 2, 3, 3, 4, 5, 6: five distinct rising values; the repeated 3 is not counted and does not
    # break the trend, so all six rows (5..10) are in it
    values = [5, 1, 5, 1, 7, 2, 3, 3, 4, 5, 6, 1, 5, 1, 5]
    result = _ihi(values)
    points = result.points()
    assert points.loc[5:10, "trend"].all() and points["trend"].sum() == 6
    row = result.summary().iloc[0]
    assert (row["longest_trend"], row["trend_direction"], bool(row["trend_signal"])) == (5, "up", True)


def test_four_distinct_values_with_a_tie_are_not_a_trend():
    values = [5, 1, 5, 1, 2, 2, 3, 4, 1, 5, 1, 5]  # 1, 2, 2, 3, 4: four distinct rising values
    result = _ihi(values)
    assert not result.points()["trend"].any()
    assert result.summary()["longest_trend"].iloc[0] == 4


def test_trend_direction_and_turning_point():
    # up 1..5 then down 5..1: the peak belongs to the up trend it ends (high)
    values = [1, 2, 3, 4, 5, 4, 3, 2, 1]
    points = _ihi(values, improvement_direction="increase").points()
    assert points["trend"].all()
    assert points["signal_type"].tolist()[:5] == ["improvement"] * 5
    assert points["signal_type"].tolist()[5:] == ["concern"] * 4


def test_runs_count_signal():
    # 20 useful points in 2 runs (10 below, 10 above): fewer than the 7 runs the exact limits need
    values = list(range(1, 11)) + list(range(11, 21))
    row = _ihi(values).summary().iloc[0]
    assert (row["n_runs"], row["runs_lower"], row["runs_upper"]) == (2, 7, 15)
    assert row["runs_count_signal"] and row["signal"]


def test_runs_count_needs_ten_useful_points():
    row = _ihi([1, 9, 2, 8, 3, 7, 4, 6, 5]).summary().iloc[0]
    assert pd.isna(row["runs_lower"]) and not row["runs_count_signal"]


def test_astronomical_point_is_flagged_not_a_signal():
    values = [10, 11, 9, 10, 12, 8, 11, 9, 10, 11, 40, 9, 10, 11, 9]
    result = _ihi(values, improvement_direction="decrease")
    points = result.points()
    assert points["astronomical"].tolist() == [i == 10 for i in range(15)]
    assert not points.loc[10, "signal"] and points.loc[10, "signal_type"] == ""
    assert result.summary()["astronomical_points"].iloc[0] == 1
    assert "judge whether astronomical" in result.narrative()


# --------------------------------------------------------------------------- missing values


def test_missing_value_inside_a_run_does_not_break_it():
    run = [1, 2, 3, 4, np.nan, 5, 6, 7, 8]  # 8 values below the median with a gap in the middle
    values = [40, 9, 41, 10, 42, 11, 43, 44] + run + [45, 46, 47, 48, 49]  # median 11: 20 useful, run limit 7
    result = _fit(_series(values).rename(columns={"month": "x"}), rules="both")
    points, row = result.points(), result.summary().iloc[0]
    gap = 12
    assert np.isnan(points.loc[gap, "value"]) and not points.loc[gap, "useful"] and pd.isna(points.loc[gap, "run_id"])
    assert points.loc[8:16, "run_id"].dropna().nunique() == 1
    assert row["longest_run"] == 8 and row["n_missing"] == 1
    assert not points.loc[gap, "long_run"] and not points.loc[gap, "shift"]
    for rule in ("long_run", "shift"):
        assert points.loc[[8, 9, 10, 11, 13, 14, 15, 16], rule].all() and points[rule].sum() == 8, rule
    assert row["centre"] == 11.0 and row["n_useful"] == 20 and bool(row["runs_signal"])
    dropped = _fit(_series(values).rename(columns={"month": "x"}).dropna(), rules="both").summary().iloc[0]
    for column in ("n_useful", "longest_run", "n_crossings", "centre", "longest_run_max", "n_crossings_min"):
        assert row[column] == dropped[column], column


def test_missing_value_at_the_end_flags_nothing():
    values = [8, 12, 7, 13, 9, 11, 8, 12, 7, 13, 9, 11, np.nan]
    points = _fit(_series(values).rename(columns={"month": "x"}), rules="both").points()
    last = points.iloc[-1]
    assert not last["useful"] and not last["signal"] and last["signal_type"] == ""
    assert not last[["long_run", "shift", "trend", "astronomical"]].any()
    assert np.isnan(last["value"]) and last["centre"] == 10.0


# --------------------------------------------------------------------------- options and results


def test_signal_type_follows_improvement_direction(refdata):
    cdi = pd.read_csv(refdata / QIC / "D_cdi_input.csv")
    kinds = {}
    for direction in ("increase", "decrease", "neutral"):
        points = runchart.fit(cdi, value_col="n", date_col="month", baseline=24,
                              improvement_direction=direction).points()
        kinds[direction] = set(points.loc[points["signal"], "signal_type"])
    assert kinds == {"increase": {"concern"}, "decrease": {"improvement"}, "neutral": {"neutral_low"}}


def test_rules_not_chosen_are_empty(refdata):
    cdi = pd.read_csv(refdata / QIC / "D_cdi_input.csv")
    anhoej = runchart.fit(cdi, value_col="n", date_col="month", baseline=24)
    assert list(anhoej.points().columns) == list(POINT_COLUMNS)
    assert list(anhoej.summary().columns) == list(SUMMARY_COLUMNS)
    assert not anhoej.points()[["shift", "trend", "astronomical"]].any().any()
    assert anhoej.summary()[["runs_lower", "shift_signal", "astronomical_points"]].isna().all().all()
    ihi = runchart.fit(cdi, value_col="n", date_col="month", baseline=24, rules="ihi")
    assert not ihi.points()["long_run"].any() and ihi.points()["shift"].sum() == 15
    assert ihi.summary()[["longest_run_max", "n_crossings_min", "runs_signal"]].isna().all().all()


def test_denominator_and_unsorted_input(refdata):
    cdi = pd.read_csv(refdata / QIC / "D_cdi_input.csv")
    shuffled = cdi.sample(frac=1, random_state=3)
    original = shuffled.copy()
    result = runchart.fit(shuffled, value_col="n", date_col="month", denominator_col="days", part=["2014-11-01"])
    pd.testing.assert_frame_equal(shuffled, original)
    points = result.points()
    assert points["date"].is_monotonic_increasing
    np.testing.assert_allclose(points["value"], cdi["n"] / cdi["days"].astype(float), rtol=1e-15)
    assert "n per days" in result.narrative()


def test_zero_denominator_is_missing_with_a_warning():
    frame = _series([3, 4, 5, 6, 2, 3, 4, 5, 6, 7, 3, 4, 8, 1]).assign(den=[10] * 13 + [0])
    with pytest.warns(DataQualityWarning, match="zero or missing 'den'"):
        result = runchart.fit(frame, value_col="y", date_col="month", denominator_col="den")
    assert np.isnan(result.points()["value"].iloc[-1])


def test_caller_frame_is_not_modified(refdata):
    cdi = pd.read_csv(refdata / QIC / "D_cdi_input.csv")
    before = cdi.copy()
    runchart.fit(cdi, value_col="n", date_col="month", rules="both", baseline="2014-10-01").points()
    pd.testing.assert_frame_equal(cdi, before)


def test_short_baseline_warns():
    with pytest.warns(ShortBaselineWarning, match="5 values"):
        runchart.fit(_series(ALTERNATE), value_col="y", date_col="month", baseline=5)


def test_input_errors():
    frame = _series(ALTERNATE)
    with pytest.raises(AnalysisError, match=r"no column 'count'.*columns are \['month', 'y'\]"):
        runchart.fit(frame, value_col="count", date_col="month")
    twice = pd.concat([frame, frame.iloc[[3]]])
    with pytest.raises(AnalysisError, match="repeats the date.*2020-04-01.*one row per period"):
        runchart.fit(twice, value_col="y", date_col="month")
    with pytest.raises(AnalysisError, match="rules must be one of 'anhoej', 'ihi', 'both'; got 'weco'"):
        runchart.fit(frame, value_col="y", date_col="month", rules="weco")
    with pytest.raises(AnalysisError, match="improvement_direction must be one of"):
        runchart.fit(frame, value_col="y", date_col="month", improvement_direction="up")
    with pytest.raises(AnalysisError, match="must be numeric"):
        runchart.fit(frame.assign(y="a"), value_col="y", date_col="month")
    with pytest.raises(AnalysisError, match="not dates"):
        runchart.fit(frame.assign(month="soon"), value_col="y", date_col="month")
    with pytest.raises(AnalysisError, match="part starts at 2030-01-01, outside the data"):
        runchart.fit(frame, value_col="y", date_col="month", part="2030-01-01")
    with pytest.raises(AnalysisError, match="baseline ends at 2020-08-01, outside part 1"):
        runchart.fit(frame, value_col="y", date_col="month", part=["2020-06-01"], baseline="2020-08-01")
    with pytest.raises(AnalysisError, match="baseline=20 points"):
        runchart.fit(frame, value_col="y", date_col="month", baseline=20)
    with pytest.raises(AnalysisError, match="leave part 2 without any point"):
        runchart.fit(frame, value_col="y", date_col="month", part=["2020-05-10", "2020-05-20"])
    with pytest.raises(AnalysisError, match="DataFrame"):
        runchart.fit(frame.to_dict(), value_col="y", date_col="month")


def test_narrative_snapshot(refdata):
    cdi = pd.read_csv(refdata / QIC / "D_cdi_input.csv")
    result = runchart.fit(cdi, value_col="n", date_col="month", baseline=24, improvement_direction="decrease")
    assert result.narrative() == (
        "Run chart of n: 36 points from Nov 2012 to Oct 2015. Median 19, taken from the first 24 values (to Oct "
        "2014) and extended; 31 of 36 points off the median. Anhøj rules: an unusually long run of 15 points below "
        "the median (more than 8 is unusual for 31 useful points) and unusually few crossings of the median (8; "
        "fewer than 11 is unusual): non-random variation, a sign of improvement (lower is better). The Anhøj "
        "rules treat each point as an independent draw above or below the median, like a coin toss: with "
        "independent points the chance of a false signal stays near 5% whatever the number of points (Anhøj & "
        "Olesen 2014), but autocorrelated data (seasonality, overlapping periods, rolling figures) make long runs "
        "and few crossings likely by chance alone. A run chart shows whether the variation looks random, not "
        "why: a signal needs an explanation from what happened in the process, and no signal is not proof that "
        "nothing changed. Each part's median is taken from its baseline points and held fixed over the part."
    )
    assert result.narrative().endswith(result.assumptions())


def test_narrative_parts_and_ihi(refdata):
    cdi = pd.read_csv(refdata / QIC / "D_cdi_input.csv")
    text = runchart.fit(cdi, value_col="n", date_col="month", part="2014-11-01", rules="both").narrative()
    assert "in 2 parts" in text and "Part 2 (Nov 2014 to Oct 2015): median 6; 12 of 12 points off the median" in text
    assert "IHI rules: no shift (longest run 4), no trend (longest 3 points) and 5 runs within 4 to 10." in text
    assert "The IHI rules (Perla, Provost & Murray 2011)" in text


def test_plot_and_alt_text(refdata):
    cdi = pd.read_csv(refdata / QIC / "D_cdi_input.csv")
    result = runchart.fit(cdi, value_col="n", date_col="month", baseline=24, rules="both",
                          improvement_direction="decrease")
    ax = result.plot()
    assert isinstance(ax, Axes) and ax.get_title() == ""
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "signal: improvement" in labels and "astronomical? (judge)" in labels
    _, given = plt.subplots()
    assert result.plot(ax=given) is given
    plt.close("all")
    assert result.alt_text() == ("Run chart of n, 36 points from Nov 2012 to Oct 2015. Median 19; longest run 15; "
                                 "8 crossings; 15 points highlighted; non-random variation.")


def test_numeric_periods_and_result_is_frozen():
    result = runchart.fit(pd.DataFrame({"t": range(1, 13), "y": ALTERNATE[:12]}), value_col="y", date_col="t",
                          baseline=12, part=None)
    assert result.points()["date"].tolist() == list(range(1, 13))
    assert "12 points from 1 to 12" in result.narrative()
    with pytest.raises(AttributeError):
        result.options = {}
