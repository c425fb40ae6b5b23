"""What evalkit run shows: plain lines off a terminal, a live display on one, and the closing table."""

from __future__ import annotations

import io

from evalkit.pipeline.job import JobOutcome
from evalkit.pipeline.progress import Reporter

FAILED = {"job": "pack:salford/handover", "status": "failed", "seconds": 2.5, "notebook": "notebooks/pack.ipynb",
          "cell": 3, "error": "RuntimeError: boom", "partial": "outputs/notebooks/salford/handover.failed.ipynb",
          "log": "outputs/notebooks/salford/handover.log", "stale": True}


def _outcome(job: str, status: str) -> JobOutcome:
    return JobOutcome(job, status, 100.0, 102.5, error="RuntimeError: boom" if status == "failed" else None)


def test_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    reporter = Reporter(out)
    assert not reporter.live  # a StringIO is not a terminal: CI and logs get plain lines
    reporter.start(queued=["pack:salford/care_homes", "pack:salford/handover"], cached=["system"])
    reporter.update("pack:salford/care_homes", "running")
    reporter.update("pack:salford/care_homes", "done", _outcome("pack:salford/care_homes", "ok"))
    reporter.update("pack:salford/handover", "failed", _outcome("pack:salford/handover", "failed"))
    reporter.stop()
    text = out.getvalue()
    assert "evalkit run: 3 job(s): 2 to run, 1 cached" in text
    assert "[  2/3] pack:salford/care_homes: done in 2.5 s" in text  # the cached job counts as finished
    assert "[  3/3] pack:salford/handover: failed in 2.5 s" in text
    assert "\x1b[" not in text  # no terminal control codes in a log


def test_live_display_and_closing_table_name_every_failure():
    out = io.StringIO()
    reporter = Reporter(out, live=True)
    reporter.start(queued=["pack:salford/handover"], cached=[])
    reporter.update("pack:salford/handover", "running")
    reporter.update("pack:salford/handover", "failed", _outcome("pack:salford/handover", "failed"))
    reporter.stop()
    ok = {"job": "system", "status": "cached", "seconds": None, "notebook": "", "log": ""}
    reporter.summary([FAILED, ok], seconds=3.0, workers=2, executor="local")
    text = out.getvalue()
    assert "Ran 1 job(s) (0 ok, 1 failed), 1 cached, 0 skipped, in 3.0 s on 2 local worker(s)." in text
    for fact in ("FAILED pack:salford/handover: notebooks/pack.ipynb, cell 3", "error: RuntimeError: boom",
                 "partial notebook: outputs/notebooks/salford/handover.failed.ipynb",
                 "log: outputs/notebooks/salford/handover.log", "marked stale"):
        assert fact in text, fact
