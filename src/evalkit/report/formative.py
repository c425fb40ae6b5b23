"""The formative section of an evidence pack: month by month, is each measure stable, improving or deteriorating?

For each monthly measure of the stream the pack draws the SPC chart its kind
calls for (:func:`evalkit.stats.spc.fit` with ``chart="auto"``: c, u, p,
Laney's u' or p', or XmR), with limits fixed on the pre-intervention months and
recalculated from the first month after the transition (when at least 13
months follow it), events annotated, and a one-line reading. With fewer than
13 baseline months there are no limits: the pack draws a run chart with Anhøj's
rules instead and says so. A summary table groups every measure by MMSF domain
with its variation and assurance icons.

Everything shown is tabulated from the results; the prose only formats those numbers.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import HTML, display

from evalkit.config.models import DOMAIN_QUESTIONS, DOMAINS, Measure
from evalkit.data.series import add_months
from evalkit.errors import AnalysisError, EvalkitWarning
from evalkit.report import icons, tables, text
from evalkit.report.figures import FIGSIZE, accessible_svg, style
from evalkit.report.pack import PackView, describe_measure, measure_section
from evalkit.report.disclosure import count_cell
from evalkit.report.tables import esc, html_table
from evalkit.stats import runchart, spc
from evalkit.stats.describe import format_estimate
from evalkit.stats.runchart import RunChartResult
from evalkit.stats.spc import SpcResult

logger = logging.getLogger(__name__)

FAMILY_ORDER = ("outcome", "process", "balancing")
DOMAIN_NAMES = {d: d.replace("_", " ").capitalize() for d in DOMAINS}
CHART_WORDS = {"xmr": "XmR chart (individual values, limits from the moving ranges)",
               "c": "c chart (counts, Poisson limits)", "u": "u chart (rates, Poisson limits that vary with exposure)",
               "p": "p chart (proportions, binomial limits that vary with the denominator)",
               "pp": "Laney p' chart (proportions with over-dispersion)",
               "up": "Laney u' chart (rates with over-dispersion)", "g": "g chart", "t": "t chart"}


@dataclass(frozen=True)
class FormativeFit:
    """One measure's SPC chart (or run chart when limits cannot be drawn), or why neither could be drawn."""

    measure_id: str
    measure: Measure
    spc: SpcResult | None
    run: RunChartResult | None = None
    problem: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def reading(self) -> str:
        """The one-line reading shown under the chart."""
        if self.spc is not None and self.spc.has_limits:
            return self.spc.reading(self.measure.value_label if self.measure.kind != "proportion" else "%")
        if self.run is not None:
            return self.run.narrative().split(". ")[0].rstrip(".") + "."
        return self.problem or "No chart."


def spc_options(view: PackView, measure_id: str) -> dict:
    """The SPC options a pack uses for a measure: chart by kind, baseline before the intervention, a new
    phase after the transition when at least ``spc.MIN_POINTS`` months follow it, events and target."""
    measure = view.measures[measure_id]
    params = view.pack.parameters
    series = view.series[measure_id]
    observed = series[series["numerator"].notna()]
    options = {"kind": measure.kind, "improvement_direction": measure.improvement_direction,
               "baseline": pd.Timestamp(add_months(params.intervention.start, -1)), "events": params.events,
               "target": params.targets.get(measure_id)}
    if measure.kind in ("rate", "proportion"):
        options |= {"value_col": "numerator", "denominator_col": "denominator", "multiply": measure.scale}
    else:
        options |= {"value_col": "numerator" if measure.kind == "count" else "value"}
    after = observed[pd.to_datetime(observed["period"]) >= pd.Timestamp(params.post_start)]
    if len(after) >= spc.MIN_POINTS and len(observed) > len(after):
        options["rebase"] = [pd.Timestamp(params.post_start)]
    return options


def fit_formative(view: PackView, measure_id: str) -> FormativeFit:
    """The measure's SPC chart; a run chart where the baseline is too short for limits."""
    measure = view.measures[measure_id]
    series = view.series[measure_id]
    if series["numerator"].notna().sum() == 0:
        return FormativeFit(measure_id, measure, None, problem=f"no data for {view.locality_name}")
    options = spc_options(view, measure_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", EvalkitWarning)
        try:
            chart = spc.fit(series, date_col="period", **options)
            run = None
            if not chart.has_limits:
                run = runchart.fit(series, value_col="value", date_col="period", baseline=options["baseline"],
                                   improvement_direction=measure.improvement_direction)
        except AnalysisError as exc:
            logger.warning("%s/%s %s: %s", view.locality, view.stream, measure_id, exc)
            return FormativeFit(measure_id, measure, None, problem=str(exc))
    notes = tuple(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, EvalkitWarning)))
    return FormativeFit(measure_id, measure, chart, run, warnings=notes)


def fit_all(view: PackView) -> dict[str, FormativeFit]:
    """Every monthly measure of the stream, in driver-diagram order."""
    return {m: fit_formative(view, m) for m in view.measure_ids if view.measures[m].cadence == "monthly"}


def _latest(fit: FormativeFit, policy) -> str:
    """The latest value as HTML: a count goes through the disclosure policy; rates and percentages do not."""
    if fit.spc is None:
        return "no data"
    points = fit.spc.points()
    points = points[points["value"].notna()]
    last = points.iloc[-1]
    if fit.measure.kind == "count":
        return f"{count_cell(last['numerator'], policy)} ({last['date']:%b %Y})"
    return esc(f"{format_estimate(last['value'], fit.measure)} ({last['date']:%b %Y})")


def summary_table(view: PackView, fits: Mapping[str, FormativeFit],
                  effects: Mapping[str, str] | None = None) -> HTML:
    """Every monthly measure grouped by MMSF domain and family, with its variation and assurance icons and,
    given ``effects`` (measure id -> text, see :func:`evalkit.report.headlines.effect_cell`), its
    summative effect."""
    rows = []
    order = {d: i for i, d in enumerate(DOMAINS)}
    ranked = sorted(fits.values(), key=lambda f: (order[f.measure.domain], FAMILY_ORDER.index(f.measure.family)))
    for fit in ranked:
        chart = fit.spc
        variation = chart.variation_icon if chart is not None else "none"
        assurance = chart.assurance_type if chart is not None else None
        row = [esc(DOMAIN_NAMES[fit.measure.domain]), esc(fit.measure.name), esc(fit.measure.family),
               _latest(fit, view.policy), icons.labelled(icons.variation_svg(variation), variation),
               icons.labelled(icons.assurance_svg(assurance), assurance)]
        if effects is not None:
            row.append(esc(effects.get(fit.measure_id, "not modelled: followed month by month")))
        rows.append(row)
    caption = ("Each monthly measure by domain of the Measuring and Monitoring of Safety framework: its latest value, "
               "variation icon (from the latest point of its SPC chart) and assurance icon (whether the latest process"
               " limits put its target always, never or sometimes within reach)")
    questions = "".join(f"<li><strong>{esc(DOMAIN_NAMES[d])}</strong>: {esc(DOMAIN_QUESTIONS[d])}</li>"
                        for d in DOMAINS if any(f.measure.domain == d for f in fits.values()))
    header = ["Domain", "Measure", "Family", "Latest", "Variation", "Assurance"]
    if effects is not None:
        header.append("Effect after 12 months (interrupted time series)")
        caption += "; and for outcome measures the modelled change against the expected trend, with its interval"
    return HTML(html_table(header, rows, caption=caption) + f'<ul class="evalkit-domains">{questions}</ul>')


def driver_diagram(view: PackView, fits: Mapping[str, FormativeFit]) -> HTML:
    """The stream's driver diagram with each measure's current signal (variation icon and words)."""
    stream = view.stream_info
    rows = []
    for driver in stream.driver_diagram:
        ideas = "<ul>" + "".join(f"<li>{esc(idea)}</li>" for idea in driver.change_ideas) + "</ul>"
        items = []
        for m in driver.measures:
            measure = view.measures[m]
            fit = fits.get(m)
            icon = fit.spc.variation_icon if fit is not None and fit.spc is not None else None
            signal = icons.labelled(icons.variation_svg(icon), icon) if icon else '<span class="muted">survey</span>'
            items.append(f"<li>{esc(measure.name)} <span class=\"muted\">({esc(measure.family)})</span><br>"
                         f"{signal}</li>")
        rows.append([esc(driver.primary_driver), ideas, "<ul>" + "".join(items) + "</ul>"])
    return HTML(html_table(["Primary driver", "Change ideas", "Measures and their current signal"], rows,
                           caption=f"Aim: {esc(stream.aim)}"))


def _phase_means(fit: FormativeFit) -> str:
    summary = fit.spc.summary()
    summary = summary[summary["centre"].notna()]
    if len(summary) < 2:
        return ""
    parts = [f"{format_estimate(r.centre, fit.measure)} ({r.start:%b %Y} to {r.end:%b %Y})"
             for r in summary.itertuples()]
    return "Mean by phase: " + "; then ".join(parts) + "."


def formative_section(view: PackView, fit: FormativeFit | str) -> None:
    """Display one measure: heading, SPC (or run) chart, reading, chart notes and the before/after table."""
    if isinstance(fit, str):
        if view.measures[fit].cadence != "monthly":
            return measure_section(view, fit)  # survey waves: the wave chart and table
        fit = fit_formative(view, fit)
    measure = fit.measure
    target = view.pack.parameters.targets.get(fit.measure_id)
    display(HTML(text.measure_heading(measure, target=target)))
    if fit.spc is None:
        display(HTML(f'<p class="evalkit-note">No chart for this measure: {esc(fit.problem)}</p>'))
        return None
    ylabel = measure.value_label[:1].upper() + measure.value_label[1:]
    with style():
        figure, ax = plt.subplots(figsize=FIGSIZE)
        if fit.run is not None:
            fit.run.plot(ax=ax)
            ax.set_ylabel(ylabel)
            alt = fit.run.alt_text()
        else:
            fit.spc.plot(ax=ax, ylabel=ylabel)
            alt = fit.spc.alt_text(measure.name.lower(), measure.value_label)
        ax.set_xlabel("")
        display(accessible_svg(figure, alt))
        plt.close(figure)
    chart_note = (f"Chart: {CHART_WORDS.get(fit.spc.chart, fit.spc.chart)}, because {fit.spc.chart_reason}."
                  if fit.run is None else
                  "Run chart: too few baseline months for process limits, so the median and Anhøj's run rules "
                  "are used instead.")
    notes = "".join(f'<p class="evalkit-note"><strong>Caution:</strong> {esc(n)}</p>' for n in fit.warnings)
    display(HTML(text.reading(fit.reading) + f'<p class="muted">{esc(_phase_means(fit))} {esc(chart_note)}</p>'
                 + notes))
    summary = describe_measure(view, fit.measure_id)
    if summary is not None:
        display(HTML(tables.window_table(summary, policy=view.policy)))
    return None


__all__ = ["FormativeFit", "driver_diagram", "fit_all", "fit_formative", "formative_section", "spc_options",
           "summary_table"]
