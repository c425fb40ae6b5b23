"""HTML tables for evidence packs, built from result tables and never recomputed.

Each function returns an HTML string. Every text that comes from parameters
or data is escaped with :func:`html.escape`; numbers are formatted here with
fixed rules, so pandas' global display options never change a pack.

Counts of events and people, and of raw rows in the data-quality tables, go
through the disclosure policy (``policy``, default NHS Digital's; see
:mod:`evalkit.report.disclosure`): 1 to 7 shown as ``*``, others rounded to
the nearest 5, percentages beside them computed from the rounded counts.
Rates, intervals and other modelled values are shown as they are. Counts of
months and organisations (the completeness table) are not counts of people or
events and are not rounded.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from evalkit.config.models import DisclosurePolicy, Measure, Stream
from evalkit.data.series import month_count
from evalkit.data.store import CHECKS
from evalkit.report.disclosure import COUNTS_ATTRIBUTE, NHS_DIGITAL, count_cell, percentage
from evalkit.stats.describe import (
    WAVE_LABELS,
    WINDOW_NAMES,
    WaveSummary,
    WindowSummary,
    conf_label,
    decimals_for,
    format_estimate,
)

TABLE_CLASS = "evalkit-table"
NOT_APPLICABLE = "&ndash;"  # shown where a column does not apply (a count has no denominator)

FAMILY_NAMES = {"outcome": "Outcome", "process": "Process", "balancing": "Balancing"}
DIRECTION_NAMES = {"increase": "Higher is better", "decrease": "Lower is better", "neutral": "No better direction"}


def esc(value: object) -> str:
    """Text for HTML: escaped, quotes included."""
    return html.escape(str(value), quote=True)


def html_table(header: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: Iterable[int] = (),
               caption: str | None = None, counts: Iterable[int] = ()) -> str:
    """A table from cells that are already HTML (escape text before passing it).

    ``numeric`` are the column positions to right-align; ``counts`` the positions of columns of counts,
    named on the table so that publishing checks every cell in them against the disclosure policy.
    """
    right = set(numeric)
    count_columns = " ".join(str(i) for i in sorted(set(counts)))
    marker = f' {COUNTS_ATTRIBUTE}="{count_columns}"' if count_columns else ""

    def cell(tag: str, i: int, content: str) -> str:
        cls = ' class="num"' if i in right else ""
        scope = ' scope="col"' if tag == "th" else ""
        return f"<{tag}{cls}{scope}>{content}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows)
    cap = f"<caption>{caption}</caption>" if caption else ""
    return f'<table class="{TABLE_CLASS}"{marker}>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def format_number(value: float) -> str:
    """A number outside disclosure control (months, organisations, a modelled value): ``'1,234'``, or one
    decimal place when it is not whole; a dash when missing. Counts of people or events go through
    :func:`evalkit.report.disclosure.count_cell` instead."""
    if value is None or not np.isfinite(value):
        return NOT_APPLICABLE
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _estimate_cells(row: pd.Series, measure: Measure, policy: DisclosurePolicy, *,
                    from_counts: bool | None = None) -> list[str]:
    """Estimate and interval; a percentage (``from_counts``, default for proportions) from the rounded
    counts, as shown beside it. Intervals are modelled and not suppressed."""
    if not np.isfinite(row["estimate"]):
        return ["no data", NOT_APPLICABLE]
    places = decimals_for(row["estimate"], measure)
    estimate = format_estimate(row["estimate"], measure, decimals=places)
    if from_counts is None:
        from_counts = measure.kind == "proportion"
    if from_counts:
        estimate = percentage(row["numerator"], row["denominator"], policy, decimals=places) or "no data"
    if np.isfinite(row["ci_lower"]) and np.isfinite(row["ci_upper"]):
        ci = (f"{format_estimate(row['ci_lower'], measure, decimals=places)} to "
              f"{format_estimate(row['ci_upper'], measure, decimals=places)}")
    else:
        ci = "not available"
    return [esc(estimate), esc(ci)]


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def definition_caption(measure: Measure) -> str:
    """'Numerator: ... Denominator: ...' for under a table."""
    text = f"Numerator: {esc(measure.numerator)}."
    if measure.denominator:
        text += f" Denominator: {esc(measure.denominator)}."
    return text


def window_table(summary: WindowSummary, *, policy: DisclosurePolicy = NHS_DIGITAL) -> str:
    """The before/after table of one measure (columns of :meth:`WindowSummary.summary`, formatted); the
    numerator and denominator under ``policy``, a percentage from them as rounded."""
    measure = summary.measure
    header = ["Window", "Months", "Months with data", "Numerator", "Denominator",
              esc(_sentence(measure.value_label) if measure.kind != "proportion" else "Percent"),
              f"{conf_label(summary.alpha)} CI"]
    rows = []
    for _, row in summary.summary().iterrows():
        rows.append([
            esc(WINDOW_NAMES[row["window"]].capitalize()),
            esc(f"{row['start']:%b %Y} to {row['end']:%b %Y}"),
            esc(f"{row['n_months']} of {month_count(row['start'], row['end'])}"),
            count_cell(row["numerator"], policy, missing=NOT_APPLICABLE),
            count_cell(row["denominator"], policy, missing=NOT_APPLICABLE) if measure.kind != "count"
            else NOT_APPLICABLE,
            *_estimate_cells(row, measure, policy),
        ])
    return html_table(header, rows, numeric=(2, 3, 4, 5), caption=definition_caption(measure), counts=(3, 4))


def wave_table(summary: WaveSummary, *, policy: DisclosurePolicy = NHS_DIGITAL) -> str:
    """Percent positive per survey wave (columns of :meth:`WaveSummary.summary`, formatted); respondents and
    responses under ``policy``, the percentage from the rounded responses."""
    header = ["Wave", "Survey dates", "Respondents", "Positive responses", "Item responses", "Percent positive",
              f"{conf_label(summary.alpha)} CI"]
    rows = []
    for _, row in summary.summary().iterrows():
        dates = f"{row['start']:%d %b %Y}" + (f" to {row['end']:%d %b %Y}" if row["end"] != row["start"] else "")
        rows.append([
            esc(WAVE_LABELS.get(row["wave"], row["wave"])), esc(dates),
            count_cell(row["n_respondents"], policy, missing=NOT_APPLICABLE),
            count_cell(row["numerator"], policy, missing=NOT_APPLICABLE),
            count_cell(row["denominator"], policy, missing=NOT_APPLICABLE),
            *_estimate_cells(row, summary.measure, policy, from_counts=True),
        ])
    return html_table(header, rows, numeric=(2, 3, 4, 5), caption=definition_caption(summary.measure),
                      counts=(2, 3, 4))


def driver_diagram_table(stream: Stream, measures: dict[str, Measure]) -> str:
    """Primary driver -> change ideas -> measures, one row per primary driver."""
    rows = []
    for driver in stream.driver_diagram:
        ideas = "<ul>" + "".join(f"<li>{esc(idea)}</li>" for idea in driver.change_ideas) + "</ul>"
        names = "<ul>" + "".join(
            f"<li>{esc(measures[m].name)} <span class=\"muted\">({esc(FAMILY_NAMES[measures[m].family].lower())})"
            "</span></li>" for m in driver.measures) + "</ul>"
        rows.append([esc(driver.primary_driver), ideas, names])
    return html_table(["Primary driver", "Change ideas", "Measures"], rows,
                      caption=f"Aim: {esc(stream.aim)}")


def headline_table(rows: Iterable[tuple[Measure, WindowSummary | WaveSummary | None]], *, alpha: float,
                   policy: DisclosurePolicy = NHS_DIGITAL) -> str:
    """One line per measure: its type, better direction, and the estimate before and after. It shows no
    counts, but a percentage is computed from the rounded counts, as in the measure's own table, so that
    the two together never reveal a suppressed count."""
    body = []
    for measure, summary in rows:
        cells = [esc(measure.name), esc(FAMILY_NAMES[measure.family]),
                 esc(DIRECTION_NAMES[measure.improvement_direction])]
        if summary is None:
            cells += ["no data", "no data"]
        else:
            for _, row in summary.summary().iterrows():
                estimate, ci = _estimate_cells(row, measure, policy,
                                               from_counts=True if isinstance(summary, WaveSummary) else None)
                cells.append(estimate if ci == NOT_APPLICABLE else f"{estimate} <span class=\"muted\">({ci})</span>")
        body.append(cells)
    conf = conf_label(alpha)
    return html_table(["Measure", "Type", "Direction", f"Before ({conf} CI)", f"After ({conf} CI)"], body,
                      numeric=(3, 4))


def file_counts_table(files: pd.DataFrame, *, policy: DisclosurePolicy = NHS_DIGITAL) -> str:
    """Rows read, accepted and quarantined per raw file (columns source, file, rows_read, ...), under
    ``policy``; whether read = accepted + quarantined is decided on the exact counts."""
    rows = []
    for _, row in files.iterrows():
        balanced = row["rows_read"] == row["rows_accepted"] + row["rows_quarantined"]
        rows.append([esc(row["source"]), esc(row["file"]),
                     *(count_cell(row[c], policy, missing=NOT_APPLICABLE)
                       for c in ("rows_read", "rows_accepted", "rows_quarantined")),
                     "yes" if balanced else "<strong>no</strong>"])
    return html_table(["Source", "File", "Rows read", "Accepted", "Quarantined", "Read = accepted + quarantined"],
                      rows, numeric=(2, 3, 4), counts=(2, 3, 4),
                      caption="Rows of each raw file, all localities. Small counts are shown as * and others "
                              "rounded, so they need not add up; the last column compares the exact counts.")


def quarantine_table(counts: pd.DataFrame, locality_name: str, *, policy: DisclosurePolicy = NHS_DIGITAL) -> str:
    """Quarantined rows by check for one locality (columns check, rows), the rows under ``policy``."""
    rows = [[f"<code>{esc(r['check'])}</code>", esc(CHECKS.get(r["check"], "")),
             count_cell(r["rows"], policy, missing=NOT_APPLICABLE)] for _, r in counts.iterrows()]
    return html_table(["Check", "What it finds", "Rows"], rows, numeric=(2,), counts=(2,),
                      caption=f"Raw rows from {esc(locality_name)} set aside in quarantine, by the check they failed.")


def unpaired_table(unpaired: pd.DataFrame, measures: dict[str, Measure], *,
                   policy: DisclosurePolicy = NHS_DIGITAL) -> str:
    """Organisation-months left out of a measure because their denominator is missing; the events under
    ``policy``."""
    rows = [[esc(measures[r["measure_id"]].name), esc(r["organisation"]), esc(f"{r['period']:%b %Y}"),
             count_cell(r["numerator"], policy, missing=NOT_APPLICABLE)] for _, r in unpaired.iterrows()]
    return html_table(["Measure", "Organisation", "Month", "Numerator left out"], rows, numeric=(3,), counts=(3,),
                      caption="Counted events whose denominator (e.g. bed days) was missing or set aside: they "
                              "cannot be turned into a rate or percentage, so they are left out of that month.")


def completeness_table(rows: Iterable[tuple[Measure, pd.DataFrame]], expected_months: int) -> str:
    """Months with data, missing months and organisations reporting, per monthly measure (counts of months
    and organisations, not of people or events: shown as they are)."""
    body = []
    for measure, series in rows:
        have = series["numerator"].notna()
        gaps = series.loc[~have, "period"]
        shown = ", ".join(f"{p:%b %Y}" for p in gaps[:6]) + (", ..." if len(gaps) > 6 else "")
        orgs = int(series["n_organisations"].max()) if len(series) else 0
        body.append([esc(measure.name), format_number(int(have.sum())),
                     format_number(max(0, expected_months - int(have.sum()))), esc(shown) or NOT_APPLICABLE,
                     format_number(orgs)])
    return html_table(["Measure", "Months with data", "Months missing", "Gaps inside the series",
                       "Organisations reporting (most in a month)"], body, numeric=(1, 2, 4),
                      caption=f"Out of {expected_months} months in the programme period.")


__all__ = [
    "completeness_table",
    "definition_caption",
    "driver_diagram_table",
    "esc",
    "file_counts_table",
    "format_number",
    "headline_table",
    "html_table",
    "quarantine_table",
    "unpaired_table",
    "wave_table",
    "window_table",
]
