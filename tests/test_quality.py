"""Completeness by month and source."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from IPython.display import SVG

from evalkit.report import pack, quality


@pytest.fixture(scope="module")
def care_homes(demo_project):
    return pack.load_pack_view("salford", "care_homes", root=demo_project)


def test_grid_is_the_share_of_organisations_reporting(care_homes):
    grid = quality.completeness_grid(care_homes)
    assert list(grid.index) == [m for m in care_homes.measure_ids if m in care_homes.series]
    assert grid.shape[1] == 84  # Jan 2015 to Dec 2021
    series = care_homes.series["falls_with_harm"]
    most = series["n_organisations"].max()
    month = pd.Timestamp(series["period"].iloc[10])
    assert grid.loc["falls_with_harm", month] == pytest.approx(series["n_organisations"].iloc[10] / most)
    assert quality.sources_of(care_homes)["falls_with_harm"].startswith("datix_incidents")


def test_a_missing_month_is_blank_and_counted_in_the_alt_text(care_homes):
    series = dict(care_homes.series)
    frame = series["falls_with_harm"].copy()
    frame.loc[frame.index[5:8], "numerator"] = np.nan
    series["falls_with_harm"] = frame
    view = pack.PackView(**{**{f: getattr(care_homes, f) for f in care_homes.__dataclass_fields__},
                            "series": series})
    grid = quality.completeness_grid(view)
    assert (grid.loc["falls_with_harm"] == 0).sum() == 3
    chart = quality.completeness_chart(view)
    assert isinstance(chart, SVG) and 'role="img"' in chart.data
    assert "Falls with harm: 3 months missing" in chart.data
