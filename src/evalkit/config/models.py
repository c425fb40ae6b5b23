"""Typed parameter models: YAML in, validated frozen objects out.

Two kinds of file feed these models:

* ``parameters/programme.yml`` -> :class:`Programme`: the programme, its
  localities and organisations, intervention streams with driver diagrams, the
  measure catalogue, the raw sources with their column mappings, and the
  disclosure control of the packs' counts (:class:`DisclosurePolicy`).
* ``parameters/<locality>/<stream>.yml`` -> :class:`PackParameters`: the
  intervention date, transition, comparator, windows, events and targets of
  one evidence pack.

Unknown keys are errors (``extra="forbid"``); cross-references (a measure's
streams, a source's measures, a comparator locality) are checked in
:mod:`evalkit.config.load`, which knows the whole programme.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

DOMAINS = (
    "past_harm",
    "reliability",
    "sensitivity_to_operations",
    "anticipation_preparedness",
    "integration_learning",
)
"""The five domains of the Measuring and Monitoring of Safety framework (Vincent, Burnett & Carthey 2013)."""

DOMAIN_QUESTIONS = {
    "past_harm": "Has patient care been safe in the past?",
    "reliability": "Are our clinical systems and processes reliable?",
    "sensitivity_to_operations": "Is care safe today?",
    "anticipation_preparedness": "Will care be safe in the future?",
    "integration_learning": "Are we responding and improving?",
}

Domain = Literal[
    "past_harm", "reliability", "sensitivity_to_operations", "anticipation_preparedness", "integration_learning"
]
Family = Literal["outcome", "process", "balancing"]
Kind = Literal["count", "rate", "proportion", "mean"]
Direction = Literal["increase", "decrease", "neutral"]
SURVEY_WAVES = ("pre", "post")
"""The survey wave codes a source's ``values.wave`` must map its labels to."""

Setting = Literal["acute", "care_home", "community", "primary_care", "mental_health", "local_authority"]

_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})(?:-(\d{1,2}))?$")


def _to_month(value: object) -> object:
    """Accept ``2017-04``, ``2017-04-01`` or a date; return the first day of that month."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.replace(day=1)
    if isinstance(value, str):
        match = _MONTH.match(value.strip())
        if match:
            year, month = int(match.group(1)), int(match.group(2))
            if 1 <= month <= 12:
                return dt.date(year, month, 1)
        raise ValueError(f"expected a month as YYYY-MM (e.g. 2017-04), got {value!r}")
    return value


Month = Annotated[dt.date, BeforeValidator(_to_month)]
"""A calendar month, stored as the date of its first day."""


def _lower_first(text: str) -> str:
    """'Occupied bed days' -> 'occupied bed days', leaving acronyms such as 'FTE days' alone."""
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]


def _check_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(
            f"{value!r} is not a valid id: use lower-case letters, digits and underscores, starting with a letter"
        )
    return value


Identifier = Annotated[str, BeforeValidator(lambda v: _check_id(v) if isinstance(v, str) else v)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


# --------------------------------------------------------------------------- programme


class Period(_Model):
    start: Month
    end: Month

    @model_validator(mode="after")
    def _ordered(self) -> "Period":
        if self.end <= self.start:
            raise ValueError(f"end ({self.end:%Y-%m}) must be after start ({self.start:%Y-%m})")
        return self


class ProgrammeInfo(_Model):
    name: str
    aim: str
    period: Period
    synthetic: bool = False
    """True when the data are the synthetic demo: every pack then says so."""


class Organisation(_Model):
    name: str
    setting: Setting


class Locality(_Model):
    name: str
    organisations: dict[str, Organisation] = Field(min_length=1)
    """Organisation code -> organisation. Codes are as the extracts spell them."""


class Driver(_Model):
    primary_driver: str
    change_ideas: tuple[str, ...] = Field(min_length=1)
    measures: tuple[Identifier, ...] = Field(min_length=1)


class Stream(_Model):
    name: str
    aim: str
    driver_diagram: tuple[Driver, ...] = Field(min_length=1)
    settings: tuple[Setting, ...] = ()
    """The settings whose organisations the stream works in (e.g. care_home); empty means every setting."""

    def covers(self, organisation: "Organisation") -> bool:
        """True when the stream's measures should count this organisation."""
        return not self.settings or organisation.setting in self.settings

    @property
    def measure_ids(self) -> tuple[str, ...]:
        """Every measure in the driver diagram, in order of first appearance."""
        seen: dict[str, None] = {}
        for driver in self.driver_diagram:
            for measure in driver.measures:
                seen.setdefault(measure, None)
        return tuple(seen)


class Measure(_Model):
    name: str
    domain: Domain
    family: Family
    kind: Kind
    numerator: str
    """What is counted (plain-English definition)."""
    denominator: str | None = None
    """What it is counted out of; required for rates, proportions and means."""
    per: float | None = None
    """Rates are expressed per this many denominator units (1000 for 'per 1,000 bed days')."""
    unit: str
    improvement_direction: Direction
    streams: tuple[Identifier, ...] = Field(min_length=1)
    cadence: Literal["monthly", "survey_wave"] = "monthly"
    description: str | None = None

    @model_validator(mode="after")
    def _kind_needs(self) -> "Measure":
        if self.kind in ("rate", "proportion", "mean") and not self.denominator:
            raise ValueError(f"a {self.kind} measure needs a denominator definition")
        if self.kind == "rate" and not self.per:
            raise ValueError("a rate needs `per` (e.g. 1000 for 'per 1,000 occupied bed days')")
        if self.kind != "rate" and self.per is not None:
            raise ValueError(f"`per` applies to rates only; this measure's kind is {self.kind}: remove it")
        return self

    @property
    def scale(self) -> float:
        """Multiplier from numerator/denominator to the reported value."""
        if self.kind == "rate":
            return float(self.per)
        if self.kind == "proportion":
            return 100.0
        return 1.0

    @property
    def value_label(self) -> str:
        """How the reported value reads, e.g. 'per 1,000 occupied bed days' or '%'."""
        if self.kind == "rate":
            return f"{self.unit} per {self.per:,.0f} {_lower_first(self.denominator)}"
        if self.kind == "proportion":
            return "%"
        if self.kind == "count":
            return f"{self.unit} per month"
        return self.unit


# --------------------------------------------------------------------------- sources


class ReadOptions(_Model):
    """How to read a raw file: CSV dialect and encoding, Excel sheet, date format."""

    delimiter: str | None = None
    """Field separator; None detects it from the header line."""
    encoding: str | None = None
    """Text encoding (utf-8, cp1252, utf-16, ...); None detects UTF-8/UTF-16 by BOM, else UTF-8."""
    sheet: str | int | None = None
    """Excel sheet name or 0-based index (Excel only; default the first sheet)."""
    date_format: str | None = None
    """strftime pattern of the date column, e.g. '%d/%m/%Y'; None accepts ISO dates (YYYY-MM-DD).
    A monthly source's period column also accepts YYYY-MM and Excel dates."""


class IncidentMeasure(_Model):
    """How an incident-level source feeds one measure."""

    where: dict[Literal["category", "harm", "setting"], tuple[str, ...]] = Field(default_factory=dict)
    """Only incidents whose field is one of these values count; empty counts every incident."""
    of: Identifier | None = None
    """For a proportion of incidents: the measure whose incidents form the denominator."""
    denominator: Identifier | None = None
    """For a rate: the exposure (declared under a monthly source's ``exposures``) it is counted against."""


class MonthlyMeasure(_Model):
    """How a monthly aggregate source feeds one measure (columns of the file)."""

    numerator: str
    denominator: str | None = None


class SurveyMeasure(_Model):
    """How a respondent-level survey source feeds one measure."""

    item_domains: tuple[str, ...] = ()
    """Only items of these survey domains count; empty counts every item."""


class SurveyItem(_Model):
    text: str
    domain: str
    reverse: bool = False
    """True for negatively worded items: agreement is a negative response."""


class Source(_Model):
    description: str
    files: str
    """Glob under data/raw, e.g. 'incidents/*.csv'."""
    format: Literal["csv", "excel"] = "csv"
    layout: Literal["incidents", "monthly", "survey"]
    read: ReadOptions = ReadOptions()
    columns: dict[str, str]
    """evalkit field -> column name in the file."""
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Per field, raw label -> evalkit code (e.g. harm 'Moderate harm' -> moderate). Unlisted labels are rejected."""
    exposures: dict[Identifier, str] = Field(default_factory=dict)
    """Monthly sources: exposure fields (e.g. bed_days) -> column, usable as rate denominators of incident measures."""
    measures: dict[Identifier, IncidentMeasure | MonthlyMeasure | SurveyMeasure] = Field(default_factory=dict)
    items: dict[str, SurveyItem] = Field(default_factory=dict)
    """Survey sources: item column -> item definition."""
    scale: tuple[int, int] = (1, 5)
    """Survey sources: the Likert scale's lowest and highest response."""
    positive_from: int = 4
    """Survey sources: responses at or above this are positive ('agree', 'strongly agree')."""

    _REQUIRED = {
        "incidents": ("record_id", "date", "organisation", "locality"),
        "monthly": ("period", "organisation", "locality"),
        "survey": ("respondent_id", "wave", "date", "organisation", "locality"),
    }

    @model_validator(mode="after")
    def _layout_needs(self) -> "Source":
        missing = [f for f in self._REQUIRED[self.layout] if f not in self.columns]
        if missing:
            raise ValueError(
                f"a {self.layout} source must map the fields {', '.join(missing)} under `columns`"
            )
        if self.layout == "incidents":
            bad = [m for m, spec in self.measures.items() if not isinstance(spec, IncidentMeasure)]
        elif self.layout == "monthly":
            bad = [m for m, spec in self.measures.items() if not isinstance(spec, MonthlyMeasure)]
        else:
            bad = [m for m, spec in self.measures.items() if not isinstance(spec, SurveyMeasure)]
            if not self.items:
                raise ValueError("a survey source must list its `items`")
        if bad:
            raise ValueError(f"measures {bad} are not written the way a {self.layout} source needs")
        return self

    @field_validator("measures", mode="before")
    @classmethod
    def _pick_measure_model(cls, value, info):
        # Discriminate by the source's layout, which is validated before this field.
        layout = info.data.get("layout")
        if not isinstance(value, dict):
            return value
        model = {"incidents": IncidentMeasure, "monthly": MonthlyMeasure, "survey": SurveyMeasure}.get(layout)
        if model is None:
            return value
        return {k: (model.model_validate(v or {}) if isinstance(v, dict) or v is None else v) for k, v in value.items()}


# --------------------------------------------------------------------------- disclosure control

# NHS Digital (now NHS England) statistical disclosure control for Hospital Episode Statistics and similar
# outputs below national level ("HES Analysis Guide"; "Disclosure control" in NHS England's publications):
# counts from 1 to 7 are suppressed (shown as *), zero is shown, and every other count is rounded to the
# nearest 5.
NHS_SUPPRESS_BELOW = 8  # counts 1..7 suppressed
NHS_ROUND_TO = 5  # other counts rounded to the nearest 5


class DisclosurePolicy(_Model):
    """How counts are protected in every table a commissioner sees (``disclosure:`` in programme.yml).

    The defaults are the NHS Digital rule. Modelled quantities (rates, ratios,
    intervals, model estimates) are never suppressed, as in NHS practice; the
    arithmetic is in :mod:`evalkit.report.disclosure`.
    """

    enabled: bool = True
    """False shows every count as it is (for analysts' own copies; the methods section then says so)."""
    suppress_below: int = Field(default=NHS_SUPPRESS_BELOW, ge=1)
    """Counts from 1 to ``suppress_below - 1`` are shown as ``*``; 1 suppresses nothing. Zero is always shown."""
    round_to: int = Field(default=NHS_ROUND_TO, ge=1)
    """Every other count is rounded, half up, to the nearest multiple of this; 1 leaves counts as they are."""


class Programme(_Model):
    programme: ProgrammeInfo
    localities: dict[Identifier, Locality] = Field(min_length=1)
    streams: dict[Identifier, Stream] = Field(min_length=1)
    measures: dict[Identifier, Measure] = Field(min_length=1)
    sources: dict[Identifier, Source] = Field(min_length=1)
    disclosure: DisclosurePolicy = DisclosurePolicy()
    """Disclosure control of counts in the packs; default the NHS Digital rule."""

    def organisation_index(self) -> dict[str, tuple[str, Organisation]]:
        """Organisation code -> (locality id, organisation)."""
        return {code: (loc_id, org) for loc_id, loc in self.localities.items()
                for code, org in loc.organisations.items()}

    def stream_measures(self, stream: str) -> dict[str, Measure]:
        """The measures of one stream's driver diagram, in diagram order."""
        return {m: self.measures[m] for m in self.streams[stream].measure_ids}


# --------------------------------------------------------------------------- pack parameters


class Intervention(_Model):
    start: Month
    """First month in which the intervention was in place."""
    transition_months: int = Field(default=0, ge=0, le=24)
    """Months after the start left out of pre/post comparisons while the change beds in."""


class Window(_Model):
    start: Month
    end: Month

    @model_validator(mode="after")
    def _ordered(self) -> "Window":
        if self.end < self.start:
            raise ValueError(f"end ({self.end:%Y-%m}) is before start ({self.start:%Y-%m})")
        return self


class Windows(_Model):
    baseline: Window | None = None
    """Pre-intervention window; default the programme start to the month before the intervention."""
    post: Window | None = None
    """Post-intervention window; default the first month after the transition to the programme end."""


class Event(_Model):
    date: Month
    label: str = Field(min_length=1, max_length=120)


class PackParameters(_Model):
    intervention: Intervention
    comparator: Identifier | None = None
    """A locality to compare against (controlled designs); must not be this pack's locality."""
    windows: Windows = Windows()
    events: tuple[Event, ...] = ()
    targets: dict[Identifier, float] = Field(default_factory=dict)
    """Measure id -> target, in the measure's reported units."""
    description: str | None = None

    @property
    def post_start(self) -> dt.date:
        """The first month after the transition."""
        start = self.intervention.start
        months = start.month - 1 + self.intervention.transition_months
        return dt.date(start.year + months // 12, months % 12 + 1, 1)

