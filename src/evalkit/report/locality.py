"""What the locality notebook calls: one locality's summary of its evidence packs, from their results files.

The notebook ``notebooks/locality.ipynb`` does::

    view = load_locality_view(locality, root=project_root)
    header(view)             # cover: programme, locality, its organisations, synthetic-data banner
    streams(view)            # per stream: name, aim, link to its pack, measures with icons; or "not built"
    methods_note(view)

Nothing is refitted: every number comes from ``outputs/results/<locality>/<stream>.json``
(:mod:`evalkit.report.results`), written by each stream's pack. Names, aims and
organisations come from the programme as it stands; every text is escaped.
"""

from __future__ import annotations

import logging
import math
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from IPython.display import HTML

from evalkit.config.load import load_programme
from evalkit.config.models import DOMAINS, DisclosurePolicy, Measure, Programme
from evalkit.config.paths import ProjectPaths
from evalkit.errors import ConfigError
from evalkit.report import icons, text
from evalkit.report.disclosure import count_cell
from evalkit.report.formative import DOMAIN_NAMES, FAMILY_ORDER
from evalkit.report.results import load_results
from evalkit.report.tables import NOT_APPLICABLE, esc, format_number, html_table
from evalkit.stats.describe import CAUSATION_CAVEAT, conf_label, format_estimate

logger = logging.getLogger(__name__)

SETTING_NAMES = {"acute": "acute trust", "care_home": "care home", "community": "community provider",
                 "primary_care": "GP practice", "mental_health": "mental health provider",
                 "local_authority": "council"}
RATIO_NAMES = {"log": "ratio", "logit": "odds ratio"}
ICON_NOTE = (
    "The variation icon reads the latest month of the measure's SPC chart with NHS England's Making Data Count "
    "rules: grey is common cause variation (no sign of change), blue special cause improvement, orange special "
    "cause concern, purple a change in a measure with no better direction; H and L say whether values are high or "
    "low. The assurance icon, shown only where the pack sets a target, says whether the latest process limits put "
    "the target always within reach (P), never (F) or sometimes (?).")


# --------------------------------------------------------------------------- shared with the system pack


def known_results(results: pd.DataFrame, programme: Programme, where: Path) -> pd.DataFrame:
    """The results rows whose locality, stream and measure the programme still has; the rest are logged and
    left out (a results file from an earlier programme.yml)."""
    known = (results["locality"].isin(list(programme.localities)) & results["stream"].isin(list(programme.streams))
             & results["measure_id"].isin(list(programme.measures)))
    if (~known).any():
        stale = sorted(set(results.loc[~known, "locality"] + "/" + results.loc[~known, "stream"]))
        logger.warning("%s: results for %s name a locality, stream or measure that programme.yml no longer has; "
                       "left out", where, stale)
    return results[known].reset_index(drop=True)


def present(value) -> str | None:
    """A text cell of the results table, or None where it is missing (None or NaN)."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def month_text(value: str | None) -> str:
    """``'2017-04'`` -> ``'Apr 2017'``; ``'no data'`` when missing."""
    return f"{pd.Timestamp(value):%b %Y}" if isinstance(value, str) and value else "no data"


def latest_text(row: pd.Series, measure: Measure) -> str:
    """The latest value in the measure's units and its month, e.g. ``'2.31 (Dec 2021)'``."""
    if row["latest_value"] is None or not math.isfinite(row["latest_value"]):
        return "no data"
    return f"{format_estimate(row['latest_value'], measure)} ({month_text(row['latest_month'])})"


def _latest_cell(row: pd.Series, measure: Measure, policy: DisclosurePolicy) -> str:
    """:func:`latest_text` as HTML; for a count measure the latest month's count is under ``policy``."""
    value = row["latest_value"]
    if measure.kind != "count" or value is None or not math.isfinite(value):
        return esc(latest_text(row, measure))
    return f"{count_cell(value, policy)} ({esc(month_text(row['latest_month']))})"


def level_change_text(row: pd.Series) -> str:
    """The level change of the interrupted time series: a ratio with its interval on log and logit scales,
    the estimate on the identity scale; why there is none, or a dash for measures not modelled."""
    estimate = row["level_change_estimate"]
    if estimate is None or not math.isfinite(estimate):
        problem = present(row["its_problem"])
        return esc(f"not fitted: {problem}") if problem else NOT_APPLICABLE
    if present(row["level_change_scale"]) in RATIO_NAMES:
        return (f"{RATIO_NAMES[row['level_change_scale']]} {row['level_change_ratio']:.2f} "
                f"({row['level_change_ratio_ci_lower']:.2f} to {row['level_change_ratio_ci_upper']:.2f})")
    return (f"{format_number(estimate)} ({format_number(row['level_change_ci_lower'])} to "
            f"{format_number(row['level_change_ci_upper'])})")


def icon_cells(row: pd.Series, size: int = 32) -> tuple[str, str]:
    """The variation and assurance icons of a results row, each with its words."""
    variation = present(row["variation_icon"]) or "none"
    assurance = present(row["assurance_type"])
    return (icons.labelled(icons.variation_svg(variation, size), variation),
            icons.labelled(icons.assurance_svg(assurance, size), assurance))


def data_period_text(results: pd.DataFrame) -> str:
    """``'Jan 2015 to Dec 2021'`` over the rows' packs; ``'no data'`` when none has any."""
    starts, ends = results["data_start"].dropna(), results["data_end"].dropna()
    if starts.empty or ends.empty:
        return "no data"
    return f"{month_text(min(starts))} to {month_text(max(ends))}"


# --------------------------------------------------------------------------- the view


@dataclass(frozen=True)
class LocalityView:
    """One locality's programme entry and the results of its packs (``results``: its rows of
    :func:`~evalkit.report.results.load_results`; treat it as read-only)."""

    locality: str
    paths: ProjectPaths = field(repr=False)
    programme: Programme = field(repr=False)
    results: pd.DataFrame = field(repr=False, compare=False)

    @property
    def locality_name(self) -> str:
        return self.programme.localities[self.locality].name

    @property
    def synthetic(self) -> bool:
        return self.programme.programme.synthetic

    @property
    def built(self) -> tuple[str, ...]:
        """The streams with a results file, in programme order."""
        present = set(self.results["stream"])
        return tuple(s for s in self.programme.streams if s in present)


def load_locality_view(locality: str, root: str | Path | None = None) -> LocalityView:
    """Read the programme and every results file of ``locality``.

    ``root`` is the project folder; ``None`` uses ``$EVALKIT_ROOT`` or the nearest folder above the working
    directory that holds parameters/programme.yml. Raises :class:`ConfigError` for an unknown locality.
    """
    paths = ProjectPaths.from_root(root)
    programme = load_programme(paths)
    if locality not in programme.localities:
        raise ConfigError(f"Unknown locality {locality!r}; {paths.programme_file} has "
                          f"{', '.join(programme.localities)}.")
    results = known_results(load_results(paths), programme, paths.outputs / "results")
    mine = results[results["locality"] == locality].reset_index(drop=True)
    return LocalityView(locality=locality, paths=paths, programme=programme, results=mine)


# --------------------------------------------------------------------------- sections


def header(view: LocalityView) -> HTML:
    """The cover: synthetic-data banner, title, programme and its aim, organisations, packs built."""
    programme = view.programme.programme
    organisations = [f"{org.name} ({SETTING_NAMES.get(org.setting, org.setting)})"
                     for org in view.programme.localities[view.locality].organisations.values()]
    items = [("Programme", programme.name), ("Programme aim", programme.aim),
             ("Organisations", ", ".join(organisations)),
             ("Evidence packs", f"{len(view.built)} of {len(view.programme.streams)} intervention streams built"),
             ("Data period", data_period_text(view.results))]
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items)
    banner = text.synthetic_banner() if view.synthetic else ""
    return HTML(f'{banner}<h1 class="evalkit-title">{esc(view.locality_name)}: summary of the evidence packs</h1>'
                f'<p class="evalkit-subtitle">Locality summary</p><dl class="evalkit-cover">{rows}</dl>')


def pack_href(locality: str, stream: str) -> str:
    """The relative link from ``packs/<locality>.html`` to ``packs/<locality>/<stream>.html``, escaped."""
    return esc(urllib.parse.quote(f"{locality}/{stream}.html"))


def measures_table(view: LocalityView, stream: str) -> str:
    """The stream's monthly measures by MMSF domain: latest value, icons, level change and reading."""
    rows = view.results[view.results["stream"] == stream]
    order = {d: i for i, d in enumerate(DOMAINS)}
    ranked = sorted(rows.itertuples(index=False), key=lambda r: (order[r.domain], FAMILY_ORDER.index(r.family)))
    body = []
    for r in ranked:
        row = pd.Series(r._asdict())
        measure = view.programme.measures[row["measure_id"]]
        variation, assurance = icon_cells(row)
        body.append([esc(DOMAIN_NAMES[measure.domain]), esc(measure.name), esc(measure.family),
                     _latest_cell(row, measure, view.programme.disclosure), variation, assurance,
                     level_change_text(row), esc(row["reading"])])
    level = conf_label(float(rows["alpha"].iloc[0])) if len(rows) else "95%"
    caption = ("Each monthly measure: its latest value, variation icon (latest point of its SPC chart), assurance "
               f"icon (where it has a target) and, for outcome measures, the level change at the intervention "
               f"from the interrupted time series with its {level} confidence interval")
    return html_table(["Domain", "Measure", "Family", "Latest", "Variation", "Assurance", "Level change",
                       "Reading"], body, caption=caption)


def stream_section(view: LocalityView, stream: str) -> str:
    """One stream: heading, aim, and either its pack link, dates and measures, or 'not built'."""
    info = view.programme.streams[stream]
    parts = [f'<h2 class="evalkit-stream">{esc(info.name)}</h2>', f"<p><strong>Aim:</strong> {esc(info.aim)}</p>"]
    rows = view.results[view.results["stream"] == stream]
    if rows.empty:
        parts.append(f'<p class="evalkit-note"><strong>Not built</strong>: there is no results file for this '
                     f"stream in {esc(view.locality_name)} yet, so it is not summarised here.</p>")
        return "".join(parts)
    first = rows.iloc[0]
    transition = int(first["transition_months"])
    parts.append(
        f"<p>The intervention started in {esc(month_text(first['intervention_start']))}"
        + (f", with {transition} transition month{'s' if transition != 1 else ''}" if transition else "")
        + f"; the period after it runs from {esc(month_text(first['post_start']))} to "
        f"{esc(month_text(first['post_end']))}. "
        f'<a href="{pack_href(view.locality, stream)}">Open the full evidence pack: {esc(info.name)}</a></p>')
    parts.append(measures_table(view, stream))
    return "".join(parts)


def streams(view: LocalityView) -> HTML:
    """Every intervention stream of the programme, in programme order."""
    return HTML("".join(stream_section(view, s) for s in view.programme.streams))


def methods_note(view: LocalityView) -> HTML:
    """A short note on where the figures come from and what they can and cannot say."""
    paragraphs = [
        "<p><strong>Where these figures come from.</strong> Each stream's figures are those of its own evidence "
        "pack (linked above), recorded when that pack was last built; nothing is recomputed here. Open the pack for "
        "the charts, the before-and-after comparisons, the data quality and the full methods.</p>",
        f"<p><strong>Icons.</strong> {esc(ICON_NOTE)}</p>",
        "<p><strong>Level change.</strong> For outcome measures, the interrupted time series of the pack estimates "
        "the jump at the intervention month against the trend and seasonal cycle before it: a ratio below 1 is a "
        "fall (a rate ratio for rates, an odds ratio for percentages). The interval is the range the data are "
        "consistent with; the model and its assumptions are set out in the pack.</p>",
        f"<p><strong>What this does not show.</strong> {esc(CAUSATION_CAVEAT.format(parts='periods'))}</p>",
    ]
    paragraphs.append(text.closing_notes(synthetic=view.synthetic, policy=view.programme.disclosure))
    return HTML("".join(paragraphs))


__all__ = ["LocalityView", "data_period_text", "header", "icon_cells", "known_results", "latest_text",
           "level_change_text", "load_locality_view", "measures_table", "methods_note", "month_text", "pack_href",
           "present", "stream_section", "streams"]
