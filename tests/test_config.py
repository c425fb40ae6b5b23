"""Parameter files: the demo configuration loads, and each kind of bad file gives a clear error."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from evalkit.config import load_project
from evalkit.config.models import DOMAINS
from evalkit.config.paths import ProjectPaths, find_root
from evalkit.errors import ConfigError


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"test set-up: {old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _error(root: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_project(root)
    return str(info.value)


# --------------------------------------------------------------------------- the demo configuration


def test_demo_configuration_loads_completely(project):
    config = load_project(project)
    prog = config.programme
    assert set(prog.localities) >= {"salford", "oldham", "bury", "rochdale"}
    assert set(prog.streams) >= {"care_homes", "medicines", "handover", "discharge_summaries", "safety_culture"}
    assert len(prog.measures) >= 15
    assert {m.domain for m in prog.measures.values()} == set(DOMAINS)
    assert {m.family for m in prog.measures.values()} == {"outcome", "process", "balancing"}
    assert len(config.packs) == len(prog.localities) * len(prog.streams)
    pack = config.pack("salford", "care_homes")
    assert pack.parameters.intervention.start == dt.date(2017, 4, 1)
    assert pack.parameters.post_start == dt.date(2017, 7, 1)
    for stream_id, stream in prog.streams.items():
        for driver in stream.driver_diagram:
            assert driver.change_ideas and driver.measures
        assert all(stream_id in prog.measures[m].streams for m in stream.measure_ids)


def test_every_measure_has_its_catalogue_fields(project):
    for measure in load_project(project).programme.measures.values():
        assert measure.numerator and measure.unit and measure.improvement_direction
        if measure.kind in ("rate", "proportion", "mean"):
            assert measure.denominator
        if measure.kind == "rate":
            assert measure.per and "per 1,000" in measure.value_label


def test_root_is_found_from_a_subfolder_and_from_the_environment(project, monkeypatch):
    monkeypatch.delenv("EVALKIT_ROOT", raising=False)
    monkeypatch.chdir(project / "notebooks")
    assert find_root() == project.resolve()
    monkeypatch.chdir(project.parent)
    monkeypatch.setenv("EVALKIT_ROOT", str(project))
    assert ProjectPaths.from_root().root == project.resolve()


def test_unknown_pack_is_named_with_what_is_configured(project):
    with pytest.raises(ConfigError, match=r"No parameter file for locality 'wigan'.*Packs configured: bury/care_homes"):
        load_project(project).pack("wigan", "care_homes")


# --------------------------------------------------------------------------- bad pack files


def test_misspelt_key_names_file_key_and_suggests_the_right_one(project):
    pack = project / "parameters/salford/care_homes.yml"
    _edit(pack, "transition_months: 3", "transition_month: 3")
    msg = _error(project)
    assert str(pack) in msg
    assert "intervention.transition_month: unknown key 'transition_month'. Did you mean 'transition_months'?" in msg


def test_wrong_type_names_key_and_value(project):
    pack = project / "parameters/oldham/medicines.yml"
    _edit(pack, "transition_months: 3", "transition_months: three")
    msg = _error(project)
    assert str(pack) in msg and "intervention.transition_months" in msg and "'three'" in msg


def test_badly_written_month_is_explained(project):
    pack = project / "parameters/bury/handover.yml"
    _edit(pack, "start: 2019-01", "start: Jan 2019")
    msg = _error(project)
    assert "intervention.start: expected a month as YYYY-MM (e.g. 2017-04), got 'Jan 2019'" in msg


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("start: 2017-04 ", "start: 2023-04 ", "intervention.start: 2023-04 is outside the programme period"),
        ("events:", "windows:\n  baseline: {start: 2015-01, end: 2017-06}\nevents:",
         "windows.baseline.end: 2017-06 must be before the intervention start 2017-04"),
        ("events:", "windows:\n  baseline: {start: 2016-05, end: 2016-01}\nevents:",
         "windows.baseline: end (2016-01) is before start (2016-05)"),
        ("events:", "windows:\n  post: {start: 2017-05, end: 2021-12}\nevents:",
         "windows.post.start: 2017-05 falls before the transition ends (first post month 2017-07)"),
        ("{date: 2017-04,", "{date: 2024-04,", "events.0.date: 2024-04 ('PDSA 1: RESTORE2 training in two homes') is outside"),
    ],
)
def test_dates_out_of_order_are_errors(project, old, new, expected):
    _edit(project / "parameters/salford/care_homes.yml", old, new)
    assert expected in _error(project)


def test_unknown_measure_target_and_comparator_are_named_with_suggestions(project):
    pack = project / "parameters/salford/care_homes.yml"
    _edit(pack, "training_completion: 90.0", "falls_with_harms: 2.0")
    _edit(pack, "comparator: north_manchester", "comparator: north_manchester_")
    msg = _error(project)
    assert "targets.falls_with_harms: not a measure of stream 'care_homes'. Did you mean 'falls_with_harm'?" in msg
    assert "comparator: unknown locality 'north_manchester_'. Did you mean 'north_manchester'?" in msg


def test_comparator_cannot_be_the_pack_itself(project):
    _edit(project / "parameters/salford/care_homes.yml", "comparator: north_manchester", "comparator: salford")
    assert "comparator: 'salford' is this pack's own locality" in _error(project)


def test_pack_for_unknown_locality_or_stream(project):
    (project / "parameters/wigan").mkdir()
    (project / "parameters/wigan/care_homes.yml").write_text("intervention: {start: 2017-04}\n")
    (project / "parameters/salford/care_home.yml").write_text("intervention: {start: 2017-04}\n")
    msg = _error(project)
    assert "unknown locality 'wigan'" in msg
    assert "unknown stream 'care_home'. Did you mean 'care_homes'?" in msg


def test_every_bad_pack_is_reported_at_once(project):
    _edit(project / "parameters/salford/care_homes.yml", "transition_months: 3", "transition_months: -1")
    _edit(project / "parameters/oldham/care_homes.yml", "transition_months: 3", "transition_months: 99")
    msg = _error(project)
    assert "salford/care_homes.yml" in msg and "oldham/care_homes.yml" in msg


def test_duplicate_key_is_an_error_with_its_line(project):
    pack = project / "parameters/rochdale/medicines.yml"
    pack.write_text(pack.read_text() + "comparator: bury\n")
    msg = _error(project)
    assert str(pack) in msg and "duplicate key 'comparator'" in msg and "line" in msg


def test_yaml_syntax_error_gives_the_line(project):
    pack = project / "parameters/bury/medicines.yml"
    pack.write_text("intervention:\n  start: 2017-10\n   transition_months: [3\n")
    msg = _error(project)
    assert str(pack) in msg and "line 3" in msg


def test_missing_required_key(project):
    (project / "parameters/bury/medicines.yml").write_text("comparator: salford\n")
    assert "intervention: required key is missing" in _error(project)


# --------------------------------------------------------------------------- bad programme files


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("improvement_direction: decrease\n    streams: [care_homes, handover]",
         "improvment_direction: decrease\n    streams: [care_homes, handover]",
         "measures.falls_with_harm.improvment_direction: unknown key 'improvment_direction'. "
         "Did you mean 'improvement_direction'?"),
        ("domain: past_harm", "domain: past_harms", "measures.falls_with_harm.domain"),
        ("    per: 1000\n    unit: falls", "    unit: falls", "a rate needs `per`"),
        ("measures: [falls_with_harm, pressure_ulcers]", "measures: [falls_with_harm, pressure_ulcer]",
         "streams.care_homes.driver_diagram.1.measures: unknown measure 'pressure_ulcer'. Did you mean 'pressure_ulcers'?"),
        ("SLF02: {name: Salford community services, setting: community}",
         "SLF02: {name: Salford community services, setting: communty}", "localities.salford.organisations.SLF02.setting"),
        ("OLD32: {name: Oldham care homes (west), setting: care_home}",
         "SLF01: {name: Oldham care homes (west), setting: care_home}",
         "organisation code 'SLF01' is also listed under salford"),
        ("denominator: bed_days\n      pressure_ulcers:", "denominator: bed_dayz\n      pressure_ulcers:",
         "no monthly source declares the exposure 'bed_dayz'. Did you mean 'bed_days'?"),
        ("period: {start: 2015-01, end: 2021-12}", "period: {start: 2021-12, end: 2015-01}",
         "programme.period: end (2015-01) must be after start (2021-12)"),
    ],
)
def test_bad_programme_file(project, old, new, expected):
    programme = project / "parameters/programme.yml"
    _edit(programme, old, new)
    msg = _error(project)
    assert str(programme) in msg
    assert expected in msg


def test_missing_programme_file(project):
    (project / "parameters/programme.yml").unlink()
    with pytest.raises(ConfigError, match="is not an evalkit project"):
        load_project(project)
