"""evalkit.report.pack, .tables and .text: the pack's sections, built from a small processed fixture."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from IPython.display import HTML, SVG

from evalkit.errors import DataQualityWarning, DataValidationError
from evalkit.report import pack
from evalkit.stats.describe import WaveSummary, WindowSummary
from processed_fixture import write_processed

HOSTILE = '<script>alert("x")</script> & <b>bold</b>'

# The fixture has one falls numerator without bed days (as ingest keeps them); tested once below.
pytestmark = pytest.mark.filterwarnings("ignore::evalkit.errors.DataQualityWarning")


@pytest.fixture
def root(project: Path) -> Path:
    write_processed(project)
    params = project / "parameters" / "salford" / "care_homes.yml"
    params.write_text(params.read_text(encoding="utf-8")
                      + f"description: '{HOSTILE}'\n", encoding="utf-8")
    return project


@pytest.fixture
def view(root: Path) -> pack.PackView:
    return pack.load_pack_view("salford", "care_homes", root=root)


def test_view_holds_the_pack(view):
    assert view.locality_name == "Salford" and view.stream_info.name == "Safer care homes"
    assert view.measure_ids[0] == "emergency_admissions_care_homes"
    assert view.data_period == (dt.date(2015, 1, 1), dt.date(2021, 12, 1))
    baseline, post = view.windows
    assert (baseline.start, baseline.end) == (dt.date(2015, 1, 1), dt.date(2017, 3, 1))
    assert (post.start, post.end) == (dt.date(2017, 7, 1), dt.date(2021, 12, 1))
    assert view.synthetic is True
    assert all(isinstance(view.summaries[m], WindowSummary) for m in view.measure_ids)
    # Only Salford's quarantined rows: three of the four in the fixture (one is North Manchester's).
    assert sorted(view.quarantine["check"]) == ["unknown_organisation", "unknown_value", "unparseable_date"]


def test_header_escapes_parameters_and_shows_banner(view):
    page = pack.header(view).data
    assert HOSTILE not in page and "&lt;script&gt;" in page and "&amp; &lt;b&gt;bold&lt;/b&gt;" in page
    assert "Synthetic demonstration data" in page
    assert "Safer care homes: Salford" in page
    assert "Jan 2015 to Dec 2021" in page


def test_headlines_and_driver_diagram_name_every_measure(view):
    headlines, diagram = pack.headlines(view).data, pack.driver_diagram(view).data
    for measure in view.measures.values():
        assert measure.name in headlines
        assert measure.name in diagram
    assert "Falls risk review on admission" in diagram


def test_measure_section_displays_heading_chart_reading_and_table(view, monkeypatch):
    shown = []
    monkeypatch.setattr(pack, "display", shown.append)
    pack.measure_section(view, "falls_with_harm")
    assert [type(x) for x in shown] == [HTML, SVG, HTML] and 'role="img"' in shown[1].data
    summary = pack.describe_measure(view, "falls_with_harm")
    assert summary.reading() in shown[2].data
    assert "Numerator: Falls reported as incidents with low harm or worse." in shown[2].data
    assert "95% CI" in shown[2].data


def test_measure_section_for_survey_waves(root, monkeypatch):
    view = pack.load_pack_view("salford", "safety_culture", root=root)
    assert isinstance(view.summaries["safety_climate_positive"], WaveSummary)
    shown = []
    monkeypatch.setattr(pack, "display", shown.append)
    pack.measure_section(view, "safety_climate_positive")
    assert [type(x) for x in shown] == [HTML, SVG, HTML] and 'role="img"' in shown[1].data
    assert "Follow-up" in shown[2].data and "at baseline (95% CI" in shown[2].data


def test_locality_without_data_says_so(root, monkeypatch):
    view = pack.load_pack_view("oldham", "care_homes", root=root)
    assert view.data_period is None and pack.describe_measure(view, "falls_with_harm") is None
    shown = []
    monkeypatch.setattr(pack, "display", shown.append)
    pack.measure_section(view, "falls_with_harm")
    assert len(shown) == 2 and "No data for falls with harm in Oldham" in shown[1].data


def test_unknown_measure_is_an_error(view):
    with pytest.raises(DataValidationError, match="not a measure of stream 'care_homes'"):
        pack.describe_measure(view, "learning_events")


def test_unpaired_numerator_warns_and_is_listed(root):
    with pytest.warns(DataQualityWarning, match="falls_with_harm: 1 organisation-month"):
        view = pack.load_pack_view("salford", "care_homes", root=root)
    assert view.unpaired[["measure_id", "organisation"]].values.tolist() == [["falls_with_harm", "SLF31"]]
    series = view.series["falls_with_harm"]
    june = series[series["period"] == pd.Timestamp("2020-06-01")].iloc[0]
    assert june["n_organisations"] == 1  # the other care-home group
    page = pack.data_quality(view).data
    assert "Events left out for want of a denominator" in page and "SLF31" in page


def test_data_quality(view):
    page = pack.data_quality(view).data
    assert "incidents/datix_salford.csv" in page and ">405</span>" in page  # 403 rows read, rounded to 5
    assert "unparseable_date" in page and "unknown_organisation" in page
    assert "Jun 2016" in page  # the gap in falls with harm
    # Salford's one unknown_value row (test_view_holds_the_pack counts them) is shown as * by disclosure control.
    assert re.search(r"<code>unknown_value</code></td><td>[^<]*</td><td class=\"num\"><span class=\"evalkit-count\" "
                     r"data-disclosure=\"suppressed\">\*</span></td>", page)


def test_ingest_report_in_another_shape_is_an_error_naming_the_file(root):
    (root / "data" / "processed" / "ingest_report.json").write_text(json.dumps({"sources": {}}), encoding="utf-8")
    view = pack.load_pack_view("salford", "care_homes", root=root)
    with pytest.raises(DataValidationError, match="ingest_report.json: expected `files`"):
        pack.data_quality(view)


def test_methods_state_the_assumptions(view):
    page = pack.methods_and_assumptions(view).data
    assert "exact Poisson interval assumes" in page and "Wilson interval assumes" in page
    assert "does not show that the programme caused it" in page
    assert "Jan 2015 to Mar 2017" in page and "Jul 2017 to Dec 2021" in page
