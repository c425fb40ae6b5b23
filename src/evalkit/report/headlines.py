"""The pack's headline findings: three to six plain-English sentences, worded by the strength of the evidence.

Outcome measures speak through their interrupted time series: the modelled
value 12 months after the intervention against the counterfactual, with its
confidence interval; the strength of evidence is read from how far that
interval lies from no change (a z statistic on the log-ratio scale, recovered
from the interval itself). Process and balancing measures speak through their
SPC chart's latest signal. No sentence claims causation: the design shows
what changed and when, not why, and the last sentence says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from IPython.display import HTML
from scipy import stats

from evalkit.report import summative
from evalkit.report.formative import FormativeFit
from evalkit.report.pack import PackView
from evalkit.report.tables import esc

MIN_SENTENCES, MAX_SENTENCES = 3, 6
STRENGTH = ((0.001, "Strong evidence"), (0.01, "Good evidence"), (0.05, "Some evidence"), (0.1, "Weak evidence"))
"""p-value bands and their words, as in the BMJ's guidance on describing evidence (Sterne & Davey Smith 2001:
p-values as graded strength of evidence, not a yes/no threshold)."""
HORIZON = 12  # months after the intervention at which the outcome effect is reported (ItsResult's default)
CAUTION = ("These are changes in time around the programme, not proof that it caused them: other changes at the "
           "same time could explain them.")


def _z_from_ratio_interval(effect: float, low: float, high: float, conf: float) -> float:
    """z of a relative effect from its interval on the log-ratio scale (the model's own scale for counts)."""
    crit = stats.norm.ppf(1 - (1 - conf) / 2)
    log_low, log_high = math.log1p(low), math.log1p(high)
    se = (log_high - log_low) / (2 * crit)
    return math.log1p(effect) / se if se > 0 else float("nan")


def evidence_words(p: float) -> str:
    """'Strong evidence', ..., or 'No clear evidence' for a p-value."""
    for bound, words in STRENGTH:
        if p < bound:
            return words
    return "No clear evidence"


def outcome_effect(fit: summative.MeasureFit, view: PackView) -> dict | None:
    """The effect at the 12-month horizon: relative effect, its interval, p, month; None if not estimable."""
    if fit.result is None:
        return None
    table = summative.effects(fit, view.series[fit.measure_id])
    row = table[table["horizon"] == HORIZON]
    row = (row if len(row) else table).iloc[0]
    values = [row["relative_effect"], row["relative_effect_ci_lower"], row["relative_effect_ci_upper"]]
    if not all(np.isfinite(values)) or min(values) <= -1:
        return None
    conf = 1 - fit.result.fit.alpha
    z = _z_from_ratio_interval(*values, conf)
    p = float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else float("nan")
    return {"effect": values[0], "low": values[1], "high": values[2], "p": p, "conf": conf,
            "month": pd.Timestamp(row["period"])}


def _pct(value: float) -> str:
    return f"{abs(value) * 100:.0f}%"


def _signed(value: float) -> str:
    return f"{value * 100:+.0f}%"


def outcome_sentence(fit: summative.MeasureFit, effect: dict) -> str:
    name = fit.measure.name[:1].lower() + fit.measure.name[1:]
    lower = effect["effect"] < 0
    words = evidence_words(effect["p"])
    interval = (f"{effect['conf'] * 100:.0f}% CI {_signed(effect['low'])} to {_signed(effect['high'])}")
    when = f"{effect['month']:%B %Y}"
    if words == "No clear evidence":
        return (f"No clear evidence that {name} changed after the programme: {_pct(effect['effect'])} "
                f"{'lower' if lower else 'higher'} than expected by {when}, but the interval ({interval}) "
                "includes no change.")
    good = (lower and fit.measure.improvement_direction == "decrease") or (
        not lower and fit.measure.improvement_direction == "increase")
    judgement = "" if fit.measure.improvement_direction == "neutral" else (" (an improvement)" if good else
                                                                            " (a deterioration)")
    return (f"{words} that {name} {'fell' if lower else 'rose'} after the programme{judgement}: "
            f"{_pct(effect['effect'])} {'lower' if lower else 'higher'} than expected by {when} ({interval}).")


def formative_sentence(fit: FormativeFit) -> tuple[int, str] | None:
    """(priority, sentence) for a measure's latest SPC signal; priority 0 for special cause, 1 for stable."""
    chart = fit.spc
    if chart is None or not chart.has_limits:
        return None
    kind = chart.variation_type
    if kind is None:
        return None
    reading = chart.reading(fit.measure.value_label if fit.measure.kind != "proportion" else "%")
    if kind == "common_cause":
        return 1, f"{fit.measure.name}: stable month to month. {reading}"
    return 0, f"{fit.measure.name}: {reading[:1].lower()}{reading[1:]}"


def sentences(view: PackView, formative_fits: Mapping[str, FormativeFit],
              its_fits: Mapping[str, summative.MeasureFit]) -> list[str]:
    """Three to six sentences: outcome effects first (strongest evidence first), then SPC signals."""
    outcomes = []
    for fit in its_fits.values():
        effect = outcome_effect(fit, view)
        if effect is not None:
            outcomes.append((effect["p"], outcome_sentence(fit, effect)))
    chosen = [s for _, s in sorted(outcomes, key=lambda x: x[0])][:MAX_SENTENCES - 2]
    signals = sorted((s for s in (formative_sentence(f) for m, f in formative_fits.items() if m not in its_fits)
                      if s is not None), key=lambda x: x[0])
    room = MAX_SENTENCES - 1 - len(chosen)
    chosen += [s for _, s in signals[:max(room, MIN_SENTENCES - 1 - len(chosen))]]
    return [*chosen[:MAX_SENTENCES - 1], CAUTION]


def headline_findings(view: PackView, formative_fits: Mapping[str, FormativeFit],
                      its_fits: Mapping[str, summative.MeasureFit]) -> HTML:
    """The headline findings as a list, for the top of the pack."""
    items = "".join(f"<li>{esc(s)}</li>" for s in sentences(view, formative_fits, its_fits))
    return HTML(f'<ul class="evalkit-headlines">{items}</ul>')


def effect_cell(fit: summative.MeasureFit | None, view: PackView) -> str:
    """The summary table's effect: '-16% (95% CI -46% to +30%) by Apr 2018', or why there is none."""
    if fit is None:
        return "not modelled (process or balancing measure)"
    effect = outcome_effect(fit, view)
    if effect is None:
        return "not estimable"
    return (f"{_signed(effect['effect'])} ({effect['conf'] * 100:.0f}% CI {_signed(effect['low'])} to "
            f"{_signed(effect['high'])}) by {effect['month']:%b %Y}; {evidence_words(effect['p']).lower()}")


def effect_cells(view: PackView, its_fits: Mapping[str, summative.MeasureFit]) -> dict[str, str]:
    """:func:`effect_cell` of every modelled measure, by measure id (for the summary table)."""
    return {m: effect_cell(fit, view) for m, fit in its_fits.items()}


__all__ = ["CAUTION", "effect_cell", "effect_cells", "evidence_words", "headline_findings", "outcome_effect", "sentences"]
