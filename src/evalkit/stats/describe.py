"""Before and after: describe a measure in the windows either side of an intervention.

:func:`describe_windows` pools each window of a monthly series (from
:func:`evalkit.data.series.measure_series`) into one estimate with a
confidence interval; :func:`describe_waves` does the same for the waves of a
safety-culture survey (:func:`evalkit.data.series.survey_waves`). The method
follows the measure's kind:

==========  ===========================================  ==============================================
kind        estimate                                     interval
==========  ===========================================  ==============================================
rate        pooled events / pooled exposure x ``per``    exact (Garwood) Poisson on the events
proportion  pooled numerator / pooled denominator x 100  Wilson score (Newcombe 1998 method 3)
count       mean monthly count                           exact Poisson on the total, / months
mean        mean of the monthly means                    t interval across months
==========  ===========================================  ==============================================

These describe what happened; they do not test whether the intervention
caused it (that is the interrupted time series' job).
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.rates import confint_poisson
from statsmodels.stats.weightstats import DescrStatsW

from evalkit.config.models import Measure, Window
from evalkit.data.series import add_months, month_count
from evalkit.errors import AnalysisError, ShortSeriesWarning

ALPHA = 0.05  # two-sided 95% intervals, the convention of NHS and Making Data Count reporting
POISSON_METHOD = "exact-c"  # statsmodels' name for the Garwood (1936) central exact interval, as R poisson.test
WILSON_METHOD = "wilson"  # Wilson (1927) score interval, Newcombe (1998) Stat Med 17:857 method 3
MIN_MONTHS_T = 2  # a t interval needs at least two monthly means (one degree of freedom)

METHODS = {
    "rate": "pooled rate, exact Poisson interval (Garwood)",
    "proportion": "pooled proportion, Wilson score interval",
    "count": "mean monthly count, exact Poisson interval (Garwood)",
    "mean": "mean of monthly means, t interval",
}
"""The ``method`` column, by measure kind."""

ASSUMPTIONS = {
    "rate": (
        "The exact Poisson interval assumes that events happen independently, at one constant rate within "
        "each window, so it does not widen for extra month-to-month variation or for correlation between months."
    ),
    "proportion": (
        "The Wilson interval assumes that every unit counted is an independent yes or no with one shared "
        "probability within each window, so it ignores clustering by organisation and month and may be too narrow."
    ),
    "count": (
        "The exact Poisson interval assumes that monthly counts are independent, with one constant mean within "
        "each window, so it does not widen for extra month-to-month variation."
    ),
    "mean": (
        "The t interval assumes that the monthly means are independent draws from one roughly normal "
        "distribution within each window; each month counts equally, whatever its size."
    ),
}
"""What each method assumes, in words a commissioner can weigh."""

SURVEY_ASSUMPTIONS = (
    "The Wilson interval treats every item response as independent, but one person's answers are correlated, "
    "so the interval is too narrow; the two waves need not have the same respondents."
)

CAUSATION_CAVEAT = (
    "A difference between the {parts} describes what happened; on its own it does not show that the "
    "programme caused it, because trends, seasons and other changes at the same time can move the measure."
)

WAVE_NAMES = {"pre": "at baseline", "post": "at follow-up"}  # in a sentence
WAVE_LABELS = {"pre": "Baseline", "post": "Follow-up"}  # as a row or axis label
WINDOW_NAMES = {"pre": "before", "post": "after"}

SUMMARY_COLUMNS = ("measure_id", "window", "start", "end", "n_months", "numerator", "denominator",
                   "estimate", "ci_lower", "ci_upper", "method")
WAVE_SUMMARY_COLUMNS = ("measure_id", "wave", "start", "end", "n_respondents", "numerator", "denominator",
                        "estimate", "ci_lower", "ci_upper", "method")


# --------------------------------------------------------------------------- formatting


def conf_label(alpha: float) -> str:
    """The confidence level as a reader sees it: ``0.05`` -> ``'95%'``."""
    level = (1 - alpha) * 100
    return f"{level:.0f}%" if abs(level - round(level)) < 1e-9 else f"{level:g}%"


def decimals_for(value: float, measure: Measure) -> int:
    """Decimal places to show: one for percentages; else two below 10, one below 100, none above."""
    if measure.kind == "proportion":
        return 1
    size = abs(value)
    return 2 if size < 10 else 1 if size < 100 else 0


def format_estimate(value: float, measure: Measure, *, decimals: int | None = None) -> str:
    """A reported value as text: ``'2.31'``, ``'93.2%'``; ``'no data'`` when missing."""
    if value is None or not np.isfinite(value):
        return "no data"
    places = decimals_for(value, measure) if decimals is None else decimals
    text = f"{value:,.{places}f}"
    return f"{text}%" if measure.kind == "proportion" else text


def format_with_unit(value: float, measure: Measure, *, decimals: int | None = None) -> str:
    """A reported value with its unit: ``'2.31 falls per 1,000 occupied bed days'``, ``'93.2%'``."""
    text = format_estimate(value, measure, decimals=decimals)
    if measure.kind == "proportion" or text == "no data":
        return text
    return f"{text} {measure.value_label}"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _reading(name: str, rows: list[tuple[str, pd.Series]], measure: Measure, alpha: float) -> str:
    """``'<name>: <estimate> <unit> before (95% CI <low> to <high>), <estimate> after (<low> to <high>).'``"""
    parts, first = [], True
    for label, row in rows:
        if not np.isfinite(row["estimate"]):
            parts.append(f"no data {label}")
            continue
        places = decimals_for(row["estimate"], measure)
        value = (format_with_unit if first else format_estimate)(row["estimate"], measure, decimals=places)
        if np.isfinite(row["ci_lower"]) and np.isfinite(row["ci_upper"]):
            ci = (f"{format_estimate(row['ci_lower'], measure, decimals=places)} to "
                  f"{format_estimate(row['ci_upper'], measure, decimals=places)}")
        else:
            ci = "interval not available"
        parts.append(f"{value} {label} ({conf_label(alpha) + ' CI ' if first else ''}{ci})")
        first = False
    return f"{name}: {', '.join(parts)}."


def _plot_estimates(table: pd.DataFrame, labels: list[str], measure: Measure, alpha: float,
                    ax: Axes | None) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3))
    x = np.arange(len(table))
    est = table["estimate"].to_numpy(dtype=float)
    err = np.vstack([est - table["ci_lower"].to_numpy(dtype=float), table["ci_upper"].to_numpy(dtype=float) - est])
    ax.errorbar(x, est, yerr=err, fmt="o", capsize=4, label=f"estimate and {conf_label(alpha)} CI")
    ax.set_xticks(x, labels)
    ax.set_xlim(-0.6, len(table) - 0.4)
    ax.set_ylabel(measure.value_label)
    ax.set_title(measure.name, loc="left")
    return ax


# --------------------------------------------------------------------------- windows


def _pool(rows: pd.DataFrame, measure: Measure, alpha: float) -> dict[str, float]:
    """Estimate and interval for one window's months (rows with data only)."""
    n = len(rows)
    numerator = float(rows["numerator"].sum())
    denominator = float(rows["denominator"].sum()) if measure.kind != "count" else math.nan
    if measure.kind == "rate":
        low, high = confint_poisson(numerator, denominator, method=POISSON_METHOD, alpha=alpha)
        estimate = numerator / denominator
    elif measure.kind == "proportion":
        low, high = proportion_confint(numerator, denominator, alpha=alpha, method=WILSON_METHOD)
        estimate = numerator / denominator
    elif measure.kind == "count":
        low, high = confint_poisson(numerator, n, method=POISSON_METHOD, alpha=alpha)
        estimate = numerator / n
    else:
        values = rows["value"].to_numpy(dtype=float)
        estimate = float(values.mean())
        low, high = DescrStatsW(values).tconfint_mean(alpha=alpha) if n >= MIN_MONTHS_T else (math.nan, math.nan)
    scale = measure.scale if measure.kind in ("rate", "proportion") else 1.0
    return {"numerator": numerator, "denominator": denominator, "estimate": float(estimate) * scale,
            "ci_lower": float(low) * scale, "ci_upper": float(high) * scale}


def _single(series: pd.DataFrame, column: str) -> str | None:
    if column not in series.columns:
        return None
    values = sorted(series[column].dropna().unique())
    if len(values) > 1:
        raise AnalysisError(
            f"The series holds {len(values)} values of {column!r} ({', '.join(map(str, values[:6]))}); "
            f"describe one at a time, e.g. measure_series(..., {column.removesuffix('_id')}=...)."
        )
    return values[0] if values else None


@dataclass(frozen=True)
class WindowSummary:
    """A measure before and after an intervention: one pooled estimate per window.

    ``summary()`` columns: ``measure_id``; ``window`` (``pre`` or ``post``);
    ``start`` and ``end`` (the window's first and last month); ``n_months``
    (months with data in it); ``numerator`` and ``denominator`` (their sums;
    no denominator for counts); ``estimate``, ``ci_lower``, ``ci_upper`` (in the
    measure's reported units, at confidence level ``1 - alpha``); ``method``.
    """

    measure_id: str
    measure: Measure
    intervention: dt.date
    transition_months: int
    baseline: Window
    post: Window
    alpha: float
    table: pd.DataFrame = field(repr=False, compare=False)

    def summary(self) -> pd.DataFrame:
        return self.table.copy()

    def reading(self) -> str:
        """One plain-English sentence from the summary's numbers."""
        rows = [(WINDOW_NAMES[r["window"]], r) for _, r in self.table.iterrows()]
        return _reading(self.measure.name, rows, self.measure, self.alpha)

    def assumptions(self) -> str:
        return f"{ASSUMPTIONS[self.measure.kind]} {CAUSATION_CAVEAT.format(parts='windows')}"

    def narrative(self) -> str:
        spans = []
        for _, row in self.table.iterrows():
            months = month_count(row["start"], row["end"])
            spans.append(f"{WINDOW_NAMES[row['window']]}: {row['start']:%b %Y} to {row['end']:%b %Y} "
                         f"({row['n_months']} of {months} months with data)")
        k = self.transition_months
        transition = (f"the {k} transition month{'s are' if k != 1 else ' is'} left out, from "
                      f"{self.intervention:%b %Y}" if k else f"the intervention starts in {self.intervention:%b %Y}")
        return f"{self.reading()} {_sentence('; '.join(spans))}; {transition}. {self.assumptions()}"

    def plot(self, ax: Axes | None = None) -> Axes:
        """Each window's estimate with its confidence interval."""
        labels = [f"{WINDOW_NAMES[r['window']].capitalize()}\n{r['start']:%b %Y} to {r['end']:%b %Y}"
                  for _, r in self.table.iterrows()]
        return _plot_estimates(self.table, labels, self.measure, self.alpha, ax)


def resolve_windows(series: pd.DataFrame, *, intervention: dt.date, transition_months: int,
                    baseline: Window | None, post: Window | None) -> tuple[Window, Window]:
    """The pre and post windows: as given, else the series' first month to the month before the intervention
    and the first month after the transition to the series' last month; the transition belongs to neither."""
    intervention = intervention.replace(day=1)
    post_start = add_months(intervention, transition_months)
    months = pd.to_datetime(series["period"])
    first = months.min().date() if len(months) else intervention
    last = months.max().date() if len(months) else post_start
    baseline = baseline or Window(start=min(first, add_months(intervention, -1)), end=add_months(intervention, -1))
    post = post or Window(start=post_start, end=max(last, post_start))
    if baseline.end >= intervention:
        raise AnalysisError(f"baseline window ends {baseline.end:%Y-%m}, not before the intervention "
                            f"({intervention:%Y-%m}); end it by {add_months(intervention, -1):%Y-%m}.")
    if post.start < post_start:
        raise AnalysisError(f"post window starts {post.start:%Y-%m}, inside the transition; start it at "
                            f"{post_start:%Y-%m} or later, or shorten transition_months.")
    return baseline, post


def describe_windows(
    series: pd.DataFrame,
    *,
    measure: Measure,
    intervention: dt.date,
    transition_months: int,
    baseline: Window | None = None,
    post: Window | None = None,
    alpha: float = ALPHA,
) -> WindowSummary:
    """Pool a monthly series before and after an intervention.

    Parameters
    ----------
    series
        One locality's monthly series of one measure (columns of
        :func:`evalkit.data.series.measure_series`). Not modified.
    measure
        The measure's definition; its ``kind`` picks the method (module docstring).
    intervention
        First month the change was in place.
    transition_months
        Months from ``intervention`` on that belong to neither window.
    baseline, post
        The windows; by default the series' first month to the month before the
        intervention, and the first month after the transition to the series' last month.
    alpha
        1 - confidence level of the intervals.

    A window without data gives missing estimates and a :class:`ShortSeriesWarning`.
    """
    needed = ["period", "numerator", "denominator", "value"]
    missing = [c for c in needed if c not in series.columns]
    if missing:
        raise AnalysisError(f"The series lacks the columns {missing}; "
                            "build it with evalkit.data.series.measure_series.")
    if not 0 < alpha < 1:
        raise AnalysisError(f"alpha must be between 0 and 1 (0.05 for 95% intervals), got {alpha!r}.")
    if not isinstance(transition_months, int) or transition_months < 0:
        raise AnalysisError(f"transition_months must be a whole number of months, 0 or more; "
                            f"got {transition_months!r}.")
    _single(series, "locality")
    measure_id = _single(series, "measure_id") or "unnamed"
    intervention = intervention.replace(day=1)
    months = pd.to_datetime(series["period"])
    baseline, post = resolve_windows(series, intervention=intervention, transition_months=transition_months,
                                     baseline=baseline, post=post)

    rows = []
    for name, window in (("pre", baseline), ("post", post)):
        inside = series[(months >= pd.Timestamp(window.start)) & (months <= pd.Timestamp(window.end))
                        & series["value"].notna()]
        if inside.empty:
            warnings.warn(f"{measure_id}: no data in the {name} window ({window.start:%Y-%m} to {window.end:%Y-%m}); "
                          "its estimate is missing.", ShortSeriesWarning, stacklevel=2)
            pooled = dict.fromkeys(("numerator", "denominator", "estimate", "ci_lower", "ci_upper"), math.nan)
        else:
            pooled = _pool(inside, measure, alpha)
        rows.append({"measure_id": measure_id, "window": name, "start": window.start, "end": window.end,
                     "n_months": len(inside), **pooled, "method": METHODS[measure.kind]})
    table = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    return WindowSummary(measure_id=measure_id, measure=measure, intervention=intervention,
                         transition_months=transition_months, baseline=baseline, post=post, alpha=alpha, table=table)


# --------------------------------------------------------------------------- survey waves


@dataclass(frozen=True)
class WaveSummary:
    """A survey-wave measure: percent positive per wave with Wilson intervals.

    ``summary()`` columns: ``measure_id``; ``wave`` (``pre``, ``post``);
    ``start``, ``end`` (first and last survey date); ``n_respondents``;
    ``numerator`` (positive responses), ``denominator`` (item responses);
    ``estimate``, ``ci_lower``, ``ci_upper`` (percent); ``method``.
    """

    measure_id: str
    measure: Measure
    alpha: float
    table: pd.DataFrame = field(repr=False, compare=False)

    def summary(self) -> pd.DataFrame:
        return self.table.copy()

    def reading(self) -> str:
        rows = [(WAVE_NAMES.get(r["wave"], r["wave"]), r) for _, r in self.table.iterrows()]
        return _reading(self.measure.name, rows, self.measure, self.alpha)

    def assumptions(self) -> str:
        return f"{SURVEY_ASSUMPTIONS} {CAUSATION_CAVEAT.format(parts='waves')}"

    def narrative(self) -> str:
        spans = [f"{WAVE_NAMES.get(r['wave'], r['wave'])}: {r['n_respondents']:,} respondents, "
                 f"{r['denominator']:,.0f} item responses" for _, r in self.table.iterrows()]
        return f"{self.reading()} {_sentence('; '.join(spans))}. {self.assumptions()}"

    def plot(self, ax: Axes | None = None) -> Axes:
        labels = [f"{WAVE_LABELS.get(r['wave'], r['wave'])}\n{r['start']:%b %Y}"
                  for _, r in self.table.iterrows()]
        return _plot_estimates(self.table, labels, self.measure, self.alpha, ax)


def describe_waves(waves: pd.DataFrame, *, measure: Measure, alpha: float = ALPHA) -> WaveSummary:
    """Percent positive per survey wave with a Wilson score interval on the pooled item responses.

    ``waves`` is one locality's output of :func:`evalkit.data.series.survey_waves`. Not modified.
    """
    missing = [c for c in ("wave", "start", "end", "n_respondents", "numerator", "denominator") if c not in waves]
    if missing:
        raise AnalysisError(f"The waves table lacks the columns {missing}; "
                            "build it with evalkit.data.series.survey_waves.")
    if measure.kind != "proportion":
        raise AnalysisError(f"A survey-wave measure is a proportion of positive responses; "
                            f"{measure.name!r} is a {measure.kind}.")
    if not 0 < alpha < 1:
        raise AnalysisError(f"alpha must be between 0 and 1 (0.05 for 95% intervals), got {alpha!r}.")
    _single(waves, "locality")
    measure_id = _single(waves, "measure_id") or "unnamed"
    rows = []
    for _, wave in waves.iterrows():
        low, high = proportion_confint(wave["numerator"], wave["denominator"], alpha=alpha, method=WILSON_METHOD)
        scale = measure.scale
        rows.append({"measure_id": measure_id, "wave": wave["wave"], "start": wave["start"].date(),
                     "end": wave["end"].date(), "n_respondents": int(wave["n_respondents"]),
                     "numerator": float(wave["numerator"]), "denominator": float(wave["denominator"]),
                     "estimate": wave["numerator"] / wave["denominator"] * scale,
                     "ci_lower": float(low) * scale, "ci_upper": float(high) * scale,
                     "method": "pooled proportion of item responses, Wilson score interval"})
    table = pd.DataFrame(rows, columns=list(WAVE_SUMMARY_COLUMNS))
    return WaveSummary(measure_id=measure_id, measure=measure, alpha=alpha, table=table)


__all__ = [
    "ALPHA",
    "ASSUMPTIONS",
    "CAUSATION_CAVEAT",
    "WAVE_LABELS",
    "WAVE_NAMES",
    "WINDOW_NAMES",
    "METHODS",
    "WaveSummary",
    "WindowSummary",
    "conf_label",
    "decimals_for",
    "describe_waves",
    "describe_windows",
    "format_estimate",
    "format_with_unit",
]
