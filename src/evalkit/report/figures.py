"""Charts for evidence packs: a measure's monthly series around an intervention, and survey waves.

Every chart takes ``ax=None`` and returns the Axes it drew on. Styling comes
from :func:`style`, a matplotlib ``rc_context``: nothing here changes global
state. Lines differ in style as well as colour, so a chart printed in
greyscale still reads.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import io
from collections.abc import Iterable, Iterator
from typing import Any

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from cycler import cycler
from IPython.display import SVG
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from evalkit.config.models import Measure, Window
from evalkit.data.series import add_months
from evalkit.stats.describe import (
    ALPHA,
    WAVE_LABELS,
    conf_label,
    describe_waves,
    describe_windows,
    format_estimate,
)

# NHS identity colours (NHS England, "NHS identity guidelines: colours").
NHS_BLUE = "#005EB8"
NHS_DARK_BLUE = "#003087"
NHS_DARK_GREY = "#425563"
NHS_MID_GREY = "#768692"
NHS_PALE_GREY = "#E8EDEE"
NHS_ORANGE = "#ED8B00"
NHS_BLACK = "#231F20"

FONTS = ["Arial", "Liberation Sans", "DejaVu Sans"]  # Arial, else its metric twin, else matplotlib's own font
SVG_HASHSALT = "evalkit"  # fixed salt: SVG element ids are the same on every run
SVG_FONTTYPE = "none"  # text stays text (searchable, small); the viewer draws it in the first font it has

FIGSIZE = (8.0, 3.6)  # inches: the width of an A4 page inside its margins
HALF_MONTH = pd.Timedelta(days=15)  # boundaries are drawn between monthly points

RC: dict[str, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": FONTS,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titlelocation": "left",
    "axes.labelsize": 9,
    "axes.edgecolor": NHS_MID_GREY,
    "axes.labelcolor": NHS_BLACK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "axes.prop_cycle": cycler(color=[NHS_BLUE, NHS_DARK_BLUE, NHS_DARK_GREY, NHS_ORANGE]),
    "grid.color": NHS_PALE_GREY,
    "grid.linewidth": 0.8,
    "xtick.color": NHS_DARK_GREY,
    "ytick.color": NHS_DARK_GREY,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "svg.fonttype": SVG_FONTTYPE,
    "svg.hashsalt": SVG_HASHSALT,
}
"""The evalkit chart style, applied only inside :func:`style`."""


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Apply the evalkit chart style for the duration of a ``with`` block (fonts, colours, SVG ids)."""
    with plt.rc_context(RC):
        yield


def accessible_svg(figure: Figure, alt: str) -> SVG:
    """The figure as inline SVG with its description as the SVG's title and accessible name.

    Rendered with the same settings as the notebook's inline backend (fixed id salt, no creation date,
    tight bounding box), so the output is identical on every run.
    """
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    svg = buffer.getvalue()
    start = svg.index("<svg")
    end = svg.index(">", start)
    label = html.escape(alt, quote=True)
    svg = f'{svg[start:end]} role="img" aria-label="{label}"><title>{label}</title>{svg[end + 1:]}'
    return SVG(data=svg)


def _events(events: Iterable[Any]) -> list[tuple[dt.date, str]]:
    """Accept config ``Event`` objects or ``(date, label)`` pairs."""
    out = []
    for event in events:
        date, label = (event.date, event.label) if hasattr(event, "date") else event
        out.append((pd.Timestamp(date).date().replace(day=1), str(label)))
    return out


def _ylabel(measure: Measure) -> str:
    label = measure.value_label
    return label[:1].upper() + label[1:]


def _window_line(ax: Axes, window: Window, row: pd.Series, *, label: str, color: str,
                 linestyle: Any) -> list[Line2D]:
    if not np.isfinite(row["estimate"]):
        return []
    left, right = pd.Timestamp(window.start) - HALF_MONTH, pd.Timestamp(window.end) + HALF_MONTH
    ax.fill_between([left, right], row["ci_lower"], row["ci_upper"], color=color, alpha=0.12, linewidth=0)
    (line,) = ax.plot([left, right], [row["estimate"]] * 2, color=color, linestyle=linestyle, linewidth=1.8,
                      label=label)
    return [line]


def series_chart(
    series: pd.DataFrame,
    *,
    measure: Measure,
    intervention: dt.date,
    transition_months: int,
    events: Iterable[Any] = (),
    target: float | None = None,
    baseline: Window | None = None,
    post: Window | None = None,
    alpha: float = ALPHA,
    ax: Axes | None = None,
) -> Axes:
    """A measure's monthly values around an intervention.

    Draws the monthly values (solid line with points; a month without data is a
    break in the line and a tick on the axis), the intervention start (vertical
    line), the transition months (shaded), the pooled level before and after
    with its confidence band (from
    :func:`evalkit.stats.describe.describe_windows`, the numbers of the pack's
    table), numbered event markers explained in the legend, and a target
    (dashed). ``series`` is one locality's output of
    :func:`evalkit.data.series.measure_series`; it is not modified.
    """
    summary = describe_windows(series, measure=measure, intervention=intervention,
                               transition_months=transition_months, baseline=baseline, post=post, alpha=alpha)
    table = summary.summary().set_index("window")
    periods = pd.to_datetime(series["period"])
    values = series["value"].to_numpy(dtype=float)
    start = pd.Timestamp(intervention.replace(day=1))
    post_start = pd.Timestamp(add_months(intervention.replace(day=1), transition_months))
    pooled = "mean" if measure.kind in ("count", "mean") else "pooled"
    conf = conf_label(alpha)

    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=FIGSIZE)
        handles: list[Any] = []
        (line,) = ax.plot(periods, values, color=NHS_BLUE, linestyle="-", linewidth=1.4, marker="o",
                          markersize=3.2, label="Monthly value", zorder=3)
        handles.append(line)
        gaps = periods[np.isnan(values)]
        if len(gaps):
            bottom = blended_transform_factory(ax.transData, ax.transAxes)
            (gap,) = ax.plot(gaps, np.zeros(len(gaps)), transform=bottom, linestyle="none", marker="|",
                             markersize=8, color=NHS_DARK_GREY, label=f"No data ({len(gaps)} month"
                             f"{'s' if len(gaps) != 1 else ''})", clip_on=False)
            handles.append(gap)
        if transition_months:
            span = ax.axvspan(start - HALF_MONTH, post_start - HALF_MONTH, facecolor=NHS_PALE_GREY, zorder=0,
                              linewidth=0,
                              label=f"Transition ({transition_months} month{'s' if transition_months != 1 else ''},"
                                    " left out)")
            handles.append(span)
        handles.append(ax.axvline(start - HALF_MONTH, color=NHS_DARK_GREY, linewidth=1.4, linestyle="-",
                                  label=f"Intervention starts ({intervention:%b %Y})"))
        handles += _window_line(ax, summary.baseline, table.loc["pre"], color=NHS_DARK_GREY, linestyle="-.",
                                label=f"Before ({pooled}): "
                                f"{format_estimate(table.loc['pre', 'estimate'], measure)}, shaded {conf} CI")
        handles += _window_line(ax, summary.post, table.loc["post"], color=NHS_DARK_BLUE, linestyle=":",
                                label=f"After ({pooled}): "
                                f"{format_estimate(table.loc['post', 'estimate'], measure)}, shaded {conf} CI")
        if target is not None:
            handles.append(ax.axhline(target, color=NHS_ORANGE, linestyle="--", linewidth=1.4,
                                      label=f"Target: {format_estimate(target, measure)}"))
        top = blended_transform_factory(ax.transData, ax.transAxes)
        for number, (date, label) in enumerate(_events(events), start=1):
            x = pd.Timestamp(date)
            ax.plot([x], [1.0], transform=top, marker="o", markersize=11, markerfacecolor="white",
                    markeredgecolor=NHS_DARK_GREY, linestyle="none", clip_on=False, zorder=4)
            ax.plot([x], [1.0], transform=top, marker=f"${number}$", markersize=5.5, color=NHS_BLACK,
                    linestyle="none", clip_on=False, zorder=5)
            handles.append(Line2D([], [], marker=f"${number}$", markersize=6, color=NHS_BLACK,
                                  linestyle="none", label=label))
        ax.set_ylabel(_ylabel(measure))
        ax.set_title(measure.name, pad=14)
        ax.xaxis.set_major_locator(mdates.YearLocator())
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
        ax.xaxis.set_minor_locator(mdates.MonthLocator(bymonth=(4, 7, 10)))
        low, high = ax.get_ylim()
        if low < 0 <= np.nanmin(np.append(values, np.inf)):
            ax.set_ylim(0, high)
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, -0.1), ncol=2, borderaxespad=0.0,
                  handlelength=2.6)
    return ax


def wave_chart(
    waves: pd.DataFrame,
    *,
    measure: Measure,
    target: float | None = None,
    alpha: float = ALPHA,
    ax: Axes | None = None,
) -> Axes:
    """Percent positive per survey wave with its confidence interval (and a dashed target).

    ``waves`` is one locality's output of :func:`evalkit.data.series.survey_waves`; it is not modified.
    """
    table = describe_waves(waves, measure=measure, alpha=alpha).summary()
    labels = [f"{WAVE_LABELS.get(w, w)}\n{start:%b %Y}" for w, start in zip(table["wave"], table["start"])]
    x = np.arange(len(table))
    estimate = table["estimate"].to_numpy(dtype=float)
    error = np.vstack([estimate - table["ci_lower"].to_numpy(dtype=float),
                       table["ci_upper"].to_numpy(dtype=float) - estimate])
    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=(FIGSIZE[0] * 0.6, FIGSIZE[1]))
        handles = [ax.errorbar(x, estimate, yerr=error, fmt="o", markersize=6, capsize=5, color=NHS_BLUE,
                               linewidth=1.4, label=f"Percent positive, with {conf_label(alpha)} CI")]
        ax.set_xticks(x, labels)
        ax.set_xlim(-0.6, len(table) - 0.4)
        ax.set_ylabel(_ylabel(measure))
        ax.set_title(measure.name, pad=14)
        if target is not None:
            handles.append(ax.axhline(target, color=NHS_ORANGE, linestyle="--", linewidth=1.4,
                                      label=f"Target: {format_estimate(target, measure)}"))
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, -0.22), borderaxespad=0.0)
    return ax


__all__ = ["FONTS", "NHS_BLUE", "RC", "series_chart", "style", "wave_chart"]


def its_chart(
    curves: pd.DataFrame,
    *,
    measure: Measure,
    intervention: dt.date,
    alpha: float = ALPHA,
    ax: Axes | None = None,
) -> Axes:
    """An interrupted time series in the measure's units: observed months, the fitted segments, and the
    counterfactual (the pre-intervention trend carried on) with its confidence band.

    ``curves`` has one row per month: ``period``, ``observed``, ``fitted``, ``counterfactual`` with
    ``counterfactual_ci_lower``/``_upper``, and ``in_fit`` (False for transition months); see
    :func:`evalkit.report.summative.curves`. It is not modified.
    """
    periods = pd.to_datetime(curves["period"])
    start = pd.Timestamp(intervention.replace(day=1))
    post = (periods >= start).to_numpy()
    in_fit = curves["in_fit"].to_numpy(dtype=bool)
    conf = conf_label(alpha)
    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=FIGSIZE)
        handles: list[Any] = []
        (points,) = ax.plot(periods, curves["observed"], linestyle="none", marker="o", markersize=3.2,
                            color=NHS_BLUE, label="Monthly value", zorder=3)
        handles.append(points)
        for i, mask in enumerate((~post, post & in_fit)):
            (line,) = ax.plot(periods[mask], curves["fitted"][mask], color=NHS_DARK_BLUE, linewidth=1.8,
                              linestyle="-", label="Fitted trend (model)" if i == 0 else None)
            if i == 0:
                handles.append(line)
        band = ax.fill_between(periods[post], curves["counterfactual_ci_lower"][post],
                               curves["counterfactual_ci_upper"][post], color=NHS_ORANGE, alpha=0.18, linewidth=0,
                               label=f"Expected without the programme, {conf} CI")
        (cf,) = ax.plot(periods[post], curves["counterfactual"][post], color=NHS_ORANGE, linewidth=1.6,
                        linestyle="--", label="Expected without the programme")
        handles += [cf, band]
        transition = post & ~in_fit
        if transition.any():
            handles.append(ax.axvspan(periods[transition].min() - HALF_MONTH, periods[transition].max() + HALF_MONTH,
                                      facecolor=NHS_PALE_GREY, zorder=0, linewidth=0,
                                      label="Transition (left out of the fit)"))
        handles.append(ax.axvline(start - HALF_MONTH, color=NHS_DARK_GREY, linewidth=1.4,
                                  label=f"Intervention starts ({intervention:%b %Y})"))
        ax.set_ylabel(_ylabel(measure))
        ax.set_title(f"{measure.name}: interrupted time series", pad=8)
        ax.xaxis.set_major_locator(mdates.YearLocator())
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
        low, high = ax.get_ylim()
        if low < 0 <= np.nanmin(np.append(curves["observed"].to_numpy(dtype=float), np.inf)):
            ax.set_ylim(0, high)
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, -0.1), ncol=2, borderaxespad=0.0,
                  handlelength=2.6)
    return ax
