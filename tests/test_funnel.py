"""Funnel plots (evalkit.stats.funnel): exact limits, transforms, over-dispersion, tables, prose, bad input.

The FunnelPlotR fixtures in refdata/spc/funnelplotr are inputs only (no expected outputs), so the parts are
pinned to scipy, to hand-worked arithmetic written beside each number, and to values printed in standard
tables or hard-coded in FunnelPlotR v0.6.0's source; FP2 and FP3 are checked for the properties the method
must have.
"""

from __future__ import annotations

import math
import pickle
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from scipy import stats  # noqa: E402

from evalkit.errors import AnalysisError, DataQualityWarning  # noqa: E402
from evalkit.stats import funnel  # noqa: E402
from evalkit.stats.funnel_result import LIMIT_COLUMNS, POINT_COLUMNS, SUMMARY_COLUMNS  # noqa: E402

FUNNEL = ("spc", "funnelplotr")


def _read(refdata, name: str) -> pd.DataFrame:
    return pd.read_csv(refdata.joinpath(*FUNNEL, name))


@pytest.fixture
def fp1(refdata) -> pd.DataFrame:
    """FunnelPlotR's test data: num, denom, group a-f."""
    return _read(refdata, "FP1_testdata_input.csv")


@pytest.fixture
def fp2(refdata) -> pd.DataFrame:
    """qicharts2 hospital_infections, BAC, Jul-Dec 2016, summed per hospital: hospital, n, days."""
    return _read(refdata, "FP2_hai_BAC_2016H2_by_hospital_input.csv")


@pytest.fixture
def fp3(refdata) -> pd.DataFrame:
    """NHSRdatasets ae_attendances type 1, Jan-Mar 2018, 137 orgs: org_code, within4h, attendances."""
    return _read(refdata, "FP3_ae_type1_2018Q1_by_org_input.csv")


def _fp1(data, **kwargs):
    options = {"numerator_col": "num", "denominator_col": "denom", "group_col": "group", "data_type": "SR"}
    return funnel.fit(data, **{**options, **kwargs})


def _fp2(data, **kwargs):
    options = {"numerator_col": "n", "denominator_col": "days", "group_col": "hospital", "data_type": "RC",
               "multiplier": 10000}
    return funnel.fit(data, **{**options, **kwargs})


def _fp3(data, **kwargs):
    options = {"numerator_col": "within4h", "denominator_col": "attendances", "group_col": "org_code",
               "data_type": "PR"}
    return funnel.fit(data, **{**options, **kwargs})


# --------------------------------------------------------------------------- the parts


def test_normal_quantiles_match_funnelplotr():
    # FunnelPlotR v0.6.0 R/calculate_limits.R hard-codes 1.959964 (95%) and 3.090232 (99.8%).
    assert funnel.Z["95"] == pytest.approx(1.959964, abs=1e-6)
    assert funnel.Z["998"] == pytest.approx(3.090232, abs=1e-6)
    assert funnel.LEVELS == {"95": (0.025, 0.975), "998": (0.001, 0.999)}


def test_exact_poisson_limits_at_expected_10():
    # O = E = 10, target 1. Chi-square table values (e.g. NIST/SEMATECH e-Handbook 1.3.6.7.4):
    # chi2(20 df) lower 0.001 = 5.921 -> 5.921 / 2 / 10 = 0.2961; chi2(22 df) upper 0.001 = 48.268 -> 2.4134;
    # chi2(20 df) lower 0.025 = 9.591 -> 0.4796; chi2(22 df) upper 0.025 = 36.781 -> 1.8390.
    assert funnel.poisson_limit(10, 1.0, 0.001)[()] == pytest.approx(0.2961, abs=1e-4)
    assert funnel.poisson_limit(10, 1.0, 0.999)[()] == pytest.approx(2.4134, abs=1e-4)
    assert funnel.poisson_limit(10, 1.0, 0.025)[()] == pytest.approx(0.4796, abs=1e-4)
    assert funnel.poisson_limit(10, 1.0, 0.975)[()] == pytest.approx(1.8390, abs=1e-4)


@pytest.mark.parametrize("expected", [3, 10, 57, 400])
def test_exact_poisson_limits_invert_the_poisson_tails(expected):
    # The chi-square form is the exact (Garwood) bound: at the lower limit L, P(X >= E | mean L E) = p, and at the
    # upper limit U, P(X <= E | mean U E) = p, checked with scipy.stats.poisson (no chi-square involved) at
    # whole E, where the Poisson tail is defined.
    for p in (0.001, 0.025):
        low = funnel.poisson_limit(expected, 1.0, p)[()]
        high = funnel.poisson_limit(expected, 1.0, 1 - p)[()]
        assert stats.poisson.sf(expected - 1, low * expected) == pytest.approx(p, rel=1e-6)
        assert stats.poisson.cdf(expected, high * expected) == pytest.approx(p, rel=1e-6)


def test_exact_poisson_rate_limits_scale_with_the_target():
    # RC: a rate of 0.002 per day over 5,000 days is an expected count of 10, so its limits are 0.002 x the SR
    # limits at E = 10.
    for p in (0.001, 0.025, 0.975, 0.999):
        assert funnel.poisson_limit(5000, 0.002, p)[()] == pytest.approx(
            0.002 * funnel.poisson_limit(10, 1.0, p)[()], rel=1e-12)


def test_exact_binomial_limits_hand_worked():
    # Spiegelhalter 2005 Stat Med Appendix A.1.1 interpolation, n = 10, target 0.5 (counts over 1024):
    # lower 2.5%: P(y<=1) = 11/1024 < 0.025 <= P(y<=2) = 56/1024, so r = 2, P(y=2) = 45/1024,
    #   alpha = (56/1024 - 0.025) / (45/1024) = (56 - 25.6) / 45 = 0.675556, limit = (2 - 0.675556) / 10 = 0.1324444
    # upper 97.5%: P(y<=7) = 968/1024 < 0.975 <= P(y<=8) = 1013/1024, r = 8, P(y=8) = 45/1024,
    #   alpha = (1013 - 998.4) / 45 = 0.324444, limit = (8 - 0.324444) / 10 = 0.7675556
    assert funnel.binomial_limit(10, 0.5, 0.025)[()] == pytest.approx((2 - 30.4 / 45) / 10, abs=1e-12)
    assert funnel.binomial_limit(10, 0.5, 0.975)[()] == pytest.approx((8 - 14.6 / 45) / 10, abs=1e-12)


@pytest.mark.parametrize(("n", "target"), [(25, 0.1), (200, 0.77), (81087, 0.7682)])
def test_exact_binomial_limits_interpolate_scipy_binomial_cdf(n, target):
    # The limit x n lies between r - 1 and r, and linear interpolation of scipy's binomial CDF between them
    # returns p: F(r - 1) + (limit x n - (r - 1)) x P(y = r) = p. Where P(y = 0) >= p the interpolated count
    # would fall below 0 and the limit is clipped to 0 (n = 25, target 0.1: 0.9^25 = 0.0718 >= 0.001).
    for p in (0.001, 0.025, 0.975, 0.999):
        count = funnel.binomial_limit(n, target, p)[()] * n
        if count == 0:
            assert stats.binom.pmf(0, n, target) >= p
            continue
        r = math.ceil(count)
        below = stats.binom.cdf(r - 1, n, target)
        assert below + (count - (r - 1)) * stats.binom.pmf(r, n, target) == pytest.approx(p, abs=1e-9)


def test_transforms_and_standard_errors():
    assert funnel.transform(0.25, "PR") == pytest.approx(math.pi / 6)  # arcsin(sqrt(0.25)) = arcsin(0.5)
    assert funnel.transform(1.0, "SHMI") == 0.0
    assert funnel.transform(2.25, "CQC") == pytest.approx(1.5)
    assert funnel.transform(math.e, "RC") == pytest.approx(1.0)
    for key, value in (("PR", 0.3), ("SHMI", 1.4), ("CQC", 0.6), ("RC", 0.002)):
        assert funnel.back_transform(funnel.transform(value, key), key) == pytest.approx(value)
    assert funnel.back_transform(-0.1, "PR") == 0.0  # an angle below 0 is a proportion of 0, not sin^2 folded
    assert funnel.back_transform(2.0, "PR") == 1.0  # beyond pi/2: 1
    assert funnel.standard_error(100, 0.3, "PR") == pytest.approx(0.05)  # 1 / (2 sqrt 100)
    assert funnel.standard_error(25, 1.0, "SHMI") == pytest.approx(0.2)  # 1 / sqrt 25
    assert funnel.standard_error(25, 1.0, "CQC") == pytest.approx(0.1)  # 1 / (2 sqrt 25)
    assert funnel.standard_error(50, 2.0, "RC") == pytest.approx(0.1)  # 1 / sqrt(2 x 50)
    # PR z for 30 of 100 against 0.25: (arcsin sqrt 0.3 - arcsin sqrt 0.25) x 2 sqrt 100
    assert funnel.z_scores([30], [100], 0.25, "PR")[0] == pytest.approx(
        (math.asin(math.sqrt(0.3)) - math.pi / 6) * 20)


def test_winsorise_by_hand():
    # R type-7 quantiles of (-5, -1, 0, 1, 2, 10): 10% at position 1 + 0.5 -> -5 + 0.5 x 4 = -3;
    # 90% at position 5.5 -> 2 + 0.5 x 8 = 6. Values beyond are set to them.
    z = np.array([10, -1, 0, 1, 2, -5], dtype=float)
    assert funnel.winsorise(z, 0.1).tolist() == [6, -1, 0, 1, 2, -3]
    assert funnel.winsorise(z, 0.0).tolist() == z.tolist()


def test_truncate_by_hand():
    # SHMI truncation, N = 20, k = 1 / 0.1 = 10: band = floor(rank x 10 / 21); ranks 1-2 give band 0 and ranks
    # 19-20 give 9 (= k - 1), so the two lowest and two highest (10% each end) leave phi.
    z = np.arange(1.0, 21.0)[::-1]
    out = funnel.truncate(z, 0.1)
    assert np.isnan(out).tolist() == [v in (1, 2, 19, 20) for v in z]
    assert not np.isnan(funnel.truncate(z, 0.0)).any()


def test_phi_and_tau2_on_fp1_by_hand(fp1):
    # SR, SHMI: z = sqrt(E) ln(O/E)
    #   a 100/108: 10.3923 x -0.076961 = -0.79980    b 150/112: 10.5830 x 0.292130 = 3.09168
    #   c 180/165: 12.8452 x  0.087011 =  1.11768    d  80/95:   9.7468 x -0.171850 = -1.67499
    #   e 120/100: 10.0000 x  0.182322 =  1.82322    f 225/220: 14.8324 x 0.022473 = 0.33333
    # truncation keeps all six (ranks 1..6 -> bands floor(10 r / 7) = 1, 2, 4, 5, 7, 8, all within 1..8)
    # phi = (0.63968 + 9.55849 + 1.24921 + 2.80559 + 3.32412 + 0.11111) / 6 = 17.68820 / 6 = 2.94803
    # w = 1/s^2 = E: sum w = 800, sum w^2 = 118,858, sum w^2 / sum w = 148.5725
    # tau2 = (6 x 2.94803 - 5) / (800 - 148.5725) = 12.68820 / 651.4275 = 0.0194775
    result = _fp1(fp1)
    assert result.trim_method == "truncate" and result.n_phi == 6
    assert result.points()["z"].round(5).tolist() == [-0.7998, 3.09168, 1.11768, -1.67499, 1.82322, 0.33333]
    assert result.phi == pytest.approx(2.94803, abs=1e-5)
    assert result.tau2 == pytest.approx(0.0194775, abs=1e-7)
    assert result.adjusted
    # adjusted 99.8% limits at E = 108: exp(+/- 3.090232 x sqrt(1/108 + 0.0194775))
    a = result.points().iloc[0]
    spread = funnel.Z["998"] * math.sqrt(1 / 108 + result.tau2)
    assert (a["lower_998"], a["upper_998"]) == pytest.approx((math.exp(-spread), math.exp(spread)))


def test_winsorised_phi_matches_numpy_recomputation(fp1):
    # RC on FP1 (num events over denom exposure): log scale, winsorised, target pooled 855 / 800.
    result = _fp1(fp1, data_type="RC")
    num, den = fp1["num"].to_numpy(float), fp1["denom"].to_numpy(float)
    target = num.sum() / den.sum()
    z = np.sqrt(target * den) * np.log(num / den / target)
    low, high = np.quantile(z, [0.1, 0.9])
    phi = np.mean(np.clip(z, low, high) ** 2)
    w = target * den
    tau2 = (6 * phi - 5) / (w.sum() - (w**2).sum() / w.sum())
    assert result.target == pytest.approx(855 / 800)
    assert result.trim_method == "winsorise"
    assert result.phi == pytest.approx(phi) and result.tau2 == pytest.approx(tau2)


def test_sr_cqc_limits_are_squared_back(fp1):
    result = _fp1(fp1, sr_method="CQC")
    row = result.points().iloc[0]  # E = 108, s = 1 / (2 sqrt 108)
    spread = funnel.Z["95"] * math.sqrt(1 / (4 * 108) + result.tau2)
    assert result.scale == "square-root" and result.adjusted
    assert (row["lower_95"], row["upper_95"]) == pytest.approx(((1 - spread) ** 2, (1 + spread) ** 2))


def test_no_overdispersion_keeps_exact_limits():
    data = pd.DataFrame({"g": list("abcd"), "o": [10, 20, 40, 80], "e": [10, 20, 40, 80]})
    result = funnel.fit(data, numerator_col="o", denominator_col="e", group_col="g", data_type="SR")
    points = result.points()
    assert result.phi == 0 and result.tau2 == 0 and not result.adjusted
    for col in ("lower_998", "upper_998", "lower_95", "upper_95"):
        assert points[col].tolist() == points[f"unadjusted_{col}"].tolist()
    assert "there is no over-dispersion to allow for (phi 0)" in result.narrative()


# --------------------------------------------------------------------------- reference data


def test_fp2_group_values_match_qicharts2_u_funnel(refdata, fp2):
    # qicharts2 H4 (u chart funnel, BAC facet, multiply = 10000): y per hospital and the centre line cl are the
    # same sums; its 3-sigma limits are a different method and are not compared.
    expected = pd.read_csv(refdata / "spc" / "qicharts2" / "H4_u_funnel_hai_2016H2_by_hospital_expected.csv")
    expected = expected[expected["facet1"] == "BAC"].set_index("x")
    points = _fp2(fp2).points().set_index("group")
    assert points["value"].to_dict() == pytest.approx(expected.loc[points.index, "y"].to_dict(), rel=1e-9)
    assert _fp2(fp2).target * 10000 == pytest.approx(expected["cl"].iloc[0], rel=1e-9)  # 7.786365


def test_fp2_rate_funnel_properties(fp2):
    result = _fp2(fp2)
    assert result.data_type == "RC" and result.scale == "log"
    assert result.phi > 1 and result.adjusted
    curves = result.limits()
    assert curves["denominator"].is_monotonic_increasing
    assert curves["upper_998"].is_monotonic_decreasing and curves["lower_998"].is_monotonic_increasing
    assert curves["unadjusted_upper_998"].is_monotonic_decreasing
    # symmetric about the target on the log scale
    centre = math.log(result.target * 10000)
    assert (np.log(curves["upper_998"]) - centre).to_numpy() == pytest.approx(
        (centre - np.log(curves["lower_998"])).to_numpy())
    points = result.points().set_index("group")
    assert points.loc["NOH", "outlier_95"] == "low" and points.loc["NOH", "outlier_unadjusted"] == "low"
    assert (points["outlier"] == "").all()


def test_fp3_proportion_is_over_dispersed_and_adjusted(fp3):
    result = _fp3(fp3)
    points = result.points()
    assert len(points) == 137
    assert result.phi > 100 and result.tau2 > 0 and result.adjusted  # strongly over-dispersed
    assert result.target == pytest.approx(fp3["within4h"].sum() / fp3["attendances"].sum())
    # adjusted limits are wider than the exact binomial ones at every group's denominator
    assert (points["upper_998"] > points["unadjusted_upper_998"]).all()
    assert (points["lower_998"] < points["unadjusted_lower_998"]).all()
    assert (points["upper_95"] > points["unadjusted_upper_95"]).all()
    # fewer outliers after the adjustment
    assert (points["outlier"] != "").sum() < (points["outlier_unadjusted"] != "").sum()
    # symmetric on the arcsine-square-root scale; the funnel narrows as n grows
    centre = math.asin(math.sqrt(result.target))
    up = np.arcsin(np.sqrt(points["upper_998"])) - centre
    down = centre - np.arcsin(np.sqrt(points["lower_998"]))
    assert up.to_numpy() == pytest.approx(down.to_numpy())
    curves = result.limits()
    width = curves["upper_998"] - curves["lower_998"]
    assert width.is_monotonic_decreasing
    assert (curves["unadjusted_upper_998"] - curves["unadjusted_lower_998"]).is_monotonic_decreasing


def test_fp3_outliers_agree_with_adjusted_z(fp3):
    result = _fp3(fp3, trim=0.05)
    points = result.points()
    adjusted_z = points["z"] * points["se"] / np.sqrt(points["se"] ** 2 + result.tau2)
    assert ((adjusted_z > funnel.Z["95"]) == (points["outlier_95"] == "high")).all()
    assert ((adjusted_z < -funnel.Z["95"]) == (points["outlier_95"] == "low")).all()


def test_fp3_without_adjustment(fp3):
    result = _fp3(fp3, overdispersion=False, multiplier=100)
    points = result.points()
    assert not result.adjusted and result.phi > 100  # still estimated and reported
    assert points["outlier"].tolist() == points["outlier_unadjusted"].tolist()
    assert points["value"].iloc[0] == pytest.approx(47111 / 61341 * 100)  # R0A
    assert "not widened for over-dispersion as asked" in result.narrative()


# --------------------------------------------------------------------------- tables and plot


def test_tables_have_documented_columns(fp2):
    result = _fp2(fp2)
    assert tuple(result.points().columns) == POINT_COLUMNS
    assert tuple(result.limits().columns) == LIMIT_COLUMNS
    summary = result.summary()
    assert tuple(summary.columns) == SUMMARY_COLUMNS
    assert summary["limit_level"].tolist() == [0.998, 0.95]
    assert summary["n_low"].tolist() == [0, 1] and summary["n_groups"].tolist() == [6, 6]
    assert result.excluded().empty and tuple(result.excluded().columns) == ("group", "numerator", "denominator",
                                                                           "reason")


def test_limits_on_a_given_grid(fp1, fp3):
    result = _fp1(fp1)
    curves = result.limits([10, 100, 1000])
    assert curves["denominator"].tolist() == [10, 100, 1000]
    assert curves["unadjusted_upper_998"].iloc[0] == pytest.approx(2.4134, abs=1e-4)  # see the E = 10 test
    for bad in ([0, 10], "ten", [[10, 20]], []):
        with pytest.raises(AnalysisError, match="positive denominators"):
            result.limits(bad)
    with pytest.raises(AnalysisError, match="whole numbers"):
        _fp3(fp3).limits([100.5])
    assert (np.diff(_fp3(fp3).limits()["denominator"]) > 0).all()


def test_result_is_frozen_and_pickles(fp1):
    result = _fp1(fp1)
    with pytest.raises(AttributeError):
        result.phi = 1.0
    again = pickle.loads(pickle.dumps(result))
    assert again.tau2 == result.tau2 and again.limits([50]).equals(result.limits([50]))


def test_plot_marks_and_labels_outliers(fp1):
    result = _fp1(fp1, overdispersion=False)  # b lies above the exact 99.8% limit
    ax = result.plot()
    assert isinstance(ax, Axes)
    assert [t.get_text() for t in ax.texts] == ["b"]
    labels = ax.get_legend_handles_labels()[1]
    assert {"99.8% limits", "95% limits", "target", "above 99.8%"} <= set(labels)
    styles = {line.get_label(): line.get_linestyle() for line in ax.get_lines()}
    assert styles["99.8% limits"] == "-" and styles["95% limits"] == "--"
    plt.close(ax.figure)
    _, given = plt.subplots()
    assert _fp1(fp1).plot(ax=given) is given
    plt.close(given.figure)


def test_alt_text(fp1):
    text = _fp1(fp1, overdispersion=False).alt_text()
    assert text.startswith("Funnel plot of the standardised ratio for 6 groups (circles) against denom")
    assert "1 (b) lies above the 99.8% limit, drawn as triangles" in text


# --------------------------------------------------------------------------- prose


def test_narrative_snapshot_fp2(fp2):
    assert _fp2(fp2).narrative() == (
        "Of 6 groups, none lies outside the 99.8% limits after allowing for over-dispersion (phi 1.69, tau2 "
        "0.0148). A further 1 (NOH) lies outside the 95% limits only; about 1 group in 20 does so by chance. "
        "Against exact Poisson limits without the allowance, 1 (NOH) would lie outside the 99.8% limits. The "
        "target is 7.79 (the pooled value of all groups). The limits assume that each group's count of events "
        "is Poisson given its exposure and that groups are independent. The over-dispersion allowance assumes "
        "that the groups' true values vary around the target with a normal random effect on the log scale "
        "(additive random effects, DerSimonian-Laird), with phi estimated after winsorising 10% of z-scores at "
        "each end. A group outside the limits is a signal to look into, not proof of better or worse "
        "performance; about 1 group in 500 falls outside the 99.8% limits by chance alone."
    )


def test_narrative_snapshot_fp1_unadjusted(fp1):
    assert _fp1(fp1, overdispersion=False).narrative() == (
        "Of 6 groups, 1 (b) lies above the 99.8% limit against exact Poisson limits, not widened for "
        "over-dispersion as asked (phi 2.95, tau2 0.0195 estimated but not used). No other group lies outside "
        "the 95% limits. The target is 1 (observed equal to expected). The limits assume that each group's "
        "observed count is Poisson given its expected count, that the expected counts are correctly adjusted "
        "for case mix and that groups are independent. No allowance is made for real variation between groups "
        "beyond chance. A group outside the limits is a signal to look into, not proof of better or worse "
        "performance; about 1 group in 500 falls outside the 99.8% limits by chance alone."
    )


# --------------------------------------------------------------------------- input handling


def test_callers_frame_is_not_modified(fp2):
    before = fp2.copy(deep=True)
    _fp2(fp2)
    pd.testing.assert_frame_equal(fp2, before)


def test_rows_of_one_group_are_summed(fp1):
    split = pd.concat([fp1, pd.DataFrame({"num": [0], "denom": [0.0], "group": ["a"]})], ignore_index=True)
    split.loc[0, ["num", "denom"]] = [60, 60]
    split.loc[6, ["num", "denom"]] = [40, 48]
    pd.testing.assert_frame_equal(_fp1(split).points(), _fp1(fp1).points())


def test_zero_denominator_and_missing_denominator_are_excluded_with_a_reason(fp1):
    data = pd.concat([fp1, pd.DataFrame({"num": [0, 5], "denom": [0.0, np.nan], "group": ["g", "h"]})],
                     ignore_index=True)
    with pytest.warns(DataQualityWarning, match=r"2 group\(s\) left out.*'g' \(zero denom\).*'h' \(missing denom\)"):
        result = _fp1(data)
    assert result.excluded()[["group", "reason"]].values.tolist() == [["g", "zero denom"], ["h", "missing denom"]]
    assert len(result.points()) == 6 and result.summary()["n_excluded"].iloc[0] == 2
    assert "2 group(s) were left out: g (zero denom) and h (missing denom)." in result.narrative()


def test_zero_count_on_log_scale_warns_and_stays_finite(fp1):
    data = fp1.copy()
    data.loc[3, "num"] = 0
    with pytest.warns(DataQualityWarning, match="Zero counts in group\\(s\\) 'd' are read as 0.5"):
        result = _fp1(data)
    assert np.isfinite(result.points()["z"]).all()
    assert result.points()["value"].iloc[3] == 0


@pytest.mark.parametrize(("change", "message"), [
    ({"data_type": "XX"}, r"data_type='XX' is not one of the allowed values \('SR'.*'PR'.*'RC'"),
    ({"sr_method": "shmi"}, r"sr_method='shmi' is not one of 'SHMI', 'CQC'"),
    ({"trim": 0.5}, r"trim=0.5 must be a number from 0 to below 0.5"),
    ({"multiplier": 0}, r"multiplier=0 must be a positive number"),
    ({"overdispersion": "yes"}, r"overdispersion must be True or False; got 'yes' \(str\)"),
    ({"target": -1}, r"target=-1 must be a number above 0"),
    ({"numerator_col": "deaths"}, r"numerator_col='deaths' is not a column of the data; columns are 'num'"),
    ({"group_col": "num"}, r"must be three different columns"),
])
def test_bad_options_are_named(fp1, change, message):
    with pytest.raises(AnalysisError, match=message):
        _fp1(fp1, **change)


def test_bad_values_name_group_and_value(fp1):
    negative = fp1.copy()
    negative.loc[2, "num"] = -3
    with pytest.raises(AnalysisError, match=r"Column 'num' is negative for group 'c' \(row 2\): -3"):
        _fp1(negative)
    with pytest.raises(AnalysisError, match=r"'num' exceeds 'denom' for group 'b': 150, group 'c': 180"):
        _fp1(fp1, data_type="PR")
    events = fp1.copy()
    events.loc[4, "denom"] = 0
    with pytest.raises(AnalysisError, match=r"'denom' sums to 0 for group 'e': 120 \(numerator shown\)"):
        _fp1(events)
    missing = fp1.copy()
    missing.loc[1, "num"] = np.nan
    with pytest.raises(AnalysisError, match=r"'num' is missing for group 'b' \(row 1\).*cannot be read as zero"):
        _fp1(missing)
    nameless = fp1.copy()
    nameless.loc[5, "group"] = None
    with pytest.raises(AnalysisError, match=r"Column 'group' is missing in row\(s\) \[5\]"):
        _fp1(nameless)


def test_bad_types_and_too_few_groups(fp1, fp3):
    text = fp1.astype({"denom": str})
    with pytest.raises(AnalysisError, match=r"Column 'denom' must be numeric; it holds .*pd.to_numeric"):
        _fp1(text)
    with pytest.raises(AnalysisError, match="must be a pandas DataFrame.*got list"):
        funnel.fit([1, 2], numerator_col="num", denominator_col="denom", group_col="group", data_type="SR")
    with pytest.raises(AnalysisError, match="at least 2 groups"):
        _fp1(fp1.head(1))
    fractional = fp3.head(5).astype({"attendances": float})
    fractional.loc[0, "attendances"] += 0.5
    with pytest.raises(AnalysisError, match=r"'attendances' is not a whole number for group 'R0A': 61341.5"):
        _fp3(fractional)
    with pytest.raises(AnalysisError, match="target=1.2 must be a number above 0 and below 1"):
        _fp3(fp3, target=1.2)
    none = fp3.head(5).assign(within4h=0)
    with pytest.raises(AnalysisError, match="pooled proportion is 0"):
        _fp3(none)


def test_no_warning_on_clean_input(fp3):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _fp3(fp3)
