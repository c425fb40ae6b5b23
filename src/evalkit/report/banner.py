"""The synthetic-data banner every page of a demo build carries (kept light: the index imports it)."""

from __future__ import annotations

import html

SYNTHETIC_BANNER = (
    "Synthetic demonstration data. Every number here is made up to show how the evaluation works; "
    "it says nothing about any real organisation."
)

# Inline styles keep the banner and cover legible in JupyterLab as well as in the published pack.
BANNER_STYLE = ("border-left:8px solid #ED8B00;background:#FFF4E0;color:#231F20;padding:0.6em 1em;"
                "margin:0 0 1em 0;font-weight:bold")


def synthetic_banner() -> str:
    return (f'<div class="evalkit-banner" role="note" style="{BANNER_STYLE}">'
            f"{html.escape(SYNTHETIC_BANNER, quote=True)}</div>")


__all__ = ["BANNER_STYLE", "SYNTHETIC_BANNER", "synthetic_banner"]
