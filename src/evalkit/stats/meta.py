"""Random-effects meta-analysis: one estimate per group pooled by DerSimonian-Laird, through statsmodels.

:func:`random_effects` takes one row per group (a locality's level change and
its standard error, on the model's linear scale) and calls
``statsmodels.stats.meta_analysis.combine_effects(method_re="dl")``. Every
number is statsmodels', with one rule added, on purpose:

* DerSimonian & Laird (1986) Control Clin Trials 7:177 truncate the
  between-group variance at zero, tau2 = max(0, (Q - df) / C), as R's metafor
  ``rma(method="DL")`` and meta ``metagen`` do. statsmodels 0.15's
  ``combine_effects`` does not: when Q < df it returns a negative tau2 and
  weights 1 / (v + tau2). There the random-effects result with tau2 = 0 is the
  fixed-effect (inverse-variance) result, so this module reports statsmodels'
  ``fixed effect`` row and its fixed-effect weights, with tau2 = 0 and
  I2 = 0 (Higgins & Thompson 2002, Stat Med 21:1539: I2 = max(0, (Q - df) / Q)),
  and says so in ``tau2_truncated``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter
from statsmodels.stats.meta_analysis import combine_effects

from evalkit.errors import AnalysisError
from evalkit.stats.describe import conf_label

METHOD_RE = "dl"  # DerSimonian-Laird one-step estimator of tau2 (statsmodels' name)
MIN_GROUPS = 2  # Q has k - 1 degrees of freedom: nothing to pool, or to test, with one group
SCALES = {"log": "ratio", "logit": "odds ratio", "identity": "difference"}
"""The estimate's scale -> what exp(estimate) is (log: a rate or risk ratio; logit: an odds ratio); identity: none."""
GROUP_COLUMNS = ("group", "estimate", "std_error", "ci_lower", "ci_upper", "weight", "ratio", "ratio_ci_lower",
                 "ratio_ci_upper")
SUMMARY_COLUMNS = ("k", "estimate", "std_error", "ci_lower", "ci_upper", "ratio", "ratio_ci_lower",
                   "ratio_ci_upper", "tau2", "i2", "q", "q_df", "q_p_value", "conf_level", "scale", "method",
                   "tau2_truncated")


def _num(value: float) -> str:
    size = abs(value)
    return f"{value:,.0f}" if size >= 100 else f"{value:.1f}" if size >= 10 else f"{value:.3g}"


def _pct(ratio: float) -> str:
    return f"{abs(ratio - 1) * 100:.1f}% {'increase' if ratio >= 1 else 'decrease'}"


@dataclass(frozen=True)
class MetaResult:
    """A random-effects meta-analysis with its options.

    ``groups()`` columns, one row per group in the caller's order: ``group``; ``estimate``, ``std_error``
    (as given); ``ci_lower``, ``ci_upper`` (estimate -/+ z x std_error, statsmodels); ``weight`` (the group's
    share of the random-effects weight, 1 / (v + tau2) normalised; fixed-effect weights where tau2 is
    truncated); ``ratio``, ``ratio_ci_lower``, ``ratio_ci_upper`` (exp of the three, for log and logit
    scales; NaN on the identity scale).

    ``summary()`` columns, one row: ``k`` (groups); ``estimate``, ``std_error``, ``ci_lower``, ``ci_upper``
    (the pooled random-effects estimate on the given scale, normal interval); ``ratio``,
    ``ratio_ci_lower``, ``ratio_ci_upper`` (exp of those for log and logit scales); ``tau2`` (between-group
    variance, DerSimonian-Laird, truncated at 0); ``i2`` (share of the variation beyond chance, 0 to 1);
    ``q``, ``q_df``, ``q_p_value`` (Cochran's Q test of homogeneity, chi-square on k - 1 df);
    ``conf_level``; ``scale``; ``method`` (``dl``); ``tau2_truncated`` (statsmodels' tau2 was negative).
    """

    scale: str
    alpha: float
    tau2_truncated: bool
    options: dict
    table: pd.DataFrame = field(repr=False, compare=False)
    pooled: pd.DataFrame = field(repr=False, compare=False)
    model: object = field(repr=False, compare=False)
    """The statsmodels ``CombineResults``."""

    def groups(self) -> pd.DataFrame:
        return self.table.copy()

    def summary(self) -> pd.DataFrame:
        return self.pooled.copy()

    @property
    def has_ratio(self) -> bool:
        return self.scale in ("log", "logit")

    # ------------------------------------------------------------------ plot

    def plot(self, ax: Axes | None = None, *, xlabel: str | None = None) -> Axes:
        """Forest plot: each group's estimate (a square sized by its weight) with its interval, the pooled
        estimate as a diamond, and a vertical line at no change (1 for ratios, on a log axis; else 0)."""
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.45 * (len(self.table) + 3)))
        est, lo, hi = (("ratio", "ratio_ci_lower", "ratio_ci_upper") if self.has_ratio
                       else ("estimate", "ci_lower", "ci_upper"))
        rows, pooled = self.table, self.pooled.iloc[0]
        y = np.arange(len(rows), 0, -1, dtype=float) + 1
        ax.hlines(y, rows[lo], rows[hi], color="black", lw=1)
        sizes = 30 + 200 * rows["weight"].to_numpy(dtype=float)
        ax.scatter(rows[est], y, s=sizes, marker="s", color="#005EB8", zorder=3,
                   label=f"{self.options['groups_label']} (size: weight) with {conf_label(self.alpha)} CI")
        low, mid, high = pooled[lo], pooled[est], pooled[hi]
        ax.fill([low, mid, high, mid], [0.5, 0.8, 0.5, 0.2], color="#231F20", zorder=3,
                label=f"pooled (random effects) with {conf_label(self.alpha)} CI")
        ax.axvline(1.0 if self.has_ratio else 0.0, color="grey", ls="--", lw=1, label="no change")
        if self.has_ratio:
            ax.set_xscale("log")
            plain = FuncFormatter(lambda value, _: f"{value:.3g}")
            ax.xaxis.set_major_formatter(plain)
            ax.xaxis.set_minor_formatter(plain)
        ax.set_yticks([*y, 0.5], [*map(str, rows["group"]), "Pooled"])
        ax.set_ylim(-0.3, y.max() + 0.7 if len(y) else 1.5)
        ax.set_xlabel(xlabel or (SCALES[self.scale].capitalize() if self.has_ratio else "Estimate"))
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), fontsize="small", ncol=2, frameon=False)
        return ax

    # ------------------------------------------------------------------ prose

    def _pooled_words(self) -> str:
        p, level = self.pooled.iloc[0], conf_label(self.alpha)
        if self.has_ratio:
            return (f"a {SCALES[self.scale]} of {p['ratio']:.3f} ({level} CI {p['ratio_ci_lower']:.3f} to "
                    f"{p['ratio_ci_upper']:.3f}), a {_pct(p['ratio'])}")
        return f"{_num(p['estimate'])} ({level} CI {_num(p['ci_lower'])} to {_num(p['ci_upper'])})"

    def alt_text(self) -> str:
        """A description of :meth:`plot` for readers who cannot see it."""
        name = SCALES[self.scale] if self.has_ratio else "estimate"
        parts = [f"{g} {(r if self.has_ratio else e):.3g}" for g, r, e in
                 zip(self.table["group"], self.table["ratio"], self.table["estimate"], strict=True)]
        return (f"Forest plot of the {name} in {len(self.table)} {self.options['groups_label']}, each with its "
                f"{conf_label(self.alpha)} confidence interval: {'; '.join(parts)}. Pooled: {self._pooled_words()}. A dashed line marks "
                "no change.")

    def assumptions(self) -> str:
        return ("The random-effects model assumes that each group's true effect is drawn from a normal distribution "
                "around the pooled mean, that the groups are independent, and that each group's standard error is "
                "known rather than estimated; with few groups tau2 is imprecise and the interval of the pooled "
                "effect can be too narrow.")

    def narrative(self) -> str:
        """Plain English: the pooled effect, heterogeneity (tau2, I2, Q), then :meth:`assumptions`."""
        p = self.pooled.iloc[0]
        truncated = (" (Q was below its degrees of freedom, so tau2 is set to 0 and the random-effects estimate "
                     "equals the fixed-effect one)" if self.tau2_truncated else "")
        label = self.options["groups_label"]
        return (f"Pooled across {int(p['k'])} {label} by a DerSimonian-Laird random-effects meta-analysis, the "
                f"estimate is {self._pooled_words()}. Between-group variance tau2 = {p['tau2']:.3g}{truncated}; "
                f"I2 = {p['i2'] * 100:.0f}% of the variation between {label} is beyond chance; Cochran's Q = "
                f"{p['q']:.2f} on {int(p['q_df'])} df, p = {p['q_p_value']:.3g}. {self.assumptions()}")


def _check(data: pd.DataFrame, estimate_col: str, std_error_col: str, group_col: str, scale: str,
           alpha: float) -> None:
    if not isinstance(data, pd.DataFrame):
        raise AnalysisError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
    missing = [c for c in (estimate_col, std_error_col, group_col) if c not in data.columns]
    if missing:
        raise AnalysisError(f"data lacks the columns {missing}; it has {list(data.columns)}.")
    if scale not in SCALES:
        raise AnalysisError(f"scale must be one of {', '.join(SCALES)}; got {scale!r}.")
    if not isinstance(alpha, float | int) or not 0 < alpha < 1:
        raise AnalysisError(f"alpha must be between 0 and 1 (0.05 for 95% intervals), got {alpha!r}.")
    if len(data) < MIN_GROUPS:
        raise AnalysisError(f"a meta-analysis needs at least {MIN_GROUPS} groups; got {len(data)}.")
    duplicated = data[group_col][data[group_col].duplicated()].tolist()
    if duplicated:
        raise AnalysisError(f"{group_col} must name each group once; repeated: {duplicated[:5]}.")
    estimate = pd.to_numeric(data[estimate_col], errors="coerce").to_numpy(dtype=float)
    se = pd.to_numeric(data[std_error_col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(estimate) | ~np.isfinite(se) | (se <= 0)
    if bad.any():
        raise AnalysisError(f"{estimate_col} must be finite and {std_error_col} finite and positive; groups "
                            f"{data[group_col][bad].tolist()[:5]} are not.")


def random_effects(data: pd.DataFrame, *, estimate_col: str = "estimate", std_error_col: str = "std_error",
                   group_col: str = "group", scale: str = "log", alpha: float = 0.05,
                   groups_label: str = "groups") -> MetaResult:
    """Pool one estimate per group with a DerSimonian-Laird random-effects meta-analysis (statsmodels).

    ``data``: one row per group (not changed). ``groups_label``: what the groups are called in the plot and
    prose (e.g. ``"localities"``). ``scale``: the estimates' scale, ``log`` (ratios reported as
    exp), ``logit`` (odds ratios) or ``identity``. ``alpha``: 1 - confidence level. Raises
    :class:`~evalkit.errors.AnalysisError` for missing columns, fewer than two groups, repeated groups,
    missing or infinite estimates and standard errors that are not positive. See :class:`MetaResult`.
    """
    _check(data, estimate_col, std_error_col, group_col, scale, alpha)
    groups = [str(g) for g in data[group_col]]
    effect = data[estimate_col].to_numpy(dtype=float)
    variance = data[std_error_col].to_numpy(dtype=float) ** 2
    model = combine_effects(effect, variance, method_re=METHOD_RE, row_names=groups, alpha=alpha)
    frame = model.summary_frame(alpha=alpha)
    truncated = bool(model.tau2 < 0)
    pooled_row = frame.loc["fixed effect" if truncated else "random effect"]
    weights = frame["w_fe" if truncated else "w_re"].iloc[: len(groups)].to_numpy(dtype=float)
    table = pd.DataFrame({"group": groups, "estimate": effect, "std_error": np.sqrt(variance),
                          "ci_lower": frame["ci_low"].iloc[: len(groups)].to_numpy(dtype=float),
                          "ci_upper": frame["ci_upp"].iloc[: len(groups)].to_numpy(dtype=float), "weight": weights})
    pooled = {"k": len(groups), "estimate": float(pooled_row["eff"]), "std_error": float(pooled_row["sd_eff"]),
              "ci_lower": float(pooled_row["ci_low"]), "ci_upper": float(pooled_row["ci_upp"])}
    for name in ("estimate", "ci_lower", "ci_upper"):
        out = "ratio" if name == "estimate" else f"ratio_{name}"
        table[out] = np.exp(table[name]) if scale != "identity" else np.nan
        pooled[out] = float(np.exp(pooled[name])) if scale != "identity" else np.nan
    homogeneity = model.test_homogeneity()
    pooled |= {"tau2": 0.0 if truncated else float(model.tau2), "i2": max(0.0, float(model.i2)),
               "q": float(homogeneity.statistic), "q_df": int(homogeneity.df), "q_p_value": float(homogeneity.pvalue),
               "conf_level": 1 - alpha, "scale": scale, "method": METHOD_RE, "tau2_truncated": truncated}
    pooled_frame = pd.DataFrame([pooled], columns=list(SUMMARY_COLUMNS))
    options = {"estimate_col": estimate_col, "std_error_col": std_error_col, "group_col": group_col,
               "groups_label": groups_label}
    return MetaResult(scale=scale, alpha=float(alpha), tau2_truncated=truncated, options=options,
                      table=table[list(GROUP_COLUMNS)], pooled=pooled_frame, model=model)


__all__ = ["GROUP_COLUMNS", "MetaResult", "SUMMARY_COLUMNS", "random_effects"]
