"""Wall time of the whole book: chapters one after another vs side by side, and a rebuild.

In a scratch clone of this checkout (``git clone`` of HEAD, results and pages of its own),
this runs, in one process, one after another:

1. ``python -m overparam book --profile P --jobs 1`` from a clean cache;
2. the same with ``--jobs 2`` from a clean cache (pages, results and build removed);
3. the same command again with nothing changed (every chapter a cache hit, then the
   HTML build): the rebuild time (goal: <= 30 s).

Printed: the three wall times and the ratio jobs=1 / jobs=2 (the speed-up of running
chapters side by side); then, per chapter of the ``--jobs 2`` run, its wall and CPU
seconds (the kernel's, which another program's load does not inflate) beside the time
estimate printed before the run (:mod:`overparam.budget`), as the ratio CPU / estimate:
near 1 the estimate is right, far from 1 its reference time needs measuring again
(``budget.MEASURED``). ``--profile quick`` measures the book as a reader builds it
(several minutes per run); the default ``smoke`` measures the pipeline itself.

    python benchmarks/book_build.py [--profile smoke|quick] [--only-jobs-2]
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


def _book(root: Path, profile: str, jobs: int) -> tuple[float, str]:
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
    return seconds, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="smoke", choices=("smoke", "quick"))
    ap.add_argument("--only-jobs-2", action="store_true", help="skip the --jobs 1 run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="overparam-bench-") as tmp:
        root = Path(tmp) / "book"
        subprocess.run(["git", "clone", "-q", str(REPO), str(root)], check=True)
        _clean(root)
        one = None if args.only_jobs_2 else _book(root, args.profile, 1)[0]
        _clean(root)
        two, out = _book(root, args.profile, 2)
        rows = _estimates_vs_runs(root, out)
        again = _book(root, args.profile, 2)[0]
    print(f"profile {args.profile}, {os.cpu_count()} cores, clean cache each time:")
    if one is not None:
        print(f"  book --jobs 1             {one:7.1f} s")
    print(f"  book --jobs 2             {two:7.1f} s" + (f"   (jobs 1 / jobs 2 = {one / two:.2f}x)" if one else ""))
    print(f"  rebuild, nothing changed  {again:7.1f} s   (goal <= 30 s)")
    print("per chapter (--jobs 2): wall s, CPU s, estimate s, CPU / estimate")
    for name, wall, cpu, est in rows:
        ratio = f"{cpu / est:5.2f}" if est and cpu is not None else "    -"
        print(f"  {name:24s} {wall:7.1f} {cpu if cpu is not None else float('nan'):7.1f} "
              f"{est or float('nan'):7.1f}  {ratio}")


def _estimates_vs_runs(root: Path, out: str) -> list[tuple[str, float, float | None, float | None]]:
    """Per chapter: wall and CPU seconds of its run (its page's metadata) and the estimate
    the command printed before training (read back from the same metadata's profile)."""
    import json
    import re

    printed = {m.group(1): m.group(2) for m in re.finditer(r"^estimate: (\S+) ~ (.+?) at ", out, re.M)}
    rows = []
    for page in sorted((root / "book" / "chapters").glob("[0-9][0-9]_*.ipynb")):
        if page.name.endswith(".failed.ipynb"):
            continue
        meta = json.loads(page.read_text()).get("metadata", {}).get("overparam", {})
        rows.append((page.stem, float(meta.get("duration_s", 0.0)), meta.get("cpu_s"),
                     _seconds(printed.get(page.stem, ""))))
    return rows


def _seconds(text: str) -> float | None:
    """``1 min 17 s`` -> 77.0 (the inverse of :func:`overparam.budget.duration`)."""
    import re

    units = {"s": 1, "min": 60, "h": 3600, "days": 86400}
    parts = re.findall(r"([\d.]+) (days|min|h|s)\b", text)
    return sum(float(v) * units[u] for v, u in parts) if parts else None


if __name__ == "__main__":
    main()
