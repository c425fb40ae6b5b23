"""Built packs as a reader meets them: opened in headless Chromium, read as HTML, and printed as PDF.

One build of the whole demo (25 packs, 5 locality summaries, the system pack and the index) is opened page
by page in one Chromium: no console errors, no request beyond the file,
a text alternative for every image and chart, and a screenshot of the first screen saved under
``outputs/screenshots/`` (the pack's path under ``outputs/packs/``, ``.png``). The same pages are read
statically (no scripts, no external URLs, headings in order, no code, no leaked cell tags, size), and
``evalkit publish --pdf`` prints them as A4 PDFs with the network guard on.
"""

from __future__ import annotations

import io
import os
import re
import shutil
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from PIL import Image

from evalkit import cli
from evalkit.pipeline import netguard, runner
from evalkit.pipeline.browser import INSTALL_HINT, Browser, find_chromium
from evalkit.pipeline.pdf import page_layout
from evalkit.pipeline.runner import RunOptions

pytestmark = pytest.mark.slow

SCREEN = (1280, 900)  # width x height of the first screen a reader sees (CSS pixels, scale 1)
MAX_PAGE_BYTES = 1_500_000  # a pack must stay small enough to e-mail
A4_POINTS = (595.28, 841.89)  # 210 x 297 mm at 72 points per inch
REPO = Path(__file__).resolve().parents[1]
DEMO_PACKS = sorted((f.parent.name, f.stem) for f in (REPO / "parameters").glob("*/*.yml"))
PAGES = {  # test id -> page under outputs/: every demo pack, every locality summary, the system pack, the index
    "index": "index.html",
    **{f"{loc}-{stream}": f"packs/{loc}/{stream}.html" for loc, stream in DEMO_PACKS},
    **{loc: f"packs/{loc}.html" for loc in sorted({loc for loc, _ in DEMO_PACKS})},
    "system": "packs/system.html",
}
STREAM_PACKS = ("salford-care_homes", "salford-safety_culture")
TAG_NAMES = ("parameters", "injected-parameters", "remove-cell", "remove-input", "remove-output",
             "papermill-error-cell-tag")
UNLABELLED_JS = """(() => {
  const text = (el) => (el ? el.textContent : '').trim();
  const named = (el) => (el.getAttribute('aria-label') || '').trim()
    || (el.getAttribute('aria-labelledby') || '').split(/\\s+/).map((id) => text(document.getElementById(id))).join('')
    || text(el.querySelector(':scope > title'));
  const where = (el) => { const h = [...document.querySelectorAll('h1,h2,h3,h4')]
    .filter((x) => x.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING).pop();
    return h ? ` after heading "${text(h).slice(0, 60)}"` : ''; };
  const bad = [];
  document.querySelectorAll('img').forEach((el) => { if (!(el.getAttribute('alt') || '').trim())
    bad.push(`<img src="${(el.getAttribute('src') || '').slice(0, 40)}"> without alt${where(el)}`); });
  document.querySelectorAll('svg[role="img"]').forEach((el) => { if (!named(el))
    bad.push(`<svg role="img"> without aria-label or <title>${where(el)}`); });
  return bad;
})()"""
UNNAMED_CHARTS_JS = """(() => [...document.querySelectorAll('svg')]
  .filter((el) => !el.parentElement.closest('svg') && el.getAttribute('role') !== 'img'
                  && el.getAttribute('aria-hidden') !== 'true')
  .map((el) => { const h = [...document.querySelectorAll('h1,h2,h3,h4')]
    .filter((x) => x.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING).pop();
    const cell = el.closest('.jp-Cell');
    return `<svg> chart without role="img" (so no text alternative) after heading `
      + `"${h ? h.textContent.trim().slice(0, 60) : ''}" in ${cell ? cell.id : 'no cell'}`; }))()"""


def _pages(check: str) -> list:
    """Every page as a parameter (``check`` names the test, for reading the ids)."""
    return [pytest.param(page, id=page) for page in PAGES]


@pytest.fixture(scope="module")
def chromium() -> str:
    found = find_chromium()
    if found is None:
        reason = f"headless Chromium is not installed: {INSTALL_HINT}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI must run `make browser`, which `make test` does)")
        pytest.skip(reason)
    return found


@pytest.fixture(scope="module")
def built(demo_project: Path, tmp_path_factory) -> Path:
    """The whole demo (every pack, locality summary, the system pack and the index), built once."""
    root = tmp_path_factory.mktemp("browser") / "project"
    shutil.copytree(demo_project, root, ignore=shutil.ignore_patterns("outputs"))
    options = RunOptions(jobs=2)
    with open(os.devnull, "w") as quiet:
        result = runner.run(root, options, live=False, stream=quiet)
    assert not result.failed, f"the packs did not build: {result.failed}"
    for path in PAGES.values():
        assert (root / "outputs" / path).is_file(), f"{path} was not built"
    return root


@pytest.fixture(scope="module")
def seen(built: Path, chromium: str) -> dict:
    """Each page opened once: what the browser saw, what lacks a text alternative, and its screenshot."""
    found = {}
    with Browser(chromium, width=SCREEN[0], height=SCREEN[1]) as browser:
        for page, path in PAGES.items():
            visit = browser.visit(built / "outputs" / path)
            shot = built / "outputs" / "screenshots" / Path(path.removeprefix("packs/")).with_suffix(".png")
            found[page] = {"visit": visit, "unlabelled": browser.evaluate(UNLABELLED_JS),
                           "unnamed_charts": browser.evaluate(UNNAMED_CHARTS_JS),
                           "screenshot": browser.screenshot(shot)}
    return found


def _soup(built: Path, page: str) -> BeautifulSoup:
    return BeautifulSoup((built / "outputs" / PAGES[page]).read_text(encoding="utf-8"), "html.parser")


# In the browser ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", _pages("console"))
def test_page_opens_without_console_errors(seen, page):
    assert seen[page]["visit"].console_errors == ()


@pytest.mark.parametrize("page", _pages("requests"))
def test_page_requests_nothing_but_itself(seen, page):
    visit = seen[page]["visit"]
    assert visit.requests_beyond_page == (), f"{PAGES[page]} tried to fetch {visit.requests_beyond_page}"
    assert visit.url in visit.requests  # the check saw the page's own request, so it sees requests at all


@pytest.mark.parametrize("page", _pages("alt_text"))
def test_every_image_and_svg_image_has_a_text_alternative(seen, page):
    assert seen[page]["unlabelled"] == []


@pytest.mark.parametrize("page", _pages("charts"))
def test_every_chart_is_an_image_with_a_name(seen, page):
    assert seen[page]["unnamed_charts"] == []


@pytest.mark.parametrize("page", _pages("screenshot"))
def test_screenshot_of_the_first_screen_is_a_png_of_that_size(seen, page):
    shot: Path = seen[page]["screenshot"]
    expected = Path(PAGES[page].removeprefix("packs/")).with_suffix(".png")
    assert shot.as_posix().endswith(f"outputs/screenshots/{expected.as_posix()}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(shot) as image:
        image.verify()
    with Image.open(shot) as image:
        assert (image.format, image.size) == ("PNG", SCREEN)
        darkest, lightest = image.convert("L").getextrema()
        assert lightest - darkest > 100, f"{shot} is blank"


def test_the_checks_catch_a_bad_page(chromium, tmp_path):
    """A page with a script error, console.error and fetches beyond itself is caught on every count."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html lang="en-GB"><head><title>bad</title>'
                    '<link rel="stylesheet" href="https://example.org/a.css"></head><body><h1>Bad</h1>'
                    '<img src="http://example.com/a.png"><svg role="img"><rect width="2" height="2"/></svg>'
                    '<script>console.error("boom"); undefinedFunction();</script>'
                    '<script>new WebSocket("ws://example.net/x")</script></body></html>', encoding="utf-8")
    with Browser(chromium) as browser:
        visit = browser.visit(page)
        unlabelled = browser.evaluate(UNLABELLED_JS)
    assert any("boom" in e for e in visit.console_errors)
    assert any("undefinedFunction" in e for e in visit.console_errors)
    assert set(visit.requests_beyond_page) == {"https://example.org/a.css", "http://example.com/a.png",
                                               "ws://example.net/x"}
    assert len(unlabelled) == 2 and "<img" in unlabelled[0] and "<svg" in unlabelled[1]


# In the HTML -------------------------------------------------------------------------------------------------

_EXTERNAL = re.compile(r"^\s*(https?:|//)", re.IGNORECASE)
_CSS_URL = re.compile(r"url\(\s*['\"]?\s*((?:https?:)?//[^)'\"]*)", re.IGNORECASE)
_URL_ATTRIBUTES = ("src", "href", "xlink:href", "srcset", "action", "poster", "data")


@pytest.mark.parametrize("page", _pages("external_urls"))
def test_no_external_url(built, page):
    soup = _soup(built, page)
    found = [f"<{el.name} {name}={el[name]!r}>" for el in soup.find_all(True) for name in _URL_ATTRIBUTES
             if el.has_attr(name) and _EXTERNAL.match(str(el[name]))]
    found += _CSS_URL.findall(" ".join(s.get_text() for s in soup.find_all("style")))
    found += [u for el in soup.find_all(style=True) for u in _CSS_URL.findall(el["style"])]
    assert not found


@pytest.mark.parametrize("page", _pages("script"))
def test_no_script(built, page):
    assert not [str(s)[:80] for s in _soup(built, page).find_all("script")]


@pytest.mark.parametrize("page", _pages("one_h1"))
def test_exactly_one_h1(built, page):
    h1 = [h.get_text(" ", strip=True) for h in _soup(built, page).find_all("h1")]
    assert len(h1) == 1, f"{len(h1)} h1 headings: {h1}"


@pytest.mark.parametrize("page", _pages("heading_order"))
def test_headings_skip_no_level_going_down(built, page):
    levels = [(int(h.name[1]), h.get_text(" ", strip=True)[:50])
              for h in _soup(built, page).find_all(re.compile(r"^h[1-6]$"))]
    assert levels and levels[0][0] == 1, f"the first heading is not an h1: {levels[:1]}"
    skips = [f"h{a} {ta!r} -> h{b} {tb!r}" for (a, ta), (b, tb) in zip(levels, levels[1:]) if b > a + 1]
    assert not skips


@pytest.mark.parametrize("page", _pages("code"))
def test_no_code_or_inputs(built, page):
    soup = _soup(built, page)
    code = soup.select(".jp-CodeCell .jp-InputArea, .jp-InputArea-editor, .jp-CodeMirrorEditor, .highlight, "
                       ".jp-InputPrompt, .jp-OutputPrompt")
    assert not [f"<{el.name} class={' '.join(el.get('class', []))!r}>" for el in code]


@pytest.mark.parametrize("page", _pages("parameters"))
def test_no_parameters_cell(built, page):
    soup = _soup(built, page)
    cells = soup.select(".celltag_parameters, .celltag_injected-parameters")
    text = soup.get_text(" ")
    assert not cells and "# Parameters" not in text and "project_root" not in text


@pytest.mark.parametrize("page", _pages("empty_cells"))
def test_no_empty_cell_wrappers(built, page):
    empty = [cell.get("id", "?") for cell in _soup(built, page).select(".jp-Cell")
             if not cell.get_text(strip=True) and not cell.find(["img", "svg", "table", "video", "canvas"])]
    assert not empty, f"cells with nothing a reader can see: {empty}"


@pytest.mark.parametrize("page", _pages("tag_names"))
def test_no_leaked_tag_names(built, page):
    soup = _soup(built, page)
    classes = sorted({c for el in soup.find_all(class_=True) for c in el["class"]
                      if c.startswith("celltag_") or c in TAG_NAMES})
    text = soup.body.get_text(" ") if soup.body else ""
    words = [t for t in TAG_NAMES if t != "parameters" and t in text]
    assert not classes and not words, f"classes {classes}, text {words}"


@pytest.mark.parametrize("page", _pages("lang"))
def test_language_is_british_english(built, page):
    assert _soup(built, page).html.get("lang") == "en-GB"


@pytest.mark.parametrize("page", _pages("size"))
def test_page_is_small(built, page):
    size = (built / "outputs" / PAGES[page]).stat().st_size
    print(f"{PAGES[page]}: {size / 1e6:.2f} MB")
    assert size <= MAX_PAGE_BYTES, f"{PAGES[page]} is {size / 1e6:.2f} MB, over {MAX_PAGE_BYTES / 1e6} MB"


# As PDF ------------------------------------------------------------------------------------------------------


def test_publish_pdf_prints_every_pack_as_a4_offline(built, chromium):
    out = io.StringIO()
    with netguard.no_network(), redirect_stdout(out):
        assert netguard.is_active()
        status = cli.main(["--root", str(built), "publish", "--pdf"])
    assert status == 0, out.getvalue()
    packs = [p for name, p in PAGES.items() if name != "index"]
    for path in packs:
        pdf = (built / "outputs" / path).with_suffix(".pdf")
        data = pdf.read_bytes()
        assert data.startswith(b"%PDF-"), pdf
        pages, (width, height) = page_layout(data)
        assert (round(width), round(height)) == tuple(round(x) for x in A4_POINTS), (pdf, width, height)
        print(f"{pdf.relative_to(built)}: {pages} page(s), {len(data) / 1e6:.2f} MB")
        if path in (PAGES[p] for p in STREAM_PACKS):
            assert pages > 1, f"{pdf} has {pages} page"
    assert not (built / "outputs" / "index.pdf").exists()
    assert not list((built / "outputs").rglob(".*.tmp")), "a temporary file was left behind"
    assert f"Printed {len(packs)} pack(s)" in out.getvalue()
