"""Interrupted time series: option checks, data checks and the design matrix.

Validation runs in two stages before any fitting (house style): the options
alone (:func:`check_options`), then the options against the data
(:func:`build_design`). The design follows Stata ``itsa`` and the corrected
Lopez Bernal (2017) parameterisation:

=============  ==============================================================
column         meaning
=============  ==============================================================
``const``      1
``time``       t, periods since the first period (0, 1, 2, ...)
``level``      post: 1 from the intervention period on
``slope``      (t - t_intervention) x post, 0 at the intervention period
``month_<m>``  calendar-month indicators (``seasonality="month"``), the first
               period's month is the reference
``sin<k>``,    harmonic pairs sin/cos(2 pi k month / 12), month 1-12
``cos<k>``     (``seasonality=k``); reference: both 0
covariates     the caller's columns, as given (0 is their reference)
``z...``       controlled ITS: treated indicator and its products with
               ``time``, ``level`` and ``slope`` (Linden 2015)
=============  ==============================================================

Transition periods (the first ``transition`` periods from the intervention)
are dropped from the fit, but t keeps counting, so the level change is still
measured at the intervention period.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evalkit.errors import AnalysisError, ShortSeriesWarning

FAMILIES = ("gaussian", "poisson", "quasipoisson", "negative_binomial", "binomial")
LOG_LINK = ("poisson", "quasipoisson", "negative_binomial")
ERRORS = ("ols", "newey_west", "prais_winsten", "arma")
GAUSSIAN_ONLY_ERRORS = ("arma",)
MIN_SIDE = 3  # fewest points either side of the intervention that identify a level and a slope (plus 1 df)
WARN_SIDE = 8  # Wagner et al. (2002) J Clin Pharm Ther 27:299 and Penfold & Zhang (2013): 8+ points per segment
MONTHS_PER_YEAR = 12  # harmonic period for monthly data
MAX_HARMONICS = MONTHS_PER_YEAR // 2  # Nyquist: k = 6 has only a cosine term

TREND_TERMS = ("const", "time", "level", "slope")
GROUP_TERMS = ("z", "z_time", "z_level", "z_slope")


@dataclass(frozen=True)
class Design:
    """The data as the model sees it: one row per period (per group), in fit order.

    ``frame`` holds every row with columns ``group`` (``treated`` or
    ``comparator``), ``series`` (a code per value of ``group_col``), ``period`` (as given), ``t``, ``y`` (the outcome;
    a proportion for binomial), ``denominator``, ``in_fit`` (False for
    transition periods) and the design columns listed in ``columns``.
    """

    frame: pd.DataFrame = field(repr=False)
    columns: tuple[str, ...]
    t_intervention: int
    periods_are_dates: bool
    controlled: bool
    intervention: object

    @property
    def fit_frame(self) -> pd.DataFrame:
        return self.frame[self.frame["in_fit"]]

    def x(self, rows: pd.DataFrame | None = None) -> pd.DataFrame:
        rows = self.fit_frame if rows is None else rows
        return rows.loc[:, list(self.columns)].astype(float)


# --------------------------------------------------------------------------- stage 1: options


def _allowed(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise AnalysisError(f"{name}={value!r} is not known; use one of {', '.join(map(repr, allowed))}.")


def check_options(*, family: str, errors: str, hac_lags: int | None, arma_order: tuple[int, int],
                  seasonality: object, transition: int, alpha: float, denominator_col: str | None,
                  group_col: str | None, treated: object) -> None:
    """Check the options alone, before looking at the data."""
    _allowed("family", family, FAMILIES)
    _allowed("errors", errors, ERRORS)
    if errors == "prais_winsten" and family == "negative_binomial":
        raise AnalysisError("errors='prais_winsten' is quasi-likelihood GLS and estimates its own dispersion: use "
                            "family='quasipoisson' with it, or errors='newey_west' with the negative binomial.")
    if errors in GAUSSIAN_ONLY_ERRORS and family != "gaussian":
        hint = ("use errors='prais_winsten' (AR(1) quasi-likelihood GLS) or 'newey_west' with a count family, or "
                "model the log rate as gaussian")
        raise AnalysisError(f"errors={errors!r} is implemented for family='gaussian' only, got family={family!r}; "
                            f"{hint}.")
    if hac_lags is not None and (not isinstance(hac_lags, (int, np.integer)) or hac_lags < 0):
        raise AnalysisError(f"hac_lags must be a whole number of periods, 0 or more, or None; got {hac_lags!r}.")
    if (not isinstance(arma_order, (tuple, list)) or len(arma_order) != 2
            or any(not isinstance(v, (int, np.integer)) or v < 0 for v in arma_order)):
        raise AnalysisError(f"arma_order must be a pair (p, q) of whole numbers, e.g. (1, 0); got {arma_order!r}.")
    if errors == "arma" and tuple(arma_order) == (0, 0):
        raise AnalysisError("arma_order=(0, 0) has no ARMA errors; use errors='ols' instead.")
    if seasonality is not None and seasonality != "month":
        if isinstance(seasonality, bool) or not isinstance(seasonality, (int, np.integer)) \
                or not 1 <= seasonality <= MAX_HARMONICS:
            raise AnalysisError(f"seasonality must be None, 'month' or a number of harmonic pairs from 1 to "
                                f"{MAX_HARMONICS}; got {seasonality!r}.")
    if isinstance(transition, bool) or not isinstance(transition, (int, np.integer)) or transition < 0:
        raise AnalysisError(f"transition must be a whole number of periods, 0 or more; got {transition!r}.")
    if not 0 < alpha < 1:
        raise AnalysisError(f"alpha must be between 0 and 1 (0.05 for 95% intervals), got {alpha!r}.")
    if family == "binomial" and denominator_col is None:
        raise AnalysisError("family='binomial' needs denominator_col, the number of trials in each period.")
    if family == "gaussian" and denominator_col is not None:
        raise AnalysisError(f"denominator_col={denominator_col!r} is used by count and binomial families only; "
                            "for a gaussian model compute the rate column first and pass it as value_col.")
    if (group_col is None) != (treated is None):
        raise AnalysisError("A controlled ITS needs both group_col (the column naming the series) and treated "
                            "(the treated series' value in it); give both or neither.")
    if group_col is not None and errors == "arma":
        raise AnalysisError("errors='arma' fits one series; for a controlled ITS use 'newey_west' or "
                            "'prais_winsten'.")


# --------------------------------------------------------------------------- stage 2: data


def _period_index(values: pd.Series, date_col: str) -> tuple[np.ndarray, bool]:
    """Periods as integers (months since year 0 for dates, the value itself for integers)."""
    if values.isna().any():
        row = values.index[values.isna()][0]
        raise AnalysisError(f"{date_col!r} is missing in row {row}; every row needs its period.")
    if pd.api.types.is_integer_dtype(values):
        return values.to_numpy(dtype=np.int64), False
    if pd.api.types.is_float_dtype(values) and np.all(np.mod(values, 1) == 0):
        return values.to_numpy(dtype=np.int64), False
    try:
        stamps = pd.to_datetime(values)
    except (TypeError, ValueError) as exc:
        raise AnalysisError(f"{date_col!r} must hold monthly dates (first of the month) or whole-number "
                            f"periods such as years; got values like {values.iloc[0]!r}.") from exc
    return (stamps.dt.year * MONTHS_PER_YEAR + stamps.dt.month - 1).to_numpy(dtype=np.int64), True


def _intervention_index(intervention: object, dates: bool) -> int:
    if dates:
        if isinstance(intervention, (bool, int, np.integer, float)):
            raise AnalysisError(f"{intervention=!r} is a number but the periods are dates; give the first "
                                "month of the intervention, e.g. '2005-01-01'.")
        try:
            stamp = pd.Timestamp(intervention)
        except (TypeError, ValueError) as exc:
            raise AnalysisError(f"{intervention=!r} is not a date; give the first month, e.g. '2005-01-01'.") from exc
        return int(stamp.year * MONTHS_PER_YEAR + stamp.month - 1)
    if isinstance(intervention, (int, np.integer)) and not isinstance(intervention, bool):
        return int(intervention)
    raise AnalysisError(f"{intervention=!r} must be a whole-number period (e.g. a year) like the periods.")


def _label(index: int, dates: bool) -> str:
    return f"{index // MONTHS_PER_YEAR}-{index % MONTHS_PER_YEAR + 1:02d}" if dates else str(index)


def _check_sequence(index: np.ndarray, dates: bool, date_col: str, name: str) -> None:
    steps = np.diff(index)
    if np.any(steps == 0):
        at = index[1:][steps == 0][0]
        raise AnalysisError(f"{name}: period {_label(at, dates)} appears more than once in {date_col!r}; "
                            "aggregate to one row per period first.")
    if np.any(steps < 0):
        at = index[1:][steps < 0][0]
        raise AnalysisError(f"{name}: {date_col!r} is not in order (period {_label(at, dates)} comes after a later "
                            f"one); sort the data first, e.g. data.sort_values({date_col!r}).")
    if np.any(steps > 1):
        pos = np.flatnonzero(steps > 1)[0]
        raise AnalysisError(f"{name}: {date_col!r} has a gap after period {_label(index[pos], dates)} (next is "
                            f"{_label(index[pos + 1], dates)}); segmented regression needs every period, so fill "
                            "the missing periods or shorten the series.")


def _check_values(rows: pd.DataFrame, column: str, periods: pd.Series, *, positive: bool = False) -> None:
    values = pd.to_numeric(rows[column], errors="coerce")
    bad = values.isna() | ~np.isfinite(values.astype(float))
    if bad.any():
        at = periods[bad].iloc[0]
        raise AnalysisError(f"{column!r} is missing or not a number in period {at} (value {rows[column][bad].iloc[0]!r}); "
                            "fill or remove it (a gap in the series must be filled, not dropped).")
    if positive and (values <= 0).any():
        at = periods[values <= 0].iloc[0]
        raise AnalysisError(f"{column!r} is {values[values <= 0].iloc[0]!r} in period {at}; a denominator must be "
                            "above 0 (its log is the offset). Remove the period or correct the denominator.")


def _seasonal(months: np.ndarray, seasonality: object, reference: int) -> dict[str, np.ndarray]:
    if seasonality is None:
        return {}
    if seasonality == "month":
        return {f"month_{m}": (months == m).astype(float) for m in range(1, MONTHS_PER_YEAR + 1) if m != reference}
    terms = {}
    for k in range(1, int(seasonality) + 1):
        angle = 2 * math.pi * k * months / MONTHS_PER_YEAR
        if 2 * k != MONTHS_PER_YEAR:  # sin(pi * month) is 0 for every month
            terms[f"sin{k}"] = np.sin(angle)
        terms[f"cos{k}"] = np.cos(angle)
    return terms


def build_design(data: pd.DataFrame, *, value_col: str, date_col: str, intervention: object, family: str,
                 denominator_col: str | None, slope_change: bool, seasonality: object,
                 covariates: tuple[str, ...], transition: int, group_col: str | None, treated: object) -> Design:
    """Check the data against the options and build the design. ``data`` is not modified."""
    if not isinstance(data, pd.DataFrame):
        raise AnalysisError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
    covariates = tuple(covariates)
    needed = [value_col, date_col, denominator_col, group_col, *covariates]
    missing = [c for c in needed if c is not None and c not in data.columns]
    if missing:
        raise AnalysisError(f"The data has no column {', '.join(map(repr, missing))}; its columns are "
                            f"{', '.join(map(repr, data.columns))}.")
    reserved = set(TREND_TERMS) | set(GROUP_TERMS)
    if clash := reserved.intersection(covariates):
        raise AnalysisError(f"covariates {sorted(clash)} clash with the model's own terms; rename those columns.")
    frame = data.copy()
    index, dates = _period_index(frame[date_col], date_col)
    if seasonality is not None and not dates:
        raise AnalysisError(f"seasonality={seasonality!r} needs monthly dates in {date_col!r}, but its periods are "
                            "whole numbers; use seasonality=None or give dates.")
    t0_index = _intervention_index(intervention, dates)
    frame["_index"] = index
    if group_col is None:
        frame["group"] = "treated"
    else:
        if not (frame[group_col] == treated).any():
            raise AnalysisError(f"treated={treated!r} is not a value of {group_col!r}; it holds "
                                f"{', '.join(map(repr, frame[group_col].unique()[:8]))}.")
        frame["group"] = np.where(frame[group_col] == treated, "treated", "comparator")
    start = int(frame["_index"].min())
    if group_col is not None and np.any(np.diff(frame[group_col].factorize()[0]) < 0):
        at = frame[date_col].iloc[int(np.flatnonzero(np.diff(frame[group_col].factorize()[0]) < 0)[0]) + 1]
        raise AnalysisError(f"Rows are not sorted by ({group_col!r}, {date_col!r}): a series starts again at period "
                            f"{at}; sort the data first, e.g. data.sort_values([{group_col!r}, {date_col!r}]).")
    for key, rows in frame.groupby(group_col if group_col else "group", sort=False):
        name = f"{group_col}={key!r}" if group_col else "the series"
        _check_sequence(rows["_index"].to_numpy(), dates, date_col, name)
    labels = frame[date_col].astype(str)
    _check_values(frame, value_col, labels)
    for column in covariates:
        _check_values(frame, column, labels)
    if denominator_col is not None:
        _check_values(frame, denominator_col, labels, positive=True)
    y = frame[value_col].astype(float)
    if family != "gaussian" and (y < 0).any():
        raise AnalysisError(f"{value_col!r} is {y[y < 0].iloc[0]} in period {labels[y < 0].iloc[0]}; a count "
                            "cannot be negative.")
    if family == "binomial":
        over = y > frame[denominator_col]
        if over.any():
            raise AnalysisError(f"{value_col!r} ({y[over].iloc[0]}) exceeds {denominator_col!r} in period "
                                f"{labels[over].iloc[0]}; successes cannot exceed trials.")
        y = y / frame[denominator_col].astype(float)

    first, last = int(frame["_index"].min()), int(frame["_index"].max())
    if not first < t0_index <= last:
        raise AnalysisError(f"intervention {_label(t0_index, dates)} is outside the data ({date_col!r} runs from "
                            f"{_label(first, dates)} to {_label(last, dates)}); it must be after the first period "
                            "and no later than the last.")
    t = frame["_index"].to_numpy() - start
    t0 = t0_index - start
    post = (t >= t0).astype(float)
    out = pd.DataFrame({"group": frame["group"].to_numpy(), "period": frame[date_col].to_numpy(), "t": t,
                        "y": y.to_numpy(), "in_fit": ~((t >= t0) & (t < t0 + transition))}, index=frame.index)
    out["series"] = pd.factorize(frame[group_col])[0] if group_col else 0
    out["denominator"] = frame[denominator_col].astype(float) if denominator_col else np.nan
    out["const"], out["time"], out["level"] = 1.0, t.astype(float), post
    columns = ["const", "time", "level"]
    if slope_change:
        out["slope"] = (t - t0) * post
        columns.append("slope")
    if seasonality is not None:
        months = frame["_index"].to_numpy() % MONTHS_PER_YEAR + 1
        reference = int(months[np.argmin(frame["_index"].to_numpy())])
        for name, values in _seasonal(months, seasonality, reference).items():
            out[name] = values
            columns.append(name)
    for column in covariates:
        out[column] = frame[column].astype(float).to_numpy()
        columns.append(column)
    if group_col is not None:
        z = (out["group"] == "treated").astype(float)
        out["z"] = z
        for term in ("time", "level", "slope"):
            if term in out:
                out[f"z_{term}"] = z * out[term]
        columns += [c for c in GROUP_TERMS if c in out]
    _check_lengths(out, t0, transition, dates, start)
    return Design(frame=out, columns=tuple(columns), t_intervention=int(t0), periods_are_dates=dates,
                  controlled=group_col is not None, intervention=_label(t0_index, dates))


def _check_lengths(out: pd.DataFrame, t0: int, transition: int, dates: bool, start: int) -> None:
    for group, rows in out[out["in_fit"]].groupby("group", sort=False):
        n_pre, n_post = int((rows["t"] < t0).sum()), int((rows["t"] >= t0).sum())
        where = f"{group} series" if len(out["group"].unique()) > 1 else "series"
        gap = f" after the {transition} transition periods" if transition else ""
        if min(n_pre, n_post) < MIN_SIDE:
            raise AnalysisError(f"The {where} has {n_pre} periods before the intervention "
                                f"({_label(start + t0, dates)}) and {n_post} after it{gap}; segmented regression "
                                f"needs at least {MIN_SIDE} on each side. Lengthen the series or shorten transition.")
        if min(n_pre, n_post) < WARN_SIDE:
            warnings.warn(f"The {where} has {n_pre} periods before and {n_post} after the intervention{gap}; with "
                          f"fewer than {WARN_SIDE} on a side the estimates and intervals are unreliable.",
                          ShortSeriesWarning, stacklevel=4)


__all__ = ["Design", "ERRORS", "FAMILIES", "LOG_LINK", "build_design", "check_options"]
