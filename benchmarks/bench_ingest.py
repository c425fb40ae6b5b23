"""How fast is `evalkit ingest` on a big incident extract, against a plain pandas read?

    python benchmarks/bench_ingest.py [--rows 5000000] [--repeat 3]

Builds a throw-away project in a temporary folder (a copy of parameters/, small
monthly, care-home, workforce, survey, Bury and Oldham extracts, and ONE big
Datix-format incidents CSV of --rows rows with about 0.1% bad rows: impossible,
future and pre-programme dates, unknown organisations, unknown labels, missing
references, repeated references), then times, best of --repeat:

(a) ``evalkit.data.ingest.ingest(config)``: every check, the quarantine, the
    aggregation and every Parquet, CSV and JSON write;
(b) the baseline: ``pandas.read_csv`` of the same big file and
    ``groupby([organisation, month, category]).size()``, which validates nothing.

The goal (issue: ingest performance) is under 8 s for 5 million rows on 2 cores,
and no slower than the baseline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from evalkit.config import load_project  # noqa: E402
from evalkit.data.ingest import ingest  # noqa: E402

SEED = 20240601
BAD_ROW_SHARE = 0.001
"""About 0.1% of the big file's rows are bad, as in a real Datix export."""
BIG_FILE = "incidents/datix_all.csv"
BIG_LOCALITIES = ("salford", "rochdale", "north_manchester")
TODAY = dt.date(2024, 6, 1)
MONTHS = pd.date_range("2015-01-01", "2021-12-01", freq="MS")


def _labels(source, field: str) -> dict[str, str]:
    """Evalkit code -> the first raw label that maps to it."""
    out: dict[str, str] = {}
    for label, code in source.values.get(field, {}).items():
        out.setdefault(code, label)
    return out


def _csv_field(text: str) -> str:
    return f'"{text}"' if any(c in text for c in ',"\n') else text


def write_big_incidents(path: Path, prog, n: int, rng: np.random.Generator) -> int:
    """Write the big Datix CSV fast (label arrays indexed by numpy, joined by Arrow); return bad rows planted."""
    src = prog.sources["datix_incidents"]
    loc_label, cat_label = _labels(src, "locality"), _labels(src, "category")
    harm_label, set_label = _labels(src, "harm"), _labels(src, "setting")
    orgs = [(code, loc, org.setting) for code, (loc, org) in prog.organisation_index().items() if loc in BIG_LOCALITIES]
    org_codes = [c for c, _, _ in orgs] + ["XXX99"]
    org_locs = [loc_label[loc] for _, loc, _ in orgs] + [loc_label[BIG_LOCALITIES[0]]]
    org_sets = [set_label[s] for _, _, s in orgs] + [set_label["acute"]]
    days = pd.date_range("2015-01-01", "2021-12-31", freq="D")
    date_text = [d.strftime("%d/%m/%Y") for d in days] + ["31/02/2016", "01/01/2030", "15/06/2013"]
    categories = [_csv_field(label) for label in cat_label.values()] + ["Near miss"]
    harms = list(harm_label.values())

    org_i = rng.integers(0, len(orgs), n)
    day_i = rng.integers(0, len(days), n)
    cat_i = rng.integers(0, len(categories) - 1, n)
    harm_i = rng.choice(len(harms), n, p=[0.7, 0.2, 0.07, 0.02, 0.01][: len(harms)])
    ref = np.arange(1, n + 1)
    bad = np.sort(rng.choice(np.arange(1, n), max(6, int(n * BAD_ROW_SHARE)), replace=False))
    kinds = np.arange(len(bad)) % 6
    day_i[bad[kinds == 0]] = len(days) + rng.integers(0, 3, int((kinds == 0).sum()))  # bad, future, early dates
    org_i[bad[kinds == 1]] = len(orgs)  # unknown organisation
    cat_i[bad[kinds == 2]] = len(categories) - 1  # unknown label
    dup = bad[kinds == 3]
    ref[dup] = ref[dup - 1]  # repeated reference (of the row before, which may itself be bad)
    missing = bad[kinds == 4]  # empty reference
    loc_swap = bad[kinds == 5]  # organisation reported under another locality

    def pick(labels: list[str], index: np.ndarray) -> pa.Array:
        return pa.DictionaryArray.from_arrays(pa.array(index.astype(np.int32)), pa.array(labels)).cast(pa.string())

    ref_text = pc.binary_join_element_wise("INC", pc.utf8_lpad(pc.cast(pa.array(ref), pa.string()), 9, "0"), "")
    ref_text = pc.if_else(pa.array(np.isin(np.arange(n), missing)), pa.scalar(""), ref_text)
    locs = np.array(org_locs, dtype=object)[org_i]
    other = {label: next(x for x in org_locs if x != label) for label in set(org_locs)}
    locs[loc_swap] = [other[label] for label in locs[loc_swap]]  # an organisation under another locality
    line = pc.binary_join_element_wise(
        ref_text, pick(date_text, day_i), pick(org_codes, org_i), pa.array(locs, pa.string()),
        pick(org_sets, org_i), pick(categories, cat_i), pick(harms, harm_i), "\n", ",",
    ).cast(pa.large_string())
    # each line ends ",\n" from the trailing separator: drop that comma by joining without it
    line = pc.utf8_replace_slice(line, -2, -1, "")
    offsets = line.buffers()[1]
    body = line.buffers()[2]
    end = pa.Array.from_buffers(pa.int64(), n + 1, [None, offsets])[-1].as_py()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        out.write(",".join(src.columns[f] for f in ("record_id", "date", "organisation", "locality", "setting",
                                                    "category", "harm")).encode() + b"\n")
        out.write(memoryview(body)[:end])
    return len(bad)


def write_small_files(root: Path, prog, rng: np.random.Generator) -> None:
    """A minimal valid extract for every other source (all months, every organisation it covers)."""
    raw = root / "data" / "raw"
    index = prog.organisation_index()
    by_setting = lambda *s: [(c, l) for c, (l, o) in index.items() if o.setting in s]  # noqa: E731

    def monthly(source_id: str, orgs, path: str, excel_sheet: str | None = None) -> None:
        src = prog.sources[source_id]
        labels = _labels(src, "locality")
        rows = []
        for code, loc in orgs:
            for month in MONTHS:
                row = {src.columns["period"]: month.strftime("%Y-%m") if excel_sheet is None else month.to_pydatetime(),
                       src.columns["organisation"]: code, src.columns["locality"]: labels.get(loc, loc)}
                for column in src.exposures.values():
                    row[column] = int(rng.integers(1500, 3000))
                for spec in src.measures.values():
                    den = row.setdefault(spec.denominator, int(rng.integers(50, 500))) if spec.denominator else 100
                    row.setdefault(spec.numerator, int(rng.integers(0, min(den, 100) + 1)))
                rows.append(row)
        frame = pd.DataFrame(rows)
        target = raw / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if excel_sheet is None:
            frame.to_csv(target, index=False)
        else:
            frame.to_excel(target, sheet_name=excel_sheet, index=False, engine="xlsxwriter")

    monthly("provider_activity", by_setting("acute", "community"), prog.sources["provider_activity"].files)
    monthly("care_home_returns", by_setting("care_home"), prog.sources["care_home_returns"].files, "Returns")
    monthly("workforce", list((c, l) for c, (l, _) in index.items()), prog.sources["workforce"].files)

    for source_id, locality in (("datix_incidents_bury", "bury"), ("incidents_oldham", "oldham")):
        src = prog.sources[source_id]
        labels = {f: _labels(src, f) for f in ("locality", "category", "harm", "setting")}
        orgs = [(c, o.setting) for c, (l, o) in index.items() if l == locality]
        rows = []
        for i in range(500):
            code, setting = orgs[i % len(orgs)]
            day = dt.date(2015, 1, 1) + dt.timedelta(days=int(rng.integers(0, 2556)))
            rows.append({src.columns["record_id"]: f"{locality[:3].upper()}{i:06d}",
                         src.columns["date"]: day.strftime(src.read.date_format) if src.read.date_format else day,
                         src.columns["organisation"]: code, src.columns["locality"]: labels["locality"][locality],
                         src.columns["setting"]: labels["setting"][setting],
                         src.columns["category"]: list(labels["category"].values())[i % 6],
                         src.columns["harm"]: list(labels["harm"].values())[i % 5]})
        target = raw / src.files
        target.parent.mkdir(parents=True, exist_ok=True)
        frame = pd.DataFrame(rows)
        if src.format == "excel":
            frame.to_excel(target, sheet_name=src.read.sheet or "Sheet1", index=False, engine="xlsxwriter")
        else:
            frame.to_csv(target, index=False, sep=src.read.delimiter or ",", encoding=src.read.encoding or "utf-8")

    src = prog.sources["safety_culture_survey"]
    waves = list(src.values["wave"])
    rows = []
    for i in range(400):
        code, loc = list((c, l) for c, (l, _) in index.items())[i % len(index)]
        row = {src.columns["respondent_id"]: f"R{i:05d}", src.columns["wave"]: waves[i % 2],
               src.columns["date"]: "2016-11-01" if i % 2 == 0 else "2019-11-01", src.columns["organisation"]: code,
               src.columns["locality"]: _labels(src, "locality")[loc], src.columns["staff_group"]: "Nursing"}
        row.update({item: int(rng.integers(src.scale[0], src.scale[1] + 1)) for item in src.items})
        rows.append(row)
    target = raw / src.files
    target.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(target, index=False)


def baseline(path: Path) -> pd.Series:
    """What a quick script would do: read, take the month, count by organisation, month and category."""
    frame = pd.read_csv(path)
    month = pd.to_datetime(frame["IncidentDate"], format="%d/%m/%Y", errors="coerce").dt.to_period("M")
    return frame.groupby([frame["OrgCode"], month, frame["Category"]]).size()


def best_of(repeat: int, run) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - start)
    return best, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows in the big incidents CSV")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each timing; the best is reported")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="evalkit-bench-") as tmp:
        root = Path(tmp) / "project"
        (root / "data" / "raw").mkdir(parents=True)
        shutil.copytree(REPO / "parameters", root / "parameters")
        prog = load_project(root).programme
        rng = np.random.default_rng(SEED)
        start = time.perf_counter()
        big = root / "data" / "raw" / BIG_FILE
        planted = write_big_incidents(big, prog, args.rows, rng)
        write_small_files(root, prog, rng)
        made = time.perf_counter() - start
        config = load_project(root)
        ingest_s, result = best_of(args.repeat, lambda: ingest(config, today=TODAY))
        base_s, _ = best_of(args.repeat, lambda: baseline(big))
        mb = big.stat().st_size / 1e6
        print(f"cores: {os.cpu_count()}; big file: {args.rows:,} rows, {mb:,.0f} MB, {planted:,} bad rows planted "
              f"(written in {made:.1f} s)")
        print(f"all files: {result.rows_read:,} rows read, {result.rows_accepted:,} accepted, "
              f"{result.rows_rejected:,} quarantined")
        print(f"ingest (all checks, quarantine, Parquet): best of {args.repeat} {ingest_s:6.2f} s "
              f"= {result.rows_read / ingest_s:,.0f} rows/s")
        print(f"baseline (pandas read_csv + groupby):      best of {args.repeat} {base_s:6.2f} s "
              f"= {args.rows / base_s:,.0f} rows/s")
        print(f"ratio ingest / baseline: {ingest_s / base_s:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
