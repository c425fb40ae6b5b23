"""evalkit.report.system and notebooks/system.ipynb: the whole-system pack, from the packs' results files."""

from __future__ import annotations

import html
import re

import nbformat
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.meta_analysis import combine_effects

from evalkit.config.models import DOMAINS
from evalkit.pipeline.publish import publish_html
from evalkit.report import pack, system
from evalkit.report.tables import NOT_APPLICABLE
from evalkit.stats import funnel
from results_fixture import copy_project, record_packs, rename_in_programme, run_notebook

LOCALITIES = ("salford", "oldham", "bury", "rochdale", "north_manchester")
BUILT = (*((loc, "care_homes") for loc in LOCALITIES), ("salford", "discharge_summaries"),
         ("oldham", "discharge_summaries"), ("bury", "discharge_summaries"))
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def root(demo_project, tmp_path_factory):
    """A copy of the demo project with care-homes results in every locality and discharge-summary results in
    three."""
    project = copy_project(demo_project, tmp_path_factory.mktemp("system") / "project")
    record_packs(project, BUILT)
    return project


@pytest.fixture(scope="module")
def view(root):
    return system.load_system_view(root=root)


def shown(monkeypatch, section, view) -> str:
    """What a displaying section shows, as one HTML string (SVG charts included)."""
    out = []
    monkeypatch.setattr(system, "display", lambda obj: out.append(obj.data))
    section(view)
    return "".join(out)


# --------------------------------------------------------------------------- (a) matrix


def test_the_matrix_has_every_measure_by_locality_cell(view):
    cells = system.matrix(view)
    programme = view.programme
    pairs = {(s, m) for s, info in programme.streams.items() for m in info.measure_ids
             if programme.measures[m].cadence == "monthly"}
    assert len(cells) == len(pairs) * len(programme.localities)
    assert set(zip(cells["stream"], cells["measure_id"], strict=True)) == pairs
    assert not cells.duplicated(["stream", "measure_id", "locality"]).any()
    assert list(cells["domain"]) == sorted(cells["domain"], key=DOMAINS.index)  # grouped in MMSF order
    built = {(loc, s) for loc, s in BUILT}
    expected = [(loc, s) in built for loc, s in zip(cells["locality"], cells["stream"], strict=True)]
    assert list(cells["has_data"]) == expected
    results = view.results.set_index(["locality", "stream", "measure_id"])
    for row in cells[cells["has_data"]].itertuples():
        assert row.variation_icon == results.loc[(row.locality, row.stream, row.measure_id), "variation_icon"]


def test_the_matrix_table_shows_icons_and_dashes(view):
    table = system.domain_matrix(view).data
    cells = system.matrix(view)
    body = table.split("<tbody>")[1].split("</tbody>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body)
    assert len(rows) == len(cells) // len(LOCALITIES)
    assert all(row.count("<td") == 3 + len(LOCALITIES) for row in rows)
    assert body.count(f"<td>{NOT_APPLICABLE}</td>") == int((~cells["has_data"]).sum())
    assert body.count("evalkit-icon") >= int(cells["has_data"].sum())
    header = table.split("<thead>")[1].split("</thead>")[0]
    assert [html.unescape(h) for h in re.findall(r'<th scope="col">(.*?)</th>', header)[3:]] == [
        view.programme.localities[loc].name for loc in LOCALITIES]
    for question in ("Has patient care been safe in the past?", "Are we responding and improving?"):
        assert question in table


# --------------------------------------------------------------------------- (b) funnel plots


def test_funnel_measures_are_outcome_and_process_rates_and_proportions(view):
    chosen = system.funnel_measures(view)
    assert ("care_homes", "falls_with_harm") in chosen and ("discharge_summaries", "discharge_summaries_24h") in chosen
    for _, m in chosen:
        measure = view.programme.measures[m]
        assert measure.family in ("outcome", "process") and measure.kind in ("rate", "proportion")
    assert ("care_homes", "staffing_fill_rate") not in chosen  # balancing
    assert not any(m == "learning_events" for _, m in chosen)  # a count: no denominator


def test_the_funnel_uses_post_transition_totals(view, root):
    data = system.funnel_data(view, "care_homes", "falls_with_harm")
    assert list(data["locality"]) == list(LOCALITIES)
    for row in data.itertuples():
        summary = pack.load_pack_view(row.locality, "care_homes", root=root).summaries["falls_with_harm"]
        post = summary.summary().set_index("window").loc["post"]
        assert (row.numerator, row.denominator, row.months) == (post["numerator"], post["denominator"],
                                                                post["n_months"])
        assert row.post_start == f"{summary.post.start:%Y-%m}"
    result = system.fit_funnel(view, "care_homes", "falls_with_harm")
    reference = funnel.fit(data, numerator_col="numerator", denominator_col="denominator", group_col="group",
                           data_type="RC", multiplier=1000)
    pd.testing.assert_frame_equal(result.points(), reference.points())
    assert result.data_type == "RC" and result.multiplier == 1000
    points = result.points()
    assert points["value"].to_numpy() == pytest.approx(data["numerator"] / data["denominator"] * 1000)


def test_proportions_use_a_binomial_funnel_in_percent(view):
    result = system.fit_funnel(view, "discharge_summaries", "discharge_summaries_24h")
    assert result.data_type == "PR" and result.multiplier == 100
    assert list(result.points()["group"]) == ["Salford", "Oldham", "Bury"]
    assert system.fit_funnel(view, "handover", "structured_handover") is None  # no locality has results


def test_the_funnel_section_flags_what_the_funnel_result_flags(view, monkeypatch):
    text = shown(monkeypatch, system.funnel_section, view)
    words = {"high": "above the 99.8% limit", "low": "below the 99.8% limit", "": "within the limits"}
    for stream, m in system.funnel_measures(view):
        result = system.fit_funnel(view, stream, m)
        if result is None:
            continue
        assert html.escape(result.alt_text()) in text
        assert html.escape(result.narrative()) in text
        caption = f"{html.escape(view.programme.measures[m].name)}: each locality after its transition"
        at = text.index(caption)
        table = text[text.rindex("<table", 0, at):text.index("</table>", at)]
        for point in result.points().itertuples():
            row = re.search(rf"<td>{re.escape(html.escape(point.group))}</td>(.*?)</tr>", table).group(1)
            assert row.endswith(f"<td>{words[point.outlier]}</td>")


# --------------------------------------------------------------------------- (c) pooled level change


def test_the_pooled_level_change_is_statsmodels_on_the_recorded_estimates(view):
    for stream, m in (("care_homes", "falls_with_harm"), ("care_homes", "pressure_ulcers"),
                      ("discharge_summaries", "readmissions_30d")):
        inputs = system.level_changes(view, stream, m)
        recorded = view.rows(stream, m)
        assert list(inputs["estimate"]) == list(recorded["level_change_estimate"])
        assert list(inputs["std_error"]) == list(recorded["level_change_std_error"])
        result = system.pool_level_change(view, stream, m)
        reference = combine_effects(inputs["estimate"].to_numpy(), inputs["std_error"].to_numpy() ** 2,
                                    method_re="dl", alpha=0.05)
        s = result.summary().iloc[0]
        if reference.tau2 >= 0:
            assert (s["estimate"], s["std_error"], s["tau2"], s["i2"]) == (
                reference.mean_effect_re, reference.sd_eff_w_re, reference.tau2, reference.i2)
        else:  # DerSimonian-Laird truncates tau2 at zero: the fixed-effect result (see evalkit.stats.meta)
            assert (s["estimate"], s["std_error"], s["tau2"], s["i2"]) == (
                reference.mean_effect_fe, reference.sd_eff_w_fe, 0.0, 0.0)
        assert s["q"] == reference.q and s["q_p_value"] == reference.test_homogeneity().pvalue
        assert s["ratio"] == pytest.approx(np.exp(s["estimate"]), rel=1e-12)
        assert s["scale"] == ("logit" if m == "readmissions_30d" else "log")
        assert s["k"] == len(recorded)
    table = system.pooled_table(view)
    assert set(zip(table["stream"], table["measure_id"], strict=True)) == {
        ("care_homes", "emergency_admissions_care_homes"), ("care_homes", "falls_with_harm"),
        ("care_homes", "pressure_ulcers"), ("discharge_summaries", "readmissions_30d")}


def test_the_pooled_section_says_it_is_an_average_not_proof(view, monkeypatch):
    text = shown(monkeypatch, system.pooled_section, view)
    assert text.count(html.escape(system.POOLED_CAVEAT)) == 4
    assert "different dates" in system.POOLED_CAVEAT and "not proof" in system.POOLED_CAVEAT
    result = system.pool_level_change(view, "care_homes", "falls_with_harm")
    s = result.summary().iloc[0]
    assert f"{s['ratio']:.3f} ({s['ratio_ci_lower']:.3f} to {s['ratio_ci_upper']:.3f})" in text
    assert html.escape(result.narrative()) in text and html.escape(result.alt_text()) in text
    assert text.count("<svg") >= 4  # a forest plot per pooled measure


# --------------------------------------------------------------------------- cover, methods, safety


def test_cover_and_methods(view):
    cover = system.header(view).data
    assert "Synthetic demonstration data" in cover and "8 of 25 with results" in cover
    note = system.methods_note(view).data
    assert "DerSimonian-Laird" in note and html.escape(system.POOLED_CAVEAT) in note


def test_text_from_parameters_is_escaped_in_tables_and_charts(root, tmp_path, monkeypatch):
    project = copy_project(root, tmp_path / "project")
    rename_in_programme(project, "    name: Salford\n", f'    name: "Salford {SCRIPT}"\n')
    rename_in_programme(project, "name: Falls with harm", f'name: "Falls with harm {SCRIPT}"')
    escaped = system.load_system_view(root=project)
    text = (system.header(escaped).data + system.domain_matrix(escaped).data
            + shown(monkeypatch, system.funnel_section, escaped) + shown(monkeypatch, system.pooled_section, escaped))
    assert "<script" not in text
    assert "Salford &lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "Falls with harm &lt;script&gt;" in text


def test_without_results_every_section_still_renders(demo_project, tmp_path, monkeypatch):
    empty = system.load_system_view(root=copy_project(demo_project, tmp_path / "empty", with_results=False))
    assert empty.results.empty and empty.alpha == 0.05
    cells = system.matrix(empty)
    assert not cells["has_data"].any()
    assert "0 of 25 with results" in system.header(empty).data
    assert "nothing to compare" in shown(monkeypatch, system.funnel_section, empty)
    assert "nothing to pool" in shown(monkeypatch, system.pooled_section, empty)
    assert system.pooled_table(empty).empty


@pytest.mark.slow
def test_system_notebook_runs_end_to_end(root, tmp_path):
    executed = run_notebook(root, "system", {"project_root": str(root)}, tmp_path / "system.ipynb")
    nb = nbformat.read(executed, as_version=4)
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    page = publish_html(executed, tmp_path / "packs" / "system.html").read_text(encoding="utf-8")
    assert "<script" not in page and "Synthetic demonstration data" in page
    assert "data:image/png" not in page and page.count('role="img"') > 10
    assert "not proof of causation" in page and "load_system_view" not in page
