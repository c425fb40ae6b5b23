"""Run charts: a median line and the run rules of Anhøj (as qicharts2) and of the IHI (Perla et al. 2011).

:func:`fit` takes a tidy frame, one row per period, and returns a
:class:`~evalkit.stats.runchart_result.RunChartResult` (points, summary,
plot, narrative). The rule arithmetic lives here as pure helpers:
:func:`anhoej_limits` and :func:`runs_limits`.

Anhøj rules (qicharts2 ``runs.analysis``, anhoej/qicharts2 1b9487e; Anhøj &
Olesen 2014, PLoS ONE 9:e113825; Anhøj 2015, PLoS ONE 10:e0121349). Points on
the median and missing points are dropped; the rest are the ``n_useful``
points. A run is a sequence of useful points on the same side of the median;
a crossing is a change of side between consecutive useful points. Non-random
variation: longest run > round(log2(n_useful)) + 3, or crossings <
qbinom(0.05, n_useful - 1, 0.5).

IHI rules (Perla, Provost & Murray 2011, "The run chart: a simple analytical
tool for learning from variation in healthcare processes", BMJ Qual Saf
20:46-51):

* shift: 6 or more consecutive points all above or all below the median;
  points on the median (and missing points) neither make nor break a shift;
* trend: 5 or more consecutive points all going up or all going down; when
  consecutive values are equal the repeat is not counted, and neither makes
  nor breaks the trend; a trend may cross the median;
* too few or too many runs: the number of runs (crossings + 1) outside the
  limits of :func:`runs_limits` for the number of useful points (10 or more);
* astronomical point: left to judgement by the IHI; the screen used here
  flags a point outside median +/- 3 x (mean moving range / 1.128) of the
  baseline points of its part. It is flagged for a reader to judge and never
  counts as a signal.

Every rule runs within a part: runs, shifts and trends never cross a part
boundary. A missing value is kept as a row but neither makes nor breaks a run
and adds no crossing.
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.stats import binom

from evalkit.errors import AnalysisError, DataQualityWarning, ShortBaselineWarning, ShortSeriesWarning
from evalkit.stats.runchart_result import POINT_COLUMNS, SUMMARY_COLUMNS, RunChartResult

RULES = ("anhoej", "ihi", "both")
DIRECTIONS = ("increase", "decrease", "neutral")  # NHSRplotthedots' improvement_direction vocabulary
LONGEST_RUN_OFFSET = 3  # Anhøj: longest run limit round(log2(n)) + 3 (Schilling 2012, qicharts2 runs.analysis)
CROSSINGS_QUANTILE = 0.05  # Anhøj: fewest crossings qbinom(0.05, n - 1, 0.5) (Chen 2010, qicharts2 runs.analysis)
SHIFT_POINTS = 6  # IHI shift: 6 or more points on one side of the median (Perla et al. 2011)
TREND_POINTS = 5  # IHI trend: 5 or more points all going up or all down (Perla et al. 2011)
RUNS_ALPHA = 0.05  # two-sided risk of the runs-count limits (Perla et al. 2011 Table 1, Swed & Eisenhart 1943)
RUNS_TABLE_MIN = 10  # Perla et al. 2011 Table 1 starts at 10 points not on the median
ASTRONOMICAL_SIGMAS = 3.0  # the astronomical screen: Shewhart's 3-sigma limits around the median
D2 = 1.128  # d2 for moving ranges of two points: sigma = mean moving range / d2 (Montgomery, Appendix VI)
MIN_USEFUL = 10  # both rule tables start at 10 useful points (Perla Table 1; Anhøj's limits in qicharts2)


# --------------------------------------------------------------------------- limits


def _whole(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise AnalysisError(f"{name} must be a whole number, 0 or more; got {value!r}.")
    return int(value)


def anhoej_limits(n_useful: int) -> tuple[int, int]:
    """``(longest_run_max, n_crossings_min)`` for ``n_useful`` points not on the median (1 or more).

    A run longer than ``longest_run_max`` or fewer crossings than ``n_crossings_min`` signals
    non-random variation: round(log2(n)) + 3 and qbinom(0.05, n - 1, 0.5), as qicharts2. R rounds
    half to even, as Python does; log2 of a whole number is never exactly k + 0.5, so no tie arises.
    """
    n = _whole(n_useful, "n_useful")
    if n < 1:
        raise AnalysisError("anhoej_limits needs at least one useful point (not on the median); got n_useful=0.")
    longest = round(math.log2(n)) + LONGEST_RUN_OFFSET
    crossings = int(binom.ppf(CROSSINGS_QUANTILE, n - 1, 0.5))
    return longest, crossings


@lru_cache(maxsize=None)
def _runs_counts(n1: int, n2: int) -> tuple[int, dict[int, int]]:
    """Swed & Eisenhart (1943): the number of arrangements of n1 + n2 items with r runs, and their total."""
    counts = {}
    for r in range(2, n1 + n2 + 1):
        k = r // 2
        if r % 2 == 0:
            count = 2 * math.comb(n1 - 1, k - 1) * math.comb(n2 - 1, k - 1)
        else:
            count = math.comb(n1 - 1, k) * math.comb(n2 - 1, k - 1) + math.comb(n1 - 1, k - 1) * math.comb(n2 - 1, k)
        if count:
            counts[r] = count
    return math.comb(n1 + n2, n1), counts


def runs_limits(n_useful: int) -> tuple[int, int]:
    """``(lower, upper)`` limits for the number of runs among ``n_useful`` points not on the median.

    Fewer runs than ``lower`` or more than ``upper`` is a signal (Perla et al. 2011, Table 1). Computed
    exactly from the Swed & Eisenhart (1943) distribution of runs with the points split as evenly as
    possible above and below the median (n // 2 and n - n // 2): ``lower`` is the largest r with
    P(runs < r) <= 0.025 and ``upper`` the smallest r with P(runs > r) <= 0.025. This reproduces the
    published table at 10 (3, 9), 24 (8, 18) and 30 (11, 21) useful points; at 20 the published table
    prints (6, 16) where the exact limits are (7, 15), because P(runs <= 6) = 0.019 is already below
    0.025. With fewer than 2 points the only possible count is returned for both limits.
    """
    n = _whole(n_useful, "n_useful")
    if n < 2:
        return n, n
    n1 = n // 2
    total, counts = _runs_counts(n1, n - n1)
    tail = RUNS_ALPHA / 2 * total
    below, lower = 0, min(counts)
    for r in sorted(counts):
        if below <= tail:  # below = arrangements with fewer than r runs
            lower = r
        below += counts[r]
    above, upper = 0, max(counts)
    for r in sorted(counts, reverse=True):
        if above <= tail:  # above = arrangements with more than r runs
            upper = r
        above += counts[r]
    return lower, upper


# --------------------------------------------------------------------------- validation


def _check_options(rules: object, improvement_direction: object, baseline: object) -> None:
    if rules not in RULES:
        raise AnalysisError(f"rules must be one of {', '.join(map(repr, RULES))}; got {rules!r}.")
    if improvement_direction not in DIRECTIONS:
        raise AnalysisError(f"improvement_direction must be one of {', '.join(map(repr, DIRECTIONS))}; "
                            f"got {improvement_direction!r}.")
    if isinstance(baseline, bool):
        raise AnalysisError(f"baseline must be None, a date or a number of points; got {baseline!r}.")
    if isinstance(baseline, (int, np.integer)) and baseline < 1:
        raise AnalysisError(f"baseline as a number of points must be 1 or more; got {baseline!r}.")


def _as_dates(column: pd.Series, name: str) -> pd.Series:
    if isinstance(column.dtype, pd.PeriodDtype):
        return column.dt.to_timestamp()
    if pd.api.types.is_datetime64_any_dtype(column):
        return column
    if pd.api.types.is_bool_dtype(column):
        raise AnalysisError(f"date_col {name!r} holds booleans; give dates or whole-number periods.")
    if pd.api.types.is_numeric_dtype(column):
        return column
    try:
        return pd.to_datetime(column, format="ISO8601")
    except (ValueError, TypeError):
        pass
    try:
        with warnings.catch_warnings():  # pandas' per-element fallback notice; a failure is reported below
            warnings.filterwarnings("ignore", "Could not infer format", UserWarning)
            return pd.to_datetime(column)
    except (ValueError, TypeError) as exc:
        example = column.dropna().astype(str).head(3).tolist()
        raise AnalysisError(f"date_col {name!r} holds values that are not dates (first values {example}); "
                            "give ISO dates such as '2024-01-01' or whole-number periods.") from exc


def _key(value: object, is_time: bool, name: str) -> object:
    """A baseline or part value in the date column's terms."""
    if is_time:
        try:
            return pd.Timestamp(value)
        except (ValueError, TypeError) as exc:
            raise AnalysisError(f"{name} value {value!r} is not a date; give it like '2014-11-01'.") from exc
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise AnalysisError(f"{name} value {value!r} is not a period of the numeric date column; give a number.")
    return value


def _show(value: object) -> str:
    return f"{value:%Y-%m-%d}" if isinstance(value, pd.Timestamp) else str(value)


def _prepare(data: object, value_col: str, date_col: str, denominator_col: str | None) -> pd.DataFrame:
    """date and value columns, sorted by date; the caller's frame is only read."""
    if not isinstance(data, pd.DataFrame):
        raise AnalysisError(f"data must be a pandas DataFrame, one row per period; got {type(data).__name__}.")
    needed = [c for c in (date_col, value_col, denominator_col) if c is not None]
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise AnalysisError(f"data has no column {', '.join(map(repr, missing))}; its columns are "
                            f"{list(map(str, data.columns))[:12]}. Name existing columns in value_col/date_col"
                            f"{'/denominator_col' if denominator_col else ''}.")
    if data.empty:
        raise AnalysisError("data has no rows; a run chart needs one row per period.")
    for col in needed[1:]:
        if pd.api.types.is_bool_dtype(data[col]) or not pd.api.types.is_numeric_dtype(data[col]):
            raise AnalysisError(f"column {col!r} must be numeric; it is {data[col].dtype}. Convert it first "
                                "(pd.to_numeric).")
    dates = _as_dates(data[date_col], date_col)
    if dates.isna().any():
        rows = list(data.index[dates.isna().to_numpy()][:5])
        raise AnalysisError(f"date_col {date_col!r} is missing at rows {rows}; every period needs a date.")
    value = data[value_col].to_numpy(dtype=float)
    if denominator_col is not None:
        den = data[denominator_col].to_numpy(dtype=float)
        if (den < 0).any():
            raise AnalysisError(f"denominator_col {denominator_col!r} has negative values at rows "
                                f"{list(data.index[den < 0][:5])}; a denominator must be 0 or more.")
        empty = ~(den > 0)
        if empty.any():
            warnings.warn(f"{int(empty.sum())} row(s) have a zero or missing {denominator_col!r} (first at dates "
                          f"{[_show(d) for d in dates[empty][:3]]}); their values are treated as missing.",
                          DataQualityWarning, stacklevel=3)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(empty, np.nan, value / den)
    frame = pd.DataFrame({"date": dates.to_numpy(), "value": value})
    frame = frame.sort_values("date", kind="stable").reset_index(drop=True)
    repeated = frame["date"][frame["date"].duplicated()]
    if not repeated.empty:
        shown = ", ".join(_show(d) for d in pd.unique(repeated)[:5])
        raise AnalysisError(f"date_col {date_col!r} repeats the date(s) {shown}; a run chart needs one row per "
                            "period: aggregate the rows of each period first.")
    return frame


def _parts(dates: pd.Series, part: object, is_time: bool) -> tuple[np.ndarray, tuple]:
    """1-based part of every row, and the resolved part start dates."""
    number = np.ones(len(dates), dtype=int)
    if part is None:
        return number, ()
    given = list(part) if isinstance(part, (list, tuple, np.ndarray, pd.Series, pd.Index)) else [part]
    keys = sorted(_key(v, is_time, "part") for v in given)
    if len(set(keys)) < len(keys):
        raise AnalysisError(f"part repeats a start date: {[_show(k) for k in keys]}; give each start once.")
    first, last = dates.iloc[0], dates.iloc[-1]
    for key in keys:
        if key <= first or key > last:
            raise AnalysisError(f"part starts at {_show(key)}, outside the data ({_show(first)} to {_show(last)}); "
                                "a new part starts at a date after the first one and no later than the last.")
        number += (dates >= key).to_numpy()
    starts = []
    for p in range(1, len(keys) + 2):
        inside = dates[number == p]
        if inside.empty:
            raise AnalysisError(f"part starts {[_show(k) for k in keys]} leave part {p} without any point; two "
                                "starts fall between the same two dates.")
        if p > 1:
            starts.append(inside.iloc[0])
    return number, tuple(starts)


def _baseline(dates: pd.Series, parts: np.ndarray, baseline: object, is_time: bool) -> tuple[np.ndarray, object]:
    """Rows used for each part's median, and the last baseline date (None when there is no baseline)."""
    first_part = parts == 1
    if baseline is None:
        return np.ones(len(dates), dtype=bool), None
    n_first = int(first_part.sum())
    if isinstance(baseline, (int, np.integer)):
        if baseline > n_first:
            raise AnalysisError(f"baseline={baseline} points, but {'part 1 has' if parts.max() > 1 else 'there are'} "
                                f"only {n_first}; the baseline freezes the median of the first part only.")
        mask = np.arange(len(dates)) < baseline
    else:
        key = _key(baseline, is_time, "baseline")
        end = dates[first_part].iloc[-1]
        if key < dates.iloc[0] or key > end:
            raise AnalysisError(f"baseline ends at {_show(key)}, outside {'part 1' if parts.max() > 1 else 'the data'} "
                                f"({_show(dates.iloc[0])} to {_show(end)}); the baseline freezes the median of the "
                                "first part only.")
        mask = (dates <= key).to_numpy()
    mask = mask | ~first_part
    return mask, dates[mask & first_part].iloc[-1]


# --------------------------------------------------------------------------- rules


def _run_numbers(sides: np.ndarray) -> np.ndarray:
    """0-based run number of each element of a sequence of +1/-1 sides."""
    if sides.size == 0:
        return np.zeros(0, dtype=int)
    return np.concatenate([[0], np.cumsum(sides[1:] != sides[:-1])])


def _trends(values: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Per point the direction of the IHI trend it is in (+1 up, -1 down, 0 none); the longest
    monotone stretch (distinct values counted) and its direction (+1, -1, 0 both or none).

    Consecutive equal values form one step: the repeat neither makes nor breaks a trend. A turning
    point shared by two trends keeps the direction of the trend it ends (a peak is high).
    """
    direction = np.zeros(values.size, dtype=int)
    groups: list[list] = []  # [value, first row, last row] of each group of consecutive equal values
    for i in np.flatnonzero(~np.isnan(values)):
        if groups and values[i] == groups[-1][0]:
            groups[-1][2] = i
        else:
            groups.append([values[i], i, i])
    if not groups:
        return direction, 0, 0
    steps = np.sign(np.diff([g[0] for g in groups])).astype(int)
    longest, signs, start = 1, set(), 0
    while start < steps.size:
        stop = start
        while stop + 1 < steps.size and steps[stop + 1] == steps[start]:
            stop += 1
        length, sign = stop - start + 2, int(steps[start])  # groups start..stop + 1
        if length > longest:
            longest, signs = length, {sign}
        elif length == longest:
            signs.add(sign)
        if length >= TREND_POINTS:
            rows = np.arange(groups[start][1], groups[stop + 1][2] + 1)
            rows = rows[~np.isnan(values[rows]) & (direction[rows] == 0)]
            direction[rows] = sign
        start = stop + 1
    return direction, longest, signs.pop() if len(signs) == 1 else 0


def _side_word(signs: set[int]) -> str:
    return "both" if len(signs) > 1 else {1: "above", -1: "below"}.get(next(iter(signs), 0), "")


def _analyse(values: np.ndarray, centre: float, base: np.ndarray, rules: str) -> tuple[dict, dict]:
    """Per-point flags and the summary numbers of one part."""
    n = values.size
    anhoej, ihi = rules in ("anhoej", "both"), rules in ("ihi", "both")
    present = ~np.isnan(values)
    side = np.zeros(n, dtype=int)
    side[present] = np.sign(values[present] - centre).astype(int)
    useful = side != 0
    run = _run_numbers(side[useful])
    lengths = np.bincount(run) if run.size else np.zeros(0, dtype=int)
    run_length = np.zeros(n, dtype=int)
    run_length[useful] = lengths[run] if run.size else 0
    run_id = np.full(n, -1)
    run_id[useful] = run
    n_useful, n_runs = int(useful.sum()), int(lengths.size)
    longest = int(lengths.max()) if lengths.size else 0
    row = {"n_useful": n_useful, "longest_run": longest, "n_crossings": max(n_runs - 1, 0), "n_runs": n_runs,
           "longest_run_side": _side_word(set(side[useful & (run_length == longest)].tolist()) if longest else set())}
    flags = {"long_run": np.zeros(n, dtype=bool), "shift": np.zeros(n, dtype=bool),
             "trend": np.zeros(n, dtype=bool), "astronomical": np.zeros(n, dtype=bool)}
    trend_dir, row["longest_trend"], trend_sign = _trends(values)
    row["trend_direction"] = {1: "up", -1: "down"}.get(trend_sign, "both" if row["longest_trend"] > 1 else "")
    if anhoej:
        if n_useful:
            row["longest_run_max"], row["n_crossings_min"] = anhoej_limits(n_useful)
            flags["long_run"] = useful & (run_length > row["longest_run_max"])
            row["runs_signal"] = bool(longest > row["longest_run_max"] or row["n_crossings"] < row["n_crossings_min"])
        else:
            row["runs_signal"] = False
    if ihi:
        flags["shift"] = useful & (run_length >= SHIFT_POINTS)
        flags["trend"] = trend_dir != 0
        row["shift_signal"], row["trend_signal"] = bool(flags["shift"].any()), bool(flags["trend"].any())
        row["runs_count_signal"] = False
        if n_useful >= RUNS_TABLE_MIN:
            row["runs_lower"], row["runs_upper"] = runs_limits(n_useful)
            row["runs_count_signal"] = not row["runs_lower"] <= n_runs <= row["runs_upper"]
        base_values = values[base & present]
        if base_values.size >= 2:
            sigma = float(np.mean(np.abs(np.diff(base_values)))) / D2
            if sigma > 0:
                with np.errstate(invalid="ignore"):
                    flags["astronomical"] = np.abs(values - centre) > ASTRONOMICAL_SIGMAS * sigma
        row["astronomical_points"] = int(flags["astronomical"].sum())
    by_run = flags["long_run"] | flags["shift"]
    direction = np.where(by_run, side, np.where(flags["trend"], trend_dir, 0))
    flags["signal"] = by_run | flags["trend"]
    flags["direction"], flags["useful"], flags["run"] = direction, useful, run_id
    row["signal"] = bool(row.get("runs_signal", False) or row.get("shift_signal", False)
                         or row.get("trend_signal", False) or row.get("runs_count_signal", False))
    return flags, row


def _signal_type(direction: np.ndarray, improvement_direction: str) -> np.ndarray:
    if improvement_direction == "neutral":
        words = {1: "neutral_high", -1: "neutral_low"}
    else:
        good = 1 if improvement_direction == "increase" else -1
        words = {good: "improvement", -good: "concern"}
    return np.array([words.get(int(d), "") for d in direction], dtype=object)


# --------------------------------------------------------------------------- fit


def fit(data: pd.DataFrame, *, value_col: str, date_col: str, rules: str = "anhoej", baseline: object = None,
        part: object = None, improvement_direction: str = "neutral",
        denominator_col: str | None = None) -> RunChartResult:
    """A run chart of one series: each part's median and the run rules.

    Parameters
    ----------
    data
        Tidy frame, one row per period (any order; sorted by date here). Not modified.
    value_col, date_col
        The measure, and the period: dates (ISO strings, datetimes, pandas periods) or numbers.
        Duplicate dates are an error. Missing values stay as rows but play no part in the median
        or the rules.
    rules
        ``"anhoej"`` (qicharts2), ``"ihi"`` (Perla et al. 2011) or ``"both"``.
    baseline
        None; the last date of the baseline period (inclusive); or the number of first rows (missing
        values included, as qicharts2's ``freeze``; an int is always a count, even when the periods
        are numbers). The median of the first part is taken from the
        baseline points and extended over the rest of the part; the rules run on every point of it.
    part
        None, or the date(s) at which a new part starts (qicharts2's ``part = 24`` starts part 2 at
        the 25th point's date). A start falling between two dates starts the part at the next date.
        Each part has its own median and rules.
    improvement_direction
        ``"increase"``, ``"decrease"`` or ``"neutral"``: whether a signal reads as improvement or
        concern (``neutral_high``/``neutral_low`` when neutral).
    denominator_col
        When given, the value is ``value_col / denominator_col``; a zero or missing denominator
        gives a missing value (with a :class:`DataQualityWarning`).

    Parts with fewer than 10 useful points give a :class:`ShortSeriesWarning`, a baseline of fewer
    than 10 values a :class:`ShortBaselineWarning`. Columns of the result: see
    :class:`~evalkit.stats.runchart_result.RunChartResult`.
    """
    _check_options(rules, improvement_direction, baseline)
    frame = _prepare(data, value_col, date_col, denominator_col)
    dates, values = frame["date"], frame["value"].to_numpy()
    is_time = pd.api.types.is_datetime64_any_dtype(dates)
    parts, starts = _parts(dates, part, is_time)
    base, baseline_end = _baseline(dates, parts, baseline, is_time)
    centre = np.full(values.size, np.nan)
    columns = {name: np.zeros(values.size, dtype=bool) for name in ("long_run", "shift", "trend", "astronomical",
                                                                    "signal", "useful")}
    direction, run_id = np.zeros(values.size, dtype=int), np.full(values.size, -1)
    rows, next_run = [], 1
    for p in range(1, int(parts.max()) + 1):
        inside = parts == p
        median_values = values[inside & base & ~np.isnan(values)]
        if median_values.size == 0:
            where = " in its baseline" if p == 1 and baseline is not None else ""
            raise AnalysisError(f"part {p} ({_show(dates[inside].iloc[0])} to {_show(dates[inside].iloc[-1])}) has "
                                f"no non-missing {value_col!r} values{where}; its median cannot be taken. Move the "
                                "part start or baseline, or fill the data.")
        if p == 1 and baseline is not None and median_values.size < MIN_USEFUL:
            warnings.warn(f"the baseline median rests on {median_values.size} values; fewer than {MIN_USEFUL} make it "
                          "an unsteady reference.", ShortBaselineWarning, stacklevel=2)
        cl = float(np.median(median_values))
        centre[inside] = cl
        flags, row = _analyse(values[inside], cl, base[inside], rules)
        for name in columns:
            columns[name][inside] = flags[name]
        direction[inside] = flags["direction"]
        run_id[inside] = np.where(flags["run"] >= 0, flags["run"] + next_run, -1)
        next_run += row["n_runs"]
        if row["n_useful"] < MIN_USEFUL:
            warnings.warn(f"part {p} has {row['n_useful']} points off the median; the run rules have little power "
                          f"below {MIN_USEFUL}.", ShortSeriesWarning, stacklevel=2)
        rows.append({"part": p, "start": dates[inside].iloc[0], "end": dates[inside].iloc[-1],
                     "n_obs": int(inside.sum()), "n_missing": int(np.isnan(values[inside]).sum()),
                     "n_baseline": int(median_values.size), "centre": cl, **row})
    points = pd.DataFrame({"date": dates.to_numpy(), "value": values, "part": parts, "baseline": base,
                           "centre": centre, "useful": columns["useful"],
                           "run_id": pd.array(np.where(run_id > 0, run_id, None), dtype="Int64"),
                           "long_run": columns["long_run"], "shift": columns["shift"], "trend": columns["trend"],
                           "astronomical": columns["astronomical"], "signal": columns["signal"],
                           "signal_type": np.where(columns["signal"], _signal_type(direction, improvement_direction),
                                                   "")})
    summary = pd.DataFrame(rows).reindex(columns=list(SUMMARY_COLUMNS))
    for name in ("longest_run_max", "n_crossings_min", "runs_lower", "runs_upper", "astronomical_points"):
        summary[name] = summary[name].astype("Int64")
    for name in ("runs_signal", "shift_signal", "trend_signal", "runs_count_signal"):
        summary[name] = summary[name].astype("boolean")
    options = {"value_col": value_col, "date_col": date_col, "rules": rules, "baseline": baseline,
               "baseline_end": baseline_end, "part": starts, "improvement_direction": improvement_direction,
               "denominator_col": denominator_col}
    return RunChartResult(options=options, table=points[list(POINT_COLUMNS)], parts=summary)


__all__ = [
    "DIRECTIONS",
    "RULES",
    "RunChartResult",
    "anhoej_limits",
    "fit",
    "runs_limits",
]
