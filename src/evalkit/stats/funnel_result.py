"""Funnel plot: the result of :func:`evalkit.stats.funnel.fit`.

Every number is computed in :mod:`evalkit.stats.funnel`; this module tabulates
it, draws it and puts it into words. Limit curves come from the fitted limit
function the result carries, so :meth:`FunnelResult.limits` on any grid uses
exactly the target, tau2 and scale the points were judged against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from evalkit.errors import AnalysisError

POINT_COLUMNS = ("group", "numerator", "denominator", "value", "z", "lower_95", "upper_95", "lower_998",
                 "upper_998", "unadjusted_lower_95", "unadjusted_upper_95", "unadjusted_lower_998",
                 "unadjusted_upper_998", "outlier", "outlier_95", "outlier_unadjusted", "z_trimmed", "se")
LIMIT_COLUMNS = ("denominator", "target", "lower_95", "upper_95", "lower_998", "upper_998", "unadjusted_lower_95",
                 "unadjusted_upper_95", "unadjusted_lower_998", "unadjusted_upper_998")
SUMMARY_COLUMNS = ("data_type", "n_groups", "n_excluded", "target", "phi", "tau2", "adjusted", "limit_level",
                   "n_high", "n_low", "n_within")
EXCLUDED_COLUMNS = ("group", "numerator", "denominator", "reason")
LIMIT_LEVELS = {"998": 0.998, "95": 0.95}  # Spiegelhalter 2005: 99.8% (about 3 SD) and 95% (about 2 SD)
GRID_POINTS = 200  # points on each plotted limit curve
GRID_SPAN = (0.5, 1.05)  # the default grid runs from half the smallest denominator to 5% past the largest
MAX_NAMED = 6  # groups named in a sentence before "and N others"

VALUE_LABELS = {"SR": "standardised ratio", "PR": "proportion", "RC": "rate"}
COUNT_WORDS = {"SR": ("observed count", "expected count"), "PR": ("count of events", "number of trials"),
               "RC": ("count of events", "exposure")}
DISTRIBUTIONS = {"SR": "Poisson", "PR": "binomial", "RC": "Poisson"}
TARGET_WORDS = {"default": "observed equal to expected", "given": "set for this analysis",
                "pooled": "the pooled value of all groups"}


def _num(value: float) -> str:
    size = abs(value)
    return f"{value:,.0f}" if size >= 100 else f"{value:.1f}" if size >= 10 else f"{value:.3g}"


def _names(groups) -> str:
    names = [str(g) for g in groups]
    if len(names) > MAX_NAMED:
        names = names[: MAX_NAMED - 1] + [f"{len(names) - MAX_NAMED + 1} others"]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _count(groups) -> str:
    groups = list(groups)
    return f"{len(groups)} ({_names(groups)})" if groups else "none"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _verb(groups) -> str:
    return "lies" if len(list(groups)) <= 1 else "lie"


@dataclass(frozen=True)
class FunnelResult:
    """A fitted funnel plot with its options.

    Attributes: ``data_type`` (``SR``/``PR``/``RC``), ``sr_method`` (``SHMI``/``CQC`` for SR, else None),
    ``target`` (unmultiplied), ``multiplier``, ``overdispersion`` (as asked), ``trim`` and ``trim_method``
    (``truncate`` for SR/SHMI, else ``winsorise``), ``scale`` (the transformed scale), ``phi`` (dispersion
    ratio, estimated whatever ``overdispersion`` says), ``tau2`` (between-group variance on the transformed
    scale; 0 when phi <= 1), ``n_phi`` (z-scores used for phi after truncation), ``adjusted`` (True when the
    drawn limits include tau2: ``overdispersion`` and phi > 1), ``options`` (column names, the target asked
    for and ``target_source``: ``default``/``pooled``/``given``).

    ``points()`` columns, one row per group in order of first appearance: ``group``; ``numerator`` and
    ``denominator`` (summed over the group's rows); ``value`` = numerator / denominator x multiplier; ``z``
    ((Y - Y0) / s on the transformed scale, not widened by tau2); ``lower_95``, ``upper_95``, ``lower_998``,
    ``upper_998`` (the drawn limits at the group's denominator, x multiplier: adjusted when ``adjusted``, else
    exact); ``unadjusted_lower_95`` ... ``unadjusted_upper_998`` (exact Poisson or binomial limits);
    ``outlier`` (``high``/``low``/``""``: value strictly beyond the drawn 99.8% limits); ``outlier_95`` (the
    same for the drawn 95% limits); ``outlier_unadjusted`` (beyond the exact 99.8% limits); ``z_trimmed`` (z
    after winsorising, or NaN where truncated, as used for phi); ``se`` (s on the transformed scale).
    """

    data_type: str
    sr_method: str | None
    target: float
    multiplier: float
    overdispersion: bool
    trim: float
    trim_method: str
    scale: str
    phi: float
    tau2: float
    n_phi: int
    adjusted: bool
    options: dict
    table: pd.DataFrame = field(repr=False, compare=False)
    excluded_table: pd.DataFrame = field(repr=False, compare=False)
    curve: Callable[..., pd.DataFrame] = field(repr=False, compare=False)

    # ------------------------------------------------------------------ tables

    def points(self) -> pd.DataFrame:
        """One row per group; columns in :data:`POINT_COLUMNS` (see the class docstring)."""
        return self.table.copy()

    def excluded(self) -> pd.DataFrame:
        """Groups kept out of the funnel: ``group``, ``numerator``, ``denominator``, ``reason``."""
        return self.excluded_table.copy()

    def limits(self, grid=None) -> pd.DataFrame:
        """Limit curves for plotting: columns :data:`LIMIT_COLUMNS`, one row per denominator in ``grid``.

        ``target`` and limits are x multiplier; ``lower_*``/``upper_*`` are the drawn limits (adjusted when
        ``adjusted``), ``unadjusted_*`` the exact ones. Default grid: :data:`GRID_POINTS` geometrically spaced
        denominators from half the smallest group's to 5% past the largest (whole numbers for PR).
        """
        if grid is None:
            den = self.table["denominator"]
            grid = np.geomspace(den.min() * GRID_SPAN[0], den.max() * GRID_SPAN[1], GRID_POINTS)
            if self.data_type == "PR":
                grid = np.unique(np.maximum(1, np.round(grid)))
        problem = f"grid must be a one-dimensional list of positive denominators; got {grid!r}."
        try:
            values = np.atleast_1d(np.asarray(grid, dtype=float))
        except (TypeError, ValueError) as exc:
            raise AnalysisError(problem) from exc
        if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
            raise AnalysisError(problem)
        if self.data_type == "PR" and np.any(values != np.round(values)):
            raise AnalysisError("grid must hold whole numbers for a proportion (exact binomial limits need whole "
                                f"numbers of trials); got {values[values != np.round(values)][:5].tolist()}.")
        return self.curve(values)

    def summary(self) -> pd.DataFrame:
        """Overview, one row per limit level; columns :data:`SUMMARY_COLUMNS`.

        ``data_type``; ``n_groups`` (on the funnel); ``n_excluded``; ``target`` (x multiplier); ``phi``;
        ``tau2``; ``adjusted``; ``limit_level`` (0.998 or 0.95, of the drawn limits); ``n_high``, ``n_low``
        (groups above and below them); ``n_within``.
        """
        rows = []
        for level, share in LIMIT_LEVELS.items():
            flag = self.table["outlier" if level == "998" else f"outlier_{level}"]
            high, low = int((flag == "high").sum()), int((flag == "low").sum())
            rows.append((self.data_type, len(self.table), len(self.excluded_table), self.target * self.multiplier,
                         self.phi, self.tau2, self.adjusted, share, high, low, len(self.table) - high - low))
        return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))

    # ------------------------------------------------------------------ plot

    def _value_label(self) -> str:
        label = VALUE_LABELS[self.data_type].capitalize()
        return label if self.multiplier == 1 else f"{label} x {self.multiplier:g}"

    def plot(self, ax: Axes | None = None) -> Axes:
        """Funnel: 99.8% limits solid, 95% dashed, target dash-dot, all black; exact 99.8% limits dotted grey when
        the drawn ones are adjusted. Groups inside are hollow circles; outliers beyond 99.8% are filled triangles
        (up high, down low), labelled with the group name, so the plot reads in greyscale."""
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.5))
        curves, points = self.limits(), self.table
        x = curves["denominator"]
        for level, style, label in (("998", "-", "99.8% limits"), ("95", "--", "95% limits")):
            ax.plot(x, curves[f"upper_{level}"], style, color="black", lw=1, label=label)
            ax.plot(x, curves[f"lower_{level}"], style, color="black", lw=1)
        if self.adjusted:
            ax.plot(x, curves["unadjusted_upper_998"], ":", color="grey", lw=1, label="99.8% without over-dispersion")
            ax.plot(x, curves["unadjusted_lower_998"], ":", color="grey", lw=1)
        ax.axhline(self.target * self.multiplier, ls="-.", color="black", lw=0.8, label="target")
        inside = points[points["outlier"] == ""]
        ax.plot(inside["denominator"], inside["value"], "o", mfc="white", mec="black", ms=5, label="group")
        for flag, marker, word in (("high", "^", "above 99.8%"), ("low", "v", "below 99.8%")):
            rows = points[points["outlier"] == flag]
            if rows.empty:
                continue
            ax.plot(rows["denominator"], rows["value"], marker, color="black", ms=7, label=word)
            for _, row in rows.iterrows():
                ax.annotate(str(row["group"]), (row["denominator"], row["value"]), xytext=(4, 4 if flag == "high"
                            else -10), textcoords="offset points", fontsize="small")
        ax.set_xlabel(self.options["denominator_col"])
        ax.set_ylabel(self._value_label())
        ax.legend(loc="best", fontsize="small")
        return ax

    # ------------------------------------------------------------------ prose

    def _groups(self, column: str, flag: str) -> list:
        return list(self.table.loc[self.table[column] == flag, "group"])

    @staticmethod
    def _where(high: list, low: list, nobody: str = "no group") -> str:
        """``'1 (X) lies above the 99.8% limit'`` and the like; ``'no group lies outside the 99.8% limits'``."""
        if high and low:
            return f"{_count(high)} {_verb(high)} above the 99.8% limit and {_count(low)} below it"
        if high or low:
            found = high or low
            return f"{_count(found)} {_verb(found)} {'above' if high else 'below'} the 99.8% limit"
        return f"{nobody} lies outside the 99.8% limits"

    def alt_text(self) -> str:
        """A description of :meth:`plot` for readers who cannot see it."""
        high, low = self._groups("outlier", "high"), self._groups("outlier", "low")
        limits = ("widened for over-dispersion" if self.adjusted
                  else f"from the exact {DISTRIBUTIONS[self.data_type]} distribution")
        marked = (", drawn as triangles (pointing up above, down below) and labelled" if high or low else "")
        return (f"Funnel plot of the {self._value_label().lower()} for {len(self.table)} groups (circles) against "
                f"{self.options['denominator_col']}, with a horizontal target line at "
                f"{_num(self.target * self.multiplier)} and 95% (dashed) and 99.8% (solid) limits {limits}, which "
                f"narrow as the denominator grows. {_sentence(self._where(high, low))}{marked}.")

    def assumptions(self) -> str:
        """What the limits rest on, in words a commissioner can weigh."""
        count, denominator = COUNT_WORDS[self.data_type]
        case_mix = ", that the expected counts are correctly adjusted for case mix" if self.data_type == "SR" else ""
        text = (f"The limits assume that each group's {count} is {DISTRIBUTIONS[self.data_type]} given its "
                f"{denominator}{case_mix} and that groups are independent.")
        if self.adjusted:
            action = "winsorising" if self.trim_method == "winsorise" else "truncating"
            text += (f" The over-dispersion allowance assumes that the groups' true values vary around the target "
                     f"with a normal random effect on the {self.scale} scale (additive random effects, "
                     f"DerSimonian-Laird), with phi estimated after {action} {self.trim:.0%} of z-scores at each end.")
        else:
            text += " No allowance is made for real variation between groups beyond chance."
        return (text + " A group outside the limits is a signal to look into, not proof of better or worse "
                "performance; about 1 group in 500 falls outside the 99.8% limits by chance alone.")

    def narrative(self) -> str:
        """Plain English: outliers at 99.8% and 95%, the over-dispersion found, the target, exclusions,
        then :meth:`assumptions`."""
        n = len(self.table)
        where = self._where(self._groups("outlier", "high"), self._groups("outlier", "low"), nobody="none")
        dist = DISTRIBUTIONS[self.data_type]
        if self.adjusted:
            how = f"after allowing for over-dispersion (phi {_num(self.phi)}, tau2 {self.tau2:.3g})"
        elif self.overdispersion:
            how = (f"against exact {dist} limits; there is no over-dispersion to allow for "
                   f"(phi {_num(self.phi)})")
        else:
            how = (f"against exact {dist} limits, not widened for over-dispersion as asked (phi "
                   f"{_num(self.phi)}, tau2 {self.tau2:.3g} estimated but not used)")
        parts = [f"Of {n} groups, {where} {how}."]
        only_95 = list(self.table.loc[(self.table["outlier_95"] != "") & (self.table["outlier"] == ""), "group"])
        if only_95:
            parts.append(f"A further {_count(only_95)} {_verb(only_95)} outside the 95% limits only; about 1 group "
                         "in 20 does so by chance.")
        else:
            other = "other " if (self.table["outlier"] != "").any() else ""
            parts.append(f"No {other}group lies outside the 95% limits.")
        if self.adjusted:
            beyond = list(self.table.loc[self.table["outlier_unadjusted"] != "", "group"])
            parts.append(f"Against exact {dist} limits without the allowance, {_count(beyond)} would lie outside "
                         "the 99.8% limits.")
        parts.append(f"The target is {_num(self.target * self.multiplier)} "
                     f"({TARGET_WORDS[self.options['target_source']]}).")
        if not self.excluded_table.empty:
            listed = [f"{g} ({r})" for g, r in zip(self.excluded_table["group"], self.excluded_table["reason"],
                                                   strict=True)]
            parts.append(f"{len(listed)} group(s) were left out: {_names(listed)}.")
        return " ".join(parts + [self.assumptions()])


__all__ = ["EXCLUDED_COLUMNS", "FunnelResult", "LIMIT_COLUMNS", "POINT_COLUMNS", "SUMMARY_COLUMNS"]
