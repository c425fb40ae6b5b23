"""What the evidence-pack notebook calls: one locality x stream, loaded once, shown section by section.

The notebook ``notebooks/pack.ipynb`` does::

    view = load_pack_view(locality, stream, root=project_root)
    header(view)                       # cover: programme, aim, data period, synthetic-data banner
    headlines(view)                    # one line per measure, before and after
    driver_diagram(view)               # primary driver -> change ideas -> measures
    for measure_id in view.measure_ids:
        measure_section(view, measure_id)   # chart, reading, before/after table
    data_quality(view)
    methods_and_assumptions(view)

Functions that return ``IPython.display.HTML`` show as the cell's result;
:func:`measure_section` displays several outputs itself.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import pandas as pd
from IPython.display import HTML, display
from matplotlib.figure import Figure

from evalkit.config.load import Pack, load_pack, load_programme
from evalkit.config.models import Measure, PackParameters, Programme, Stream, SurveyMeasure, Window
from evalkit.config.paths import ProjectPaths
from evalkit.data import store
from evalkit.data.series import add_months, data_period, measure_series, month_count, survey_waves, unpaired_numerators
from evalkit.errors import DataValidationError
from evalkit.report import tables, text
from evalkit.report.figures import FIGSIZE, accessible_svg, series_chart, style, wave_chart
from evalkit.stats.describe import ALPHA, WaveSummary, WindowSummary, describe_waves, describe_windows

logger = logging.getLogger(__name__)

INGEST_FILE_KEYS = ("rows_read", "rows_accepted", "rows_rejected")
"""Per-file counts read from ingest_report.json (``files``: a list of records, or a mapping by file path)."""


@dataclass(frozen=True)
class PackView:
    """Everything one evidence pack shows, read once from the parameters and the processed tables.

    The series and waves are one locality's, keyed by measure id (monthly and
    survey-wave measures respectively); treat them as read-only.
    """

    locality: str
    stream: str
    paths: ProjectPaths = field(repr=False)
    programme: Programme = field(repr=False)
    pack: Pack = field(repr=False)
    series: Mapping[str, pd.DataFrame] = field(repr=False)
    waves: Mapping[str, pd.DataFrame] = field(repr=False)
    summaries: Mapping[str, WindowSummary | WaveSummary | None] = field(repr=False)
    data_period: tuple[dt.date, dt.date] | None
    ingest_report: Mapping = field(repr=False)
    quarantine: pd.DataFrame = field(repr=False, compare=False)
    unpaired: pd.DataFrame = field(repr=False, compare=False)
    """Organisation-months of this pack's measures with a numerator but no denominator (left out)."""
    alpha: float = ALPHA

    @property
    def locality_name(self) -> str:
        return self.programme.localities[self.locality].name

    @property
    def stream_info(self) -> Stream:
        return self.programme.streams[self.stream]

    @property
    def measures(self) -> dict[str, Measure]:
        return self.programme.stream_measures(self.stream)

    @property
    def measure_ids(self) -> tuple[str, ...]:
        return self.stream_info.measure_ids

    @property
    def policy(self):
        """The programme's disclosure-control policy for counts (``programme.yml``: ``disclosure``)."""
        return self.programme.disclosure

    @property
    def synthetic(self) -> bool:
        return self.programme.programme.synthetic

    @property
    def windows(self) -> tuple[Window, Window]:
        """The before and after windows (see :func:`pack_windows`)."""
        return pack_windows(self.programme, self.pack.parameters)


def pack_windows(programme: Programme, parameters: PackParameters) -> tuple[Window, Window]:
    """Before and after windows: the pack's own, else the programme start to the month before the
    intervention, and the first month after the transition to the programme end (models.Windows)."""
    period, start = programme.programme.period, parameters.intervention.start
    baseline = parameters.windows.baseline or Window(start=period.start, end=add_months(start, -1))
    post = parameters.windows.post or Window(start=parameters.post_start, end=period.end)
    return baseline, post


# --------------------------------------------------------------------------- loading


def _item_domains(programme: Programme, measure_id: str) -> tuple[str, ...]:
    for source in programme.sources.values():
        spec = source.measures.get(measure_id)
        if source.layout == "survey" and isinstance(spec, SurveyMeasure):
            return spec.item_domains
    return ()


def _quarantine_locality(quarantine: pd.DataFrame, programme: Programme, paths: ProjectPaths) -> pd.Series:
    """The locality id of each quarantined row, from its locality label, else its organisation code."""
    orgs = {code: loc for code, (loc, _) in programme.organisation_index().items()}
    out = pd.Series(pd.NA, index=quarantine.index, dtype="object")
    for source_id, rows in quarantine.groupby("source", sort=True):
        source = programme.sources.get(source_id)
        if source is None:
            logger.warning("%s: quarantine file for unknown source %r; its rows are not assigned to a locality",
                           paths.quarantine, source_id)
            continue
        file = paths.quarantine / f"{source_id}.csv"
        raw = pd.read_csv(file, dtype=str, keep_default_na=False)
        if len(raw) != len(rows):
            raise DataValidationError(f"{file} changed while it was being read; run the pack again.")
        label_col, org_col = source.columns.get("locality"), source.columns.get("organisation")
        labels = source.values.get("locality", {})
        by_label = raw[label_col].map(labels) if label_col in raw else pd.Series(pd.NA, index=raw.index)
        by_org = raw[org_col].map(orgs) if org_col in raw else pd.Series(pd.NA, index=raw.index)
        out.loc[rows.index] = by_label.fillna(by_org).to_numpy()
    return out


def load_pack_view(locality: str, stream: str, root: str | Path | None = None, *, alpha: float = ALPHA) -> PackView:
    """Read the parameters and processed tables for one pack, and describe every measure of its stream.

    ``root`` is the project folder; ``None`` uses ``$EVALKIT_ROOT`` or the nearest folder above the
    working directory that holds parameters/programme.yml.
    """
    paths = ProjectPaths.from_root(root)
    programme = load_programme(paths)
    pack = load_pack(paths, programme, locality, stream)
    measures = programme.stream_measures(stream)
    stream_info = programme.streams[stream]
    organisations = [code for code, org in programme.localities[locality].organisations.items()
                     if stream_info.covers(org)]
    observations = store.load_observations(paths)
    params = pack.parameters
    series, waves, summaries = {}, {}, {}
    baseline, post = pack_windows(programme, params)
    survey = None
    for measure_id, measure in measures.items():
        if measure.cadence == "survey_wave":
            survey = store.load_survey(paths) if survey is None else survey
            frame = survey_waves(survey, measure=measure, measure_id=measure_id, locality=locality,
                                 item_domains=_item_domains(programme, measure_id), organisations=organisations)
            waves[measure_id] = frame
            summaries[measure_id] = describe_waves(frame, measure=measure, alpha=alpha) if len(frame) else None
        else:
            frame = measure_series(observations, measure=measure, measure_id=measure_id, locality=locality,
                                   organisations=organisations)
            series[measure_id] = frame
            summaries[measure_id] = describe_windows(
                frame, measure=measure, intervention=params.intervention.start,
                transition_months=params.intervention.transition_months, baseline=baseline, post=post,
                alpha=alpha) if frame["numerator"].notna().any() else None
    period = data_period(observations, locality=locality, measure_ids=list(series))
    if period is None and waves:
        dates = [d for f in waves.values() for d in (*f["start"], *f["end"])]
        period = (min(dates).date().replace(day=1), max(dates).date().replace(day=1)) if dates else None
    quarantine = store.load_quarantine(paths)
    quarantine = quarantine[_quarantine_locality(quarantine, programme, paths) == locality].reset_index(drop=True)
    unpaired = unpaired_numerators(observations, measures={m: measures[m] for m in series}, locality=locality)
    return PackView(locality=locality, stream=stream, paths=paths, programme=programme, pack=pack,
                    series=MappingProxyType(series), waves=MappingProxyType(waves),
                    summaries=MappingProxyType(summaries), data_period=period,
                    ingest_report=MappingProxyType(store.load_ingest_report(paths)), quarantine=quarantine,
                    unpaired=unpaired, alpha=alpha)


# --------------------------------------------------------------------------- sections


def header(view: PackView) -> HTML:
    """The cover: synthetic-data banner, title, programme, aims, intervention, data period, organisations."""
    names = [org.name for org in view.programme.localities[view.locality].organisations.values()
             if view.stream_info.covers(org)]
    return HTML(text.cover(programme=view.programme.programme, locality_name=view.locality_name,
                           stream=view.stream_info, parameters=view.pack.parameters, organisations=names,
                           data_period=view.data_period, extract_date=view.ingest_report.get("ingest_date")))


def headlines(view: PackView) -> HTML:
    """One line per measure: type, better direction, before and after with intervals."""
    rows = [(view.measures[m], view.summaries[m]) for m in view.measure_ids]
    return HTML(tables.headline_table(rows, alpha=view.alpha, policy=view.policy))


def driver_diagram(view: PackView) -> HTML:
    """The stream's driver diagram as a table."""
    return HTML(tables.driver_diagram_table(view.stream_info, view.measures))


def describe_measure(view: PackView, measure_id: str) -> WindowSummary | WaveSummary | None:
    """The before/after (or per-wave) result of one measure; ``None`` when the locality has no data for it."""
    if measure_id not in view.summaries:
        raise DataValidationError(f"{measure_id!r} is not a measure of stream {view.stream!r}; "
                                  f"its measures are {', '.join(view.measure_ids)}.")
    return view.summaries[measure_id]


def measure_section(view: PackView, measure_id: str) -> None:
    """Display one measure: heading, chart, one-line reading and the before/after table."""
    summary = describe_measure(view, measure_id)
    measure = view.measures[measure_id]
    target = view.pack.parameters.targets.get(measure_id)
    display(HTML(text.measure_heading(measure, target=target)))
    if summary is None:
        display(HTML(text.no_data(measure, view.locality_name)))
        return
    params = view.pack.parameters
    with style():
        if isinstance(summary, WaveSummary):
            figure = Figure(figsize=(FIGSIZE[0] * 0.6, FIGSIZE[1]))
            wave_chart(view.waves[measure_id], measure=measure, target=target, alpha=view.alpha,
                       ax=figure.add_subplot())
            table = tables.wave_table(summary, policy=view.policy)
        else:
            figure = Figure(figsize=FIGSIZE)
            baseline, post = view.windows
            series_chart(view.series[measure_id], measure=measure, intervention=params.intervention.start,
                         transition_months=params.intervention.transition_months, events=params.events,
                         target=target, baseline=baseline, post=post, alpha=view.alpha, ax=figure.add_subplot())
            table = tables.window_table(summary, policy=view.policy)
        kind = "Survey waves" if isinstance(summary, WaveSummary) else "Monthly values"
        display(accessible_svg(figure, f"{kind} of {measure.name.lower()} ({measure.value_label}). "
                                       f"{summary.reading()}"))
    display(HTML(text.reading(summary.reading()) + table))


def _file_counts(report: Mapping, path: Path) -> pd.DataFrame:
    files = report.get("files")
    if isinstance(files, Mapping):
        files = [{"file": name, **record} for name, record in files.items()]
    if not isinstance(files, list) or any(not isinstance(f, Mapping) for f in files):
        raise DataValidationError(
            f"{path}: expected `files`, a list of records with {', '.join(INGEST_FILE_KEYS)} per raw file; "
            "rerun `evalkit ingest` to rewrite it.")
    missing = sorted({k for f in files for k in ("file", *INGEST_FILE_KEYS) if k not in f})
    if missing:
        raise DataValidationError(f"{path}: file records lack {missing}; rerun `evalkit ingest` to rewrite it.")
    frame = pd.DataFrame([{"source": f.get("source", ""), "file": f["file"], "rows_read": f["rows_read"],
                           "rows_accepted": f["rows_accepted"], "rows_quarantined": f["rows_rejected"]}
                          for f in files])
    return frame.sort_values(["source", "file"], kind="stable").reset_index(drop=True)


def data_quality(view: PackView) -> HTML:
    """Rows read, accepted and quarantined per raw file; this locality's quarantined rows by check;
    completeness of each monthly measure."""
    files = _file_counts(view.ingest_report, view.paths.ingest_report_file)
    checks = view.quarantine["check"].str.split(";").explode().str.strip()
    counts = checks[checks != ""].value_counts().rename_axis("check").reset_index(name="rows")
    counts = counts.sort_values(["rows", "check"], ascending=[False, True], kind="stable")
    parts = ["<h3>Raw files</h3>", "<p>Every raw row is either used or set aside in quarantine with its reason. "
             "These counts cover all localities.</p>", tables.file_counts_table(files, policy=view.policy),
             f"<h3>Rows set aside for {tables.esc(view.locality_name)}</h3>"]
    if counts.empty:
        parts.append(f"<p>No raw rows from {tables.esc(view.locality_name)} were set aside.</p>")
    else:
        parts.append(tables.quarantine_table(counts, view.locality_name, policy=view.policy))
    if len(view.unpaired):
        parts += ["<h3>Events left out for want of a denominator</h3>",
                  tables.unpaired_table(view.unpaired, view.measures, policy=view.policy)]
    period = view.programme.programme.period
    expected = month_count(period.start, period.end)
    monthly = [(view.measures[m], view.series[m]) for m in view.measure_ids if m in view.series]
    if monthly:
        parts += ["<h3>Completeness</h3>", tables.completeness_table(monthly, expected)]
    return HTML("".join(parts))


def methods_and_assumptions(view: PackView) -> HTML:
    """How the numbers were made and what they rest on."""
    baseline, post = view.windows
    kinds = {view.measures[m].kind for m in view.series}
    return HTML(text.methods(kinds=kinds, survey=bool(view.waves), parameters=view.pack.parameters,
                             baseline=baseline, post=post, alpha=view.alpha, locality_name=view.locality_name,
                             synthetic=view.synthetic, policy=view.policy))


__all__ = [
    "PackView",
    "data_quality",
    "describe_measure",
    "driver_diagram",
    "header",
    "headlines",
    "load_pack_view",
    "measure_section",
    "methods_and_assumptions",
    "pack_windows",
]
