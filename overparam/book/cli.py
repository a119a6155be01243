"""Command line of the book: ``python -m overparam {run,book,status,toc}``.

    python -m overparam run [CHAPTER ...] [--profile quick] [--device auto] [--seed N]
                            [--force] [--jobs N] [--backend local|ray [--address A]]
                            [--yes] [--max-hours H] [-p NAME VALUE ...]
    python -m overparam book [--profile P] [--device D] [--seed N] [--force] [--jobs N]
                             [--backend local|ray [--address A]] [--yes] [--max-hours H]
    python -m overparam book --edition published
    python -m overparam publish [CHAPTER ...] [--dest DIR] [--from DIR]
    python -m overparam status
    python -m overparam toc [--check]

``book --edition published`` builds the published edition (``book/published/``, the
``full`` run kept from a GPU machine) without executing anything; ``publish`` copies the
good runs of ``book/chapters/`` into it (or merges a published folder sent back by a GPU
machine, ``--from``). See :mod:`.edition`.

Before training, each chapter to run prints its estimated time on this machine
(:mod:`overparam.budget`); a chapter estimated over the cap (12 h; ``--max-hours``) is
refused like bad input unless ``--yes``.

Bad input (unknown profile or chapter, a device that is not present, a bad ``-p`` value,
a size the machine cannot hold) prints one line ``error: ...`` naming the parameter and
the allowed values, exits with 2 and writes nothing. A failed chapter gives exit code 1;
Ctrl-C gives one line and exit code 130.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import Sequence

from .. import budget, config
from . import build, estimate, pages, registry, runner, validate
from .paths import default_paths, write_atomic

BACKENDS = ("local", "ray")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m overparam",
                                description="Run the chapter notebooks and build the book.")
    p.add_argument("--root", help="project root (default: $OVERPARAM_ROOT or this checkout)")
    p.add_argument("--notebooks", help="chapter sources (default: <root>/notebooks)")
    sub = p.add_subparsers(dest="command", required=True, metavar="{run,book,publish,status,toc}")

    def run_options(sp: argparse.ArgumentParser) -> None:
        # Values are checked by validate.validate_request (through overparam.config), so
        # every bad value gets the same one-line message.
        sp.add_argument("--profile", default="quick", help=f"one of {', '.join(config.PROFILES)} (default quick)")
        sp.add_argument("--device", default="auto", help=f"one of {', '.join(config.DEVICES)} (default auto)")
        sp.add_argument("--seed", default="0", help="integer in 0 .. 2**63 - 1 (default 0)")
        sp.add_argument("--force", action="store_true", help="re-run even if the cached run is up to date")
        sp.add_argument("--jobs", "-j", default=None,
                        help="chapters run side by side (default: one per CPU core; up to 4 on a GPU)")
        sp.add_argument("--backend", default="local",
                        help="local (processes on this machine) or ray (one Ray task per chapter)")
        sp.add_argument("--yes", action="store_true",
                        help="run even when a chapter's time estimate is over the cap")
        sp.add_argument("--max-hours", default=None,
                        help=f"the cap on one chapter's estimated time, in hours (default "
                             f"{budget.DEFAULT_MAX_HOURS:g}; ${budget.MAX_HOURS_ENV})")
        sp.add_argument("--address", default=None,
                        help="Ray cluster to join with --backend ray ('auto', host:port; default: "
                             "$RAY_ADDRESS or a local Ray)")

    r = sub.add_parser("run", help="execute chapters with papermill into book/chapters/")
    r.add_argument("chapters", nargs="*", metavar="CHAPTER",
                   help="07, lottery_tickets or 07_lottery_tickets (default: every chapter)")
    run_options(r)
    r.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="override a notebook parameter (VALUE is read as YAML: 3, 0.5, [1, 2]; "
                        "'' or null: as if not given)")
    b = sub.add_parser("book", help="run what is stale, then build the HTML book")
    run_options(b)
    b.add_argument("--edition", default="local",
                   help="local (run what is stale, build book/chapters; default) or published "
                        "(build book/published/ as it is, running nothing)")
    pub = sub.add_parser("publish", help="copy good runs of book/chapters/ into book/published/")
    pub.add_argument("chapters", nargs="*", metavar="CHAPTER",
                     help="07, lottery_tickets or 07_lottery_tickets (default: every chapter)")
    pub.add_argument("--dest", default=None, help="published folder (default: <root>/book/published)")
    pub.add_argument("--from", dest="source", default=None,
                     help="merge this published folder (e.g. one sent back by a GPU machine) "
                          "instead of book/chapters/")
    sub.add_parser("status", help="write book/status.md and book/scorecard.md")
    t = sub.add_parser("toc", help="write _toc.yml from the chapter registry")
    t.add_argument("--check", action="store_true", help="only say whether _toc.yml is up to date")
    return p


def _jobs(text: str | None, device: str, n: int) -> int:
    if text is None:
        return runner.default_jobs(device, n)
    value = validate.parse_value(text)
    config.check_positive("jobs", value, integer=True)
    return int(value)


def _in_background(fn, *args) -> threading.Thread:
    """Run ``fn(*args)`` in a daemon thread (this process only waits while workers train)."""
    thread = threading.Thread(target=fn, args=args, daemon=True)
    thread.start()
    return thread


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 a chapter or the build failed, 2 bad input)."""
    args = _parser().parse_args(argv)
    saved = {k: os.environ.get(k) for k in (budget.CONFIRM_ENV, budget.MAX_HOURS_ENV)}
    try:
        return _main(args)
    except KeyboardInterrupt:
        print("interrupted: the last good pages are kept; run the command again to resume",
              file=sys.stderr)
        return 130
    finally:  # --yes and --max-hours hold for this command only
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _main(args: argparse.Namespace) -> int:
    paths = default_paths(args.root, args.notebooks)
    if args.command == "status":
        status, score = pages.write_status(paths)
        pages.synthesis_page(paths)
        print(status.read_text())
        print(f"wrote {status} and {score}")
        return 0
    if args.command == "toc":
        text = registry.toc_yaml()
        current = paths.toc.read_text() if paths.toc.exists() else ""
        if args.check:
            print("_toc.yml is up to date" if current == text else
                  "_toc.yml differs from the registry: run `python -m overparam toc`")
            return 0 if current == text else 1
        if current != text:
            write_atomic(paths.toc, text)
        print(f"wrote {paths.toc}")
        return 0

    if args.command == "publish":
        try:
            names = [c.name for c in registry.resolve(args.chapters, registry.chapters())] \
                if args.chapters else None
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        from . import edition

        record = edition.publish(paths, args.dest, names, args.source)
        done = sorted(n for n, e in record["chapters"].items() if e.get("status") == "ok")
        print(f"published edition: {len(done)} chapter(s) current in "
              f"{args.dest or paths.published}")
        return 0
    if args.command == "book" and args.edition != "local":
        try:
            config.check_choice("edition", args.edition, build.EDITIONS)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        code, index = build.build(paths, "published")
        print(f"book: {index}")
        return 1 if code else 0

    # the kernels read these too (papermill passes the environment on): one check, two paths
    if args.yes:
        os.environ[budget.CONFIRM_ENV] = "1"
    if args.max_hours is not None:
        os.environ[budget.MAX_HOURS_ENV] = str(args.max_hours)
    try:  # validate everything before anything runs or is written
        budget.max_hours()
        seed = validate.check_seed(args.seed)
        config.resolve_device(args.device)
        avail = registry.available(paths.notebooks)
        chosen = registry.resolve(getattr(args, "chapters", []), avail)
        params = validate.clean_params(getattr(args, "parameter", []))
        estimates = validate.validate_request(chosen, paths.notebooks, args.profile, args.device,
                                              seed, params,
                                              names=[n for n, _ in getattr(args, "parameter", [])])
        jobs = _jobs(args.jobs, args.device, len(chosen))
        config.check_choice("backend", args.backend, BACKENDS)
        if args.address is not None and args.backend != "ray":
            raise ValueError("--address needs --backend ray")
        if args.backend == "ray":
            from .ray_backend import require_ray
            try:
                require_ray()
            except ImportError as err:
                raise ValueError(str(err)) from None
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    if not chosen:
        print(f"no chapter notebooks in {paths.notebooks}")
    names = [c.name for c in chosen]
    for line in estimate.estimate_lines(paths, names, estimates, args.profile, args.device, seed,
                                        params, args.force, jobs):
        print(line, flush=True)
    if args.backend == "ray":
        from . import ray_backend

        results = ray_backend.run_chapters(paths, names, args.profile, args.device, seed, params,
                                           args.force, address=args.address)
    else:
        # the book's calibration page needs no chapter: compute it while they run
        early = _in_background(pages.calibration_page, paths) if args.command == "book" else None
        results = runner.run_chapters(paths, names, args.profile, args.device, seed, params,
                                      args.force, jobs=jobs, estimates=estimates)
        if early is not None:
            early.join()
    code = 1 if any(r.status == "failed" for r in results) else 0
    if any(r.status == "interrupted" for r in results):
        raise KeyboardInterrupt
    if args.command == "book":
        built, index = build.build(paths, "local")
        code = code or (1 if built else 0)
        print(f"book: {index}")
    else:
        pages.write_status(paths)
    report = runner.failure_report(results)
    if report:
        print(report, file=sys.stderr)
    return code
