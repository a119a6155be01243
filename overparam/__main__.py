"""Command line of the book: ``python -m overparam {run,book,status}``.

    python -m overparam run [CHAPTER ...] --profile quick --device auto [--seed N] [--force]
                            [-p NAME VALUE ...]
    python -m overparam book [--profile P] [--device D] [--seed N] [--force]
    python -m overparam status

Bad input (unknown profile or chapter, a device that is not present, a bad ``-p`` value)
prints one line ``error: ...`` naming the parameter and the allowed values, exits with 2
and writes nothing. A failed chapter gives exit code 1.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from . import book, config


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m overparam",
                                description="Run the chapter notebooks and build the book.")
    p.add_argument("--root", help="project root (default: $OVERPARAM_ROOT or this checkout)")
    p.add_argument("--notebooks", help="chapter sources (default: <root>/notebooks)")
    sub = p.add_subparsers(dest="command", required=True, metavar="{run,book,status}")

    def run_options(sp: argparse.ArgumentParser) -> None:
        # Choices are checked by overparam.config, so every bad value gets the same message.
        sp.add_argument("--profile", default="quick", help=f"one of {', '.join(config.PROFILES)} (default quick)")
        sp.add_argument("--device", default="auto", help=f"one of {', '.join(config.DEVICES)} (default auto)")
        sp.add_argument("--seed", default="0", help="non-negative integer (default 0)")
        sp.add_argument("--force", action="store_true", help="re-run even if the cached run is up to date")

    r = sub.add_parser("run", help="execute chapters with papermill into book/chapters/")
    r.add_argument("chapters", nargs="*", metavar="CHAPTER",
                   help="01, exploration or 01_exploration (default: every chapter)")
    run_options(r)
    r.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="override a notebook parameter (VALUE is read as YAML: 3, 0.5, [1, 2])")
    b = sub.add_parser("book", help="run what is stale, then build the HTML book")
    run_options(b)
    sub.add_parser("status", help="write book/status.md and book/scorecard.md")
    return p


def _seed(text: str) -> int:
    value = book.parse_value(text)
    config.check_positive("seed", value, integer=True, allow_zero=True)
    return int(value)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 a chapter or the build failed, 2 bad input).

    Introduced in: Chapter 1 (the book pipeline)
    """
    args = _parser().parse_args(argv)
    paths = book.default_paths(args.root, args.notebooks)
    if args.command == "status":
        status, score = book.write_status(paths)
        print(status.read_text())
        print(f"wrote {status} and {score}")
        return 0

    try:  # validate everything before anything runs or is written
        seed = _seed(args.seed)
        available = book.available_chapters(paths)
        chapters = book.resolve_chapters(getattr(args, "chapters", []), available)
        params = {}
        for name, value in getattr(args, "parameter", []):
            params[name] = book.parse_value(value)
        book.validate_request(paths, chapters, args.profile, args.device, seed, params)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    if not chapters:
        print(f"no chapter notebooks in {paths.notebooks}")
    results = book.run_chapters(paths, chapters, args.profile, args.device, seed, params, args.force)
    code = 1 if any(r.status == "failed" for r in results) else 0
    if args.command == "book":
        book.ensure_pages(paths)
        book.write_status(paths)
        if book.build_html(paths) != 0:
            code = 1
        print(f"book: {paths.html_index}")
    else:
        book.write_status(paths)
    report = book.failure_report(results)
    if report:
        print(report, file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
