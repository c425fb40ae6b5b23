"""evalkit.stats.spc_limits: control limits pinned per point to qicharts2, PowerBI-SPC and NHSRplotthedots.

Every expected number comes from an outside reference under ``../shared/refdata/spc`` (see each folder's
EXPECTED.md), never from evalkit: qicharts2 1b9487e run in R 4.2.2 with ``library(qicharts2)`` attached
(so ``options(qic.screenedmr = TRUE)``) and its own Montgomery regression references; PowerBI-SPC 478773a's
``test/Chart Types/*.test.ts`` expectations; NHSRplotthedots 050b07d (v0.2.2) ``ptd_spc()`` output.
A qicharts2 phase (``part``) is one call of ``compute``; ``freeze`` and ``exclude`` are the ``base`` mask.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evalkit.errors import AnalysisError
from evalkit.stats.spc_limits import CHARTS, MDC_MULTIPLIER, SHEWHART_MULTIPLIER, Limits, compute

QIC = "spc/qicharts2"
MONT = "spc/qicharts2/montgomery"
PBI = "spc/powerbi_spc"
PTD = "spc/nhsrplotthedots"
RTOL = 1e-9  # the R fixtures carry 15 significant digits
QIC_I = {"limit_multiplier": SHEWHART_MULTIPLIER, "screen_outliers": True}  # qic(chart = 'i'), library attached


def lines(limits: Limits) -> dict[str, np.ndarray]:
    """Our arrays under qicharts2's return.data column names."""
    return {"y": limits.value, "cl": limits.centre, "lcl": limits.lpl, "ucl": limits.upl,
            "lcl.95": limits.lower_2sigma, "ucl.95": limits.upper_2sigma}


def assert_qic(limits: Limits, expected: pd.DataFrame, columns=("y", "cl", "lcl", "ucl", "lcl.95", "ucl.95")):
    got = lines(limits)
    for column in columns:
        np.testing.assert_allclose(got[column], expected[column].to_numpy(float), rtol=RTOL, atol=1e-12,
                                   equal_nan=True, err_msg=column)


def read(refdata, folder: str, name: str) -> pd.DataFrame:
    return pd.read_csv(refdata / folder / name)


def subgroups(frame: pd.DataFrame, by: str, value: str) -> pd.DataFrame:
    """Subgroup mean, SD and size, as qicharts2 aggregates them (missing values dropped)."""
    grouped = frame.dropna(subset=[by]).groupby(by, sort=True)[value]
    return pd.DataFrame({"mean": grouped.mean(), "sd": grouped.std(), "n": grouped.count()})


# --------------------------------------------------------------------------- qicharts2, per point


def qic_cases(refdata, case: str) -> list[tuple[Limits, pd.DataFrame]]:
    """(our limits, qicharts2's rows) for each phase of one fixture; the R call is beside each case."""
    def expected(name):
        return read(refdata, QIC, name)

    if case in ("I1_screened", "I1_unscreened"):
        # qic(x, y, data = deviations, chart = 'i'), screened: library attached; unscreened: qicharts2::qic()
        y = read(refdata, QIC, "I1_deviations_input.csv")["y"]
        screened = case == "I1_screened"
        name = f"I1_i_deviations_{'screened' if screened else 'unscreened'}mr_expected.csv"
        return [(compute("xmr", y, limit_multiplier=SHEWHART_MULTIPLIER, screen_outliers=screened), expected(name))]
    if case in ("R2", "R3"):
        # qic(y, chart = 'i') on the vignette series (R2: y[22] = 4; R3: y[13:24] shifted 2 SD)
        stem = {"R2": "R2_vignette_outlier", "R3": "R3_vignette_shift2sd"}[case]
        y = read(refdata, QIC, f"{stem}_input.csv")["y"]
        return [(compute("xmr", y, **QIC_I), expected(stem.replace("_", "_i_", 1) + "_expected.csv"))]
    if case in ("C4", "C5", "C6"):
        # qic(month, n, [days,] data = cdi, chart = 'c' | 'u' | 'up', part = 24, [multiply = 10000])
        cdi = read(refdata, QIC, "D_cdi_input.csv")
        chart, name = {"C4": ("c", "C4_c_cdi_part24"), "C5": ("u", "C5_u_cdi_part24_x10000"),
                       "C6": ("up", "C6_up_cdi_part24_x10000")}[case]
        rows = expected(f"{name}_expected.csv")
        out = []
        for part in (slice(0, 24), slice(24, 36)):
            if chart == "c":
                limits = compute("c", cdi["n"][part])
            else:
                limits = compute(chart, cdi["n"][part], cdi["days"][part], multiply=10000, screen_outliers=True)
            out.append((limits, rows.iloc[part]))
        return out
    cabg = read(refdata, QIC, "D_cabg_by_month_input.csv")
    if case == "K1":  # qic(month, readmissions, n, data = cabg_by_month, chart = 'p')
        return [(compute("p", cabg["readmissions"], cabg["n"]), expected("K1_p_cabg_readmissions_expected.csv"))]
    if case == "K2":  # qic(month, readmissions, n, data = cabg_by_month, chart = 'pp')
        return [(compute("pp", cabg["readmissions"], cabg["n"], screen_outliers=True),
                 expected("K2_pp_cabg_readmissions_expected.csv"))]
    if case == "K3":  # qic(month, deaths, n, data = cabg_by_month, chart = 'p')
        return [(compute("p", cabg["deaths"], cabg["n"]), expected("K3_p_cabg_deaths_expected.csv"))]
    fatalities = read(refdata, QIC, "D_cabg_fatalities_input.csv").iloc[1:]  # first death has no interval
    if case == "K4":  # qic(dd, chart = 'g'): surgeries between deaths
        return [(compute("g", fatalities["dd"]), expected("K4_g_cabg_surgeries_between_deaths_expected.csv"))]
    if case == "K5":  # qic(dt, chart = 't'): days between deaths
        return [(compute("t", fatalities["dt"], **QIC_I), expected("K5_t_cabg_days_between_deaths_expected.csv"))]
    ages = subgroups(read(refdata, QIC, "D_cabg_month_age_input.csv"), "month", "age")
    if case == "K6":  # qic(month, age, data = cabg, chart = 'xbar')
        return [(compute("xbar", ages["mean"], ages["n"], sd=ages["sd"]), expected("K6_xbar_cabg_age_expected.csv"))]
    if case == "K7":  # qic(month, age, data = cabg, chart = 's')
        return [(compute("s", ages["mean"], ages["n"], sd=ages["sd"]), expected("K7_s_cabg_age_expected.csv"))]
    if case == "K8":  # qic(month, age, data = cabg, chart = 'i'): I chart of the monthly mean age
        return [(compute("xmr", ages["mean"], **QIC_I), expected("K8_i_cabg_age_monthly_mean_expected.csv"))]
    if case == "H1":  # qic(month, n, days, data = hospital_infections, chart = 'u', multiply = 10000)
        hai = read(refdata, QIC, "D_hospital_infections_input.csv").groupby("month")[["n", "days"]].sum()
        return [(compute("u", hai["n"], hai["days"], multiply=10000), expected("H1_u_hai_all_expected.csv"))]
    raise KeyError(case)


@pytest.mark.parametrize("case", ["I1_screened", "I1_unscreened", "R2", "R3", "C4", "C5", "C6", "K1", "K2", "K3",
                                  "K4", "K5", "K6", "K7", "K8", "H1"])
def test_qicharts2_limits_per_point(refdata, case):
    for limits, expected in qic_cases(refdata, case):
        assert_qic(limits, expected)


def test_qicharts2_key_numbers(refdata):
    (screened, _), = qic_cases(refdata, "I1_screened")
    # qicharts2 EXPECTED.md, I1: screened UCL 4.60401891252955, LCL -0.715130023640662
    assert (screened.upl[0], screened.lpl[0]) == pytest.approx((4.60401891252955, -0.715130023640662), rel=RTOL)
    (unscreened, _), = qic_cases(refdata, "I1_unscreened")
    # qicharts2::qic(..., chart = 'i') without attaching: UCL 6.95070226672229, LCL -3.0618133778334
    assert (unscreened.upl[0], unscreened.lpl[0]) == pytest.approx((6.95070226672229, -3.0618133778334), rel=RTOL)
    (before, _), (after, _) = qic_cases(refdata, "C4")
    # qic(month, n, data = cdi, chart = 'c', part = 24): CL 18.7083333333333 then 7.08333333333333,
    # UCL 31.6842726056943 then 15.067693044669, LCL 5.73239406097235 then 0
    assert (before.centre[0], before.upl[0], before.lpl[0]) == pytest.approx(
        (18.7083333333333, 31.6842726056943, 5.73239406097235), rel=RTOL)
    assert (after.centre[0], after.upl[0], after.lpl[0]) == pytest.approx((7.08333333333333, 15.067693044669, 0),
                                                                         rel=RTOL)
    (g, _), = qic_cases(refdata, "K4")
    # qic(dd, chart = 'g'): CL (median) 24, UCL 128.174910231972, LCL 0
    assert (g.centre[0], g.upl[0], g.lpl[0]) == pytest.approx((24, 128.174910231972, 0), rel=RTOL)
    assert g.details["median_centre"] == 24 and g.details["mean_centre"] < g.upl[0]
    (t, _), = qic_cases(refdata, "K5")
    # qic(dt, chart = 't'): CL 11.2050607972895, UCL 97.2680177226095, LCL 0.0221288795745556
    assert (t.centre[0], t.upl[0], t.lpl[0]) == pytest.approx((11.2050607972895, 97.2680177226095,
                                                               0.0221288795745556), rel=RTOL)


# --------------------------------------------------------------------------- qicharts2's Montgomery references


def montgomery_case(refdata, case: str) -> list[tuple[Limits, pd.DataFrame]]:
    """qicharts2 tests/testthat/test_montgomery.R: summary(qic(...)) stored as rds (data, tables of Montgomery)."""
    def table(name):
        return read(refdata, MONT, f"input_tbl_{name}.csv")

    expected = read(refdata, MONT, f"expected_{case}.csv")
    if case in ("ex_6.3_1", "ex_6.3_2", "ex_6.4_1", "ex_6.4_2", "NA_test"):
        # qic(sample, obs, data = tbl_06.03 | tbl_06.04 | NA_test, chart = 'xbar' | 's')
        source = {"ex_6.3": "06.03", "ex_6.4": "06.04"}.get(case[:6])
        data = subgroups(read(refdata, MONT, "input_NA_test.csv") if source is None else table(source), "sample",
                         "obs")
        chart = "s" if case.endswith("_2") else "xbar"
        return [(compute(chart, data["mean"], data["n"], sd=data["sd"]), expected)]
    if case in ("ex_6.5_3", "ex_6.5_4"):
        # qic(weeks, cost, data = tbl_06.07, chart = 'i' | 'mr', freeze = 20)
        cost = table("06.07")["cost"]
        base = np.arange(len(cost)) < 20
        if case == "ex_6.5_3":
            return [(compute("xmr", cost, base=base, **QIC_I), expected)]
        return [(compute("mr", cost, base=base), expected)]
    if case == "ex_7.1_5":
        # qic(sample, count, size, data = tbl_07.03, chart = 'p', exclude = c(15, 23), part = 30)
        data = table("07.03")
        include = ~data["sample"].isin([15, 23]).to_numpy()
        return [(compute("p", data["count"][part], data["size"][part], base=include[part]), expected.iloc[part])
                for part in (slice(0, 30), slice(30, None))]
    if case == "tbl_7.4_1":  # qic(sample, count, size, data = tbl_07.04, chart = 'p')
        data = table("07.04")
        return [(compute("p", data["count"], data["size"]), expected)]
    if case == "ex_7.3_3":
        # qic(sample, count, data = tbl_07.08, chart = 'c', exclude = c(6, 20)) with freeze = 26: the stored
        # reference has baseline = sample <= 26 (its 'baseline' column), although the test passes freeze to summary()
        data = table("07.08")
        base = (~data["sample"].isin([6, 20]) & (data["sample"] <= 26)).to_numpy()
        return [(compute("c", data["count"], base=base), expected)]
    if case == "ex_7.4_1":  # qic(sample, count, size, data = tbl_07.10, chart = 'u')
        data = table("07.10")
        return [(compute("u", data["count"], data["size"]), expected)]
    if case == "ex_7.5_1":  # qic(roll, count, meters, data = tbl_07.11, chart = 'u', multiply = 50)
        data = table("07.11")
        return [(compute("u", data["count"], data["meters"], multiply=50), expected)]
    if case == "ex_7.6_1":  # qic(failure, hours, data = tbl_07.14, chart = 't')
        return [(compute("t", table("07.14")["hours"], **QIC_I), expected)]
    raise KeyError(case)


@pytest.mark.parametrize("case", ["ex_6.3_1", "ex_6.3_2", "ex_6.4_1", "ex_6.4_2", "ex_6.5_3", "ex_6.5_4",
                                  "ex_7.1_5", "tbl_7.4_1", "ex_7.3_3", "ex_7.4_1", "ex_7.5_1", "ex_7.6_1"])
def test_montgomery_references(refdata, case):
    for limits, expected in montgomery_case(refdata, case):
        assert_qic(limits, expected, columns=("y", "cl", "lcl", "ucl"))  # these references predate lcl.95/ucl.95


def test_montgomery_na_test_differs_only_by_qicharts2s_empty_subgroup_quirk(refdata):
    # qic(sample, obs, data = NA_test, chart = 'xbar'). Subgroup 16 has no values (n = 0); qicharts2 pools
    # sqrt(sum((n - 1) s^2) / sum(n - 1)) with na.rm, so that empty subgroup adds -1 to the degrees of freedom
    # (75 instead of 76). evalkit ignores empty subgroups; apart from that factor the limits agree exactly.
    (limits, expected), = montgomery_case(refdata, "NA_test")
    assert_qic(limits, expected, columns=("y", "cl"))
    quirk = np.sqrt(76 / 75)
    for ours, theirs in ((limits.upl, "ucl"), (limits.lpl, "lcl")):
        rebuilt = limits.centre + (ours - limits.centre) * quirk
        np.testing.assert_allclose(rebuilt, expected[theirs].to_numpy(float), rtol=RTOL, equal_nan=True)
    assert np.isnan(limits.value[15]) and np.isnan(limits.upl[15])  # the empty subgroup: no value, no limits
    assert np.isnan(limits.upl[4]) and limits.value[4] == pytest.approx(74.014)  # n = 1: value but no limits


@pytest.mark.parametrize("case,facets", [("hai_1", []), ("hai_2", ["infection"]),
                                         ("hai_3", ["hospital", "infection"])])
def test_montgomery_hai_summaries(refdata, case, facets):
    # summary(qic(month, n, days, data = hospital_infections, facets = <facets>, chart = 'u'))[, -c(12, 14)]
    # aLCL, CL, aUCL are the means over each facet's points.
    data = read(refdata, QIC, "D_hospital_infections_input.csv")
    expected = read(refdata, MONT, f"expected_{case}.csv")
    groups = data.groupby(facets) if facets else [((), data)]
    got = {}
    for key, frame in groups:
        monthly = frame.groupby("month")[["n", "days"]].sum()
        limits = compute("u", monthly["n"], monthly["days"])
        got[tuple(np.atleast_1d(key))] = (limits.lpl.mean(), limits.centre[0], limits.upl.mean())
    assert len(got) == len(expected)
    for _, row in expected.iterrows():
        key = tuple(str(row[f]) for f in ("facet1", "facet2")[:len(facets)])
        assert got[key] == pytest.approx((row["aLCL"], row["CL"], row["aUCL"]), rel=RTOL)


def test_montgomery_hai_funnel_summary(refdata):
    # summary(qic(reorder(hospital, days), n, days, data = subset(hospital_infections, month >= '2016-07-01'),
    #             chart = 'u', facets = ~ infection, multiply = 10000))[, -c(12, 14)]: one point per hospital
    data = read(refdata, QIC, "D_hospital_infections_input.csv")
    data = data[data["month"] >= "2016-07-01"]
    expected = read(refdata, MONT, "expected_hai_4.csv").set_index("facet1")
    for infection, frame in data.groupby("infection"):
        totals = frame.groupby("hospital")[["n", "days"]].sum().sort_values("days")
        limits = compute("u", totals["n"], totals["days"], multiply=10000)
        row = expected.loc[infection]
        assert (limits.lpl.mean(), limits.centre[0], limits.upl.mean()) == pytest.approx(
            (row["aLCL"], row["CL"], row["aUCL"]), rel=RTOL)


# --------------------------------------------------------------------------- PowerBI-SPC


def powerbi_limits(refdata, chart: str) -> list[tuple[Limits, pd.DataFrame]]:
    """PowerBI-SPC test/Chart Types/<chart>.test.ts, default settings unless noted (outliers_in_limits = false:
    moving ranges screened at 3.267 AMR; i and t are 3 x AMR / 1.128)."""
    data = read(refdata, PBI, f"{chart}_expected.csv")
    if chart in ("g", "t"):
        data = data[data["numerators"].notna()]  # 68 limits for 67 keys; the test compares the first 67
    num, den = data["numerators"] if "numerators" in data else None, data.get("denominators")
    if chart == "i":  # chart_type "i" with denominators plots numerator / denominator
        return [(compute("xmr", num / den, **QIC_I), data)]
    if chart == "mr":
        return [(compute("mr", num / den), data)]
    if chart == "c":  # groupings 1, 2: recalculation at month 25
        return [(compute("c", part["numerators"]), part) for _, part in data.groupby("groupings")]
    if chart == "g":
        return [(compute("g", num), data)]
    if chart == "t":  # spc.outliers_in_limits = false
        return [(compute("t", num, **QIC_I), data)]
    if chart == "u":  # spc.multiplier = 10000
        return [(compute("u", num, den, multiply=10000), data)]
    if chart in ("p", "pprime"):  # percentages
        return [(compute("p" if chart == "p" else "pp", num, den, multiply=100, screen_outliers=True), data)]
    if chart == "uprime":
        return [(compute("up", num, den, screen_outliers=True), data)]
    if chart == "s":
        return [(compute("s", data["sds"], den, sd=data["sds"]), data)]
    if chart == "xbar":
        return [(compute("xbar", num, den, sd=data["xbar_sds"]), data)]
    raise KeyError(chart)


@pytest.mark.parametrize("chart,digits", [("i", 4), ("mr", 4), ("c", 2), ("u", 4), ("p", 2), ("pprime", 4),
                                          ("uprime", 4), ("g", 2), ("t", 2), ("s", 2), ("xbar", 2)])
def test_powerbi_spc_limits_per_point(refdata, chart, digits):
    # expect(limits.ll99[i]).toBeCloseTo(ll99[i], digits): |difference| < 10^-digits / 2
    for limits, expected in powerbi_limits(refdata, chart):
        got = {"ll99": limits.lpl, "ll95": limits.lower_2sigma, "ul95": limits.upper_2sigma, "ul99": limits.upl}
        for column, ours in got.items():
            difference = np.abs(ours - expected[column].to_numpy(float))
            assert (difference < 10.0 ** -digits / 2).all(), (column, np.flatnonzero(difference >= 10.0 ** -digits / 2))


def test_powerbi_mr_values(refdata):
    # mr.test.ts: values (the plotted moving ranges, 16 for 17 keys), toBeCloseTo(values[i], 4)
    (limits, expected), = powerbi_limits(refdata, "mr")
    assert np.isnan(limits.value[0])
    np.testing.assert_allclose(limits.value[1:], expected["values"].to_numpy(float)[:-1], atol=0.5e-4)


# --------------------------------------------------------------------------- NHSRplotthedots (MDC 2.66 x AMR)


@pytest.mark.parametrize("fixture,source,screen", [
    ("F1a_rnorm20_expected", "F1_rnorm20_input", True),  # ptd_spc(data, value_field = y, date_field = x)
    ("F1b_rnorm20_outlier_screened_expected", "F1bc_rnorm20_outlier_input", True),  # same, y[15] = 10
    ("F1c_rnorm20_outlier_unscreened_expected", "F1bc_rnorm20_outlier_input", False),  # screen_outliers = FALSE
    ("F2a_deviations_screened_expected", "F2_deviations_input", True),  # vignette deviations.Rmd
    ("F2b_deviations_unscreened_expected", "F2_deviations_input", False),  # screen_outliers = FALSE
])
def test_nhsrplotthedots_xmr_limits(refdata, fixture, source, screen):
    y = read(refdata, PTD, f"{source}.csv").iloc[:, 1]
    expected = read(refdata, PTD, f"{fixture}.csv")
    limits = compute("xmr", y, screen_outliers=screen)  # default limit_multiplier = MDC_MULTIPLIER = 2.66
    for ours, theirs in ((limits.centre, "mean_col"), (limits.lpl, "lpl"), (limits.upl, "upl"),
                         (limits.lower_2sigma, "nlpl"), (limits.upper_2sigma, "nupl")):
        np.testing.assert_allclose(ours, expected[theirs].to_numpy(float), rtol=RTOL, err_msg=theirs)
    assert limits.details["limit_multiplier"] == MDC_MULTIPLIER


def test_nhsrplotthedots_key_numbers_and_screening_details(refdata):
    y = read(refdata, PTD, "F2_deviations_input.csv")["data"]
    screened, unscreened = compute("xmr", y, screen_outliers=True), compute("xmr", y)
    # NHSRplotthedots EXPECTED.md F2a: UPL 4.60444444444444, mean 1.94444444444444, LPL -0.715555555555556
    assert (screened.upl[0], screened.centre[0], screened.lpl[0]) == pytest.approx(
        (4.60444444444444, 1.94444444444444, -0.715555555555556), rel=RTOL)
    # F2b: UPL 6.95150326797386, LPL -3.06261437908497
    assert (unscreened.upl[0], unscreened.lpl[0]) == pytest.approx((6.95150326797386, -3.06261437908497), rel=RTOL)
    assert screened.details["n_screened"] >= 1 and unscreened.details["n_screened"] == 0
    assert np.isnan(unscreened.details["amr_screened"])
    assert screened.details["amr"] == unscreened.details["amr"] > screened.details["amr_screened"]


def test_nhsrplotthedots_fix_after_and_rebase(refdata):
    y = read(refdata, PTD, "F1_rnorm20_input.csv")["y"].to_numpy()
    # ptd_spc(..., fix_after_n_points = 12): mean 0.194179338789037, lpl -2.60739981479775, upl 2.99575849237582
    fixed = compute("xmr", y, base=np.arange(20) < 12, screen_outliers=True)
    assert (fixed.centre[19], fixed.lpl[19], fixed.upl[19]) == pytest.approx(
        (0.194179338789037, -2.60739981479775, 2.99575849237582), rel=RTOL)
    # ptd_spc(..., rebase = as.Date('2020-01-11')): groups of 9 and 11 points, means 0.132435379007953, 0.149141603492763
    expected = read(refdata, PTD, "F1e_rnorm20_rebase_2020-01-11_expected.csv")
    for part in (slice(0, 9), slice(9, 20)):
        limits = compute("xmr", y[part], screen_outliers=True)
        rows = expected.iloc[part]
        for ours, theirs in ((limits.centre, "mean_col"), (limits.lpl, "lpl"), (limits.upl, "upl")):
            np.testing.assert_allclose(ours, rows[theirs].to_numpy(float), rtol=RTOL)


# --------------------------------------------------------------------------- missing points and the base mask


def test_missing_value_breaks_moving_ranges_as_qicharts2():
    y = np.array([3.0, 5.0, np.nan, 4.0, 8.0, 6.0])
    limits = compute("xmr", y, limit_multiplier=SHEWHART_MULTIPLIER)
    assert np.isnan(limits.value[2]) and np.isfinite(limits.upl).all()
    assert limits.details["amr"] == pytest.approx(np.mean([2.0, 4.0, 2.0]))  # |5-3|, |8-4|, |6-8|; none via NaN
    assert limits.centre[0] == pytest.approx(np.mean([3, 5, 4, 8, 6]))
    mr = compute("mr", y)
    assert np.isnan(mr.value[[0, 2, 3]]).all() and mr.centre[0] == pytest.approx(np.mean([2.0, 4.0, 2.0]))


def test_excluded_point_is_bridged_and_still_gets_limits():
    y = np.array([3.0, 5.0, 40.0, 4.0, 8.0, 6.0])
    base = np.array([True, True, False, True, True, True])
    limits = compute("xmr", y, base=base)
    same = compute("xmr", y[base])
    assert limits.details["amr"] == same.details["amr"] and limits.centre[2] == same.centre[0]
    assert limits.value[2] == 40.0 and limits.upl[2] == same.upl[0]


def test_zero_or_missing_denominator_gives_no_value_and_no_limits():
    y, n = np.array([5.0, 7.0, 0.0, 6.0, 4.0]), np.array([50.0, 60.0, 0.0, np.nan, 40.0])
    for chart in ("p", "pp", "u", "up"):
        limits = compute(chart, y, n)
        for array in (limits.value, limits.lpl, limits.upl, limits.lower_2sigma, limits.upper_1sigma):
            assert np.isnan(array[[2, 3]]).all() and np.isfinite(array[[0, 1, 4]]).all()
        assert limits.centre[0] == pytest.approx((5 + 7 + 4) / (50 + 60 + 40)) and limits.details["n_base"] == 3


def test_multiply_scales_everything_but_the_z_scale():
    y, n = np.array([5.0, 9.0, 6.0, 4.0, 8.0]), np.array([900.0, 1100.0, 1000.0, 950.0, 1200.0])
    for chart in ("u", "up", "p"):
        one, per_10k = compute(chart, y, n), compute(chart, y, n, multiply=10000)
        np.testing.assert_allclose(per_10k.upl, one.upl * 10000)
        np.testing.assert_allclose(per_10k.lower_1sigma, one.lower_1sigma * 10000)
    assert compute("up", y, n, multiply=100).details["sigma_z"] == compute("up", y, n).details["sigma_z"]


def test_every_chart_returns_ordered_lines():
    y, n = np.array([4.0, 6.0, 5.0, 7.0, 3.0, 6.0]), np.array([20.0, 25.0, 22.0, 30.0, 18.0, 24.0])
    sd = np.array([1.1, 0.9, 1.4, 1.0, 1.2, 0.8])
    for chart in CHARTS:
        kwargs = {"n": n} if chart in ("p", "pp", "u", "up") else {"n": n, "sd": sd} if chart in ("xbar", "s") else {}
        limits = compute(chart, y, **kwargs)
        assert limits.chart == chart and limits.value.shape == limits.upl.shape == (6,)
        middle = limits.details.get("mean_centre", limits.centre[0])
        ordered = [limits.lpl, limits.lower_2sigma, limits.lower_1sigma, np.full(6, middle), limits.upper_1sigma,
                   limits.upper_2sigma, limits.upl]
        for low, high in zip(ordered, ordered[1:]):
            assert (low <= high + 1e-12).all(), chart


def test_limits_are_read_only():
    limits = compute("c", [4.0, 6.0, 5.0])
    with pytest.raises(ValueError):
        limits.upl[0] = 0.0


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("call,message", [
    (lambda: compute("np", [1, 2]), "unknown chart 'np'; use one of xmr, mr, c, p, pp"),
    (lambda: compute("p", [1, 2, 3]), "p chart needs n (trials)"),
    (lambda: compute("u", [1, 2, 3]), "u chart needs n (exposure)"),
    (lambda: compute("xmr", [1, 2, 3], [4, 5, 6]), "xmr chart does not use n"),
    (lambda: compute("s", [1, 2], [5, 5]), "s chart needs sd"),
    (lambda: compute("p", [1, 2, 3], [10, 10]), "p chart: n has 2 values but y has 3"),
    (lambda: compute("c", [4, 5, -2, 3]), "c chart: y at index 2 of this phase is -2; counts and intervals cannot"),
    (lambda: compute("p", [4, 12, 3], [10, 10, 10]), "p chart: y at index 1 of this phase is 12; more events than "
                                                     "trials (n = 10)"),
    (lambda: compute("u", [4, 5, 3], [10, -1, 10]), "u chart: n at index 1 of this phase is -1; denominators"),
    (lambda: compute("t", [4, 0, 3]), "t chart: y at index 1 of this phase is 0; times between events must be"),
    (lambda: compute("xmr", [1, np.inf, 3]), "xmr chart: y at index 1 is inf; use NaN for a missing value"),
    (lambda: compute("xmr", [1, 2, 3], base=[1, 0, 1]), "base must be a boolean mask"),
    (lambda: compute("xmr", [1, 2, 3], base=[True, False]), "base has 2 values but y has 3"),
    (lambda: compute("xmr", [1, 2, 3], base=[True, False, False]), "xmr chart: no two neighbouring base points"),
    (lambda: compute("xmr", []), "xmr chart: the phase has no points"),
    (lambda: compute("c", [1, 2], multiply=0), "c chart: multiply must be a positive number; got 0"),
    (lambda: compute("xmr", [1, 2], limit_multiplier="3"), "limit_multiplier must be a positive number"),
    (lambda: compute("s", [1, 2], [1, 1], sd=[np.nan, np.nan]), "s chart: no base subgroup has two or more values"),
    (lambda: compute("p", [0, 0], [0, np.nan]), "p chart: no base point has both a count and a positive denominator"),
    (lambda: compute("pp", [0, 0, 0], [10, 10, 10]), "pp chart: the base proportion is 0, so Laney's z-scores"),
    (lambda: compute("xmr", [[1, 2], [3, 4]]), "y must be one-dimensional"),
    (lambda: compute("xmr", ["a", "b"]), "xmr chart: y must be numbers"),
])
def test_bad_inputs_raise_analysis_error_naming_the_fault(call, message):
    with pytest.raises(AnalysisError) as caught:
        call()
    assert message in str(caught.value)
