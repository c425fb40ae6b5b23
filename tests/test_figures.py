"""evalkit.report.figures and evalkit.report.notebook: what the charts draw, and that they leave no trace."""

from __future__ import annotations

import datetime as dt
import io

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from evalkit.config.models import Event, Measure
from evalkit.report.figures import NHS_BLUE, series_chart, style, wave_chart
from evalkit.report.notebook import setup_notebook

INTERVENTION = dt.date(2017, 4, 1)


@pytest.fixture
def falls() -> Measure:
    return Measure(name="Falls with harm", domain="past_harm", family="outcome", kind="rate",
                   numerator="Falls", denominator="Occupied bed days", per=1000, unit="falls",
                   improvement_direction="decrease", streams=("care_homes",))


@pytest.fixture
def monthly() -> pd.DataFrame:
    periods = pd.date_range("2016-01-01", "2018-12-01", freq="MS").as_unit("ms")
    rng = np.random.default_rng(1)
    den = np.full(len(periods), 2000.0)
    num = rng.poisson(np.where(periods < pd.Timestamp(INTERVENTION), 6, 4)).astype(float)
    frame = pd.DataFrame({"locality": "salford", "measure_id": "falls_with_harm", "period": periods,
                          "numerator": num, "denominator": den, "value": num / den * 1000, "n_organisations": 2})
    gap = frame["period"] == pd.Timestamp("2016-06-01")
    frame.loc[gap, ["numerator", "denominator", "value"]] = np.nan
    frame.loc[gap, "n_organisations"] = 0
    return frame


EVENTS = (Event(date="2017-04", label="PDSA 1: <training> & review"), (dt.date(2017, 8, 1), "PDSA 2"))


def draw(monthly, falls, **extra) -> Axes:
    figure = Figure(figsize=(8, 3.6))
    return series_chart(monthly, measure=falls, intervention=INTERVENTION, transition_months=3, events=EVENTS,
                        target=1.5, ax=figure.add_subplot(), **extra)


def legend_labels(ax: Axes) -> list[str]:
    return [text.get_text() for text in ax.get_legend().get_texts()]


def test_series_chart_draws_every_element(monthly, falls):
    ax = draw(monthly, falls)
    labels = legend_labels(ax)
    assert labels[0] == "Monthly value"
    assert "No data (1 month)" in labels
    assert "Transition (3 months, left out)" in labels
    assert "Intervention starts (Apr 2017)" in labels
    assert any(label.startswith("Before (pooled): ") for label in labels)
    assert any(label.startswith("After (pooled): ") for label in labels)
    assert "Target: 1.50" in labels
    assert labels[-2:] == ["PDSA 1: <training> & review", "PDSA 2"]
    assert ax.get_ylabel() == "Falls per 1,000 occupied bed days"
    assert ax.get_title(loc="left") == "Falls with harm"


def test_monthly_line_is_nhs_blue_and_gaps_stay_gaps(monthly, falls):
    ax = draw(monthly, falls)
    line = next(line for line in ax.get_lines() if line.get_label() == "Monthly value")
    assert to_hex(line.get_color()) == NHS_BLUE.lower()
    assert np.isnan(np.asarray(line.get_ydata(), dtype=float)).sum() == 1  # not interpolated


def test_lines_differ_in_style_for_greyscale(monthly, falls):
    ax = draw(monthly, falls)
    by_label = {line.get_label(): line for line in ax.get_lines()}
    styles = [by_label["Monthly value"].get_linestyle()]
    styles += [line.get_linestyle() for label, line in by_label.items()
               if label.startswith(("Before", "After", "Target"))]
    assert len(styles) == 4 and len(set(styles)) == 4


def test_mean_lines_are_the_pooled_estimates(monthly, falls):
    from evalkit.stats.describe import describe_windows

    ax = draw(monthly, falls)
    table = describe_windows(monthly, measure=falls, intervention=INTERVENTION, transition_months=3).summary()
    before = next(line for line in ax.get_lines() if line.get_label().startswith("Before"))
    assert before.get_ydata()[0] == pytest.approx(table.loc[0, "estimate"])


def test_no_global_state_changes(monthly, falls):
    rc_before = dict(mpl.rcParams)
    figures_before = plt.get_fignums()
    draw(monthly, falls)
    assert dict(mpl.rcParams) == rc_before
    assert plt.get_fignums() == figures_before


def test_series_not_modified(monthly, falls):
    before = monthly.copy(deep=True)
    draw(monthly, falls)
    pd.testing.assert_frame_equal(monthly, before)


def test_own_axes_when_none_given(monthly, falls):
    ax = series_chart(monthly, measure=falls, intervention=INTERVENTION, transition_months=0)
    assert isinstance(ax, Axes)
    assert not any(label.startswith("Transition") for label in legend_labels(ax))
    plt.close(ax.figure)


def svg(monthly, falls) -> str:
    with style():
        figure = Figure(figsize=(8, 3.6))
        series_chart(monthly, measure=falls, intervention=INTERVENTION, transition_months=3, events=EVENTS,
                     ax=figure.add_subplot())
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def test_svg_is_identical_on_every_run_and_keeps_text(monthly, falls):
    first, second = svg(monthly, falls), svg(monthly, falls)
    assert first == second
    assert "Falls with harm" in first  # svg.fonttype none: text stays text
    assert "PDSA 1: &lt;training&gt; &amp; review" in first  # labels are escaped as XML
    assert "Arial" in first


def test_wave_chart(falls):
    proportion = Measure(name="Positive responses", domain="anticipation_preparedness", family="outcome",
                         kind="proportion", numerator="positive", denominator="responses", unit="responses",
                         improvement_direction="increase", streams=("safety_culture",), cadence="survey_wave")
    waves = pd.DataFrame({"locality": "salford", "measure_id": "climate", "wave": ["pre", "post"],
                          "start": pd.to_datetime(["2017-02-14", "2018-06-12"]),
                          "end": pd.to_datetime(["2017-02-14", "2018-06-12"]), "n_respondents": [30, 30],
                          "numerator": [81.0, 100.0], "denominator": [263.0, 200.0]})
    figure = Figure()
    ax = wave_chart(waves, measure=proportion, target=60.0, ax=figure.add_subplot())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Baseline\nFeb 2017", "Follow-up\nJun 2018"]
    assert legend_labels(ax) == ["Percent positive, with 95% CI", "Target: 60.0%"]


def test_setup_notebook_outside_ipython_sets_reproducible_svg():
    with mpl.rc_context():
        setup_notebook()
        assert mpl.rcParams["svg.hashsalt"] == "evalkit"
        assert mpl.rcParams["svg.fonttype"] == "none"
        assert mpl.rcParams["font.sans-serif"][:2] == ["Arial", "Liberation Sans"]
