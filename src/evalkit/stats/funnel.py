"""Funnel plots: compare each group's ratio, proportion or rate with a target (Spiegelhalter 2005).

:func:`fit` takes one row per group (rows sharing a group are summed, as
FunnelPlotR's ``aggregate_func`` does) and returns a
:class:`~evalkit.stats.funnel_result.FunnelResult`. The method is Spiegelhalter
DJ (2005) "Funnel plots for comparing institutional performance", Stat Med
24:1185-1202, with the over-dispersion allowance of Spiegelhalter DJ (2005)
"Handling over-dispersion of performance indicators", Qual Saf Health Care
14:347-351, following NHS-R FunnelPlotR v0.6.0 (``R/od_adjustment.R``,
``R/calculate_limits.R``, ``R/funnel_plot.R``) wherever that fits the brief:

=========  ===================  ==================  ===============================  =============================
data_type  value                default target      exact (unadjusted) limits        transformed scale, s
=========  ===================  ==================  ===============================  =============================
SR         observed / expected  1                   Poisson, chi-square form         SHMI: log, 1 / sqrt(t E);
                                                                                     CQC: square root, 1 / (2 sqrt E)
PR         events / trials      pooled proportion   binomial, interpolated quantile  arcsine sqrt, 1 / (2 sqrt n)
RC         events / exposure    pooled rate         Poisson, chi-square form         log, 1 / sqrt(t n)
=========  ===================  ==================  ===============================  =============================

Over-dispersion: z = (Y - Y0) / s on the transformed scale; trimmed at ``trim``
each tail (SR/SHMI: *truncated*, the NHS Digital SHMI rule FunnelPlotR uses:
ranks r, band floor(r k / (N + 1)) with k = 1 / trim, kept when 0 < band < k - 1;
every other scale: *winsorised* to the R type-7 quantiles at trim and
1 - trim, as FunnelPlotR); phi = mean(z_trimmed^2) over the z-scores kept;
when phi > 1, tau2 = max(0, (N phi - (N - 1)) / (sum w - sum w^2 / sum w)),
w = 1 / s^2 over the same groups (DerSimonian & Laird 1986); limits
Y0 +/- z sqrt(s^2 + tau2), back-transformed. When phi <= 1, tau2 = 0 and the
exact limits are drawn.

Where this module departs from FunnelPlotR, on purpose:

* PR and RC unadjusted limits are exact (Spiegelhalter 2005 Appendix A.1.1
  interpolated binomial quantiles; exact Poisson), not FunnelPlotR's normal
  approximation on the transformed scale with tau2 = 0.
* RC is a rate (events per unit of exposure): log scale with
  s = 1 / sqrt(expected events under the target), the same scale as SR/SHMI.
  FunnelPlotR's RC is a ratio of two counts (log((O + 0.5) / (D + 0.5)), s from
  both counts) and draws its limits with s = 1 / (2 sqrt D); here a group's z
  and its place against the funnel agree.
* SR/CQC adjusted limits are squared back to the ratio scale (the FunnelPlotR
  ``calculate_limits`` source leaves them on the square-root scale).
* SHMI expected counts are not rounded to two decimals (FunnelPlotR's
  ``SHMI_rounding``), so the denominators reported are the caller's.
* phi and tau2 are estimated even with ``overdispersion=False`` (FunnelPlotR
  reports 0); tau2 is 0 whenever phi <= 1 (FunnelPlotR reports the formula's
  value but does not use it).
* A user ``target`` t for SR scales the expected count: limits are those of a
  Poisson count with mean t E (FunnelPlotR has no target for SR; at t = 1 the
  two agree).
* A zero count on a log scale is read as 0.5 for its z-score only (the 0.5
  FunnelPlotR adds in RC); a warning names the groups.
"""

from __future__ import annotations

import math
import numbers
import warnings
from functools import partial

import numpy as np
import pandas as pd
from scipy.stats import binom, chi2, norm, rankdata

from evalkit.errors import AnalysisError, DataQualityWarning
from evalkit.stats.funnel_result import LIMIT_COLUMNS, POINT_COLUMNS, FunnelResult

DATA_TYPES = {
    "SR": "indirectly standardised ratio (numerator = observed, denominator = expected)",
    "PR": "proportion (numerator = events, denominator = trials)",
    "RC": "rate (numerator = events, denominator = exposure)",
}
SR_METHODS = ("SHMI", "CQC")  # FunnelPlotR sr_method: log scale (NHS Digital SHMI) or square root (CQC)
LEVELS = {"95": (0.025, 0.975), "998": (0.001, 0.999)}  # Spiegelhalter 2005: 95% and 99.8% two-sided limits
Z = {level: float(norm.ppf(high)) for level, (_, high) in LEVELS.items()}  # 1.959964, 3.090232 (FunnelPlotR)
DEFAULT_TRIM = 0.1  # FunnelPlotR trim_by; Spiegelhalter 2005 QSHC winsorises 10% at each end
MAX_TRIM = 0.5  # trimming half of each tail would leave nothing to estimate phi from
ZERO_COUNT = 0.5  # a zero count read as 0.5 on a log scale (the continuity term FunnelPlotR's RC adds)
MIN_GROUPS = 2  # tau2's denominator, sum w - sum w^2 / sum w, is zero for a single group
SCALES = {"SHMI": "log", "CQC": "square-root", "PR": "arcsine-square-root", "RC": "log"}


# --------------------------------------------------------------------------- exact limits


def poisson_limit(denominator, target: float, p: float) -> np.ndarray:
    """Exact Poisson control limit at probability ``p``, on the ratio (or rate) scale.

    The count limit for a Poisson mean mu = target x denominator in chi-square form (Spiegelhalter 2005,
    FunnelPlotR ``calculate_limits``): chi2.ppf(p, 2 mu) / 2 below the centre, chi2.ppf(p, 2 (mu + 1)) / 2
    above it; divided by the denominator.
    """
    d = np.asarray(denominator, dtype=float)
    mu = target * d
    count = chi2.ppf(p, 2 * mu) / 2 if p < 0.5 else chi2.ppf(p, 2 * (mu + 1)) / 2
    return count / d


def binomial_limit(denominator, target: float, p: float) -> np.ndarray:
    """Exact binomial control limit at probability ``p`` for a proportion with ``denominator`` trials.

    Spiegelhalter (2005) Stat Med 24:1185, Appendix A.1.1: r_p is the p-quantile of Binomial(n, target) (the
    smallest r with P(y <= r) >= p), alpha = (P(y <= r_p) - p) / P(y = r_p), and the limit is
    (r_p - alpha) / n, clipped to [0, 1]. ``denominator`` must hold whole numbers.
    """
    n = np.asarray(denominator, dtype=float)
    r = binom.ppf(p, n, target)
    alpha = (binom.cdf(r, n, target) - p) / binom.pmf(r, n, target)
    return np.clip((r - alpha) / n, 0.0, 1.0)


def exact_limit(denominator, target: float, p: float, data_type: str) -> np.ndarray:
    """The unadjusted limit: binomial for PR, Poisson for SR and RC."""
    return binomial_limit(denominator, target, p) if data_type == "PR" else poisson_limit(denominator, target, p)


# --------------------------------------------------------------------------- transformed scale


def scale_key(data_type: str, sr_method: str) -> str:
    """``'SHMI'``, ``'CQC'``, ``'PR'`` or ``'RC'``: the key of the transformed scale in :data:`SCALES`."""
    return sr_method if data_type == "SR" else data_type


def transform(ratio, key: str) -> np.ndarray:
    """Ratio, proportion or rate to the transformed scale: log, square root or arcsine of the square root."""
    r = np.asarray(ratio, dtype=float)
    if key == "CQC":
        return np.sqrt(r)
    if key == "PR":
        return np.arcsin(np.sqrt(r))
    with np.errstate(divide="ignore"):
        return np.log(r)


def back_transform(y, key: str) -> np.ndarray:
    """The inverse of :func:`transform`, clipped to the range the scale can reach (a proportion to [0, 1])."""
    y = np.asarray(y, dtype=float)
    if key == "CQC":
        return np.clip(y, 0.0, None) ** 2
    if key == "PR":
        return np.sin(np.clip(y, 0.0, math.pi / 2)) ** 2
    return np.exp(y)


def standard_error(denominator, target: float, key: str) -> np.ndarray:
    """s on the transformed scale: 1 / sqrt(target x denominator) for log scales, else 1 / (2 sqrt(denominator))."""
    d = np.asarray(denominator, dtype=float)
    if key in ("SHMI", "RC"):
        return 1 / np.sqrt(target * d)
    return 1 / (2 * np.sqrt(d))


def z_scores(numerator, denominator, target: float, key: str) -> np.ndarray:
    """(Y - Y0) / s; on a log scale a zero count is read as :data:`ZERO_COUNT`."""
    num = np.asarray(numerator, dtype=float)
    if SCALES[key] == "log":
        num = np.where(num == 0, ZERO_COUNT, num)
    y = transform(num / np.asarray(denominator, dtype=float), key)
    return (y - transform(target, key)) / standard_error(denominator, target, key)


# --------------------------------------------------------------------------- over-dispersion


def winsorise(z, trim: float) -> np.ndarray:
    """z with values below the ``trim`` quantile set to it and above the 1 - ``trim`` quantile set to that.

    Quantiles by linear interpolation (numpy's default, R's type 7, which FunnelPlotR's ``quantile`` uses).
    """
    z = np.asarray(z, dtype=float)
    low, high = np.quantile(z, [trim, 1 - trim])
    return np.clip(z, low, high)


def truncate(z, trim: float) -> np.ndarray:
    """z with the ``trim`` share at each end set to NaN (left out of phi): the SHMI rule FunnelPlotR uses.

    Ranks r (ties averaged), band floor(r k / (N + 1)) with k = 1 / trim; kept when 0 < band < k - 1.
    """
    z = np.asarray(z, dtype=float)
    if trim == 0:
        return z.copy()
    k = 1 / trim
    band = np.floor(rankdata(z, method="average") * k / (len(z) + 1))
    return np.where((band > 0) & (band < k - 1), z, np.nan)


def dispersion(z_trimmed, se) -> tuple[float, float, int]:
    """phi, tau2 and the number of z-scores used (NaN entries, truncated groups, are left out).

    phi = mean(z^2); tau2 = max(0, (N phi - (N - 1)) / (sum w - sum w^2 / sum w)), w = 1 / s^2, when phi > 1,
    else 0 (Spiegelhalter 2005 QSHC; DerSimonian & Laird 1986).
    """
    z_trimmed = np.asarray(z_trimmed, dtype=float)
    used = ~np.isnan(z_trimmed)
    n = int(used.sum())
    if n == 0:
        raise AnalysisError("Trimming left no z-scores to estimate phi from; use a smaller trim.")
    phi = float(np.mean(z_trimmed[used] ** 2))
    if phi <= 1:
        return phi, 0.0, n
    w = 1 / np.asarray(se, dtype=float)[used] ** 2
    spread = w.sum() - (w**2).sum() / w.sum()
    tau2 = max(0.0, (n * phi - (n - 1)) / spread) if spread > 0 else 0.0
    return phi, float(tau2), n


# --------------------------------------------------------------------------- limit curves


def limit_table(denominator, *, data_type: str, sr_method: str, target: float, tau2: float, adjusted: bool,
                multiplier: float) -> pd.DataFrame:
    """Limits at each denominator, columns :data:`~evalkit.stats.funnel_result.LIMIT_COLUMNS`, x ``multiplier``.

    ``unadjusted_*`` are the exact limits; ``lower_*``/``upper_*`` are the drawn ones: target +/- z sqrt(s^2 +
    tau2) back-transformed when ``adjusted``, else the exact ones.
    """
    d = np.asarray(denominator, dtype=float)
    key = scale_key(data_type, sr_method)
    out = {"denominator": d, "target": np.full(len(d), target * multiplier)}
    exact = {}
    for level, (low, high) in LEVELS.items():
        exact[level] = (exact_limit(d, target, low, data_type), exact_limit(d, target, high, data_type))
    if adjusted:
        centre, spread = transform(target, key), np.sqrt(standard_error(d, target, key) ** 2 + tau2)
        drawn = {level: (back_transform(centre - Z[level] * spread, key),
                         back_transform(centre + Z[level] * spread, key)) for level in LEVELS}
    else:
        drawn = exact
    for level in LEVELS:
        out[f"lower_{level}"], out[f"upper_{level}"] = (v * multiplier for v in drawn[level])
    for level in LEVELS:
        out[f"unadjusted_lower_{level}"], out[f"unadjusted_upper_{level}"] = (v * multiplier for v in exact[level])
    return pd.DataFrame(out, columns=list(LIMIT_COLUMNS))


# --------------------------------------------------------------------------- validation


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _check_options(data, numerator_col, denominator_col, group_col, data_type, target, overdispersion, trim,
                   multiplier, sr_method) -> None:
    if not isinstance(data, pd.DataFrame):
        raise AnalysisError(f"data must be a pandas DataFrame with one row per group; got {type(data).__name__}.")
    if data_type not in DATA_TYPES:
        allowed = "; ".join(f"{k!r}: {v}" for k, v in DATA_TYPES.items())
        raise AnalysisError(f"data_type={data_type!r} is not one of the allowed values ({allowed}).")
    if sr_method not in SR_METHODS:
        raise AnalysisError(f"sr_method={sr_method!r} is not one of {', '.join(map(repr, SR_METHODS))}.")
    if not isinstance(overdispersion, bool):
        raise AnalysisError(f"overdispersion must be True or False; got {overdispersion!r} "
                            f"({type(overdispersion).__name__}).")
    if not _is_number(trim) or not 0 <= trim < MAX_TRIM:
        raise AnalysisError(f"trim={trim!r} must be a number from 0 to below {MAX_TRIM} (the share trimmed at "
                            f"each end; FunnelPlotR's default is {DEFAULT_TRIM}).")
    if not _is_number(multiplier) or multiplier <= 0:
        raise AnalysisError(f"multiplier={multiplier!r} must be a positive number (e.g. 100 for a percentage).")
    if target is not None:
        upper = "1" if data_type == "PR" else "infinity"
        if not _is_number(target) or target <= 0 or (data_type == "PR" and target >= 1):
            raise AnalysisError(f"target={target!r} must be a number above 0 and below {upper} for data_type "
                                f"{data_type!r}, on the unmultiplied scale; or None for the default.")
    names = {"numerator_col": numerator_col, "denominator_col": denominator_col, "group_col": group_col}
    for name, column in names.items():
        if column not in data.columns:
            raise AnalysisError(f"{name}={column!r} is not a column of the data; columns are "
                                f"{', '.join(map(repr, data.columns))}.")
    if len(set(names.values())) < len(names):
        raise AnalysisError(f"numerator_col, denominator_col and group_col must be three different columns; got "
                            f"{numerator_col!r}, {denominator_col!r}, {group_col!r}.")
    for column in (numerator_col, denominator_col):
        dtype = data[column].dtype
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            raise AnalysisError(f"Column {column!r} must be numeric; it holds {dtype}. Convert it with "
                                f"pd.to_numeric before fitting.")


def _examples(frame: pd.DataFrame, mask, group_col: str, column: str | None = None, *, rows: bool = True) -> str:
    """``"group 'b' (row 1): 150, ..."``: the first five rows in ``mask``, with ``column``'s value if given.

    ``rows=False`` for per-group sums, whose index is not the caller's.
    """
    hits = frame.loc[mask]
    values = hits[column][:5] if column else [None] * min(5, len(hits))
    shown = ", ".join(f"group {g!r}" + (f" (row {i!r})" if rows else "") + (f": {v:g}" if column else "")
                      for i, g, v in zip(hits.index[:5], hits[group_col][:5], values, strict=True))
    more = f" and {len(hits) - 5} more" if len(hits) > 5 else ""
    return shown + more


def _aggregate(data, numerator_col, denominator_col, group_col, data_type) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-group sums (``group``, ``numerator``, ``denominator``) and the groups kept out, with a reason."""
    frame = data[[group_col, numerator_col, denominator_col]].copy()
    if frame[group_col].isna().any():
        rows = list(frame.index[frame[group_col].isna()][:5])
        raise AnalysisError(f"Column {group_col!r} is missing in row(s) {rows}; give every row a group.")
    for column in (numerator_col, denominator_col):
        values = frame[column]
        for bad, what in ((np.isinf(values), "infinite"), (values < 0, "negative")):
            if bad.any():
                raise AnalysisError(f"Column {column!r} is {what} for "
                                    f"{_examples(frame, bad, group_col, column)}; counts and denominators must "
                                    "be zero or more. Correct or drop these rows.")
    lost = frame[numerator_col].isna() & frame[denominator_col].notna()
    if lost.any():
        raise AnalysisError(f"Column {numerator_col!r} is missing for {_examples(frame, lost, group_col)}, which "
                            "have a denominator; a missing count cannot be read as zero. Fill it or drop the row.")
    by = frame.groupby(group_col, sort=False)
    table = pd.DataFrame({"numerator": by[numerator_col].sum(min_count=1),
                          "denominator": by[denominator_col].sum(min_count=1),
                          "missing": frame[denominator_col].isna().groupby(frame[group_col], sort=False).any()})
    table = table.rename_axis("group").reset_index()
    events_without = (table["denominator"] == 0) & (table["numerator"] > 0)
    if events_without.any():
        shown = _examples(table, events_without, "group", "numerator", rows=False)
        raise AnalysisError(f"Column {denominator_col!r} sums to 0 for {shown} (numerator shown): events need a "
                            "denominator. Correct the denominator or drop the group.")
    reason = np.where(table["missing"], f"missing {denominator_col}",
                      np.where(table["denominator"] == 0, f"zero {denominator_col}", ""))
    table["reason"] = reason
    excluded = table.loc[reason != "", ["group", "numerator", "denominator", "reason"]].reset_index(drop=True)
    kept = table.loc[reason == "", ["group", "numerator", "denominator"]].reset_index(drop=True)
    if data_type == "PR":
        over = kept["numerator"] > kept["denominator"]
        if over.any():
            shown = _examples(kept, over, "group", "numerator", rows=False)
            raise AnalysisError(f"Column {numerator_col!r} exceeds {denominator_col!r} for {shown}: a proportion's "
                                "events cannot outnumber its trials. Check the columns or use data_type 'RC'.")
        fractional = kept["denominator"] != np.round(kept["denominator"])
        if fractional.any():
            shown = _examples(kept, fractional, "group", "denominator", rows=False)
            raise AnalysisError(f"Column {denominator_col!r} is not a whole number for {shown}; exact binomial "
                                "limits need whole numbers of trials.")
    if not excluded.empty:
        listed = ", ".join(f"{g!r} ({r})" for g, r in zip(excluded["group"], excluded["reason"], strict=True))
        warnings.warn(f"{len(excluded)} group(s) left out of the funnel: {listed}. See FunnelResult.excluded().",
                      DataQualityWarning, stacklevel=3)
    if len(kept) < MIN_GROUPS:
        raise AnalysisError(f"A funnel plot needs at least {MIN_GROUPS} groups with a denominator above zero in "
                            f"{group_col!r}; found {len(kept)}.")
    return kept, excluded


def _target(kept: pd.DataFrame, data_type: str, target: float | None) -> tuple[float, str]:
    if target is not None:
        return float(target), "given"
    if data_type == "SR":
        return 1.0, "default"
    pooled = float(kept["numerator"].sum() / kept["denominator"].sum())
    if pooled <= 0 or (data_type == "PR" and pooled >= 1):
        raise AnalysisError(f"The pooled {'proportion' if data_type == 'PR' else 'rate'} is {pooled:g}; limits "
                            "around a target of 0 (or a proportion of 1) cannot be drawn. Give a target or check "
                            "the numerator column.")
    return pooled, "pooled"


# --------------------------------------------------------------------------- fit


def fit(data: pd.DataFrame, *, numerator_col: str, denominator_col: str, group_col: str, data_type: str,
        target: float | None = None, overdispersion: bool = True, trim: float = DEFAULT_TRIM,
        multiplier: float = 1, sr_method: str = "SHMI") -> FunnelResult:
    """Fit a funnel plot: each group's value against exact and over-dispersion-adjusted limits.

    ``data`` holds one row per group (rows sharing a group are summed; the caller's frame is not changed).
    ``data_type``: ``'SR'``, ``'PR'`` or ``'RC'`` (see the module docstring). ``target`` on the unmultiplied scale
    (default 1 for SR, the pooled sum(numerator) / sum(denominator) otherwise). ``overdispersion``: widen the
    limits by tau2 when phi > 1. ``trim``: share of z-scores trimmed at each end before phi. ``multiplier``
    scales values and limits (100 for a percentage). ``sr_method``: ``'SHMI'`` (log) or ``'CQC'`` (square root),
    for SR only.

    Groups whose denominator is zero (with no events) or missing are kept out, listed in
    :meth:`FunnelResult.excluded` with a warning. Raises :class:`~evalkit.errors.AnalysisError` for unknown
    options, missing columns, negative or infinite values, missing counts, events with a zero denominator,
    PR numerators above their denominators, and fewer than two groups.
    """
    _check_options(data, numerator_col, denominator_col, group_col, data_type, target, overdispersion, trim,
                   multiplier, sr_method)
    kept, excluded = _aggregate(data, numerator_col, denominator_col, group_col, data_type)
    centre, source = _target(kept, data_type, target)
    key = scale_key(data_type, sr_method)
    num, den = kept["numerator"].to_numpy(dtype=float), kept["denominator"].to_numpy(dtype=float)
    if SCALES[key] == "log" and (num == 0).any():
        warnings.warn(f"Zero counts in group(s) {', '.join(map(repr, kept['group'][num == 0]))} are read as "
                      f"{ZERO_COUNT} for their z-scores on the log scale.", DataQualityWarning, stacklevel=2)
    z = z_scores(num, den, centre, key)
    se = standard_error(den, centre, key)
    trim_method = "truncate" if key == "SHMI" else "winsorise"
    z_trimmed = truncate(z, trim) if trim_method == "truncate" else winsorise(z, trim)
    phi, tau2, n_used = dispersion(z_trimmed, se)
    adjusted = overdispersion and phi > 1
    curve = partial(limit_table, data_type=data_type, sr_method=sr_method, target=centre, tau2=tau2,
                    adjusted=adjusted, multiplier=float(multiplier))
    limits = curve(den)
    value = num / den * multiplier
    table = pd.DataFrame({"group": kept["group"].to_numpy(), "numerator": num, "denominator": den,
                          "value": value, "z": z})
    for column in LIMIT_COLUMNS[2:]:
        table[column] = limits[column].to_numpy()
    for suffix, low, high in (("", "lower_998", "upper_998"), ("_95", "lower_95", "upper_95"),
                              ("_unadjusted", "unadjusted_lower_998", "unadjusted_upper_998")):
        table[f"outlier{suffix}"] = np.where(value > table[high], "high", np.where(value < table[low], "low", ""))
    table["z_trimmed"] = z_trimmed
    table["se"] = se
    options = {"numerator_col": numerator_col, "denominator_col": denominator_col, "group_col": group_col,
               "target": target, "target_source": source}
    return FunnelResult(data_type=data_type, sr_method=sr_method if data_type == "SR" else None, target=centre,
                        multiplier=float(multiplier), overdispersion=overdispersion, trim=float(trim),
                        trim_method=trim_method, scale=SCALES[key], phi=phi, tau2=tau2, n_phi=n_used,
                        adjusted=adjusted, options=options, table=table[list(POINT_COLUMNS)],
                        excluded_table=excluded, curve=curve)


__all__ = ["DATA_TYPES", "DEFAULT_TRIM", "LEVELS", "SR_METHODS", "Z", "back_transform", "binomial_limit",
           "dispersion", "exact_limit", "fit", "limit_table", "poisson_limit", "scale_key", "standard_error",
           "transform", "truncate", "winsorise", "z_scores"]
