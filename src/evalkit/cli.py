"""The ``evalkit`` command line: validate, demo-data, ingest, run, publish.

Every command takes ``--root`` (default: ``$EVALKIT_ROOT`` or the nearest
folder above the current one holding ``parameters/programme.yml``). Errors
evalkit raises on purpose are printed as one clear message and exit with
status 2; a batch with failed packs exits with status 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from collections.abc import Sequence

from evalkit import __version__
from evalkit.errors import EvalkitError

log = logging.getLogger("evalkit")

EXIT_FAILED_JOBS = 1
EXIT_ERROR = 2


def _config(args: argparse.Namespace):
    from evalkit.config import load_project

    return load_project(args.root)


def cmd_validate(args: argparse.Namespace) -> int:
    config = _config(args)
    programme = config.programme
    print(
        f"OK: {config.paths.programme_file} and {len(config.packs)} pack files are valid "
        f"({len(programme.localities)} localities, {len(programme.streams)} streams, "
        f"{len(programme.measures)} measures, {len(programme.sources)} sources)."
    )
    return 0


def cmd_demo_data(args: argparse.Namespace) -> int:
    from evalkit.data.demo import generate

    config = _config(args)
    raw = config.paths.raw
    if config.paths.truth_file.is_file() and not args.force:
        print(f"Demo data already in {raw} (pass --force to write it again).")
        return 0
    if not config.programme.programme.synthetic:
        raise EvalkitError(
            f"{config.paths.programme_file}: programme.synthetic is false, so {raw} holds real extracts; "
            "refusing to write synthetic demo files beside them. Use a separate project folder for the demo."
        )
    result = generate(config, seed=args.seed, defects=not args.no_defects)
    print(result.summary().to_string(index=False))
    print(f"Wrote {len(result.summary())} synthetic files to {raw} (seed {args.seed}).")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from evalkit.data.ingest import ingest

    config = _config(args)
    today = dt.date.fromisoformat(args.today) if args.today else None
    result = ingest(config, today=today)
    print(result.summary().to_string(index=False))
    print(result.narrative())
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from evalkit.pipeline.runner import RunOptions, run

    options = RunOptions(localities=args.locality or None, streams=args.stream or None, jobs=args.jobs,
                         executor=args.executor, scheduler=args.scheduler, force=args.force,
                         fail_fast=args.fail_fast, dry_run=args.dry_run, skip_invalid=args.skip_invalid,
                         timeout=args.timeout, wait=args.wait)
    result = run(args.root, options, live=False if args.no_progress else None)
    if result.dry_run:
        for row in result.rows:
            what = "reuse" if row["status"] == "cached" else "run"
            print(f"{row['job']:<40} {what:<6} ({row['reason']})")
        to_run = sum(r["status"] == "planned" for r in result.rows)
        print(f"{len(result.rows)} job(s): {to_run} would run, {len(result.rows) - to_run} would be reused; "
              "then outputs/index.html and outputs/manifest.json.")
        return 0
    print(f"Index: {result.index}\nManifest: {result.manifest}")
    return EXIT_FAILED_JOBS if result.failed else 0


def cmd_publish(args: argparse.Namespace) -> int:
    from evalkit.pipeline.pdf import page_layout, publish_pdfs

    if not args.pdf:
        raise EvalkitError("nothing to publish: `evalkit run` writes the HTML packs; "
                           "pass --pdf to print them as PDF beside each pack.")
    written = publish_pdfs(args.root, localities=args.locality or None, streams=args.stream or None)
    for pdf in written:
        layout = page_layout(pdf.read_bytes())
        pages = f"{layout[0]} page(s), " if layout else ""
        print(f"{pdf} ({pages}{pdf.stat().st_size / 1e6:.1f} MB)")
    print(f"Printed {len(written)} pack(s) as PDF with headless Chromium (A4, offline).")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evalkit",
        description="Reproducible evaluation workbook for health and care safety-improvement programmes.",
    )
    parser.add_argument("--version", action="version", version=f"evalkit {__version__}")
    parser.add_argument("--root", default=None, help="project folder (default: $EVALKIT_ROOT or found from here)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress in detail")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check every parameter file without running anything")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("demo-data", help="write the synthetic demo extracts into data/raw/ (if absent)")
    p.add_argument("--seed", type=int, default=2015, help="random seed (default 2015); same seed, same bytes")
    p.add_argument("--force", action="store_true", help="write the files again even if they exist")
    p.add_argument("--no-defects", action="store_true", help="leave out the deliberately bad rows")
    p.set_defaults(func=cmd_demo_data)

    p = sub.add_parser("ingest", help="validate data/raw/ into data/processed/ (rejects to quarantine)")
    p.add_argument("--today", default=None, metavar="YYYY-MM-DD", help="date for the 'in the future' check")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("run", help="execute the notebooks and publish the evidence packs (only what changed)")
    p.add_argument("--locality", action="append", metavar="L", help="only this locality (repeatable)")
    p.add_argument("--stream", action="append", metavar="S", help="only this stream (repeatable)")
    p.add_argument("--jobs", type=int, default=None, metavar="N", help="jobs run at once (default: cores)")
    p.add_argument("--executor", choices=("local", "dask"), default="local",
                   help="local process pool (default) or Dask distributed")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="a running Dask scheduler (default with --executor dask: a local cluster)")
    p.add_argument("--force", action="store_true", help="rerun every job, even unchanged ones")
    p.add_argument("--fail-fast", action="store_true", help="start no new job after the first failure")
    p.add_argument("--dry-run", action="store_true", help="print the plan, what would rerun and why; run nothing")
    p.add_argument("--skip-invalid", action="store_true", help="build the valid jobs when some are invalid")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="stop a job that runs longer than this (its kernel is killed; the job fails)")
    p.add_argument("--wait", action="store_true", help="if another run holds outputs/, wait for it")
    p.add_argument("--no-progress", action="store_true", help="plain log lines even on a terminal")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("publish", help="print the built HTML packs as PDF beside them (--pdf; needs Chromium)")
    p.add_argument("--pdf", action="store_true",
                   help="write <pack>.pdf beside each built <pack>.html (stream, locality and system packs)")
    p.add_argument("--locality", action="append", metavar="L",
                   help="only this locality's packs and summary (repeatable)")
    p.add_argument("--stream", action="append", metavar="S", help="only this stream's packs (repeatable)")
    p.set_defaults(func=cmd_publish)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except EvalkitError as exc:
        print(f"evalkit {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"evalkit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
