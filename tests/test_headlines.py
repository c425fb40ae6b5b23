"""Headline findings, the table of contents, glossary and provenance of a pack."""

from __future__ import annotations

import json
import math

import nbformat
import pytest
from scipy import stats

from evalkit.report import appendix, formative, headlines, pack, summative

REPO_NOTEBOOK = "notebooks/pack.ipynb"


@pytest.fixture(scope="module")
def care_homes(demo_project):
    view = pack.load_pack_view("salford", "care_homes", root=demo_project)
    return view, formative.fit_all(view), summative.fit_all(view)


@pytest.mark.parametrize(("p", "words"), [(0.0004, "Strong evidence"), (0.004, "Good evidence"),
                                          (0.03, "Some evidence"), (0.07, "Weak evidence"),
                                          (0.4, "No clear evidence")])
def test_evidence_is_graded_not_a_threshold(p, words):
    assert headlines.evidence_words(p) == words


def test_z_is_recovered_from_a_ratio_interval():
    # a rate ratio of 0.8 with SE 0.1 on the log scale: 95% CI exp(log 0.8 -/+ 1.959964 x 0.1)
    log_ratio, se = math.log(0.8), 0.1
    low, high = (math.exp(log_ratio + s * stats.norm.ppf(0.975) * se) - 1 for s in (-1, 1))
    z = headlines._z_from_ratio_interval(-0.2, low, high, 0.95)
    assert z == pytest.approx(log_ratio / se, rel=1e-12)  # -2.231: p = 0.026, "some evidence"
    assert headlines.evidence_words(2 * stats.norm.sf(abs(z))) == "Some evidence"


def test_three_to_six_sentences_ending_with_the_caution(care_homes):
    view, fits, its_fits = care_homes
    said = headlines.sentences(view, fits, its_fits)
    assert 3 <= len(said) <= 6 and said[-1] == headlines.CAUTION
    for measure_id, fit in its_fits.items():  # every modelled outcome is reported, with its interval
        assert any(fit.measure.name[1:] in s and "95% CI" in s for s in said), measure_id
    assert not any("caused" in s for s in said[:-1])
    html = headlines.headline_findings(view, fits, its_fits).data
    assert html.count("<li>") == len(said)


def test_effect_cell_matches_the_effects_table(care_homes):
    view, _, its_fits = care_homes
    fit = its_fits["falls_with_harm"]
    table = summative.effects(fit, view.series["falls_with_harm"])
    row = table[table["horizon"] == headlines.HORIZON].iloc[0]
    cell = headlines.effect_cell(fit, view)
    assert cell.startswith(f"{row['relative_effect'] * 100:+.0f}% (95% CI {row['relative_effect_ci_lower'] * 100:+.0f}%")
    assert headlines.effect_cell(None, view).startswith("not modelled")


def test_contents_link_to_headings_the_notebook_has():
    nb = nbformat.read(REPO_NOTEBOOK, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for section_id, _ in appendix.SECTIONS:
        assert f'id="{section_id}"' in text, section_id
        assert f'href="#{section_id}"' in appendix.contents().data


def test_glossary_defines_the_terms_the_pack_uses():
    html = appendix.glossary().data
    for term in ("Common cause variation", "Special cause variation", "Counterfactual", "Confidence interval",
                 "Assurance icon", "MMSF domains"):
        assert f"<dt>{term}</dt>" in html


def test_provenance_names_inputs_versions_and_a_stable_build_id(care_homes, demo_project):
    view, _, _ = care_homes
    html = appendix.provenance(view).data
    report = json.loads((demo_project / "data/processed/ingest_report.json").read_text())
    for entry in report["files"]:
        assert entry["sha256"] in html
    assert "parameters/salford/care_homes.yml" in html and "statsmodels" in html
    build = appendix.build_id(view)
    assert len(build) == 12 and build == appendix.build_id(view) and build in html
    other = pack.load_pack_view("salford", "handover", root=demo_project)
    assert appendix.build_id(other) != build
