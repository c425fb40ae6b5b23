"""Load and cross-check the programme and pack parameter files.

Validation runs in this order, and every failure is a :class:`ConfigError`
naming the file, the key path and the value, with a hint:

1. YAML syntax and duplicate keys (:mod:`evalkit.config.yamlio`);
2. each file against its schema (:mod:`evalkit.config.models`);
3. references across files: measures, streams, localities, sources, dates.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from evalkit.config.models import SURVEY_WAVES, IncidentMeasure, MonthlyMeasure, PackParameters, Programme, SurveyMeasure
from evalkit.config.paths import ProjectPaths
from evalkit.config.yamlio import read_yaml
from evalkit.errors import ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class Pack:
    """One locality x stream evidence pack and its parameters."""

    locality: str
    stream: str
    parameters: PackParameters
    file: Path

    @property
    def key(self) -> str:
        return f"{self.locality}/{self.stream}"


@dataclass(frozen=True)
class ProjectConfig:
    """The whole validated configuration of a project."""

    paths: ProjectPaths
    programme: Programme
    packs: tuple[Pack, ...]

    def pack(self, locality: str, stream: str) -> Pack:
        for pack in self.packs:
            if pack.locality == locality and pack.stream == stream:
                return pack
        known = ", ".join(p.key for p in self.packs) or "none"
        raise ConfigError(
            f"No parameter file for locality {locality!r} and stream {stream!r} "
            f"(expected {self.paths.pack_file(locality, stream)}). Packs configured: {known}."
        )


# --------------------------------------------------------------------------- messages


def _suggest(value: object, choices: Iterable[str]) -> str:
    choices = sorted(choices)
    close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.6)
    if close:
        return f" Did you mean {close[0]!r}?"
    return f" Allowed: {', '.join(choices)}." if choices and len(choices) <= 12 else ""


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str] | None:
    """The keys allowed at ``loc`` inside ``model`` (for did-you-mean hints), if they can be found."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return None
            current = field.annotation
        else:
            # Containers: dict[str, X] / tuple[X, ...] / X | None -> X
            args = [a for a in getattr(current, "__args__", ()) if a is not type(None) and a is not Ellipsis]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            if not models:
                return None
            current = models[-1]
            if isinstance(part, str) and part in current.model_fields:
                current = current.model_fields[part].annotation
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    args = [a for a in getattr(current, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)]
    return list(args[-1].model_fields) if args else None


def _format_validation(path: Path, exc: ValidationError, model: type[BaseModel]) -> ConfigError:
    lines = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "IncidentMeasure", "MonthlyMeasure"))))
        key = ".".join(str(p) for p in loc) or "(top level)"
        value = err.get("input")
        if err["type"] == "extra_forbidden":
            allowed = _fields_at(model, loc) or []
            msg = f"unknown key {loc[-1]!r}.{_suggest(loc[-1], allowed)}"
        elif err["type"] == "missing":
            msg = "required key is missing; add it"
        elif err["type"] == "literal_error":
            allowed = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
            close = difflib.get_close_matches(str(value), allowed, n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            msg = f"{value!r} is not allowed; use one of {', '.join(allowed)}.{hint}"
        else:
            shown = repr(value) if not isinstance(value, (dict, list)) else f"a {type(value).__name__}"
            msg = f"{err['msg'].removeprefix('Value error, ')} (got {shown})"
        lines.append(f"  {key}: {msg}")
    return ConfigError(f"{path}: {len(lines)} problem(s):\n" + "\n".join(lines))


def _fail(path: Path, problems: list[str]) -> None:
    if problems:
        raise ConfigError(f"{path}: {len(problems)} problem(s):\n" + "\n".join(f"  {p}" for p in problems))


def _parse(path: Path, model: type[ModelT], expected: str) -> ModelT:
    """Read one YAML file into ``model``; every schema problem in one ConfigError naming the file."""
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected {expected}.")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _format_validation(path, exc, model) from None


# --------------------------------------------------------------------------- programme


def load_programme(paths: ProjectPaths) -> Programme:
    """Read and validate ``parameters/programme.yml``, including its internal references."""
    path = paths.programme_file
    programme = _parse(path, Programme, "a mapping with keys programme, localities, streams, measures, sources "
                       "(and optionally disclosure)")
    _fail(path, _programme_references(programme))
    return programme


def _programme_references(prog: Programme) -> list[str]:
    problems: list[str] = []
    measures, streams, sources = set(prog.measures), set(prog.streams), set(prog.sources)
    codes: dict[str, str] = {}
    for loc_id, loc in prog.localities.items():
        for code in loc.organisations:
            if code in codes:
                problems.append(
                    f"localities.{loc_id}.organisations.{code}: organisation code {code!r} is also listed "
                    f"under {codes[code]}; each code belongs to one locality."
                )
            codes[code] = loc_id
    for m_id, measure in prog.measures.items():
        for s in measure.streams:
            if s not in streams:
                problems.append(f"measures.{m_id}.streams: unknown stream {s!r}.{_suggest(s, streams)}")
    for s_id, stream in prog.streams.items():
        for i, driver in enumerate(stream.driver_diagram):
            for m in driver.measures:
                if m not in measures:
                    problems.append(
                        f"streams.{s_id}.driver_diagram.{i}.measures: unknown measure {m!r}.{_suggest(m, measures)}"
                    )
                elif s_id not in prog.measures[m].streams:
                    problems.append(
                        f"streams.{s_id}.driver_diagram.{i}.measures: measure {m!r} does not list stream "
                        f"{s_id!r} under its `streams`; add it there or remove it here."
                    )
    fed: dict[str, str] = {}
    exposures = {e for src in prog.sources.values() for e in src.exposures}
    for src_id, src in prog.sources.items():
        for m_id, spec in src.measures.items():
            where = f"sources.{src_id}.measures.{m_id}"
            if m_id not in measures:
                problems.append(f"{where}: unknown measure {m_id!r}.{_suggest(m_id, measures)}")
                continue
            fed[m_id] = src_id
            kind = prog.measures[m_id].kind
            if isinstance(spec, IncidentMeasure):
                if kind == "rate" and spec.denominator is None:
                    problems.append(f"{where}: a rate needs `denominator: <exposure>` (e.g. bed_days).")
                if kind == "proportion" and spec.of is None:
                    problems.append(f"{where}: a proportion of incidents needs `of: <measure>`.")
                if spec.of is not None and spec.of not in src.measures:
                    problems.append(f"{where}.of: {spec.of!r} is not a measure of this source.{_suggest(spec.of, src.measures)}")
                if spec.denominator is not None and spec.denominator not in exposures:
                    problems.append(
                        f"{where}.denominator: no monthly source declares the exposure {spec.denominator!r}."
                        f"{_suggest(spec.denominator, exposures)}"
                    )
                for field, allowed in spec.where.items():
                    vocab = set(src.values.get(field, {}).values())
                    for v in allowed:
                        if vocab and v not in vocab:
                            problems.append(f"{where}.where.{field}: {v!r} is not a code of `values.{field}`.{_suggest(v, vocab)}")
            elif isinstance(spec, MonthlyMeasure) and kind in ("rate", "proportion", "mean") and not spec.denominator:
                problems.append(f"{where}: a {kind} measure needs a `denominator` column.")
        if src.layout == "survey":
            for m_id in src.measures:
                if prog.measures.get(m_id) and prog.measures[m_id].cadence != "survey_wave":
                    problems.append(f"sources.{src_id}.measures.{m_id}: a survey measure needs `cadence: survey_wave`.")
    problems += _source_problems(prog)
    for m_id, measure in prog.measures.items():
        if m_id not in fed and measure.cadence == "monthly":
            problems.append(f"measures.{m_id}: no source feeds this measure; map it under a source's `measures`.")
    return problems


def _source_problems(programme: Programme) -> list[str]:
    """What in the sources section the data layouts cannot act on."""
    problems = []
    for sid, src in programme.sources.items():
        where = f"sources.{sid}"
        for code in src.values.get("locality", {}).values():
            if code not in programme.localities:
                problems.append(f"{where}.values.locality: {code!r} is not a locality id of programme.yml.")
        for code in src.values.get("wave", {}).values():
            if code not in SURVEY_WAVES:
                problems.append(f"{where}.values.wave: {code!r} must be pre or post.")
        if src.layout == "survey":
            lo, hi = src.scale
            if not lo < hi or not lo <= src.positive_from <= hi:
                problems.append(f"{where}: scale {list(src.scale)} must run low to high and contain "
                                f"positive_from ({src.positive_from}).")
        item_domains = {item.domain for item in src.items.values()}
        for m_id, spec in src.measures.items():
            if isinstance(spec, SurveyMeasure):
                for domain in spec.item_domains:
                    if domain not in item_domains:
                        problems.append(f"{where}.measures.{m_id}.item_domains: no item has domain {domain!r}."
                                        f"{_suggest(domain, item_domains)}")
            if not isinstance(spec, IncidentMeasure) or m_id not in programme.measures:
                continue
            for field in spec.where:
                if field not in src.columns:
                    problems.append(f"{where}.measures.{m_id}.where.{field}: the source maps no `{field}` column; "
                                    f"add it under {where}.columns or remove the filter.")
            kind = programme.measures[m_id].kind
            if kind == "mean" or (kind == "proportion" and spec.denominator) or (kind == "rate" and spec.of) \
                    or (kind == "count" and (spec.denominator or spec.of)):
                problems.append(f"{where}.measures.{m_id}: a {kind} cannot be counted from incidents this way; "
                                "use `denominator: <exposure>` for a rate, `of: <measure>` for a proportion, "
                                "and neither for a count.")
    return problems


# --------------------------------------------------------------------------- packs


def load_pack(paths: ProjectPaths, programme: Programme, locality: str, stream: str) -> Pack:
    """Read and validate one ``parameters/<locality>/<stream>.yml`` against the programme."""
    path = paths.pack_file(locality, stream)
    if locality not in programme.localities:
        raise ConfigError(f"{path}: unknown locality {locality!r}.{_suggest(locality, programme.localities)} "
                          "Add it under `localities` in programme.yml or rename the folder.")
    if stream not in programme.streams:
        raise ConfigError(f"{path}: unknown stream {stream!r}.{_suggest(stream, programme.streams)} "
                          "Add it under `streams` in programme.yml or rename the file.")
    params = _parse(path, PackParameters, "a mapping with at least `intervention: {start: YYYY-MM}`")
    _fail(path, _pack_references(programme, locality, stream, params))
    return Pack(locality=locality, stream=stream, parameters=params, file=path)


def _pack_references(prog: Programme, locality: str, stream: str, p: PackParameters) -> list[str]:
    problems: list[str] = []
    period = prog.programme.period
    start = p.intervention.start
    if not period.start < start <= period.end:
        problems.append(
            f"intervention.start: {start:%Y-%m} is outside the programme period "
            f"{period.start:%Y-%m} to {period.end:%Y-%m} (after its first month); move it inside."
        )
    if p.post_start > period.end:
        problems.append(
            f"intervention.transition_months: {p.intervention.transition_months} months after "
            f"{start:%Y-%m} leaves no post-intervention data before {period.end:%Y-%m}; shorten it."
        )
    if p.comparator is not None:
        if p.comparator not in prog.localities:
            problems.append(f"comparator: unknown locality {p.comparator!r}.{_suggest(p.comparator, prog.localities)}")
        elif p.comparator == locality:
            problems.append(f"comparator: {p.comparator!r} is this pack's own locality; choose another or remove it.")
    base, post = p.windows.baseline, p.windows.post
    if base is not None:
        if base.end >= start:
            problems.append(f"windows.baseline.end: {base.end:%Y-%m} must be before the intervention start {start:%Y-%m}.")
        if base.start < period.start:
            problems.append(f"windows.baseline.start: {base.start:%Y-%m} is before the programme starts ({period.start:%Y-%m}).")
    if post is not None:
        if post.start < p.post_start:
            problems.append(
                f"windows.post.start: {post.start:%Y-%m} falls before the transition ends "
                f"(first post month {p.post_start:%Y-%m}); move it later or shorten the transition."
            )
        if post.end > period.end:
            problems.append(f"windows.post.end: {post.end:%Y-%m} is after the programme ends ({period.end:%Y-%m}).")
    for i, event in enumerate(p.events):
        if not period.start <= event.date <= period.end:
            problems.append(f"events.{i}.date: {event.date:%Y-%m} ({event.label!r}) is outside the programme period.")
    stream_measures = set(prog.streams[stream].measure_ids)
    for m_id in p.targets:
        if m_id not in stream_measures:
            problems.append(f"targets.{m_id}: not a measure of stream {stream!r}.{_suggest(m_id, stream_measures)}")
    return problems


def discover_packs(paths: ProjectPaths) -> list[tuple[str, str]]:
    """Every (locality, stream) with a parameter file, sorted."""
    found = []
    for file in sorted(paths.parameters.glob("*/*.yml")):
        found.append((file.parent.name, file.stem))
    return found


def load_project(root: str | Path | None = None) -> ProjectConfig:
    """Load and validate the programme and every pack file; raise one error listing every bad file."""
    paths = ProjectPaths.from_root(root)
    programme = load_programme(paths)
    packs, errors = [], []
    for locality, stream in discover_packs(paths):
        try:
            packs.append(load_pack(paths, programme, locality, stream))
        except ConfigError as exc:
            errors.append(str(exc))
    if errors:
        raise ConfigError("\n".join(errors))
    if not packs:
        raise ConfigError(
            f"{paths.parameters}: no pack parameter files found. Add parameters/<locality>/<stream>.yml "
            "with at least `intervention: {start: YYYY-MM}`."
        )
    return ProjectConfig(paths=paths, programme=programme, packs=tuple(packs))
