"""Making Data Count icons as inline SVG: every icon, its words, accessibility and stability."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from evalkit.report import icons

SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("icon", sorted(icons.VARIATION))
def test_variation_icons_are_valid_accessible_svg(icon):
    svg = icons.variation_svg(icon)
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG_NS}svg" and root.get("role") == "img"
    title = root.find(f"{SVG_NS}title").text
    assert title == icons.VARIATION[icon][3] and root.get("aria-label") == title
    assert "href" not in svg and "src=" not in svg  # nothing fetched
    assert svg == icons.variation_svg(icon)  # the same on every call


@pytest.mark.parametrize("assurance", sorted(icons.ASSURANCE))
def test_assurance_icons_carry_a_letter(assurance):
    root = ET.fromstring(icons.assurance_svg(assurance))
    letter = root.find(f"{SVG_NS}text").text
    assert letter == icons.ASSURANCE[assurance][1]


def test_improvement_and_concern_differ_in_colour_and_letter_shows_side():
    blue, orange = icons.variation_svg("improvement_high"), icons.variation_svg("concern_high")
    assert icons.BLUE in blue and icons.ORANGE in orange
    assert ">H<" in blue and ">L<" in icons.variation_svg("concern_low")


def test_no_target_gives_words_not_an_icon():
    assert icons.assurance_svg(None) == ""
    assert icons.labelled("", None) == '<span class="evalkit-muted">no target</span>'
    assert "target met" in icons.labelled(icons.assurance_svg("consistent_pass"), "consistent_pass")


def test_unknown_icons_are_refused_with_the_known_names():
    with pytest.raises(ValueError, match="unknown variation icon 'sideways'; known: common_cause"):
        icons.variation_svg("sideways")
    with pytest.raises(ValueError, match="unknown assurance type"):
        icons.assurance_svg("maybe")
