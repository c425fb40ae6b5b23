"""evalkit.report.disclosure and its use: the NHS Digital rule, the marked cells, the packs' count tables,
the check before publishing, the methods text, and escaping."""

from __future__ import annotations

import math
import re
from fractions import Fraction
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from evalkit.config.models import DisclosurePolicy
from evalkit.config.paths import ROOT_ENV_VAR
from evalkit.errors import ConfigError, DataValidationError, PublishError
from evalkit.pipeline.publish import project_policy, publish_html
from evalkit.report import disclosure, pack, tables, text
from evalkit.report.disclosure import NHS_DIGITAL, count, count_cell, find_breaches, percentage, protect
from evalkit.stats.describe import WaveSummary
from results_fixture import copy_project, rename_in_programme, run_notebook

OFF = DisclosurePolicy(enabled=False)
SCRIPT = "<script>alert(1)</script>"
COUNT_SPAN = re.compile(r'<span class="evalkit-count" data-disclosure="(\w+)">([^<]*)</span>')


# --------------------------------------------------------------------------- the rule


def test_the_default_is_the_nhs_digital_rule():
    assert (NHS_DIGITAL.enabled, NHS_DIGITAL.suppress_below, NHS_DIGITAL.round_to) == (True, 8, 5)
    assert disclosure.is_nhs_digital(NHS_DIGITAL) and not disclosure.is_nhs_digital(OFF)


@pytest.mark.parametrize(("value", "shown"), [
    (0, "0"),  # zero is shown
    (1, "*"), (7, "*"),  # 1 to 7 suppressed
    (8, "10"), (12, "10"), (13, "15"),  # others to the nearest 5
    (2.5, "*"), (7.99, "*"),  # not whole, still small
    (12.5, "15"), (17.5, "20"), (22.5, "25"),  # half up: Python's round(22.5 / 5) * 5 would give 20
    (np.int64(22), "20"), (403.0, "405"),
    (1_234_567, "1,234,565"),
    (10**20 + 3, f"{10**20 + 5:,}"),  # exact integer arithmetic, no float on the way
    (float("nan"), ""), (None, ""), (pd.NA, ""),
])
def test_counts_are_suppressed_or_rounded(value, shown):
    assert count(value) == shown


def test_rounding_is_half_up_and_exact_at_the_boundary():
    # Half up, not Python's round-half-to-even (round(4.5) == 4); the largest double below 12.5 rounds down.
    assert round(22.5 / 5) * 5 == 20 and count(22.5) == "25"
    assert count(np.nextafter(12.5, 0)) == "10" and count(12.5) == "15"
    assert protect(12.5).shown == 15 and isinstance(protect(12.5).shown, int)
    assert protect(Fraction(25, 2)).shown == 15


def test_negative_or_infinite_counts_are_errors():
    with pytest.raises(DataValidationError, match="zero or more; got -3"):
        count(-3)
    with pytest.raises(DataValidationError, match="got inf"):
        count(float("inf"))


def test_a_policy_turned_off_shows_counts_as_they_are():
    assert [count(v, OFF) for v in (0, 3, 12, 2.5, 1_234_567)] == ["0", "3", "12", "2.5", "1,234,567"]
    assert percentage(3, 10, OFF) == "30.0%"


def test_another_policy_is_applied_as_configured():
    policy = DisclosurePolicy(suppress_below=10, round_to=10)
    assert [count(v, policy) for v in (0, 9, 10, 14, 15, 26)] == ["0", "*", "10", "10", "20", "30"]
    assert count(3, DisclosurePolicy(suppress_below=1, round_to=1)) == "3"


def test_percentages_come_from_the_rounded_counts():
    assert percentage(103, 1000) == "10.5%"  # 105 of 1,000 as shown; 10.3% from the raw counts
    assert percentage(12, 13) == "66.7%"  # 10 of 15
    assert percentage(1, 3, decimals=0) == "*"
    assert percentage(3, 100) == "*" and percentage(50, 5) == "*"  # either count suppressed
    assert percentage(0, 40) == "0.0%" and percentage(40, 0) == "" and percentage(math.nan, 40) == ""
    assert percentage(1, 8, decimals=2) == "*" and percentage(9, 8, decimals=2) == "100.00%"


def test_a_suppressed_count_cannot_be_recovered_from_the_row_total():
    # Rows read = accepted + quarantined. The total is rounded too, so total - accepted does not give the
    # suppressed count back: 3 and 6 quarantined rows show the very same row.
    def row(read: int, accepted: int, quarantined: int) -> list[str]:
        files = pd.DataFrame([{"source": "datix", "file": "a.csv", "rows_read": read, "rows_accepted": accepted,
                               "rows_quarantined": quarantined}])
        return COUNT_SPAN.findall(tables.file_counts_table(files))

    three, six = row(103, 100, 3), row(106, 100, 6)
    assert three == six == [("rounded", "105"), ("rounded", "100"), ("suppressed", "*")]
    assert int(three[0][1]) - int(three[1][1]) not in (3, 6)
    # Percentages are from the shown counts, so they give nothing more away either.
    assert percentage(100, 103) == percentage(100, 106) == "95.2%"


def test_count_cells_carry_the_marker_publishing_checks():
    assert count_cell(3) == '<span class="evalkit-count" data-disclosure="suppressed">*</span>'
    assert count_cell(12) == '<span class="evalkit-count" data-disclosure="rounded">10</span>'
    assert count_cell(12, OFF) == '<span class="evalkit-count" data-disclosure="exempt">12</span>'
    assert count_cell(math.nan) == "" and count_cell(math.nan, missing="&ndash;") == "&ndash;"


def test_find_breaches_names_table_value_and_problem():
    good = tables.html_table(["Month", "Events"], [["Jan", count_cell(3)], ["Feb", count_cell(12)],
                                                   ["Mar", "&ndash;"]], caption="Good", counts=(1,))
    bad = tables.html_table(["Month", "Events", "Rate"], [["Jan", "3", "3"], ["Feb", "12", "2.5"],
                                                          ["Mar", '<span class="evalkit-count">20</span>', "1"]],
                            caption="Falls &amp; more", counts=(1,))
    stray = '<p>Latest: <span class="evalkit-count" data-disclosure="exempt">15</span></p><table><tr><td>4</td></tr>'
    assert find_breaches(good) == []
    found = find_breaches(good + bad + stray)
    assert [(b.table, b.value, b.problem) for b in found] == [
        ("Falls & more", "3", "an unsuppressed count from 1 to 7"),
        ("Falls & more", "12", "a count not rounded to a multiple of 5"),
        ("outside any table", "15", "a count written with disclosure control turned off"),
    ]  # the Rate column is not a count column, and the last table names no counts
    assert find_breaches(good + bad + stray, OFF) == []


# --------------------------------------------------------------------------- configuration


def test_programme_sets_the_policy(project):
    from evalkit.config import ProjectPaths, load_programme

    assert load_programme(ProjectPaths.from_root(project)).disclosure == NHS_DIGITAL
    rename_in_programme(project, "  round_to: 5\n", "  round_to: 10\n")
    assert load_programme(ProjectPaths.from_root(project)).disclosure.round_to == 10


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("  round_to: 5\n", "  round_too: 5\n", r"disclosure\.round_too.*round_to"),
    ("  suppress_below: 8\n", "  suppress_below: 0\n", r"disclosure\.suppress_below"),
    ("  enabled: true\n", "  enabled: perhaps\n", r"disclosure\.enabled"),
])
def test_a_bad_policy_is_a_config_error_naming_the_key(project, old, new, expected):
    from evalkit.config import ProjectPaths, load_programme

    rename_in_programme(project, old, new)
    with pytest.raises(ConfigError, match=expected):
        load_programme(ProjectPaths.from_root(project))


# --------------------------------------------------------------------------- the packs' tables


@pytest.fixture(scope="module")
def views(demo_project):
    return [pack.load_pack_view("salford", stream, root=demo_project)
            for stream in ("care_homes", "discharge_summaries", "safety_culture")]


def pack_tables(view: pack.PackView) -> str:
    """Every table of counts the pack module shows: headlines, each measure's own table, data quality."""
    parts = [pack.headlines(view).data, pack.data_quality(view).data]
    for measure_id in view.measure_ids:
        summary = view.summaries[measure_id]
        if isinstance(summary, WaveSummary):
            parts.append(tables.wave_table(summary))
        elif summary is not None:
            parts.append(tables.window_table(summary))
    return "".join(parts)


def assert_counts_protected(page: str) -> list[tuple[str, str]]:
    cells = COUNT_SPAN.findall(page)
    for state, shown in cells:
        assert (state, shown) == ("suppressed", "*") or state == "rounded", (state, shown)
        if shown != "*":
            value = int(shown.replace(",", ""))
            assert value == 0 or (value >= 8 and value % 5 == 0), shown
    assert find_breaches(page) == []
    return cells


def test_every_count_in_the_packs_tables_is_protected(views):
    for view in views:
        cells = assert_counts_protected(pack_tables(view))
        assert len(cells) >= 12, view.stream


def test_the_packs_count_columns_hold_only_protected_counts(views):
    page = pack_tables(views[0])
    # Numerator and Denominator of each before/after table; rows read/accepted/quarantined; rows by check.
    assert page.count('data-evalkit-counts="3 4"') == len(views[0].series)
    assert 'data-evalkit-counts="2 3 4"' in page and 'data-evalkit-counts="2"' in page
    checked = 0
    for columns, body in re.findall(r'<table [^>]*data-evalkit-counts="([\d ]+)"[^>]*>(.*?)</table>', page):
        for row in re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>")[1]):
            cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
            for i in map(int, columns.split()):
                assert COUNT_SPAN.fullmatch(cells[i]) or cells[i] == tables.NOT_APPLICABLE, cells[i]
                checked += 1
    assert checked >= 30


def test_percentages_in_the_tables_are_from_the_rounded_counts(views):
    checked = 0
    for view in views:
        for measure_id, summary in view.summaries.items():
            if summary is None or view.measures[measure_id].kind != "proportion":
                continue
            table = (tables.wave_table if isinstance(summary, WaveSummary) else tables.window_table)(summary)
            for _, row in summary.summary().iterrows():
                shown = percentage(row["numerator"], row["denominator"])
                assert f"<td class=\"num\">{shown}</td>" in table, (measure_id, shown)
                assert shown in pack.headlines(view).data
                checked += 1
    assert checked >= 4


def test_rates_and_intervals_are_not_suppressed(views):
    summary = views[0].summaries["falls_with_harm"]
    row = summary.summary().iloc[0]
    table = tables.window_table(summary)
    places = 2 if abs(row["estimate"]) < 10 else 1
    assert f"{row['estimate']:,.{places}f}" in table and f"{row['ci_lower']:,.{places}f} to" in table


def test_the_policy_turned_off_shows_raw_counts(views):
    summary = views[0].summaries["falls_with_harm"]
    raw = summary.summary().iloc[0]["numerator"]
    table = tables.window_table(summary, policy=OFF)
    assert f'data-disclosure="exempt">{raw:,.0f}</span>' in table and 'data-disclosure="rounded"' not in table


# --------------------------------------------------------------------------- methods


def methods(view: pack.PackView, policy: DisclosurePolicy) -> str:
    baseline, post = view.windows
    return text.methods(kinds={"rate"}, survey=False, parameters=view.pack.parameters, baseline=baseline,
                        post=post, alpha=0.05, locality_name=view.locality_name, synthetic=True, policy=policy)


def test_methods_state_the_rule_and_that_modelled_values_are_not_suppressed(views):
    page = methods(views[0], NHS_DIGITAL)
    assert "counts from 1 to 7 are shown as * and every other count is rounded to the nearest 5" in page
    assert "NHS Digital" in page and "computed from the rounded counts" in page
    assert "Modelled quantities (rates, ratios, intervals and model estimates) are not suppressed" in page
    assert "no suppression rule" not in page
    assert tables.esc(disclosure.methods_text(NHS_DIGITAL)) in pack.methods_and_assumptions(views[0]).data


def test_methods_say_when_disclosure_control_is_off(views):
    page = methods(views[0], OFF)
    assert "Disclosure control is turned off" in page and "counts are shown as they are" in page
    other = methods(views[0], DisclosurePolicy(suppress_below=10, round_to=10))
    assert "counts from 1 to 9 are shown as *" in other and "nearest 10" in other and "this programme" in other


# --------------------------------------------------------------------------- publishing


def notebook_with(path: Path, html: str) -> Path:
    cells = [new_code_cell("pack.measure_section(view, 'falls_with_harm')", outputs=[
        new_output("display_data", data={"text/html": html, "text/plain": "<HTML>"})])]
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "language": "python",
                                                                      "display_name": "Python 3"}}), path)
    return path


PLANTED = tables.html_table(["Window", "Numerator", "Denominator"],
                            [["Before", count_cell(40), count_cell(1200)], ["After", "3", count_cell(1185)]],
                            caption="Falls with harm: before and after", counts=(1, 2))


def test_publishing_refuses_a_planted_count(tmp_path, monkeypatch):
    monkeypatch.delenv(ROOT_ENV_VAR, raising=False)
    target = tmp_path / "packs" / "falls.html"
    with pytest.raises(PublishError) as caught:
        publish_html(notebook_with(tmp_path / "falls.ipynb", PLANTED), target)
    message = str(caught.value)
    assert "falls.html" in message and "'Falls with harm: before and after'" in message
    assert "'3' is an unsuppressed count from 1 to 7" in message
    assert "evalkit.report.disclosure.count_cell" in message
    assert not target.exists()


def test_publishing_refuses_a_marked_count_left_unrounded(tmp_path, monkeypatch):
    monkeypatch.delenv(ROOT_ENV_VAR, raising=False)
    page = f"<p>Latest: {count_cell(12, OFF)}</p>"
    with pytest.raises(PublishError, match="'12' is a count not rounded to a multiple of 5"):
        publish_html(notebook_with(tmp_path / "latest.ipynb", page), tmp_path / "latest.html")


def test_protected_counts_publish(tmp_path, monkeypatch):
    monkeypatch.delenv(ROOT_ENV_VAR, raising=False)
    fine = PLANTED.replace("<td>3</td>", f"<td>{count_cell(3)}</td>")
    page = publish_html(notebook_with(tmp_path / "ok.ipynb", fine), tmp_path / "ok.html").read_text("utf-8")
    assert 'data-disclosure="suppressed">*</span>' in page and 'data-evalkit-counts="1 2"' in page


def test_publishing_uses_the_projects_policy(project, tmp_path, monkeypatch):
    nb = notebook_with(tmp_path / "raw.ipynb", PLANTED)
    monkeypatch.setenv(ROOT_ENV_VAR, str(project))
    assert project_policy() == NHS_DIGITAL
    with pytest.raises(PublishError, match="'3'"):
        publish_html(nb, tmp_path / "raw.html")
    rename_in_programme(project, "  enabled: true\n", "  enabled: false\n")
    assert project_policy() == OFF
    page = publish_html(nb, tmp_path / "raw.html").read_text("utf-8")
    assert "<td>3</td>" in page  # raw counts published, as the programme asks
    # An explicit policy wins over the project's.
    with pytest.raises(PublishError, match="'3'"):
        publish_html(nb, tmp_path / "raw2.html", policy=NHS_DIGITAL)


def test_a_broken_programme_is_named_when_publishing(project, tmp_path, monkeypatch):
    rename_in_programme(project, "  round_to: 5\n", "  round_to: five\n")
    monkeypatch.setenv(ROOT_ENV_VAR, str(project))
    with pytest.raises(PublishError, match="cannot read the disclosure policy"):
        publish_html(notebook_with(tmp_path / "x.ipynb", "<p>x</p>"), tmp_path / "x.html")


# --------------------------------------------------------------------------- escaping


def test_names_from_parameters_are_escaped_in_the_pack_tables(demo_project, tmp_path):
    project = copy_project(demo_project, tmp_path / "project", with_results=False)
    rename_in_programme(project, "    name: Salford\n", f'    name: "{SCRIPT}"\n')
    view = pack.load_pack_view("salford", "care_homes", root=project)
    page = (pack.header(view).data + pack_tables(view) + pack.methods_and_assumptions(view).data)
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Rows set aside for &lt;script&gt;" in page


@pytest.mark.slow
def test_a_whole_pack_publishes_through_the_check(demo_project, tmp_path, monkeypatch):
    project = copy_project(demo_project, tmp_path / "project", with_results=False)
    rename_in_programme(project, "    name: Salford\n", f'    name: "{SCRIPT}"\n')
    monkeypatch.setenv(ROOT_ENV_VAR, str(project))
    executed = run_notebook(project, "pack", {"locality": "salford", "stream": "care_homes",
                                              "project_root": str(project)}, tmp_path / "care_homes.ipynb")
    page = publish_html(executed, tmp_path / "packs" / "care_homes.html").read_text(encoding="utf-8")
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    cells = assert_counts_protected(page)
    assert len(cells) >= 20
    assert "counts from 1 to 7 are shown as *" in page
