"""SPC charts against NHS England's Making Data Count test suite, NHSRplotthedots and PowerBI-SPC's rule tests.

Sources (all under ../shared/refdata/spc/, each folder's EXPECTED.md names repository and commit):
* nhse_mdc_xmr_testing: the MDC team's XmR checklist for the Single Chart Tool v5.0, with the expected colour of
  every point of 35 cases (NHSDigital/fdp-react-design-system 00d48e5, test-data/Test Data.csv).
* nhsrplotthedots: outputs of NHSRplotthedots 0.2.2 ptd_spc() (nhs-r-community/NHSRplotthedots 050b07d).
* powerbi_spc: PowerBI-SPC's unit tests of its rule helpers (AUS-DOH-Safety-and-Quality/PowerBI-SPC 478773a).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from evalkit.errors import AnalysisError, DataQualityWarning, ShortSeriesWarning
from evalkit.stats import spc, spc_result, spc_rules

MDC = "spc/nhse_mdc_xmr_testing"
PTD = "spc/nhsrplotthedots"
COLOURS = {"grey": "common_cause", "blue": "special_cause_improvement", "orange": "special_cause_concern",
           "purple": "special_cause_neutral"}
# NHSRplotthedots 0.2.2 defaults: 7-point shift and trend, screened moving ranges, limits for any n, rules kept
# within a rebase group, label precedence decides a point's type (its EXPECTED.md, "What the package computes")
PTD_SETTINGS = {"shift_points": 7, "trend_points": 7, "screen_outliers": True, "min_points": None,
                "rules_across_phases": False, "conflict": "precedence"}
# The MDC case whose expected colours no documented rule reproduces (EXPECTED.md: "Known suspect point"):
# point 15 (value 27) is blue in the source CSV, but the mean is 25.8 and the two-sigma line 35.23, the case
# text describes points 1-14 only, and no shift, trend or limit rule reaches it.
MDC_SUSPECT = {("Special cause conflict - High is good", 15)}


def _colour(point_type: object) -> str:
    if not isinstance(point_type, str) or point_type == "common_cause":
        return "grey"
    return {"special_cause_improvement": "blue", "special_cause_concern": "orange"}.get(point_type, "purple")


@pytest.fixture
def mdc(refdata):
    data = pd.read_csv(refdata / MDC / "mdc_test_data.csv", parse_dates=["date"])
    cases = pd.read_csv(refdata / MDC / "mdc_cases.csv")
    return data, cases


def _mdc_fit(data: pd.DataFrame, case: pd.Series, **extra) -> spc.SpcResult:
    series = data[data["case"] == case["case"]].sort_values("point")
    options = {"improvement_direction": case["improvement"]}
    if pd.notna(case["recalc_at_point"]):
        options["rebase"] = [series["date"].iloc[int(case["recalc_at_point"]) - 1]]
    if pd.notna(case["baseline_points"]):
        options["baseline"] = int(case["baseline_points"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShortSeriesWarning)
        return spc.fit(series, value_col="value", date_col="date", chart="xmr", **options, **extra)


def test_mdc_test_suite_every_case(mdc):
    """All 35 cases of the MDC checklist, every point's colour (shift 6, trend 6, no screening, >= 13 points)."""
    data, cases = mdc
    failures = []
    for _, case in cases.iterrows():
        result = _mdc_fit(data, case)
        got = result.points()["point_type"].map(_colour).to_numpy()
        expected = data[data["case"] == case["case"]].sort_values("point")["expected_colour"].to_numpy()
        wrong = [i + 1 for i in range(len(got)) if got[i] != expected[i] and (case["case"], i + 1) not in MDC_SUSPECT]
        if wrong:
            failures.append(f"{case['case']}: points {wrong} got {[got[i - 1] for i in wrong]}, "
                            f"expected {[expected[i - 1] for i in wrong]}")
    assert not failures, "\n".join(failures)


def test_mdc_suspect_point_is_the_only_difference(mdc):
    """Documented exception: the one point of the 35 cases evalkit does not colour as the CSV does."""
    data, cases = mdc
    case = cases[cases["case"] == "Special cause conflict - High is good"].iloc[0]
    points = _mdc_fit(data, case).points()
    assert points["point_type"].iloc[14] == "common_cause"  # the CSV says blue; see MDC_SUSPECT
    assert points["value"].iloc[14] == 27
    assert points["centre"].iloc[14] == pytest.approx(25.8)  # mdc_cases.csv derived_mean_last_partition


def test_mdc_limits_and_variation_icons(mdc):
    """Limits of the last partition and the variation icon, from mdc_cases.csv (published and derived columns)."""
    data, cases = mdc
    for _, case in cases.iterrows():
        result = _mdc_fit(data, case)
        last = result.summary().iloc[-1]
        expected_icon = case["expected_variation_icon_derived"].replace("neither_", "neutral_")
        if expected_icon.startswith("none"):
            assert not result.has_limits and result.variation_icon == "none", case["case"]
            continue
        assert result.variation_icon == expected_icon, case["case"]
        assert last["centre"] == pytest.approx(case["derived_mean_last_partition"], rel=1e-9), case["case"]
        assert last["upl"] == pytest.approx(case["derived_upl"], rel=1e-9), case["case"]
        assert last["lpl"] == pytest.approx(case["derived_lpl"], rel=1e-9), case["case"]
        points = result.points()
        assert points["upper_2sigma"].iloc[-1] == pytest.approx(case["derived_upper_2sigma"], rel=1e-9)
        if pd.notna(case["published_upl"]):  # "Process limits - 15" printed in the checklist: 23.20, 37.64, 8.76
            assert (last["centre"], last["upl"], last["lpl"]) == pytest.approx(
                (case["published_mean"], case["published_upl"], case["published_lpl"]), abs=0.005)


def test_mdc_assurance_icons(refdata, mdc):
    """Assurance icons for targets 40/30/10 with and without a recalculation (mdc_assurance_expected.csv)."""
    data, cases = mdc
    expected = pd.read_csv(refdata / MDC / "mdc_assurance_expected.csv")
    names = {"pass": "consistent_pass", "fail": "consistent_fail", "hit_or_miss": "inconsistent"}
    series = data[data["case"] == "Summary icons - assurance - high is good"].sort_values("point")
    for _, row in expected.iterrows():
        options = {"rebase": [series["date"].iloc[int(row["recalc_at_point"]) - 1]]} if pd.notna(
            row["recalc_at_point"]) else {}
        result = spc.fit(series, value_col="value", date_col="date", chart="xmr",
                         improvement_direction=row["improvement"], target=row["target"], **options)
        assert result.points()["upl"].iloc[-1] == pytest.approx(row["upl_last_partition"], rel=1e-9)
        assert result.assurance_type == names.get(row["expected_assurance_icon_derived"]), dict(row)


# --------------------------------------------------------------------------- NHSRplotthedots

PTD_CASES = {  # expected file -> ptd_spc() arguments (EXPECTED.md "Fixtures"); rebase read from rebase_group
    "F1a_rnorm20": {},
    "F1b_rnorm20_outlier_screened": {},
    "F1c_rnorm20_outlier_unscreened": {"screen_outliers": False},
    "F1d_rnorm20_fix12": {"fix_after_n_points": 12},
    "F1e_rnorm20_rebase_2020-01-11": {},
    "F1f_rnorm20_target0.5": {"target": 0.5},
    "F2a_deviations_screened": {},
    "F2b_deviations_unscreened": {"screen_outliers": False},
    "F3_two_in_three_opposite": {},
    "F4_rules_showcase_fix24_increase": {"fix_after_n_points": 24},
    "F4_rules_showcase_fix24_decrease": {"fix_after_n_points": 24, "improvement_direction": "decrease"},
    "F4_rules_showcase_fix24_neutral": {"fix_after_n_points": 24, "improvement_direction": "neutral"},
    "F4_rules_showcase_nofix_increase": {},
    "F5a_ae_RRK_stable_decrease": {"improvement_direction": "decrease"},
    "F5b_ae_RRK_rebase_2018-07-01_decrease": {"improvement_direction": "decrease"},
    "F5c_ae_RRK_full_norebase_decrease": {"improvement_direction": "decrease"},
    "F6a_ae_6orgs_performance_target0.95": {"target": 0.95},
    "F6b_ae_6orgs_breaches_named_targets": {"improvement_direction": "decrease"},
}


def _ptd_fit(group: pd.DataFrame, options: dict) -> spc.SpcResult:
    group = group.sort_values("x")
    rebase = group["x"][group["rebase_group"].diff().fillna(0) != 0].tolist()
    target = group["target"].dropna().unique()
    options = {"improvement_direction": "increase", **PTD_SETTINGS, **options}
    if len(target) and "target" not in options:
        options["target"] = float(target[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShortSeriesWarning)
        return spc.fit(group, value_col="y", date_col="x", chart="xmr", rebase=rebase, **options)


@pytest.mark.parametrize("name", sorted(PTD_CASES))
def test_nhsrplotthedots_points(refdata, name):
    """Per point: mean, limits (rel 1e-9) and point_type, per facet, as ptd_spc() returns them."""
    expected = pd.read_csv(refdata / PTD / f"{name}_expected.csv", parse_dates=["x"])
    for facet, group in expected.groupby("f", sort=False):
        got = _ptd_fit(group, PTD_CASES[name]).points()
        group = group.sort_values("x")
        np.testing.assert_allclose(got["centre"], group["mean_col"], rtol=1e-9, err_msg=f"{name} {facet}")
        np.testing.assert_allclose(got["upl"], group["upl"], rtol=1e-9, err_msg=f"{name} {facet}")
        np.testing.assert_allclose(got["lpl"], group["lpl"], rtol=1e-9, err_msg=f"{name} {facet}")
        assert got["point_type"].tolist() == group["point_type"].tolist(), f"{name} {facet}"


F4_SUMMARY = {"F4_rules_showcase_fix24_increase": "F4_increase", "F4_rules_showcase_fix24_decrease": "F4_decrease",
              "F4_rules_showcase_fix24_neutral": "F4_neutral", "F4_rules_showcase_nofix_increase": "F4_nofix_increase"}


def test_nhsrplotthedots_summaries(refdata):
    """variation_type and assurance_type per facet and rebase group (SUMMARY_expected.csv)."""
    summary = pd.read_csv(refdata / PTD / "SUMMARY_expected.csv")
    for name, options in PTD_CASES.items():
        case = F4_SUMMARY.get(name, name.split("_")[0])
        rows = summary[summary["case"] == case]
        expected = pd.read_csv(refdata / PTD / f"{name}_expected.csv", parse_dates=["x"])
        for facet, group in expected.groupby("f", sort=False):
            got = _ptd_fit(group, options).summary()
            want = rows[rows["f"] == facet] if rows["f"].notna().any() else rows
            assert len(got) == len(want), (name, facet)
            for (_, g), (_, w) in zip(got.iterrows(), want.iterrows(), strict=True):
                assert g["n"] == w["n"] and g["variation_type"] == w["variation_type"], (name, facet)
                assert g["special_cause_improvement"] == w["special_cause_improvement"], (name, facet)
                assert g["special_cause_concern"] == w["special_cause_concern"], (name, facet)
                assert g["centre"] == pytest.approx(w["mean_col"], rel=1e-9)
                if pd.notna(w["assurance_type"]):
                    assert g["assurance_type"] == w["assurance_type"], (name, facet)


def test_nhsrplotthedots_rule_helpers(refdata):
    """The package's own unit-test vectors for its rule helpers (helper_rule_vectors.json)."""
    vectors = json.loads((refdata / PTD / "helper_rule_vectors.json").read_text())
    for case in vectors["seven_point_one_side_mean"]["cases"]:
        signs = np.array(case["in"], dtype=float)
        flags = spc_rules.shift(signs, np.zeros_like(signs), 7)
        # the package marks the 7th and later points of a run; evalkit flags the whole run, as MDC colours it
        marks, count = [], 0
        for i, flag in enumerate(flags):
            count = count + 1 if flag and i and flags[i - 1] == flag else int(flag != 0)
            marks.append(int(count >= 7))
        assert marks == case["out"], case
    for case in vectors["seven_point_trend"]["cases"]:
        up, down = spc_rules.trend(np.array(case["in"], dtype=float), 7)
        out = np.array(case["out"])
        # the package marks the 7th point of a run; every marked point is the end of a run evalkit flags whole
        for i in np.flatnonzero(out):
            assert (up if out[i] > 0 else down)[i - 6:i + 1].all()
        assert up.sum() + down.sum() == 7 * (out != 0).sum()
    for case in vectors["part_of_two_in_three"]["cases"]:
        close = np.array(case["close"], dtype=bool)
        rtm = np.array(case["rtm"], dtype=float)
        value = np.where(close, 2.5 * rtm, 0.5 * rtm)  # beyond the 2-sigma line (2) but inside the limit (3)
        n = len(value)
        got = spc_rules.two_in_three(value, np.zeros(n), np.full(n, -2.0), np.full(n, 2.0), np.full(n, -3.0),
                                     np.full(n, 3.0))
        assert (got != 0).astype(int).tolist() == case["out"], case
    assurance = vectors["assurance"]
    for direction in ("increase", "decrease", "neutral"):
        got = [spc.assurance_type(row["target"], row["lpl"], row["upl"], direction)
               for row in assurance["input_rows"]]
        assert got == assurance[direction]


# --------------------------------------------------------------------------- PowerBI-SPC rule unit tests


def test_powerbi_rule_unit_cases(refdata):
    """PowerBI-SPC's shift / trend / twoInThree / astronomical unit tests (rule_unit_cases.json)."""
    rules = json.loads((refdata / "spc/powerbi_spc/rule_unit_cases.json").read_text())["rules"]
    word = {1: "upper", -1: "lower", 0: "none"}
    for case in rules["shift"]["cases"]:
        got = spc_rules.shift(np.array(case["val"], float), np.array(case["targets"], float), case["n"])
        assert [word[g] for g in got] == case["expected"], case["title"]
    for case in rules["trend"]["cases"]:
        up, down = spc_rules.trend(np.array(case["val"], float), case["n"])
        # a turning point in both an up and a down run: PowerBI-SPC reports the run that starts there
        value = np.array(case["val"], float)
        got = []
        for i in range(len(value)):
            if up[i] and down[i]:
                got.append("upper" if i + 1 < len(value) and value[i + 1] > value[i] else "lower")
            else:
                got.append("upper" if up[i] else "lower" if down[i] else "none")
        assert got == case["expected"], case["title"]
    for case in rules["twoInThree"]["cases"]:
        n = len(case["val"])
        got = spc_rules.two_in_three(np.array(case["val"], float), np.full(n, np.nan), np.array(case["ll95"], float),
                                     np.array(case["ul95"], float), same_side=False,
                                     highlight_window=case["highlight_series"])
        assert [word[g] for g in got] == case["expected"], case["title"]
    for case in rules["astronomical"]["cases"]:
        got = spc_rules.outside_limits(case["val"], case["ll99"], case["ul99"])
        assert [word[g] for g in got] == case["expected"], case["title"]


# --------------------------------------------------------------------------- behaviour


def _series(values, start="2020-01-01", **cols) -> pd.DataFrame:
    return pd.DataFrame({"period": pd.date_range(start, periods=len(values), freq="MS"), "y": values, **cols})


def test_missing_values_never_create_signals(refdata):
    """NHSRplotthedots issue 156: setting the last point to NA made 5 points special cause. Not here."""
    rrk = pd.read_csv(refdata / PTD / "F5_ae_RRK_type1_input.csv", parse_dates=["period"])
    stable = rrk[rrk["period"] < "2018-04-01"].copy()
    before = spc.fit(stable, value_col="breaches", date_col="period", improvement_direction="decrease",
                     **PTD_SETTINGS).points()
    stable.loc[stable["period"] == "2018-03-01", "breaches"] = np.nan
    after = spc.fit(stable, value_col="breaches", date_col="period", improvement_direction="decrease",
                    **PTD_SETTINGS).points()
    assert after["point_type"].iloc[-1] is None
    # the limits move (one point fewer), but no point turns special cause because of the gap
    newly = (after["special_cause"] & ~before["special_cause"]).iloc[:-1]
    assert not newly.any()


def test_missing_value_inside_a_run_neither_makes_nor_breaks_it():
    values = [10, 11, 9, 10, 12, 8, 10, 11, 9, 10, 11, 9, 10, 13, 14, 13, np.nan, 14, 13, 14, 9, 10]
    points = spc.fit(_series(values), value_col="y", date_col="period", improvement_direction="increase",
                     baseline=13).points()
    run = points.iloc[13:20]
    assert run["point_type"].dropna().eq("special_cause_improvement").all()  # 6 observed points above the mean
    assert run["shift"].iloc[[0, 1, 2, 4, 5, 6]].eq(1).all()
    assert points["point_type"].iloc[16] is None and not points["special_cause"].iloc[16]


def test_short_series_has_no_limits_and_warns():
    with pytest.warns(ShortSeriesWarning, match="fewer than the 13"):
        result = spc.fit(_series(list(range(10))), value_col="y", date_col="period")
    assert not result.has_limits
    assert result.variation_icon == "none" and result.assurance_type is None
    assert "run chart" in result.reading()


def test_gap_in_months_is_reported():
    frame = _series([5.0] * 7 + [6.0] * 7 + [5.0]).drop(index=[3])
    with pytest.warns(DataQualityWarning, match="1 month"):
        result = spc.fit(frame, value_col="y", date_col="period")
    assert any("Apr 2020" in w for w in result.warnings)


def test_auto_chart_choice_records_why():
    rng = np.random.default_rng(1)
    n = rng.integers(900, 1100, size=24)
    steady = spc.fit(_series(rng.binomial(n, 0.2), n=n), value_col="y", denominator_col="n", date_col="period",
                     kind="proportion", multiply=100)
    assert steady.chart == "p" and "no over-dispersion" in steady.chart_reason
    wobbly = rng.binomial(n, rng.uniform(0.1, 0.3, size=24))
    laney = spc.fit(_series(wobbly, n=n), value_col="y", denominator_col="n", date_col="period", kind="proportion")
    assert laney.chart == "pp" and "Laney" in laney.chart_reason
    counts = spc.fit(_series(rng.poisson(rng.gamma(2, 10, size=24))), value_col="y", date_col="period", kind="count")
    assert counts.chart == "xmr" and "Poisson" in counts.chart_reason
    poisson = np.random.default_rng(3).poisson(20, size=24)
    assert spc.fit(_series(poisson), value_col="y", date_col="period", kind="count").chart == "c"


def test_events_and_caller_data_untouched():
    frame = _series(list(np.arange(20.0) % 5))
    copy = frame.copy()
    result = spc.fit(frame, value_col="y", date_col="period", events=[("2020-06-01", "PDSA 1")])
    pd.testing.assert_frame_equal(frame, copy)
    assert result.events[0][1] == "PDSA 1"


@pytest.mark.parametrize(("options", "message"), [
    ({"value_col": "nope"}, "value_col='nope' is not a column"),
    ({"chart": "xbar"}, "chart must be one of"),
    ({"improvement_direction": "up"}, "improvement_direction must be one of"),
    ({"chart": "p"}, "needs denominator_col"),
    ({"rebase": ["2030-01-01"]}, "rebase date 2030-01-01 is outside"),
    ({"baseline": 12, "fix_after_n_points": 12}, "not both"),
    ({"shift_points": 0}, "shift_points must be a whole number"),
])
def test_bad_options_name_the_option(options, message):
    frame = _series(list(np.arange(20.0)))
    args = {"value_col": "y", "date_col": "period", **options}
    with pytest.raises(AnalysisError, match=message):
        spc.fit(frame, **args)


def test_duplicate_dates_are_refused():
    frame = pd.concat([_series([1.0, 2.0]), _series([3.0])])
    with pytest.raises(AnalysisError, match="2020-01-01 appears more than once"):
        spc.fit(frame, value_col="y", date_col="period")


def test_narrative_and_alt_text_snapshot(refdata):
    rrk = pd.read_csv(refdata / PTD / "F5_ae_RRK_type1_input.csv", parse_dates=["period"])
    result = spc.fit(rrk[rrk["period"] < "2018-04-01"], value_col="breaches", date_col="period",
                     improvement_direction="decrease")
    assert result.reading("breaches") == (
        "Common cause variation: no signal at the latest point (Mar 2018), mean 1,712 breaches, limits 749 to 2,675; "
        "last signal Sep 2017.")
    assert result.narrative().endswith("seasonality or autocorrelation can produce runs that are not a change in "
                                       "the process.")
    alt = result.alt_text("A&E breaches", "breaches")
    assert alt.startswith("XmR chart of A&E breaches from Apr 2016 to Mar 2018, 24 points. Phase 1")


# --------------------------------------------------------------------------- qicharts2 through fit()

QIC = "spc/qicharts2"
# qicharts2 attached: 3-sigma limits (AMR / 1.128) with screened moving ranges; limits for any n; rules by part
QIC_SETTINGS = {"limit_multiplier": 3 / 1.128, "screen_outliers": True, "min_points": None,
                "rules_across_phases": False}
QIC_CASES = [  # expected file, chart, multiply; the qic() call is in qicharts2/EXPECTED.md
    ("R2_i_vignette_outlier", "xmr", 1),  # qic(y, chart = 'i'): one sigma signal at point 22
    ("R3_i_vignette_shift2sd", "xmr", 1),  # qic(y, chart = 'i'): no sigma signal
    ("C4_c_cdi_part24", "c", 1),  # qic(month, n, data = cdi, chart = 'c', part = 24)
    ("C5_u_cdi_part24_x10000", "u", 10000),  # qic(month, n, days, chart = 'u', part = 24, multiply = 10000)
    ("C6_up_cdi_part24_x10000", "up", 10000),  # the same with chart = 'up'
    ("K1_p_cabg_readmissions", "p", 1),  # qic(month, readmissions, n, chart = 'p')
    ("K2_pp_cabg_readmissions", "pp", 1),  # qic(month, readmissions, n, chart = 'pp')
    ("K3_p_cabg_deaths", "p", 1),  # qic(month, deaths, n, chart = 'p')
]


@pytest.mark.parametrize(("name", "chart", "multiply"), QIC_CASES)
def test_qicharts2_limits_and_sigma_signals_through_fit(refdata, name, chart, multiply):
    """Limits per point (rel 1e-9) and qicharts2's sigma.signal (outside the limits) through spc.fit."""
    expected = pd.read_csv(refdata / QIC / f"{name}_expected.csv")
    frame = pd.DataFrame({"period": pd.date_range("2000-01-01", periods=len(expected), freq="MS"),
                          "num": expected["y.sum"] if chart != "xmr" else expected["y"], "den": expected["n"]})
    rebase = frame["period"][expected["part"].diff().fillna(0) != 0].tolist()
    result = spc.fit(frame, value_col="num", date_col="period", chart=chart, multiply=multiply, rebase=rebase,
                     denominator_col="den" if chart in spc.NEEDS_DENOMINATOR else None, **QIC_SETTINGS)
    points = result.points()
    np.testing.assert_allclose(points["value"], expected["y"], rtol=1e-9)
    np.testing.assert_allclose(points["centre"], expected["cl"], rtol=1e-9)
    np.testing.assert_allclose(points["upl"], expected["ucl"], rtol=1e-9)
    lower = expected["lcl"].to_numpy(dtype=float)
    got = points["lpl"].to_numpy()
    np.testing.assert_allclose(got[np.isfinite(lower)], lower[np.isfinite(lower)], rtol=1e-9, atol=1e-12)
    assert (points["outside_limits"] != 0).tolist() == expected["sigma.signal"].tolist()


def test_xmr_moving_range_chart(refdata):
    """Moving ranges between neighbouring points and their mean, the MR chart under an XmR chart."""
    f1 = pd.read_csv(refdata / PTD / "F1_rnorm20_input.csv", parse_dates=["x"])
    result = spc.fit(f1, value_col="y", date_col="x", chart="xmr", min_points=None)
    points = result.points()
    np.testing.assert_allclose(points["moving_range"].iloc[1:], np.abs(np.diff(f1["y"])), rtol=1e-12)
    # NHSRplotthedots F1a: upl = mean + 2.66 AMR, so AMR = (upl - mean) / 2.66 (EXPECTED.md "Derived by me")
    assert points["mr_centre"].iloc[0] == pytest.approx((3.2946272006573 - 0.141623802474599) / 2.66, rel=1e-9)
    assert points["mr_upl"].iloc[0] == pytest.approx(3.267 * points["mr_centre"].iloc[0])
    assert result.plot_moving_range().get_ylabel() == "Moving range"
    p_chart = spc.fit(_series([5, 6, 7] * 5, n=[50] * 15), value_col="y", denominator_col="n", date_col="period",
                      chart="p")
    assert p_chart.points()["moving_range"].isna().all()
    with pytest.raises(AnalysisError, match="belongs to an XmR chart"):
        p_chart.plot_moving_range()


def test_chart_draws_types_limits_target_and_events_for_greyscale(mdc):
    """Each point type has its own marker shape as well as its MDC colour; events are numbered in the legend."""
    data, cases = mdc
    case = cases[cases["case"] == "Special cause - High is good"].iloc[0]
    result = _mdc_fit(data, case, target=30, events=[("2023-01-05", "PDSA 1")])
    ax = result.plot(ylabel="Value")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    shown = {k for k in result.points()["point_type"].dropna()}
    for kind in shown:
        assert spc_result.LABELS[kind] in labels
    assert {"mean", "process limits", "target", "PDSA 1"} <= set(labels)
    assert len({spc_result.MARKERS[k] for k in shown}) == len(shown)  # shapes differ, not only colours
    assert ax.get_ylabel() == "Value"
