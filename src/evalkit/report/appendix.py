"""The pack's table of contents, glossary and provenance.

The provenance section names everything the pack's numbers depend on: the
pack's parameters, the SHA-256 of every raw file ingested and of the processed
tables, the versions of Python and the key packages, and a build id that is a
hash of all of these, so two packs with the same build id were made from the
same inputs by the same code. It carries no time stamp, so rebuilding from
the same inputs gives the same page.
"""

from __future__ import annotations

import hashlib
import json

from IPython.display import HTML

import evalkit
from evalkit.report.pack import PackView
from evalkit.report.tables import esc, html_table

SECTIONS = (  # (id, title) of the pack's sections, in order; the notebook's headings carry these ids
    ("headlines", "Headline findings"),
    ("at-a-glance", "Every measure at a glance"),
    ("driver-diagram", "How the changes are meant to work"),
    ("formative", "Month by month"),
    ("summative", "Did the programme change the trend?"),
    ("data-quality", "Data quality"),
    ("methods", "Methods and assumptions"),
    ("glossary", "Glossary"),
    ("provenance", "Provenance"),
)
PACKAGES = ("pandas", "numpy", "scipy", "statsmodels", "matplotlib", "papermill", "nbconvert")

GLOSSARY = (
    ("Assurance icon", "Whether the current process limits put a target always within reach (P), never (F), "
                       "or sometimes (?): if nothing changes, how often will the target be met?"),
    ("Common cause variation", "The month-to-month variation every process has; points inside the process "
                               "limits with no special-cause pattern."),
    ("Confidence interval", "The range of values the data are consistent with, allowing for chance (95% unless "
                            "stated)."),
    ("Counterfactual", "What the interrupted time series predicts would have happened without the programme: "
                       "the level, trend and seasonal cycle before it, carried forward."),
    ("Driver diagram", "The stream's theory of change: the aim, the primary drivers that must change to reach it, "
                       "the change ideas being tested and the measures that show whether they work."),
    ("Interrupted time series", "A regression of the monthly values on time that estimates the change in level "
                                "and trend at the intervention, allowing for seasonality and autocorrelation."),
    ("Laney p' and u' charts", "p and u charts whose limits are widened by the variation seen between months, "
                               "for large denominators where the plain limits are too narrow."),
    ("MMSF domains", "The five questions of the Measuring and Monitoring of Safety framework (Vincent et al. 2013):"
                     " past harm, reliability, sensitivity to operations, anticipation and preparedness, "
                     "integration and learning."),
    ("Over-dispersion", "More variation between months (or organisations) than a Poisson or binomial model "
                        "allows; handled by quasi-likelihood, Laney charts and funnel adjustments."),
    ("p-value", "How often chance alone would give a result at least this far from no change; shown as graded "
                "strength of evidence, not a yes/no test."),
    ("Process limits", "The lines on an SPC chart within which months vary by chance alone (mean +/- 3 sigma; "
                       "for XmR charts mean +/- 2.66 average moving ranges)."),
    ("Run chart", "Monthly values around their median, read with Anhøj's rules (an unusually long run or "
                  "unusually few crossings of the median)."),
    ("Special cause variation", "A signal that the process has changed: a point beyond a limit, a run of six or "
                                "more points on one side of the mean, six or more points rising or falling, or two "
                                "of three points near a limit."),
    ("SPC chart", "Statistical process control chart: monthly values with their mean and process limits, read "
                  "with NHS England's Making Data Count rules."),
    ("Transition", "The months after the start left out of before/after comparisons and of the model's fit while "
                   "the change beds in."),
    ("Variation icon", "The Making Data Count summary of the latest month: common cause (grey), special cause "
                       "improvement (blue), concern (orange) or neither (purple), high (H) or low (L)."),
)


def contents() -> HTML:
    """A linked table of contents of the pack's sections."""
    items = "".join(f'<li><a href="#{sid}">{esc(title)}</a></li>' for sid, title in SECTIONS)
    return HTML(f'<nav class="evalkit-contents" aria-labelledby="contents-title"><h2 id="contents-title">'
                f"Contents</h2><ol>{items}</ol></nav>")


def glossary() -> HTML:
    """Plain-English definitions of the terms the pack uses."""
    items = "".join(f"<dt>{esc(term)}</dt><dd>{esc(text)}</dd>" for term, text in GLOSSARY)
    return HTML(f'<dl class="evalkit-glossary">{items}</dl>')


def _versions() -> dict[str, str]:
    found = evalkit.versions(PACKAGES)
    return {"Python": found.pop("python"), **found}


def _processed_hashes(view: PackView) -> dict[str, str]:
    paths = view.paths
    out = {}
    for path in (paths.observations_file, paths.survey_file, paths.ingest_report_file, paths.programme_file):
        if path.is_file():
            out[path.relative_to(paths.root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def build_id(view: PackView) -> str:
    """A hash of the pack's parameters, its input files and the code's versions (12 hex digits)."""
    parts = {"locality": view.locality, "stream": view.stream,
             "parameters": view.pack.parameters.model_dump(mode="json"), "inputs": _processed_hashes(view),
             "versions": _versions()}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def provenance(view: PackView) -> HTML:
    """Parameters, input hashes, versions and build id."""
    params = view.pack.parameters
    rows = [["Pack parameters", esc(view.pack.file.relative_to(view.paths.root).as_posix())],
            ["Intervention start", esc(f"{params.intervention.start:%B %Y}")],
            ["Transition months", esc(params.intervention.transition_months)],
            ["Comparator", esc(params.comparator or "none")],
            ["Events", esc("; ".join(f"{e.date:%b %Y}: {e.label}" for e in params.events) or "none")],
            ["Targets", esc("; ".join(f"{k}: {v:g}" for k, v in params.targets.items()) or "none")],
            ["Extract ingested", esc(view.ingest_report.get("ingest_date", "unknown"))],
            ["Build id", f"<code>{build_id(view)}</code>"]]
    settings = html_table(["Setting", "Value"], rows, caption="What this pack was built from")
    files = [[esc(f"raw: {f.get('file')}"), f"<code>{esc(f.get('sha256', ''))}</code>"]
             for f in view.ingest_report.get("files", []) if isinstance(f, dict)]
    files += [[esc(name), f"<code>{digest}</code>"] for name, digest in _processed_hashes(view).items()]
    hashes = html_table(["File", "SHA-256"], files, caption="Input files and their SHA-256 hashes")
    versions = html_table(["Software", "Version"], [[esc(k), esc(v)] for k, v in _versions().items()],
                          caption="Software versions")
    return HTML(settings + hashes + versions + "<p>The build id is a hash of the parameters, the input files and "
                "the software versions: two packs with the same build id were made from the same inputs by the same "
                "code. The executed notebook behind this pack, its log and outputs/manifest.json hold the rest.</p>")


__all__ = ["GLOSSARY", "SECTIONS", "build_id", "contents", "glossary", "provenance"]
