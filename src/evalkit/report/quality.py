"""Completeness by month and source: which organisations reported each measure, month by month.

One row per monthly measure (labelled with the raw source it comes from), one
column per month of the programme period; each cell is the share of the
measure's organisations in this locality that reported that month. A month
nobody reported is blank and marked, so gaps are seen before any chart is read.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import SVG
from matplotlib.colors import ListedColormap

from evalkit.report.figures import FIGSIZE, accessible_svg, style
from evalkit.report.pack import PackView

# light to dark NHS blue, so fuller months are darker in colour and in greyscale alike
SHADES = ListedColormap(["#E8EDEE", "#C6D9EE", "#8FB3DF", "#4C8BD0", "#005EB8"])


def sources_of(view: PackView) -> dict[str, str]:
    """Measure id -> the raw sources that feed it (comma-separated source ids)."""
    found: dict[str, list[str]] = {}
    for source_id, source in view.programme.sources.items():
        for measure_id in source.measures:
            found.setdefault(measure_id, []).append(source_id)
    return {m: ", ".join(s) for m, s in found.items()}


def completeness_grid(view: PackView) -> pd.DataFrame:
    """Share of reporting organisations per measure (rows) and month (columns); 0 where nobody reported."""
    period = view.programme.programme.period
    months = pd.date_range(pd.Timestamp(period.start), pd.Timestamp(period.end), freq="MS")
    rows = {}
    for measure_id in view.measure_ids:
        series = view.series.get(measure_id)
        if series is None or series.empty:
            continue
        reported = series.set_index(pd.to_datetime(series["period"]))["n_organisations"].where(
            series["numerator"].notna().to_numpy(), 0).reindex(months).fillna(0)
        most = reported.max()
        rows[measure_id] = (reported / most).to_numpy() if most > 0 else np.zeros(len(months))
    return pd.DataFrame.from_dict(rows, orient="index", columns=months)


def completeness_chart(view: PackView) -> SVG | None:
    """The completeness grid as an accessible chart (None when the stream has no monthly data)."""
    grid = completeness_grid(view)
    if grid.empty:
        return None
    sources = sources_of(view)
    labels = [f"{view.measures[m].name} ({sources.get(m, 'unknown source')})" for m in grid.index]
    with style():
        figure, ax = plt.subplots(figsize=(FIGSIZE[0], 0.45 * len(grid) + 1.2))
        ax.imshow(grid.to_numpy(), aspect="auto", cmap=SHADES, vmin=0, vmax=1, interpolation="nearest")
        missing = np.argwhere(grid.to_numpy() == 0)
        ax.plot(missing[:, 1], missing[:, 0], "x", color="#231F20", ms=4, mew=1, linestyle="none")
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        years = [i for i, d in enumerate(grid.columns) if d.month == 1]
        ax.set_xticks(years, [str(grid.columns[i].year) for i in years])
        ax.grid(False)
        ax.set_title("Share of organisations reporting, by month (x: no data)", loc="left", fontsize=9)
        gaps = int((grid.to_numpy() == 0).sum())
        partial = int(((grid.to_numpy() > 0) & (grid.to_numpy() < 1)).sum())
        alt = (f"Completeness of {len(grid)} measures over {grid.shape[1]} months, {grid.columns[0]:%b %Y} to "
               f"{grid.columns[-1]:%b %Y}: {gaps} measure-months with no data and {partial} with only some "
               "organisations reporting. " + "; ".join(
                   f"{view.measures[m].name}: {int((grid.loc[m] == 0).sum())} months missing" for m in grid.index))
        chart = accessible_svg(figure, alt)
        plt.close(figure)
    return chart


__all__ = ["completeness_chart", "completeness_grid", "sources_of"]
