"""What ``evalkit run`` shows while it works, and its closing table.

On a terminal: a live progress bar and one line per job with its state
(queued, running, cached, done, failed, skipped) and time. Elsewhere (CI, a
log file): one plain line per change of state. At the end, either way: a table
of ran / cached / failed with durations, and for each failure the notebook, the
failing cell, the error, the partial notebook and the log.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import IO, Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

STATES = ("queued", "running", "cached", "done", "failed", "skipped")
STYLE = {"queued": "dim", "running": "bold blue", "cached": "green", "done": "green", "failed": "bold red",
         "skipped": "yellow"}
FINISHED = ("cached", "done", "failed", "skipped")


class Reporter:
    """Shows job states; ``live`` picks the terminal display (default: when ``stream`` is a terminal)."""

    def __init__(self, stream: IO[str], *, live: bool | None = None):
        self.console = Console(file=stream, highlight=False, soft_wrap=True)
        self.live = self.console.is_terminal if live is None else live
        self.states: dict[str, str] = {}
        self.started: dict[str, float] = {}
        self.seconds: dict[str, float] = {}
        self._live: Live | None = None
        self._bar = Progress(TextColumn("[bold]evalkit run"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), console=self.console)
        self._task = None

    # ------------------------------------------------------------------ lifecycle

    def start(self, queued: Iterable[str], cached: Iterable[str]) -> None:
        for job in queued:
            self.states[job] = "queued"
        for job in cached:
            self.states[job] = "cached"
        total = len(self.states)
        self._task = self._bar.add_task("jobs", total=total, completed=sum(s == "cached" for s in
                                                                           self.states.values()))
        if self.live:
            self._live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)
            self._live.start()
        else:
            cached_n = sum(s == "cached" for s in self.states.values())
            self.console.print(f"evalkit run: {total} job(s): {total - cached_n} to run, {cached_n} cached")

    def update(self, job: str, state: str, outcome: Any = None) -> None:
        self.states[job] = state
        if state == "running":
            self.started[job] = time.perf_counter()
        elif outcome is not None:
            self.seconds[job] = outcome.seconds
        if state in FINISHED and self._task is not None:
            self._bar.update(self._task, completed=sum(s in FINISHED for s in self.states.values()))
        if self._live is not None:
            self._live.update(self._render())
        else:
            done = sum(s in FINISHED for s in self.states.values())
            took = f" in {self.seconds[job]:.1f} s" if job in self.seconds and state in ("done", "failed") else ""
            self.console.print(f"[{done:>3}/{len(self.states)}] {job}: {state}{took}")

    def stop(self) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()
            self._live = None

    # ------------------------------------------------------------------ rendering

    def _render(self) -> Group:
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        table.add_column("job")
        table.add_column("state")
        table.add_column("seconds", justify="right")
        now = time.perf_counter()
        for job, state in self.states.items():
            seconds = self.seconds.get(job)
            if state == "running":
                seconds = now - self.started.get(job, now)
            table.add_row(job, f"[{STYLE[state]}]{state}[/]", "" if seconds is None else f"{seconds:.1f}")
        return Group(self._bar, table)

    def summary(self, rows: Iterable[Mapping[str, Any]], *, seconds: float, workers: int, executor: str) -> None:
        """The closing table: counts, durations, and every failure with where to look."""
        rows = list(rows)
        counts = {state: sum(r["status"] == state for r in rows) for state in ("ok", "cached", "failed", "skipped")}
        table = Table(title="evalkit run", show_header=True, header_style="bold")
        for name in ("job", "status", "seconds"):
            table.add_column(name, justify="right" if name == "seconds" else "left")
        for r in rows:
            style = STYLE.get({"ok": "done"}.get(r["status"], r["status"]), "")
            table.add_row(r["job"], f"[{style}]{r['status']}[/]" if style else r["status"],
                          "" if r.get("seconds") is None else f"{r['seconds']:.1f}")
        self.console.print(table)
        self.console.print(f"Ran {counts['ok'] + counts['failed']} job(s) ({counts['ok']} ok, {counts['failed']} "
                           f"failed), {counts['cached']} cached, {counts['skipped']} skipped, in {seconds:.1f} s on "
                           f"{workers} {executor} worker(s).")
        for r in rows:
            if r["status"] != "failed":
                continue
            where = f"cell {r['cell']}" if r.get("cell") is not None else "no cell (kernel or publishing)"
            self.console.print(f"[bold red]FAILED[/] {r['job']}: {r['notebook']}, {where}\n  error: {r['error']}"
                               f"\n  partial notebook: {r.get('partial') or 'none written'}\n  log: {r['log']}"
                               + ("\n  the previous pack was kept and is marked stale in the index"
                                  if r.get("stale") else ""))


__all__ = ["Reporter", "STATES"]
