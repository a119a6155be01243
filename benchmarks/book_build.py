"""Wall time of the whole book: chapters one after another vs side by side, and a rebuild.

In a scratch clone of this checkout (``git clone`` of HEAD, results and pages of its own),
this runs, in one process, one after another:

1. ``python -m overparam book --profile P --jobs 1`` from a clean cache;
2. the same with ``--jobs 2`` from a clean cache (pages, results and build removed);
3. the same command again with nothing changed (every chapter a cache hit, then the
   HTML build): the rebuild time (goal: <= 30 s).

Printed: the three wall times and the ratio jobs=1 / jobs=2 (the speed-up of running
chapters side by side). ``--profile quick`` measures the book as a reader builds it
(several minutes per run); the default ``smoke`` measures the pipeline itself.

    python benchmarks/book_build.py [--profile smoke|quick]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _clean(root: Path) -> None:
    for sub in ("book/chapters", "book/_build", "results"):
        shutil.rmtree(root / sub, ignore_errors=True)


def _book(root: Path, profile: str, jobs: int) -> float:
    env = dict(os.environ, OVERPARAM_ROOT=str(root), OVERPARAM_RESULTS=str(root / "results"),
               PYTHONPATH=str(root))
    env.pop("OMP_NUM_THREADS", None)  # the runner gives each chapter one thread
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "overparam", "--root", str(root), "book",
                           "--profile", profile, "--device", "cpu", "--jobs", str(jobs)],
                          env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"book --jobs {jobs} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="smoke", choices=("smoke", "quick"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="overparam-bench-") as tmp:
        root = Path(tmp) / "book"
        subprocess.run(["git", "clone", "-q", str(REPO), str(root)], check=True)
        _clean(root)
        one = _book(root, args.profile, 1)
        _clean(root)
        two = _book(root, args.profile, 2)
        again = _book(root, args.profile, 2)
    print(f"profile {args.profile}, {os.cpu_count()} cores, clean cache each time:")
    print(f"  book --jobs 1             {one:7.1f} s")
    print(f"  book --jobs 2             {two:7.1f} s   (jobs 1 / jobs 2 = {one / two:.2f}x)")
    print(f"  rebuild, nothing changed  {again:7.1f} s   (goal <= 30 s)")


if __name__ == "__main__":
    main()
