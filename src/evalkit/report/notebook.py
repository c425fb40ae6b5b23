"""Set a notebook up so that every run of it gives the same output.

Call :func:`setup_notebook` in the first code cell after the parameters. It
switches matplotlib to the inline backend with SVG output only (sharp in print,
text kept as text), fixes the SVG id salt and leaves out the SVG's creation date
so charts are byte-for-byte identical between runs, and sets the evalkit fonts.

It does not touch pandas' global display options: evalkit's tables are
rendered to HTML by :mod:`evalkit.report.tables` with their own formats, so a
researcher's own ``pd.set_option`` calls neither change a pack nor are
changed by it.
"""

from __future__ import annotations

import logging

import matplotlib as mpl
from IPython import get_ipython

from evalkit.report.figures import FONTS, SVG_FONTTYPE, SVG_HASHSALT

logger = logging.getLogger(__name__)

FIGURE_FORMAT = "svg"  # vector, inline in the HTML pack, no base64 PNG
SVG_METADATA = {"Date": None}  # matplotlib writes the creation time unless told not to


def setup_notebook() -> None:
    """Configure matplotlib for reproducible inline SVG charts in this kernel.

    Outside IPython (a plain script) it only sets the rc parameters.
    """
    shell = get_ipython()
    if shell is not None:
        shell.run_line_magic("matplotlib", "inline")
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats(FIGURE_FORMAT, metadata=SVG_METADATA)
    else:
        logger.info("setup_notebook: not running under IPython; only matplotlib's rc parameters are set")
    mpl.rcParams.update({
        "svg.hashsalt": SVG_HASHSALT,
        "svg.fonttype": SVG_FONTTYPE,
        "font.family": "sans-serif",
        # The whole list, installed or not: with svg.fonttype "none" it becomes the SVG's font-family, so
        # the reader's browser picks Arial where it has it; matplotlib measures text with the first it has.
        "font.sans-serif": list(FONTS),
    })


__all__ = ["setup_notebook"]
