"""Before versus after: compare a measure's pre and post windows, with intervals and FDR control.

:func:`compare` tests one monthly series (from
:func:`evalkit.data.series.measure_series`) across the windows either side of
an intervention, the transition months left out (the windows follow
:func:`evalkit.stats.describe.describe_windows`). :func:`compare_measures`
does it for every measure of a pack and adjusts the p-values across them by
Benjamini-Hochberg; :func:`evalkit.stats.prepost_survey.compare_waves` compares
survey waves. The method follows the measure's kind (or ``comparison=``):

===========================  =================================================  ==============================
kind / comparison            rows (post vs pre)                                  with a comparator series
===========================  =================================================  ==============================
rate                         rate_ratio, rate_difference (pooled events/exposure) ratio_of_rate_ratios
count                        rate_ratio, rate_difference (exposure = months)      ratio_of_rate_ratios
proportion                   risk_difference, risk_ratio (pooled)                 difference_in_differences
mean, or ``"mean"``          difference_in_means of the monthly values            difference_in_differences
``"median"``                 hodges_lehmann_shift of the monthly values           (not available)
===========================  =================================================  ==============================

The methods themselves live in :mod:`evalkit.stats.prepost_methods`; the
result, its table, prose and chart in :mod:`evalkit.stats.prepost_result`.
Pooled pre/post tests treat months (and the units inside them) as independent,
so for autocorrelated monthly data their intervals are too narrow: the
interrupted time series is the primary analysis; these are descriptive support.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd

from evalkit.config.models import Measure, Window
from evalkit.errors import AnalysisError
from evalkit.stats.describe import resolve_windows
from evalkit.stats import prepost_methods as pm
from evalkit.stats.prepost_result import (
    ALPHA,
    SUMMARY_COLUMNS,
    PrePostResult,
    adjust_fdr,
    finish_table,
)
from evalkit.stats.prepost_survey import compare_waves

SERIES_NEEDS = ("period", "numerator", "denominator", "value")
COMPARISONS = {
    "pooled": "pooled events or proportions across each window's months (the default for rates, counts, proportions)",
    "mean": "difference in mean monthly value, Welch t (the default for means)",
    "median": "Hodges-Lehmann shift in monthly value, Mann-Whitney U",
}
"""The ``comparison=`` choices of :func:`compare`."""

MIN_MONTHS = {"mean": 2, "median": 1, "pooled": 1}  # a Welch t needs two months per window (one degree of freedom)

METHOD_TEXT = {
    "rate_ratio": "rate ratio post/pre, exact conditional (binomial) interval and test",
    "rate_difference": "rate difference post - pre, score interval; exact conditional test",
    "risk_difference": "risk difference post - pre, Newcombe hybrid score interval; {test}",
    "risk_ratio": "risk ratio post/pre, Katz log interval; {test}",
    "difference_in_means": "difference in mean monthly value post - pre, Welch t interval and test",
    "hodges_lehmann_shift": "Hodges-Lehmann shift in monthly value, distribution-free interval; Mann-Whitney U",
    "ratio_of_rate_ratios": "ratio of post/pre rate ratios, intervention / comparator, Wald interval on log scale",
    "difference_in_differences": "difference of post - pre changes, intervention - comparator, Wald interval",
}
TEST_TEXT = {"pearson_chi_square": "Pearson chi-square test", "fisher_exact": "Fisher's exact test",
             "none_all_one_outcome": "no test (every unit had the same outcome)"}


# --------------------------------------------------------------------------- validation and windows


def _check_options(measure: Measure, transition_months: int, comparison: str | None, alpha: float) -> str:
    if not isinstance(measure, Measure):
        raise AnalysisError(f"measure must be an evalkit Measure (from programme.yml), got {type(measure).__name__}.")
    if not 0 < alpha < 1:
        raise AnalysisError(f"alpha must be between 0 and 1 (0.05 for 95% intervals), got {alpha!r}.")
    if not isinstance(transition_months, int) or transition_months < 0:
        raise AnalysisError(f"transition_months must be a whole number of months, 0 or more; got {transition_months!r}.")
    if comparison is None:
        return "mean" if measure.kind == "mean" else "pooled"
    if comparison not in COMPARISONS:
        raise AnalysisError(f"comparison={comparison!r} is not known; choose one of {sorted(COMPARISONS)} "
                            "or leave it out to follow the measure's kind.")
    if comparison == "pooled" and measure.kind == "mean":
        raise AnalysisError("comparison='pooled' needs a rate, count or proportion; "
                            f"{measure.name!r} is a mean: use comparison='mean' or 'median'.")
    return comparison


def _check_series(series: pd.DataFrame, measure_id: str, what: str) -> None:
    if not isinstance(series, pd.DataFrame):
        raise AnalysisError(f"{measure_id}: the {what} must be a DataFrame, got {type(series).__name__}.")
    missing = [c for c in SERIES_NEEDS if c not in series.columns]
    if missing:
        raise AnalysisError(f"{measure_id}: the {what} lacks the columns {missing}; "
                            "build it with evalkit.data.series.measure_series.")
    for column in ("locality", "measure_id"):
        if column in series.columns and series[column].nunique() > 1:
            values = sorted(map(str, series[column].dropna().unique()))[:6]
            raise AnalysisError(f"{measure_id}: the {what} holds several values of {column!r} ({', '.join(values)}); "
                                f"pass one {column.removesuffix('_id')} at a time.")


def _window_rows(series: pd.DataFrame, window: Window, *, name: str, what: str, measure_id: str,
                 measure: Measure, minimum: int) -> pd.DataFrame:
    months = pd.to_datetime(series["period"])
    usable = series["numerator"].notna() if measure.kind == "count" else series["value"].notna()
    rows = series[(months >= pd.Timestamp(window.start)) & (months <= pd.Timestamp(window.end)) & usable]
    if len(rows) < minimum:
        raise AnalysisError(
            f"{measure_id}: the {what} has {len(rows)} month(s) with data in the {name} window "
            f"({window.start:%Y-%m} to {window.end:%Y-%m}); the comparison needs at least {minimum}. "
            "Widen the window (baseline=/post=) or check the extract for missing months."
        )
    return rows


# --------------------------------------------------------------------------- one measure


def _pooled(rows: pd.DataFrame, measure: Measure) -> tuple[float, float]:
    """Events (or positives) and exposure (or denominator; months for counts) of one window."""
    exposure = float(len(rows)) if measure.kind == "count" else float(rows["denominator"].sum())
    return float(rows["numerator"].sum()), exposure


def _scale(row: dict, measure: Measure) -> dict:
    if row["comparison"] in ("rate_difference", "risk_difference"):
        scale = measure.scale if measure.kind in ("rate", "proportion") else 1.0
        for key in ("estimate", "ci_lower", "ci_upper"):
            row[key] *= scale
    return row


def _contrast(pre: pd.DataFrame, post: pd.DataFrame, measure: Measure, comparison: str, alpha: float) -> list[dict]:
    if comparison == "mean":
        return pm.welch(pre["value"].to_numpy(float), post["value"].to_numpy(float), alpha=alpha)
    if comparison == "median":
        return pm.hodges_lehmann(pre["value"].to_numpy(float), post["value"].to_numpy(float), alpha=alpha)
    (x0, t0), (x1, t1) = _pooled(pre, measure), _pooled(post, measure)
    if measure.kind == "proportion":
        return pm.proportions(x0, t0, x1, t1, alpha=alpha)
    return pm.poisson_rates(x0, t0, x1, t1, alpha=alpha)


def _did(windows: list[pd.DataFrame], measure: Measure, comparison: str, alpha: float) -> list[dict]:
    """Difference in differences; ``windows`` = intervention pre, post, comparator pre, post."""
    if comparison == "median":
        raise AnalysisError("A comparator needs comparison='mean' or the pooled default: the Hodges-Lehmann "
                            "shift has no difference-in-differences form here.")
    if comparison == "mean":
        changes = [pm.mean_change(windows[i]["value"].to_numpy(float), windows[i + 1]["value"].to_numpy(float))
                   for i in (0, 2)]
        return pm.difference_in_differences(*zip(*changes), alpha=alpha)
    pooled = [_pooled(w, measure) for w in windows]
    if measure.kind == "proportion":
        changes = [pm.proportion_change(*pooled[i], *pooled[i + 1]) for i in (0, 2)]
        rows = pm.difference_in_differences(*zip(*changes), alpha=alpha)
        return [r | {k: r[k] * measure.scale for k in ("estimate", "ci_lower", "ci_upper")} for r in rows]
    counts, exposures = zip(*pooled)
    return pm.ratio_of_rate_ratios(counts, exposures, alpha=alpha)


def _value(rows: pd.DataFrame, measure: Measure, comparison: str) -> float:
    """The window's headline value in reported units (pooled, mean or median of the months)."""
    if comparison == "mean":
        return float(rows["value"].mean())
    if comparison == "median":
        return float(rows["value"].median())
    events, exposure = _pooled(rows, measure)
    return events / exposure * (measure.scale if measure.kind != "count" else 1.0)


def _measure_rows(series: pd.DataFrame, *, measure: Measure, measure_id: str, intervention: dt.date,
                  transition_months: int, baseline: Window | None, post: Window | None,
                  comparator: pd.DataFrame | None, comparison: str | None, alpha: float) -> list[dict]:
    comparison = _check_options(measure, transition_months, comparison, alpha)
    _check_series(series, measure_id, "series")
    if "measure_id" in series.columns and series["measure_id"].notna().any():
        found = str(series["measure_id"].dropna().iloc[0])
        if found != measure_id:
            raise AnalysisError(f"measure_id={measure_id!r} but the series is of {found!r}; pass the matching id.")
    pre_w, post_w = resolve_windows(series, intervention=intervention, transition_months=transition_months,
                                    baseline=baseline, post=post)
    need = MIN_MONTHS[comparison]
    pre = _window_rows(series, pre_w, name="pre", what="series", measure_id=measure_id, measure=measure, minimum=need)
    after = _window_rows(series, post_w, name="post", what="series", measure_id=measure_id, measure=measure,
                         minimum=need)
    rows = [_scale(r, measure) for r in _contrast(pre, after, measure, comparison, alpha)]
    if comparator is not None:
        _check_series(comparator, measure_id, "comparator series")
        windows = [pre, after] + [_window_rows(comparator, w, name=n, what="comparator series", measure_id=measure_id,
                                               measure=measure, minimum=need)
                                  for n, w in (("pre", pre_w), ("post", post_w))]
        rows += _did(windows, measure, comparison, alpha)
    common = {"measure_id": measure_id, "n_pre": len(pre), "n_post": len(after),
              "pre_value": _value(pre, measure, comparison), "post_value": _value(after, measure, comparison),
              "pre_start": pre_w.start, "pre_end": pre_w.end, "post_start": post_w.start, "post_end": post_w.end}
    for row in rows:
        row.update(common)
        row["method"] = METHOD_TEXT[row["comparison"]].format(test=TEST_TEXT.get(row["test"], row["test"]))
        if row["comparison"] in ("ratio_of_rate_ratios", "difference_in_differences"):
            row["pre_value"] = row["post_value"] = np.nan
    return rows


def compare(
    series: pd.DataFrame,
    *,
    measure: Measure,
    measure_id: str,
    intervention: dt.date,
    transition_months: int,
    baseline: Window | None = None,
    post: Window | None = None,
    comparator: pd.DataFrame | None = None,
    comparison: str | None = None,
    alpha: float = ALPHA,
) -> PrePostResult:
    """Compare one measure's post window with its pre window.

    Parameters
    ----------
    series
        One locality's monthly series of the measure (columns of
        :func:`evalkit.data.series.measure_series`). Not modified.
    measure, measure_id
        The measure's definition (its ``kind`` picks the method; module
        docstring) and id.
    intervention, transition_months
        First month of the change, and how many months from it belong to neither window.
    baseline, post
        The windows; by default the series' first month to the month before the
        intervention, and the first month after the transition to the last month.
    comparator
        The same measure's series in a comparator locality: adds a
        difference-in-differences row over the same windows. Not modified.
    comparison
        ``None`` (follow the kind), ``"pooled"``, ``"mean"`` or ``"median"`` (:data:`COMPARISONS`).
    alpha
        1 - confidence level; p-values are two-sided.

    Returns a :class:`PrePostResult`; its ``p_adjusted`` is Benjamini-Hochberg
    across this call's distinct tests (use :func:`compare_measures` for a pack).
    Raises :class:`~evalkit.errors.AnalysisError` when a window has too few months.
    """
    rows = _measure_rows(series, measure=measure, measure_id=measure_id, intervention=intervention,
                         transition_months=transition_months, baseline=baseline, post=post,
                         comparator=comparator, comparison=comparison, alpha=alpha)
    return PrePostResult(table=finish_table(rows), alpha=alpha, measures={measure_id: measure},
                         intervention=intervention, transition_months=transition_months, baseline=baseline,
                         post=post)


def compare_measures(
    series_by_measure: Mapping[str, pd.DataFrame],
    *,
    measures: Mapping[str, Measure],
    intervention: dt.date,
    transition_months: int,
    baseline: Window | None = None,
    post: Window | None = None,
    comparators: Mapping[str, pd.DataFrame] | None = None,
    alpha: float = ALPHA,
) -> PrePostResult:
    """:func:`compare` for every measure of a pack, with Benjamini-Hochberg ``p_adjusted`` across all of them.

    ``series_by_measure`` maps measure id -> its series; ``measures`` must hold
    every one of those ids. ``comparators`` (optional) maps measure id -> the
    comparator locality's series. All inputs are validated before any is compared.
    """
    if not series_by_measure:
        raise AnalysisError("series_by_measure is empty: pass {measure_id: series} for at least one measure.")
    unknown = [m for m in series_by_measure if m not in measures]
    if unknown:
        raise AnalysisError(f"No definition for the measure(s) {unknown} in measures=; "
                            "pass the programme's measure catalogue.")
    comparators = comparators or {}
    stray = [m for m in comparators if m not in series_by_measure]
    if stray:
        raise AnalysisError(f"comparators= names measure(s) {stray} that have no series in series_by_measure.")
    for measure_id, series in series_by_measure.items():
        _check_options(measures[measure_id], transition_months, None, alpha)
        _check_series(series, measure_id, "series")
    rows = []
    for measure_id, series in series_by_measure.items():
        rows += _measure_rows(series, measure=measures[measure_id], measure_id=measure_id, intervention=intervention,
                              transition_months=transition_months, baseline=baseline, post=post,
                              comparator=comparators.get(measure_id), comparison=None, alpha=alpha)
    used = {m: measures[m] for m in series_by_measure}
    return PrePostResult(table=finish_table(rows), alpha=alpha, measures=used, intervention=intervention,
                         transition_months=transition_months, baseline=baseline, post=post)


__all__ = [
    "COMPARISONS",
    "SUMMARY_COLUMNS",
    "PrePostResult",
    "adjust_fdr",
    "compare",
    "compare_measures",
    "compare_waves",
    "resolve_windows",
]
