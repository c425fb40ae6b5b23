"""Small processed tables written straight to data/processed, as ingest would write them.

The tables follow the contract in :mod:`evalkit.data.store` exactly (columns,
dtypes, file names), so the report and pipeline layers can be tested without
the demo generator or the ingest. Numbers are drawn from a seeded generator:
the same call writes the same files.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd

from evalkit.config.load import load_programme
from evalkit.config.paths import ProjectPaths
from evalkit.data.store import OBSERVATION_COLUMNS, QUARANTINE_COLUMNS, SURVEY_COLUMNS

SEED = 20170401
CHANGE_MONTH = dt.date(2017, 4, 1)  # salford/care_homes.yml intervention.start
EFFECT = 0.2  # relative change after CHANGE_MONTH, in each measure's improvement direction
GAP = ("salford", "falls_with_harm", dt.date(2016, 6, 1))  # a month no organisation reported
UNPAIRED = ("salford", "SLF31", "falls_with_harm", dt.date(2020, 6, 1))  # bed days quarantined: numerator kept

# Which settings report through each source (the demo's organisations: acute, community, care homes).
SOURCE_SETTINGS = {
    "datix_incidents": ("acute", "community", "care_home"),
    "provider_activity": ("acute", "community"),
    "care_home_returns": ("care_home",),
    "workforce": ("acute", "community", "care_home"),
}
DENOMINATOR_SIZE = {"acute": 9000.0, "community": 3000.0, "care_home": 2500.0}


def _months(start: dt.date, end: dt.date) -> list[dt.date]:
    return [d.date() for d in pd.date_range(start, end, freq="MS")]


def _observations(prog, localities, rng) -> pd.DataFrame:
    feeds = {m: src_id for src_id, src in prog.sources.items() for m in src.measures if src.layout != "survey"}
    feeds = {m: ("datix_incidents" if s.startswith(("datix", "incidents")) else s) for m, s in feeds.items()}
    months = _months(prog.programme.period.start, prog.programme.period.end)
    rows = []
    for locality in localities:
        for code, org in prog.localities[locality].organisations.items():
            for measure_id, measure in prog.measures.items():
                source = feeds.get(measure_id)
                if source is None or org.setting not in SOURCE_SETTINGS[source]:
                    continue
                sign = -1 if measure.improvement_direction == "decrease" else 1
                for month in months:
                    if (locality, measure_id, month) == GAP:
                        continue
                    shift = 1 + sign * EFFECT if month >= CHANGE_MONTH else 1.0
                    size = DENOMINATOR_SIZE[org.setting]
                    if measure.kind == "rate":
                        den = float(rng.poisson(size))
                        num = float(rng.poisson(2.5 * shift * den / 1000))
                    elif measure.kind == "proportion":
                        den = float(rng.poisson(size / 20) + 1)
                        num = float(rng.binomial(int(den), min(0.98, 0.7 * shift)))
                    elif measure.kind == "mean":
                        den = float(rng.poisson(120) + 1)
                        num = float(np.round(rng.gamma(4.0, 5.0 * shift, int(den)).sum(), 1))
                    else:
                        den, num = np.nan, float(rng.poisson(4 * shift))
                    if (locality, code, measure_id, month) == UNPAIRED:
                        den = np.nan
                    rows.append((locality, code, org.setting, measure_id, pd.Timestamp(month), num, den, source))
    frame = pd.DataFrame(rows, columns=list(OBSERVATION_COLUMNS))
    frame["period"] = frame["period"].astype("datetime64[ms]")
    return frame


def _survey(prog, localities, rng) -> pd.DataFrame:
    source_id, source = next((k, s) for k, s in prog.sources.items() if s.layout == "survey")
    rows = []
    for locality in localities:
        for code in prog.localities[locality].organisations:
            for wave, date, p in (("pre", dt.date(2017, 2, 14), 0.60), ("post", dt.date(2018, 6, 12), 0.70)):
                for r in range(12):
                    respondent = f"{code}-{wave}-{r:03d}"
                    group = ("nursing", "medical", "support")[r % 3]
                    for item_id, item in source.items.items():
                        agree = rng.random() < p
                        response = int(rng.integers(4, 6) if agree else rng.integers(1, 4))
                        positive = (response < source.positive_from) if item.reverse else \
                            (response >= source.positive_from)
                        rows.append((locality, code, source_id, respondent, wave, pd.Timestamp(date), group,
                                     item_id, item.domain, response, positive))
    frame = pd.DataFrame(rows, columns=list(SURVEY_COLUMNS))
    frame["survey_date"] = frame["survey_date"].astype("datetime64[ms]")
    frame["response"] = frame["response"].astype("int16")
    frame["positive"] = frame["positive"].astype(bool)
    return frame


QUARANTINED = pd.DataFrame(
    [
        ("incidents/datix_salford.csv", "14", "unknown_value",
         "HarmGrade 'Moderate' is not listed under values.harm; add it or correct the row.",
         "SLF-0012", "03/02/2016", "SLF01", "Salford", "Acute hospital", "Slips, trips and falls", "Moderate"),
        ("incidents/datix_salford.csv", "52", "unparseable_date",
         "IncidentDate '31/02/2017' is not a date in the format %d/%m/%Y; correct it.",
         "SLF-0050", "31/02/2017", "SLF31", "Salford", "Care home", "Pressure ulcer", "Moderate harm"),
        ("incidents/datix_salford.csv", "77", "unknown_organisation",
         "OrgCode 'SLF99' is not an organisation in programme.yml; add it or correct the code.",
         "SLF-0075", "12/07/2018", "SLF99", "Salford", "Care home", "Slips, trips and falls", "Low harm"),
        ("incidents/datix_north_manchester.csv", "9", "unknown_value",
         "Category 'Falls' is not listed under values.category; add it or correct the row.",
         "NMA-0007", "05/05/2016", "NMA01", "North Manchester", "Acute hospital", "Falls", "Low harm"),
    ],
    columns=[*QUARANTINE_COLUMNS, "IncidentRef", "IncidentDate", "OrgCode", "Locality", "LocationType", "Category",
             "HarmGrade"],
)


def write_processed(root: Path, *, localities: tuple[str, ...] = ("salford", "north_manchester"),
                    seed: int = SEED) -> ProjectPaths:
    """Write observations, survey responses, ingest report and one quarantine file under ``root``."""
    paths = ProjectPaths.from_root(root)
    prog = load_programme(paths)
    rng = np.random.default_rng(seed)
    paths.processed.mkdir(parents=True, exist_ok=True)
    observations = _observations(prog, localities, rng)
    survey = _survey(prog, localities, rng)
    observations.to_parquet(paths.observations_file, index=False)
    survey.to_parquet(paths.survey_file, index=False)
    paths.quarantine.mkdir(exist_ok=True)
    QUARANTINED.to_csv(paths.quarantine / "datix_incidents.csv", index=False)
    rejected = QUARANTINED.groupby("file").size().to_dict()
    files = [
        {"source": "datix_incidents", "file": name, "sha256": f"{i:064x}",
         "rows_read": 400 + rejected.get(name, 0), "rows_accepted": 400, "rows_rejected": rejected.get(name, 0)}
        for i, name in enumerate(["incidents/datix_north_manchester.csv", "incidents/datix_salford.csv"])
    ]
    files.append({"source": "workforce", "file": "workforce/workforce_monthly.csv", "sha256": "f" * 64,
                  "rows_read": 672, "rows_accepted": 672, "rows_rejected": 0})
    report = {"files": files}
    paths.ingest_report_file.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return paths
