"""Interrupted time series: the result of :func:`evalkit.stats.its.fit`.

Every number comes from the fitted statsmodels result: linear combinations of
coefficients through ``result.t_test`` and non-linear effects by the delta
method on the same covariance matrix, never by refitting.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from statsmodels.graphics.tsaplots import plot_acf
from statsmodels.stats.diagnostic import acorr_breusch_godfrey, acorr_ljungbox
from statsmodels.stats.stattools import durbin_watson

from evalkit.errors import AnalysisError
from evalkit.stats.describe import conf_label
from evalkit.stats.its_design import Design
from evalkit.stats.its_models import Fitted

TERMS = ("baseline_level", "pre_slope", "level_change", "slope_change", "post_slope")
SUMMARY_COLUMNS = ("group", "term", "estimate", "std_error", "ci_lower", "ci_upper", "p_value", "conf_level")
RATIO_COLUMNS = ("ratio", "ratio_ci_lower", "ratio_ci_upper")
EFFECT_COLUMNS = ("group", "period", "horizon", "fitted", "fitted_ci_lower", "fitted_ci_upper", "counterfactual",
                  "counterfactual_ci_lower", "counterfactual_ci_upper", "absolute_effect", "absolute_effect_ci_lower",
                  "absolute_effect_ci_upper", "relative_effect", "relative_effect_ci_lower", "relative_effect_ci_upper")
DEFAULT_HORIZON = 12  # one year of monthly periods after the intervention
LJUNG_BOX_LAGS = 12  # one seasonal cycle of monthly data
POST_TERMS = ("level", "slope", "z_level", "z_slope")
DIFFERENCE_TERMS = ("z_level", "z_slope")

ERROR_ASSUMPTIONS = {
    "ols": "the errors are independent from one period to the next",
    "newey_west": "any autocorrelation dies out within {hac_lags} period(s), which the Newey-West standard errors "
                  "allow for",
    "prais_winsten": "the errors follow a first-order autoregressive process (rho = {rho:.2f})",
    "arma": "the errors follow the ARMA{order} process fitted by maximum likelihood",
}


def _mean(link: str, eta: np.ndarray) -> np.ndarray:
    if link == "log":
        return np.exp(eta)
    if link == "logit":
        return 1 / (1 + np.exp(-eta))
    return eta


def _mean_slope(link: str, eta: float) -> float:
    mu = float(_mean(link, np.asarray(eta)))
    return mu if link == "log" else mu * (1 - mu) if link == "logit" else 1.0


def _num(value: float) -> str:
    size = abs(value)
    return f"{value:,.0f}" if size >= 100 else f"{value:.1f}" if size >= 10 else f"{value:.3g}"


def _pct(value: float) -> str:
    return f"{abs(value) * 100:.1f}% {'increase' if value >= 0 else 'decrease'}"


@dataclass(frozen=True)
class ItsResult:
    """A fitted segmented regression with its options.

    ``summary()`` columns: ``group`` (``treated``; for a controlled ITS also
    ``comparator`` and ``difference``, treated minus comparator); ``term``
    (``baseline_level``: the linear predictor at t = 0 with seasonal terms and
    covariates at 0 and no offset; ``pre_slope``; ``level_change`` at the
    intervention period; ``slope_change``; ``post_slope`` = pre_slope +
    slope_change; a level-only model has no ``slope_change`` or ``post_slope``
    rows); ``estimate``, ``std_error``, ``ci_lower``, ``ci_upper``,
    ``p_value`` on the linear-predictor scale; ``conf_level`` (1 - alpha); for
    log and logit links ``ratio``, ``ratio_ci_lower``, ``ratio_ci_upper``
    (exp of estimate and limits: rate ratios, or odds ratios for binomial).
    """

    design: Design = field(repr=False)
    fitted: Fitted = field(repr=False)
    options: dict
    alpha: float
    table: pd.DataFrame = field(repr=False, compare=False)

    @property
    def model(self):
        """The statsmodels results object."""
        return self.fitted.result

    def summary(self) -> pd.DataFrame:
        return self.table.copy()

    # ------------------------------------------------------------------ predictions

    def _rows(self) -> pd.DataFrame:
        return self.design.frame

    def _x(self, rows: pd.DataFrame, zero: tuple[str, ...]) -> np.ndarray:
        x = self.design.x(rows).copy()
        for term in zero:
            if term in x:
                x[term] = 0.0
        return x.to_numpy()

    def _offset(self, rows: pd.DataFrame) -> np.ndarray:
        if self.fitted.link == "log" and rows["denominator"].notna().all():
            return np.log(rows["denominator"].to_numpy(dtype=float))
        return np.zeros(len(rows))

    def _band(self, x: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c = self.fitted.contrast(x, self.alpha)
        link = self.fitted.link
        return tuple(_mean(link, c[col].to_numpy() + offset) for col in ("estimate", "ci_lower", "ci_upper"))

    def counterfactual(self) -> pd.DataFrame:
        """Per period and group: ``observed``, ``fitted`` and ``counterfactual`` (post terms zeroed) with
        ``*_ci_lower``/``*_ci_upper``, ``in_fit`` (False for transition periods). Counts for log links
        (offset included), proportions for binomial; ARMA fits show the regression part only."""
        rows = self._rows()
        offset = self._offset(rows)
        fit, fit_lo, fit_hi = self._band(self._x(rows, ()), offset)
        cf, cf_lo, cf_hi = self._band(self._x(rows, POST_TERMS), offset)
        return pd.DataFrame({"group": rows["group"].to_numpy(), "series": rows["series"].to_numpy(),
                             "period": rows["period"].to_numpy(), "t": rows["t"].to_numpy(),
                             "observed": rows["y"].to_numpy(), "fitted": fit, "fitted_ci_lower": fit_lo,
                             "fitted_ci_upper": fit_hi, "counterfactual": cf, "counterfactual_ci_lower": cf_lo,
                             "counterfactual_ci_upper": cf_hi, "in_fit": rows["in_fit"].to_numpy()})

    def _horizons(self, rows: pd.DataFrame, at) -> list[int]:
        t0, last = self.design.t_intervention, int(rows["t"].max())
        if at is None:
            return sorted({h for h in (t0 + DEFAULT_HORIZON, last) if h <= last})
        wanted = [at] if np.isscalar(at) or isinstance(at, (str, pd.Timestamp)) else list(at)
        lookup = {str(p)[:7] if self.design.periods_are_dates else str(p): int(t)
                  for p, t in zip(pd.to_datetime(rows["period"]).dt.strftime("%Y-%m") if self.design.periods_are_dates
                                  else rows["period"], rows["t"], strict=True)}
        out = []
        for value in wanted:
            key = pd.Timestamp(value).strftime("%Y-%m") if self.design.periods_are_dates else str(value)
            if key not in lookup or lookup[key] < t0:
                raise AnalysisError(f"at={value!r} is not a period from the intervention ({self.design.intervention}) "
                                    "to the end of the data; effects are estimated at observed post periods only.")
            out.append(lookup[key])
        return out

    def effects(self, at=None) -> pd.DataFrame:
        """Effect of the intervention at chosen post periods (``at``; default 12 periods after it and the last).

        Columns in :data:`EFFECT_COLUMNS`. ``counterfactual`` zeroes the post terms (seasonality, covariates and
        offset kept); for a controlled ITS the ``difference`` rows compare the treated fit with the treated
        series following the comparator's change (only ``z_level``/``z_slope`` zeroed). ``absolute_effect`` is
        in outcome units (counts with the period's denominator; proportions for binomial), delta-method CI;
        ``relative_effect`` = fitted / counterfactual - 1, from the linear-predictor contrast for log links
        (exp(level + slope x horizon) - 1), otherwise by the delta method (on the log ratio for binomial).
        """
        rows = self._rows()
        link, crit, cov = self.fitted.link, self.fitted.critical(self.alpha), self.fitted.cov
        groups = ["treated"] if not self.design.controlled else ["treated", "comparator", "difference"]
        out = []
        for t in self._horizons(rows[rows["group"] == "treated"], at):
            for group in groups:
                source = "treated" if group == "difference" else group
                row = rows[(rows["group"] == source) & (rows["t"] == t)].iloc[[0]]
                x1 = self._x(row, ())
                x0 = self._x(row, DIFFERENCE_TERMS if group == "difference" else POST_TERMS)
                off = self._offset(row)
                fit = self._band(x1, off)
                cf = self._band(x0, off)
                eta1, eta0 = float(x1[0] @ self.fitted.params + off[0]), float(x0[0] @ self.fitted.params + off[0])
                m1, m0 = float(_mean(link, np.asarray(eta1))), float(_mean(link, np.asarray(eta0)))
                grad = _mean_slope(link, eta1) * x1[0] - _mean_slope(link, eta0) * x0[0]
                se_abs = float(np.sqrt(grad @ cov @ grad))
                if link == "log":
                    c = self.fitted.contrast(x1 - x0, self.alpha).iloc[0]
                    rel = (np.exp(c["estimate"]) - 1, np.exp(c["ci_lower"]) - 1, np.exp(c["ci_upper"]) - 1)
                elif link == "logit":
                    g = (1 - m1) * x1[0] - (1 - m0) * x0[0]
                    lr, se = np.log(m1 / m0), float(np.sqrt(g @ cov @ g))
                    rel = (np.exp(lr) - 1, np.exp(lr - crit * se) - 1, np.exp(lr + crit * se) - 1)
                else:
                    g = x1[0] / m0 - m1 * x0[0] / m0**2
                    r, se = m1 / m0 - 1, float(np.sqrt(g @ cov @ g))
                    rel = (r, r - crit * se, r + crit * se)
                out.append((group, row["period"].iloc[0], t - self.design.t_intervention,
                            fit[0][0], fit[1][0], fit[2][0], cf[0][0], cf[1][0], cf[2][0],
                            m1 - m0, m1 - m0 - crit * se_abs, m1 - m0 + crit * se_abs, *map(float, rel)))
        return pd.DataFrame(out, columns=list(EFFECT_COLUMNS))

    # ------------------------------------------------------------------ diagnostics

    def diagnostics(self) -> pd.DataFrame:
        """Residual checks: columns ``group``, ``test``, ``statistic``, ``p_value``, ``lags``.

        Residuals: OLS/Newey-West raw; Prais-Winsten whitened (transformed model); GLM Pearson; ARMA one-step
        innovations. ``durbin_watson`` and ``ljung_box`` per series (for a controlled ITS the comparator rows
        pool all comparator series' residuals in order); ``breusch_godfrey`` for OLS and Newey-West fits;
        ``dispersion`` (Pearson chi2 / df; 1 for a Poisson-consistent count) for count and binomial families.
        """
        resid, frame = self.fitted.residuals, self.design.frame
        out = []
        for group in frame["group"].unique():
            values = resid[frame.loc[resid.index, "group"] == group].to_numpy()
            lags = int(min(LJUNG_BOX_LAGS, len(values) // 2))
            lb = acorr_ljungbox(values, lags=[lags])
            out.append((group, "durbin_watson", float(durbin_watson(values)), np.nan, np.nan))
            out.append((group, "ljung_box", float(lb["lb_stat"].iloc[0]), float(lb["lb_pvalue"].iloc[0]), lags))
        if self.options["family"] == "gaussian" and self.options["errors"] in ("ols", "newey_west"):
            lags = int(min(LJUNG_BOX_LAGS, len(resid) // 4))
            lm, p, _, _ = acorr_breusch_godfrey(self.fitted.result, nlags=lags, result_object=False)
            out.append(("all", "breusch_godfrey", float(lm), float(p), lags))
        if "dispersion" in self.fitted.info:
            out.append(("all", "dispersion", self.fitted.info["dispersion"], np.nan, np.nan))
        return pd.DataFrame(out, columns=["group", "test", "statistic", "p_value", "lags"])

    # ------------------------------------------------------------------ plots

    def plot(self, ax: Axes | None = None) -> Axes:
        """Observed points, fitted segments, counterfactual with its band, intervention line, transition shaded."""
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 4))
        table = self.counterfactual()
        treated = table[table["group"] == "treated"]
        x = pd.to_datetime(treated["period"]) if self.design.periods_are_dates else treated["period"]
        t0 = self.design.t_intervention
        ax.plot(x, treated["observed"], "o", color="C0", ms=3, label="observed")
        post = (treated["t"] >= t0).to_numpy()
        fit_mask = treated["in_fit"].to_numpy()
        for i, mask in enumerate((~post, post & fit_mask)):
            ax.plot(x[mask], treated["fitted"][mask], "-", color="C0", label="fitted" if i == 0 else None)
        ax.plot(x[post], treated["counterfactual"][post], "--", color="C1", label="counterfactual")
        ax.fill_between(x[post], treated["counterfactual_ci_lower"][post], treated["counterfactual_ci_upper"][post],
                        color="C1", alpha=0.2, label=f"{conf_label(self.alpha)} CI")
        if self.design.controlled:
            comp = table[table["group"] == "comparator"].groupby("t", sort=True)[["observed", "fitted"]].mean()
            cx = x.iloc[: len(comp)] if len(comp) <= len(x) else comp.index
            ax.plot(cx, comp["observed"].to_numpy()[: len(cx)], "s", color="grey", ms=2, label="comparator (mean)")
        start = x.iloc[int(np.flatnonzero(post)[0])]
        ax.axvline(start, color="k", lw=1, label="intervention")
        transition = post & ~fit_mask
        if transition.any():
            ax.axvspan(x[transition].iloc[0], x[transition].iloc[-1], color="grey", alpha=0.2, label="transition")
        ax.set_ylabel(self.options["value_col"])
        ax.legend(loc="best", fontsize="small")
        return ax

    def plot_acf(self, ax: Axes | None = None) -> Axes:
        """Autocorrelation of the treated series' residuals (see :meth:`diagnostics` for which residuals)."""
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3))
        frame = self.design.frame
        resid = self.fitted.residuals
        values = resid[frame.loc[resid.index, "group"] == "treated"].to_numpy()
        plot_acf(values, ax=ax, lags=min(LJUNG_BOX_LAGS * 2, len(values) // 2 - 1), alpha=self.alpha)
        ax.set_title("Residual autocorrelation", loc="left")
        return ax

    # ------------------------------------------------------------------ prose

    def assumptions(self) -> str:
        info = self.fitted.info
        errors = self.options["errors"]
        text = ERROR_ASSUMPTIONS[errors].format(hac_lags=info.get("hac_lags"), rho=info.get("rho", np.nan),
                                                order=tuple(self.options["arma_order"]))
        comparator = (" and that the comparator series would have changed as the treated one did" if
                      self.design.controlled else "")
        return ("The estimates assume that nothing else changed at the same time as the intervention, that the "
                f"pre-intervention trend would have continued without it{comparator}, and that {text}.")

    def narrative(self) -> str:
        table, level = self.table, conf_label(self.alpha)
        group = "difference" if self.design.controlled else "treated"
        ratio = "ratio" in table
        parts = []
        for term, name in (("level_change", "Level change at the intervention"), ("slope_change", "Slope change")):
            row = table[(table["group"] == group) & (table["term"] == term)]
            if row.empty:
                continue
            r = row.iloc[0]
            if ratio:
                parts.append(f"{name}: ratio {r['ratio']:.3f} ({level} CI {r['ratio_ci_lower']:.3f} to "
                             f"{r['ratio_ci_upper']:.3f}), a {_pct(r['ratio'] - 1)}{' per period' if term == 'slope_change' else ''}, "
                             f"p = {r['p_value']:.3g}.")
            else:
                parts.append(f"{name}: {_num(r['estimate'])} ({level} CI {_num(r['ci_lower'])} to {_num(r['ci_upper'])})"
                             f"{' per period' if term == 'slope_change' else ''}, p = {r['p_value']:.3g}.")
        effects = self.effects()
        for _, e in effects[effects["group"] == group].iterrows():
            when = f"{pd.Timestamp(e['period']):%b %Y}" if self.design.periods_are_dates else e["period"]
            parts.append(f"{e['horizon']} periods after the intervention ({when}): fitted {_num(e['fitted'])} "
                         f"against {_num(e['counterfactual'])} expected without it, a {_pct(e['relative_effect'])} "
                         f"({level} CI {e['relative_effect_ci_lower'] * 100:.1f}% to "
                         f"{e['relative_effect_ci_upper'] * 100:.1f}%).")
        return " ".join(parts + [self.assumptions()])


__all__ = ["EFFECT_COLUMNS", "ItsResult", "SUMMARY_COLUMNS", "TERMS"]
