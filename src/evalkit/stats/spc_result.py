"""The result of :func:`evalkit.stats.spc.fit`: points, phase summary, icons, chart and prose."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from evalkit.errors import AnalysisError

# NHS England Making Data Count colours (SPC Single Chart Tool v5.0)
MDC_COLOURS = {
    "common_cause": "#A6A6A6",  # grey
    "special_cause_improvement": "#00B0F0",  # blue
    "special_cause_concern": "#E46C0A",  # orange
    "special_cause_neutral_high": "#490092",  # purple
    "special_cause_neutral_low": "#490092",
}
# marker shapes carry the same meaning as the colours, so a greyscale print still reads
MARKERS = {"common_cause": "o", "special_cause_improvement": "D", "special_cause_concern": "X",
           "special_cause_neutral_high": "s", "special_cause_neutral_low": "s"}
LABELS = {"common_cause": "common cause", "special_cause_improvement": "special cause: improvement",
          "special_cause_concern": "special cause: concern", "special_cause_neutral_high": "special cause (high)",
          "special_cause_neutral_low": "special cause (low)"}
LINE_COLOUR = "#231F20"  # NHS black for centre and limits
EVENT_COLOUR = "#425563"  # NHS dark grey
TARGET_COLOUR = "#DA291C"  # NHS emergency-services red, as the MDC target line
CHART_NAMES = {"xmr": "XmR", "c": "c", "p": "p", "pp": "Laney p'", "u": "u", "up": "Laney u'", "g": "g", "t": "t"}
RULE_WORDS = {"outside_limits": "beyond a process limit", "shift": "a run on one side of the mean",
              "trend": "a run of rising or falling points", "two_in_three": "two of three points near a limit"}
SUMMARY_COLUMNS = ("phase", "start", "end", "n", "n_base", "chart", "centre", "lpl", "upl", "common_cause",
                   "special_cause_improvement", "special_cause_concern", "special_cause_neutral", "variation_type",
                   "variation_icon", "assurance_type")


def _num(value: float) -> str:
    size = abs(value)
    return f"{value:,.0f}" if size >= 100 else f"{value:.1f}" if size >= 10 else f"{value:.2g}" if size < 1 else \
        f"{value:.2f}"


def _unit(unit: str) -> str:
    return unit if unit in ("", "%") else f" {unit}"


def variation_icon(point_type: str | None, direction: str) -> str:
    """The MDC variation icon for a point type: ``common_cause``, ``improvement_high``/``_low``,
    ``concern_high``/``_low``, ``neutral_high``/``_low``, or ``none`` (no limits)."""
    if point_type is None or (isinstance(point_type, float) and np.isnan(point_type)):
        return "none"
    if point_type == "common_cause":
        return "common_cause"
    if point_type.startswith("special_cause_neutral_"):
        return "neutral_" + point_type.rsplit("_", 1)[1]
    high = (direction == "increase") == (point_type == "special_cause_improvement")
    return f"{point_type.removeprefix('special_cause_')}_{'high' if high else 'low'}"


def assurance_type(target: float | None, lpl: float, upl: float, direction: str) -> str | None:
    """``consistent_pass`` / ``consistent_fail`` / ``inconsistent`` from the latest limits, or None.

    None without a target, for a neutral measure or without limits. A target exactly on a limit is
    ``inconsistent`` (NHSRplotthedots; the MDC SQL v2.6 would call it pass/fail).
    """
    if target is None or direction == "neutral" or not (np.isfinite(lpl) and np.isfinite(upl)):
        return None
    if direction == "increase":
        return "consistent_fail" if target > upl else "consistent_pass" if target < lpl else "inconsistent"
    return "consistent_fail" if target < lpl else "consistent_pass" if target > upl else "inconsistent"


@dataclass(frozen=True)
class SpcResult:
    """An SPC chart with its rules applied.

    ``points()`` has one row per period: ``date``; ``value`` (the plotted value: the proportion or rate
    times ``multiply`` for p, p', u and u' charts); ``numerator``, ``denominator``; ``phase`` (1, 2, ...
    from ``rebase``); ``baseline`` (the point helped set its phase's limits); ``centre``, ``lpl``, ``upl``
    (process limits, NaN where a phase has too few points), ``lower_2sigma``, ``upper_2sigma``; the rule
    flags ``outside_limits``, ``shift``, ``trend``, ``two_in_three`` (+1 high or rising, -1 low or
    falling, 0 none); ``special_cause`` (bool); ``rule`` (the leading rule by NHSRplotthedots'
    precedence: outside_limits, trend, two_in_three, shift); ``point_type`` (``common_cause``,
    ``special_cause_improvement``, ``special_cause_concern``, ``special_cause_neutral_high``/``_low``;
    None for a missing value or a phase without limits); for XmR charts ``moving_range`` (between neighbouring
    observed points of a phase), ``mr_centre`` (the average moving range that set the limits) and ``mr_upl``
    (3.267 x it), NaN for other charts.
    """

    chart: str
    chart_reason: str
    table: pd.DataFrame = field(repr=False)
    options: dict[str, Any] = field(repr=False)
    events: tuple[tuple[dt.date, str], ...] = ()
    phase_details: dict[int, dict[str, float]] = field(default_factory=dict, repr=False)
    warnings: tuple[str, ...] = ()

    # ------------------------------------------------------------------ tables

    def points(self) -> pd.DataFrame:
        """One row per period (see the class docstring); a copy."""
        return self.table.copy()

    @property
    def has_limits(self) -> bool:
        """Whether any phase has limits (False below ``min_points``: show a run chart instead)."""
        return bool(np.isfinite(self.table["centre"]).any())

    def _last(self) -> pd.Series | None:
        judged = self.table[self.table["point_type"].notna()]
        return judged.iloc[-1] if len(judged) else None

    @property
    def variation_type(self) -> str | None:
        """The latest point's ``point_type`` (None without limits)."""
        last = self._last()
        return None if last is None else last["point_type"]

    @property
    def variation_icon(self) -> str:
        """The MDC variation icon of the latest point (see :func:`variation_icon`)."""
        return variation_icon(self.variation_type, self.options["improvement_direction"])

    @property
    def assurance_type(self) -> str | None:
        """The MDC assurance icon against ``target`` from the latest limits (see :func:`assurance_type`)."""
        last = self._last()
        if last is None:
            return None
        return assurance_type(self.options["target"], last["lpl"], last["upl"], self.options["improvement_direction"])

    def summary(self) -> pd.DataFrame:
        """One row per phase: ``phase``, ``start``, ``end``, ``n`` (points with a value), ``n_base`` (points that
        set the limits), ``chart``, ``centre``, ``lpl``, ``upl`` (averages over the phase's points: constant for
        XmR, c and g charts), counts of ``common_cause``, ``special_cause_improvement``,
        ``special_cause_concern``, ``special_cause_neutral`` points, ``variation_type`` and ``variation_icon``
        (the phase's last point), ``assurance_type`` (against ``target`` from the phase's last limits)."""
        rows = []
        direction = self.options["improvement_direction"]
        for p, part in self.table.groupby("phase", sort=True):
            judged = part[part["point_type"].notna()]
            last = judged.iloc[-1] if len(judged) else None
            types = judged["point_type"]
            rows.append({
                "phase": int(p), "start": part["date"].iloc[0], "end": part["date"].iloc[-1],
                "n": int(part["value"].notna().sum()), "n_base": int(part["baseline"].sum()), "chart": self.chart,
                "centre": part["centre"].mean(), "lpl": part["lpl"].mean(), "upl": part["upl"].mean(),
                "common_cause": int((types == "common_cause").sum()),
                "special_cause_improvement": int((types == "special_cause_improvement").sum()),
                "special_cause_concern": int((types == "special_cause_concern").sum()),
                "special_cause_neutral": int(types.str.startswith("special_cause_neutral").sum()),
                "variation_type": None if last is None else last["point_type"],
                "variation_icon": variation_icon(None if last is None else last["point_type"], direction),
                "assurance_type": None if last is None else assurance_type(self.options["target"], last["lpl"],
                                                                          last["upl"], direction),
            })
        return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))

    # ------------------------------------------------------------------ prose

    def reading(self, unit: str = "") -> str:
        """One line: what the latest points say, e.g. "special cause improvement since Mar 2018: 7 points below
        the mean"."""
        suffix = _unit(unit)
        if not self.has_limits:
            return (f"Too few points for limits ({int(self.table['value'].notna().sum())}; "
                    f"{self.options['min_points']} needed): read it as a run chart.")
        judged = self.table[self.table["point_type"].notna()]
        last = judged.iloc[-1]
        centre = f"mean {_num(last['centre'])}{suffix}"
        if last["point_type"] == "common_cause":
            phase = judged[judged["phase"] == last["phase"]]
            special = phase[phase["special_cause"]]
            since = f"; last signal {special['date'].iloc[-1]:%b %Y}" if len(special) else ""
            return (f"Common cause variation: no signal at the latest point ({last['date']:%b %Y}), "
                    f"{centre}, limits {_num(last['lpl'])} to {_num(last['upl'])}{since}.")
        kind = str(last["point_type"]).removeprefix("special_cause_").replace("_", " ")
        run = judged["point_type"].to_numpy()
        start = len(run) - 1
        while start > 0 and run[start - 1] == last["point_type"]:
            start -= 1
        points = judged.iloc[start:]
        side = "above" if (points["value"] > points["centre"]).mean() >= 0.5 else "below"
        return (f"Special cause {kind} since {points['date'].iloc[0]:%b %Y}: {len(points)} point"
                f"{'s' if len(points) != 1 else ''} flagged, {side} the {centre}, by "
                f"{RULE_WORDS.get(points['rule'].iloc[-1], 'the rules')}.")

    def alt_text(self, measure: str = "the measure", unit: str = "") -> str:
        """A description of the chart built from its numbers, for screen readers."""
        t = self.table
        text = (f"{CHART_NAMES[self.chart]} chart of {measure} from {t['date'].iloc[0]:%b %Y} to "
                f"{t['date'].iloc[-1]:%b %Y}, {int(t['value'].notna().sum())} points.")
        suffix = _unit(unit)
        for _, row in self.summary().iterrows():
            if not np.isfinite(row["centre"]):
                continue
            text += (f" Phase {row['phase']} ({row['start']:%b %Y} to {row['end']:%b %Y}): mean "
                     f"{_num(row['centre'])}{suffix}, limits {_num(row['lpl'])} to {_num(row['upl'])};"
                     f" {row['special_cause_improvement']} improvement, {row['special_cause_concern']} concern and "
                     f"{row['special_cause_neutral']} other special-cause points.")
        return text + " " + self.reading(unit)

    def narrative(self, unit: str = "") -> str:
        """The chart's reading, its basis, and the assumptions it rests on."""
        o = self.options
        rules = (f"a point beyond a limit, {o['shift_points']} or more points on one side of the mean, "
                 f"{o['trend_points']} or more points rising or falling, or two of three points beyond the same "
                 "two-sigma line")
        warn = "".join(f" Note: {w}." for w in self.warnings)
        return (f"{self.reading(unit)} {CHART_NAMES[self.chart]} chart, because {self.chart_reason}. Special cause "
                f"means {rules} (NHS England Making Data Count rules).{warn} These rules assume the points are independent from month to month; "
                "seasonality or autocorrelation can produce runs that are not a change in the process.")

    # ------------------------------------------------------------------ chart

    def plot_moving_range(self, ax: Axes | None = None) -> Axes:
        """The moving-range chart of an XmR chart: moving ranges, their mean and upper limit per phase."""
        if self.chart != "xmr":
            raise AnalysisError(f"a moving-range chart belongs to an XmR chart; this is a {self.chart} chart")
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 2.4))
        t = self.table
        ax.plot(t["date"], t["moving_range"], "-o", color="#768692", ms=3, lw=1, label="moving range")
        for _, part in t.groupby("phase", sort=True):
            if np.isfinite(part["mr_centre"]).any():
                ax.plot(part["date"], part["mr_centre"], "-", color=LINE_COLOUR, lw=1.2)
                ax.plot(part["date"], part["mr_upl"], "--", color=LINE_COLOUR, lw=1)
        ax.set_ylabel("Moving range")
        ax.legend(handles=[Line2D([], [], color=LINE_COLOUR, lw=1.2, label="average moving range"),
                           Line2D([], [], color=LINE_COLOUR, ls="--", lw=1, label="upper range limit (3.267 x)")],
                  loc="upper left", bbox_to_anchor=(0.0, -0.15), ncol=2, fontsize=8, frameon=False)
        return ax

    def plot(self, ax: Axes | None = None, *, ylabel: str | None = None) -> Axes:
        """Points coloured and shaped by point type, centre and limits per phase, target and events."""
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 3.6))
        t = self.table
        ax.plot(t["date"], t["value"], "-", color="#768692", lw=1, zorder=2)
        for p, part in t.groupby("phase", sort=True):
            if not np.isfinite(part["centre"]).any():
                continue
            step = "steps-mid" if part["upl"].nunique() > 1 else "default"
            ax.plot(part["date"], part["centre"], "-", color=LINE_COLOUR, lw=1.2, zorder=1)
            for col in ("lpl", "upl"):
                ax.plot(part["date"], part[col], "--", color=LINE_COLOUR, lw=1, drawstyle=step, zorder=1)
        shown = []
        for kind, colour in MDC_COLOURS.items():
            sel = t["point_type"] == kind
            if sel.any():
                ax.plot(t.loc[sel, "date"], t.loc[sel, "value"], MARKERS[kind], color=colour, ms=5 if kind ==
                        "common_cause" else 6, mec="white", mew=0.5, zorder=3)
                shown.append(kind)
        unjudged = t["point_type"].isna() & t["value"].notna()
        if unjudged.any():
            ax.plot(t.loc[unjudged, "date"], t.loc[unjudged, "value"], "o", color=MDC_COLOURS["common_cause"],
                    ms=4, zorder=3)
        handles = [Line2D([], [], ls="", marker=MARKERS[k], color=MDC_COLOURS[k], label=LABELS[k]) for k in shown
                   if not k.endswith("_low") or "special_cause_neutral_high" not in shown]
        handles += [Line2D([], [], color=LINE_COLOUR, lw=1.2, label="mean"),
                    Line2D([], [], color=LINE_COLOUR, lw=1, ls="--", label="process limits")]
        if self.options["target"] is not None:
            ax.axhline(self.options["target"], color=TARGET_COLOUR, ls="-.", lw=1.2)
            handles.append(Line2D([], [], color=TARGET_COLOUR, ls="-.", label="target"))
        top = blended_transform_factory(ax.transData, ax.transAxes)
        for number, (when, label) in enumerate(self.events, start=1):
            x = pd.Timestamp(when)
            ax.axvline(x, color=EVENT_COLOUR, ls=":", lw=1, zorder=0)
            ax.plot([x], [1.0], transform=top, marker="o", markersize=11, markerfacecolor="white",
                    markeredgecolor=EVENT_COLOUR, linestyle="none", clip_on=False, zorder=4)
            ax.plot([x], [1.0], transform=top, marker=f"${number}$", markersize=5.5, color=LINE_COLOUR,
                    linestyle="none", clip_on=False, zorder=5)
            handles.append(Line2D([], [], marker=f"${number}$", markersize=6, color=LINE_COLOUR, linestyle="none",
                                  label=label))
        if ylabel:
            ax.set_ylabel(ylabel)
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, -0.1), ncol=2, borderaxespad=0.0,
                  fontsize=8, frameon=False)
        return ax
