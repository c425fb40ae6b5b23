"""NHS England *Making Data Count* variation and assurance icons, drawn as small inline SVG.

The icons follow the MDC design (a ring in the signal's colour, a short run of
dots, and a letter), are written straight into the page (nothing is fetched),
and carry their meaning three ways: colour, letter and a text title (read by
screen readers and shown on hover), so a greyscale print or a colour-blind
reader loses nothing. Every icon's SVG is the same on every run.
"""

from __future__ import annotations

from evalkit.report.tables import esc

# MDC icon colours (Making Data Count SPC icons, 2019): blue improvement, orange concern, purple neither,
# grey common cause; NHS mid grey where there is nothing to show.
BLUE, ORANGE, PURPLE, GREY, PALE = "#00B0F0", "#E46C0A", "#490092", "#A6A6A6", "#768692"

VARIATION = {  # icon -> (colour, letter, dot heights from left to right, words)
    "common_cause": (GREY, "", (0, 0, 0, 0, 0), "Common cause variation: no significant change"),
    "improvement_high": (BLUE, "H", (0, 0, 0, 1, 1), "Special cause variation: improvement, higher values"),
    "improvement_low": (BLUE, "L", (0, 0, 0, -1, -1), "Special cause variation: improvement, lower values"),
    "concern_high": (ORANGE, "H", (0, 0, 0, 1, 1), "Special cause variation: concern, higher values"),
    "concern_low": (ORANGE, "L", (0, 0, 0, -1, -1), "Special cause variation: concern, lower values"),
    "neutral_high": (PURPLE, "H", (0, 0, 0, 1, 1), "Special cause variation: higher values (neither better nor worse)"),
    "neutral_low": (PURPLE, "L", (0, 0, 0, -1, -1), "Special cause variation: lower values (neither better nor worse)"),
    "none": (PALE, "", (), "No variation icon: too few points for process limits"),
}
ASSURANCE = {  # assurance type -> (colour, letter, words)
    "consistent_pass": (BLUE, "P", "Assurance: the target will consistently be met"),
    "consistent_fail": (ORANGE, "F", "Assurance: the target will consistently be missed"),
    "inconsistent": (GREY, "?", "Assurance: the target will be met and missed at random"),
}
SHORT = {  # the words shown beside an icon in a table
    "common_cause": "common cause", "improvement_high": "improvement (high)", "improvement_low": "improvement (low)",
    "concern_high": "concern (high)", "concern_low": "concern (low)", "neutral_high": "special cause (high)",
    "neutral_low": "special cause (low)", "none": "no limits", "consistent_pass": "target met",
    "consistent_fail": "target missed", "inconsistent": "hit and miss",
}


def _svg(colour: str, letter: str, title: str, size: int, inner: str = "") -> str:
    text = (f'<text x="20" y="{15 if inner else 26}" text-anchor="middle" font-family="Arial, sans-serif" '
            f'font-size="{11 if inner else 16}" font-weight="bold" fill="{colour}">{esc(letter)}</text>'
            if letter else "")
    return (f'<svg class="evalkit-icon" role="img" aria-label="{esc(title)}" width="{size}" height="{size}" '
            f'viewBox="0 0 40 40" xmlns="http://www.w3.org/2000/svg"><title>{esc(title)}</title>'
            f'<circle cx="20" cy="20" r="17" fill="white" stroke="{colour}" stroke-width="3"/>{text}{inner}</svg>')


def variation_svg(icon: str, size: int = 32) -> str:
    """The SVG of a variation icon (``common_cause``, ``improvement_high``, ..., ``none``)."""
    if icon not in VARIATION:
        raise ValueError(f"unknown variation icon {icon!r}; known: {', '.join(VARIATION)}")
    colour, letter, heights, title = VARIATION[icon]
    dots = "".join(
        f'<circle cx="{9 + 5.5 * i:.1f}" cy="{27 - 5 * h:.0f}" r="2.2" fill="{GREY if i < 3 else colour}"/>'
        for i, h in enumerate(heights))
    return _svg(colour, letter, title, size, dots or '<line x1="12" y1="20" x2="28" y2="20" stroke="#768692" '
                                                     'stroke-width="2"/>')


def assurance_svg(assurance: str | None, size: int = 32) -> str:
    """The SVG of an assurance icon, or an empty string when there is no target (or the measure is neutral)."""
    if assurance is None:
        return ""
    if assurance not in ASSURANCE:
        raise ValueError(f"unknown assurance type {assurance!r}; known: {', '.join(ASSURANCE)}")
    colour, letter, title = ASSURANCE[assurance]
    return _svg(colour, letter, title, size)


def labelled(svg: str, key: str | None) -> str:
    """An icon followed by its words, so the table reads without the colours."""
    if key is None:
        return '<span class="evalkit-muted">no target</span>'
    return f'<span class="evalkit-iconcell">{svg} {esc(SHORT.get(key, key))}</span>'
