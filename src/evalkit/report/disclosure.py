"""Disclosure control of the counts in every table a commissioner sees.

The rule, by default NHS Digital's (now NHS England's) statistical disclosure
control for Hospital Episode Statistics and similar outputs below national
level (:class:`~evalkit.config.models.DisclosurePolicy`, ``disclosure:`` in
programme.yml):

* zero is shown as ``0``;
* a count above zero and below ``suppress_below`` (1 to 7) is shown as ``*``;
* every other count is rounded half up to the nearest ``round_to`` (5):
  ``floor(count / 5 + 1/2) * 5`` in exact rational arithmetic, so 12 -> 10,
  12.5 -> 15, 13 -> 15 and no binary floating-point error moves a count
  across a boundary;
* a percentage shown with counts is computed from the *rounded* counts and is
  ``*`` when either count is suppressed, so a suppressed count cannot be
  worked out from its neighbours.

Modelled quantities (rates, ratios, intervals, model estimates, a mean number
of events per month) are not suppressed, as in NHS practice.

Which counts: every count of events or people (numerators; denominators,
bed days included; respondents and responses) and, in the data-quality
section, the counts of raw rows read, accepted and set aside (per file and per
check) and of events left out for want of a denominator. Those rows are
incident reports, survey responses and organisation-months: a small count of
them below national level can point at a patient or a member of staff just
as an outcome count can, while the exact figures stay available to analysts
in ``data/processed/ingest_report.json`` and the quarantine files. Counts of
calendar months and of organisations (the completeness table) describe the
data's coverage, not people or events, and are shown as they are.

Every protected count is written by :func:`count_cell` with a marker,
``<span class="evalkit-count" data-disclosure="suppressed|rounded|exempt">``,
and tables whose columns hold counts name those columns
(``data-evalkit-counts="3 4"``), so :func:`find_breaches` can check a page
before it is published (:func:`evalkit.pipeline.publish.publish_html`).
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from fractions import Fraction
from html.parser import HTMLParser
from typing import Literal

from evalkit.config.models import NHS_ROUND_TO, NHS_SUPPRESS_BELOW, DisclosurePolicy
from evalkit.errors import DataValidationError

NHS_DIGITAL = DisclosurePolicy()
"""The NHS Digital rule: 1 to 7 shown as ``*``, other counts rounded to the nearest 5."""

SUPPRESSED = "*"  # how NHS Digital publications show a suppressed count
COUNT_CLASS = "evalkit-count"  # class of the <span> around every protected count
STATE_ATTRIBUTE = "data-disclosure"  # suppressed | rounded | exempt (policy turned off)
COUNTS_ATTRIBUTE = "data-evalkit-counts"  # on a <table>: the positions of its columns of counts

State = Literal["suppressed", "rounded", "exempt", "missing"]


@dataclass(frozen=True)
class Protected:
    """One count after the policy: ``state``, the number shown (None when suppressed or missing) and its text."""

    state: State
    shown: int | Fraction | None
    text: str


def _exact(value: object) -> Fraction | None:
    """The count as an exact fraction; None when missing (None, NaN, pandas NA)."""
    if value is None:
        return None
    if hasattr(value, "__index__"):  # int, bool and numpy integers, exactly however large
        exact = Fraction(operator.index(value))
        if exact < 0:
            raise DataValidationError(f"a count must be zero or more; got {value!r}")
        return exact
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:  # pandas.NA and other missing markers
        if str(value) in ("<NA>", "NaT", "nan", "None"):
            return None
        raise DataValidationError(f"a count must be a number; got {value!r}") from exc
    if math.isnan(number):
        return None
    if math.isinf(number) or number < 0:
        raise DataValidationError(f"a count must be a finite number of zero or more; got {value!r}")
    return Fraction(number)  # exact: the float's own binary value, no rounding


def _format(number: int | Fraction) -> str:
    if Fraction(number).denominator == 1:
        return f"{int(number):,}"
    return f"{float(number):,.1f}"


def protect(value: object, policy: DisclosurePolicy = NHS_DIGITAL) -> Protected:
    """Apply ``policy`` to one count (see the module docstring for the rule)."""
    exact = _exact(value)
    if exact is None:
        return Protected("missing", None, "")
    if not policy.enabled:
        return Protected("exempt", exact, _format(exact))
    if exact == 0:
        return Protected("rounded", 0, "0")
    if exact < policy.suppress_below:
        return Protected("suppressed", None, SUPPRESSED)
    rounded = math.floor(exact / policy.round_to + Fraction(1, 2)) * policy.round_to  # half up, exact
    return Protected("rounded", rounded, _format(rounded))


def count(value: object, policy: DisclosurePolicy = NHS_DIGITAL) -> str:
    """A count as shown: ``'*'``, ``'0'``, ``'1,235'`` rounded (``'1,234'`` with the policy turned off);
    ``''`` when missing."""
    return protect(value, policy).text


def count_cell(value: object, policy: DisclosurePolicy = NHS_DIGITAL, *, missing: str = "") -> str:
    """A count as table-cell HTML with the marker publishing checks; ``missing`` (HTML) when missing."""
    result = protect(value, policy)
    if result.state == "missing":
        return missing
    return f'<span class="{COUNT_CLASS}" {STATE_ATTRIBUTE}="{result.state}">{result.text}</span>'


def percentage(numerator: object, denominator: object, policy: DisclosurePolicy = NHS_DIGITAL, *,
               decimals: int = 1) -> str:
    """``numerator / denominator`` in percent from the counts as shown (rounded), half up to ``decimals``
    places: ``'33.3%'``; ``'*'`` when either count is suppressed; ``''`` when either is missing or the
    denominator shown is zero."""
    top, bottom = protect(numerator, policy), protect(denominator, policy)
    if "missing" in (top.state, bottom.state):
        return ""
    if "suppressed" in (top.state, bottom.state):
        return SUPPRESSED
    if bottom.shown == 0:
        return ""
    scale = 10**decimals
    units = math.floor(Fraction(top.shown) * 100 * scale / Fraction(bottom.shown) + Fraction(1, 2))
    whole, part = divmod(units, scale)
    return f"{whole:,}.{part:0{decimals}d}%" if decimals else f"{whole:,}%"


def is_nhs_digital(policy: DisclosurePolicy) -> bool:
    """True when ``policy`` is on with the NHS Digital thresholds."""
    return policy.enabled and (policy.suppress_below, policy.round_to) == (NHS_SUPPRESS_BELOW, NHS_ROUND_TO)


def methods_text(policy: DisclosurePolicy = NHS_DIGITAL) -> str:
    """What the methods section says about disclosure control (plain text, no HTML)."""
    modelled = ("Modelled quantities (rates, ratios, intervals and model estimates) are not suppressed, as in NHS "
                "practice.")
    if not policy.enabled:
        return ("Disclosure control is turned off in this programme's configuration (disclosure: enabled: false): "
                "counts are shown as they are, small numbers included, so check this pack before sharing it beyond "
                f"the programme. {modelled}")
    k, r = policy.suppress_below, policy.round_to
    hidden = (f"counts from 1 to {k - 1} are shown as *" if k > 2 else "a count of 1 is shown as *" if k == 2
              else "no count is suppressed")
    rounding = f"every other count is rounded to the nearest {r}" if r > 1 else "other counts are not rounded"
    source = ("NHS Digital's statistical disclosure control rule for outputs below national level"
              if is_nhs_digital(policy) else
              "this programme's disclosure policy (the NHS Digital rule shows 1 to 7 as * and rounds to the "
              "nearest 5)")
    return (f"By {source}, {hidden} and {rounding} (zero is shown as 0); percentages shown with counts are "
            "computed from the rounded counts, so a suppressed count cannot be worked out from the others. "
            f"{modelled} The data-quality section's counts of raw rows are treated in the same way, because those "
            "rows are incident reports and survey responses; counts of months and organisations are not counts of "
            "people or events and are shown as they are.")


# --------------------------------------------------------------------------- the check before publishing


@dataclass(frozen=True)
class Breach:
    """An unprotected count on a page: the table (its caption, else its position), the text and the problem."""

    table: str
    value: str
    problem: str


def shown_problem(text: str, policy: DisclosurePolicy = NHS_DIGITAL) -> str | None:
    """Why ``text`` in a count's place breaks ``policy``; None when it is allowed (``*``, ``0``, a rounded
    count, or not a number at all, such as a dash)."""
    value = text.strip().replace(",", "")
    if not policy.enabled or value in ("", SUPPRESSED):
        return None
    try:
        number = Fraction(value)
    except (ValueError, ZeroDivisionError):
        return None
    if number == 0:
        return None
    if number < 0:
        return "a negative count"
    if number.denominator != 1:
        return "a count that is not a whole number"
    if number < policy.suppress_below:
        return f"an unsuppressed count from 1 to {policy.suppress_below - 1}"
    if number % policy.round_to:
        return f"a count not rounded to a multiple of {policy.round_to}"
    return None


class _PageScan(HTMLParser):
    """Collects the text of every count marker and of every cell in a table's columns of counts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[dict] = []  # open tables, innermost last
        self.seen = 0
        self.found: list[tuple[str, str, str | None]] = []  # (table, text, state: None for a plain cell)
        self._span: dict | None = None
        self._cell: dict | None = None

    def _table_name(self) -> str:
        if not self.tables:
            return "outside any table"
        table = self.tables[-1]
        caption = " ".join(table["caption"].split())
        return caption or f"table {table['number']} on the page"

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "table":
            self.seen += 1
            columns = {int(c) for c in (attributes.get(COUNTS_ATTRIBUTE) or "").split() if c.isdigit()}
            self.tables.append({"number": self.seen, "counts": columns, "caption": "", "in_caption": False,
                                "column": -1})
        elif tag == "caption" and self.tables:
            self.tables[-1]["in_caption"] = True
        elif tag == "tr" and self.tables:
            self.tables[-1]["column"] = -1
        elif tag in ("td", "th") and self.tables:
            table = self.tables[-1]
            table["column"] += 1
            if tag == "td" and table["column"] in table["counts"]:
                self._cell = {"text": "", "marked": False}
        elif tag == "span" and self._span is not None:
            self._span["depth"] += 1
        elif tag == "span" and COUNT_CLASS in (attributes.get("class") or "").split():
            self._span = {"text": "", "state": attributes.get(STATE_ATTRIBUTE) or "", "depth": 1}
            if self._cell is not None:
                self._cell["marked"] = True

    def handle_endtag(self, tag):
        if tag == "span" and self._span is not None:
            self._span["depth"] -= 1
            if self._span["depth"] == 0:
                self.found.append((self._table_name(), self._span["text"], self._span["state"]))
                self._span = None
        elif tag == "td" and self._cell is not None:
            if not self._cell["marked"]:
                self.found.append((self._table_name(), self._cell["text"], None))
            self._cell = None
        elif tag == "caption" and self.tables:
            self.tables[-1]["in_caption"] = False
        elif tag == "table" and self.tables:
            self.tables.pop()

    def handle_data(self, data):
        if self.tables and self.tables[-1]["in_caption"]:
            self.tables[-1]["caption"] += data
        if self._span is not None:
            self._span["text"] += data
        if self._cell is not None:
            self._cell["text"] += data


def find_breaches(page: str, policy: DisclosurePolicy = NHS_DIGITAL) -> list[Breach]:
    """Every count on ``page`` (HTML) that ``policy`` would not allow, in page order: marked counts
    (:func:`count_cell`) anywhere, and any cell in a table's columns of counts. Nothing with the policy off."""
    if not policy.enabled:
        return []
    scan = _PageScan()
    scan.feed(page)
    scan.close()
    breaches = []
    for table, text, state in scan.found:
        problem = shown_problem(text, policy)
        if problem is None and state == "exempt":
            problem = "a count written with disclosure control turned off"
        if problem is not None:
            breaches.append(Breach(table=table, value=text.strip(), problem=problem))
    return breaches


__all__ = ["COUNTS_ATTRIBUTE", "COUNT_CLASS", "NHS_DIGITAL", "SUPPRESSED", "Breach", "DisclosurePolicy",
           "Protected", "count", "count_cell", "find_breaches", "is_nhs_digital", "methods_text", "percentage",
           "protect", "shown_problem"]
