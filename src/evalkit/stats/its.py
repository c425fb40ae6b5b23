"""Interrupted time series (segmented regression): the summative core.

:func:`fit` estimates the level and slope change at an intervention, with
seasonality, covariates, a transition period, a comparator series, and the
error model the data need; it returns an :class:`ItsResult`.

Module map: :mod:`~evalkit.stats.its_design` (option and data checks, the
design matrix), :mod:`~evalkit.stats.its_models` (estimation: families x
error models), :mod:`~evalkit.stats.its_result` (the result: summary,
effects, counterfactual, diagnostics, plots, narrative).

Conventions (Stata ``itsa``, Linden 2015; corrected Lopez Bernal 2017): t
counts periods from 0 at the first one; ``post`` is 1 from the intervention
period; the level change is measured at the intervention period; the slope
term is (t - t_intervention) x post.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evalkit.stats.its_design import ERRORS, FAMILIES, Design, build_design, check_options
from evalkit.stats.its_models import Fitted, auto_hac_lags, estimate
from evalkit.stats.its_result import EFFECT_COLUMNS, SUMMARY_COLUMNS, TERMS, ItsResult

ALPHA = 0.05  # two-sided 95% intervals, the convention of NHS reporting


def _term_weights(design: Design) -> list[tuple[str, str, dict[str, float]]]:
    """(group, term, {design column: weight}) for every summary row."""
    base = {"baseline_level": {"const": 1}, "pre_slope": {"time": 1}, "level_change": {"level": 1},
            "slope_change": {"slope": 1}, "post_slope": {"time": 1, "slope": 1}}
    if "slope" not in design.columns:
        base = {k: v for k, v in base.items() if k in ("baseline_level", "pre_slope", "level_change")}
    if not design.controlled:
        return [("treated", term, w) for term, w in base.items()]
    diff = {term: {f"z_{k}" if k != "const" else "z": v for k, v in w.items()} for term, w in base.items()}
    rows = [("treated", term, base[term] | diff[term]) for term in base]
    rows += [("comparator", term, w) for term, w in base.items()]
    return rows + [("difference", term, w) for term, w in diff.items()]


def _summary(design: Design, fitted: Fitted, alpha: float) -> pd.DataFrame:
    spec = _term_weights(design)
    matrix = np.array([[w.get(name, 0.0) for name in design.columns] for _, _, w in spec])
    table = fitted.contrast(matrix, alpha)
    table.insert(0, "term", [term for _, term, _ in spec])
    table.insert(0, "group", [group for group, _, _ in spec])
    table["conf_level"] = 1 - alpha
    if fitted.link in ("log", "logit"):
        for column, source in zip(("ratio", "ratio_ci_lower", "ratio_ci_upper"),
                                  ("estimate", "ci_lower", "ci_upper"), strict=True):
            table[column] = np.exp(table[source])
    return table


def fit(data: pd.DataFrame, *, value_col: str, date_col: str, intervention: object, family: str = "gaussian",
        denominator_col: str | None = None, errors: str = "ols", hac_lags: int | None = None,
        arma_order: tuple[int, int] = (1, 0), slope_change: bool = True, seasonality: object = None,
        covariates: tuple[str, ...] = (), transition: int = 0, group_col: str | None = None,
        treated: object = None, alpha: float = ALPHA, hac_panel: bool = False) -> ItsResult:
    """Fit a segmented regression to an interrupted time series.

    Parameters
    ----------
    data
        Tidy frame, one row per period (per series for a controlled ITS, rows sorted by
        (``group_col``, ``date_col``)). Not modified.
    value_col, date_col
        Outcome, and period: monthly dates (any day within the month counts as that month) or
        whole-number periods such as years.
    intervention
        First period with the intervention in place (a date or an integer, like ``date_col``).
    family
        ``gaussian``, ``poisson``, ``quasipoisson``, ``negative_binomial`` or ``binomial``
        (see :mod:`evalkit.stats.its_models`).
    denominator_col
        Counts: exposure, entered as offset log(denominator). Binomial: number of trials.
    errors
        ``ols``, ``newey_west``, ``prais_winsten`` (AR(1) errors, rho by REML; quasi-likelihood GLS for
        count and binomial families) or ``arma`` (gaussian, one series).
    hac_lags
        Newey-West lag; None applies floor(4 (n/100)^(2/9)) (Newey & West 1994), n = periods in
        the treated series' fit.
    arma_order
        (p, q) of the error process when ``errors="arma"``.
    slope_change
        False fits a level-change-only model (no ``slope_change``/``post_slope`` rows).
    seasonality
        None; ``"month"`` (indicators, reference = the first period's month); or k harmonic pairs
        sin/cos(2 pi j month / 12), j = 1..k. Dates only.
    covariates
        Extra numeric columns (event or strike dummies, say).
    transition
        Periods from the intervention left out of the fit (t keeps counting).
    group_col, treated
        Controlled ITS: the column naming each series and the treated series' value; every other
        series is a comparator (pooled, as Linden's ``itsa``).
    alpha
        1 - confidence level.
    hac_panel
        Controlled ITS with Newey-West: False (default) treats the stack as one series (Stata
        ``newey, force``, as Linden); True restarts lags within each series (``hac-panel``).
        Recorded in ``result.options["hac_variant"]``.
    """
    covariates = tuple(covariates)
    check_options(family=family, errors=errors, hac_lags=hac_lags, arma_order=arma_order, seasonality=seasonality,
                  transition=transition, alpha=alpha, denominator_col=denominator_col, group_col=group_col,
                  treated=treated)
    design = build_design(data, value_col=value_col, date_col=date_col, intervention=intervention, family=family,
                          denominator_col=denominator_col, slope_change=slope_change, seasonality=seasonality,
                          covariates=covariates, transition=transition, group_col=group_col, treated=treated)
    fitted = estimate(design, family=family, errors=errors, hac_lags=hac_lags, arma_order=tuple(arma_order),
                      hac_panel=hac_panel)
    options = {"value_col": value_col, "date_col": date_col, "intervention": design.intervention, "family": family,
               "denominator_col": denominator_col, "errors": errors, "hac_lags": fitted.info.get("hac_lags", hac_lags),
               "arma_order": tuple(arma_order), "slope_change": slope_change, "seasonality": seasonality,
               "covariates": covariates, "transition": transition, "group_col": group_col, "treated": treated,
               "hac_panel": hac_panel, "hac_variant": fitted.info.get("hac_variant"),
               "rho": fitted.info.get("rho"), "n": int(design.fit_frame.shape[0])}
    return ItsResult(design=design, fitted=fitted, options=options, alpha=alpha,
                     table=_summary(design, fitted, alpha))


# auto() chooses the family and error model; it calls fit() at run time, so importing it here is safe.
from evalkit.stats.its_auto import AutoResult, auto, choose  # noqa: E402


__all__ = ["ALPHA", "EFFECT_COLUMNS", "ERRORS", "FAMILIES", "SUMMARY_COLUMNS", "TERMS", "AutoResult", "ItsResult",
           "auto", "auto_hac_lags", "choose", "fit"]
