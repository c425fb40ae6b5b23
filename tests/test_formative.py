"""The formative section of the packs, on the demo programme: chart choice, phases, icons, fallbacks."""

from __future__ import annotations

import pandas as pd
import pytest
from IPython.display import HTML, SVG

from evalkit.report import formative, pack
from evalkit.stats import spc


@pytest.fixture(scope="module")
def care_homes(demo_project):
    return pack.load_pack_view("salford", "care_homes", root=demo_project)


def _view_with(view: pack.PackView, **changes) -> pack.PackView:
    return pack.PackView(**{**{f: getattr(view, f) for f in view.__dataclass_fields__}, **changes})


def test_every_monthly_measure_gets_a_chart_suited_to_its_kind(care_homes):
    fits = formative.fit_all(care_homes)
    monthly = [m for m in care_homes.measure_ids if care_homes.measures[m].cadence == "monthly"]
    assert list(fits) == monthly
    allowed = {"rate": {"u", "up"}, "proportion": {"p", "pp"}, "count": {"c", "xmr"}, "mean": {"xmr"}}
    for fit in fits.values():
        assert fit.problem is None and fit.spc is not None and fit.spc.has_limits
        assert fit.spc.chart in allowed[fit.measure.kind], (fit.measure_id, fit.spc.chart)
        assert fit.spc.chart_reason


def test_limits_come_from_the_months_before_and_a_new_phase_follows_the_transition(care_homes):
    params = care_homes.pack.parameters
    options = formative.spc_options(care_homes, "falls_with_harm")
    assert options["baseline"] == pd.Timestamp("2017-03-01")  # the month before the 2017-04 start
    assert options["rebase"] == [pd.Timestamp(params.post_start)]
    points = formative.fit_formative(care_homes, "falls_with_harm").spc.points()
    first = points[points["phase"] == 1]
    assert first.loc[first["baseline"], "date"].max() == pd.Timestamp("2017-03-01")
    assert points.loc[points["phase"] == 2, "date"].min() == pd.Timestamp(params.post_start)
    # the baseline phase's mean is the pooled rate of its baseline months, per 1,000 bed days
    base = first[first["baseline"]]
    assert first["centre"].iloc[0] == pytest.approx(base["numerator"].sum() / base["denominator"].sum() * 1000)


def test_no_new_phase_when_fewer_than_13_months_follow_the_transition(care_homes):
    series = dict(care_homes.series)
    cut = pd.Timestamp(care_homes.pack.parameters.post_start) + pd.DateOffset(months=6)
    series["falls_with_harm"] = series["falls_with_harm"][pd.to_datetime(series["falls_with_harm"]["period"]) < cut]
    view = _view_with(care_homes, series=series)
    assert "rebase" not in formative.spc_options(view, "falls_with_harm")
    assert formative.fit_formative(view, "falls_with_harm").spc.summary()["phase"].tolist() == [1]


def test_a_short_baseline_gets_a_run_chart_and_a_caution(care_homes, monkeypatch):
    series = dict(care_homes.series)
    start = pd.Timestamp(care_homes.pack.parameters.intervention.start)
    frame = series["falls_with_harm"]
    periods = pd.to_datetime(frame["period"])
    keep = (periods >= start - pd.DateOffset(months=8)) & (periods < start + pd.DateOffset(months=12))
    series["falls_with_harm"] = frame[keep]
    view = _view_with(care_homes, series=series)
    fit = formative.fit_formative(view, "falls_with_harm")
    assert fit.run is not None and not fit.spc.has_limits
    assert fit.spc.variation_icon == "none"
    assert any("fewer than the 13" in w for w in fit.warnings)
    shown = []
    monkeypatch.setattr(formative, "display", shown.append)
    formative.formative_section(view, fit)
    text = " ".join(getattr(x, "data", "") for x in shown if isinstance(x, HTML))
    assert "Run chart: too few baseline months" in text and "Caution:" in text


def test_a_short_baseline_before_a_long_follow_up_keeps_the_spc_chart(care_homes):
    """Eight months before, 50 after the transition: the new phase has limits, the baseline has none (and says so)."""
    series = dict(care_homes.series)
    start = pd.Timestamp(care_homes.pack.parameters.intervention.start)
    frame = series["falls_with_harm"]
    series["falls_with_harm"] = frame[pd.to_datetime(frame["period"]) >= start - pd.DateOffset(months=8)]
    fit = formative.fit_formative(_view_with(care_homes, series=series), "falls_with_harm")
    assert fit.run is None and fit.spc.has_limits
    summary = fit.spc.summary()
    assert summary["centre"].isna().tolist() == [True, False]
    assert any("phase 1" in w and "fewer than the 13" in w for w in fit.warnings)


def test_section_shows_heading_accessible_chart_reading_and_table(care_homes, monkeypatch):
    shown = []
    monkeypatch.setattr(formative, "display", shown.append)
    formative.formative_section(care_homes, "falls_with_harm")
    assert [type(x) for x in shown] == [HTML, SVG, HTML, HTML]
    svg = shown[1].data
    assert 'role="img"' in svg and "<title>u chart of falls with harm" in svg.replace("Laney u'", "u")
    assert "evalkit-reading" in shown[2].data and "Chart: " in shown[2].data
    assert "Before" in shown[3].data and "After" in shown[3].data


def test_survey_measures_keep_their_wave_chart(demo_project, monkeypatch):
    view = pack.load_pack_view("salford", "safety_culture", root=demo_project)
    waves = [m for m in view.measure_ids if view.measures[m].cadence == "survey_wave"]
    assert waves
    calls = []
    monkeypatch.setattr(formative, "measure_section", lambda v, m: calls.append(m))
    formative.formative_section(view, waves[0])
    assert calls == [waves[0]]


def test_summary_table_groups_by_domain_with_icons_and_words(care_homes):
    fits = formative.fit_all(care_homes)
    html = formative.summary_table(care_homes, fits).data
    assert html.count('<svg class="evalkit-icon"') >= len(fits)  # a variation icon per measure
    domains = [formative.DOMAIN_NAMES[f.measure.domain] for f in fits.values()]
    positions = [html.index(f"<td>{d}</td>") for d in dict.fromkeys(domains)]
    order = sorted(dict.fromkeys(domains), key=lambda d: list(formative.DOMAIN_NAMES.values()).index(d))
    assert [d for _, d in sorted(zip(positions, dict.fromkeys(domains), strict=True))] == order
    # the measure with a target shows an assurance icon, with its words
    target = fits["training_completion"].spc.assurance_type
    assert target in ("consistent_pass", "consistent_fail", "inconsistent")
    assert {"consistent_pass": "target met", "consistent_fail": "target missed",
            "inconsistent": "hit and miss"}[target] in html
    assert "no target" in html


def test_the_demos_training_improvement_is_seen(care_homes):
    """The demo raises training completion after the programme: phase 2's mean is above phase 1's."""
    summary = formative.fit_formative(care_homes, "training_completion").spc.summary()
    assert summary["centre"].iloc[1] > summary["centre"].iloc[0]
    assert summary["special_cause_improvement"].sum() > 0


def test_reading_uses_the_measures_unit(care_homes):
    fit = formative.fit_formative(care_homes, "training_completion")
    assert "%" in fit.reading and " %" not in fit.reading
    assert isinstance(fit.spc, spc.SpcResult)
