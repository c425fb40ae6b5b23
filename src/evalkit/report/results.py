"""Small per-pack result files: what the locality and whole-system packs read instead of refitting.

The pack notebook's last cell calls :func:`record`, which writes
``outputs/results/<locality>/<stream>.json``: one record per monthly measure of
the stream with its latest value, SPC chart, variation and assurance icons and
reading; its post-transition totals (for funnel plots comparing localities);
and, for outcome measures with an interrupted time series, the level change on
the model's scale (for pooling across localities). :func:`load_results` reads
every file present into one tidy table.

The file is deterministic: keys sorted, floats rounded to :data:`FLOAT_DIGITS`
decimal places, no time stamps, so the same pack gives the same bytes. It is
written atomically, so a reader never sees half a file.

File layout (``schema_version`` 1)::

    {"schema_version": 1, "locality", "locality_name", "stream", "stream_name",
     "intervention_start": "YYYY-MM", "transition_months", "post_start", "post_end",
     "data_start", "data_end" (YYYY-MM or null), "alpha", "synthetic",
     "measures": [{"measure_id", "name", "domain", "family", "kind", "improvement_direction",
                   "value_label", "multiplier", "target", "latest_value", "latest_month",
                   "chart", "variation_icon", "assurance_type", "reading",
                   "post": {"numerator", "denominator", "months"},
                   "level_change": null | {"estimate", "std_error", "ci_lower", "ci_upper", "p_value",
                                           "conf_level", "scale", "ratio", "ratio_ci_lower",
                                           "ratio_ci_upper", "family", "errors"},
                   "its_problem": null | str}, ...]}
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from evalkit.config.paths import ProjectPaths
from evalkit.errors import AnalysisError, DataValidationError
from evalkit.atomic import write_atomic
from evalkit.report.formative import FormativeFit
from evalkit.report.pack import PackView
from evalkit.report.summative import MeasureFit

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
FLOAT_DIGITS = 10  # round(x, 10): far below any figure a pack shows, and the same bytes on every run
RESULTS_FOLDER = "results"  # under outputs/

PACK_KEYS = ("locality", "locality_name", "stream", "stream_name", "intervention_start", "transition_months",
             "post_start", "post_end", "data_start", "data_end", "alpha", "synthetic")
MEASURE_KEYS = ("measure_id", "name", "domain", "family", "kind", "improvement_direction", "value_label",
                "multiplier", "target", "latest_value", "latest_month", "chart", "variation_icon", "assurance_type",
                "reading", "its_problem")
POST_KEYS = ("numerator", "denominator", "months")
LEVEL_CHANGE_KEYS = ("estimate", "std_error", "ci_lower", "ci_upper", "p_value", "conf_level", "scale", "ratio",
                     "ratio_ci_lower", "ratio_ci_upper", "family", "errors")
RESULT_COLUMNS = (*PACK_KEYS, *MEASURE_KEYS, *(f"post_{k}" for k in POST_KEYS),
                  *(f"level_change_{k}" for k in LEVEL_CHANGE_KEYS))
"""Columns of :func:`load_results`: the pack keys, the measure keys, then ``post_*`` and ``level_change_*``."""
NUMERIC_COLUMNS = ("transition_months", "alpha", "multiplier", "target", "latest_value", "post_numerator",
                   "post_denominator", "post_months", *(f"level_change_{k}" for k in LEVEL_CHANGE_KEYS
                                                        if k not in ("scale", "family", "errors")))
SCALES = {"log": "log", "logit": "logit"}  # link -> scale of the level change; anything else is "identity"


# --------------------------------------------------------------------------- building the record


def _number(value) -> float | None:
    """A float for JSON: rounded to FLOAT_DIGITS places; None when missing or not finite."""
    if value is None:
        return None
    value = float(value)
    return round(value, FLOAT_DIGITS) if math.isfinite(value) else None


def _month(value) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    return f"{pd.Timestamp(value):%Y-%m}"


def _latest(series: pd.DataFrame) -> tuple[float | None, str | None]:
    """The last month with a value, and that value in the measure's units (the count itself for counts)."""
    observed = series[series["value"].notna()]
    if observed.empty:
        return None, None
    last = observed.iloc[-1]
    return _number(last["value"]), _month(last["period"])


def _post_totals(view: PackView, measure_id: str) -> dict:
    """Numerator and denominator summed over the post-transition window's months with a value."""
    summary = view.summaries.get(measure_id)
    if summary is None:
        return {"numerator": None, "denominator": None, "months": 0}
    post = summary.summary().set_index("window").loc["post"]
    return {"numerator": _number(post["numerator"]), "denominator": _number(post["denominator"]),
            "months": int(post["n_months"])}


def _level_change(fit: MeasureFit) -> dict | None:
    """The level change of the chosen model on its linear-predictor scale, with the ratio for log/logit links."""
    if fit.result is None:
        return None
    table = fit.result.fit.summary()
    rows = table[(table["group"] == "treated") & (table["term"] == "level_change")]
    if rows.empty:
        return None
    row = rows.iloc[0]
    ratio = {k: _number(row[k]) if k in row.index else None for k in ("ratio", "ratio_ci_lower", "ratio_ci_upper")}
    return {"estimate": _number(row["estimate"]), "std_error": _number(row["std_error"]),
            "ci_lower": _number(row["ci_lower"]), "ci_upper": _number(row["ci_upper"]),
            "p_value": _number(row["p_value"]), "conf_level": _number(row["conf_level"]),
            "scale": SCALES.get(fit.result.fit.fitted.link, "identity"), **ratio,
            "family": fit.result.family, "errors": fit.result.errors}


def _chart(fit: FormativeFit) -> str | None:
    if fit.spc is None:
        return None
    return "run" if fit.run is not None else fit.spc.chart


def _measure_record(view: PackView, measure_id: str, fit: FormativeFit, its: MeasureFit | None) -> dict:
    measure = view.measures[measure_id]
    latest_value, latest_month = _latest(view.series[measure_id])
    return {
        "measure_id": measure_id, "name": measure.name, "domain": measure.domain, "family": measure.family,
        "kind": measure.kind, "improvement_direction": measure.improvement_direction,
        "value_label": measure.value_label, "multiplier": _number(measure.scale),
        "target": _number(view.pack.parameters.targets.get(measure_id)),
        "latest_value": latest_value, "latest_month": latest_month, "chart": _chart(fit),
        "variation_icon": fit.spc.variation_icon if fit.spc is not None else "none",
        "assurance_type": fit.spc.assurance_type if fit.spc is not None else None,
        "reading": fit.reading, "post": _post_totals(view, measure_id),
        "level_change": _level_change(its) if its is not None else None,
        "its_problem": its.problem if its is not None else None,
    }


def pack_results(view: PackView, formative_fits: Mapping[str, FormativeFit],
                 summative_fits: Mapping[str, MeasureFit]) -> dict:
    """The results document of one pack (see the module docstring), from fits the pack already made.

    ``formative_fits``: :func:`evalkit.report.formative.fit_all` (every monthly measure); ``summative_fits``:
    measure id -> :class:`~evalkit.report.summative.MeasureFit` for the outcome measures modelled.
    """
    monthly = [m for m in view.measure_ids if view.measures[m].cadence == "monthly"]
    missing = [m for m in monthly if m not in formative_fits]
    if missing:
        raise AnalysisError(f"{view.locality}/{view.stream}: formative_fits lacks {missing}; pass "
                            "evalkit.report.formative.fit_all(view), which fits every monthly measure.")
    unknown = sorted(set(summative_fits) - set(monthly))
    if unknown:
        raise AnalysisError(f"{view.locality}/{view.stream}: summative_fits holds {unknown}, which are not monthly "
                            f"measures of the stream ({', '.join(monthly)}).")
    params = view.pack.parameters
    _, post = view.windows
    period = view.data_period or (None, None)
    return {
        "schema_version": SCHEMA_VERSION, "locality": view.locality, "locality_name": view.locality_name,
        "stream": view.stream, "stream_name": view.stream_info.name,
        "intervention_start": _month(params.intervention.start),
        "transition_months": params.intervention.transition_months,
        "post_start": _month(post.start), "post_end": _month(post.end),
        "data_start": _month(period[0]), "data_end": _month(period[1]),
        "alpha": _number(view.alpha), "synthetic": view.synthetic,
        "measures": [_measure_record(view, m, formative_fits[m], summative_fits.get(m)) for m in monthly],
    }


def to_json(document: Mapping) -> str:
    """The document as deterministic JSON text: keys sorted, two-space indents, a final newline."""
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def results_path(paths: ProjectPaths, locality: str, stream: str) -> Path:
    """``outputs/results/<locality>/<stream>.json``."""
    return paths.outputs / RESULTS_FOLDER / locality / f"{stream}.json"


def record(view: PackView, formative_fits: Mapping[str, FormativeFit],
           summative_fits: Mapping[str, MeasureFit]) -> Path:
    """Write the pack's results file atomically and return its path (see :func:`pack_results`)."""
    path = results_path(view.paths, view.locality, view.stream)
    write_atomic(path, to_json(pack_results(view, formative_fits, summative_fits)))
    logger.info("Recorded %s", path)
    return path


# --------------------------------------------------------------------------- reading


def read_results(path: str | Path) -> dict:
    """One results file as a dict; :class:`DataValidationError` naming the file when it cannot be used."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataValidationError(f"{path}: cannot read the results file ({exc}); rerun its pack.") from exc
    if not isinstance(document, dict) or document.get("schema_version") != SCHEMA_VERSION:
        version = document.get("schema_version") if isinstance(document, dict) else type(document).__name__
        raise DataValidationError(f"{path}: expected a results file of schema_version {SCHEMA_VERSION}, got "
                                  f"{version!r}; rerun its pack to rewrite it.")
    missing = [k for k in (*PACK_KEYS, "measures") if k not in document]
    measures = document.get("measures")
    if not missing and not isinstance(measures, list):
        missing = ["measures (a list)"]
    if not missing:
        needed = (*MEASURE_KEYS, "post", "level_change")
        missing = sorted({f"measures[{i}].{k}" for i, m in enumerate(measures) for k in needed
                          if not isinstance(m, dict) or k not in m})
    if missing:
        raise DataValidationError(f"{path}: results file lacks {missing[:5]}; rerun its pack to rewrite it.")
    return document


def _rows(document: Mapping) -> list[dict]:
    pack = {k: document[k] for k in PACK_KEYS}
    rows = []
    for measure in document["measures"]:
        row = {**pack, **{k: measure[k] for k in MEASURE_KEYS}}
        post = measure["post"] or {}
        level = measure["level_change"] or {}
        row |= {f"post_{k}": post.get(k) for k in POST_KEYS}
        row |= {f"level_change_{k}": level.get(k) for k in LEVEL_CHANGE_KEYS}
        rows.append(row)
    return rows


def result_files(paths: ProjectPaths) -> list[Path]:
    """Every results file present, sorted by locality then stream."""
    folder = paths.outputs / RESULTS_FOLDER
    return sorted(folder.glob("*/*.json")) if folder.is_dir() else []


def load_results(paths: ProjectPaths) -> pd.DataFrame:
    """Every results file present as one table: one row per locality x stream x monthly measure.

    Columns :data:`RESULT_COLUMNS`: the pack's keys (``locality`` ... ``synthetic``), the measure's keys
    (``measure_id`` ... ``its_problem``), ``post_numerator``, ``post_denominator``, ``post_months`` and
    ``level_change_*`` (missing where the measure has no interrupted time series). Months are ``YYYY-MM``
    text; numbers are floats (NaN where missing). No files: an empty table with these columns.
    """
    rows = []
    for path in result_files(paths):
        document = read_results(path)
        if (document["locality"], document["stream"]) != (path.parent.name, path.stem):
            raise DataValidationError(f"{path}: holds {document['locality']}/{document['stream']}, not "
                                      f"{path.parent.name}/{path.stem}; rerun the pack or remove the file.")
        rows += _rows(document)
    frame = pd.DataFrame.from_records(rows, columns=list(RESULT_COLUMNS))
    for column in NUMERIC_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    frame["synthetic"] = frame["synthetic"].astype(bool)
    return frame


__all__ = ["RESULT_COLUMNS", "SCHEMA_VERSION", "load_results", "pack_results", "read_results", "record",
           "result_files", "results_path", "to_json"]
