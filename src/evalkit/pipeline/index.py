"""The landing page, ``outputs/index.html``: every pack, grouped by locality, with its status.

The page is self-contained (inline style sheet, no scripts), every text from
parameters or results is escaped, and links are relative, so the whole
``outputs/`` folder can be copied or zipped and opened offline. It carries no
time stamp: the same build gives the same page.
"""

from __future__ import annotations

import html
import logging
import urllib.parse
from pathlib import Path

from evalkit.config.load import Pack, ProjectConfig
from evalkit.data import store
from evalkit.data.series import data_period
from evalkit.pipeline.batch import BatchResult
from evalkit.pipeline.publish import TEMPLATES, write_atomic
from evalkit.report.text import synthetic_banner

logger = logging.getLogger(__name__)

STYLE_SHEET = TEMPLATES / "evalkit" / "static" / "evalkit.css"  # the packs' own style sheet
STATUS_TEXT = {"ok": "Built", "failed": "Failed", None: "Not built in this run"}


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _periods(config: ProjectConfig) -> dict[str, str]:
    """Pack key -> 'Jan 2015 to Dec 2021' (empty when there are no processed data)."""
    if not config.paths.observations_file.is_file():
        return {}
    observations = store.load_observations(config.paths)
    out = {}
    for pack in config.packs:
        period = data_period(observations, locality=pack.locality,
                             measure_ids=config.programme.streams[pack.stream].measure_ids)
        out[pack.key] = f"{period[0]:%b %Y} to {period[1]:%b %Y}" if period else "no data"
    return out


def _row(config: ProjectConfig, pack: Pack, batch: BatchResult, period: str) -> str:
    job = batch.result(pack.locality, pack.stream)
    html_file = config.paths.packs / pack.locality / f"{pack.stream}.html"
    name = _esc(config.programme.streams[pack.stream].name)
    if html_file.is_file():
        href = urllib.parse.quote(html_file.relative_to(config.paths.outputs).as_posix())
        name = f'<a href="{_esc(href)}">{name}</a>'
    status = STATUS_TEXT[job.status if job else None]
    note = ""
    if job is not None and job.status == "failed":
        note = _esc(job.error or "")
        if html_file.is_file():
            note += " The link opens the pack from an earlier run, which may be out of date."
        status = f"<strong>{status}</strong>"
    elif job is None and html_file.is_file():
        note = "The link opens the pack from an earlier run."
    return (f"<tr><td>{name}</td><td>{status}</td><td>{_esc(period)}</td>"
            f'<td class="note">{note}</td></tr>')


def write_index(config: ProjectConfig, batch_result: BatchResult) -> Path:
    """Write ``outputs/index.html`` linking every configured pack; return its path."""
    prog = config.programme
    periods = _periods(config)
    stream_order = list(prog.streams)
    sections = []
    for locality_id, locality in prog.localities.items():
        packs = sorted((p for p in config.packs if p.locality == locality_id),
                       key=lambda p: stream_order.index(p.stream))
        if not packs:
            continue
        rows = "".join(_row(config, p, batch_result, periods.get(p.key, "")) for p in packs)
        sections.append(
            f"<h2>{_esc(locality.name)}</h2>"
            '<table class="evalkit-table"><thead><tr><th scope="col">Stream</th><th scope="col">Status</th>'
            '<th scope="col">Data period</th><th scope="col">Notes</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")
    built = len(batch_result.jobs) - len(batch_result.failed)
    summary = (f"{built} of {len(batch_result.jobs)} pack{'s' if len(batch_result.jobs) != 1 else ''} built in "
               f"this run; {len(batch_result.failed)} failed.")
    css = STYLE_SHEET.read_text(encoding="utf-8")
    banner = synthetic_banner() if prog.programme.synthetic else ""
    page = (
        '<!DOCTYPE html>\n<html lang="en-GB">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1.0">\n'
        '<meta name="generator" content="evalkit">\n'
        f"<title>{_esc(prog.programme.name)}: evidence packs</title>\n"
        f'<style type="text/css">\n{css}</style>\n</head>\n<body class="evalkit-index">\n<main>\n'
        f"{banner}<h1>{_esc(prog.programme.name)}</h1>\n<p class=\"evalkit-subtitle\">Evidence packs</p>\n"
        f"<p>{_esc(prog.programme.aim)}</p>\n<p>{_esc(summary)} Each pack is one HTML file that opens "
        "offline; the executed notebooks behind them are in the notebooks folder.</p>\n"
        + "\n".join(sections)
        + "\n</main>\n</body>\n</html>\n"
    )
    path = write_atomic(config.paths.index_file, page)
    logger.info("Wrote %s", path)
    return path


__all__ = ["write_index"]
