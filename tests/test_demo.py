"""The synthetic demo generator: files as programme.yml describes them, same seed same bytes,
the truth and defect lists honest, and series with the statistical properties the truth claims."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import shutil
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import statsmodels.api as sm

from evalkit.config import load_project
from evalkit.data.demo import DEFAULT_SEED, generate, make_plan, make_truth, simulate
from evalkit.data.demo_series import simulate_data
from evalkit.data.demo_write import IN_PLACE, build_tables
from evalkit.data.store import CHECKS
from evalkit.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def _fresh_project(root: Path) -> Path:
    shutil.copytree(REPO / "parameters", root / "parameters")
    (root / "data" / "raw").mkdir(parents=True)
    return root


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo written once, default seed, into a project of its own: (config, result)."""
    root = _fresh_project(tmp_path_factory.mktemp("demo") / "project")
    config = load_project(root)
    return config, generate(config, seed=DEFAULT_SEED)


@pytest.fixture(scope="module")
def data(demo):
    return simulate(demo[0], seed=DEFAULT_SEED)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_rows(source, path: Path, max_row: int | None = None) -> list[list[str]]:
    """The rows of a raw file as text, header first (Excel dates as ISO dates, whole numbers without .0)."""
    if source.format == "excel":
        book = openpyxl.load_workbook(path, read_only=True)
        rows = []
        for row in book[source.read.sheet].iter_rows(values_only=True, max_row=max_row):
            rows.append(["" if v is None else v.date().isoformat() if isinstance(v, dt.datetime)
                         else str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in row])
        book.close()
        return rows
    text = path.read_bytes().decode(source.read.encoding or "utf-8-sig")
    return list(csv.reader(text.splitlines()[:max_row], delimiter=source.read.delimiter or ","))


@pytest.fixture(scope="module")
def raw_rows(demo):
    """Every row of every raw extract of the module's demo, read once: file -> rows."""
    config, result = demo
    out = {}
    for f in result.files:
        if f.file.endswith((".csv", ".xlsx")) and not f.file.startswith("demo_"):
            out[f.file] = _read_rows(_source_of(config, f.file)[1], config.paths.raw / f.file)
    return out


def _source_of(config, file: str):
    for src_id, source in config.programme.sources.items():
        if Path(file).match(source.files):
            return src_id, source
    raise KeyError(file)


def _expected_columns(source) -> set[str]:
    cols = set(source.columns.values()) | set(source.exposures.values()) | set(source.items)
    if source.layout == "monthly":
        for spec in source.measures.values():
            cols |= {c for c in (spec.numerator, spec.denominator) if c}
    return cols | ({"Description"} if source.layout == "incidents" else set())


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_bytes_different_seed_different(demo, project, tmp_path):
    config, first = demo
    again = generate(load_project(project), seed=DEFAULT_SEED)
    assert again.summary().equals(first.summary())
    for f in again.files:
        assert _sha(project / "data/raw" / f.file) == f.sha256, f.file

    other = generate(load_project(_fresh_project(tmp_path / "other")), seed=DEFAULT_SEED + 1, defects=False)
    before = dict(zip(first.summary()["file"], first.summary()["sha256"]))
    for f in other.files:
        assert f.sha256 != before[f.file], f"{f.file} did not change with the seed"
    defects = pd.read_csv(tmp_path / "other/data/raw/demo_defects.csv", dtype=str)
    assert defects.empty and list(defects.columns) == ["file", "row", "check", "column", "value"]


# --------------------------------------------------------------------------- files as configured


def test_every_source_file_has_exactly_its_mapped_columns(demo):
    config, result = demo
    raw = config.paths.raw
    written = {f.file for f in result.files}
    for src_id, source in config.programme.sources.items():
        paths = sorted(raw.glob(source.files))
        assert paths, f"nothing written for {src_id} ({source.files})"
        for path in paths:
            assert path.relative_to(raw).as_posix() in written
            header = _read_rows(source, path, max_row=1)[0]
            assert len(header) == len(set(header)), path
            assert set(header) == _expected_columns(source), path
    datix = sorted(p.name for p in raw.glob(config.programme.sources["datix_incidents"].files))
    assert datix == ["datix_north_manchester.csv", "datix_rochdale.csv", "datix_salford.csv"]


def test_encodings_delimiters_and_sheets_are_as_configured(demo):
    config, _ = demo
    raw = config.paths.raw
    bury = (raw / "incidents/bury_incident_export.csv").read_bytes()
    assert bury.splitlines()[0].count(b";") == 7 and b"," not in bury.splitlines()[0]
    assert "café".encode("cp1252") in bury
    with pytest.raises(UnicodeDecodeError):
        bury.decode("utf-8")
    assert (raw / "incidents/datix_salford.csv").read_bytes().startswith(b"\xef\xbb\xbfIncidentRef,")
    assert (raw / "incidents/datix_rochdale.csv").read_bytes().startswith(b"IncidentRef,")
    assert b"\r" not in (raw / "incidents/datix_rochdale.csv").read_bytes()
    for src_id in ("incidents_oldham", "care_home_returns"):
        source = config.programme.sources[src_id]
        book = openpyxl.load_workbook(raw / source.files, read_only=True)
        assert book.sheetnames == [source.read.sheet, "About"]
        about = " ".join(str(r[0]) for r in book["About"].iter_rows(values_only=True))
        assert "SYNTHETIC" in about and "--seed 2015" in about
        book.close()
    readme = (raw / "SYNTHETIC_DATA_README.md").read_text(encoding="utf-8")
    assert "synthetic" in readme.lower() and "evalkit demo-data --seed 2015" in readme
    for name in ("demo_truth.csv", "demo_defects.csv", "incidents/oldham_incidents.xlsx"):
        assert name in readme


def test_labels_and_dates_follow_the_source(demo, raw_rows):
    config, _ = demo
    prog, raw = config.programme, config.paths.raw
    source = prog.sources["incidents_oldham"]
    rows = raw_rows[source.files]
    header, body = rows[0], rows[1:]
    harm = [r[header.index(source.columns["harm"])] for r in body]
    assert set(harm) - {"Near miss", "Not yet graded"} == set(source.values["harm"])
    months = pd.read_csv(raw / "activity/provider_activity.csv", dtype=str)["Month"]
    assert months.str.fullmatch(r"\d{4}-\d{2}").mean() > 0.99
    dates = pd.read_csv(raw / "incidents/datix_rochdale.csv", dtype=str)["IncidentDate"]
    assert dates.str.fullmatch(r"\d{2}/\d{2}/\d{4}").all()


def test_the_generator_follows_an_edited_mapping(project):
    path = project / "parameters/programme.yml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("harm: HarmGrade", "harm: Harm grade").replace('"Moderate harm": moderate', '"Mod": moderate')
    path.write_text(text.replace("Discharges}", "Discharged}"), encoding="utf-8")
    config = load_project(project)
    plan = make_plan(config.programme)
    data = simulate_data(config, plan, make_truth(config, 7), seed=7)
    tables = {t.path: t for t in build_tables(config.programme, plan, data)}
    bury = tables["incidents/bury_incident_export.csv"]
    assert "Harm grade" in bury.columns and "HarmGrade" not in bury.columns
    assert "Mod" in set(bury.data[bury.columns.index("Harm grade")])
    assert "Discharged" in tables["activity/provider_activity.csv"].columns


def test_a_routing_table_out_of_step_with_programme_yml_is_a_clear_error(project):
    path = project / "parameters/programme.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("datix_incidents_bury:", "bury_datix:"),
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bury's incidents to source 'datix_incidents_bury'.*INCIDENT_SOURCE"):
        make_plan(load_project(project).programme)


# --------------------------------------------------------------------------- truth


def test_truth_covers_every_locality_and_measure_with_a_third_null(demo):
    config, _ = demo
    prog = config.programme
    truth = pd.read_csv(config.paths.truth_file, dtype={"intervention": str})
    assert list(truth.columns) == ["locality", "measure_id", "stream", "intervention", "transition_months",
                                   "scale", "level_change", "slope_change", "note"]
    assert len(truth) == len(prog.localities) * len(prog.measures)
    assert set(zip(truth.locality, truth.measure_id)) == {(l, m) for l in prog.localities for m in prog.measures}
    null = (truth.level_change == 0) & (truth.slope_change == 0)
    assert 0.25 <= null.mean() <= 0.40
    balancing = truth.measure_id.map(lambda m: prog.measures[m].family) == "balancing"
    assert null[balancing].all()
    rochdale_medicines = (truth.locality == "rochdale") & (truth.stream == "medicines")
    assert rochdale_medicines.sum() == 4 and null[rochdale_medicines].all()
    scales = {"count": "log_rate_ratio", "rate": "log_rate_ratio", "proportion": "log_odds_ratio",
              "mean": "log_mean_ratio"}
    assert (truth.scale == truth.measure_id.map(lambda m: scales[prog.measures[m].kind])).all()
    for row in truth.itertuples():
        pack = config.pack(row.locality, row.stream)
        assert row.intervention == f"{pack.parameters.intervention.start:%Y-%m}"
        assert row.transition_months == pack.parameters.intervention.transition_months
        assert row.stream == prog.measures[row.measure_id].streams[0]
    falls = truth[(truth.locality == "salford") & (truth.measure_id == "falls_with_harm")].iloc[0]
    assert falls.level_change < -0.1 and falls.slope_change < 0


# --------------------------------------------------------------------------- defects


def _bad(check: str, value: str, row: list[str], header: list[str], source, config) -> bool:
    """Whether ``value`` really is the bad value ``check`` names (the rest of the row aside)."""
    prog = config.programme
    fmt = source.read.date_format or ("%Y-%m" if source.layout == "monthly" and source.format == "csv" else "%Y-%m-%d")

    def parses(text: str) -> dt.date | None:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            return None

    if check == "unparseable_date":
        return parses(value) is None and value != ""
    if check == "date_outside_programme":
        return parses(value) is not None and parses(value) < prog.programme.period.start
    if check == "date_in_future":
        return parses(value) is not None and parses(value).year >= 2030
    if check == "unknown_organisation":
        return value not in prog.organisation_index()
    if check == "organisation_locality_mismatch":
        org, label = (row[header.index(source.columns[f])] for f in ("organisation", "locality"))
        return value in (org, label) and prog.organisation_index()[org][0] != source.values["locality"][label]
    if check == "unknown_value":
        return all(value not in labels_ for labels_ in source.values.values())
    if check == "missing_value":
        return value == ""
    if check == "non_numeric":
        return not value.lstrip("-").replace(".", "", 1).isdigit()
    if check == "negative_count":
        return int(value) < 0
    if check == "numerator_exceeds_denominator":
        spec = next(s for s in source.measures.values() if getattr(s, "numerator", None) == header[row.index(value)])
        return int(value) > int(row[header.index(spec.denominator)])
    if check == "zero_denominator":
        return value == "0"
    if check == "response_out_of_scale":
        return not source.scale[0] <= int(value) <= source.scale[1]
    return True


def test_every_planted_defect_is_in_its_file_with_its_bad_value(demo, raw_rows):
    config, result = demo
    raw = config.paths.raw
    defects = pd.read_csv(raw / "demo_defects.csv", dtype=str, keep_default_na=False)
    assert set(defects["check"]) == set(CHECKS), "every ingest check is exercised"
    rows_total = sum(f.rows for f in result.files if f.file.split("/")[0] in ("incidents", "activity",
                                                                               "care_homes", "workforce", "survey"))
    assert 0.0005 <= len(defects) / rows_total <= 0.002
    assert (defects.groupby("check").size() >= 1).all()
    for file, group in defects.groupby("file"):
        _, source = _source_of(config, file)
        rows = raw_rows[file]
        header = rows[0]
        for d in group.itertuples():
            n = int(d.row) - 1  # row 1 is the header
            row = rows[n]
            if d.check == "exact_duplicate":
                assert row in rows[1:n], f"{file} row {d.row}: no earlier identical row"
                continue
            assert row[header.index(d.column)] == d.value, f"{file} row {d.row} {d.column}"
            assert _bad(d.check, d.value, row, header, source, config), f"{file} row {d.row}: {d.check} {d.value!r}"
            if d.check == "duplicate_record_id":
                ids = [r[header.index(d.column)] for r in rows[1:n]]
                assert d.value in ids, f"{file} row {d.row}: the reference is not seen earlier"
    pairs = defects[defects["check"] == "conflicting_duplicate"]
    assert len(pairs) == 2 and pairs["file"].nunique() == 1


def test_rows_not_planted_are_exactly_the_canonical_data(demo, data, raw_rows):
    config, _ = demo
    prog = config.programme
    defects = pd.read_csv(config.paths.raw / "demo_defects.csv", dtype=str, keep_default_na=False)
    planted = defects.groupby("file")["row"].agg(lambda rows: {int(r) for r in rows})
    obs = data.observations

    source = prog.sources["datix_incidents"]
    rows = raw_rows["incidents/datix_salford.csv"]
    frame = pd.DataFrame([r for n, r in enumerate(rows[1:], start=2) if n not in planted.get(
        "incidents/datix_salford.csv", set())], columns=rows[0])
    where = source.measures["falls_with_harm"].where
    hit = frame[frame.Category.map(source.values["category"]).isin(where["category"])
                & frame.HarmGrade.map(source.values["harm"]).isin(where["harm"])]
    month = pd.to_datetime(hit.IncidentDate, format="%d/%m/%Y").dt.to_period("M").dt.to_timestamp()
    counted = hit.groupby([hit.OrgCode, month]).size()
    truth = obs[(obs.locality == "salford") & (obs.measure_id == "falls_with_harm")]
    truth = truth.set_index(["organisation", "period"])["numerator"]
    assert counted.reindex(truth.index, fill_value=0).tolist() == truth.astype(int).tolist()

    # Monthly files: apart from the planted rows, one row per organisation and month, the canonical values;
    # the organisation-months that went missing are exactly those planted in place or in a conflicting pair.
    for src_id, source in prog.sources.items():
        if source.layout != "monthly":
            continue
        rows = raw_rows[source.files]
        frame = pd.DataFrame([r for n, r in enumerate(rows[1:], start=2) if n not in planted.get(source.files, set())],
                             columns=rows[0])
        month = frame[source.columns["period"]].str[:7]
        frame = frame.set_index([frame[source.columns["organisation"]], month])
        assert frame.index.is_unique, src_id
        for m_id, spec in source.measures.items():
            want = obs[(obs.source == src_id) & (obs.measure_id == m_id)]
            want = want.set_index(["organisation", want.period.dt.strftime("%Y-%m")])["numerator"]
            missing = want.index.difference(frame.index)
            here = defects[defects.file == source.files]
            assert len(missing) == here.check.isin(IN_PLACE).sum() + (here.check == "conflicting_duplicate").sum() / 2
            got = frame[spec.numerator].reindex(want.index.difference(missing)).astype(float)
            assert np.allclose(got.to_numpy(), want.drop(missing).to_numpy()), (src_id, m_id)


# --------------------------------------------------------------------------- the series


def test_incident_measures_are_consistent_with_the_incident_records(demo, data):
    config, _ = demo
    prog, inc, obs = config.programme, data.incidents, data.observations
    month = inc["date"].dt.to_period("M").dt.to_timestamp()
    for m_id, spec in prog.sources["datix_incidents"].measures.items():
        mask = np.ones(len(inc), dtype=bool)
        for field_name, codes in spec.where.items():
            mask &= inc[field_name].isin(codes).to_numpy()
        counted = inc[mask].groupby([inc["organisation"][mask], month[mask]]).size()
        mine = obs[obs.measure_id == m_id].set_index(["organisation", "period"])["numerator"]
        assert counted.reindex(mine.index, fill_value=0).astype(float).equals(mine), m_id
    share = obs[obs.measure_id == "no_harm_incident_proportion"]
    assert 0.6 < share.numerator.sum() / share.denominator.sum() < 0.8
    assert data.clipped_cells < 0.01 * obs[obs.measure_id == "incident_reporting_rate"].shape[0]


def test_magnitudes_are_plausible_for_the_nhs(data):
    obs, expo = data.observations, data.exposures

    def mean_value(measure, setting, scale=1.0):
        part = obs[(obs.measure_id == measure) & (obs.setting == setting)]
        return scale * part.numerator.sum() / part.denominator.sum()

    beds = expo[expo.exposure == "bed_days"].groupby("setting")["value"].mean()
    assert 6000 <= beds["acute"] <= 12000 and 2500 <= beds["care_home"] <= 5000
    assert 1 <= mean_value("falls_with_harm", "acute", 1000) <= 3
    assert 30 <= mean_value("incident_reporting_rate", "acute", 1000) <= 55
    assert 0.005 <= mean_value("staff_turnover", "acute") <= 0.02
    assert 0.035 <= mean_value("sickness_absence", "acute") <= 0.055
    assert 18 <= mean_value("mean_hours_to_med_rec", "acute") <= 32
    before = obs[(obs.locality == "salford") & (obs.measure_id == "discharge_summaries_24h")
                 & (obs.period < "2017-07-01")]
    assert 0.6 <= before.numerator.sum() / before.denominator.sum() <= 0.78
    assert (obs.denominator.dropna() > 0).all() and (obs.numerator >= 0).all()


def test_survey_waves_respondents_and_pairs(demo, data):
    config, _ = demo
    survey = data.survey
    per_org = survey.groupby(["organisation", "wave"]).size()
    assert per_org.between(60, 120).all() and len(per_org) == 2 * len(config.programme.organisation_index())
    for loc, group in survey.groupby("locality"):
        start = pd.Timestamp(config.pack(loc, "safety_culture").parameters.intervention.start)
        pre, post = (group[group.wave == w]["date"] for w in ("pre", "post"))
        assert (pre.dt.to_period("M") == (start - pd.DateOffset(months=2)).to_period("M")).all()
        assert (post.dt.to_period("M") == (start + pd.DateOffset(months=18)).to_period("M")).all()
    post = survey[survey.wave == "post"]
    paired = post.respondent_id.isin(survey.loc[survey.wave == "pre", "respondent_id"]).mean()
    assert 0.25 <= paired <= 0.35
    assert survey.filter(regex=r"^Q\d\d$").isin([1, 2, 3, 4, 5]).all().all()


def _segmented_poisson(data, locality: str, measure: str):
    """Quasi-Poisson segmented regression on the locality's monthly totals, offset log(bed days),
    one annual harmonic; returns (fit, lag-1 autocorrelation of its Pearson residuals, truth row)."""
    obs = data.observations
    series = (obs[(obs.locality == locality) & (obs.measure_id == measure)]
              .groupby("period")[["numerator", "denominator"]].sum().reset_index())
    truth = data.truth[(data.truth.locality == locality) & (data.truth.measure_id == measure)].iloc[0]
    t = np.arange(len(series), dtype=float)
    t0 = int(np.flatnonzero(series.period == pd.Timestamp(truth.intervention))[0])
    post = (t >= t0).astype(float)
    month = series.period.dt.month.to_numpy()
    design = pd.DataFrame({"const": 1.0, "t": t, "level": post, "slope": (t - t0) * post,
                           "sin": np.sin(2 * np.pi * month / 12), "cos": np.cos(2 * np.pi * month / 12)})
    fit = sm.GLM(series.numerator, design, family=sm.families.Poisson(),
                 offset=np.log(series.denominator)).fit(scale="X2")
    resid = np.asarray(fit.resid_pearson)
    return fit, float(np.corrcoef(resid[:-1], resid[1:])[0, 1]), truth


def _level_ci(fit, lag1: float) -> tuple[float, float]:
    # The quasi-Poisson standard error ignores autocorrelation; for a persistent regressor such as a
    # level step, AR(1) errors inflate the variance by about (1 + r) / (1 - r) (r = residual lag-1
    # autocorrelation), so the interval is widened by that factor's square root.
    r = max(lag1, 0.0)
    se = fit.bse["level"] * np.sqrt((1 + r) / (1 - r))
    return fit.params["level"] - 1.96 * se, fit.params["level"] + 1.96 * se


def test_series_are_overdispersed_and_autocorrelated(demo, data):
    config, _ = demo
    fit, _, _ = _segmented_poisson(data, "salford", "falls_with_harm")
    assert fit.pearson_chi2 / fit.df_resid > 1.2
    lag1 = [_segmented_poisson(data, loc, "falls_with_harm")[1] for loc in config.programme.localities]
    assert np.mean(lag1) > 0
    assert _segmented_poisson(data, "salford", "incident_reporting_rate")[1] > 0


@pytest.mark.parametrize("locality, measure", [
    ("salford", "falls_with_harm"),             # designed: level about -0.2 log rate ratio
    ("salford", "incident_reporting_rate"),     # designed: level about +0.15
    ("rochdale", "medication_incidents_harm"),  # null: the medicines stream did not take hold
    ("salford", "delayed_transfer_days"),       # null: balancing measure
])
def test_segmented_regression_recovers_the_designed_level_change(data, locality, measure):
    fit, lag1, truth = _segmented_poisson(data, locality, measure)
    low, high = _level_ci(fit, lag1)
    assert low <= truth.level_change <= high, (fit.params["level"], low, high, truth.level_change)
    if truth.level_change == 0:
        assert low <= 0 <= high
