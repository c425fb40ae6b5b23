"""Two-window comparisons: one small function per method, numbers in, table rows out.

Each function compares a *post* sample with a *pre* sample and returns a list
of row dicts with the keys of :data:`ROW_KEYS` (post minus pre, or post over
pre). Estimates are on the natural scale (proportions as fractions, rates per
unit of exposure); :mod:`evalkit.stats.prepost` scales them to the measure's
reported units. The functions know nothing of series, windows or measures.

=============================  ==========================================================  =============================
comparison                     interval                                                    test
=============================  ==========================================================  =============================
difference_in_means            Welch-Satterthwaite t                                       Welch t
hodges_lehmann_shift           distribution-free (Bauer 1972; Hollander & Wolfe 1999)       Mann-Whitney U
risk_difference                Newcombe (1998) hybrid score, method 10                      Pearson chi-square / Fisher
risk_ratio                     Katz log                                                     Pearson chi-square / Fisher
rate_ratio                     exact conditional (Clopper-Pearson on x1 / (x1 + x2))        exact conditional binomial
rate_difference                score (statsmodels)                                          exact conditional binomial
ratio_of_rate_ratios           Wald on the log scale                                        Wald z
difference_in_differences      Wald                                                         Wald z
=============================  ==========================================================  =============================
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats
from scipy.stats.contingency import expected_freq
from statsmodels.stats.meta_analysis import effectsize_smd
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint
from statsmodels.stats.rates import confint_poisson_2indep, test_poisson_2indep

from evalkit.errors import AnalysisError

ROW_KEYS = ("comparison", "estimate", "ci_lower", "ci_upper", "p_value", "test", "statistic", "effect_size")

EXACT_RANK_MAX_N = 50  # R wilcox.test: exact Mann-Whitney / signed-rank distribution below 50 per group, no ties
MIN_EXPECTED = 5  # Cochran (1954): use Fisher's exact test when any expected 2x2 cell count is below 5
CHI2_YATES = False  # Pearson chi-square without Yates' correction (Campbell 2007, Stat Med 26:3661)
RISK_DIFFERENCE_METHOD = "newcomb"  # statsmodels' name for Newcombe (1998) Stat Med 17:873, method 10
RISK_RATIO_METHOD = "log"  # statsmodels' Katz et al. (1978) log interval for a ratio of proportions
CLOPPER_PEARSON = "beta"  # statsmodels' name for the Clopper-Pearson (1934) exact binomial interval
RATE_TEST = "exact-cond"  # conditional binomial test of two Poisson rates (Breslow & Day 1987, s. 7.2)
RATE_DIFFERENCE_METHOD = "score"  # statsmodels' score interval for a difference of Poisson rates


def _row(comparison: str, estimate: float, low: float, high: float, p: float, test: str,
         statistic: float = math.nan, effect_size: float = math.nan) -> dict:
    return {"comparison": comparison, "estimate": float(estimate), "ci_lower": float(low),
            "ci_upper": float(high), "p_value": float(p), "test": test, "statistic": float(statistic),
            "effect_size": float(effect_size)}


def _whole(count: float, window: str) -> int:
    """An event count as an int; exact Poisson methods need whole numbers."""
    if not float(count).is_integer() or count < 0:
        raise AnalysisError(f"The {window} window's events sum to {count!r}, not a whole number; exact Poisson "
                            "methods need counts. Check the numerator column, or use comparison='mean'.")
    return int(count)


def _wald(estimate: float, se: float, alpha: float) -> tuple[float, float, float]:
    """Lower and upper Wald limits and the two-sided p-value of ``estimate / se``."""
    if not (np.isfinite(se) and se > 0):
        return math.nan, math.nan, math.nan
    z = stats.norm.isf(alpha / 2)
    return estimate - z * se, estimate + z * se, float(2 * stats.norm.sf(abs(estimate / se)))


# --------------------------------------------------------------------------- continuous values


def welch(pre: np.ndarray, post: np.ndarray, *, alpha: float) -> list[dict]:
    """Difference in means (post - pre), Welch t-test and interval; effect size Hedges' g."""
    res = stats.ttest_ind(post, pre, equal_var=False)
    ci = res.confidence_interval(confidence_level=1 - alpha)
    g, _ = effectsize_smd(np.mean(post), np.std(post, ddof=1), len(post), np.mean(pre), np.std(pre, ddof=1), len(pre))
    return [_row("difference_in_means", np.mean(post) - np.mean(pre), ci.low, ci.high, res.pvalue, "welch_t",
                 res.statistic, g)]


def mann_whitney_null_counts(m: int, n: int) -> np.ndarray:
    """Ways of reaching each value 0..m*n of the Mann-Whitney U statistic under no ties (Mann & Whitney 1947).

    The count of subsets of size ``m`` of the ranks ``1..m+n`` by their rank sum,
    shifted by ``m(m+1)/2``; exact integers (float64 is exact below 2**53).
    """
    total = m + n
    top = m * total
    ways = np.zeros((m + 1, top + 1))
    ways[0, 0] = 1
    for rank in range(1, total + 1):
        for k in range(min(rank, m), 0, -1):
            ways[k, rank:] += ways[k - 1, :-rank]
    counts = ways[m, m * (m + 1) // 2: m * (m + 1) // 2 + m * n + 1]
    return counts


def _hl_order_index(m: int, n: int, alpha: float, exact: bool) -> int:
    """1-based order statistic of the pairwise differences that bounds the interval below."""
    if exact:
        cdf = np.cumsum(mann_whitney_null_counts(m, n))
        cdf /= cdf[-1]
        # R's qwilcox(alpha / 2, m, n): the smallest u with P(U <= u) >= alpha / 2
        qu = int(np.searchsorted(cdf, alpha / 2 - 1e-12))
        return max(qu, 1)
    # Large-sample approximation (Hollander & Wolfe 1999, eq. 4.43), without a ties correction
    z = stats.norm.isf(alpha / 2)
    return max(int(math.floor(m * n / 2 - z * math.sqrt(m * n * (m + n + 1) / 12))), 1)


def hodges_lehmann(pre: np.ndarray, post: np.ndarray, *, alpha: float) -> list[dict]:
    """Hodges-Lehmann shift (median of all post_i - pre_j) with its distribution-free interval; Mann-Whitney U.

    Exact (as R ``wilcox.test(post, pre, conf.int=TRUE)``) below 50 per group
    without ties; otherwise the normal approximation with continuity correction
    and, for the interval, the large-sample order statistic. ``statistic`` is
    the U of ``post`` (R's W); ``effect_size`` the probability of superiority U / mn.
    """
    m, n = len(post), len(pre)
    diffs = np.sort(np.subtract.outer(np.asarray(post, float), np.asarray(pre, float)).ravel())
    tied = len(np.unique(np.concatenate([post, pre]))) < m + n
    exact = not tied and m < EXACT_RANK_MAX_N and n < EXACT_RANK_MAX_N
    res = stats.mannwhitneyu(post, pre, alternative="two-sided", method="exact" if exact else "asymptotic",
                             use_continuity=True)
    k = _hl_order_index(m, n, alpha, exact)
    low, high = (diffs[k - 1], diffs[m * n - k]) if k <= m * n - k + 1 else (math.nan, math.nan)
    return [_row("hodges_lehmann_shift", np.median(diffs), low, high, res.pvalue,
                 "mann_whitney_u_exact" if exact else "mann_whitney_u_normal", res.statistic,
                 res.statistic / (m * n))]


# --------------------------------------------------------------------------- proportions


def two_by_two_test(x_pre: float, n_pre: float, x_post: float, n_post: float) -> tuple[float, str, float]:
    """p-value, test name and statistic: Pearson chi-square, or Fisher's exact when an expected cell is below 5."""
    table = np.array([[x_post, n_post - x_post], [x_pre, n_pre - x_pre]], dtype=float)
    if (table.sum(axis=0) == 0).any():
        return 1.0, "none_all_one_outcome", math.nan
    if (expected_freq(table) < MIN_EXPECTED).any():
        res = stats.fisher_exact(np.rint(table).astype(int))
        return float(res.pvalue), "fisher_exact", math.nan
    res = stats.chi2_contingency(table, correction=CHI2_YATES)
    return float(res.pvalue), "pearson_chi_square", float(res.statistic)


def proportions(x_pre: float, n_pre: float, x_post: float, n_post: float, *, alpha: float) -> list[dict]:
    """Risk difference (Newcombe hybrid score) and risk ratio (Katz log), one 2x2 test for both."""
    p, test, statistic = two_by_two_test(x_pre, n_pre, x_post, n_post)
    diff_ci = confint_proportions_2indep(x_post, n_post, x_pre, n_pre, method=RISK_DIFFERENCE_METHOD, alpha=alpha)
    rows = [_row("risk_difference", x_post / n_post - x_pre / n_pre, *diff_ci, p, test, statistic)]
    if x_pre > 0 and x_post > 0:
        ratio_ci = confint_proportions_2indep(x_post, n_post, x_pre, n_pre, compare="ratio",
                                              method=RISK_RATIO_METHOD, alpha=alpha)
        rows.append(_row("risk_ratio", (x_post / n_post) / (x_pre / n_pre), *ratio_ci, p, test, statistic))
    else:
        rows.append(_row("risk_ratio", math.nan, math.nan, math.nan, p, test, statistic))
    return rows


def proportion_interval(x: float, n: float, *, alpha: float) -> tuple[float, float]:
    """Wilson score interval for one proportion (Newcombe 1998, Stat Med 17:857, method 3)."""
    return tuple(float(v) for v in proportion_confint(x, n, alpha=alpha, method="wilson"))


# --------------------------------------------------------------------------- Poisson rates


def poisson_rates(x_pre: float, t_pre: float, x_post: float, t_post: float, *, alpha: float) -> list[dict]:
    """Rate ratio with the exact conditional interval, rate difference with a score interval; exact test.

    Conditional on ``x_pre + x_post`` events, ``x_post`` is binomial with
    ``p = t_post * RR / (t_post * RR + t_pre)``; the Clopper-Pearson limits on
    ``p`` map to ``RR = p / (1 - p) * t_pre / t_post`` (Breslow & Day 1987,
    s. 7.2), as R ``poisson.test(c(x_post, x_pre), c(t_post, t_pre))``.
    """
    x_pre, x_post = _whole(x_pre, "pre"), _whole(x_post, "post")
    total = x_pre + x_post
    if total == 0:
        return [_row("rate_ratio", math.nan, math.nan, math.nan, 1.0, "none_no_events"),
                _row("rate_difference", 0.0, math.nan, math.nan, 1.0, "none_no_events")]
    res = test_poisson_2indep(x_post, t_post, x_pre, t_pre, method=RATE_TEST, compare="ratio")
    p_low, p_high = proportion_confint(x_post, total, alpha=alpha, method=CLOPPER_PEARSON)
    odds = t_pre / t_post
    ratio_high = p_high / (1 - p_high) * odds if p_high < 1 else math.inf
    ratio = (x_post / t_post) / (x_pre / t_pre) if x_pre > 0 else math.inf
    diff_ci = confint_poisson_2indep(x_post, t_post, x_pre, t_pre, method=RATE_DIFFERENCE_METHOD,
                                     compare="diff", alpha=alpha)
    return [_row("rate_ratio", ratio, p_low / (1 - p_low) * odds, ratio_high, res.pvalue, "poisson_exact_conditional"),
            _row("rate_difference", x_post / t_post - x_pre / t_pre, *diff_ci, res.pvalue,
                 "poisson_exact_conditional")]


# --------------------------------------------------------------------------- controlled designs


def ratio_of_rate_ratios(counts: tuple[float, float, float, float], exposures: tuple[float, float, float, float],
                         *, alpha: float) -> list[dict]:
    """(post/pre rate ratio in the intervention) / (the same in the comparator), Wald on the log scale.

    ``counts`` and ``exposures`` are ordered intervention pre, intervention
    post, comparator pre, comparator post. The log standard error is
    ``sqrt(sum(1 / counts))`` (Breslow & Day 1987, s. 4.3); a zero count gives a missing row.
    """
    if min(counts) <= 0:
        return [_row("ratio_of_rate_ratios", math.nan, math.nan, math.nan, math.nan, "wald_z_log")]
    a, b, c, d = counts
    ta, tb, tc, td = exposures
    log_est = math.log((b / tb) / (a / ta)) - math.log((d / td) / (c / tc))
    se = math.sqrt(sum(1 / k for k in counts))
    low, high, p = _wald(log_est, se, alpha)
    return [_row("ratio_of_rate_ratios", math.exp(log_est), math.exp(low), math.exp(high), p, "wald_z_log",
                 log_est / se)]


def difference_in_differences(changes: tuple[float, float], variances: tuple[float, float], *,
                              alpha: float) -> list[dict]:
    """(post - pre in the intervention) - (post - pre in the comparator), Wald interval and z-test.

    ``variances`` are the variances of each change (sum of its two windows' variances).
    """
    estimate = changes[0] - changes[1]
    se = math.sqrt(variances[0] + variances[1])
    low, high, p = _wald(estimate, se, alpha)
    return [_row("difference_in_differences", estimate, low, high, p, "wald_z", estimate / se if se > 0 else math.nan)]


def mean_change(pre: np.ndarray, post: np.ndarray) -> tuple[float, float]:
    """Change in mean and its variance ``s_pre^2 / n_pre + s_post^2 / n_post`` (inputs to the DiD)."""
    return (float(np.mean(post) - np.mean(pre)),
            float(np.var(post, ddof=1) / len(post) + np.var(pre, ddof=1) / len(pre)))


def proportion_change(x_pre: float, n_pre: float, x_post: float, n_post: float) -> tuple[float, float]:
    """Change in proportion and its binomial variance ``p(1 - p)/n`` summed over the windows."""
    p0, p1 = x_pre / n_pre, x_post / n_post
    return p1 - p0, p0 * (1 - p0) / n_pre + p1 * (1 - p1) / n_post


# --------------------------------------------------------------------------- paired and ordinal


def wilcoxon_signed_rank(pre: np.ndarray, post: np.ndarray) -> list[dict]:
    """Median paired difference (post - pre); Wilcoxon signed-rank test as R ``wilcox.test(post, pre, paired=TRUE)``.

    Zero differences are dropped (Wilcoxon's method, as R); exact below 50
    pairs without ties, else normal with continuity correction. ``statistic``
    is R's V, the sum of the ranks of the positive differences.
    """
    diffs = np.asarray(post, float) - np.asarray(pre, float)
    nonzero = diffs[diffs != 0]
    if len(nonzero) == 0:
        return [_row("wilcoxon_signed_rank", 0.0, math.nan, math.nan, 1.0, "wilcoxon_signed_rank")]
    exact = len(nonzero) < EXACT_RANK_MAX_N and len(np.unique(np.abs(nonzero))) == len(nonzero)
    method = "exact" if exact else "approx"
    two = stats.wilcoxon(nonzero, method=method, correction=not exact)
    v = stats.wilcoxon(nonzero, method=method, correction=not exact, alternative="greater").statistic
    return [_row("wilcoxon_signed_rank", np.median(diffs), math.nan, math.nan, two.pvalue,
                 f"wilcoxon_signed_rank_{'exact' if exact else 'normal'}", v)]


def mann_whitney(pre: np.ndarray, post: np.ndarray) -> list[dict]:
    """Probability of superiority P(post > pre) + P(tie) / 2 = U / mn; Mann-Whitney U test.

    Likert scores are heavily tied, so the normal approximation with ties and
    continuity correction is used unless there are no ties (then exact below 50
    per group, as R). ``effect_size`` is the rank-biserial correlation 2U/mn - 1.
    """
    m, n = len(post), len(pre)
    tied = len(np.unique(np.concatenate([post, pre]))) < m + n
    exact = not tied and m < EXACT_RANK_MAX_N and n < EXACT_RANK_MAX_N
    res = stats.mannwhitneyu(post, pre, alternative="two-sided", method="exact" if exact else "asymptotic")
    superiority = res.statistic / (m * n)
    return [_row("mann_whitney", superiority, math.nan, math.nan, res.pvalue,
                 "mann_whitney_u_exact" if exact else "mann_whitney_u_normal", res.statistic, 2 * superiority - 1)]


__all__ = [
    "ROW_KEYS",
    "difference_in_differences",
    "hodges_lehmann",
    "mann_whitney",
    "mann_whitney_null_counts",
    "mean_change",
    "poisson_rates",
    "proportion_change",
    "proportion_interval",
    "proportions",
    "ratio_of_rate_ratios",
    "two_by_two_test",
    "welch",
    "wilcoxon_signed_rank",
]
