"""Turn an executed pack notebook into a self-contained HTML evidence pack.

The pack has no code: inputs and prompts are left out, the ``parameters`` and
papermill ``injected-parameters`` cells are removed, and so is the kernel's
stderr (warnings are for the researcher reading the executed notebook).
Charts are inline SVG, the style sheet is inline, and nothing is fetched from
the internet. A notebook with an error in it is refused, and the file is
written atomically, so a pack on disk is always a finished one.

Before it is written, the page is checked for disclosure control
(:func:`evalkit.report.disclosure.find_breaches`): a count that the policy
would suppress or round, shown as it is, stops publishing. The policy is the
project's own, read from ``parameters/programme.yml`` under ``$EVALKIT_ROOT``
(which every job's worker sets), else NHS Digital's; a caller may pass it.
The executed notebook is not asked for it: the page under check cannot vouch
for itself.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor, TagRemovePreprocessor

from evalkit.config.load import load_programme
from evalkit.config.models import DisclosurePolicy
from evalkit.config.paths import ROOT_ENV_VAR, ProjectPaths
from evalkit.errors import ConfigError, PublishError
from evalkit.atomic import write_atomic
from evalkit.report.disclosure import NHS_DIGITAL, find_breaches

logger = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
TEMPLATE_NAME = "evalkit"  # src/evalkit/templates/evalkit, extending nbconvert's lab template
REMOVE_CELL_TAGS = frozenset({"parameters", "injected-parameters", "remove-cell"})
REMOVE_INPUT_TAGS = frozenset({"remove-input"})
PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"  # papermill.execute.ERROR_MARKER_TAG

_SVG_PROLOG = re.compile(r"^\s*(<\?xml[^>]*\?>\s*)?(<!DOCTYPE[^>]*>\s*)?", re.IGNORECASE)
_SVG_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)  # matplotlib's RDF credits, not needed
_SVG_BLOCK = re.compile(r"<svg\b.*?</svg>", re.DOTALL)
# nbconvert re-serialises the page with BeautifulSoup's html.parser, which lower-cases names. Browsers undo
# that for SVG, other readers (PDF converters, XML tools) may not: restore the names matplotlib writes.
_SVG_NAMES = {"viewbox=": "viewBox=", "<clippath": "<clipPath", "</clippath>": "</clipPath>"}
BREACHES_SHOWN = 5  # unprotected counts named in the error; the rest are counted
_EXTERNAL = re.compile(r"<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=\s*[\"']?(https?:)?//", re.IGNORECASE)


class PackOutputs(Preprocessor):
    """Drop stderr streams; strip the XML prolog, DOCTYPE and metadata from SVG so it can sit inside HTML."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        kept = []
        for output in cell.get("outputs", []):
            if output.output_type == "stream" and output.name == "stderr":
                resources.setdefault("evalkit_dropped_stderr", []).append(index)
                continue
            svg = output.get("data", {}).get("image/svg+xml")
            if svg is not None:
                text = "".join(svg) if isinstance(svg, list) else svg
                text = _SVG_PROLOG.sub("", text, count=1)
                output["data"]["image/svg+xml"] = _SVG_METADATA.sub("", text, count=1)
            kept.append(output)
        cell.outputs = kept
        return cell, resources


def _restore_svg_case(body: str) -> str:
    def fix(match: re.Match) -> str:
        text = match.group(0)
        for lower, proper in _SVG_NAMES.items():
            text = text.replace(lower, proper)
        return text

    return _SVG_BLOCK.sub(fix, body)


def _errors(nb: nbformat.NotebookNode) -> list[str]:
    found = []
    for index, cell in enumerate(nb.cells):
        if PAPERMILL_ERROR_TAG in cell.get("metadata", {}).get("tags", []):
            found.append(f"cell {index} is papermill's failure marker")
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                found.append(f"cell {index} raised {output.ename}: {output.evalue}")
    return found


def _exporter() -> HTMLExporter:
    exporter = HTMLExporter(
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[str(TEMPLATES)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        skip_svg_encoding=True,
    )
    exporter.register_preprocessor(
        TagRemovePreprocessor(remove_cell_tags=set(REMOVE_CELL_TAGS), remove_input_tags=set(REMOVE_INPUT_TAGS)),
        enabled=True,
    )
    exporter.register_preprocessor(PackOutputs(), enabled=True)
    return exporter


def project_policy() -> DisclosurePolicy:
    """The disclosure policy of the project at ``$EVALKIT_ROOT`` (its programme.yml); NHS Digital's when the
    variable is not set."""
    root = os.environ.get(ROOT_ENV_VAR)
    if not root:
        return NHS_DIGITAL
    try:
        return load_programme(ProjectPaths.from_root(root)).disclosure
    except ConfigError as exc:
        raise PublishError(f"cannot read the disclosure policy of the project at {ROOT_ENV_VAR}={root}: {exc}") from exc


def check_disclosure(page: str, *, policy: DisclosurePolicy, executed: Path, html: Path) -> None:
    """Raise :class:`PublishError` naming the pack, the table and the value of every count on ``page`` that
    ``policy`` does not allow."""
    breaches = find_breaches(page, policy)
    if not breaches:
        return
    named = "; ".join(f"table {b.table!r}: {b.value!r} is {b.problem}" for b in breaches[:BREACHES_SHOWN])
    more = f" (and {len(breaches) - BREACHES_SHOWN} more)" if len(breaches) > BREACHES_SHOWN else ""
    raise PublishError(
        f"{html.name} (from {executed}) not published: it would show counts that the disclosure policy (counts "
        f"1 to {policy.suppress_below - 1} as *, others rounded to the nearest {policy.round_to}) does not allow: "
        f"{named}{more}. Format counts with evalkit.report.disclosure.count_cell and the programme's policy.")


def publish_html(executed: Path, html: Path, *, title: str | None = None,
                 policy: DisclosurePolicy | None = None) -> Path:
    """Convert the executed notebook ``executed`` into the evidence pack ``html``.

    ``title`` is the page title (default: the notebook's ``metadata.title``,
    else its file name). ``policy`` is the disclosure policy the page is checked
    against (default :func:`project_policy`). Raises :class:`PublishError` if
    the notebook cannot be read, holds an error, the page would fetch anything
    from the internet, or shows a count the policy does not allow.
    """
    executed, html = Path(executed), Path(html)
    try:
        nb = nbformat.read(executed, as_version=4)
    except (OSError, ValueError) as exc:  # missing file; invalid JSON or notebook format
        raise PublishError(f"{executed}: cannot read the executed notebook ({exc}); run the pack again.") from exc
    problems = _errors(nb)
    if problems:
        raise PublishError(f"{executed}: not published because the run failed ({'; '.join(problems[:3])}). "
                           f"Fix the cause, which the log {executed.with_suffix('.log').name} shows, and rerun.")
    if title:
        nb.metadata["title"] = title
    body, resources = _exporter().from_notebook_node(nb, resources={"metadata": {"name": executed.stem}})
    body = _restore_svg_case(body)
    external = _EXTERNAL.search(body)
    if external:
        raise PublishError(f"{executed}: the page would fetch {external.group(0)!r} from the internet; "
                           "packs must open offline. Remove that output from the notebook.")
    check_disclosure(body, policy=project_policy() if policy is None else policy, executed=executed, html=html)
    dropped = resources.get("evalkit_dropped_stderr", [])
    if dropped:
        logger.info("%s: stderr of cells %s left out of the pack (it stays in the executed notebook)",
                    executed, sorted(set(dropped)))
    write_atomic(html, body)
    logger.info("Published %s (%d bytes)", html, len(body.encode("utf-8")))
    return html


__all__ = ["PackOutputs", "TEMPLATES", "check_disclosure", "project_policy", "publish_html", "write_atomic"]
