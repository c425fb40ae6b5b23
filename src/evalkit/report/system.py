"""What the system notebook calls: the whole-system pack, comparing localities from the packs' results files.

The notebook ``notebooks/system.ipynb`` does::

    view = load_system_view(root=project_root)
    header(view)            # cover: programme, localities, packs built, synthetic-data banner
    domain_matrix(view)     # MMSF domains x localities: variation (and assurance) icons
    funnel_section(view)    # a funnel plot per outcome and process measure with a denominator
    pooled_section(view)    # per stream and outcome measure: the level change pooled across localities
    methods_note(view)

Nothing is refitted from the processed data: the matrix, the funnels' post-transition
totals and the level changes all come from ``outputs/results/`` (:mod:`evalkit.report.results`).
Funnel plots are :func:`evalkit.stats.funnel.fit`; pooling is :func:`evalkit.stats.meta.random_effects`
(statsmodels' DerSimonian-Laird random-effects meta-analysis).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import HTML, display

from evalkit.config.load import load_programme
from evalkit.config.models import DOMAIN_QUESTIONS, DOMAINS, Programme
from evalkit.config.paths import ProjectPaths
from evalkit.errors import AnalysisError, EvalkitWarning
from evalkit.report import icons, text
from evalkit.report.disclosure import count_cell, percentage
from evalkit.report.figures import FIGSIZE, accessible_svg, style
from evalkit.report.formative import DOMAIN_NAMES, FAMILY_ORDER
from evalkit.report.locality import ICON_NOTE, data_period_text, known_results, month_text, present
from evalkit.report.results import load_results
from evalkit.report.summative import FAMILY_NAMES
from evalkit.report.tables import NOT_APPLICABLE, esc, html_table
from evalkit.stats import funnel
from evalkit.stats.describe import ALPHA, CAUSATION_CAVEAT, conf_label, format_estimate
from evalkit.stats.funnel_result import FunnelResult
from evalkit.stats.meta import MetaResult, random_effects

logger = logging.getLogger(__name__)

MATRIX_ICON_SIZE = 24  # px: five localities side by side still fit a printed page
FUNNEL_FAMILIES = ("outcome", "process")  # balancing measures watch for harm elsewhere; they are not league tables
FUNNEL_DATA_TYPES = {"rate": "RC", "proportion": "PR"}  # evalkit.stats.funnel data_type by measure kind
POOLED_FAMILIES = ("outcome",)  # the measures whose interrupted time series each pack fits
POOLED_CAVEAT = (
    "The pooled effect is an average across localities that started the intervention at different dates; it is "
    "not proof that the programme caused the change, because anything else that changed around those dates can "
    "move the measure too.")
ERROR_WORDS = {"ols": "independent errors", "newey_west": "Newey-West errors", "prais_winsten": "AR(1) errors",
               "arma": "ARMA errors"}  # short forms of evalkit.report.summative.ERROR_NAMES, for a table cell
NOWRAP = "white-space:nowrap"  # keeps a cell's two icons side by side
KEY_STYLE = "list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:0.3em 1.2em"
MATRIX_COLUMNS = ("domain", "stream", "measure_id", "family", "locality", "has_data", "variation_icon",
                  "assurance_type")


@dataclass(frozen=True)
class SystemView:
    """The programme and every pack's results (``results``: :func:`~evalkit.report.results.load_results`,
    rows the programme still knows; treat it as read-only)."""

    paths: ProjectPaths = field(repr=False)
    programme: Programme = field(repr=False)
    results: pd.DataFrame = field(repr=False, compare=False)

    @property
    def synthetic(self) -> bool:
        return self.programme.programme.synthetic

    @property
    def alpha(self) -> float:
        """The packs' alpha (1 - confidence level); the default where there are no results."""
        values = self.results["alpha"].dropna().unique()
        return float(values[0]) if len(values) else ALPHA

    def rows(self, stream: str, measure_id: str) -> pd.DataFrame:
        """One row per locality with results for this stream's measure, in programme order."""
        rows = self.results[(self.results["stream"] == stream) & (self.results["measure_id"] == measure_id)]
        order = {loc: i for i, loc in enumerate(self.programme.localities)}
        return rows.sort_values("locality", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def load_system_view(root: str | Path | None = None) -> SystemView:
    """Read the programme and every results file. ``root`` as for :func:`evalkit.report.pack.load_pack_view`."""
    paths = ProjectPaths.from_root(root)
    programme = load_programme(paths)
    results = known_results(load_results(paths), programme, paths.outputs / "results")
    return SystemView(paths=paths, programme=programme, results=results)


def header(view: SystemView) -> HTML:
    """The cover: synthetic-data banner, title, programme aim, localities, streams and packs built."""
    programme = view.programme
    packs = view.results[["locality", "stream"]].drop_duplicates()
    items = [("Programme aim", programme.programme.aim),
             ("Localities", ", ".join(loc.name for loc in programme.localities.values())),
             ("Intervention streams", ", ".join(s.name for s in programme.streams.values())),
             ("Evidence packs", f"{len(packs)} of {len(programme.localities) * len(programme.streams)} with results"),
             ("Data period", data_period_text(view.results))]
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items)
    banner = text.synthetic_banner() if view.synthetic else ""
    return HTML(f'{banner}<h1 class="evalkit-title">{esc(programme.programme.name)}: the whole system</h1>'
                f'<p class="evalkit-subtitle">Whole-system summary</p><dl class="evalkit-cover">{rows}</dl>')


# --------------------------------------------------------------------------- (a) the domain matrix


def matrix(view: SystemView) -> pd.DataFrame:
    """One row per MMSF domain x stream x monthly measure x locality, in domain, family, stream and measure
    order, localities in programme order. Columns :data:`MATRIX_COLUMNS`: ``has_data`` (the locality's pack
    recorded a value), ``variation_icon`` and ``assurance_type`` (None without data or target)."""
    lookup = {(r.locality, r.stream, r.measure_id): r for r in view.results.itertuples(index=False)}
    measures = [(stream, m) for stream, info in view.programme.streams.items() for m in info.measure_ids
                if view.programme.measures[m].cadence == "monthly"]
    stream_order = {s: i for i, s in enumerate(view.programme.streams)}
    measures.sort(key=lambda sm: (DOMAINS.index(view.programme.measures[sm[1]].domain),
                                  FAMILY_ORDER.index(view.programme.measures[sm[1]].family), stream_order[sm[0]]))
    out = []
    for stream, m in measures:
        measure = view.programme.measures[m]
        for locality in view.programme.localities:
            r = lookup.get((locality, stream, m))
            has = r is not None and r.latest_value is not None and pd.notna(r.latest_value)
            out.append((measure.domain, stream, m, measure.family, locality, has,
                        present(r.variation_icon) if has else None, present(r.assurance_type) if has else None))
    return pd.DataFrame(out, columns=list(MATRIX_COLUMNS))


def _matrix_cell(row) -> str:
    if not row.has_data:
        return NOT_APPLICABLE
    return (f'<span style="{NOWRAP}">{icons.variation_svg(present(row.variation_icon) or "none", MATRIX_ICON_SIZE)}'
            f"{icons.assurance_svg(present(row.assurance_type), MATRIX_ICON_SIZE)}</span>")


def domain_matrix(view: SystemView) -> HTML:
    """The MMSF five-domain matrix: measures (by domain) down, localities across, icons in the cells."""
    cells = matrix(view)
    localities = list(view.programme.localities)
    body = []
    for (domain, stream, m), group in cells.groupby(["domain", "stream", "measure_id"], sort=False):
        by_locality = {r.locality: _matrix_cell(r) for r in group.itertuples(index=False)}
        measure = view.programme.measures[m]
        body.append([esc(DOMAIN_NAMES[domain]),
                     f'{esc(measure.name)}<br><span class="muted">{esc(view.programme.streams[stream].name)}</span>',
                     esc(measure.family)] + [by_locality[loc] for loc in localities])
    header_row = ["Domain", "Measure (stream)", "Family"] + [esc(view.programme.localities[loc].name)
                                                              for loc in localities]
    caption = ("Every monthly measure by domain of the Measuring and Monitoring of Safety framework, in each "
               f"locality: the variation icon of its latest month and, where it has a target, the assurance icon; "
               f"{NOT_APPLICABLE} where the locality has no results for it")
    key = "".join(f"<li>{icons.variation_svg(k, MATRIX_ICON_SIZE)} {esc(icons.SHORT[k])}</li>"
                  for k in icons.VARIATION) + "".join(
        f"<li>{icons.assurance_svg(k, MATRIX_ICON_SIZE)} {esc(icons.SHORT[k])}</li>" for k in icons.ASSURANCE)
    questions = "".join(f"<li><strong>{esc(DOMAIN_NAMES[d])}</strong>: {esc(DOMAIN_QUESTIONS[d])}</li>"
                        for d in DOMAINS)
    return HTML(html_table(header_row, body, caption=caption)
                + f'<ul class="evalkit-key" style="{KEY_STYLE}">{key}</ul><ul class="evalkit-domains">{questions}</ul>')


# --------------------------------------------------------------------------- (b) funnel plots


def funnel_measures(view: SystemView) -> list[tuple[str, str]]:
    """(stream, measure id) of every monthly outcome and process measure with a denominator (rates and
    proportions), in stream and driver-diagram order."""
    return [(stream, m) for stream, info in view.programme.streams.items() for m in info.measure_ids
            if (measure := view.programme.measures[m]).cadence == "monthly" and measure.family in FUNNEL_FAMILIES
            and measure.kind in FUNNEL_DATA_TYPES]


def funnel_data(view: SystemView, stream: str, measure_id: str) -> pd.DataFrame:
    """One row per locality with post-transition totals: ``locality``, ``group`` (its name), ``numerator``,
    ``denominator``, ``months``, ``post_start``, ``post_end``. Localities without a denominator are left out."""
    rows = view.rows(stream, measure_id)
    rows = rows[rows["post_denominator"].notna() & rows["post_numerator"].notna() & (rows["post_months"] > 0)]
    return pd.DataFrame({"locality": rows["locality"],
                         "group": [view.programme.localities[loc].name for loc in rows["locality"]],
                         "numerator": rows["post_numerator"], "denominator": rows["post_denominator"],
                         "months": rows["post_months"].astype(int), "post_start": rows["post_start"],
                         "post_end": rows["post_end"]}).reset_index(drop=True)


def fit_funnel(view: SystemView, stream: str, measure_id: str) -> FunnelResult | None:
    """The localities' post-transition totals on a funnel plot (RC for rates, multiplier ``per``; PR for
    proportions, multiplier 100); None with fewer than two localities."""
    measure = view.programme.measures[measure_id]
    data = funnel_data(view, stream, measure_id)
    if len(data) < funnel.MIN_GROUPS:
        return None
    return funnel.fit(data, numerator_col="numerator", denominator_col="denominator", group_col="group",
                      data_type=FUNNEL_DATA_TYPES[measure.kind], multiplier=measure.scale)


def _funnel_table(result: FunnelResult, data: pd.DataFrame, view: SystemView, measure_id: str) -> str:
    """Events and denominator under the programme's disclosure policy; a percentage from them as rounded;
    rates and limits (modelled) as they are."""
    measure = view.programme.measures[measure_id]
    policy = view.programme.disclosure
    windows = dict(zip(data["group"], zip(data["post_start"], data["post_end"], data["months"], strict=True)),
                   strict=True)
    flags = {"high": "above the 99.8% limit", "low": "below the 99.8% limit", "": "within the limits"}
    rows = []
    for r in result.points().itertuples(index=False):
        start, end, months = windows[r.group]
        value = (percentage(r.numerator, r.denominator, policy) if measure.kind == "proportion"
                 else format_estimate(r.value, measure))
        rows.append([esc(r.group), esc(f"{month_text(start)} to {month_text(end)} ({months} months)"),
                     count_cell(r.numerator, policy, missing=NOT_APPLICABLE),
                     count_cell(r.denominator, policy, missing=NOT_APPLICABLE), esc(value),
                     esc(f"{format_estimate(r.lower_998, measure)} to {format_estimate(r.upper_998, measure)}"),
                     esc(flags[r.outlier])])
    return html_table(["Locality", "After the transition", "Events", "Denominator", "Value", "99.8% limits",
                       "Reading"], rows, numeric=(2, 3, 4), counts=(2, 3),
                      caption=f"{esc(measure.name)}: each locality after its transition, against the funnel")


def funnel_section(view: SystemView) -> None:
    """Display a funnel plot, table and narrative per measure of :func:`funnel_measures`."""
    shown = 0
    for stream, m in funnel_measures(view):
        measure = view.programme.measures[m]
        heading = f"<h3>{esc(measure.name)}: {esc(view.programme.streams[stream].name)}</h3>"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", EvalkitWarning)
            try:
                result = fit_funnel(view, stream, m)
            except AnalysisError as exc:
                display(HTML(heading + f'<p class="evalkit-note">No funnel plot: {esc(exc)}</p>'))
                continue
        if result is None:
            continue
        shown += 1
        display(HTML(heading))
        with style():
            figure, ax = plt.subplots(figsize=FIGSIZE)
            result.plot(ax=ax)
            ax.set_xlabel(f"{measure.denominator} after the transition" if measure.denominator else "")
            ax.set_ylabel(measure.value_label[:1].upper() + measure.value_label[1:])
            display(accessible_svg(figure, result.alt_text()))
            plt.close(figure)
        notes = "".join(f'<p class="evalkit-note"><strong>Caution:</strong> {esc(w.message)}</p>' for w in caught
                        if issubclass(w.category, EvalkitWarning))
        display(HTML(_funnel_table(result, funnel_data(view, stream, m), view, m) + notes
                     + f"<p>{esc(result.narrative())}</p>"))
    if not shown:
        display(HTML("<p>No measure has results from two or more localities yet, so there is nothing to compare."
                     "</p>"))


# --------------------------------------------------------------------------- (c) pooled level change


def pooled_measures(view: SystemView) -> list[tuple[str, str]]:
    """(stream, measure id) of every monthly outcome measure, in stream and driver-diagram order."""
    return [(stream, m) for stream, info in view.programme.streams.items() for m in info.measure_ids
            if (measure := view.programme.measures[m]).cadence == "monthly" and measure.family in POOLED_FAMILIES]


def level_changes(view: SystemView, stream: str, measure_id: str) -> pd.DataFrame:
    """One row per locality with a level change: ``locality``, ``group`` (its name), ``intervention_start``,
    ``estimate``, ``std_error``, ``scale``, ``family``, ``errors``. Only the most common scale is kept (ties:
    the first in locality order), so every estimate pooled is on one scale."""
    rows = view.rows(stream, measure_id)
    rows = rows[rows["level_change_estimate"].notna() & rows["level_change_std_error"].notna()]
    if len(rows):
        counts = rows["level_change_scale"].value_counts(sort=False)
        rows = rows[rows["level_change_scale"] == counts.idxmax()]
    return pd.DataFrame({"locality": rows["locality"],
                         "group": [view.programme.localities[loc].name for loc in rows["locality"]],
                         "intervention_start": rows["intervention_start"],
                         "estimate": rows["level_change_estimate"], "std_error": rows["level_change_std_error"],
                         "scale": rows["level_change_scale"], "family": rows["level_change_family"],
                         "errors": rows["level_change_errors"]}).reset_index(drop=True)


def pool_level_change(view: SystemView, stream: str, measure_id: str) -> MetaResult | None:
    """The localities' level changes pooled by a DerSimonian-Laird random-effects meta-analysis on the models'
    scale (log for rates: the pooled ratio is exp of the estimate); None with fewer than two localities."""
    data = level_changes(view, stream, measure_id)
    if len(data) < 2:
        return None
    return random_effects(data, estimate_col="estimate", std_error_col="std_error", group_col="group",
                          scale=str(data["scale"].iloc[0]), alpha=view.alpha, groups_label="localities")


def pooled_table(view: SystemView) -> pd.DataFrame:
    """One row per stream and outcome measure pooled: ``stream``, ``measure_id``, then the columns of
    :meth:`MetaResult.summary` (``k``, ``estimate`` ... ``tau2_truncated``)."""
    frames = []
    for stream, m in pooled_measures(view):
        result = pool_level_change(view, stream, m)
        if result is not None:
            frames.append(result.summary().assign(stream=stream, measure_id=m))
    if not frames:
        return pd.DataFrame(columns=["stream", "measure_id"])
    table = pd.concat(frames, ignore_index=True)
    return table[["stream", "measure_id", *[c for c in table.columns if c not in ("stream", "measure_id")]]]


def _pooled_rows(result: MetaResult, data: pd.DataFrame) -> str:
    starts = dict(zip(data["group"], data["intervention_start"], strict=True))
    models = {g: f"{FAMILY_NAMES.get(f, f)}, {ERROR_WORDS.get(e, e)}"
              for g, f, e in zip(data["group"], data["family"], data["errors"], strict=True)}
    ratio = result.has_ratio
    cols = ("ratio", "ratio_ci_lower", "ratio_ci_upper") if ratio else ("estimate", "ci_lower", "ci_upper")
    rows = [[esc(g.group), esc(month_text(starts[g.group])), esc(models[g.group]),
             f"{getattr(g, cols[0]):.3f} ({getattr(g, cols[1]):.3f} to {getattr(g, cols[2]):.3f})",
             f"{g.weight * 100:.0f}%"] for g in result.groups().itertuples(index=False)]
    p = result.summary().iloc[0]
    rows.append(["<strong>Pooled (random effects)</strong>", "", "",
                 f"<strong>{p[cols[0]]:.3f} ({p[cols[1]]:.3f} to {p[cols[2]]:.3f})</strong>", "100%"])
    what = "Level change, ratio" if ratio else "Level change"
    return html_table(["Locality", "Intervention started", "Model", f"{what} ({conf_label(result.alpha)} CI)",
                       "Weight"], rows, numeric=(3, 4),
                      caption="Each locality's level change at the intervention and the pooled estimate")


def pooled_section(view: SystemView) -> None:
    """Display, per stream and outcome measure, the localities' level changes, the pooled estimate, a forest
    plot and the narrative, with the caveat that the pooled effect is an average, not proof of causation."""
    shown = 0
    for stream, m in pooled_measures(view):
        result = pool_level_change(view, stream, m)
        if result is None:
            continue
        shown += 1
        data = level_changes(view, stream, m)
        measure = view.programme.measures[m]
        display(HTML(f"<h3>{esc(measure.name)}: {esc(view.programme.streams[stream].name)}</h3>"
                     + _pooled_rows(result, data)))
        with style():
            figure, ax = plt.subplots(figsize=(FIGSIZE[0], 0.5 * (len(data) + 4)))
            result.plot(ax=ax, xlabel="Level change at the intervention (ratio)" if result.has_ratio else None)
            display(accessible_svg(figure, result.alt_text()))
            plt.close(figure)
        display(HTML(f"<p>{esc(result.narrative())}</p><p><strong>{esc(POOLED_CAVEAT)}</strong></p>"))
    if not shown:
        display(HTML("<p>No outcome measure has a level change from two or more localities yet, so there is "
                     "nothing to pool.</p>"))


# --------------------------------------------------------------------------- methods


def methods_note(view: SystemView) -> HTML:
    """How the comparisons were made and what they rest on."""
    level = conf_label(view.alpha)
    paragraphs = [
        "<p><strong>Where these figures come from.</strong> Every figure is recorded by the locality's evidence "
        "pack for the stream when it was last built; nothing here is fitted again from the raw data.</p>",
        f"<p><strong>The domain matrix.</strong> {esc(ICON_NOTE)}</p>",
        "<p><strong>Funnel plots.</strong> Each locality's events and denominator are summed over the months after "
        "its own transition, so localities that started later contribute fewer, later months. Its rate or "
        "percentage is plotted against the denominator, with 95% and 99.8% limits around the pooled value of all "
        "localities (Spiegelhalter 2005: exact Poisson limits for rates, exact binomial limits for percentages), "
        "widened for over-dispersion where the localities differ more than chance allows. Five localities are few "
        "for estimating over-dispersion.</p>",
        "<p><strong>Pooled level change.</strong> Each locality's level change at the intervention, on its model's "
        "log (or logit) scale with its standard error, is pooled by a DerSimonian-Laird random-effects "
        "meta-analysis (statsmodels), which allows the true effect to differ between localities: tau2 is the "
        "variance of those true effects, I2 the share of the variation between estimates that is beyond chance, "
        f"and the Q test asks whether they differ more than chance allows. The pooled ratio and its {level} "
        "confidence interval are exp of the pooled estimate and its limits.</p>",
        f"<p><strong>What this does not show.</strong> {esc(POOLED_CAVEAT)} "
        f"{esc(CAUSATION_CAVEAT.format(parts='localities'))}</p>",
    ]
    paragraphs.append(text.closing_notes(synthetic=view.synthetic, policy=view.programme.disclosure))
    return HTML("".join(paragraphs))


__all__ = ["SystemView", "domain_matrix", "fit_funnel", "funnel_data", "funnel_measures", "funnel_section",
           "header", "level_changes", "load_system_view", "matrix", "methods_note", "pool_level_change",
           "pooled_measures", "pooled_section", "pooled_table"]
