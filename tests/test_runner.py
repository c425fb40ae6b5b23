"""evalkit run: planning, validation before any kernel, caching and invalidation, failures, lock, executors.

Most tests use small stand-in notebooks (a kernel each, a second or two) so that the runner's behaviour is
tested quickly; the last tests run the real pack, locality and system notebooks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from evalkit.errors import ConfigError, DataValidationError
from evalkit.pipeline import lock, runner
from evalkit.pipeline.plan import plan_jobs
from evalkit.pipeline.runner import RunOptions
from evalkit.pipeline.validate import load_packs
from processed_fixture import write_processed

SALFORD = ("care_homes", "handover", "medicines")


def _notebook(path: Path, parameters: str, *body: str) -> None:
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                               "language": "python"}, "language_info": {"name": "python"}})
    cell = new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [new_markdown_cell("# Stand-in"), cell, *(new_code_cell(b) for b in body)]
    for i, c in enumerate(nb.cells):
        c.id = f"cell-{i}"
    nbformat.write(nb, path)


def _stand_ins(root: Path, pack_body: tuple[str, ...] = ()) -> None:
    """Quick notebooks with the runner's parameters in place of the real pack, locality and system notebooks."""
    notebooks = root / "notebooks"
    _notebook(notebooks / "pack.ipynb", 'locality = "x"\nstream = "y"\nproject_root = None',
              *pack_body, 'print(f"pack {locality}/{stream}")')
    _notebook(notebooks / "locality.ipynb", 'locality = "x"\nproject_root = None', 'print(f"summary of {locality}")')
    _notebook(notebooks / "system.ipynb", "project_root = None", 'print("whole system")')


@pytest.fixture
def root(project: Path) -> Path:
    write_processed(project, localities=("salford",))
    return project


@pytest.fixture
def quick(root: Path) -> Path:
    _stand_ins(root)
    return root


def _run(root: Path, **options) -> runner.RunResult:
    options.setdefault("localities", ["salford"])
    options.setdefault("streams", list(SALFORD))
    options.setdefault("jobs", 2)
    return runner.run(root, RunOptions(**options), live=False, stream=open(os.devnull, "w"))  # noqa: SIM115


def _statuses(result: runner.RunResult) -> dict[str, str]:
    return {r["job"]: r["status"] for r in result.rows}


def _manifest(root: Path) -> dict:
    return json.loads((root / "outputs" / "manifest.json").read_text(encoding="utf-8"))


def _edit_event(root: Path, stream: str) -> None:
    path = root / "parameters" / "salford" / f"{stream}.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("PDSA 1", "PDSA one"), encoding="utf-8")


# --------------------------------------------------------------------------- planning and validation


def test_plan_orders_packs_then_localities_then_the_system(root):
    config, problems = load_packs(root_paths(root))
    assert not problems
    packs = [p for p in config.packs if p.locality == "salford" and p.stream in SALFORD]
    plan = plan_jobs(config, packs, all_packs=config.packs)
    ids = [j.id for j in plan.jobs]
    assert ids == [f"pack:salford/{s}" for s in SALFORD] + ["locality:salford", "system"]
    assert plan.job("locality:salford").needs == tuple(f"pack:salford/{s}" for s in SALFORD)
    assert set(plan.job("system").needs) == set(ids[:-1])
    pack = plan.job("pack:salford/care_homes")
    assert pack.executed == root / "outputs/notebooks/salford/care_homes.ipynb"
    assert pack.html == root / "outputs/packs/salford/care_homes.html"
    assert plan.job("system").html == root / "outputs/packs/system.html"
    assert set(pack.components) == {"notebook", "parameters", "data", "code"}


def root_paths(root: Path):
    from evalkit.config.paths import ProjectPaths

    return ProjectPaths.from_root(root)


def test_dry_run_prints_the_plan_and_runs_nothing(quick):
    result = _run(quick, dry_run=True)
    assert set(_statuses(result).values()) == {"planned"}
    reasons = {r["job"]: r["reason"] for r in result.rows}
    assert {reasons[f"pack:salford/{s}"] for s in SALFORD} == {"never built"}
    assert reasons["locality:salford"].startswith("3 job(s) it depends on rerun")
    assert not (quick / "outputs" / "notebooks").exists() and not (quick / "outputs" / "manifest.json").exists()


def test_invalid_jobs_are_reported_together_before_any_kernel(quick):
    (quick / "parameters/salford/care_homes.yml").write_text("intervention: {start: 2017-04}\nfoo: 1\n")
    handover = quick / "parameters/salford/handover.yml"
    handover.write_text(handover.read_text().replace("start: 2018-01", "start: 2015-02"), encoding="utf-8")
    with pytest.raises(DataValidationError) as caught:
        _run(quick)
    message = str(caught.value)
    assert "problem(s) in 2 job(s); nothing was run" in message
    assert "care_homes.yml" in message and "foo" in message
    assert "handover.yml [intervention.start]" in message and "at least 3 each side" in message
    assert not (quick / "outputs" / "notebooks").exists()
    result = _run(quick, skip_invalid=True, dry_run=True)
    assert [r["job"] for r in result.rows] == ["pack:salford/medicines", "locality:salford", "system"]
    assert {p.job for p in result.invalid} == {"pack:salford/care_homes", "pack:salford/handover"}


def test_unknown_names_and_missing_data_are_clear_errors(project):
    with pytest.raises(ConfigError, match="Unknown locality \\['nowhere'\\]"):
        runner.run(project, RunOptions(localities=["nowhere"], dry_run=True), live=False)
    with pytest.raises(DataValidationError, match="missing; run `evalkit ingest`"):
        runner.run(project, RunOptions(localities=["salford"], dry_run=True), live=False)


# --------------------------------------------------------------------------- caching


def test_cold_noop_touched_forced_and_edited_output(quick):
    cold = _run(quick)
    assert set(_statuses(cold).values()) == {"ok"}, cold.rows
    assert (quick / "outputs/packs/salford/care_homes.html").is_file()
    assert (quick / "outputs/packs/salford.html").is_file() and (quick / "outputs/packs/system.html").is_file()

    noop = _run(quick)
    assert set(_statuses(noop).values()) == {"cached"}

    _edit_event(quick, "care_homes")
    touched = _statuses(_run(quick))
    assert touched == {"pack:salford/care_homes": "ok", "pack:salford/handover": "cached",
                       "pack:salford/medicines": "cached", "locality:salford": "ok", "system": "ok"}
    entry = _manifest(quick)["jobs"]["pack:salford/care_homes"]
    assert entry["reason"] == "parameters changed"

    (quick / "outputs/packs/salford/handover.html").write_text("edited by hand", encoding="utf-8")
    edited = _run(quick)
    assert _statuses(edited)["pack:salford/handover"] == "ok"
    assert next(r for r in edited.rows if r["job"] == "pack:salford/handover")["reason"] == \
        "html output edited since it was built"

    assert set(_statuses(_run(quick, force=True)).values()) == {"ok"}


def test_manifest_records_provenance(quick):
    _run(quick, streams=["care_homes"])
    manifest = _manifest(quick)
    run = manifest["run"]
    assert run["versions"]["python"] and run["versions"]["evalkit"] and run["versions"]["pandas"]
    assert set(run["git"]) == {"commit", "dirty"} and run["executor"] == "local"
    job = manifest["jobs"]["pack:salford/care_homes"]
    assert job["status"] == "ok" and job["parameters"]["stream"] == "care_homes"
    assert job["parameter_file"] == "parameters/salford/care_homes.yml"
    assert "data/processed/observations.parquet" in job["inputs"] and len(job["notebook"]["sha256"]) == 64
    assert set(job["outputs"]) >= {"notebook", "html"} and job["seconds"] > 0
    assert job["started"] <= job["finished"]


# --------------------------------------------------------------------------- failures


def test_failures_stay_with_their_job(quick):
    _run(quick)  # a good build first, so that the failures below have packs to keep
    _stand_ins(quick, pack_body=(
        'import os, signal, time\nif stream == "care_homes":\n    raise RuntimeError("deliberate failure")',
        'if stream == "handover":\n    os.kill(os.getpid(), signal.SIGKILL)',
        'if stream == "medicines":\n    time.sleep(120)',
    ))
    result = _run(quick, timeout=15)
    rows = {r["job"]: r for r in result.rows}
    assert rows["pack:salford/care_homes"]["status"] == "failed"
    assert "RuntimeError: deliberate failure" in rows["pack:salford/care_homes"]["error"]
    assert rows["pack:salford/care_homes"]["cell"] == 3  # in the executed notebook, after the injected cell
    assert rows["pack:salford/handover"]["status"] == "failed" and "DeadKernelError" in rows[
        "pack:salford/handover"]["error"]
    assert rows["pack:salford/medicines"]["status"] == "failed" and "timed out" in rows[
        "pack:salford/medicines"]["error"]
    assert rows["locality:salford"]["status"] == "ok" and rows["system"]["status"] == "ok"

    partial = nbformat.read(quick / "outputs/notebooks/salford/care_homes.failed.ipynb", as_version=4)
    errors = [o for c in partial.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors[0].evalue == "deliberate failure"
    assert "status:     failed" in (quick / "outputs/notebooks/salford/care_homes.log").read_text()
    kept = (quick / "outputs/packs/salford/care_homes.html").read_text(encoding="utf-8")
    assert "pack salford/care_homes" in kept  # the previous good pack, not a half-written one
    assert not list((quick / "outputs").rglob(".*.running.ipynb"))
    entry = _manifest(quick)["jobs"]["pack:salford/care_homes"]
    assert entry["stale"] and entry["error"]["cell"] == 3 and entry["outputs"]["html"]
    index = (quick / "outputs/index.html").read_text(encoding="utf-8")
    assert "<strong>Stale</strong>" in index and "deliberate failure" in index

    # once fixed, the failed jobs rerun and the good ones are reused
    _stand_ins(quick)
    again = _statuses(_run(quick))
    assert again["pack:salford/care_homes"] == "ok" and again["pack:salford/medicines"] == "ok"
    assert not (quick / "outputs/notebooks/salford/care_homes.failed.ipynb").exists()


def test_fail_fast_starts_nothing_after_a_failure(quick):
    _stand_ins(quick, pack_body=('if stream == "care_homes":\n    raise RuntimeError("stop here")',))
    statuses = _statuses(_run(quick, jobs=1, fail_fast=True))
    assert statuses["pack:salford/care_homes"] == "failed"
    assert statuses["locality:salford"] == "skipped" and statuses["system"] == "skipped"


def test_network_is_refused_in_a_job(quick):
    _stand_ins(quick, pack_body=('import urllib.request\nif stream == "care_homes":\n'
                                 '    urllib.request.urlopen("http://192.0.2.1/", timeout=5)',))
    rows = {r["job"]: r for r in _run(quick, streams=["care_homes", "handover"]).rows}
    assert rows["pack:salford/care_homes"]["status"] == "failed"
    assert "network access is disabled" in rows["pack:salford/care_homes"]["error"]
    assert rows["pack:salford/handover"]["status"] == "ok"


# --------------------------------------------------------------------------- lock and interruption


def test_a_second_run_refuses_while_the_first_holds_the_outputs(quick):
    with lock.outputs_lock(quick / "outputs"):
        with pytest.raises(lock.BusyError, match="in use by another evalkit run .*pass --wait"):
            _run(quick)
        done = subprocess.run([sys.executable, "-m", "evalkit", "--root", str(quick), "run", "--locality",
                               "salford"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and "in use by another evalkit run" in done.stderr
        with pytest.raises(lock.BusyError, match="still in use"):
            with lock.outputs_lock(quick / "outputs", wait=True, timeout=1):
                pass
    with lock.outputs_lock(quick / "outputs"):  # released: free again
        pass


def test_ctrl_c_stops_cleanly_and_records_the_run(quick):
    _stand_ins(quick, pack_body=("import time\ntime.sleep(60)",))
    env = {**os.environ, "MPLBACKEND": "Agg"}
    process = subprocess.Popen([sys.executable, "-m", "evalkit", "--root", str(quick), "run", "--locality",
                                "salford", "--stream", "care_homes", "--no-progress"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 60
    while time.time() < deadline and not list((quick / "outputs").rglob(".*.running.ipynb")):
        time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    manifest = _manifest(quick)
    assert manifest["run"]["interrupted"] is True
    assert manifest["jobs"]["pack:salford/care_homes"]["status"] == "interrupted"
    assert not list((quick / "outputs").rglob(".*.running.ipynb"))
    assert not (quick / "outputs/packs/salford/care_homes.html").exists()


# --------------------------------------------------------------------------- the real notebooks


@pytest.mark.slow
def test_real_packs_are_byte_identical_across_reruns_and_executors(root):
    first = _run(root, streams=["care_homes"])
    assert set(_statuses(first).values()) == {"ok"}, first.rows
    files = sorted(p for p in (root / "outputs").rglob("*") if p.suffix in (".ipynb", ".html") and
                   p.name != "index.html")
    assert len(files) == 6  # pack, locality summary and system: notebook and HTML each
    before = {p: p.read_bytes() for p in files}
    second = _run(root, streams=["care_homes"], force=True, executor="dask")
    assert set(_statuses(second).values()) == {"ok"}, second.rows
    changed = [p.name for p in files if p.read_bytes() != before[p]]
    assert not changed, f"not byte-identical: {changed}"
    page = (root / "outputs/packs/salford/care_homes.html").read_text(encoding="utf-8")
    assert "Synthetic demonstration data" in page and "<script" not in page
    index = (root / "outputs/index.html").read_text(encoding="utf-8")
    assert 'href="packs/salford/care_homes.html"' in index and 'href="packs/system.html"' in index


def test_only_the_named_dask_scheduler_is_reachable_from_the_runner():
    from evalkit.pipeline import netguard

    assert runner.scheduler_hosts(None) == ()
    assert runner.scheduler_hosts("tcp://127.0.0.1:8786") == ("127.0.0.1", "127.0.0.1")
    with pytest.raises(ConfigError, match="not an address"):
        runner.scheduler_hosts("tcp://:8786")
    with netguard.no_network(allow=["192.0.2.7"]):
        assert netguard._is_local("192.0.2.7") and not netguard._is_local("192.0.2.8")
    with netguard.no_network():
        assert not netguard._is_local("192.0.2.7")  # the allowance ends with its block


def test_a_kernel_that_fails_to_start_is_started_again(tmp_path):
    """Port races between kernels started at once ("Kernel died before replying to kernel_info") are retried;
    a notebook's own error is not."""
    from evalkit.errors import NotebookExecutionError
    from evalkit.pipeline import job

    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) < 3:
            raise NotebookExecutionError("pack.ipynb", None, "RuntimeError", "Kernel died before replying to kernel_info")

    spec = job.JobSpec(id="pack:x/y", notebook=str(tmp_path / "pack.ipynb"), parameters={}, executed="", html="",
                       title="", root=str(tmp_path))
    job._execute_with_start_retry(flaky, spec, tmp_path / "out.ipynb", tmp_path / "out.log")
    assert len(calls) == 3

    def broken(*args, **kwargs):
        calls.append(1)
        raise NotebookExecutionError("pack.ipynb", 4, "ValueError", "bad data")

    calls.clear()
    with pytest.raises(NotebookExecutionError, match="bad data"):
        job._execute_with_start_retry(broken, spec, tmp_path / "out.ipynb", tmp_path / "out.log")
    assert len(calls) == 1
