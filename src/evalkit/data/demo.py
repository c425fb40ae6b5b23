"""The synthetic demo data: one call writes every raw extract the demo programme needs.

:func:`generate` is what ``evalkit demo-data`` runs; :func:`simulate` returns the
same data as tidy frames without writing anything, for tests and notebooks.

The demo is split in three modules:

* ``demo.py`` (this one): who reports in which source (:func:`make_plan`), the
  effects designed into the data (:func:`make_truth`), and the public entry points;
* :mod:`evalkit.data.demo_series`: the simulation of the canonical tidy data;
* :mod:`evalkit.data.demo_write`: the raw files as organisations send them, and the
  rows with errors planted on purpose.

Same seed, same bytes: every file, the .xlsx workbooks included, depends only on
the seed and the parameter files.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from evalkit.config.load import ProjectConfig
from evalkit.config.models import Programme
from evalkit.data.demo_series import DemoData, child_rng, simulate_data
from evalkit.data.demo_write import DEFECT_COLUMNS, build_tables, encode, labels, plant_defects
from evalkit.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_SEED = 2015
"""The seed ``evalkit demo-data`` uses unless told otherwise (the programme's first year)."""

README_FILE = "SYNTHETIC_DATA_README.md"
TRUTH_FILE = "demo_truth.csv"
DEFECTS_FILE = "demo_defects.csv"

INCIDENT_SOURCE_FOR_LOCALITY = {"bury": "datix_incidents_bury", "oldham": "incidents_oldham"}
"""Localities whose incident system writes its own single export. Every other locality
gets its own file of the one incident source whose ``files`` is a glob (the Datix
export), named by putting the locality id in place of the ``*``."""

MONTHLY_SOURCE_SETTINGS = {"provider_activity": ("acute", "community"), "care_home_returns": ("care_home",)}
"""Settings of the organisations that report in each monthly source; a source not listed
here is reported by every organisation."""

# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class OrgRef:
    locality: str
    code: str
    setting: str


@dataclass(frozen=True)
class DemoPlan:
    """Who reports what, where: derived from programme.yml and the tables above."""

    orgs: dict[str, OrgRef]
    localities: dict[str, tuple[str, ...]]
    monthly_orgs: dict[str, tuple[str, ...]]
    """Monthly source id -> the organisations that report in it."""
    measure_source: dict[tuple[str, str], str]
    """(organisation, monthly measure) -> the source that carries it."""
    exposure_source: dict[tuple[str, str], str]
    """(organisation, exposure) -> the source that carries it."""
    incident_source: dict[str, str]
    """Locality -> its incident source."""
    incident_file: dict[str, str]
    """Locality -> its incident file, relative to data/raw."""
    codes: dict[str, dict[str, tuple[str, ...]]]
    """Incident source -> field -> the evalkit codes of its ``values``."""
    record_prefix: dict[str, str] = field(default_factory=dict)
    """Locality -> the prefix of its incident references."""


def _route_incidents(prog: Programme) -> tuple[dict[str, str], dict[str, str]]:
    incident_sources = {s: src for s, src in prog.sources.items() if src.layout == "incidents"}
    for loc, src_id in INCIDENT_SOURCE_FOR_LOCALITY.items():
        src = incident_sources.get(src_id)
        if loc in prog.localities and (src is None or "*" in src.files):
            raise ConfigError(
                f"programme.yml: the demo generator sends {loc}'s incidents to source {src_id!r}, which is not an "
                f"incident source with a single file. Incident sources: {sorted(incident_sources)}. Add it, or edit "
                "INCIDENT_SOURCE_FOR_LOCALITY in evalkit/data/demo.py.")
    globbed = [s for s, src in incident_sources.items() if src.files.count("*") == 1]
    source_of, file_of = {}, {}
    for loc in prog.localities:
        src_id = INCIDENT_SOURCE_FOR_LOCALITY.get(loc)
        if src_id is None:
            if len(globbed) != 1:
                raise ConfigError(
                    f"programme.yml: {loc}'s incidents need exactly one incident source whose `files` is a glob "
                    f"with one '*' (found {globbed}); add one or route {loc} in INCIDENT_SOURCE_FOR_LOCALITY.")
            src_id = globbed[0]
        source_of[loc] = src_id
        file_of[loc] = prog.sources[src_id].files.replace("*", loc)
    for src_id in sorted(set(incident_sources) - set(source_of.values())):
        log.warning("demo: no locality reports through incident source %s, so %s is not written",
                    src_id, incident_sources[src_id].files)
    return source_of, file_of


def _record_prefixes(prog: Programme) -> dict[str, str]:
    """Locality -> incident reference prefix: the letters its organisation codes share (SLF01, SLF31 -> SLF)."""
    prefixes = {}
    for loc, locality in prog.localities.items():
        stems = {code.rstrip("0123456789") for code in locality.organisations}
        prefixes[loc] = stems.pop() if len(stems) == 1 and "" not in stems else loc[:3].upper()
    if len(set(prefixes.values())) < len(prefixes):
        prefixes = {loc: f"L{i:02d}" for i, loc in enumerate(prog.localities, start=1)}
    return prefixes


def make_plan(prog: Programme) -> DemoPlan:
    """Work out who reports in which source; raise ConfigError where programme.yml leaves a gap."""
    orgs = {code: OrgRef(loc, code, org.setting)
            for loc, locality in prog.localities.items() for code, org in locality.organisations.items()}
    monthly, measure_source, exposure_source = {}, {}, {}
    for src_id, src in prog.sources.items():
        if src.layout != "monthly":
            continue
        settings = MONTHLY_SOURCE_SETTINGS.get(src_id)
        monthly[src_id] = tuple(c for c, o in orgs.items() if settings is None or o.setting in settings)
        for code in monthly[src_id]:
            for m_id in src.measures:
                measure_source.setdefault((code, m_id), src_id)
            for exposure in src.exposures:
                if (code, exposure) in exposure_source:
                    raise ConfigError(
                        f"programme.yml sources.{src_id}.exposures.{exposure}: organisation {code} would report "
                        f"{exposure} in both {exposure_source[(code, exposure)]} and {src_id}; the demo needs one. "
                        "Edit MONTHLY_SOURCE_SETTINGS in evalkit/data/demo.py.")
                exposure_source[(code, exposure)] = src_id
    source_of, file_of = _route_incidents(prog)
    for loc, src_id in source_of.items():
        for m_id, spec in prog.sources[src_id].measures.items():
            for code in prog.localities[loc].organisations:
                if spec.denominator and (code, spec.denominator) not in exposure_source:
                    raise ConfigError(
                        f"programme.yml sources.{src_id}.measures.{m_id}: organisation {code} reports no "
                        f"{spec.denominator!r} in any monthly source, so its incident rate has no denominator.")
    codes = {}
    for src_id in set(source_of.values()):
        codes[src_id] = {f: tuple(labels(prog.sources[src_id], f)) for f in ("category", "harm", "setting")}
        if not codes[src_id]["category"] or not codes[src_id]["harm"]:
            raise ConfigError(f"programme.yml sources.{src_id}.values: an incident source needs `category` and "
                              "`harm` labels for the demo generator to write.")
    return DemoPlan(orgs=orgs, localities={loc: tuple(l.organisations) for loc, l in prog.localities.items()},
                    monthly_orgs=monthly, measure_source=measure_source, exposure_source=exposure_source,
                    incident_source=source_of, incident_file=file_of, codes=codes,
                    record_prefix=_record_prefixes(prog))


# --------------------------------------------------------------------------- truth

EFFECTS: dict[str, tuple[float, float]] = {
    "falls_with_harm": (-0.20, -0.004), "pressure_ulcers": (-0.15, -0.003),
    "medication_incidents_harm": (-0.15, -0.003), "emergency_admissions_care_homes": (-0.10, 0.0),
    "discharge_summaries_24h": (0.50, 0.010), "med_rec_24h": (0.45, 0.010), "mean_hours_to_med_rec": (-0.15, -0.003),
    "observations_on_time": (0.30, 0.005), "structured_handover": (0.60, 0.015), "safety_huddles_held": (1.00, 0.020),
    "training_completion": (0.30, 0.008), "incident_reporting_rate": (0.15, 0.002),
    "actions_closed_on_time": (0.40, 0.008), "learning_events": (0.40, 0.0), "safety_climate_positive": (0.35, 0.0),
}
"""Designed (level_change, slope_change per month) on each measure's link scale, before the
locality's spread. Every balancing measure is null whatever is listed here."""
EFFECT_SPREAD = (0.75, 1.25)  # a locality's effect is the designed effect times a factor drawn from this range
NULL_MEASURES = {
    "readmissions_30d": "null: timelier summaries were not designed to move readmissions",
    "no_harm_incident_proportion": "null: the mix of harm grades was designed not to change",
}
NULL_PACKS = {("rochdale", "medicines"): "null: the medicines stream did not take hold in Rochdale"}
SCALES = {"count": "log_rate_ratio", "rate": "log_rate_ratio", "proportion": "log_odds_ratio", "mean": "log_mean_ratio"}


def make_truth(config: ProjectConfig, seed: int) -> pd.DataFrame:
    """The effect built into every locality x measure (the rows of ``demo_truth.csv``)."""
    prog, packs = config.programme, {(p.locality, p.stream): p for p in config.packs}
    rows = []
    for loc in prog.localities:
        for m_id, measure in prog.measures.items():
            stream = measure.streams[0]
            pack = packs.get((loc, stream))
            level, slope = EFFECTS.get(m_id, (0.0, 0.0))
            note = "designed change"
            if pack is None:
                level, slope, note = 0.0, 0.0, f"null: no {stream} pack for this locality"
            elif measure.family == "balancing":
                level, slope, note = 0.0, 0.0, "null: balancing measure, designed not to change"
            elif (loc, stream) in NULL_PACKS:
                level, slope, note = 0.0, 0.0, NULL_PACKS[(loc, stream)]
            elif m_id in NULL_MEASURES:
                level, slope, note = 0.0, 0.0, NULL_MEASURES[m_id]
            elif m_id not in EFFECTS:
                note = "null: no change designed for this measure"
            else:
                factor = child_rng(seed, "effect", loc, m_id).uniform(*EFFECT_SPREAD)
                level, slope = round(level * factor, 3), round(slope * factor, 4)
                if measure.cadence == "survey_wave":
                    note = "designed change: log odds of a positive response, Follow-up vs Baseline, per respondent"
            rows.append({
                "locality": loc, "measure_id": m_id, "stream": stream,
                "intervention": f"{pack.parameters.intervention.start:%Y-%m}" if pack else "",
                "transition_months": pack.parameters.intervention.transition_months if pack else pd.NA,
                "scale": SCALES[measure.kind], "level_change": level, "slope_change": slope, "note": note,
            })
    truth = pd.DataFrame(rows)
    truth["transition_months"] = truth["transition_months"].astype("Int64")
    return truth


# --------------------------------------------------------------------------- entry points


def simulate(config: ProjectConfig, *, seed: int = DEFAULT_SEED) -> DemoData:
    """The demo programme's canonical tidy data for ``seed``; nothing is read or written."""
    return simulate_data(config, make_plan(config.programme), make_truth(config, seed), seed=seed)


@dataclass(frozen=True)
class WrittenFile:
    """One file written: its path under data/raw, its data rows (None for the README), its SHA-256."""

    file: str
    rows: int | None
    sha256: str


@dataclass(frozen=True)
class DemoResult:
    """What :func:`generate` wrote.

    ``summary()`` has one row per file: ``file`` (path under data/raw, forward
    slashes), ``rows`` (data rows, header excluded; empty for the README) and
    ``sha256`` (of the bytes written).
    """

    raw: Path
    seed: int
    defects: bool
    files: tuple[WrittenFile, ...]
    n_observations: int
    """Organisation x measure x month rows in the canonical data."""
    n_incidents: int
    n_respondents: int
    """Survey rows (respondent x wave) in the canonical data."""
    n_defects: int
    """Rows listed in demo_defects.csv."""
    clipped_cells: int = 0

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(self.raw / f.file for f in self.files)

    def summary(self) -> pd.DataFrame:
        frame = pd.DataFrame([(f.file, f.rows, f.sha256) for f in self.files], columns=["file", "rows", "sha256"])
        frame["rows"] = frame["rows"].astype("Int64")
        return frame


def generate(config: ProjectConfig, *, seed: int = DEFAULT_SEED, defects: bool = True) -> DemoResult:
    """Write the synthetic demo extracts, truth and defect list into ``data/raw``.

    The files are those named by each source's ``files`` in programme.yml, plus
    ``demo_truth.csv`` (one row per locality and measure: locality, measure_id,
    stream, intervention (YYYY-MM), transition_months, scale, level_change,
    slope_change per month, note), ``demo_defects.csv`` (the rows planted on
    purpose: file, row, check, column, value) and ``SYNTHETIC_DATA_README.md``.
    Existing files of those names are replaced; nothing else in data/raw is touched.
    """
    prog = config.programme
    plan = make_plan(prog)
    truth = make_truth(config, seed)
    data = simulate_data(config, plan, truth, seed=seed)
    tables = build_tables(prog, plan, data)
    planted = plant_defects(prog, plan, tables, seed=seed) if defects else pd.DataFrame(columns=DEFECT_COLUMNS)
    raw = config.paths.raw
    _warn_strays(prog, raw, {t.path for t in tables})
    files = []
    for table in tables:
        body = encode(table, _about(seed, table.source_id, prog))
        files.append(WrittenFile(table.path, table.n_rows, _write_bytes(raw, table.path, body)))
    for name, frame in ((TRUTH_FILE, _truth_text(truth)), (DEFECTS_FILE, planted)):
        files.append(WrittenFile(name, len(frame), _write_bytes(raw, name, _frame_bytes(frame))))
    readme = _readme(prog, seed, defects, files, planted).encode("utf-8")
    files.append(WrittenFile(README_FILE, None, _write_bytes(raw, README_FILE, readme)))
    log.info("demo: wrote %d synthetic files to %s (seed %d)", len(files), raw, seed)
    return DemoResult(raw=raw, seed=seed, defects=defects, files=tuple(files),
                      n_observations=len(data.observations), n_incidents=len(data.incidents),
                      n_respondents=len(data.survey), n_defects=len(planted), clipped_cells=data.clipped_cells)


def _warn_strays(prog: Programme, raw: Path, written: set[str]) -> None:
    for src_id, source in prog.sources.items():
        for path in sorted(raw.glob(source.files)):
            if path.relative_to(raw).as_posix() not in written:
                log.warning("demo: %s matches sources.%s.files but is not a demo file; ingest will read it too",
                            path, src_id)


def _truth_text(truth: pd.DataFrame) -> pd.DataFrame:
    out = truth.copy()
    out["level_change"] = out["level_change"].map("{:.3f}".format)
    out["slope_change"] = out["slope_change"].map("{:.4f}".format)
    out["transition_months"] = out["transition_months"].astype("string").fillna("")
    return out


def _write_bytes(raw: Path, relative: str, body: bytes) -> str:
    """Write ``body`` to ``raw/relative`` (via a temporary file) and return its SHA-256."""
    target = raw / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(body)
    partial.replace(target)
    return hashlib.sha256(body).hexdigest()


def _frame_bytes(frame: pd.DataFrame) -> bytes:
    """A small table as UTF-8 CSV bytes with ``\\n`` line endings (cells already formatted)."""
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


# --------------------------------------------------------------------------- words


def _about(seed: int, source_id: str, prog: Programme) -> list[str]:
    return [
        "SYNTHETIC DATA: made up for the evalkit demonstration. No real patients, staff, organisations or events.",
        f"Made by `evalkit demo-data --seed {seed}` from parameters/programme.yml (source {source_id}: "
        f"{prog.sources[source_id].description}).",
        f"See {README_FILE} beside it in data/raw: what each file holds, the effects built in ({TRUTH_FILE}) "
        f"and the rows with errors planted on purpose ({DEFECTS_FILE}).",
    ]


def _readme(prog: Programme, seed: int, defects: bool, files: list[WrittenFile], planted: pd.DataFrame) -> str:
    lines = [
        "# Synthetic demonstration data",
        "",
        "**Every file in this folder is synthetic.** Nothing here describes real patients, staff, organisations",
        "or events: the places are real, the organisations, codes, people and numbers are made up.",
        f"The files were made by `evalkit demo-data --seed {seed}` from `parameters/programme.yml` and the pack",
        "files; the same seed and parameters give byte-identical files (the Excel workbooks included). Each",
        "Excel workbook also carries an `About` sheet saying so.",
        "",
        "## Files",
        "",
        "| file | rows | sha256 (first 12) |",
        "|---|---:|---|",
    ]
    lines += [f"| `{f.file}` | {'' if f.rows is None else f.rows} | `{f.sha256[:12]}` |" for f in files]
    lines += [
        "",
        "Rows are data rows, the header excluded. The raw extracts follow the sources of programme.yml: file",
        "names, column names, labels, delimiter, encoding, date format and Excel sheet all come from there.",
        "",
        f"## {TRUTH_FILE}",
        "",
        "The effects built into the data, one row per locality and measure: `stream` is the measure's first",
        "stream (whose intervention carries the effect), `intervention` that locality's start month (YYYY-MM),",
        "`scale` the scale of the effect (`log_rate_ratio` for counts and rates, `log_odds_ratio` for",
        "proportions, `log_mean_ratio` for means), `level_change` the step in the intervention month and",
        "`slope_change` the change in slope per month after it, on that scale, the same for every organisation",
        "of the locality. Zero rows are nulls: balancing measures, a stream that did not take hold, or no",
        "change designed. Odds ratios are not collapsible, so a proportion pooled over a locality's",
        "organisations moves by nearly, not exactly, the stated log odds. For the survey, `level_change` is",
        "the log odds of a positive response at Follow-up against Baseline for the same respondent (a",
        "marginal estimate is slightly smaller).",
        "",
        f"## {DEFECTS_FILE}",
        "",
    ]
    if not defects:
        lines.append("No defects were planted (`--no-defects`): the file has its header only.")
    else:
        counts = planted.groupby("check").size()
        lines += [
            "Rows with errors planted on purpose, one line per row: `file`, `row` (the row number a spreadsheet",
            "shows: header = 1, first data row = 2), `check` (the code of the ingest check it must fail, see",
            "`evalkit.data.store.CHECKS`), `column` and the bad `value` (empty for an exact duplicate).",
            "Planted rows are extra rows, so the data survive the ingest, except in the monthly files: a",
            "`conflicting_duplicate` lists both rows of a pair (both are rejected), and a row whose organisation",
            "and month must stay valid (a locality mismatch, an unknown label, a bad number) is a real row",
            "corrupted in place, because an extra row would make the real one a conflicting duplicate too. Those",
            "few organisation-months are missing after ingest. A date after the ingest day is also after the",
            "programme's end: it is listed as `date_in_future`.",
            "",
            "| check | rows |",
            "|---|---:|",
        ]
        lines += [f"| `{check}` | {n} |" for check, n in counts.items()]
    return "\n".join(lines) + "\n"
