"""evalkit.stats.prepost: pre/post comparisons pinned to published and R results.

Every expected number below is quoted from an outside source named beside it
(R output, a paper's table), or derived by a construction that is stated as
such; never copied from evalkit's own output.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evalkit.config.models import Window
from evalkit.errors import AnalysisError
from evalkit.stats import prepost_methods as pm
from evalkit.stats.prepost import SUMMARY_COLUMNS, adjust_fdr, compare, compare_measures, compare_waves
from measures import measure

matplotlib.use("Agg")

INTERVENTION = dt.date(2017, 4, 1)
CONTRACT = ["measure_id", "comparison", "estimate", "ci_lower", "ci_upper", "p_value", "p_adjusted",
            "n_pre", "n_post", "method"]

# R datasets::sleep, extra by group
SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]
# R ?wilcox.test, two-sample example (Hollander & Wolfe 1973, p. 69)
WX = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
WY = [1.15, 0.88, 0.90, 0.74, 1.21]
# R ?wilcox.test, paired depression example (Hollander & Wolfe 1973, p. 29)
DEP_X = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
DEP_Y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]


def series(pre: list[tuple[float, float]], post: list[tuple[float, float]], *, transition: int = 0,
           scale: float = 1.0, transition_row: tuple[float, float] = (np.nan, np.nan),
           measure_id: str = "falls_with_harm") -> pd.DataFrame:
    """Months ending the month before INTERVENTION, then ``transition`` months, then ``post`` months."""
    start = pd.Timestamp(INTERVENTION) - pd.DateOffset(months=len(pre))
    rows = list(pre) + [transition_row] * transition + list(post)
    frame = pd.DataFrame(rows, columns=["numerator", "denominator"])
    frame["period"] = pd.date_range(start, periods=len(rows), freq="MS").astype("datetime64[ms]")
    frame["value"] = frame["numerator"] / frame["denominator"] * scale
    frame["n_organisations"] = 1
    frame.insert(0, "measure_id", measure_id)
    frame.insert(0, "locality", "salford")
    return frame


def values_series(pre: list[float], post: list[float], **kw) -> pd.DataFrame:
    """A mean measure whose monthly values are the given numbers (denominator 1)."""
    return series([(v, 1.0) for v in pre], [(v, 1.0) for v in post], **kw)


def row(result, comparison: str) -> pd.Series:
    table = result.summary()
    return table[table["comparison"] == comparison].iloc[0]


# --------------------------------------------------------------------------- Welch


def test_welch_matches_r_t_test_on_sleep():
    # R 4.x: t.test(extra ~ group, data = sleep)
    #   t = -1.8608, df = 17.776, p-value = 0.07939
    #   95 percent CI: -3.3654832  0.2054832; mean in group 1 0.75, group 2 2.33
    # post = group 1, pre = group 2, so post - pre = group 1 - group 2 as R.
    result = compare(values_series(SLEEP_2, SLEEP_1), measure=measure("mean"), measure_id="falls_with_harm",
                     intervention=INTERVENTION, transition_months=0)
    r = row(result, "difference_in_means")
    assert r["estimate"] == pytest.approx(0.75 - 2.33)
    assert (r["ci_lower"], r["ci_upper"]) == pytest.approx((-3.3654832, 0.2054832), abs=5e-8)
    assert r["p_value"] == pytest.approx(0.07939, abs=5e-6)
    assert r["statistic"] == pytest.approx(-1.8608, abs=5e-5)
    assert (r["n_pre"], r["n_post"]) == (10, 10)
    # Construction check: Hedges' g = J * (mean difference / pooled SD), J = 1 - 3 / (4 (n1 + n2) - 9)
    # (Hedges & Olkin 1985, eq. 5.10 approximation)
    pooled = math.sqrt((np.var(SLEEP_1, ddof=1) + np.var(SLEEP_2, ddof=1)) / 2)
    assert r["effect_size"] == pytest.approx((1 - 3 / (4 * 20 - 9)) * (0.75 - 2.33) / pooled)


# --------------------------------------------------------------------------- Mann-Whitney / Hodges-Lehmann


def test_mann_whitney_matches_r_wilcox_test_and_hodges_lehmann_construction():
    # R ?wilcox.test: wilcox.test(x, y, alternative = "g") -> W = 35, p-value = 0.1272;
    # two-sided, the exact p doubles: 0.2544.
    result = compare(values_series(WY, WX), measure=measure("mean"), measure_id="falls_with_harm",
                     intervention=INTERVENTION, transition_months=0, comparison="median")
    r = row(result, "hodges_lehmann_shift")
    assert r["statistic"] == 35
    assert r["p_value"] == pytest.approx(0.2544, abs=5e-5)
    assert r["test"] == "mann_whitney_u_exact"
    # Construction check (not an outside number): the Hodges-Lehmann shift is the
    # median of all 50 pairwise differences x_i - y_j.
    diffs = np.sort(np.subtract.outer(WX, WY).ravel())
    assert r["estimate"] == pytest.approx(np.median(diffs))
    # Construction check of the exact interval (Bauer 1972; R's wilcox.test code): the
    # limits are the k-th smallest and k-th largest pairwise differences, where k is
    # the alpha/2 quantile of U's null distribution, here counted by brute force over
    # all C(15, 5) = 3003 rank assignments.
    pooled = np.arange(1, 16)
    u_null = np.array([sum(c) - 5 * 6 // 2 for c in itertools.combinations(pooled, 5)])
    k = max(int(np.min(np.flatnonzero(np.cumsum(np.bincount(u_null, minlength=51)) / 3003 >= 0.025))), 1)
    assert (r["ci_lower"], r["ci_upper"]) == (diffs[k - 1], diffs[50 - k])
    assert r["ci_lower"] <= r["estimate"] <= r["ci_upper"]


def test_mann_whitney_null_distribution_reproduces_r_one_sided_p():
    # R ?wilcox.test: wilcox.test(x, y, alternative = "g") -> W = 35, p-value = 0.1272
    counts = pm.mann_whitney_null_counts(10, 5)
    assert counts.sum() == math.comb(15, 5)
    assert counts[35:].sum() / counts.sum() == pytest.approx(0.1272, abs=5e-5)


# --------------------------------------------------------------------------- proportions


@pytest.mark.parametrize(("pre", "post", "expected"), [
    # Newcombe RG (1998) Stat Med 17:873-890, Table II, method 10 (hybrid score):
    ((48, 80), (56, 70), (0.2000, 0.0524, 0.3339)),   # example (a): 56/70 - 48/80
    ((3, 10), (9, 10), (0.6000, 0.1705, 0.8090)),     # example (b): 9/10 - 3/10
])
def test_risk_difference_matches_newcombe_1998_method_10(pre, post, expected):
    r = pm.proportions(*pre, *post, alpha=0.05)[0]
    assert r["comparison"] == "risk_difference"
    assert (r["estimate"], r["ci_lower"], r["ci_upper"]) == pytest.approx(expected, abs=5e-5)


def test_proportion_compare_reports_percentage_points_and_narrative():
    # Newcombe (1998) Table II (a) as a monthly series: 48/80 before, 56/70 after.
    data = series([(20, 40), (28, 40)], [(26, 35), (30, 35)], scale=100)
    result = compare(data, measure=measure("proportion", name="Discharge summaries sent within 24 hours"),
                     measure_id="falls_with_harm", intervention=INTERVENTION, transition_months=0)
    r = row(result, "risk_difference")
    assert (r["estimate"], r["ci_lower"], r["ci_upper"]) == pytest.approx((20.00, 5.24, 33.39), abs=5e-3)
    assert r["test"] == "pearson_chi_square"
    # Pearson chi-square without continuity correction, R: chisq.test(matrix(c(56, 14, 48, 32), 2),
    # correct = FALSE); checked here against scipy by construction
    chi = stats.chi2_contingency([[56, 14], [48, 32]], correction=False)
    assert r["p_value"] == pytest.approx(chi.pvalue)
    ratio = row(result, "risk_ratio")
    assert ratio["estimate"] == pytest.approx((56 / 70) / (48 / 80))
    # Katz log interval, by its formula: exp(log RR +/- z sqrt(1/a - 1/n1 + 1/c - 1/n2))
    se = math.sqrt(1 / 56 - 1 / 70 + 1 / 48 - 1 / 80)
    z = stats.norm.isf(0.025)
    assert (ratio["ci_lower"], ratio["ci_upper"]) == pytest.approx(
        (ratio["estimate"] * math.exp(-z * se), ratio["estimate"] * math.exp(z * se)))
    text = result.narrative()  # snapshot; its p is the chi-square checked above (0.0079)
    assert text.startswith("Discharge summaries sent within 24 hours rose from 60.0% to 80.0%: a difference of "
                           "20.0 percentage points (95% CI 5.2 to 33.4), p = 0.008. Discharge summaries sent within "
                           "24 hours: a risk ratio of 1.33 (95% CI 1.08 to 1.65), p = 0.008. These comparisons")
    assert "interrupted time series" in text and text.endswith("programme caused it.")


def test_fisher_exact_when_expected_cell_below_five():
    # R: fisher.test(matrix(c(3, 1, 1, 3), 2)) -> p-value = 0.4857 (Fisher's tea tasting;
    # the conditional MLE odds ratio 6.408309 is not reported by evalkit)
    p, test, _ = pm.two_by_two_test(1, 4, 3, 4)
    assert test == "fisher_exact"
    assert p == pytest.approx(0.4857, abs=5e-5)


# --------------------------------------------------------------------------- Poisson rates


def test_rate_ratio_matches_r_poisson_test():
    # R ?poisson.test: poisson.test(c(11, 6 + 8 + 7), c(800, 1083 + 1050 + 878))
    #   p-value = 0.07967; 95 percent CI 0.8584264 4.2772659; rate ratio 1.971488
    data = series([(21, 3011)], [(11, 800)], scale=1000)
    result = compare(data, measure=measure("rate"), measure_id="falls_with_harm",
                     intervention=INTERVENTION, transition_months=0)
    r = row(result, "rate_ratio")
    assert r["estimate"] == pytest.approx(1.971488, abs=5e-7)
    assert (r["ci_lower"], r["ci_upper"]) == pytest.approx((0.8584264, 4.2772659), abs=5e-8)
    assert r["p_value"] == pytest.approx(0.07967, abs=5e-6)
    # Derivation (Breslow & Day 1987, s. 7.2): Clopper-Pearson limits on 11 of 32 events
    # from scipy.stats.beta, mapped by p / (1 - p) * t_pre / t_post.
    lo, hi = stats.beta.ppf(0.025, 11, 22), stats.beta.ppf(0.975, 12, 21)
    assert r["ci_lower"] == pytest.approx(lo / (1 - lo) * 3011 / 800)
    assert r["ci_upper"] == pytest.approx(hi / (1 - hi) * 3011 / 800)
    diff = row(result, "rate_difference")
    assert diff["estimate"] == pytest.approx((11 / 800 - 21 / 3011) * 1000)
    assert diff["ci_lower"] < diff["estimate"] < diff["ci_upper"]


def test_count_uses_months_as_exposure():
    data = series([(4, np.nan)] * 6, [(2, np.nan)] * 6)
    data["value"] = data["numerator"]
    result = compare(data, measure=measure("count"), measure_id="falls_with_harm",
                     intervention=INTERVENTION, transition_months=0)
    r = row(result, "rate_ratio")
    assert r["estimate"] == pytest.approx(0.5)
    assert (r["pre_value"], r["post_value"]) == (4.0, 2.0)
    # Exact conditional test: 12 of 36 events after, with equal exposure p = 1/2 (R binom.test(12, 36))
    assert r["p_value"] == pytest.approx(stats.binomtest(12, 36, 0.5).pvalue)


# --------------------------------------------------------------------------- controlled designs


def test_ratio_of_rate_ratios_known_answer():
    # By construction: intervention 100 -> 80 per 1,000 bed days (RR 0.8); comparator 50 -> 50 (RR 1.0).
    area = series([(50, 500), (50, 500)], [(40, 500), (40, 500)], scale=1000)
    control = series([(25, 250), (25, 250)], [(25, 250), (25, 250)], scale=1000)
    result = compare(area, measure=measure("rate"), measure_id="falls_with_harm", intervention=INTERVENTION,
                     transition_months=0, comparator=control)
    r = row(result, "ratio_of_rate_ratios")
    assert r["estimate"] == pytest.approx(0.8)
    se = math.sqrt(1 / 100 + 1 / 80 + 1 / 50 + 1 / 50)  # Wald on the log scale, one over each count
    z = stats.norm.isf(0.025)
    assert (r["ci_lower"], r["ci_upper"]) == pytest.approx((0.8 * math.exp(-z * se), 0.8 * math.exp(z * se)))
    assert r["p_value"] == pytest.approx(2 * stats.norm.sf(abs(math.log(0.8)) / se))
    assert result.summary()["p_adjusted"].notna().all()


def test_difference_in_differences_for_proportions_and_means():
    # Proportions: 50% -> 70% in the area, 50% -> 60% in the comparator: DiD 10 points.
    area = series([(50, 100)], [(70, 100)], scale=100)
    control = series([(50, 100)], [(60, 100)], scale=100)
    result = compare(area, measure=measure("proportion"), measure_id="falls_with_harm", intervention=INTERVENTION,
                     transition_months=0, comparator=control)
    r = row(result, "difference_in_differences")
    se = math.sqrt(0.25 / 100 + 0.21 / 100 + 0.25 / 100 + 0.24 / 100) * 100
    assert r["estimate"] == pytest.approx(10.0)
    assert r["ci_upper"] - r["estimate"] == pytest.approx(stats.norm.isf(0.025) * se)
    # Means: area 1, 3 -> 5, 7 (+4); comparator 1, 3 -> 2, 4 (+1): DiD 3.
    result = compare(values_series([1, 3], [5, 7]), measure=measure("mean"), measure_id="falls_with_harm",
                     intervention=INTERVENTION, transition_months=0, comparator=values_series([1, 3], [2, 4]))
    r = row(result, "difference_in_differences")
    assert r["estimate"] == pytest.approx(3.0)
    assert r["ci_upper"] - r["estimate"] == pytest.approx(stats.norm.isf(0.025) * math.sqrt(4 * 2 / 2))


# --------------------------------------------------------------------------- FDR and the table


def test_adjust_fdr_matches_r_p_adjust():
    # R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "BH") -> 0.02 0.04 0.04 0.02
    table = pd.DataFrame({"measure_id": list("abcd"), "p_value": [0.01, 0.04, 0.03, 0.005]})
    out = adjust_fdr(table)
    assert out["p_adjusted"].tolist() == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert "p_adjusted" not in table.columns


def test_compare_measures_table_contract_and_bh_across_measures():
    rate = series([(21, 3011)], [(11, 800)], scale=1000)
    prop = series([(48, 80)], [(56, 70)], scale=100, measure_id="summaries")
    result = compare_measures({"falls_with_harm": rate, "summaries": prop},
                              measures={"falls_with_harm": measure("rate"), "summaries": measure("proportion")},
                              intervention=INTERVENTION, transition_months=0)
    table = result.summary()
    assert list(table.columns[: len(CONTRACT)]) == CONTRACT == list(SUMMARY_COLUMNS)
    assert table["comparison"].tolist() == ["rate_ratio", "rate_difference", "risk_difference", "risk_ratio"]
    # Two distinct tests (the rate ratio and difference share one, as do the risk difference and ratio)
    p = table.drop_duplicates("measure_id")["p_value"].to_numpy()
    expected = np.minimum(1, np.sort(p)[::-1] * 2 / np.arange(2, 0, -1))  # BH step-up for m = 2
    expected = np.minimum.accumulate(expected)[::-1]
    assert sorted(table.drop_duplicates("measure_id")["p_adjusted"]) == pytest.approx(sorted(expected))
    assert (table["n_adjusted"] == 2).all()
    assert "after adjusting for 2 comparisons" in result.narrative()
    assert result.plot().get_yticklabels()


def test_windows_exclude_transition_and_inputs_unchanged():
    # Two transition months with absurd values must not enter either window.
    data = series([(10, 1000)] * 3, [(5, 1000)] * 3, transition=2, transition_row=(900, 1000), scale=1000)
    control = series([(10, 1000)] * 3, [(10, 1000)] * 3, transition=2, transition_row=(900, 1000), scale=1000)
    before, before_c = data.copy(deep=True), control.copy(deep=True)
    result = compare(data, measure=measure("rate"), measure_id="falls_with_harm", intervention=INTERVENTION,
                     transition_months=2, comparator=control)
    r = row(result, "rate_ratio")
    assert r["estimate"] == pytest.approx(0.5)
    assert (r["n_pre"], r["n_post"]) == (3, 3)
    assert r["pre_end"] == dt.date(2017, 3, 1) and r["post_start"] == dt.date(2017, 6, 1)
    assert row(result, "ratio_of_rate_ratios")["estimate"] == pytest.approx(0.5)
    pd.testing.assert_frame_equal(data, before)
    pd.testing.assert_frame_equal(control, before_c)


def test_errors_name_the_problem():
    data = series([(10, 1000)] * 3, [(5, 1000)] * 3, scale=1000)
    kw = dict(measure=measure("rate"), measure_id="falls_with_harm", intervention=INTERVENTION, transition_months=0)
    with pytest.raises(AnalysisError, match=r"post window \(2018-01 to 2018-03\)"):
        compare(data, **kw, post=Window(start="2018-01", end="2018-03"))
    with pytest.raises(AnalysisError, match="comparison='bogus' is not known"):
        compare(data, **kw, comparison="bogus")
    with pytest.raises(AnalysisError, match="inside the transition"):
        compare(data, **{**kw, "transition_months": 1}, post=Window(start="2017-04", end="2017-06"))
    with pytest.raises(AnalysisError, match=r"lacks the columns \['value'\]"):
        compare(data.drop(columns="value"), **kw)
    with pytest.raises(AnalysisError, match="at least 2"):  # a Welch t needs two months per window
        compare(values_series([1.0], [2.0, 3.0]), measure=measure("mean"), measure_id="falls_with_harm",
                intervention=INTERVENTION, transition_months=0)
    with pytest.raises(AnalysisError, match="comparator needs comparison='mean'"):
        compare(data, **kw, comparison="median", comparator=data)
    with pytest.raises(AnalysisError, match="No definition for the measure"):
        compare_measures({"other": data}, measures={}, intervention=INTERVENTION, transition_months=0)


# --------------------------------------------------------------------------- survey waves


def survey(pre: list[float], post: list[float], *, paired: bool) -> pd.DataFrame:
    rows = []
    for wave, values in (("pre", pre), ("post", post)):
        for i, v in enumerate(values):
            rid = f"r{i}" if paired else f"{wave}{i}"
            rows.append({"locality": "salford", "respondent_id": rid, "wave": wave, "item_id": "q1",
                         "item_domain": "reliability", "response": v, "positive": v >= 1.5})
    return pd.DataFrame(rows)


def test_wilcoxon_signed_rank_matches_r_paired_example():
    # R ?wilcox.test: wilcox.test(x, y, paired = TRUE) (depression scale) -> V = 40, p-value = 0.03906
    data = survey(DEP_Y, DEP_X, paired=True)
    before = data.copy(deep=True)
    result = compare_waves(data, measure_id="culture", by=("item",), paired=True)
    r = row(result, "wilcoxon_signed_rank")
    assert r["statistic"] == 40
    assert r["p_value"] == pytest.approx(0.03906, abs=5e-6)
    assert (r["n_pre"], r["n_post"]) == (9, 9)
    pd.testing.assert_frame_equal(data, before)


def test_unpaired_waves_mann_whitney_and_percent_positive():
    # R ?wilcox.test: W = 35 (x after, y before), two-sided exact p = 0.2544
    result = compare_waves(survey(WY, WX, paired=False), measure_id="culture")
    table = result.summary()
    assert list(table.columns[: len(CONTRACT)]) == CONTRACT
    r = row(result, "mann_whitney")
    assert r["statistic"] == 35 and r["estimate"] == pytest.approx(35 / 50)
    assert r["p_value"] == pytest.approx(0.2544, abs=5e-5)
    pct = row(result, "percent_positive_difference")
    # 3/10 positive after (1.89, 1.91, 1.64 >= 1.5), 0/5 before: 30 percentage points
    assert (pct["pre_value"], pct["post_value"], pct["estimate"]) == pytest.approx((0.0, 30.0, 30.0))
    assert pct["ci_lower"] < 30 < pct["ci_upper"]
    assert pct["test"] == "fisher_exact"  # expected cells below 5
    assert set(table["domain"]) == {"reliability"} and set(table["item"].dropna()) == {"q1"}
    assert table["p_adjusted"].notna().all()
    assert result.narrative().endswith("programme caused it.")


def test_waves_errors():
    data = survey(WY, WX, paired=False)
    with pytest.raises(AnalysisError, match="no responses in wave 'post'"):
        compare_waves(data[data["wave"] == "pre"], measure_id="culture")
    with pytest.raises(AnalysisError, match="by="):
        compare_waves(data, measure_id="culture", by=("ward",))
