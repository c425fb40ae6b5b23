"""The result of a pre/post comparison: one tidy table, its FDR adjustment, prose and forest plot.

Shared by :mod:`evalkit.stats.prepost` (monthly series) and
:mod:`evalkit.stats.prepost_survey` (survey waves), which both build rows and
hand them to :func:`finish_table`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from statsmodels.stats.multitest import multipletests

from evalkit.config.models import Measure, Window
from evalkit.errors import AnalysisError
from evalkit.stats.describe import conf_label, decimals_for, format_estimate, format_with_unit

ALPHA = 0.05  # two-sided 95% intervals, the convention of NHS and Making Data Count reporting
FDR_METHOD = "fdr_bh"  # Benjamini & Hochberg (1995) JRSS B 57:289, statsmodels' name
P_FLOOR = 0.001  # p-values below this are reported as "< 0.001" (BMJ and NHS statistical reporting convention)

SUMMARY_COLUMNS = ("measure_id", "comparison", "estimate", "ci_lower", "ci_upper", "p_value", "p_adjusted",
                   "n_pre", "n_post", "method")
EXTRA_COLUMNS = ("pre_value", "post_value", "effect_size", "statistic", "test", "n_adjusted", "item", "domain",
                 "pre_ci_lower", "pre_ci_upper", "post_ci_lower", "post_ci_upper",
                 "pre_start", "pre_end", "post_start", "post_end")
RATIOS = ("risk_ratio", "rate_ratio", "ratio_of_rate_ratios")
POINTS = ("risk_difference", "percent_positive_difference")  # estimates in percentage points
UNITLESS = ("mann_whitney", "wilcoxon_signed_rank")  # a probability; a change in Likert score
LABELS = {
    "risk_difference": "difference", "percent_positive_difference": "difference", "risk_ratio": "risk ratio",
    "rate_ratio": "rate ratio", "rate_difference": "rate difference", "difference_in_means": "difference in means",
    "hodges_lehmann_shift": "Hodges-Lehmann shift", "ratio_of_rate_ratios": "ratio of rate ratios (vs comparator)",
    "difference_in_differences": "difference in differences (vs comparator)",
    "mann_whitney": "probability that a post response is higher than a pre response",
    "wilcoxon_signed_rank": "median paired change in score",
}

SERIES_ASSUMPTIONS = (
    "These comparisons treat the windows as independent samples of independent units. The pooled binomial and "
    "Poisson methods ignore over-dispersion and the autocorrelation of monthly data, so their intervals are too "
    "narrow and their p-values too small; read them beside the interrupted time series, which models trend, "
    "season and autocorrelation."
)
MEAN_ASSUMPTION = "The Welch t treats each month's value as one independent observation, whatever its size."
DID_ASSUMPTION = ("A difference in differences assumes the comparator would have changed as the intervention "
                  "area did without the programme (parallel trends).")
SURVEY_ASSUMPTIONS = (
    "These comparisons treat respondents as independent. Percent positive pools item responses, which are "
    "correlated within a respondent, so its interval is too narrow; {pairing}"
)
PAIRING = {True: "the signed-rank test uses only respondents present in both waves.",
           False: "the rank test treats the waves as different people, which is conservative if many answered both."}
FDR_ASSUMPTION = ("Adjusted p-values control the false discovery rate (Benjamini-Hochberg), valid for independent "
                  "or positively dependent tests.")
CAUSATION = ("A difference between the {parts} describes what happened; on its own it does not show that the "
             "programme caused it.")


# --------------------------------------------------------------------------- table


def adjust_fdr(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` with ``p_adjusted`` (Benjamini-Hochberg) and ``n_adjusted`` (tests in the family).

    Rows that report one test (e.g. a risk difference and a risk ratio from the
    same chi-square) count once: a test is one distinct ``(measure_id, item,
    domain, test, p_value)``. Rows without a p-value get a missing ``p_adjusted``.
    """
    if not isinstance(table, pd.DataFrame) or "p_value" not in table.columns:
        raise AnalysisError("adjust_fdr needs a DataFrame with a 'p_value' column (a PrePostResult.summary()).")
    out = table.copy()
    keys = [c for c in ("measure_id", "item", "domain", "test", "p_value") if c in out.columns]
    has_p = out["p_value"].notna()
    if "test" in out.columns:
        key = pd.Series(["|".join(map(repr, t)) for t in out[keys].itertuples(index=False)], index=out.index)
    else:
        key = pd.Series([repr(i) for i in out.index], index=out.index)
    tests = key[has_p].drop_duplicates()
    out["p_adjusted"] = np.nan
    if len(tests):
        p = out.loc[tests.index, "p_value"].to_numpy(float)
        adjusted = dict(zip(tests.to_numpy(), multipletests(p, method=FDR_METHOD)[1]))
        out.loc[has_p, "p_adjusted"] = key[has_p].map(adjusted).astype(float)
    out["n_adjusted"] = len(tests)
    return out


def finish_table(rows: list[dict]) -> pd.DataFrame:
    """Rows -> the contracted table (columns in order, extras after), BH-adjusted across all rows."""
    table = pd.DataFrame(rows)
    for column in SUMMARY_COLUMNS + EXTRA_COLUMNS:
        if column not in table.columns:
            table[column] = None if column in ("item", "domain", "pre_start", "pre_end", "post_start",
                                               "post_end") else np.nan
    table = adjust_fdr(table)
    table["n_pre"] = table["n_pre"].astype("int64")
    table["n_post"] = table["n_post"].astype("int64")
    return table[list(SUMMARY_COLUMNS + EXTRA_COLUMNS)].reset_index(drop=True)


# --------------------------------------------------------------------------- prose


def _p_text(p: float) -> str:
    if not np.isfinite(p):
        return "no test"
    return f"p < {P_FLOOR:g}" if p < P_FLOOR else f"p = {p:.3f}"


def _adjusted_text(row: pd.Series) -> str:
    if not np.isfinite(row["p_adjusted"]) or row["n_adjusted"] <= 1:
        return ""
    value = f"< {P_FLOOR:g}" if row["p_adjusted"] < P_FLOOR else f"{row['p_adjusted']:.3f}"
    return f" ({value} after adjusting for {int(row['n_adjusted'])} comparisons)"


def _number(value: float, row: pd.Series, measure: Measure | None) -> str:
    if not np.isfinite(value):
        return "not estimable" if not np.isinf(value) else "unbounded"
    comparison = row["comparison"]
    if comparison in RATIOS or comparison in UNITLESS:
        return f"{value:.2f}"
    if comparison in POINTS or (measure is not None and measure.kind == "proportion"):
        return f"{value:.1f}"  # percentage points
    if measure is None:
        return f"{value:.2f}"
    return format_estimate(value, measure, decimals=decimals_for(row["pre_value"] if np.isfinite(row["pre_value"])
                                                                  else value, measure))


def _unit(row: pd.Series, measure: Measure | None) -> str:
    comparison = row["comparison"]
    if comparison in RATIOS or comparison in UNITLESS:
        return ""
    if comparison in POINTS or (measure is not None and measure.kind == "proportion"):
        return " percentage points"
    if measure is None:
        return ""
    return f" {measure.value_label}"


def _verb(pre: float, post: float) -> str:
    return "rose from" if post > pre else "fell from" if post < pre else "was unchanged at"


def _lead(row: pd.Series, measure: Measure | None, name: str) -> str:
    pre, post = row["pre_value"], row["post_value"]
    if not (np.isfinite(pre) and np.isfinite(post)):
        return name
    if row["comparison"] == "percent_positive_difference":
        change = f"{pre:.1f}%" if pre == post else f"{pre:.1f}% to {post:.1f}%"
        return f"{name}: percent positive {_verb(pre, post)} {change}"
    if measure is None:
        return f"{name}: mean score {pre:.2f} before and {post:.2f} after"
    places = decimals_for(pre, measure)
    to = "" if pre == post else f" to {format_estimate(post, measure, decimals=places)}"
    return f"{name} {_verb(pre, post)} {format_with_unit(pre, measure, decimals=places)}{to}"


def _clause(row: pd.Series, measure: Measure | None, alpha: float) -> str:
    est, unit = _number(row["estimate"], row, measure), _unit(row, measure)
    if np.isfinite(row["ci_lower"]) and np.isfinite(row["ci_upper"]):
        interval = (f" ({conf_label(alpha)} CI {_number(row['ci_lower'], row, measure)} to "
                    f"{_number(row['ci_upper'], row, measure)})")
    else:
        interval = ""
    return f"a {LABELS.get(row['comparison'], row['comparison'])} of {est}{unit}{interval}, " \
           f"{_p_text(row['p_value'])}{_adjusted_text(row)}"


@dataclass(frozen=True)
class PrePostResult:
    """Pre/post comparisons: one row per estimate, with FDR-adjusted p-values.

    ``summary()`` columns, in order:

    ``measure_id``; ``comparison`` (what is estimated: ``difference_in_means``,
    ``hodges_lehmann_shift``, ``risk_difference``, ``risk_ratio``, ``rate_ratio``,
    ``rate_difference``, ``difference_in_differences``, ``ratio_of_rate_ratios``,
    ``percent_positive_difference``, ``mann_whitney``, ``wilcoxon_signed_rank``);
    ``estimate``, ``ci_lower``, ``ci_upper`` (post minus pre, or post over pre;
    differences of rates and means in the measure's units, of proportions in
    percentage points; the ``mann_whitney`` estimate is U/mn, P(post > pre) + P(tie)/2,
    and the ``wilcoxon_signed_rank`` estimate the median paired change, both
    without an interval); ``p_value`` (two-sided); ``p_adjusted``
    (Benjamini-Hochberg across the distinct tests of the result); ``n_pre``,
    ``n_post`` (months with data in each window; respondents for rank tests;
    item responses for percent positive; paired respondents for signed-rank);
    ``method`` (plain-English method).

    Extra columns: ``pre_value``, ``post_value`` (each window's headline value
    in reported units: pooled rate or percent, mean or median of the months, mean
    score; missing on difference-in-differences rows); ``effect_size`` (Hedges' g
    for means; U/mn for Hodges-Lehmann; rank-biserial for Mann-Whitney);
    ``statistic`` (t, U as R's W, V as R's, chi-square, z); ``test`` (the test's
    code); ``n_adjusted`` (tests in the FDR family); ``item``, ``domain``
    (survey rows); ``pre_ci_lower`` .. ``post_ci_upper`` (Wilson intervals of
    each wave's percent positive); ``pre_start``, ``pre_end``, ``post_start``,
    ``post_end`` (the windows, first days of months; series rows).
    """

    table: pd.DataFrame = field(repr=False, compare=False)
    alpha: float
    measures: Mapping[str, Measure] = field(default_factory=dict, repr=False)
    intervention: dt.date | None = None
    transition_months: int | None = None
    baseline: Window | None = None
    post: Window | None = None
    paired: bool | None = None
    by: tuple[str, ...] | None = None

    def summary(self) -> pd.DataFrame:
        return self.table.copy()

    def _name(self, row: pd.Series) -> str:
        measure = self.measures.get(row["measure_id"])
        name = measure.name if measure else str(row["measure_id"])
        if isinstance(row["item"], str):
            return f"{name}, item {row['item']}"
        if isinstance(row["domain"], str):
            return f"{name}, {row['domain'].replace('_', ' ')} domain"
        return name

    def sentences(self) -> list[str]:
        """One sentence per row; the first row of each measure (or item) leads with the pre and post values."""
        out, seen = [], set()
        for _, row in self.table.iterrows():
            measure = self.measures.get(row["measure_id"])
            key = (row["measure_id"], row["item"], row["domain"], row["comparison"] == "percent_positive_difference")
            name = self._name(row)
            lead = _lead(row, measure, name) if key not in seen and np.isfinite(row["pre_value"]) else name
            seen.add(key)
            out.append(f"{lead}: {_clause(row, measure, self.alpha)}.")
        return out

    def assumptions(self) -> str:
        if self.paired is not None:
            parts = [SURVEY_ASSUMPTIONS.format(pairing=PAIRING[bool(self.paired)])]
        else:
            parts = [SERIES_ASSUMPTIONS]
            if (self.table["test"] == "welch_t").any():
                parts.append(MEAN_ASSUMPTION)
            if self.table["comparison"].isin(["ratio_of_rate_ratios", "difference_in_differences"]).any():
                parts.append(DID_ASSUMPTION)
        if (self.table["n_adjusted"] > 1).any():
            parts.append(FDR_ASSUMPTION)
        parts.append(CAUSATION.format(parts="waves" if self.paired is not None else "windows"))
        return " ".join(parts)

    def narrative(self) -> str:
        return " ".join(self.sentences() + [self.assumptions()])

    def plot(self, ax: Axes | None = None) -> Axes:
        """Forest plot: each row's estimate and interval, with its no-change line (0, or 1 for ratios)."""
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.45 * len(self.table) + 1.2))
        y = np.arange(len(self.table))[::-1]
        est = self.table["estimate"].to_numpy(float)
        low = self.table["ci_lower"].to_numpy(float)
        high = self.table["ci_upper"].to_numpy(float)
        err = np.vstack([est - low, high - est])
        ax.errorbar(est, y, xerr=np.where(np.isfinite(err), err, 0), fmt="o", capsize=3,
                    label=f"estimate and {conf_label(self.alpha)} CI")
        for yi, comparison in zip(y, self.table["comparison"]):
            null = 1.0 if comparison in RATIOS else 0.5 if comparison == "mann_whitney" else 0.0
            ax.plot([null, null], [yi - 0.4, yi + 0.4], color="grey", linewidth=1)
        labels = [f"{self._name(r)}\n{LABELS.get(r['comparison'], r['comparison'])}" for _, r in self.table.iterrows()]
        ax.set_yticks(y, labels)
        ax.set_xlabel("estimate (grey: no change; 0 for differences, 1 for ratios)")
        ax.set_ylim(-0.6, len(self.table) - 0.4)
        return ax


__all__ = ["ALPHA", "EXTRA_COLUMNS", "SUMMARY_COLUMNS", "PrePostResult", "adjust_fdr", "finish_table"]
