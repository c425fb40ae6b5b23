"""Control-limit arithmetic of the Shewhart charts, for one phase at a time.

:func:`compute` takes one phase of a chart (the points between two rebases or
part breaks) and returns its plotted values, centre line and the 1-, 2- and
3-sigma lines for every point. It knows nothing of dates, rules or plotting:
:func:`evalkit.stats.spc.fit` splits a series into phases, calls it once per
phase and applies the rules. Baseline ("freeze") and excluded points are given
as a ``base`` mask: only base points set the centre and sigma, but every point
of the phase gets limits.

The methods are qicharts2's (Anhoej, ``R/helper.functions.R``); the XmR
multiplier defaults to NHS England's Making Data Count 2.66:

======  =====================  ===========================================  =============================================
chart   plotted value          centre                                       sigma (k-sigma line = centre +/- k x sigma)
======  =====================  ===========================================  =============================================
xmr     y                      mean                                         (limit_multiplier / 3) x AMR
mr      |y_i - y_(i-1)|        AMR                                          lines at (3.267 / 3) x k x AMR, lower 0
c       y                      mean                                         sqrt(mean); lower lines floored at 0
p       y / n                  sum(y) / sum(n)                              sqrt(p(1 - p) / n_i); lines kept in [0, 1]
pp      y / n                  sum(y) / sum(n)                              p sigma_i x sigma_z (Laney p'); in [0, 1]
u       y / n                  sum(y) / sum(n)                              sqrt(u / n_i); lower lines floored at 0
up      y / n                  sum(y) / sum(n)                              u sigma_i x sigma_z (Laney u'); floored at 0
g       y                      median (mean in ``details``)                 sqrt(mean (mean + 1)) about the mean; floor 0
t       y                      (mean of y^(1/3.6))^3.6                      XmR of y^(1/3.6), lines back-transformed; floor 0
xbar    subgroup mean y        sum(n y) / sum(n)                            s / (c4(n_i) sqrt(n_i)); s pooled or mean SD
s       subgroup SD ``sd``     pooled SD (mean SD if all n equal)           lines B3/B4 x centre, from c4 exactly
======  =====================  ===========================================  =============================================

AMR is the mean moving range of the base points, taken in order after the
points outside the base are dropped (so a moving range bridges an excluded
point, as qicharts2); a moving range touching a missing value is missing.
With ``screen_outliers`` the moving ranges at or above 3.267 x AMR are dropped
once and AMR recomputed (Nelson 1982; the centre does not move). Laney's
sigma_z = AMR(z) / 1.128 of z_i = (y_i/n_i - centre) / sigma_i (Laney 2002,
Quality Engineering 14:531-537). Everything is multiplied by ``multiply`` at
the end, as qicharts2's ``multiply`` argument (100 for percentages, 10,000 for
rates per 10,000).

Floors and caps follow qicharts2: lines of c, u, u', g and t charts stop at 0,
those of p and p' stay within [0, 1], the s chart's lower lines are B3 x centre
(B3 >= 0), and xmr and xbar lines may go below zero. Where evalkit departs from
qicharts2 (1b9487e), on purpose: an empty subgroup (n = 0) is ignored when the
xbar/s SD is pooled (qicharts2 lets it subtract one degree of freedom); a point
with a denominator but no count keeps its limits (qicharts2 drops them); the t
chart's 2- and 1-sigma lower lines are floored at 0 like its LCL (qicharts2
leaves them missing when negative); and when every base moving range is 0
nothing is screened (qicharts2 would have no AMR left).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

from evalkit.errors import AnalysisError

CHARTS = ("xmr", "mr", "c", "p", "pp", "u", "up", "g", "t", "xbar", "s")  # pp = Laney p', up = Laney u'
D2 = 1.128  # d2 for moving ranges of two points (Montgomery, Introduction to SQC, appendix table VI)
MDC_MULTIPLIER = 2.66  # NHS England Making Data Count XmR limits: mean +/- 2.66 x mean moving range
SHEWHART_MULTIPLIER = 3 / D2  # 3 sigma with sigma = AMR / d2, as qicharts2 and PowerBI-SPC
MR_SCREEN = 3.267  # D4 for n = 2: moving ranges at or above 3.267 x AMR are screened out (once)
T_POWER = 3.6  # Nelson (1994) J Qual Technol 26:239: y^(1/3.6) makes exponential times near-normal
SIGMAS = (1, 2, 3)  # the lines returned: 1, 2 and 3 sigma either side of the centre

_NEEDS_N = frozenset({"p", "pp", "u", "up", "xbar", "s"})
_NEEDS_SD = frozenset({"xbar", "s"})
_NON_NEGATIVE = frozenset({"c", "p", "pp", "u", "up", "g"})
_N_MEANING = {"p": "trials", "pp": "trials", "u": "exposure", "up": "exposure", "xbar": "subgroup sizes",
              "s": "subgroup sizes"}
_SCALED_DETAILS = frozenset({"amr", "amr_screened", "sigma", "mean_centre", "median_centre"})


@dataclass(frozen=True, eq=False)
class Limits:
    """One phase of a control chart: the plotted value, centre and sigma lines of every point.

    All arrays have one entry per point of the phase, in order, are
    multiplied by ``multiply`` and are read-only (copy one to change it). NaN marks a point without the number: no
    value (missing ``y``, or a missing or zero denominator), or no limit.

    Attributes:
        chart: the chart name (one of :data:`CHARTS`).
        value: the plotted value: xmr, g, t: ``y``; mr: the moving range
            ``|y_i - y_(i-1)|`` (NaN at the first point); c: the count;
            p, pp: the proportion ``y / n``; u, up: the rate ``y / n``;
            xbar: the subgroup mean; s: the subgroup SD.
        centre: the centre line. For the g chart this is the median of the
            base points, as qicharts2 plots it; the limits are about the mean,
            which is ``details["mean_centre"]``.
        lpl, upl: the lower and upper 3-sigma process limits (for xmr and t,
            ``limit_multiplier`` x AMR rather than exactly 3 sigma).
        lower_2sigma, upper_2sigma: the 2-sigma lines (xmr: centre -/+
            (2/3) x limit_multiplier x AMR); the "two of three" rule uses them.
        lower_1sigma, upper_1sigma: the 1-sigma lines, for rule sets that
            use zones.
        details: the numbers behind the limits, as floats. Always
            ``n_base`` (base points whose value set the centre). Moving-range
            charts (xmr, t, mr, pp, up): ``amr`` (mean of every base moving
            range), ``amr_screened`` (after screening; NaN when
            ``screen_outliers`` is off), ``n_screened`` (moving ranges
            dropped), ``n_mr`` (moving ranges with a value). ``sigma`` (xmr,
            t, c, g, xbar, s: the one sigma the lines use; xbar and s: the SD
            of individual values within subgroups), ``pooled`` (xbar, s: 1
            when subgroup sizes vary and the SD is pooled, else 0),
            ``sigma_z`` (pp, up), ``mean_centre`` and ``median_centre`` (g),
            ``limit_multiplier`` (xmr, t). ``amr``, ``amr_screened``,
            ``sigma``, ``mean_centre`` and ``median_centre`` are in the units
            of ``value`` except for t (the transformed scale y^(1/3.6)) and
            pp, up (the z scale, unitless).
    """

    chart: str
    value: np.ndarray
    centre: np.ndarray
    lpl: np.ndarray
    upl: np.ndarray
    lower_2sigma: np.ndarray
    upper_2sigma: np.ndarray
    lower_1sigma: np.ndarray
    upper_1sigma: np.ndarray
    details: Mapping[str, float]


@dataclass(frozen=True)
class _Phase:
    """Validated inputs: float arrays of one length, and the base mask."""

    chart: str
    y: np.ndarray
    n: np.ndarray | None
    sd: np.ndarray | None
    base: np.ndarray
    limit_multiplier: float
    screen_outliers: bool


# Each calculator returns (value, centre, {k: (lower, upper)}, details), before ``multiply``.
_Lines = dict[int, tuple[np.ndarray, np.ndarray]]
_Raw = tuple[np.ndarray, np.ndarray, _Lines, dict[str, float]]


def compute(chart: str, y, n=None, *, sd=None, base=None, limit_multiplier: float = MDC_MULTIPLIER,
            screen_outliers: bool = False, multiply: float = 1.0) -> Limits:
    """Centre and sigma lines of one phase of a Shewhart chart (see the module table for the methods).

    Args:
        chart: one of :data:`CHARTS`.
        y: one number per point: the count (c, p, pp, u, up), the value (xmr,
            mr, g, t) or the subgroup mean (xbar; unused for s). NaN for a
            missing point: it keeps its place, has no value, and takes no
            part in the centre or sigma.
        n: the denominators, required for p and pp (trials), u and up
            (exposure), xbar and s (subgroup sizes); not accepted otherwise
            (for an XmR of a ratio, pass ``y = numerator / denominator``). A
            missing or zero denominator gives that point no value and no
            limits; it is not an error.
        sd: the subgroup standard deviations, required for xbar and s.
        base: boolean mask of the points whose values set the centre and
            sigma (a frozen baseline, minus excluded points); all by default.
        limit_multiplier: xmr and t only: the 3-sigma lines are centre +/-
            limit_multiplier x AMR (2.66, MDC; :data:`SHEWHART_MULTIPLIER`
            gives qicharts2's 3 x AMR / 1.128). Other charts use 3 sigma.
        screen_outliers: xmr, t, pp, up: drop the moving ranges at or above
            3.267 x AMR once before taking sigma (NHSRplotthedots' and
            attached qicharts2's default; MDC tools leave it off). The mr
            chart's centre is never screened (qicharts2).
        multiply: scales values, centres and lines at the end (100 for a
            percentage, 10,000 for a rate per 10,000 days).

    Returns:
        A :class:`Limits` with every point of the phase.

    Raises:
        AnalysisError: an unknown chart, arrays of different lengths, a
            missing or unexpected ``n`` or ``sd``, a negative count,
            denominator or SD, ``y > n`` on a p chart, a non-positive time on a
            t chart, or too few base points to estimate sigma. The message
            names the chart, the index of the point in this phase and the value.
    """
    phase = _validate(chart, y, n, sd, base, limit_multiplier, screen_outliers, multiply)
    value, centre, lines, details = _CALCULATORS[phase.chart](phase)
    if phase.chart not in ("t", "pp", "up"):
        details = {k: v * multiply if k in _SCALED_DETAILS else v for k, v in details.items()}
    arrays = {"value": value, "centre": centre, "lpl": lines[3][0], "upl": lines[3][1],
              "lower_2sigma": lines[2][0], "upper_2sigma": lines[2][1],
              "lower_1sigma": lines[1][0], "upper_1sigma": lines[1][1]}
    for name, array in arrays.items():
        arrays[name] = np.asarray(array, dtype=float) * float(multiply)
        arrays[name].flags.writeable = False
    return Limits(chart=phase.chart, **arrays, details={k: float(v) for k, v in details.items()})


# --------------------------------------------------------------------------- validation


def _as_array(chart: str, name: str, values, length: int | None) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise AnalysisError(f"{chart} chart: {name} must be numbers; got {type(values).__name__} "
                            f"that cannot be read as numbers ({exc}).") from exc
    if array.ndim != 1:
        raise AnalysisError(f"{chart} chart: {name} must be one-dimensional (one number per point); "
                            f"got an array of shape {array.shape}.")
    if length is not None and len(array) != length:
        raise AnalysisError(f"{chart} chart: {name} has {len(array)} values but y has {length}; "
                            f"give one {name} per point.")
    bad = np.flatnonzero(np.isinf(array))
    if bad.size:
        raise AnalysisError(f"{chart} chart: {name} at index {bad[0]} is {array[bad[0]]}; "
                            f"use NaN for a missing value, not infinity.")
    return array


def _first_bad(chart: str, name: str, array: np.ndarray, bad: np.ndarray, why: str) -> None:
    where = np.flatnonzero(bad)
    if where.size:
        i = where[0]
        raise AnalysisError(f"{chart} chart: {name} at index {i} of this phase is {array[i]:g}; {why} "
                            f"({where.size} point{'s' if where.size != 1 else ''} affected).")


def _validate(chart, y, n, sd, base, limit_multiplier, screen_outliers, multiply) -> _Phase:
    if chart not in CHARTS:
        raise AnalysisError(f"unknown chart {chart!r}; use one of {', '.join(CHARTS)}.")
    for name, number in (("limit_multiplier", limit_multiplier), ("multiply", multiply)):
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not np.isfinite(number) \
                or number <= 0:
            raise AnalysisError(f"{chart} chart: {name} must be a positive number; got {number!r}.")
    if not isinstance(screen_outliers, (bool, np.bool_)):
        raise AnalysisError(f"{chart} chart: screen_outliers must be True or False; got "
                            f"{type(screen_outliers).__name__} {screen_outliers!r}.")
    y = _as_array(chart, "y", y, None)
    if len(y) == 0:
        raise AnalysisError(f"{chart} chart: the phase has no points; give at least one y.")
    if chart in _NEEDS_N and n is None:
        raise AnalysisError(f"{chart} chart needs n ({_N_MEANING[chart]}), one per point.")
    if chart not in _NEEDS_N and n is not None:
        raise AnalysisError(f"{chart} chart does not use n; for a ratio on an XmR chart pass "
                            f"y = numerator / denominator, or use a p or u chart.")
    if chart in _NEEDS_SD and sd is None:
        raise AnalysisError(f"{chart} chart needs sd (the standard deviation of each subgroup).")
    if chart not in _NEEDS_SD and sd is not None:
        raise AnalysisError(f"{chart} chart does not use sd; it is for xbar and s charts only.")
    n = None if n is None else _as_array(chart, "n", n, len(y))
    sd = None if sd is None else _as_array(chart, "sd", sd, len(y))
    if base is None:
        base = np.ones(len(y), dtype=bool)
    else:
        raw = np.asarray(base)
        if raw.dtype != bool:
            raise AnalysisError(f"{chart} chart: base must be a boolean mask, one per point; got dtype "
                                f"{raw.dtype}.")
        base = _as_array(chart, "base", raw, len(y)).astype(bool)
    if chart in _NON_NEGATIVE:
        _first_bad(chart, "y", y, y < 0, "counts and intervals cannot be negative")
    if chart == "t":
        _first_bad(chart, "y", y, y <= 0, "times between events must be greater than zero (qicharts2)")
    if n is not None:
        _first_bad(chart, "n", n, n < 0, "denominators cannot be negative")
        if chart in ("p", "pp"):
            _first_bad(chart, "y", y, y > n, f"more events than trials (n = {n[np.argmax(y > n)]:g}); "
                       f"a proportion cannot exceed 1")
    if sd is not None:
        _first_bad(chart, "sd", sd, sd < 0, "a standard deviation cannot be negative")
    return _Phase(chart, y, n, sd, base, float(limit_multiplier), bool(screen_outliers))


def _too_few(phase: _Phase, what: str) -> AnalysisError:
    return AnalysisError(f"{phase.chart} chart: {what}, so the limits cannot be estimated; "
                         f"widen the baseline or merge this phase with its neighbour.")


# --------------------------------------------------------------------------- shared arithmetic


def _moving_ranges(values: np.ndarray, base: np.ndarray, screen: bool, phase: _Phase) -> dict[str, float]:
    """AMR of the base points' moving ranges, with optional one-pass screening at 3.267 x AMR."""
    mr = np.abs(np.diff(values[base]))
    mr = mr[np.isfinite(mr)]
    if mr.size == 0:
        raise _too_few(phase, "no two neighbouring base points both have a value (no moving range)")
    amr = float(mr.mean())
    details = {"amr": amr, "amr_screened": np.nan, "n_screened": 0.0, "n_mr": float(mr.size)}
    if screen:
        kept = mr[mr < MR_SCREEN * amr] if amr > 0 else mr  # all-equal values: nothing to screen
        details.update(amr_screened=float(kept.mean()), n_screened=float(mr.size - kept.size))
    return details


def _used_amr(details: Mapping[str, float]) -> float:
    return details["amr"] if np.isnan(details["amr_screened"]) else details["amr_screened"]


def _lines(centre: np.ndarray, sigma, lower_floor: float | None = None, upper_cap: float | None = None) -> _Lines:
    """Centre +/- k x sigma for k = 1, 2, 3; finite lines floored and capped as qicharts2 does."""
    out = {}
    for k in SIGMAS:
        lower, upper = centre - k * sigma, centre + k * sigma
        if lower_floor is not None:
            lower = np.where(np.isfinite(lower) & (lower < lower_floor), lower_floor, lower)
        if upper_cap is not None:
            upper = np.where(np.isfinite(upper) & (upper > upper_cap), upper_cap, upper)
        out[k] = (lower, upper)
    return out


def _full(length: int, number: float) -> np.ndarray:
    return np.full(length, float(number))


def _ratio(phase: _Phase) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Value y/n (NaN without a denominator), the usable base points and the pooled centre."""
    n = np.where(phase.n > 0, phase.n, np.nan)
    value = phase.y / n
    used = phase.base & np.isfinite(value)
    if not used.any():
        raise _too_few(phase, "no base point has both a count and a positive denominator")
    centre = phase.y[used].sum() / n[used].sum()
    return value, n, float(centre), used


# --------------------------------------------------------------------------- charts


def _xmr(phase: _Phase) -> _Raw:
    y = phase.y
    used = phase.base & np.isfinite(y)
    if not used.any():
        raise _too_few(phase, "no base point has a value")
    mean = float(y[used].mean())
    details = _moving_ranges(y, phase.base, phase.screen_outliers, phase)
    sigma = phase.limit_multiplier * _used_amr(details) / 3
    details.update(n_base=float(used.sum()), sigma=sigma, limit_multiplier=phase.limit_multiplier)
    centre = _full(len(y), mean)
    return y.copy(), centre, _lines(centre, sigma), details


def _mr(phase: _Phase) -> _Raw:
    value = np.concatenate([[np.nan], np.abs(np.diff(phase.y))])
    used = phase.base & np.isfinite(value)
    if not used.any():
        raise _too_few(phase, "no base point has a moving range (two neighbouring values)")
    amr = float(value[used].mean())
    centre = _full(len(value), amr)
    zero = np.zeros(len(value))
    lines = {k: (zero, centre * (MR_SCREEN / 3) * k) for k in SIGMAS}  # qicharts2's 2-sigma: (3.267 / 3) x 2 x AMR
    details = {"amr": amr, "amr_screened": np.nan, "n_screened": 0.0, "n_mr": float(used.sum()),
               "n_base": float(used.sum())}
    return value, centre, lines, details


def _c(phase: _Phase) -> _Raw:
    used = phase.base & np.isfinite(phase.y)
    if not used.any():
        raise _too_few(phase, "no base point has a count")
    mean = float(phase.y[used].mean())
    centre = _full(len(phase.y), mean)
    return phase.y.copy(), centre, _lines(centre, np.sqrt(mean), 0.0), {"n_base": float(used.sum()),
                                                                         "sigma": np.sqrt(mean)}


def _p(phase: _Phase) -> _Raw:
    value, n, cl, used = _ratio(phase)
    centre = _full(len(value), cl)
    return value, centre, _lines(centre, np.sqrt(cl * (1 - cl) / n), 0.0, 1.0), {"n_base": float(used.sum())}


def _u(phase: _Phase) -> _Raw:
    value, n, cl, used = _ratio(phase)
    centre = _full(len(value), cl)
    return value, centre, _lines(centre, np.sqrt(cl / n), 0.0), {"n_base": float(used.sum())}


def _laney(phase: _Phase, binomial: bool) -> _Raw:
    value, n, cl, used = _ratio(phase)
    if cl == 0 or (binomial and cl == 1):
        raise _too_few(phase, f"the base {'proportion' if binomial else 'rate'} is {cl:g}, so Laney's z-scores "
                              f"are undefined (use a {'p' if binomial else 'u'} chart)")
    sigma_i = np.sqrt(cl * (1 - cl) / n) if binomial else np.sqrt(cl / n)
    z = (value - cl) / sigma_i
    details = _moving_ranges(z, phase.base, phase.screen_outliers, phase)
    sigma_z = _used_amr(details) / D2
    details.update(n_base=float(used.sum()), sigma_z=sigma_z)
    centre = _full(len(value), cl)
    return value, centre, _lines(centre, sigma_i * sigma_z, 0.0, 1.0 if binomial else None), details


def _g(phase: _Phase) -> _Raw:
    used = phase.base & np.isfinite(phase.y)
    if not used.any():
        raise _too_few(phase, "no base point has a value")
    mean = float(phase.y[used].mean())
    median = float(np.median(phase.y[used]))
    sigma = np.sqrt(mean * (mean + 1))  # geometric distribution, Montgomery (2009) p. 319
    lines = _lines(_full(len(phase.y), mean), sigma, 0.0)
    details = {"n_base": float(used.sum()), "sigma": sigma, "mean_centre": mean, "median_centre": median}
    return phase.y.copy(), _full(len(phase.y), median), lines, details


def _t(phase: _Phase) -> _Raw:
    transformed = phase.y ** (1 / T_POWER)
    _, centre, lines, details = _xmr(_Phase("t", transformed, None, None, phase.base, phase.limit_multiplier,
                                            phase.screen_outliers))
    back = {k: (np.where(lower > 0, np.abs(lower) ** T_POWER, 0.0), upper ** T_POWER)
            for k, (lower, upper) in lines.items()}  # a negative lower line back-transforms to 0 (qicharts2)
    return phase.y.copy(), centre ** T_POWER, back, details


def _c4(n: np.ndarray) -> np.ndarray:
    """c4(n) = sqrt(2 / (n - 1)) Gamma(n / 2) / Gamma((n - 1) / 2); NaN for n <= 1 (qicharts2 ``c4``)."""
    m = np.where(n > 1, n, np.nan)
    return np.sqrt(2 / (m - 1)) * np.exp(gammaln(m / 2) - gammaln((m - 1) / 2))


def _within_sd(phase: _Phase) -> tuple[np.ndarray, float, float, np.ndarray]:
    """Subgroup sizes (NaN where 0), the within-subgroup SD, whether it is pooled, and the base subgroups."""
    n = np.where(phase.n > 0, phase.n, np.nan)
    sized = np.isfinite(n)
    pooled = np.unique(n[sized]).size > 1  # qicharts2: pool when sizes vary anywhere in the phase
    has_sd = phase.base & sized & np.isfinite(phase.sd) & (n > 1)
    if not has_sd.any():
        raise _too_few(phase, "no base subgroup has two or more values and an SD")
    if pooled:  # Montgomery (2009) eq. 6.31
        sigma = np.sqrt(((n[has_sd] - 1) * phase.sd[has_sd] ** 2).sum() / (n[has_sd] - 1).sum())
    else:  # Montgomery (2009) eq. 6.29: s-bar
        sigma = phase.sd[has_sd].mean()
    return n, float(sigma), float(pooled), has_sd


def _xbar(phase: _Phase) -> _Raw:
    n, sigma, pooled, has_sd = _within_sd(phase)
    value = np.where(np.isfinite(n), phase.y, np.nan)
    used = phase.base & np.isfinite(value)
    if not used.any():
        raise _too_few(phase, "no base subgroup has a mean")
    centre = _full(len(value), (n[used] * value[used]).sum() / n[used].sum())  # Montgomery (2009) eq. 6.30
    lines = _lines(centre, sigma / (_c4(n) * np.sqrt(n)))  # A3 = 3 / (c4 sqrt(n))
    return value, centre, lines, {"n_base": float(used.sum()), "sigma": sigma, "pooled": pooled}


def _s(phase: _Phase) -> _Raw:
    n, sigma, pooled, has_sd = _within_sd(phase)
    value = np.where(np.isfinite(n), phase.sd, np.nan)
    c4 = _c4(n)
    spread = np.sqrt(1 - c4 ** 2) / c4  # c5 / c4, so B4 = 1 + 3 c5 / c4 and B3 = max(0, 1 - 3 c5 / c4)
    centre = _full(len(value), sigma)
    lines = {k: (np.maximum(0.0, 1 - k * spread) * sigma, (1 + k * spread) * sigma) for k in SIGMAS}
    return value, centre, lines, {"n_base": float(has_sd.sum()), "sigma": sigma, "pooled": pooled}


_CALCULATORS: dict[str, Callable[[_Phase], _Raw]] = {
    "xmr": _xmr, "mr": _mr, "c": _c, "p": _p, "pp": lambda phase: _laney(phase, True), "u": _u,
    "up": lambda phase: _laney(phase, False), "g": _g, "t": _t, "xbar": _xbar, "s": _s,
}
