"""What the console says before a run: each chapter's estimated time on this machine.

The estimates themselves come from :mod:`overparam.budget` (through
:func:`.validate.validate_request`, which also refuses one over the cap); this module only
says, before anything trains, which chapters will run, how long each should take, and how
long the whole run should take with ``--jobs``. A chapter whose cached run is current is
said to be cached (it costs nothing).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..budget import Estimate, duration
from . import cache
from .paths import Paths, read_meta


def is_current(paths: Paths, chapter: str, profile: str, device: str, seed: int,
               params: Mapping[str, Any], package: str | None = None) -> bool:
    """Whether the chapter's last good run has the key this run would have (a cache hit)."""
    meta = read_meta(paths.chapters / f"{chapter}.ipynb")
    if not meta.get("ok"):
        return False
    if package is None:
        from . import registry
        package = cache.package_fingerprint(chapter=registry.chapter_module(chapter))
    key = cache.run_key(paths.notebooks / f"{chapter}.ipynb", profile, device, seed, params, package)
    return meta.get("key") == key


def estimate_lines(paths: Paths, chapters: Sequence[str], estimates: Mapping[str, Estimate | None],
                   profile: str, device: str, seed: int, params: Mapping[str, Any],
                   force: bool, jobs: int) -> list[str]:
    """``estimate: 03_double_descent ~ 1 min 20 s at quick on this machine (cpu)``, one per
    chapter, then the whole run's (the chapters' sum, spread over ``jobs``)."""
    lines, total, longest, unknown = [], 0.0, 0.0, []
    for name in chapters:
        if not force and is_current(paths, name, profile, device, seed, params):
            lines.append(f"estimate: {name} cached (up to date; --force to re-run)")
            continue
        est = estimates.get(name)
        if est is None:
            lines.append(f"estimate: {name} unknown (a time was measured for quick on a CPU only)")
            unknown.append(name)
            continue
        lines.append(f"estimate: {name} ~ {duration(est.seconds)} at {profile} on this machine "
                     f"({est.device})")
        total += est.seconds
        longest = max(longest, est.seconds)
    if len(chapters) > 1 and total:
        wall = max(total / max(1, min(jobs, len(chapters))), longest)
        more = f", not counting {len(unknown)} without an estimate" if unknown else ""
        lines.append(f"estimate: {len(chapters)} chapters ~ {duration(total)} of work, "
                     f"~ {duration(wall)} with --jobs {jobs}{more}")
    return lines


def eta_line(done: Mapping[str, Any], chapters: Sequence[str],
             estimates: Mapping[str, Estimate | None] | None, jobs: int) -> str:
    """``, eta ~ 2 min 10 s`` for the chapters not yet done ("" when nothing is known).

    ``done`` maps each finished chapter to its result (``status``, ``duration_s``). The
    estimates of the chapters left are scaled by how the finished ones went (their seconds
    over their estimates): on a machine busy with other work the eta stretches with it.
    """
    if not estimates:
        return ""
    left = [estimates.get(c) for c in chapters if c not in done]
    secs = [e.seconds for e in left if e is not None]
    if not secs:
        return ""
    ran = [(r.duration_s, estimates[c].seconds) for c, r in done.items()
           if getattr(r, "status", "") == "ok" and estimates.get(c) is not None]
    pace = sum(d for d, _ in ran) / sum(e for _, e in ran) if ran else 1.0
    wall = max(sum(secs) / max(1, min(jobs, len(left))), max(secs)) * pace
    return f", eta ~ {duration(wall)}"
