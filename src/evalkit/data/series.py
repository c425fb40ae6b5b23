"""Monthly series and survey waves for one locality, built from the processed tables.

The processed observations (:mod:`evalkit.data.store`) hold one row per
organisation, measure and month. Analyses and charts want one row per month
for a locality: :func:`measure_series` sums the organisations' numerators and
denominators and computes the reported value from the sums. Survey-wave
measures come from respondent-level answers instead: :func:`survey_waves` pools
the item responses of each wave.

Months without any data are kept as rows with missing values between a
series' first and last month, so gaps stay visible in tables and charts and are
never filled in.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterable

import pandas as pd

from evalkit.config.models import Measure
from evalkit.errors import DataQualityWarning, DataValidationError

SERIES_COLUMNS = ("locality", "measure_id", "period", "numerator", "denominator", "value", "n_organisations")
"""Columns of :func:`measure_series`, in order."""

WAVE_COLUMNS = (
    "locality", "measure_id", "wave", "start", "end", "n_respondents", "numerator", "denominator", "value",
)
"""Columns of :func:`survey_waves`, in order."""

WAVE_ORDER = ("pre", "post")
"""Survey wave codes in time order, as ingest writes them (programme.yml ``values.wave``)."""

_EXAMPLES = 3  # rows quoted in an error message


def _require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"The {what} table lacks the columns {missing} (it has {list(frame.columns)}). "
            "Pass the table read by evalkit.data.store, or rerun `evalkit ingest`."
        )


def _pick_measure(observations: pd.DataFrame, measure_id: str | None) -> str:
    ids = sorted(observations["measure_id"].dropna().unique())
    if measure_id is not None:
        return measure_id
    if len(ids) != 1:
        shown = ", ".join(ids[:8]) + (", ..." if len(ids) > 8 else "")
        raise DataValidationError(
            f"The observations hold {len(ids)} measures ({shown or 'none'}): pass measure_id= to choose one."
        )
    return ids[0]


def _examples(rows: pd.DataFrame) -> str:
    return ", ".join(f"{r.organisation} {r.period:%Y-%m}" for r in rows.head(_EXAMPLES).itertuples())


def _usable(rows: pd.DataFrame, measure: Measure, measure_id: str) -> pd.DataFrame:
    """Rows that can join the sums: a numerator always, and a denominator unless the measure is a count."""
    bad = rows[rows["numerator"].isna()]
    if len(bad):
        raise DataValidationError(
            f"observations: {len(bad)} row(s) of measure {measure_id!r} have no numerator (e.g. {_examples(bad)}); "
            "ingest never writes such rows. Rerun `evalkit ingest` to rebuild data/processed."
        )
    if measure.kind == "count":
        return rows
    lone = rows["denominator"].isna()
    if lone.any():
        warnings.warn(
            f"{measure_id}: {int(lone.sum())} organisation-month(s) have a numerator but no denominator "
            f"(e.g. {_examples(rows[lone])}); they are left out of the {measure.kind}, which needs both. "
            "ingest_report.json lists them under unmatched_numerators; send the missing denominators and re-ingest.",
            DataQualityWarning, stacklevel=3,
        )
    return rows[~lone]


def unpaired_numerators(observations: pd.DataFrame, *, measures: dict[str, Measure],
                        locality: str | None = None) -> pd.DataFrame:
    """Rows of rate, proportion and mean measures with a numerator but no denominator.

    :func:`measure_series` leaves these out; a report lists them. Columns:
    ``locality``, ``measure_id``, ``organisation``, ``period``, ``numerator``.
    """
    _require(observations, ("locality", "organisation", "measure_id", "period", "numerator", "denominator"),
             "observations")
    ids = [m for m, measure in measures.items() if measure.kind != "count"]
    keep = observations["measure_id"].isin(ids) & observations["denominator"].isna()
    keep &= observations["numerator"].notna()
    if locality is not None:
        keep &= observations["locality"] == locality
    columns = ["locality", "measure_id", "organisation", "period", "numerator"]
    return observations.loc[keep, columns].sort_values(columns[:4], kind="stable").reset_index(drop=True)


def _month_grid(start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    return pd.date_range(start, end, freq="MS").as_unit("ms")


def measure_series(
    observations: pd.DataFrame,
    *,
    measure: Measure,
    measure_id: str | None = None,
    locality: str | None = None,
    organisations: Iterable[str] | None = None,
) -> pd.DataFrame:
    """One monthly series per locality for one measure, summed over organisations.

    Parameters
    ----------
    observations
        The processed observations (``evalkit.data.store.load_observations``).
        Not modified.
    measure
        The measure's definition from programme.yml; its ``kind`` and ``scale``
        turn sums into the reported value.
    measure_id
        The measure's id; may be left out when ``observations`` hold one measure.
    locality
        Keep only this locality; ``None`` gives one series per locality.
    organisations
        Keep only these organisation codes (e.g. the care homes); ``None`` keeps all.

    Returns
    -------
    DataFrame with one row per locality and month from the first to the last
    month with data, sorted by locality and period:

    ``locality``, ``measure_id``
        as given.
    ``period``
        the month (its first day, ``datetime64[ms]``).
    ``numerator``, ``denominator``
        sums over the organisations reporting that month (``denominator`` is
        missing for counts).
    ``value``
        ``numerator / denominator * measure.scale`` for rates, proportions and
        means; the numerator for counts.
    ``n_organisations``
        how many organisations' rows were summed that month (0 in a gap).

    Months with no data at all are rows with missing numerator, denominator and
    value: gaps are shown, never interpolated. For rates, proportions and means,
    an organisation-month with a numerator but no denominator (ingest keeps
    incident counts whose bed days were rejected) cannot be divided: it is left
    out, with a :class:`~evalkit.errors.DataQualityWarning` naming it, and
    :func:`unpaired_numerators` lists such rows for a report.
    """
    _require(observations, ("locality", "organisation", "measure_id", "period", "numerator", "denominator"),
             "observations")
    measure_id = _pick_measure(observations, measure_id)
    keep = observations["measure_id"] == measure_id
    if locality is not None:
        keep &= observations["locality"] == locality
    if organisations is not None:
        keep &= observations["organisation"].isin(list(organisations))
    rows = observations.loc[keep, ["locality", "organisation", "period", "numerator", "denominator"]].copy()
    rows = _usable(rows, measure, measure_id)
    rows["period"] = pd.to_datetime(rows["period"]).dt.to_period("M").dt.to_timestamp().astype("datetime64[ms]")

    sums = (
        rows.groupby(["locality", "period"], sort=True)
        .agg(
            numerator=("numerator", "sum"),
            denominator=("denominator", lambda s: s.sum(min_count=1)),
            n_organisations=("organisation", "nunique"),
        )
        .reset_index()
    )
    pieces = []
    for loc, block in sums.groupby("locality", sort=True):
        grid = pd.DataFrame({"period": _month_grid(block["period"].min(), block["period"].max())})
        full = grid.merge(block.drop(columns="locality"), on="period", how="left")
        full.insert(0, "locality", loc)
        pieces.append(full)
    if pieces:
        series = pd.concat(pieces, ignore_index=True)
    else:
        series = pd.DataFrame({"locality": pd.Series(dtype="str"), "period": pd.Series(dtype="datetime64[ms]"),
                               "numerator": pd.Series(dtype="float64"), "denominator": pd.Series(dtype="float64"),
                               "n_organisations": pd.Series(dtype="int64")})
    series["n_organisations"] = series["n_organisations"].fillna(0).astype("int64")
    series["measure_id"] = measure_id
    if measure.kind == "count":
        series["value"] = series["numerator"].astype("float64")
    else:
        denominator = series["denominator"].where(series["denominator"] > 0)
        series["value"] = series["numerator"] / denominator * measure.scale
    return series[list(SERIES_COLUMNS)]


def survey_waves(
    survey: pd.DataFrame,
    *,
    measure: Measure,
    measure_id: str,
    locality: str | None = None,
    item_domains: Iterable[str] = (),
    organisations: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Percent of positive item responses per survey wave, pooled over respondents and items.

    Parameters
    ----------
    survey
        The processed survey responses (``evalkit.data.store.load_survey``). Not modified.
    measure, measure_id
        The survey-wave measure and its id (the reported value is ``positive /
        responses * measure.scale``, a percentage).
    locality, organisations
        As in :func:`measure_series`.
    item_domains
        Count only items of these survey domains (the source's
        ``measures.<id>.item_domains``); empty counts every item.

    Returns
    -------
    DataFrame with one row per locality and wave (``pre`` before ``post``):
    ``locality``, ``measure_id``, ``wave``, ``start`` and ``end`` (first and
    last survey date, ``datetime64[ms]``), ``n_respondents``, ``numerator``
    (positive responses), ``denominator`` (item responses) and ``value``.
    """
    _require(survey, ("locality", "organisation", "respondent_id", "wave", "survey_date", "item_domain",
                      "positive"), "survey responses")
    keep = pd.Series(True, index=survey.index)
    if locality is not None:
        keep &= survey["locality"] == locality
    if organisations is not None:
        keep &= survey["organisation"].isin(list(organisations))
    domains = list(item_domains)
    if domains:
        keep &= survey["item_domain"].isin(domains)
    rows = survey.loc[keep, ["locality", "respondent_id", "wave", "survey_date", "positive"]].copy()
    unknown = sorted(set(rows["wave"].dropna()) - set(WAVE_ORDER))
    if unknown:
        raise DataValidationError(
            f"survey responses: unknown wave code(s) {unknown}; ingest writes {list(WAVE_ORDER)}. "
            "Map the file's wave labels under the survey source's `values.wave` and rerun `evalkit ingest`."
        )
    if rows["positive"].isna().any():
        raise DataValidationError(
            f"survey responses: {int(rows['positive'].isna().sum())} row(s) have no `positive` flag; "
            "rerun `evalkit ingest`."
        )
    rows["positive"] = rows["positive"].astype(bool)
    waves = (
        rows.groupby(["locality", "wave"], sort=False)
        .agg(
            start=("survey_date", "min"),
            end=("survey_date", "max"),
            n_respondents=("respondent_id", "nunique"),
            numerator=("positive", "sum"),
            denominator=("positive", "size"),
        )
        .reset_index()
    )
    waves["wave_order"] = waves["wave"].map({w: i for i, w in enumerate(WAVE_ORDER)})
    waves = waves.sort_values(["locality", "wave_order"], kind="stable").drop(columns="wave_order")
    waves["start"] = pd.to_datetime(waves["start"]).astype("datetime64[ms]")
    waves["end"] = pd.to_datetime(waves["end"]).astype("datetime64[ms]")
    waves["numerator"] = waves["numerator"].astype("float64")
    waves["denominator"] = waves["denominator"].astype("float64")
    waves["n_respondents"] = waves["n_respondents"].astype("int64")
    waves["measure_id"] = measure_id
    waves["value"] = waves["numerator"] / waves["denominator"] * measure.scale
    return waves[list(WAVE_COLUMNS)].reset_index(drop=True)


def data_period(
    observations: pd.DataFrame, *, locality: str, measure_ids: Iterable[str]
) -> tuple[dt.date, dt.date] | None:
    """First and last month with data for ``locality`` among ``measure_ids``; ``None`` when there are none."""
    _require(observations, ("locality", "measure_id", "period"), "observations")
    rows = observations.loc[
        (observations["locality"] == locality) & observations["measure_id"].isin(list(measure_ids)), "period"
    ]
    if rows.empty:
        return None
    first, last = pd.to_datetime(rows.min()), pd.to_datetime(rows.max())
    return dt.date(first.year, first.month, 1), dt.date(last.year, last.month, 1)


def add_months(month: dt.date, months: int) -> dt.date:
    """The first day of the month ``months`` after (or, if negative, before) ``month``."""
    index = month.year * 12 + month.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def month_count(start: dt.date, end: dt.date) -> int:
    """Calendar months from ``start`` to ``end``, both included (0 when end is before start)."""
    return max(0, (end.year - start.year) * 12 + end.month - start.month + 1)


__all__ = [
    "SERIES_COLUMNS",
    "WAVE_COLUMNS",
    "WAVE_ORDER",
    "add_months",
    "data_period",
    "measure_series",
    "month_count",
    "survey_waves",
    "unpaired_numerators",
]
