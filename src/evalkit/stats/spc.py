"""Statistical process control charts with NHS England *Making Data Count* rules: :func:`fit`.

Options are validated, then checked against the data, then the chart is
computed: phases from ``rebase``, the points that set each phase's limits
(``baseline`` / ``fix_after_n_points``), the limits themselves
(:mod:`evalkit.stats.spc_limits`), the special-cause rules
(:mod:`evalkit.stats.spc_rules`), and each point's ``point_type``. The result
is an :class:`~evalkit.stats.spc_result.SpcResult`.

Defaults are the current NHS England MDC ones (Single Chart Tool v5.0, MDC SQL
v2.6): XmR limits at the mean +/- 2.66 mean moving ranges, no moving-range
screening, shift and trend of 6 points, two-in-three beyond the two-sigma
line, rules running across a recalculation, and no limits or icons below 13
points. ``shift_points=7, trend_points=7, screen_outliers=True,
min_points=None, rules_across_phases=False, conflict="precedence"`` gives NHSRplotthedots' behaviour.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evalkit.errors import AnalysisError, DataQualityWarning, ShortSeriesWarning
from evalkit.stats import spc_limits, spc_rules
from evalkit.stats.spc_result import SpcResult, assurance_type, variation_icon

DIRECTIONS = ("increase", "decrease", "neutral")
CONFLICTS = ("improvement", "precedence")
SERIES_CHARTS = ("xmr", "c", "p", "pp", "u", "up", "g", "t")
"""Charts of one value per period (xbar and s need subgroups: see :func:`evalkit.stats.spc_limits.compute`)."""
NEEDS_DENOMINATOR = ("p", "pp", "u", "up")
CHART_FOR_KIND = {"count": "c", "rate": "u", "proportion": "p", "mean": "xmr"}
LANEY = {"p": "pp", "u": "up"}  # Laney (2002) p' and u' for over-dispersed large-denominator data
SHIFT_POINTS = 6  # NHS England MDC default (Single Chart Tool v5.0, SQL v2.6)
TREND_POINTS = 6  # NHS England MDC default: six points each higher (or lower) than the one before
MIN_POINTS = 13  # MDC: no limits or icons for fewer than 13 points
OVERDISPERSION_ALPHA = 0.01  # Pearson chi-square test of dispersion on the baseline points
D2 = 1.128  # bias constant d2 for moving ranges of two points (Laney 2002 sigma_z)
__all__ = ["SpcResult", "assurance_type", "fit", "variation_icon"]

RULE_PRECEDENCE = ("outside_limits", "trend", "two_in_three", "shift")  # NHSRplotthedots' label precedence


def _opt_error(name: str, value: Any, allowed: Iterable[str]) -> AnalysisError:
    return AnalysisError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}.")


def _frame(data: pd.DataFrame, value_col: str, date_col: str, denominator_col: str | None) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise AnalysisError(f"data must be a pandas DataFrame; got {type(data).__name__}")
    for role, col in (("value_col", value_col), ("date_col", date_col), ("denominator_col", denominator_col)):
        if col is not None and col not in data.columns:
            raise AnalysisError(f"{role}={col!r} is not a column of the data; columns are {list(data.columns)}")
    dates = pd.to_datetime(data[date_col], errors="coerce")
    if dates.isna().any():
        row = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise AnalysisError(f"{date_col}: row {row} has {data[date_col].iloc[row]!r}, which is not a date; "
                            "give every period a date")
    dup = dates[dates.duplicated()]
    if len(dup):
        raise AnalysisError(f"{date_col}: {dup.iloc[0]:%Y-%m-%d} appears more than once; an SPC chart needs one "
                            "row per period (sum or average the rows first)")
    out = pd.DataFrame({"date": dates.to_numpy(),
                        "numerator": pd.to_numeric(data[value_col], errors="coerce").to_numpy(dtype=float)})
    bad = data[value_col].notna().to_numpy() & out["numerator"].isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise AnalysisError(f"{value_col}: row {row} has {data[value_col].iloc[row]!r}, which is not a number")
    if denominator_col is not None:
        out["denominator"] = pd.to_numeric(data[denominator_col], errors="coerce").to_numpy(dtype=float)
    return out.sort_values("date", kind="stable").reset_index(drop=True)


def _phases(dates: pd.Series, rebase: Sequence[Any]) -> np.ndarray:
    phase = np.ones(len(dates), dtype=int)
    for when in sorted(pd.Timestamp(r) for r in rebase):
        if not dates.iloc[0] < when <= dates.iloc[-1]:
            raise AnalysisError(f"rebase date {when:%Y-%m-%d} is outside the chart's dates "
                                f"({dates.iloc[0]:%Y-%m-%d} to {dates.iloc[-1]:%Y-%m-%d}); a new phase must start "
                                "after the first point and no later than the last")
        phase += (dates >= when).to_numpy()
    return phase


def _base(dates: pd.Series, phase: np.ndarray, observed: np.ndarray, baseline: Any,
          fix_after_n_points: int | None) -> np.ndarray:
    """Which points set their phase's limits."""
    base = observed.copy()
    if baseline is not None:
        first = phase == 1
        if isinstance(baseline, (int, np.integer)) and not isinstance(baseline, bool):
            keep = first & (np.cumsum(observed & first) <= int(baseline))
        else:
            end = pd.Timestamp(baseline)
            if end < dates.iloc[0]:
                raise AnalysisError(f"baseline ends {end:%Y-%m-%d}, before the first point ({dates.iloc[0]:%Y-%m-%d});"
                                    " give the last date of the baseline period")
            keep = first & (dates <= end).to_numpy()
        base &= keep | ~first
    if fix_after_n_points is not None:
        for p in np.unique(phase):
            members = (phase == p) & observed
            base &= ~members | (np.cumsum(members) <= fix_after_n_points)
    return base


def _dispersion(chart: str, y: np.ndarray, n: np.ndarray | None) -> dict[str, float]:
    """Pearson dispersion and Laney's sigma_z of the points against the pooled centre (Laney 2002)."""
    ok = np.isfinite(y) & (np.isfinite(n) & (n > 0) if n is not None else True)
    y = y[ok]
    if chart == "c":
        centre = y.mean()
        z = (y - centre) / np.sqrt(centre)
    else:
        n = n[ok]
        centre = y.sum() / n.sum()
        sd = np.sqrt(centre * (1 - centre) / n) if chart == "p" else np.sqrt(centre / n)
        z = (y / n - centre) / sd
    chi2 = float(np.sum(z**2))
    df = max(len(z) - 1, 1)
    return {"chi2": chi2, "df": df, "p_value": float(stats.chi2.sf(chi2, df)), "ratio": chi2 / df,
            "sigma_z": float(np.mean(np.abs(np.diff(z))) / D2) if len(z) > 1 else float("nan")}


def _choose(chart: str, kind: str | None, frame: pd.DataFrame, base: np.ndarray) -> tuple[str, str]:
    if chart != "auto":
        return chart, "it was asked for"
    if kind is None:
        if "denominator" in frame:
            raise AnalysisError("chart='auto' with a denominator_col needs the measure's kind "
                                f"({', '.join(CHART_FOR_KIND)}) to tell a proportion from a rate; pass kind=")
        return "xmr", "there is a single value per period and no denominator"
    if kind not in CHART_FOR_KIND:
        raise _opt_error("kind", kind, CHART_FOR_KIND)
    first = CHART_FOR_KIND[kind]
    if first == "xmr":
        return first, f"the measure is a {kind}"
    if first in NEEDS_DENOMINATOR and "denominator" not in frame:
        raise AnalysisError(f"a {kind} measure needs denominator_col for its {first} chart")
    y = frame["numerator"].to_numpy()[base]
    n = frame["denominator"].to_numpy()[base] if first in NEEDS_DENOMINATOR else None
    if np.isfinite(y).sum() < 3:
        return first, f"the measure is a {kind} (too few points to test for over-dispersion)"
    d = _dispersion(first, y, n)
    test = (f"Pearson dispersion {d['ratio']:.2f} (chi-square {d['chi2']:.1f} on {d['df']} df, p = "
            f"{d['p_value']:.2g}), sigma_z {d['sigma_z']:.2f}")
    if d["p_value"] < OVERDISPERSION_ALPHA and d["sigma_z"] > 1:
        if first == "c":
            return "xmr", (f"the counts vary more than a Poisson c chart allows ({test}), so the limits come from "
                           "the moving ranges")
        model = "binomial" if first == "p" else "Poisson"
        return LANEY[first], (f"the points vary more than the {first} chart's {model} limits allow ({test}), so "
                              "Laney's sigma_z widens them")
    return first, f"the measure is a {kind} with no over-dispersion before the intervention ({test})"


def _point_types(flags: dict[str, np.ndarray], trend_up: np.ndarray, trend_down: np.ndarray,
                 direction: str, conflict: str) -> tuple[list[str], list[str]]:
    d = {"increase": 1, "decrease": -1, "neutral": 0}[direction]
    types, rules = [], []
    for i in range(len(trend_up)):
        signs = {name: flags[name][i] for name in ("outside_limits", "two_in_three", "shift")}
        hits = [s for s in (signs["outside_limits"], 1 if trend_up[i] else 0, -1 if trend_down[i] else 0,
                            signs["two_in_three"], signs["shift"]) if s]
        label = next((r for r in RULE_PRECEDENCE
                      if (trend_up[i] or trend_down[i] if r == "trend" else signs[r])), "")
        rules.append(label)
        if not hits:
            types.append("common_cause")
            continue
        lead = signs.get(label) if label != "trend" else (1 if trend_up[i] and not trend_down[i] else -1)
        if d == 0:
            types.append(f"special_cause_neutral_{'high' if lead > 0 else 'low'}")
        elif conflict == "precedence":
            types.append("special_cause_improvement" if lead == d else "special_cause_concern")
        else:
            # a point that is both improvement and concern shows as improvement, as in the MDC tool
            types.append("special_cause_improvement" if d in hits else "special_cause_concern")
    return types, rules


def _segments(eligible: np.ndarray, phase: np.ndarray, across: bool) -> list[np.ndarray]:
    """Index arrays of the points the rules see together: observed points with limits, in order."""
    idx = np.flatnonzero(eligible)
    if not across:
        return [idx[phase[idx] == p] for p in np.unique(phase[idx])]
    # a phase without limits between two with limits breaks the sequence
    has = {p: eligible[phase == p].any() for p in np.unique(phase)}
    groups, current, last_phase = [], [], None
    for i in idx:
        if current and last_phase is not None and any(not has[q] for q in range(last_phase + 1, phase[i])):
            groups.append(np.array(current))
            current = []
        current.append(i)
        last_phase = phase[i]
    if current:
        groups.append(np.array(current))
    return groups


def fit(
    data: pd.DataFrame,
    *,
    value_col: str,
    date_col: str,
    chart: str = "auto",
    denominator_col: str | None = None,
    improvement_direction: str = "neutral",
    kind: str | None = None,
    target: float | None = None,
    baseline: Any = None,
    fix_after_n_points: int | None = None,
    rebase: Sequence[Any] = (),
    events: Iterable[Any] = (),
    shift_points: int = SHIFT_POINTS,
    trend_points: int = TREND_POINTS,
    limit_multiplier: float = spc_limits.MDC_MULTIPLIER,
    screen_outliers: bool = False,
    min_points: int | None = MIN_POINTS,
    rules_across_phases: bool = True,
    conflict: str = "improvement",
    multiply: float = 1.0,
) -> SpcResult:
    """Fit an SPC chart and apply the Making Data Count rules.

    Parameters
    ----------
    data
        One row per period; not modified. Rows are sorted by date; a missing
        value keeps its row (drawn as a gap) but takes no part in the limits
        or the rules, so a gap neither makes nor breaks a run.
    value_col, date_col
        The plotted value (for p, p', u and u' charts: the numerator) and the
        period's date.
    chart
        ``"auto"`` (by ``kind``: count -> c, rate -> u, proportion -> p,
        mean -> XmR; p and u become Laney's p' and u', and c becomes XmR, when
        the baseline points are over-dispersed: Pearson chi-square p < 0.01
        and sigma_z > 1; why, as a clause, is kept in ``chart_reason``), or one of
        ``xmr``, ``c``, ``p``, ``pp`` (p'), ``u``, ``up`` (u'), ``g``, ``t``.
    denominator_col
        Trials (p, p') or exposure (u, u').
    improvement_direction
        ``increase``, ``decrease`` or ``neutral``: orients ``point_type`` and the icons.
    kind
        The measure's kind (``count``, ``rate``, ``proportion``, ``mean``) for ``chart="auto"``.
    target
        A target on the plotted scale, for the assurance icon and the target line.
    baseline
        Limits of the first phase from its points up to this date (inclusive),
        or from its first N points when an int; later points are judged
        against them.
    fix_after_n_points
        Limits of every phase from its first N points (NHSRplotthedots' option).
    rebase
        Dates at which a new phase (recalculated limits) starts.
    events
        ``(date, label)`` pairs or config ``Event`` objects, drawn on the chart.
    shift_points, trend_points
        Run lengths of the shift and trend rules.
    limit_multiplier
        XmR (and t chart) limits at the mean +/- this many mean moving ranges:
        2.66 (MDC) or ``3 / 1.128`` (qicharts2).
    screen_outliers
        Leave moving ranges at or above 3.267 x their mean out of the average
        moving range (once), as NHSRplotthedots and qicharts2 do.
    min_points
        Fewer observed points than this in a phase's base: no limits, no
        signals and no icons for that phase, and a ``ShortSeriesWarning``
        (None draws limits for any number).
    rules_across_phases
        Let a shift, trend or two-in-three run across a recalculation (MDC);
        False keeps each phase apart (NHSRplotthedots).
    conflict
        A point that is both improvement and concern (a trend through a limit): ``"improvement"`` shows it as
        improvement, as the MDC tool does; ``"precedence"`` takes the leading rule (outside_limits, trend,
        two_in_three, shift), as NHSRplotthedots does.
    multiply
        Scale of p, p', u and u' values (100 for percentages, 1000 per 1,000).
    """
    if conflict not in CONFLICTS:
        raise _opt_error("conflict", conflict, CONFLICTS)
    if improvement_direction not in DIRECTIONS:
        raise _opt_error("improvement_direction", improvement_direction, DIRECTIONS)
    if chart != "auto" and chart not in SERIES_CHARTS:
        raise _opt_error("chart", chart, ("auto", *SERIES_CHARTS))
    if chart in NEEDS_DENOMINATOR and denominator_col is None:
        raise AnalysisError(f"a {chart} chart needs denominator_col (value_col is the numerator)")
    if baseline is not None and fix_after_n_points is not None:
        raise AnalysisError("give baseline or fix_after_n_points, not both: both fix the first phase's limits")
    if fix_after_n_points is not None and (not isinstance(fix_after_n_points, (int, np.integer))
                                           or fix_after_n_points < 2):
        raise AnalysisError(f"fix_after_n_points must be a whole number of at least 2; got {fix_after_n_points!r}")
    if not np.isfinite(limit_multiplier) or limit_multiplier <= 0:
        raise AnalysisError(f"limit_multiplier must be a positive number; got {limit_multiplier!r}")
    frame = _frame(data, value_col, date_col, denominator_col)
    if len(frame) == 0:
        raise AnalysisError(f"no rows in the data: nothing to chart for {value_col!r}")
    dates = frame["date"]
    phase = _phases(dates, tuple(rebase))
    observed = np.isfinite(frame["numerator"].to_numpy())
    if "denominator" in frame:
        observed &= np.isfinite(frame["denominator"].to_numpy()) & (frame["denominator"].to_numpy() > 0)
    base = _base(dates, phase, observed, baseline, fix_after_n_points)
    chosen, reason = _choose(chart, kind, frame, base & (phase == 1))
    if chosen in NEEDS_DENOMINATOR and "denominator" not in frame:
        raise AnalysisError(f"a {chosen} chart needs denominator_col (value_col is the numerator)")
    if chosen not in NEEDS_DENOMINATOR and "denominator" in frame:
        observed = np.isfinite(frame["numerator"].to_numpy())

    n = len(frame)
    cols = {k: np.full(n, np.nan) for k in ("value", "centre", "lpl", "upl", "lower_2sigma", "upper_2sigma")}
    warned: list[str] = []
    phase_details: dict[int, dict[str, float]] = {}
    for p in np.unique(phase):
        members = np.flatnonzero(phase == p)
        y = frame["numerator"].to_numpy()[members]
        den = frame["denominator"].to_numpy()[members] if chosen in NEEDS_DENOMINATOR else None
        with np.errstate(divide="ignore", invalid="ignore"):
            cols["value"][members] = y if den is None else np.where(den > 0, y / den * multiply, np.nan)
        n_base = int(base[members].sum())
        if min_points is not None and n_base < min_points:
            first, last = dates.iloc[members[0]], dates.iloc[members[-1]]
            warned.append(f"phase {p} ({first:%b %Y} to {last:%b %Y}) has {n_base} point(s) to set its limits, fewer "
                          f"than the {min_points} Making Data Count needs: no limits or icons are shown for it")
            continue
        lim = spc_limits.compute(chosen, y, den, base=base[members], limit_multiplier=limit_multiplier,
                                 screen_outliers=screen_outliers,
                                 multiply=multiply if chosen in NEEDS_DENOMINATOR else 1.0)
        cols["value"][members] = lim.value
        for k in ("centre", "lpl", "upl", "lower_2sigma", "upper_2sigma"):
            cols[k][members] = getattr(lim, k)
        phase_details[int(p)] = {**lim.details, "n_base": n_base}
    for message in warned:
        warnings.warn(message, ShortSeriesWarning, stacklevel=2)
    gaps = _missing_months(dates)
    if gaps:
        text = (f"{len(gaps)} month(s) have no row ({', '.join(f'{g:%b %Y}' for g in gaps[:6])}"
                f"{', ...' if len(gaps) > 6 else ''}): the rules join the points either side of each gap")
        warned.append(text)
        warnings.warn(text, DataQualityWarning, stacklevel=2)

    eligible = observed & np.isfinite(cols["centre"])
    flags = {k: np.zeros(n, dtype=int) for k in ("outside_limits", "shift", "two_in_three")}
    trend_up, trend_down = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    for idx in _segments(eligible, phase, rules_across_phases):
        v = cols["value"][idx]
        flags["outside_limits"][idx] = spc_rules.outside_limits(v, cols["lpl"][idx], cols["upl"][idx])
        flags["shift"][idx] = spc_rules.shift(v, cols["centre"][idx], shift_points)
        up, down = spc_rules.trend(v, trend_points)
        trend_up[idx], trend_down[idx] = up, down
        flags["two_in_three"][idx] = spc_rules.two_in_three(v, cols["centre"][idx], cols["lower_2sigma"][idx],
                                                            cols["upper_2sigma"][idx], cols["lpl"][idx],
                                                            cols["upl"][idx])
    if chosen == "xmr":
        mr, mr_centre = _moving_ranges(cols["value"], observed, phase, phase_details)
    else:
        mr = mr_centre = np.full(n, np.nan)
    types, rules = _point_types(flags, trend_up, trend_down, improvement_direction, conflict)
    types = [t if ok else None for t, ok in zip(types, eligible, strict=True)]
    rules = [r if ok else "" for r, ok in zip(rules, eligible, strict=True)]
    points = pd.DataFrame({
        "date": dates.to_numpy(), "value": cols["value"], "numerator": frame["numerator"].to_numpy(),
        "denominator": frame["denominator"].to_numpy() if "denominator" in frame else np.nan,
        "phase": phase, "baseline": base & eligible, "centre": cols["centre"], "lpl": cols["lpl"], "upl": cols["upl"],
        "lower_2sigma": cols["lower_2sigma"], "upper_2sigma": cols["upper_2sigma"],
        "outside_limits": flags["outside_limits"], "shift": flags["shift"],
        "trend": np.where(trend_up & ~trend_down, 1, np.where(trend_down, -1, 0)),
        "two_in_three": flags["two_in_three"], "special_cause": [t not in (None, "common_cause") for t in types],
        "rule": rules, "point_type": pd.Series(types, dtype=object), "moving_range": mr, "mr_centre": mr_centre,
        "mr_upl": mr_centre * spc_limits.MR_SCREEN,
    })
    options = {"value_col": value_col, "date_col": date_col, "denominator_col": denominator_col, "chart": chart,
               "kind": kind, "improvement_direction": improvement_direction, "target": target,
               "baseline": baseline, "fix_after_n_points": fix_after_n_points, "rebase": tuple(rebase),
               "shift_points": shift_points, "trend_points": trend_points, "limit_multiplier": limit_multiplier,
               "screen_outliers": screen_outliers, "min_points": min_points,
               "rules_across_phases": rules_across_phases, "conflict": conflict, "multiply": multiply}
    return SpcResult(chart=chosen, chart_reason=reason, table=points, options=options,
                     events=tuple(_events(events)), phase_details=phase_details, warnings=tuple(warned))


def _moving_ranges(value: np.ndarray, observed: np.ndarray, phase: np.ndarray,
                   details: dict[int, dict[str, float]]) -> tuple[np.ndarray, np.ndarray]:
    """An XmR chart's moving ranges (between neighbouring observed points of a phase) and their mean line
    (the average moving range that set the limits, screened where screening was asked for)."""
    mr, centre = np.full(len(value), np.nan), np.full(len(value), np.nan)
    for p in np.unique(phase):
        idx = np.flatnonzero((phase == p) & observed)
        mr[idx[1:]] = np.abs(np.diff(value[idx]))
        if p in details:
            d = details[p]
            centre[phase == p] = d["amr_screened"] if np.isfinite(d.get("amr_screened", np.nan)) else d["amr"]
    return mr, centre


def _missing_months(dates: pd.Series) -> list[pd.Timestamp]:
    """Months with no row, when every date is the first of a month (otherwise the cadence is unknown)."""
    if len(dates) < 2 or not (dates.dt.day == 1).all():
        return []
    full = pd.date_range(dates.iloc[0], dates.iloc[-1], freq="MS")
    return [d for d in full if d not in set(dates)]


def _events(events: Iterable[Any]) -> list[tuple[dt.date, str]]:
    out = []
    for event in events:
        when, label = (event.date, event.label) if hasattr(event, "date") else event
        out.append((pd.Timestamp(when).date(), str(label)))
    return out
