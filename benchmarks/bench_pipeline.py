"""How fast is `evalkit run` on the demo suite, against a serial papermill + nbconvert loop?

    python benchmarks/bench_pipeline.py [--jobs N] [--packs N] [--skip-naive] [--repeat 3]

Builds a throw-away copy of the project in a temporary folder (parameters/,
notebooks/ and data/; when the source project has no processed data, the copy
gets ``evalkit demo-data`` and ``evalkit ingest``), so the developer's outputs/
are never touched. Every command runs as a subprocess with ``EVALKIT_ROOT``
and ``--root`` set to the copy, ``MPLBACKEND=Agg``, ``PYTHONHASHSEED=0`` and
the venv's bin/ first on PATH. Then it measures:

(k) the fixed cost of every job: a bare kernel start (jupyter_client) and
    ``import evalkit.report`` in it, median of --repeat (also warms the page
    cache before the cold build);
(a) a cold ``evalkit run --jobs N``: wall time, jobs run, and the peak resident
    memory of the process tree (psutil, sampled every 0.2 s);
(c) a no-op rerun (nothing changed): wall time of the whole command, --repeat times;
(d) a rerun after an event label in one pack's parameter file is edited (its
    resolved parameters change; the file is restored afterwards): wall time,
    and which jobs ran again (from the manifest statuses) against those expected;
(b) the naive way: a serial loop, per job of (a) in dependency order, of the
    ``papermill`` CLI and then ``jupyter nbconvert --to html`` on its output, with
    the same notebooks and parameters (read from the manifest of (a)). It runs
    last because its notebooks rewrite outputs/results/ of the copy.

and prints them as one table, with the per-job seconds of (a) from its
outputs/manifest.json (median and max per job kind). ``--packs N`` limits the
build to the localities x streams of the first N pack files (a quick check).

Goals (issue: pipeline performance): cold build at least 3x faster than the
naive loop on 2 cores; no-op rerun under 1 s; a touched pack reruns only the
jobs that depend on it (the pack, its locality summary, the system). The
goals are printed beside the figures and never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from evalkit.config import load_project  # noqa: E402
from evalkit.config.paths import ProjectPaths  # noqa: E402
from evalkit.pipeline.plan import KINDS  # noqa: E402

BIN = REPO / ".venv" / "bin" if (REPO / ".venv" / "bin").is_dir() else Path(sys.executable).parent
KERNEL_NAME = "python3"  # evalkit.pipeline.execute.KERNEL_NAME
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]  # evalkit.pipeline.execute.KERNEL_ARGUMENTS
KERNEL_START_TIMEOUT = 60  # seconds, papermill's default
SAMPLE_SECONDS = 0.2  # how often the cold build's process tree is sampled for memory
GOAL_SPEEDUP = 3.0  # cold evalkit run vs the naive loop, on 2 cores (issue: pipeline performance)
GOAL_CORES = 2
GOAL_NOOP_SECONDS = 1.0
MIB = 1024 * 1024
EDIT_MARK = "[bench edit] "
HEADER = ("figure", "measured", "goal", "verdict")
_LABEL = re.compile(r'(label:\s*")')
PACK_IMPORTS = ("from evalkit.report import formative, pack, results, summative\n"
                "from evalkit.report.notebook import setup_notebook\n"
                "setup_notebook()")
"""The first code cell of notebooks/pack.ipynb, less the data load: what every pack pays before its own work."""


def environment(root: Path) -> dict[str, str]:
    return {**os.environ, "EVALKIT_ROOT": str(root), "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def command(args: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    """Run one command; its wall time and what it printed (shown only when it fails)."""
    start = time.perf_counter()
    done = subprocess.run([str(a) for a in args], env=env, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        print(f"  ! exit {done.returncode}: {' '.join(map(str, args[:4]))} ...\n{tail}", file=sys.stderr)
    return seconds, done


def progress(text: str) -> None:
    print(f"... {text}", file=sys.stderr, flush=True)


def make_project(tmp: Path) -> Path:
    """A copy of parameters/, notebooks/ and data/; processed data made in the copy when the source has none."""
    root = (tmp / "project").resolve()
    root.mkdir(parents=True)
    for folder in ("parameters", "notebooks", "data"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    if not ProjectPaths(root).observations_file.is_file():
        progress("no data/processed/observations.parquet in the project: demo-data and ingest in the copy")
        env = environment(root)
        for step in (["demo-data"], ["ingest"]):
            command([BIN / "evalkit", "--root", root, *step], env, root)
    return root


def selection(root: Path, packs: int | None) -> tuple[list[str], int, str]:
    """``evalkit run`` arguments for the localities x streams of the first ``packs`` pack files."""
    config = load_project(root)
    if packs is None or packs >= len(config.packs):
        return [], len(config.packs), "all"
    first = config.packs[:max(1, packs)]
    localities = list(dict.fromkeys(p.locality for p in first))
    streams = list(dict.fromkeys(p.stream for p in first))
    chosen = [p for p in config.packs if p.locality in localities and p.stream in streams]
    args = [a for name in localities for a in ("--locality", name)]
    args += [a for name in streams for a in ("--stream", name)]
    return args, len(chosen), f"{'+'.join(localities)} x {'+'.join(streams)}"


def read_jobs(root: Path) -> dict[str, dict]:
    path = ProjectPaths(root).manifest_file
    return json.loads(path.read_text(encoding="utf-8"))["jobs"] if path.is_file() else {}


class TreeMemory:
    """Peak resident memory of a process and its descendants, sampled every SAMPLE_SECONDS (a sum of RSS, so
    shared pages count once per process: an upper bound). Kernels are told apart by ``ipykernel_launcher``."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.total = self.kernel = self.other = 0
        self.kernels: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:  # the run has ended
                return
            total = 0
            for process in processes:
                try:
                    rss = process.memory_info().rss
                    is_kernel = process.pid in self.kernels or "ipykernel_launcher" in process.cmdline()
                except psutil.Error:  # the process ended between listing and reading it
                    continue
                total += rss
                if is_kernel:
                    self.kernels.add(process.pid)
                    self.kernel = max(self.kernel, rss)
                elif process.pid != self.root.pid:
                    self.other = max(self.other, rss)
            self.total = max(self.total, total)
            self._stop.wait(SAMPLE_SECONDS)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def cold_build(root: Path, run_args: list[str], env: dict[str, str]) -> tuple[float, int, TreeMemory]:
    """``evalkit run`` from nothing, with its process tree's memory sampled; wall time and return code."""
    start = time.perf_counter()
    process = subprocess.Popen([str(a) for a in [BIN / "evalkit", "--root", root, "run", *run_args]], env=env,
                               cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with TreeMemory(process.pid) as memory:
        output, _ = process.communicate()
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        print(f"  ! evalkit run exited {process.returncode}:\n" + "\n".join(output.strip().splitlines()[-20:]),
              file=sys.stderr)
    return seconds, process.returncode, memory


def kernel_overhead(root: Path, env: dict[str, str], repeat: int) -> list[tuple[float, ...]]:
    """Seconds of (kernel start until ready, ``import evalkit.report``, the pack notebook's imports and
    ``setup_notebook()``), ``repeat`` times, each in a fresh kernel."""
    from jupyter_client.manager import KernelManager

    times = []
    for _ in range(repeat):
        manager = KernelManager(kernel_name=KERNEL_NAME)
        start = time.perf_counter()
        manager.start_kernel(extra_arguments=KERNEL_ARGUMENTS, env=env, cwd=str(root / "notebooks"))
        client = manager.client()
        try:
            client.start_channels()
            client.wait_for_ready(timeout=KERNEL_START_TIMEOUT)
            marks = [time.perf_counter()]
            for code in ("import evalkit.report", PACK_IMPORTS):
                reply = client.execute_interactive(code, timeout=KERNEL_START_TIMEOUT)
                marks.append(time.perf_counter())
                if reply["content"]["status"] != "ok":
                    print(f"  ! {code!r} failed in the kernel: {reply['content'].get('evalue')}", file=sys.stderr)
            times.append((marks[0] - start, marks[1] - marks[0], marks[2] - marks[1]))
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    return times


def in_order(jobs: dict[str, dict]) -> list[tuple[str, dict]]:
    """Packs, then locality summaries, then the system: an order that respects every job's needs."""
    return sorted(jobs.items(), key=lambda item: (KINDS.index(item[1]["kind"]), item[0]))


def naive(root: Path, jobs: dict[str, dict], env: dict[str, str]) -> tuple[float, float, float, int]:
    """The serial papermill CLI + nbconvert CLI loop; (wall, papermill seconds, nbconvert seconds, failures)."""
    out = root / "naive"
    out.mkdir(exist_ok=True)
    papermill_s = nbconvert_s = 0.0
    failures = 0
    start = time.perf_counter()
    for job_id, entry in in_order(jobs):
        executed = (out / re.sub(r"[^A-Za-z0-9_.-]", "-", job_id)).with_suffix(".ipynb").relative_to(root)
        parameters = [a for key, value in entry["parameters"].items() for a in ("-p", key, value)]
        seconds, done = command([BIN / "papermill", entry["notebook"]["path"], executed, *parameters,
                                 "-k", KERNEL_NAME], env, root)
        papermill_s += seconds
        failures += done.returncode != 0
        seconds, done = command([BIN / "jupyter", "nbconvert", "--to", "html", executed], env, root)
        nbconvert_s += seconds
        failures += done.returncode != 0
    return time.perf_counter() - start, papermill_s, nbconvert_s, failures


def touched(root: Path, jobs: dict[str, dict]) -> tuple[Path, set[str]] | None:
    """The first pack's parameter file, and the jobs an edit of it must rerun (pack, its locality, system)."""
    for job_id, entry in in_order(jobs):
        if entry["kind"] == "pack" and entry.get("parameter_file"):
            locality = entry["parameters"]["locality"]
            return root / entry["parameter_file"], {job_id, f"locality:{locality}", "system"}
    return None


def rerun_after_edit(root: Path, run_args: list[str], env: dict[str, str],
                     jobs: dict[str, dict]) -> tuple[float, set[str], int, set[str], Path, set[str]] | None:
    """Edit one event label of one pack file, rerun, restore; (wall, jobs that ran, cached, expected, file,
    the reasons the manifest gives for the jobs that ran)."""
    target = touched(root, jobs)
    if target is None:
        return None
    path, expected = target
    original = path.read_bytes()
    text = original.decode("utf-8")
    if not _LABEL.search(text):
        print(f"  ! {path}: no event label to edit; (d) skipped", file=sys.stderr)
        return None
    try:
        path.write_text(_LABEL.sub(lambda m: m.group(1) + EDIT_MARK, text, count=1), encoding="utf-8")
        seconds, _ = command([BIN / "evalkit", "--root", root, "run", *run_args], env, root)
    finally:
        path.write_bytes(original)
    after = read_jobs(root)
    ran = {j: e for j, e in after.items() if e["status"] != "cached"}
    cached = sum(e["status"] == "cached" for e in after.values())
    return seconds, set(ran), cached, expected, path.relative_to(root), reasons(ran)


def reasons(jobs: dict[str, dict]) -> set[str]:
    """The manifest's reasons for rerunning (e.g. ``code changed``: evalkit's source was edited meanwhile)."""
    return {f"{e['kind']}: {e.get('reason') or e['status']}" for e in jobs.values()}


def per_kind(jobs: dict[str, dict]) -> list[tuple[str, int, float, float, float]]:
    """(kind, jobs, median s, max s, sum s) of the jobs that ran."""
    rows = []
    for kind in KINDS:
        seconds = [e["seconds"] for e in jobs.values() if e["kind"] == kind and e.get("seconds") is not None]
        if seconds:
            rows.append((kind, len(seconds), statistics.median(seconds), max(seconds), sum(seconds)))
    return rows


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


@dataclass
class Figures:
    """Everything one run of the benchmark measured (see the module docstring for (k), (a) to (d))."""

    jobs: int
    packs: int
    selection: str
    overhead: list[tuple[float, ...]]
    cold_s: float
    cold_rc: int
    cold_jobs: dict[str, dict]
    memory: TreeMemory
    noop: list[tuple[float, int]] = field(default_factory=list)
    noop_why: set[str] = field(default_factory=set)
    edit: tuple | None = None
    naive: tuple[float, float, float, int] | None = None


def measure(args: argparse.Namespace) -> Figures | None:
    """Run (k), (a), (c), (d) and (b) in a temporary copy of the project; None if the cold build wrote nothing."""
    with tempfile.TemporaryDirectory(prefix="evalkit-bench-") as tmp:
        root = make_project(Path(tmp))
        env = environment(root)
        chosen, n_packs, what = selection(root, args.packs)
        run_args = ["--jobs", str(args.jobs), "--no-progress", *chosen]
        evalkit_run = [BIN / "evalkit", "--root", root, "run", *run_args]

        progress(f"kernel start + imports, {args.repeat} fresh kernels")
        overhead = kernel_overhead(root, env, args.repeat)
        progress(f"(a) cold build: {n_packs} packs ({what}), --jobs {args.jobs}")
        cold_s, cold_rc, memory = cold_build(root, run_args, env)
        cold_jobs = read_jobs(root)
        if not cold_jobs:
            print("evalkit run wrote no manifest: nothing more to measure.", file=sys.stderr)
            return None
        figures = Figures(args.jobs, n_packs, what, overhead, cold_s, cold_rc, cold_jobs, memory)

        progress(f"(c) no-op rerun, {args.repeat} times")
        for _ in range(args.repeat):
            seconds, _ = command(evalkit_run, env, root)
            ran = {j: e for j, e in read_jobs(root).items() if e["status"] != "cached"}
            figures.noop.append((seconds, len(ran)))
            figures.noop_why |= reasons(ran)

        progress("(d) rerun after editing one pack's event label")
        figures.edit = rerun_after_edit(root, run_args, env, cold_jobs)

        if not args.skip_naive:
            progress(f"(b) naive serial loop: papermill + nbconvert CLIs over {len(cold_jobs)} jobs")
            figures.naive = naive(root, cold_jobs, env)
    return figures


def goal_rows(f: Figures, cores: int) -> list[tuple[str, str, str, str]]:
    """(figure, measured, goal, verdict) rows of (a) to (d)."""
    cold_ran = sum(e["status"] == "ok" for e in f.cold_jobs.values())
    cold_failed = sum(e["status"] == "failed" for e in f.cold_jobs.values())
    rows = [("(a) cold build, evalkit run", f"{f.cold_s:.1f} s; {cold_ran} jobs run, {cold_failed} failed", "",
             "" if f.cold_rc == 0 else f"evalkit run exited {f.cold_rc}")]
    if f.naive is None:
        rows.append(("(b) naive papermill + nbconvert loop", "skipped (--skip-naive)", "", ""))
    else:
        naive_s, papermill_s, nbconvert_s, failures = f.naive
        ratio = naive_s / f.cold_s
        where = "" if cores == GOAL_CORES else f" (on {cores} cores)"
        rows += [("(b) naive papermill + nbconvert loop", f"{naive_s:.1f} s; {failures} commands failed", "", ""),
                 ("    of which papermill / nbconvert", f"{papermill_s:.1f} s / {nbconvert_s:.1f} s", "", ""),
                 ("    ratio naive / evalkit", f"{ratio:.2f}x", f">= {GOAL_SPEEDUP:.0f}x on {GOAL_CORES} cores",
                  met(ratio >= GOAL_SPEEDUP) + where)]
    noop_s = statistics.median(s for s, _ in f.noop)
    noop_ran = max(n for _, n in f.noop)
    rows += [("(c) no-op rerun, whole command", f"median {noop_s:.2f} s of {len(f.noop)}; {noop_ran} jobs run",
              f"< {GOAL_NOOP_SECONDS:.0f} s, 0 jobs run", met(noop_s < GOAL_NOOP_SECONDS and noop_ran == 0)),
             ("    each run", ", ".join(f"{s:.2f} s (ran {n})" for s, n in f.noop), "", "")]
    if f.noop_why:
        rows.append(("    why jobs ran", "; ".join(sorted(f.noop_why)), "", ""))
    if f.edit is None:
        rows.append(("(d) rerun after editing one pack file", "skipped (no pack file to edit)", "", ""))
        return rows
    edit_s, ran, cached, expected, path, why = f.edit
    rows += [("(d) rerun after editing one pack file", f"{edit_s:.1f} s; {len(ran)} rerun, {cached} cached",
              f"{len(expected)} rerun (pack, locality, system)", met(ran == expected)),
             ("    edited", f"{path} (one event label)", "", "")]
    if ran != expected:
        rows += [("    reran", ", ".join(sorted(ran)), "expected: " + ", ".join(sorted(expected)), ""),
                 ("    why", "; ".join(sorted(why)), "", "")]
    return rows


def print_figures(f: Figures) -> None:
    cores = os.cpu_count() or 1
    kinds = per_kind(f.cold_jobs)
    print(f"cores: {cores}; evalkit run --jobs {f.jobs}; packs: {f.packs} ({f.selection}); "
          f"jobs: {len(f.cold_jobs)} ({', '.join(f'{n} {k}' for k, n, *_ in kinds)})")
    start_s, import_s, pack_s = (statistics.median(t[i] for t in f.overhead) for i in range(3))
    print(f"fixed per-job overhead (jupyter_client, median of {len(f.overhead)} fresh kernels): kernel start "
          f"{start_s:.2f} s + import evalkit.report {import_s:.2f} s + the pack notebook's imports and "
          f"setup_notebook() {pack_s:.2f} s = {start_s + import_s + pack_s:.2f} s")
    rows = goal_rows(f, cores)
    widths = [max(len(r[i]) for r in rows + [HEADER]) for i in range(3)]
    print()
    for row in [HEADER, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3])
    print()
    print("per-job seconds of the cold build (its outputs/manifest.json):")
    print(f"  {'kind':<10} {'jobs':>5} {'median s':>9} {'max s':>7} {'sum s':>7}")
    for kind, n, median, biggest, total in kinds:
        print(f"  {kind:<10} {n:>5} {median:>9.2f} {biggest:>7.2f} {total:>7.1f}")
    job_total = sum(row[4] for row in kinds)
    print(f"  sum of job seconds {job_total:.1f} s / {f.jobs} workers = {job_total / f.jobs:.1f} s "
          f"if perfectly packed; measured wall {f.cold_s:.1f} s")
    print(f"peak resident memory during the cold build (RSS sampled every {SAMPLE_SECONDS} s): whole tree "
          f"{f.memory.total / MIB:.0f} MiB; largest kernel {f.memory.kernel / MIB:.0f} MiB; largest other child "
          f"(a worker) {f.memory.other / MIB:.0f} MiB; {len(f.memory.kernels)} kernels seen")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="evalkit run --jobs (default: cores)")
    parser.add_argument("--packs", type=int, default=None,
                        help="only the localities x streams of the first N pack files (default: all)")
    parser.add_argument("--skip-naive", action="store_true", help="leave out the naive papermill + nbconvert loop")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the no-op rerun and of the kernel start")
    figures = measure(parser.parse_args(argv))
    if figures is None:
        return 1
    print_figures(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
