"""The landing page, ``outputs/index.html``: every pack, grouped by locality, with its status.

The page is self-contained (inline style sheet, no scripts), every text from
parameters or results is escaped, and links are relative, so the whole
``outputs/`` folder can be copied or zipped and opened offline. It carries no
time stamp: the same build gives the same page.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evalkit.config.load import Pack, ProjectConfig
from evalkit.atomic import write_atomic

logger = logging.getLogger(__name__)

STYLE_SHEET = Path(__file__).resolve().parents[1] / "templates" / "evalkit" / "static" / "evalkit.css"  # the packs' own style sheet
STATUS_TEXT = {"ok": "Built", "cached": "Up to date (reused)", "failed": "Failed", "skipped": "Not run",
               "interrupted": "Interrupted", None: "Not built yet"}


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _periods(config: ProjectConfig) -> dict[str, str]:
    """Pack key -> 'Jan 2015 to Dec 2021', from the results file each pack writes (empty if never built)."""
    out = {}
    for pack in config.packs:
        path = config.paths.outputs / "results" / pack.locality / f"{pack.stream}.json"
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            first, last = (dt.date.fromisoformat(f"{document[k]}-01") for k in ("data_start", "data_end"))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        out[pack.key] = f"{first:%b %Y} to {last:%b %Y}"
    return out


def _link(config: ProjectConfig, html_file: Path, name: str) -> str:
    if not html_file.is_file():
        return _esc(name)
    href = urllib.parse.quote(html_file.relative_to(config.paths.outputs).as_posix())
    return f'<a href="{_esc(href)}">{_esc(name)}</a>'


def _status(entry: Mapping[str, Any] | None, html_file: Path) -> tuple[str, str, str]:
    """(status, freshness, note) of one job from its manifest entry."""
    status = STATUS_TEXT.get(entry.get("status") if entry else None, "Unknown")
    if entry is None:
        return status, "", "The link opens a pack from an earlier run." if html_file.is_file() else ""
    if entry.get("status") in ("ok", "cached"):
        return status, "Current: built from the present data and parameters", ""
    note = _esc((entry.get("error") or {}).get("message") or "")
    if entry.get("stale") and html_file.is_file():
        return (f"<strong>{status}</strong>", "<strong>Stale</strong>: from an earlier run; its latest rerun did "
                "not finish", note + " The link opens the last good pack.")
    return f"<strong>{status}</strong>", "", note


def _row(config: ProjectConfig, name: str, html_file: Path, entry: Mapping[str, Any] | None, period: str) -> str:
    status, freshness, note = _status(entry, html_file)
    return (f"<tr><td>{_link(config, html_file, name)}</td><td>{status}</td><td>{_esc(period)}</td>"
            f'<td>{freshness}</td><td class="note">{note}</td></tr>')


HEADER = ('<table class="evalkit-table"><thead><tr><th scope="col">Pack</th><th scope="col">Status</th>'
          '<th scope="col">Data period</th><th scope="col">Freshness</th><th scope="col">Notes</th></tr></thead>')


def write_index(config: ProjectConfig, jobs: Mapping[str, Mapping[str, Any]]) -> Path:
    """Write ``outputs/index.html`` linking every configured pack, locality summary and the system pack.

    ``jobs`` are the manifest's job entries by job id (``pack:<locality>/<stream>``, ``locality:<id>``,
    ``system``). The page has no time stamps: the same build gives the same page.
    """
    prog, paths = config.programme, config.paths
    periods = _periods(config)
    stream_order = list(prog.streams)
    system = paths.packs / "system.html"
    sections = [f"<h2>Whole system</h2>{HEADER}<tbody>"
                + _row(config, "All localities and streams", system, jobs.get("system"), "") + "</tbody></table>"]
    counts: dict[str, int] = {}
    for entry in jobs.values():
        counts[entry.get("status", "")] = counts.get(entry.get("status", ""), 0) + 1
    for locality_id, locality in prog.localities.items():
        packs = sorted((p for p in config.packs if p.locality == locality_id),
                       key=lambda p: stream_order.index(p.stream))
        if not packs:
            continue
        rows = _row(config, "All streams (locality summary)", paths.packs / f"{locality_id}.html",
                    jobs.get(f"locality:{locality_id}"), "")
        rows += "".join(_row(config, prog.streams[p.stream].name, paths.packs / p.locality / f"{p.stream}.html",
                             jobs.get(f"pack:{p.key}"), periods.get(p.key, "")) for p in packs)
        sections.append(f"<h2>{_esc(locality.name)}</h2>{HEADER}<tbody>{rows}</tbody></table>")
    summary = ", ".join(f"{n} {STATUS_TEXT.get(s, s).lower()}" for s, n in sorted(counts.items()))
    css = STYLE_SHEET.read_text(encoding="utf-8")
    from evalkit.report.banner import synthetic_banner

    banner = synthetic_banner() if prog.programme.synthetic else ""
    page = (
        '<!DOCTYPE html>\n<html lang="en-GB">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1.0">\n'
        '<meta name="generator" content="evalkit">\n'
        f"<title>{_esc(prog.programme.name)}: evidence packs</title>\n"
        f'<style type="text/css">\n{css}</style>\n</head>\n<body class="evalkit-index">\n<main>\n'
        f"{banner}<h1>{_esc(prog.programme.name)}</h1>\n<p class=\"evalkit-subtitle\">Evidence packs</p>\n"
        f"<p>{_esc(prog.programme.aim)}</p>\n<p>Jobs of the latest builds: {_esc(summary or 'none yet')}. Each "
        "pack is one HTML file that opens offline; the executed notebooks behind them are in the notebooks "
        "folder, and manifest.json records how each was made.</p>\n"
        + "\n".join(sections)
        + "\n</main>\n</body>\n</html>\n"
    )
    path = write_atomic(config.paths.index_file, page)
    logger.info("Wrote %s", path)
    return path


__all__ = ["write_index"]
