"""Prose blocks of an evidence pack, as HTML: the cover, measure headings, methods and assumptions.

Every text from parameters or data is escaped. Sentences about results are
taken from the result objects (``reading()``, ``assumptions()``), which only
format numbers already in their summary tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from evalkit.config.models import (
    DOMAIN_QUESTIONS,
    DisclosurePolicy,
    Measure,
    PackParameters,
    ProgrammeInfo,
    Stream,
    Window,
)
from evalkit.data.series import add_months
from evalkit.report.banner import BANNER_STYLE, SYNTHETIC_BANNER, synthetic_banner
from evalkit.report.disclosure import NHS_DIGITAL, methods_text
from evalkit.report.tables import DIRECTION_NAMES, FAMILY_NAMES, esc
from evalkit.stats.describe import (
    ASSUMPTIONS,
    CAUSATION_CAVEAT,
    METHODS,
    SURVEY_ASSUMPTIONS,
    conf_label,
    format_estimate,
)

KIND_WORDS = {
    "rate": "Rates",
    "proportion": "Percentages",
    "count": "Counts",
    "mean": "Averages",
}


def month(date: dt.date | None) -> str:
    return f"{date:%b %Y}" if date else "no data"


def cover(*, programme: ProgrammeInfo, locality_name: str, stream: Stream, parameters: PackParameters,
          organisations: Iterable[str], data_period: tuple[dt.date, dt.date] | None,
          extract_date: str | None = None) -> str:
    """The pack's title block: banner (synthetic data), title, programme, aim, intervention, data period,
    the date the extract was ingested, and whether the data are synthetic."""
    start = parameters.intervention.start
    transition = parameters.intervention.transition_months
    change = f"{month(start)}"
    if transition:
        change += (f"; the first {transition} month{'s' if transition != 1 else ''} "
                   f"({month(start)} to {month(add_months(start, transition - 1))}) are a transition, left out of "
                   "the before-and-after comparison")
    period = f"{month(data_period[0])} to {month(data_period[1])}" if data_period else "no data"
    items = [
        ("Programme", programme.name),
        ("Aim of this work", stream.aim),
        ("Programme aim", programme.aim),
        ("Intervention started", change),
        ("Data period", period),
        ("Data extract", f"ingested {extract_date}" if extract_date else "date not recorded"),
        ("Organisations", ", ".join(organisations)),
    ]
    if programme.synthetic:
        items.append(("Data", "synthetic demonstration data, not real organisations' figures"))
    if parameters.description:
        items.append(("About this pack", parameters.description))
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items)
    banner = synthetic_banner() if programme.synthetic else ""
    return (f'{banner}<h1 class="evalkit-title">{esc(stream.name)}: {esc(locality_name)}</h1>'
            f'<p class="evalkit-subtitle">Evidence pack</p><dl class="evalkit-cover">{rows}</dl>')


def measure_heading(measure: Measure, *, target: float | None) -> str:
    """Heading and one line of context for a measure's section."""
    facts = [
        f"{FAMILY_NAMES[measure.family]} measure",
        DOMAIN_QUESTIONS[measure.domain],
        DIRECTION_NAMES[measure.improvement_direction],
    ]
    if target is not None:
        facts.append(f"Target: {format_estimate(target, measure)}")
    context = " &middot; ".join(esc(f) for f in facts)
    description = f"<p>{esc(measure.description)}</p>" if measure.description else ""
    return f'<h3 class="evalkit-measure">{esc(measure.name)}</h3><p class="muted">{context}</p>{description}'


def reading(text: str) -> str:
    """A result's plain-English sentence as the section's lead paragraph."""
    return f'<p class="evalkit-reading"><strong>{esc(text)}</strong></p>'


def no_data(measure: Measure, locality_name: str) -> str:
    return f"<p>No data for {esc(measure.name.lower())} in {esc(locality_name)}: nothing to show.</p>"


SPC_METHODS = (
    "<p><strong>Month by month (SPC).</strong> Each monthly measure's chart follows NHS England's <em>Making Data "
    "Count</em>: the chart suits the measure (u chart for rates, p chart for percentages, c chart for counts, XmR "
    "chart for means; Laney's u' or p' chart, or an XmR chart for counts, where the months before the intervention "
    "vary more than chance allows, as large denominators usually do). Limits are set from the months before the "
    "intervention (at least 13 are needed) and, where 13 or more months follow the transition, recalculated from "
    "them. Special cause is a point beyond a limit, six or more points on one side of the mean, six or more points "
    "rising or falling, or two of three points beyond the same two-sigma line; where a point is both an improvement "
    "and a concern it shows as an improvement, as in the MDC tool. The rules assume months are independent: "
    "seasonality and autocorrelation can make runs without a change in the process, which the interrupted time "
    "series allows for and the SPC chart does not. With fewer than 13 months before the intervention a run chart "
    "(median, Anhøj's rules) is shown instead.</p>")


def methods(*, kinds: Iterable[str], survey: bool, parameters: PackParameters, baseline: Window, post: Window,
            alpha: float, locality_name: str, synthetic: bool, policy: DisclosurePolicy = NHS_DIGITAL) -> str:
    """The methods-and-assumptions section: data, windows, methods by kind, disclosure control, caveats."""
    conf = conf_label(alpha)
    start = parameters.intervention.start
    k = parameters.intervention.transition_months
    paragraphs = [
        f"<p><strong>Data.</strong> Each measure is summed over the organisations in {esc(locality_name)} that "
        "reported it, month by month (numerators and denominators are added, then divided). A month in which no "
        "organisation reported is shown as a gap and never filled in; a month in which only some reported is "
        "shown as it is, and the data-quality section lists how many organisations reported.</p>",
        f"<p><strong>Before and after.</strong> Before is {month(baseline.start)} to {month(baseline.end)}. The "
        f"intervention started in {month(start)}"
        + (f"; the {k} transition month{'s' if k != 1 else ''} that follow{'' if k != 1 else 's'} are left out "
           "while the change beds in" if k else "")
        + f". After is {month(post.start)} to {month(post.end)}. Each window is pooled into one figure with a "
        f"{conf} confidence interval.</p>",
    ]
    items = []
    for kind in ("rate", "proportion", "count", "mean"):
        if kind in set(kinds):
            items.append(f"<li><strong>{KIND_WORDS[kind]}:</strong> {esc(METHODS[kind])}. "
                         f"{esc(ASSUMPTIONS[kind])}</li>")
    if survey:
        items.append("<li><strong>Safety-culture survey:</strong> percent of item responses that are positive, "
                     f"per wave, Wilson score interval. {esc(SURVEY_ASSUMPTIONS)}</li>")
    if items:
        paragraphs.append(f"<p><strong>Methods and what they assume.</strong></p><ul>{''.join(items)}</ul>")
    paragraphs.append(SPC_METHODS)
    paragraphs.append(f"<p><strong>Small numbers.</strong> {esc(methods_text(policy))}</p>")
    paragraphs.append(f"<p><strong>What this does not show.</strong> {esc(CAUSATION_CAVEAT.format(parts='windows'))}"
                      "</p>")
    if synthetic:
        paragraphs.append(f"<p><strong>Synthetic data.</strong> {esc(SYNTHETIC_BANNER)}</p>")
    return "".join(paragraphs)


def closing_notes(*, synthetic: bool, policy: DisclosurePolicy) -> str:
    """The paragraphs every summary page ends its methods with: synthetic data (when so), small numbers."""
    notes = f"<p><strong>Synthetic data.</strong> {esc(SYNTHETIC_BANNER)}</p>" if synthetic else ""
    return notes + f"<p><strong>Small numbers.</strong> {esc(methods_text(policy))}</p>"


__all__ = ["closing_notes", "cover", "measure_heading", "methods", "no_data", "reading", "synthetic_banner"]
