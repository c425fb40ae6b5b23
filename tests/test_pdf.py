"""evalkit publish --pdf: which packs, the Chromium command, atomic writes and clear failures.

Most tests use a stand-in "Chromium" (a small shell script named by ``EVALKIT_CHROMIUM``), so they run
anywhere and fast; one prints a real page in headless Chromium. ``tests/test_browser.py`` prints real packs.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from evalkit import cli
from evalkit.config.paths import ProjectPaths
from evalkit.errors import PublishError
from evalkit.pipeline import browser, pdf
from evalkit.pipeline.browser import ENV_VARIABLE, find_chromium

A4 = (595, 842)  # points, rounded


def _packs(root: Path) -> ProjectPaths:
    for name in ("salford/care_homes", "salford/medicines", "oldham/care_homes", "salford", "oldham", "system"):
        page = root / "outputs" / "packs" / f"{name}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(f"<!DOCTYPE html><html lang='en-GB'><title>{name}</title><h1>{name}</h1></html>")
    return ProjectPaths(root)


def _fake_chromium(tmp_path: Path, monkeypatch, body: str) -> Path:
    """A stand-in Chromium: ``body`` is shell, with ``$out`` the --print-to-pdf path; its arguments are logged."""
    script = tmp_path / "fake-chromium"
    script.write_text("#!/bin/sh\n"
                      f'printf "%s\\n" "$@" > "{tmp_path}/args.txt"\n'
                      'for a in "$@"; do case "$a" in --print-to-pdf=*) out="${a#--print-to-pdf=}";; esac; done\n'
                      f"{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv(ENV_VARIABLE, str(script))
    return script


def _names(paths: ProjectPaths, found: list[Path]) -> list[str]:
    return [p.relative_to(paths.packs).with_suffix("").as_posix() for p in found]


def test_built_packs_chooses_by_locality_and_stream(tmp_path):
    paths = _packs(tmp_path)
    assert _names(paths, pdf.built_packs(paths)) == ["oldham/care_homes", "salford/care_homes",
                                                     "salford/medicines", "oldham", "salford", "system"]
    assert _names(paths, pdf.built_packs(paths, localities=["salford"])) == [
        "salford/care_homes", "salford/medicines", "salford"]
    assert _names(paths, pdf.built_packs(paths, streams=["care_homes"])) == ["oldham/care_homes",
                                                                             "salford/care_homes"]
    assert _names(paths, pdf.built_packs(paths, localities=["oldham"], streams=["care_homes"])) == [
        "oldham/care_homes"]


def test_built_packs_names_what_is_missing(tmp_path):
    paths = _packs(tmp_path)
    with pytest.raises(PublishError, match=r"--locality bury: no built pack .*built: oldham, salford"):
        pdf.built_packs(paths, localities=["bury"])
    with pytest.raises(PublishError, match=r"--stream handover: .*built: care_homes, medicines"):
        pdf.built_packs(paths, streams=["handover"])
    with pytest.raises(PublishError, match="No HTML pack under .*evalkit run"):
        pdf.built_packs(ProjectPaths(tmp_path / "empty"))


def test_print_pdf_runs_chromium_offline_and_renames_into_place(tmp_path, monkeypatch):
    _fake_chromium(tmp_path, monkeypatch, 'printf "%%PDF-1.4 stand-in" > "$out"')
    html = _packs(tmp_path).packs / "salford" / "care_homes.html"
    written = pdf.print_pdf(html)
    assert written == html.with_suffix(".pdf") and written.read_bytes() == b"%PDF-1.4 stand-in"
    args = (tmp_path / "args.txt").read_text().splitlines()
    for flag in ("--headless", "--no-pdf-header-footer", "--host-resolver-rules=MAP * ~NOTFOUND",
                 "--disable-background-networking", "--no-first-run", "--disable-sync",
                 f"--virtual-time-budget={pdf.VIRTUAL_TIME_BUDGET_MS}"):
        assert flag in args
    assert args[-1] == html.resolve().as_uri()
    temp = next(a for a in args if a.startswith("--print-to-pdf=")).split("=", 1)[1]
    assert Path(temp).parent == html.parent and Path(temp).name.startswith(".care_homes.pdf.")
    profile = next(a for a in args if a.startswith("--user-data-dir=")).split("=", 1)[1]
    assert not Path(profile).exists(), "the throw-away profile was left behind"


@pytest.mark.parametrize("body, message", [
    ('echo "[1:1:ERROR:printing] cannot print" >&2; exit 3', r"exit status 3\): .*cannot print"),
    ('printf "<html>" > "$out"', r"no PDF was written"),
    ("exit 0", r"no PDF was written"),
])
def test_print_pdf_failure_names_the_pack_and_keeps_the_old_pdf(tmp_path, monkeypatch, body, message):
    _fake_chromium(tmp_path, monkeypatch, body)
    html = _packs(tmp_path).packs / "salford" / "care_homes.html"
    html.with_suffix(".pdf").write_bytes(b"%PDF-old")
    with pytest.raises(PublishError, match=rf"care_homes\.html: Chromium .*could not print.*{message}"):
        pdf.print_pdf(html)
    assert html.with_suffix(".pdf").read_bytes() == b"%PDF-old"
    assert sorted(p.name for p in html.parent.iterdir()) == ["care_homes.html", "care_homes.pdf", "medicines.html"]


def test_print_pdf_stops_a_chromium_that_hangs(tmp_path, monkeypatch):
    _fake_chromium(tmp_path, monkeypatch, f'sleep 30 & echo $! > "{tmp_path}/child.pid"; wait')
    html = _packs(tmp_path).packs / "system.html"
    clock = time.monotonic()
    with pytest.raises(PublishError, match=r"system\.html: Chromium did not finish .* within 1 s"):
        pdf.print_pdf(html, timeout=1)
    assert time.monotonic() - clock < 10
    child = int((tmp_path / "child.pid").read_text())
    with pytest.raises(ProcessLookupError):  # its helper processes went with it
        for _ in range(50):
            os.kill(child, 0)
            time.sleep(0.1)


def test_missing_chromium_is_a_publish_error_naming_the_pack(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VARIABLE, str(tmp_path / "no-such-chromium"))
    assert find_chromium() is None
    paths = _packs(tmp_path)
    with pytest.raises(PublishError, match=r"care_homes\.html: printing the pack as PDF: headless Chromium is "
                                           r"needed but EVALKIT_CHROMIUM=.*make browser"):
        pdf.print_pdf(paths.packs / "salford" / "care_homes.html")
    (paths.root / "parameters").mkdir()
    (paths.root / "parameters" / "programme.yml").write_text("programme: {}\n")
    with pytest.raises(PublishError, match=r"oldham/care_homes\.html and 5 other pack\(s\): printing as PDF"):
        pdf.publish_pdfs(paths.root)


def test_publish_without_pdf_says_what_to_do(capsys):
    assert cli.main(["publish"]) == cli.EXIT_ERROR
    assert "pass --pdf" in capsys.readouterr().err


def test_page_layout_reads_a_nested_page_tree_with_an_inherited_box():
    data = (b"%PDF-1.4\n1 0 obj\n<</Type /Catalog /Pages 2 0 R>>\nendobj\n"
            b"2 0 obj\n<</Type /Pages /Count 3 /Kids [3 0 R 5 0 R] /MediaBox [0 0 595.28 841.89]>>\nendobj\n"
            b"3 0 obj\n<</Type /Pages /Count 2 /Kids [4 0 R 6 0 R] /Parent 2 0 R>>\nendobj\n"
            b"4 0 obj\n<</Type /Page /Parent 3 0 R /Contents 7 0 R>>\nendobj\n"
            b"5 0 obj\n<</Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]>>\nendobj\n"
            b"7 0 obj\n<</Length 9>>\nstream\n/Type /Pages\nendstream\nendobj\n")
    pages, size = pdf.page_layout(data)
    assert pages == 3 and size == pytest.approx((595.28, 841.89))
    assert pdf.page_layout(b"%PDF-1.4 not really") is None


def test_real_chromium_prints_a4_pages(tmp_path):
    if find_chromium() is None:
        reason = f"headless Chromium is not installed: {browser.INSTALL_HINT}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    html = tmp_path / "two-pages.html"
    html.write_text("<!DOCTYPE html><html lang='en-GB'><style>@page { size: A4; margin: 15mm }</style>"
                    "<h1>One</h1><p style='break-after: page'>first</p><h2>Two</h2><p>second</p></html>")
    data = pdf.print_pdf(html).read_bytes()
    pages, (width, height) = pdf.page_layout(data)
    assert data.startswith(pdf.PDF_MAGIC) and pages == 2 and (round(width), round(height)) == A4
    assert b"/CreationDate" not in data and b"/ModDate" not in data
    time.sleep(1.1)  # Chromium's dates have whole seconds
    assert pdf.print_pdf(html, tmp_path / "again.pdf").read_bytes() == data, "two prints differ"
