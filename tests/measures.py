"""A measure definition for statistics tests: falls with harm, of any kind."""

from __future__ import annotations

from evalkit.config.models import Measure


def measure(kind: str, **extra) -> Measure:
    base = dict(name="Falls with harm", domain="past_harm", family="outcome", kind=kind,
                numerator="Falls with harm", unit="falls", improvement_direction="decrease", streams=("care_homes",))
    if kind in ("rate", "proportion", "mean"):
        base["denominator"] = "Occupied bed days"
    if kind == "rate":
        base["per"] = 1000
    return Measure(**{**base, **extra})
