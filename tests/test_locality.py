"""evalkit.report.locality and notebooks/locality.ipynb: one locality's summary, from the packs' results files."""

from __future__ import annotations

import html
import re

import nbformat
import pytest

from evalkit.errors import ConfigError
from evalkit.pipeline.publish import publish_html
from evalkit.report import icons, locality
from results_fixture import copy_project, record_packs, rename_in_programme, run_notebook

BUILT = (("salford", "care_homes"), ("salford", "medicines"), ("oldham", "care_homes"))
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def root(demo_project, tmp_path_factory):
    """A copy of the demo project with results for two Salford packs and one Oldham pack."""
    project = copy_project(demo_project, tmp_path_factory.mktemp("locality") / "project")
    record_packs(project, BUILT)
    return project


@pytest.fixture(scope="module")
def view(root):
    return locality.load_locality_view("salford", root=root)


def page(view) -> str:
    return locality.header(view).data + locality.streams(view).data + locality.methods_note(view).data


def test_the_view_holds_only_this_locality(view):
    assert set(view.results["locality"]) == {"salford"}
    assert view.built == ("care_homes", "medicines")  # programme order
    monthly = sum(1 for s in view.built for m in view.programme.streams[s].measure_ids
                  if view.programme.measures[m].cadence == "monthly")
    assert len(view.results) == monthly


def test_cover_names_the_programme_organisations_and_packs(view):
    cover = locality.header(view).data
    assert "Synthetic demonstration data" in cover
    assert "<h1" in cover and "Salford: summary of the evidence packs" in cover
    assert html.escape(view.programme.programme.name) in cover
    for org in view.programme.localities["salford"].organisations.values():
        assert html.escape(org.name) in cover
    assert "2 of 5 intervention streams built" in cover and "Jan 2015 to Dec 2021" in cover


def test_built_streams_link_their_pack_and_show_their_measures(view):
    body = locality.streams(view).data
    assert body.count('href="salford/care_homes.html"') == 1 and body.count('href="salford/medicines.html"') == 1
    sections = dict(re.findall(r'<h2 class="evalkit-stream">(.*?)</h2>(.*?)(?=<h2 |$)', body, re.S))
    care = sections["Safer care homes"]
    for measure_id in view.programme.streams["care_homes"].measure_ids:
        assert html.escape(view.programme.measures[measure_id].name) in care
    rows = view.results[view.results["stream"] == "care_homes"]
    for row in rows.itertuples():
        assert html.escape(row.reading) in care
        assert f'aria-label="{html.escape(icons.VARIATION[row.variation_icon][3])}"' in care
    assert "Assurance: the target will" in care  # training completion has a target of 90%
    falls = rows.set_index("measure_id").loc["falls_with_harm"]
    assert (f"ratio {falls['level_change_ratio']:.2f} ({falls['level_change_ratio_ci_lower']:.2f} to "
            f"{falls['level_change_ratio_ci_upper']:.2f})") in care
    assert "The intervention started in Apr 2017, with 3 transition months" in care
    assert "Not built" not in care


def test_streams_without_results_are_listed_as_not_built(view):
    body = locality.streams(view).data
    assert body.count("<strong>Not built</strong>") == 3
    for stream in ("handover", "discharge_summaries", "safety_culture"):
        assert html.escape(view.programme.streams[stream].name) in body
        assert f'href="salford/{stream}.html"' not in body


def test_methods_note_states_the_limits(view):
    note = locality.methods_note(view).data
    assert "does not show that the programme caused it" in note and "Synthetic data" in note


def test_an_unknown_locality_is_a_config_error(root):
    with pytest.raises(ConfigError, match="Unknown locality 'salferd'"):
        locality.load_locality_view("salferd", root=root)


def test_text_from_parameters_and_results_is_escaped(root, tmp_path):
    project = copy_project(root, tmp_path / "project")
    rename_in_programme(project, "    name: Salford\n", f'    name: "Salford {SCRIPT}"\n')
    rename_in_programme(project, "name: Safer care homes", f'name: "Safer care homes {SCRIPT}"')
    text = page(locality.load_locality_view("salford", root=project))
    assert "<script" not in text
    assert "Salford &lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "Safer care homes &lt;script&gt;" in text
    assert locality.pack_href('a"b', "<x>") == "a%22b/%3Cx%3E.html"


def test_a_locality_without_results_lists_every_stream_as_not_built(demo_project, tmp_path):
    project = copy_project(demo_project, tmp_path / "empty")
    empty = locality.load_locality_view("bury", root=project)
    assert empty.results.empty and empty.built == ()
    text = page(empty)
    assert text.count("<strong>Not built</strong>") == 5 and "0 of 5 intervention streams built" in text
    assert "Data period</dt><dd>no data" in text


@pytest.mark.slow
def test_locality_notebook_runs_end_to_end(root, tmp_path):
    executed = run_notebook(root, "locality", {"locality": "salford", "project_root": str(root)},
                            tmp_path / "salford.ipynb")
    nb = nbformat.read(executed, as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    packed = publish_html(executed, tmp_path / "packs" / "salford.html").read_text(encoding="utf-8")
    assert "<script" not in packed and "Synthetic demonstration data" in packed
    assert 'href="salford/care_homes.html"' in packed and packed.count("<strong>Not built</strong>") == 3
    assert "load_locality_view" not in packed  # no code in the pack
