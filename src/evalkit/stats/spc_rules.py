"""The special-cause rules of a Shewhart chart, as pure functions of arrays.

Each rule takes the observed points of a chart in time order (missing values
already left out by the caller, so a gap neither makes nor breaks a run) and
returns, per point, ``+1`` (a signal on the high side), ``-1`` (low side) or
``0``. A point's centre and limits are arrays, so a rule can run across phases
whose lines differ (NHS England's Making Data Count lets a shift, a trend or
two-in-three run across a recalculation); a NaN centre or limit breaks every
rule at that point.

The rules and their conventions (NHS England, *Making Data Count: strengthening
your decisions*, 2019, and the MDC XmR test checklist for the Single Chart Tool
v5.0):

* outside the limits: strictly above the upper or below the lower process limit;
* shift: ``points`` or more consecutive points strictly on one side of the
  centre line; a point on the line breaks the run;
* trend: ``points`` or more consecutive points each strictly higher (or lower)
  than the one before; a tie breaks the run; a trend may cross the centre line;
* two-in-three: in any three consecutive points, two or three beyond the same
  two-sigma line, all three on the same side of the centre, flags the points
  beyond the two-sigma line; a point beyond the process limit does not count
  (it is flagged by the first rule).
"""

from __future__ import annotations

import numpy as np

from evalkit.errors import AnalysisError


def _check_length(name: str, points: int) -> None:
    if isinstance(points, bool) or not isinstance(points, (int, np.integer)) or points < 1:
        raise AnalysisError(f"{name} must be a whole number of points, 1 or more; got {points!r}. "
                            f"The NHS Making Data Count default is 6 (NHSRplotthedots uses 7).")


def _runs_of(mask: np.ndarray, points: int) -> np.ndarray:
    """True for every element of a run of consecutive True values at least ``points`` long."""
    out = np.zeros(mask.shape, dtype=bool)
    start = None
    for i, flag in enumerate([*mask.tolist(), False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            if i - start >= points:
                out[start:i] = True
            start = None
    return out


def outside_limits(value: np.ndarray, lpl: np.ndarray, upl: np.ndarray) -> np.ndarray:
    """+1 where the value is strictly above the upper limit, -1 strictly below the lower, else 0."""
    value, lpl, upl = (np.asarray(a, dtype=float) for a in (value, lpl, upl))
    with np.errstate(invalid="ignore"):
        return np.where(value > upl, 1, np.where(value < lpl, -1, 0))


def shift(value: np.ndarray, centre: np.ndarray, points: int) -> np.ndarray:
    """+1 / -1 for each point of a run of ``points`` or more consecutive points strictly above / below the centre."""
    _check_length("shift_points", points)
    value, centre = np.asarray(value, dtype=float), np.asarray(centre, dtype=float)
    with np.errstate(invalid="ignore"):
        above, below = value > centre, value < centre
    return _runs_of(above, points).astype(int) - _runs_of(below, points).astype(int)


def trend(value: np.ndarray, points: int) -> tuple[np.ndarray, np.ndarray]:
    """Points in a run of ``points`` or more strictly increasing (first array) or decreasing (second) values.

    A turning point can end one trend and start the next, so a point may be in both.
    """
    _check_length("trend_points", points)
    value = np.asarray(value, dtype=float)
    n = value.size
    up, down = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    if n < 2:
        return up, down
    step = np.diff(value)
    for sign, out in ((1, up), (-1, down)):
        rising = np.sign(step) == sign  # rising[i]: value[i + 1] moves in this direction from value[i]
        i = 0
        while i < n - 1:
            if not rising[i]:
                i += 1
                continue
            j = i
            while j < n - 1 and rising[j]:
                j += 1
            if j - i + 1 >= points:  # points i..j inclusive
                out[i:j + 1] = True
            i = j
    return up, down


def two_in_three(value: np.ndarray, centre: np.ndarray, lower_2sigma: np.ndarray, upper_2sigma: np.ndarray,
                 lpl: np.ndarray | None = None, upl: np.ndarray | None = None, *, same_side: bool = True,
                 highlight_window: bool = False) -> np.ndarray:
    """Two or three of any three consecutive points beyond the same two-sigma line.

    Flags (+1 high, -1 low) the points beyond the line; with ``highlight_window`` all three points of the
    window, as PowerBI-SPC's option does. ``same_side`` requires all three points on the same side of the
    centre (MDC, NHSRplotthedots); points beyond ``lpl``/``upl`` do not count (pass None for no such limit).
    """
    value = np.asarray(value, dtype=float)
    n = value.size
    inf = np.full(n, np.inf)
    upl = inf if upl is None else np.asarray(upl, dtype=float)
    lpl = -inf if lpl is None else np.asarray(lpl, dtype=float)
    centre, lower_2sigma, upper_2sigma = (np.asarray(a, dtype=float) for a in (centre, lower_2sigma, upper_2sigma))
    out = np.zeros(n, dtype=int)
    with np.errstate(invalid="ignore"):
        near = {1: (value > upper_2sigma) & (value <= upl), -1: (value < lower_2sigma) & (value >= lpl)}
        side = {1: value > centre, -1: value < centre}
    for start in range(max(n - 2, 0)):
        window = slice(start, start + 3)
        for sign in (1, -1):
            if near[sign][window].sum() < 2:
                continue
            if same_side and not side[sign][window].all():
                continue
            flagged = np.ones(3, dtype=bool) if highlight_window else near[sign][window]
            out[window][flagged] = sign
    return out
