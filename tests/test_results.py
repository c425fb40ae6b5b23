"""evalkit.report.results: the per-pack results file, deterministic and faithful to the fits it records."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from evalkit.config.paths import ProjectPaths
from evalkit.errors import AnalysisError, DataValidationError
from evalkit.report import results, summative
from results_fixture import copy_project, fit_pack, run_notebook


@pytest.fixture(scope="module")
def root(demo_project, tmp_path_factory):
    """A writable copy of the demo project, with no results yet."""
    return copy_project(demo_project, tmp_path_factory.mktemp("results") / "project")


@pytest.fixture(scope="module")
def care_homes(root):
    """Salford's care-homes pack: (view, formative fits, ITS fits)."""
    return fit_pack(root, "salford", "care_homes")


def test_record_writes_the_same_bytes_every_time_and_round_trips(root, care_homes):
    view, fits, its_fits = care_homes
    path = results.record(view, fits, its_fits)
    assert path == root / "outputs" / "results" / "salford" / "care_homes.json"
    first = path.read_bytes()
    again = results.record(*fit_pack(root, "salford", "care_homes"))  # everything fitted afresh
    assert again.read_bytes() == first
    assert not [p for p in path.parent.iterdir() if p.suffix != ".json"], "temporary files left behind"

    text = first.decode("utf-8")
    assert text.endswith("\n") and "NaN" not in text and "Infinity" not in text
    document = results.read_results(path)
    assert document == results.pack_results(view, fits, its_fits)  # every value survives JSON exactly
    assert results.to_json(document) == text
    assert list(json.loads(text)) == sorted(json.loads(text))  # keys sorted


def test_the_record_holds_the_fits_numbers(care_homes):
    view, fits, its_fits = care_homes
    document = results.pack_results(view, fits, its_fits)
    params = view.pack.parameters
    assert (document["locality"], document["stream"], document["locality_name"]) == ("salford", "care_homes",
                                                                                     "Salford")
    assert document["intervention_start"] == f"{params.intervention.start:%Y-%m}"
    assert document["post_start"] == f"{params.post_start:%Y-%m}" and document["post_end"] == "2021-12"
    assert document["synthetic"] is True and document["schema_version"] == results.SCHEMA_VERSION
    records = {m["measure_id"]: m for m in document["measures"]}
    monthly = [m for m in view.measure_ids if view.measures[m].cadence == "monthly"]
    assert [m["measure_id"] for m in document["measures"]] == monthly

    for measure_id, record in records.items():
        fit = fits[measure_id]
        assert record["variation_icon"] == fit.spc.variation_icon
        assert record["assurance_type"] == fit.spc.assurance_type
        assert record["reading"] == fit.reading
        assert record["chart"] == fit.spc.chart
        series = view.series[measure_id]
        last = series[series["value"].notna()].iloc[-1]
        assert record["latest_month"] == f"{last['period']:%Y-%m}"
        assert record["latest_value"] == pytest.approx(last["value"], abs=1e-9)
        post = view.summaries[measure_id].summary().set_index("window").loc["post"]
        assert record["post"] == {"numerator": post["numerator"], "denominator": post["denominator"],
                                  "months": int(post["n_months"])}
        assert record["multiplier"] == view.measures[measure_id].scale

    assert records["training_completion"]["target"] == 90.0
    assert records["training_completion"]["level_change"] is None  # a process measure: no ITS
    falls = records["falls_with_harm"]["level_change"]
    chosen = its_fits["falls_with_harm"].result
    row = chosen.fit.summary().set_index("term").loc["level_change"]
    assert falls["estimate"] == round(row["estimate"], results.FLOAT_DIGITS)
    assert falls["std_error"] == round(row["std_error"], results.FLOAT_DIGITS)
    assert (falls["ci_lower"], falls["ci_upper"]) == (round(row["ci_lower"], 10), round(row["ci_upper"], 10))
    assert falls["scale"] == "log" and falls["family"] == chosen.family and falls["errors"] == chosen.errors
    assert falls["ratio"] == pytest.approx(math.exp(falls["estimate"]), rel=1e-9)


def test_survey_measures_are_left_out_and_failed_fits_say_why(root):
    view, fits, its_fits = fit_pack(root, "salford", "safety_culture")
    document = results.pack_results(view, fits, its_fits)
    ids = [m["measure_id"] for m in document["measures"]]
    assert "safety_climate_positive" not in ids  # survey waves have no monthly chart
    assert len(ids) == len(view.measure_ids) - 1

    assert its_fits == {}  # no monthly outcome measure in this stream: nothing modelled
    assert all(m["level_change"] is None and m["its_problem"] is None for m in document["measures"])


def test_a_failed_interrupted_time_series_is_recorded_with_its_reason(care_homes):
    view, fits, its_fits = care_homes
    failed = summative.MeasureFit("falls_with_harm", view.measures["falls_with_harm"], None,
                                  problem="too few months before the intervention")
    document = results.pack_results(view, fits, {**its_fits, "falls_with_harm": failed})
    record = next(m for m in document["measures"] if m["measure_id"] == "falls_with_harm")
    assert record["level_change"] is None
    assert record["its_problem"] == "too few months before the intervention"


def test_record_refuses_fits_that_do_not_match_the_pack(care_homes):
    view, fits, its_fits = care_homes
    partial = {k: v for k, v in fits.items() if k != "falls_with_harm"}
    with pytest.raises(AnalysisError, match=r"formative_fits lacks \['falls_with_harm'\]"):
        results.pack_results(view, partial, its_fits)
    with pytest.raises(AnalysisError, match="summative_fits holds"):
        results.pack_results(view, fits, {**its_fits, "med_rec_24h": its_fits["falls_with_harm"]})


def test_load_results_reads_every_file_into_one_row_per_measure(demo_project, tmp_path):
    project = copy_project(demo_project, tmp_path / "project", with_results=False)
    paths = ProjectPaths.from_root(project)
    written = [results.record(*fit_pack(project, loc, "care_homes")) for loc in ("salford", "oldham")]
    table = results.load_results(paths)
    assert list(table.columns) == list(results.RESULT_COLUMNS)
    assert len(table) == 2 * 5  # two packs, five monthly measures each
    assert sorted(set(zip(table["locality"], table["stream"], strict=True))) == [("oldham", "care_homes"),
                                                                                 ("salford", "care_homes")]
    for column in ("latest_value", "post_numerator", "post_denominator", "level_change_estimate", "target"):
        assert table[column].dtype == np.float64, column
    for path in written:
        document = results.read_results(path)
        rows = table[table["locality"] == document["locality"]].set_index("measure_id")
        for record in document["measures"]:
            row = rows.loc[record["measure_id"]]
            assert row["post_denominator"] == record["post"]["denominator"]
            level = record["level_change"]
            if level is None:
                assert np.isnan(row["level_change_estimate"])
            else:
                assert row["level_change_estimate"] == level["estimate"]
                assert row["level_change_scale"] == level["scale"]


def test_no_results_is_an_empty_table_with_the_columns(tmp_path, demo_project):
    project = copy_project(demo_project, tmp_path / "empty", with_results=False)
    table = results.load_results(ProjectPaths.from_root(project))
    assert table.empty and list(table.columns) == list(results.RESULT_COLUMNS)


@pytest.mark.parametrize("content, message", [
    ("{not json", "cannot read the results file"),
    ('{"schema_version": 99}', "schema_version 1, got 99"),
    ('[1, 2]', "schema_version 1, got 'list'"),
    ('{"schema_version": 1, "locality": "salford"}', "results file lacks"),
])
def test_a_broken_results_file_names_the_file_and_the_fix(tmp_path, demo_project, content, message):
    project = copy_project(demo_project, tmp_path / "project", with_results=False)
    path = project / "outputs/results/salford/care_homes.json"
    path.parent.mkdir(parents=True)
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataValidationError, match=message) as caught:
        results.load_results(ProjectPaths.from_root(project))
    assert str(path) in str(caught.value) and "rerun" in str(caught.value)


def test_a_results_file_in_the_wrong_place_is_refused(root, tmp_path, care_homes):
    project = copy_project(root, tmp_path / "project")
    source = results.record(*care_homes)
    moved = project / "outputs/results/oldham/care_homes.json"
    moved.parent.mkdir(parents=True, exist_ok=True)
    moved.write_bytes(source.read_bytes())
    with pytest.raises(DataValidationError, match="holds salford/care_homes, not oldham/care_homes"):
        results.load_results(ProjectPaths.from_root(project))


@pytest.mark.slow
def test_the_pack_notebook_records_the_same_results(root, tmp_path):
    project = copy_project(root, tmp_path / "project")
    run_notebook(project, "pack", {"locality": "salford", "stream": "care_homes", "project_root": str(project)},
                 tmp_path / "care_homes.ipynb")
    path = results.results_path(ProjectPaths.from_root(project), "salford", "care_homes")
    from_notebook = path.read_bytes()
    assert results.record(*fit_pack(project, "salford", "care_homes")).read_bytes() == from_notebook
    assert pd.notna(results.load_results(ProjectPaths.from_root(project))["level_change_estimate"]).sum() == 3
