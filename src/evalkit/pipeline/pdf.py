"""``evalkit publish --pdf``: each built HTML pack printed as a PDF beside it, by headless Chromium.

The page's own print style sheet decides the paper (``@page { size: A4 }``)
and what breaks where; Chromium adds no header or footer. Chromium runs
offline (:data:`evalkit.pipeline.browser.OFFLINE_FLAGS`) with a fresh profile
each time, and is given a virtual-time budget so fonts and inline SVG have
settled before it prints. It writes to a temporary file in the pack's folder
that is renamed over ``<pack>.pdf`` only once it is a whole PDF, so a PDF on
disk is always a finished one. Chromium stamps each PDF with the time it was
made; those two dates are blanked out (with spaces, so every byte offset in
the file stays right), so two prints of the same pack give the same bytes.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

from evalkit.config.paths import ProjectPaths
from evalkit.errors import PublishError
from evalkit.pipeline.browser import chromium_command, last_lines, require_chromium, run_chromium
from evalkit.pipeline.lock import outputs_lock
from evalkit.pipeline.netguard import no_network

logger = logging.getLogger(__name__)

PDF_MAGIC = b"%PDF-"
_DATES = re.compile(rb"/(CreationDate|ModDate)\s*\(D:[^)]*\)")  # in the document information dictionary
VIRTUAL_TIME_BUDGET_MS = 5000  # virtual time Chromium lets pass (fast-forwarded) before printing: fonts, SVG, layout
PRINT_TIMEOUT = 120.0  # seconds of real time for one pack; a stream pack takes about 1.5 s on 2 cores


def print_pdf(html: Path, pdf: Path | None = None, *, chromium: str | None = None,
              timeout: float = PRINT_TIMEOUT) -> Path:
    """Print the page ``html`` as the PDF ``pdf`` (default: beside it, same name, ``.pdf``); return its path.

    Raises :class:`PublishError` naming the pack when Chromium is missing, fails, takes longer than
    ``timeout`` seconds or writes no PDF; an older PDF at ``pdf`` is then left as it was.
    """
    html = Path(html).resolve()
    pdf = Path(pdf) if pdf is not None else html.with_suffix(".pdf")
    if not html.is_file():
        raise PublishError(f"{html}: no such pack; build it with `evalkit run` first.")
    chromium = chromium or require_chromium(f"{html}: printing the pack as PDF")
    pdf.parent.mkdir(parents=True, exist_ok=True)
    temp = pdf.with_name(f".{pdf.name}.{uuid.uuid4().hex}.tmp")
    profile = Path(tempfile.mkdtemp(prefix="evalkit-chromium-"))
    command = chromium_command(chromium, profile, f"--print-to-pdf={temp}", "--no-pdf-header-footer",
                               f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}", html.as_uri())
    try:
        status, output = run_chromium(command, timeout=timeout)
        data = temp.read_bytes() if temp.is_file() else b""
        if status != 0 or not data.startswith(PDF_MAGIC):
            problem = f"exit status {status}" if status != 0 else "no PDF was written"
            raise PublishError(f"{html}: Chromium ({chromium}) could not print the pack as PDF ({problem}): "
                               f"{last_lines(output)}")
        undated = _DATES.sub(lambda m: b" " * len(m.group(0)), data, count=2)
        if undated != data:
            temp.write_bytes(undated)
        os.replace(temp, pdf)
    except subprocess.TimeoutExpired as exc:
        raise PublishError(f"{html}: Chromium did not finish printing the pack within {timeout:.0f} s; "
                           "it was stopped.") from exc
    except OSError as exc:
        raise PublishError(f"{html}: cannot print the pack as PDF with {chromium} ({exc}).") from exc
    finally:
        temp.unlink(missing_ok=True)
        shutil.rmtree(profile, ignore_errors=True)
    logger.info("Printed %s (%d bytes)", pdf, pdf.stat().st_size)
    return pdf


_OBJECT = re.compile(rb"(?<![\d])(\d+)\s+0\s+obj\b")
_MEDIA_BOX = re.compile(rb"/MediaBox\s*\[([^\]]*)\]")


def page_layout(data: bytes) -> tuple[int, tuple[float, float]] | None:
    """How many pages a PDF has and the first page's (width, height) in points (A4: 595.3 x 841.9), read
    from its page tree; None when the tree cannot be read that way (object streams, which Chromium does
    not write)."""
    starts = list(_OBJECT.finditer(data))
    objects = {}
    for here, after in zip(starts, [*starts[1:], None]):
        body = data[here.end():after.start() if after else len(data)]
        objects[int(here.group(1))] = body.split(b"stream", 1)[0]  # the dictionary, not the content
    trees = [body for body in objects.values() if re.search(rb"/Type\s*/Pages\b", body)]
    root = next((body for body in trees if b"/Parent" not in body), None)
    count = re.search(rb"/Count\s+(\d+)", root) if root else None
    node, box = root, None
    while node is not None and count:
        box = _MEDIA_BOX.search(node) or box  # a page inherits the box of the tree above it
        if re.search(rb"/Type\s*/Page\b", node):
            x0, y0, x1, y1 = (float(v) for v in box.group(1).split()) if box else (0, 0, 0, 0)
            return int(count.group(1)), (x1 - x0, y1 - y0)
        kid = re.search(rb"/Kids\s*\[\s*(\d+)\s+0\s+R", node)
        node = objects.get(int(kid.group(1))) if kid else None
    return None


def built_packs(paths: ProjectPaths, *, localities: Sequence[str] | None = None,
                streams: Sequence[str] | None = None) -> list[Path]:
    """The HTML packs under ``outputs/packs``: ``<locality>/<stream>.html`` for the chosen localities and
    streams (default all), each chosen locality's summary ``<locality>.html`` unless streams are chosen, and
    ``system.html`` when neither is. Raises :class:`PublishError` for a name with no built pack."""
    folder = paths.packs
    stream_packs = sorted(folder.glob("*/*.html"))
    summaries = sorted(p for p in folder.glob("*.html") if p.stem != "system")
    for kind, wanted, built in (("locality", localities, {p.parent.name for p in stream_packs}),
                                ("stream", streams, {p.stem for p in stream_packs})):
        unknown = sorted(set(wanted or ()) - built)
        if unknown:
            raise PublishError(f"--{kind} {', '.join(unknown)}: no built pack under {folder} "
                               f"(built: {', '.join(sorted(built)) or 'none'}); run `evalkit run` first.")
    chosen = [p for p in stream_packs if (not localities or p.parent.name in localities)
              and (not streams or p.stem in streams)]
    if not streams:
        chosen += [p for p in summaries if not localities or p.stem in localities]
    if not localities and not streams and (folder / "system.html").is_file():
        chosen.append(folder / "system.html")
    if not chosen:
        raise PublishError(f"No HTML pack under {folder}; build the packs with `evalkit run` first.")
    return chosen


def publish_pdfs(root: str | Path | None = None, *, localities: Sequence[str] | None = None,
                 streams: Sequence[str] | None = None) -> list[Path]:
    """Print every chosen built pack (see :func:`built_packs`) as a PDF beside it; the PDFs' paths.

    Holds the outputs lock (waiting for a run that holds it) and the network guard throughout. Stops at the
    first pack that cannot be printed, with a :class:`PublishError` naming it.
    """
    paths = ProjectPaths.from_root(root)
    with outputs_lock(paths.outputs, wait=True), no_network():  # never beside a run that rewrites the packs
        packs = built_packs(paths, localities=localities, streams=streams)
        others = f" and {len(packs) - 1} other pack(s)" if len(packs) > 1 else ""
        chromium = require_chromium(f"{packs[0]}{others}: printing as PDF")
        return [print_pdf(html, chromium=chromium) for html in packs]


__all__ = ["PDF_MAGIC", "built_packs", "page_layout", "print_pdf", "publish_pdfs"]
