"""The summative section of an evidence pack: did the programme change the level or trend of each measure?

For each outcome measure of the stream the pack fits an interrupted time
series with :func:`evalkit.stats.its_auto.auto` (family and error model chosen
from the data, with the reasons recorded), then shows the chosen model and
why, a chart of the observed values with the fitted segments and the
counterfactual, the effect at the horizons, the sensitivity table and the
diagnostics. A pre/post table compares every measure of the stream (the
survey too), with Benjamini-Hochberg adjusted p-values across them.

Everything shown is tabulated from the fitted results; the prose only formats
those numbers.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import HTML, display

from evalkit.config.models import Measure
from evalkit.data import store
from evalkit.errors import AnalysisError, DataValidationError, EvalkitWarning
from evalkit.report import tables
from evalkit.report.figures import FIGSIZE, accessible_svg, its_chart, style
from evalkit.report.pack import PackView, _item_domains
from evalkit.report.disclosure import count_cell
from evalkit.report.tables import esc, format_number, html_table
from evalkit.stats.its_auto import AutoResult, auto
from evalkit.stats.prepost import PrePostResult, compare_measures
from evalkit.stats.prepost_survey import compare_waves

logger = logging.getLogger(__name__)

SEASONAL_HARMONICS = 1
"""One sine/cosine pair of period 12 months: the annual (winter) cycle, as in Lopez Bernal et al. (2017),
Int J Epidemiol 46:348, for monthly series; a second pair rarely earns its two degrees of freedom in
seven years of monthly data."""

SUMMATIVE_FAMILIES = ("outcome",)
"""Measures whose trend the summative section models: outcome measures, as the evaluation's question is
whether outcomes changed (process and balancing measures are followed formatively and in the pre/post table)."""

FAMILY_NAMES = {"gaussian": "linear", "poisson": "Poisson", "quasipoisson": "quasi-Poisson",
                "negative_binomial": "negative binomial", "binomial": "binomial (logistic)"}
ERROR_NAMES = {"ols": "model-based standard errors", "newey_west": "Newey-West (autocorrelation-robust) standard errors",
               "prais_winsten": "AR(1) errors (Prais-Winsten GLS, autocorrelation by REML)", "arma": "ARMA errors (maximum likelihood)"}

VALUE_COLUMN = {"count": "numerator", "rate": "numerator", "proportion": "numerator", "mean": "value"}
DENOMINATOR_COLUMN = {"count": None, "rate": "denominator", "proportion": "denominator", "mean": None}


@dataclass(frozen=True)
class MeasureFit:
    """One measure's interrupted time series, or why it could not be fitted, and the warnings it raised."""

    measure_id: str
    measure: Measure
    result: AutoResult | None
    problem: str | None = None
    warnings: tuple[str, ...] = ()


def summative_measure_ids(view: PackView) -> tuple[str, ...]:
    """The stream's monthly outcome measures, in driver-diagram order."""
    return tuple(m for m, measure in view.measures.items()
                 if measure.family in SUMMATIVE_FAMILIES and measure.cadence == "monthly")


def fit_measure(view: PackView, measure_id: str) -> MeasureFit:
    """Fit the measure's interrupted time series, choosing family and error model from its data."""
    measure = view.measures[measure_id]
    params = view.pack.parameters
    series = view.series[measure_id]
    frame = series[series["numerator"].notna()].reset_index(drop=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", EvalkitWarning)
        try:
            result = auto(frame, value_col=VALUE_COLUMN[measure.kind], date_col="period",
                          intervention=params.intervention.start, kind=measure.kind,
                          denominator_col=DENOMINATOR_COLUMN[measure.kind], seasonality=SEASONAL_HARMONICS,
                          transition=params.intervention.transition_months, alpha=view.alpha)
        except AnalysisError as exc:
            logger.warning("%s/%s %s: %s", view.locality, view.stream, measure_id, exc)
            return MeasureFit(measure_id, measure, None, str(exc))
    # evalkit's own warnings (e.g. ShortSeriesWarning) are shown in the pack, where a reader sees them.
    notes = tuple(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, EvalkitWarning)))
    return MeasureFit(measure_id, measure, result, warnings=notes)


# --------------------------------------------------------------------------- converting to the measure's units


def in_measure_units(fit: MeasureFit, table: pd.DataFrame, series: pd.DataFrame,
                     columns: tuple[str, ...]) -> pd.DataFrame:
    """``table`` (one row per period) with ``columns`` turned from model units into the measure's units:
    event counts into rates per ``per`` with that month's denominator, proportions into percentages."""
    measure = fit.measure
    out = table.copy()
    if measure.kind == "rate":
        exposure = pd.to_datetime(out["period"]).map(
            series.assign(period=pd.to_datetime(series["period"])).set_index("period")["denominator"])
        for col in columns:
            out[col] = out[col] / exposure.to_numpy(dtype=float) * measure.scale
    elif measure.kind == "proportion":
        for col in columns:
            out[col] = out[col] * measure.scale
    return out


CURVE_COLUMNS = ("observed", "fitted", "fitted_ci_lower", "fitted_ci_upper", "counterfactual",
                 "counterfactual_ci_lower", "counterfactual_ci_upper")
EFFECT_VALUE_COLUMNS = ("fitted", "fitted_ci_lower", "fitted_ci_upper", "counterfactual", "counterfactual_ci_lower",
                        "counterfactual_ci_upper", "absolute_effect", "absolute_effect_ci_lower",
                        "absolute_effect_ci_upper")


def curves(fit: MeasureFit, series: pd.DataFrame) -> pd.DataFrame:
    """Observed, fitted and counterfactual values per month, in the measure's units (treated series)."""
    table = fit.result.fit.counterfactual()
    table = table[table["group"] == "treated"].reset_index(drop=True)
    return in_measure_units(fit, table, series, CURVE_COLUMNS)


def effects(fit: MeasureFit, series: pd.DataFrame) -> pd.DataFrame:
    """The effect at the default horizons (12 months after the intervention, and the last month)."""
    table = fit.result.fit.effects()
    table = table[table["group"] == "treated"].reset_index(drop=True)
    return in_measure_units(fit, table, series, EFFECT_VALUE_COLUMNS)


# --------------------------------------------------------------------------- tables


P_FLOOR = 0.001  # smaller p-values are shown as "< 0.001", the convention of BMJ and NHS statistical reports


def format_p(p: float) -> str:
    """A p-value as a reader expects it: '< 0.001', else three decimals; blank when there is none."""
    if pd.isna(p):
        return ""
    return f"< {P_FLOOR}" if p < P_FLOOR else f"{p:.3f}"


def _interval(estimate: float, low: float, high: float, *, percent: bool = False) -> str:
    if not np.isfinite(estimate):
        return "not estimable"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{estimate * 100:+.1f}%" if percent else format_number(estimate)
    if percent:
        return f"{estimate * 100:+.1f}% ({low * 100:+.1f}% to {high * 100:+.1f}%)"
    return f"{format_number(estimate)} ({format_number(low)} to {format_number(high)})"


def choices_table(result: AutoResult) -> str:
    rows = [[esc(r.step.replace("_", " ")), esc(r.test), esc(r.decision), esc(r.reason)]
            for r in result.choices.itertuples()]
    return html_table(["Step", "Test", "Decision", "Reason"], rows,
                      caption="How the model was chosen")


def effects_table(fit: MeasureFit, table: pd.DataFrame) -> str:
    label = fit.measure.value_label
    rows = []
    for r in table.itertuples():
        rows.append([
            esc(pd.Timestamp(r.period).strftime("%b %Y")), str(int(r.horizon)),
            _interval(r.fitted, r.fitted_ci_lower, r.fitted_ci_upper),
            _interval(r.counterfactual, r.counterfactual_ci_lower, r.counterfactual_ci_upper),
            _interval(r.absolute_effect, r.absolute_effect_ci_lower, r.absolute_effect_ci_upper),
            _interval(r.relative_effect, r.relative_effect_ci_lower, r.relative_effect_ci_upper, percent=True),
        ])
    return html_table(["Month", "Months since start", f"Modelled ({esc(label)})", "Expected without the programme",
                       "Difference", "Relative difference"], rows, numeric=(1, 2, 3, 4, 5),
                      caption=f"Effect of the programme at set horizons, with {_conf(fit)} confidence intervals")


def _conf(fit: MeasureFit) -> str:
    return f"{(1 - fit.result.fit.alpha) * 100:.0f}%"


def sensitivity_table(fit: MeasureFit) -> str:
    table = fit.result.sensitivity()
    ratio = fit.measure.kind in ("count", "rate", "proportion")
    rows = []
    for r in table.itertuples():
        name = esc(r.model) + (" (chosen)" if r.chosen else "")
        if r.note:
            rows.append([name, "could not be fitted", "", esc(r.note)])
            continue
        if ratio and np.isfinite(r.level_change_ratio):
            level = _interval(r.level_change_ratio - 1, r.level_change_ratio_ci_lower - 1,
                              r.level_change_ratio_ci_upper - 1, percent=True)
            slope = _interval(r.slope_change_ratio - 1, r.slope_change_ratio_ci_lower - 1,
                              r.slope_change_ratio_ci_upper - 1, percent=True)
        else:
            level = _interval(r.level_change, r.level_change_ci_lower, r.level_change_ci_upper)
            slope = _interval(r.slope_change, r.slope_change_ci_lower, r.slope_change_ci_upper)
        rows.append([name, level, slope, ""])
    what = "relative change" if ratio else "change"
    return html_table(["Model", f"Level change ({what})", f"Slope change per month ({what})", "Note"], rows,
                      numeric=(1, 2), caption="Sensitivity: the plausible models side by side")


def diagnostics_table(fit: MeasureFit) -> str:
    table = fit.result.fit.diagnostics()
    table = table[table["group"] == "treated"] if "group" in table else table
    rows = [[esc(r.test.replace("_", " ")), format_number(r.statistic),
             format_p(r.p_value), "" if pd.isna(r.lags) else str(int(r.lags))]
            for r in table.itertuples()]
    return html_table(["Diagnostic", "Statistic", "p-value", "Lags"], rows, numeric=(1, 2, 3),
                      caption="Residual diagnostics of the chosen model")


# --------------------------------------------------------------------------- sections


def chart_alt(fit: MeasureFit, series: pd.DataFrame, view: PackView) -> str:
    """The ITS chart described from its numbers: period, intervention, effect at the horizons."""
    table = effects(fit, series)
    start = view.pack.parameters.intervention.start
    parts = [f"Interrupted time series chart of {fit.measure.name.lower()} ({fit.measure.value_label}): observed "
             f"months with the fitted trend before and after the intervention in {start:%B %Y}, and the "
             f"counterfactual expected without it, with its {_conf(fit)} confidence band."]
    for r in table.itertuples():
        relative = _interval(r.relative_effect, r.relative_effect_ci_lower, r.relative_effect_ci_upper, percent=True)
        parts.append(f"At {pd.Timestamp(r.period):%b %Y}: modelled {format_number(r.fitted)} against "
                     f"{format_number(r.counterfactual)} expected, a relative difference of {relative}.")
    return " ".join(parts)



def fit_all(view: PackView) -> dict[str, MeasureFit]:
    """The interrupted time series of every outcome measure of the stream (nothing displayed)."""
    return {m: fit_measure(view, m) for m in summative_measure_ids(view)}


def summative_section(view: PackView, measure: str | MeasureFit) -> MeasureFit:
    """Display one outcome measure's interrupted time series (fitted here unless a fit is given); return it."""
    fit = measure if isinstance(measure, MeasureFit) else fit_measure(view, measure)
    measure = fit.measure
    display(HTML(f"<h3>{esc(measure.name)}</h3>"))
    if fit.result is None:
        display(HTML(f'<p class="evalkit-note">No interrupted time series for this measure: {esc(fit.problem)}</p>'))
        return fit
    series = view.series[fit.measure_id]
    result = fit.result
    for note in fit.warnings:
        display(HTML(f'<p class="evalkit-note"><strong>Caution:</strong> {esc(note)}</p>'))
    display(HTML(f"<p>Model: <strong>{esc(FAMILY_NAMES.get(result.family, result.family))}</strong> regression "
                 f"with <strong>{esc(ERROR_NAMES.get(result.errors, result.errors))}</strong>, seasonality as one "
                 "annual sine/cosine pair, transition months left out of the fit.</p>" + choices_table(result)))
    with style():
        figure, ax = plt.subplots(figsize=FIGSIZE)
        its_chart(curves(fit, series), measure=measure, intervention=view.pack.parameters.intervention.start,
                  alpha=result.fit.alpha, ax=ax)
        display(accessible_svg(figure, chart_alt(fit, series, view)))
        plt.close(figure)
    display(HTML(effects_table(fit, effects(fit, series)) + sensitivity_table(fit) + diagnostics_table(fit)
                 + f"<p>{esc(result.narrative())}</p>"))
    return fit


def prepost(view: PackView) -> PrePostResult:
    """Pre/post comparisons of every monthly measure of the pack, BH-adjusted across them."""
    params = view.pack.parameters
    baseline, post = view.windows
    monthly = {m: s for m, s in view.series.items() if s["numerator"].notna().any()}
    return compare_measures(monthly, measures=view.measures, intervention=params.intervention.start,
                            transition_months=params.intervention.transition_months, baseline=baseline,
                            post=post, alpha=view.alpha)


def survey_comparison(view: PackView, measure_id: str) -> PrePostResult | None:
    """The survey waves compared per item domain, for this locality and the measure's items."""
    try:
        survey = store.load_survey(view.paths)
    except DataValidationError:
        return None
    rows = survey[survey["locality"] == view.locality]
    domains = _item_domains(view.programme, measure_id)
    if domains:
        rows = rows[rows["item_domain"].isin(domains)]
    if rows.empty or rows["wave"].nunique() < 2:
        return None
    return compare_waves(rows, measure_id=measure_id, measure=view.measures[measure_id], by=("domain",),
                         alpha=view.alpha)


def prepost_section(view: PackView) -> HTML:
    """The pre/post table of all measures (and the survey), with its narrative."""
    result = prepost(view)
    parts = [result]
    for measure_id in view.waves:
        waves = survey_comparison(view, measure_id)
        if waves is not None:
            parts.append(waves)
    table = pd.concat([p.summary() for p in parts], ignore_index=True)
    names = {m: view.measures[m].name for m in view.measures}
    def n(value: float, measure_id: str) -> str:  # survey n are respondents: counts of people, protected
        survey = measure_id in view.measures and view.measures[measure_id].cadence == "survey_wave"
        return count_cell(value, view.policy) if survey else format_number(value)

    rows = [[esc(names.get(r.measure_id, r.measure_id)), esc(r.comparison.replace("_", " ")),
             _interval(r.estimate, r.ci_lower, r.ci_upper),
             format_p(r.p_value), format_p(r.p_adjusted),
             n(r.n_pre, r.measure_id), n(r.n_post, r.measure_id), esc(r.method)]
            for r in table.itertuples()]
    html = html_table(["Measure", "Comparison", "Estimate (95% CI)", "p", "p (BH-adjusted)", "n before", "n after",
                       "Method"], rows, numeric=(2, 3, 4, 5, 6),
                      caption="Before and after the intervention, every measure of the stream")
    sentences = "".join(f"<li>{esc(sentence)}</li>" for p in parts for sentence in p.sentences())
    caveats = "".join(f"<p>{esc(p.assumptions())}</p>" for p in parts)
    return HTML(html + f"<ul>{sentences}</ul>" + caveats)


__all__ = ["MeasureFit", "curves", "effects", "fit_all", "fit_measure", "prepost", "prepost_section", "summative_measure_ids",
           "summative_section", "survey_comparison"]
