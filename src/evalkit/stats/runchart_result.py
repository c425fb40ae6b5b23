"""Run chart: the result of :func:`evalkit.stats.runchart.fit` (points, summary, plot, prose).

Everything here formats numbers already computed by :func:`~evalkit.stats.runchart.fit`; nothing is
recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

POINT_COLUMNS = ("date", "value", "part", "baseline", "centre", "useful", "run_id", "long_run", "shift", "trend",
                 "astronomical", "signal", "signal_type")
SUMMARY_COLUMNS = ("part", "start", "end", "n_obs", "n_missing", "n_baseline", "n_useful", "centre", "longest_run",
                   "longest_run_side", "longest_run_max", "n_crossings", "n_crossings_min", "runs_signal", "n_runs",
                   "runs_lower", "runs_upper", "shift_signal", "longest_trend", "trend_direction", "trend_signal",
                   "runs_count_signal", "astronomical_points", "signal")

# Signal styles: colour and marker shape both differ, so the chart reads in greyscale too.
# Colours are the NHS identity blue/orange/purple used by Making Data Count charts.
STYLES = {
    "improvement": {"color": "#005EB8", "marker": "D", "label": "signal: improvement"},
    "concern": {"color": "#ED8B00", "marker": "X", "label": "signal: concern"},
    "neutral_high": {"color": "#7C2855", "marker": "^", "label": "signal: high"},
    "neutral_low": {"color": "#7C2855", "marker": "v", "label": "signal: low"},
}
COMMON_COLOUR = "#768692"  # NHS mid grey: points with no signal
SIGNAL_MARKER_SIZE = 7
POINT_MARKER_SIZE = 4

ASSUMPTIONS = {
    "anhoej": ("The Anhøj rules treat each point as an independent draw above or below the median, like a coin "
               "toss: with independent points the chance of a false signal stays near 5% whatever the number of "
               "points (Anhøj & Olesen 2014), but autocorrelated data (seasonality, overlapping periods, "
               "rolling figures) make long runs and few crossings likely by chance alone."),
    "ihi": ("The IHI rules (Perla, Provost & Murray 2011) make the same assumption of independent points; each "
            "rule has a false-signal risk of about 5%, so applied together they signal by chance more often, and "
            "the trend rule adds little power (Anhøj & Olesen 2014). The astronomical-point screen (beyond the "
            "median +/- 3 sigma from the average moving range of the baseline) is a prompt for judgement, not a "
            "signal."),
    "common": ("A run chart shows whether the variation looks random, not why: a signal needs an explanation from "
               "what happened in the process, and no signal is not proof that nothing changed. Each part's median "
               "is taken from its baseline points and held fixed over the part."),
}


def _num(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    size = abs(value)
    return f"{value:,.0f}" if size >= 100 else f"{value:.1f}" if size >= 10 else f"{value:.3g}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _reading(sign: int, improvement_direction: str) -> str:
    if improvement_direction == "neutral" or sign == 0:
        return ""
    good = (sign > 0) == (improvement_direction == "increase")
    better = "higher" if improvement_direction == "increase" else "lower"
    return f", a sign of {'improvement' if good else 'concern'} ({better} is better)"


@dataclass(frozen=True)
class RunChartResult:
    """A run chart with its options: points, per-part summary, plot and narrative.

    ``points()`` columns, one row per period in date order: ``date``; ``value`` (``value_col``, or
    ``value_col / denominator_col``; NaN when missing); ``part`` (1-based); ``baseline`` (True where the
    point was used for its part's median); ``centre`` (the part's median); ``useful`` (not missing and
    not on the median); ``run_id`` (1-based run number, counting on across parts; a run never
    spans two parts; missing for points that are not useful); ``long_run`` (Anhøj: the point is in a run
    longer than ``longest_run_max``); ``shift`` (IHI: in a run of 6 or more); ``trend`` (IHI: in a run
    of 5 or more points going one way); ``astronomical`` (IHI screen: beyond median +/- 3 sigma of the
    part's baseline moving range; flagged for judgement, never a signal); ``signal`` (``long_run``,
    ``shift`` or ``trend`` under the chosen rules; flags of rules not chosen are all False);
    ``signal_type`` (``improvement``, ``concern``, ``neutral_high``, ``neutral_low``, or ``""`` without a
    signal; from the side of the median for a run or shift, else the trend's direction; a turning point
    shared by two trends takes the trend it ends).

    ``summary()`` columns, one row per part: ``part``; ``start``, ``end`` (first and last date);
    ``n_obs`` (rows, missing values included, as qicharts2's ``n.obs``); ``n_missing``; ``n_baseline``
    (values the median was taken from); ``n_useful`` (points off the median); ``centre`` (median);
    ``longest_run`` and ``longest_run_side`` (``above``, ``below``, ``both`` or ``""``); ``n_crossings``;
    ``n_runs`` (crossings + 1); ``longest_trend`` (points in the longest run of values going one way,
    repeats not counted) and ``trend_direction`` (``up``, ``down``, ``both``, ``""``). Anhøj (NA under
    ``rules="ihi"``): ``longest_run_max``, ``n_crossings_min``, ``runs_signal``. IHI (NA under
    ``rules="anhoej"``): ``runs_lower``, ``runs_upper`` (NA with fewer than 10 useful points),
    ``shift_signal``, ``trend_signal``, ``runs_count_signal``, ``astronomical_points``. ``signal``: any
    signal of the chosen rules in the part (the astronomical screen excluded).
    """

    options: dict
    table: pd.DataFrame = field(repr=False, compare=False)
    parts: pd.DataFrame = field(repr=False, compare=False)

    def points(self) -> pd.DataFrame:
        return self.table.copy()

    def summary(self) -> pd.DataFrame:
        return self.parts.copy()

    # ------------------------------------------------------------------ words

    @property
    def _label(self) -> str:
        o = self.options
        return f"{o['value_col']} per {o['denominator_col']}" if o["denominator_col"] else str(o["value_col"])

    def _date(self, value: object) -> str:
        if isinstance(value, pd.Timestamp):
            days = pd.to_datetime(self.table["date"]).dt.day
            return f"{value:%b %Y}" if (days == 1).all() else f"{value:%d %b %Y}"
        return str(value)

    def _uses(self, family: str) -> bool:
        return self.options["rules"] in (family, "both")

    def assumptions(self) -> str:
        texts = [ASSUMPTIONS[f] for f in ("anhoej", "ihi") if self._uses(f)]
        return " ".join([*texts, ASSUMPTIONS["common"]])

    def _median_text(self, row: pd.Series) -> str:
        text = f"median {_num(row['centre'])}"
        if row["n_baseline"] < row["n_obs"] - row["n_missing"]:
            end = self.table.loc[self.table["baseline"] & (self.table["part"] == row["part"]), "date"].iloc[-1]
            text += f", taken from the first {row['n_baseline']} values (to {self._date(end)}) and extended"
        missing = f", {row['n_missing']} missing" if row["n_missing"] else ""
        return f"{text}; {row['n_useful']} of {row['n_obs']} points off the median{missing}"

    def _anhoej_text(self, row: pd.Series) -> str:
        if not row["n_useful"]:
            return "Anhøj rules: no point is off the median, so the rules cannot be applied."
        found, sign = [], {"above": 1, "below": -1}.get(row["longest_run_side"], 0)
        if row["longest_run"] > row["longest_run_max"]:
            found.append(f"an unusually long run of {row['longest_run']} points {self._side(row)} the median "
                         f"(more than {row['longest_run_max']} is unusual for {row['n_useful']} useful points)")
        if row["n_crossings"] < row["n_crossings_min"]:
            found.append(f"unusually few crossings of the median ({row['n_crossings']}; fewer than "
                         f"{row['n_crossings_min']} is unusual)")
        if found:
            long_run = row["longest_run"] > row["longest_run_max"]
            reading = _reading(sign, self.options["improvement_direction"]) if long_run else ""
            return f"Anhøj rules: {' and '.join(found)}: non-random variation{reading}."
        return (f"Anhøj rules: the longest run ({row['longest_run']} points) is within the limit of "
                f"{row['longest_run_max']} and the median is crossed {row['n_crossings']} times (at least "
                f"{row['n_crossings_min']} expected): no sign of non-random variation.")

    @staticmethod
    def _side(row: pd.Series) -> str:
        return "above and below" if row["longest_run_side"] == "both" else row["longest_run_side"]

    def _ihi_text(self, row: pd.Series) -> str:
        found, direction = [], self.options["improvement_direction"]
        if row["shift_signal"]:
            sign = {"above": 1, "below": -1}.get(row["longest_run_side"], 0)
            found.append(f"a shift of {row['longest_run']} points {self._side(row)} the median (6 or more)"
                         f"{_reading(sign, direction)}")
        if row["trend_signal"]:
            sign = {"up": 1, "down": -1}.get(row["trend_direction"], 0)
            way = "up and down" if row["trend_direction"] == "both" else row["trend_direction"]
            found.append(f"a trend of {row['longest_trend']} points going {way} (5 or more){_reading(sign, direction)}")
        if row["runs_count_signal"]:
            few = "fewer" if row["n_runs"] < row["runs_lower"] else "more"
            found.append(f"{row['n_runs']} runs, {few} than the {row['runs_lower']} to {row['runs_upper']} expected "
                         f"for {row['n_useful']} useful points")
        if found:
            text = f"IHI rules: {'; '.join(found)}."
        else:
            runs = (f"{row['n_runs']} runs within {row['runs_lower']} to {row['runs_upper']}"
                    if not pd.isna(row["runs_lower"]) else
                    f"{row['n_runs']} runs (too few points off the median for the runs-count test)")
            text = (f"IHI rules: no shift (longest run {row['longest_run']}), no trend (longest "
                    f"{_plural(int(row['longest_trend']), 'point')}) and {runs}.")
        if row["astronomical_points"]:
            flagged = self.table[self.table["astronomical"] & (self.table["part"] == row["part"])]
            when = ", ".join(self._date(d) for d in flagged["date"])
            text += (f" {_plural(int(row['astronomical_points']), 'point')} ({when}) "
                     f"{'lies' if row['astronomical_points'] == 1 else 'lie'} beyond the median +/- 3 sigma: "
                     "judge whether astronomical.")
        return text

    def narrative(self) -> str:
        """Plain English from the summary's numbers, part by part, ending with the assumptions."""
        table, parts = self.table, self.parts
        several = len(parts) > 1
        first, last = self._date(table["date"].iloc[0]), self._date(table["date"].iloc[-1])
        opening = (f"Run chart of {self._label}: {_plural(len(table), 'point')} from {first} to {last}"
                   f"{f' in {len(parts)} parts' if several else ''}.")
        texts = [opening]
        for _, row in parts.iterrows():
            head = f"Part {row['part']} ({self._date(row['start'])} to {self._date(row['end'])}): " if several else ""
            texts.append(_sentence(f"{head}{self._median_text(row)}."))
            if self._uses("anhoej"):
                texts.append(self._anhoej_text(row))
            if self._uses("ihi"):
                texts.append(self._ihi_text(row))
        return " ".join([*texts, self.assumptions()])

    def alt_text(self) -> str:
        """A short description of the chart for screen readers, from the summary's numbers."""
        table = self.table
        texts = [f"Run chart of {self._label}, {_plural(len(table), 'point')} from "
                 f"{self._date(table['date'].iloc[0])} to {self._date(table['date'].iloc[-1])}."]
        for _, row in self.parts.iterrows():
            head = f"Part {row['part']}: " if len(self.parts) > 1 else ""
            flagged = int(table.loc[table["part"] == row["part"], "signal"].sum())
            verdict = "non-random variation" if row["signal"] else "no run-rule signal"
            texts.append(_sentence(f"{head}median {_num(row['centre'])}; longest run {row['longest_run']}; "
                                   f"{row['n_crossings']} crossings; {_plural(flagged, 'point')} highlighted; "
                                   f"{verdict}."))
        return " ".join(texts)

    # ------------------------------------------------------------------ plot

    def plot(self, ax: Axes | None = None) -> Axes:
        """Points joined in time order, each part's median (solid over its baseline, dotted where extended;
        drawn thick and dashed when the part signals), signals by colour and marker shape, astronomical
        points ringed, part starts as vertical lines. No title: the caption belongs to the report."""
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 4))
        table = self.table
        x, y = table["date"], table["value"]
        present = y.notna().to_numpy()
        ax.plot(x[present], y[present], "-", color=COMMON_COLOUR, lw=1, zorder=1)
        ax.plot(x[present], y[present], "o", color=COMMON_COLOUR, ms=POINT_MARKER_SIZE, zorder=2)
        handles = [Line2D([], [], color=COMMON_COLOUR, marker="o", ms=POINT_MARKER_SIZE, label=self._label)]
        drawn = set()  # which kinds of median line appear, for the legend
        for _, row in self.parts.iterrows():
            inside = (table["part"] == row["part"]).to_numpy()
            base = inside & table["baseline"].to_numpy()
            style = {"color": "k", "lw": 2.2, "ls": "--"} if row["signal"] else {"color": "k", "lw": 1.2, "ls": "-"}
            drawn.add("signal" if row["signal"] else "plain")
            ax.plot(x[base].iloc[[0, -1]], [row["centre"]] * 2, **style, zorder=3)
            if (inside & ~base).any():
                drawn.add("extended")
                ends = [np.flatnonzero(base)[-1], np.flatnonzero(inside)[-1]]
                ax.plot(x.iloc[ends], [row["centre"]] * 2, color="k", lw=style["lw"], ls=":", zorder=3)
            if row["part"] > 1:
                ax.axvline(row["start"], color="0.4", lw=0.8, ls="-.", zorder=0)
        lines = {"plain": ({"lw": 1.2, "ls": "-"}, "median"),
                 "signal": ({"lw": 2.2, "ls": "--"}, "median: part with a signal"),
                 "extended": ({"lw": 1.2, "ls": ":"}, "median extended beyond baseline")}
        handles += [Line2D([], [], color="k", **style, label=label) for kind, (style, label) in lines.items()
                    if kind in drawn]
        for kind, style in STYLES.items():
            mask = (table["signal_type"] == kind).to_numpy()
            if mask.any():
                ax.plot(x[mask], y[mask], ls="", marker=style["marker"], color=style["color"], ms=SIGNAL_MARKER_SIZE,
                        zorder=4)
                handles.append(Line2D([], [], ls="", marker=style["marker"], color=style["color"],
                                      ms=SIGNAL_MARKER_SIZE, label=style["label"]))
        astro = table["astronomical"].to_numpy()
        if astro.any():
            ax.plot(x[astro], y[astro], ls="", marker="o", mfc="none", mec="k", mew=1.5, ms=SIGNAL_MARKER_SIZE * 2,
                    zorder=5)
            handles.append(Line2D([], [], ls="", marker="o", mfc="none", mec="k", mew=1.5, ms=SIGNAL_MARKER_SIZE,
                                  label="astronomical? (judge)"))
        ax.set_ylabel(self._label)
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False)
        return ax


__all__ = ["ASSUMPTIONS", "POINT_COLUMNS", "SUMMARY_COLUMNS", "RunChartResult"]
