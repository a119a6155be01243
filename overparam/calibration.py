"""Calibration of the book's verdict rules: can each rule pass, fail, and how often is it wrong?

Every claim of a chapter is judged by a *rule*: a pure function from per-seed
measurements to a verdict. A chapter declares, next to its claims, one :class:`Check`
per rule: the rule itself (the same function its ``claims()`` uses) and three samplers
of simulated measurements at the profile's number of seeds:

- ``null``: no effect, the quantity sits exactly at the rule's threshold, with noise as
  large as the chapter's own seed spread. The rule may say ``reproduced`` in at most
  5 % of such draws (:data:`MAX_NULL_RATE`).
- ``effect``: an effect of the size the source claims. The share of ``reproduced`` is
  the rule's power at this number of seeds.
- ``against``: an effect of that size in the opposite direction, so that ``not
  reproduced`` is reachable too.

:func:`calibrate` runs the three and :func:`calibration_table` does it for every check
of every chapter (``CHECKS`` of each module in :mod:`overparam.chapters`); the test suite
asserts the null rate and that every verdict is reachable, and the book shows the table
on its page "How the verdicts are made".

Helpers build the usual samplers: :func:`normal_seeds` (one value per seed) and
:func:`normal_pairs` (two arms, e.g. ticket vs random re-init).
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .claims import EXACT, INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, VERDICTS

MAX_NULL_RATE = 0.05
Sampler = Callable[[np.random.Generator], Any]


@dataclass(frozen=True)
class Check:
    """One calibrated rule of a chapter.

    Parameters
    ----------
    claim : str
        The claim's text, as in the chapter's table.
    judge : callable
        ``judge(measurements) -> verdict``: the chapter's rule (a pure function).
    null, effect, against : callables ``sampler(rng) -> measurements``
        Simulated measurements with no effect, the source's effect, the opposite effect.
    n_seeds : int
        Seeds the simulation uses (the profile's number of seeds).
    note : str
        Where the noise and effect sizes come from (e.g. "sd = quick run's seed spread").
    """

    claim: str
    judge: Callable[[Any], str]
    null: Sampler
    effect: Sampler
    against: Sampler | None
    n_seeds: int
    note: str = ""


@dataclass(frozen=True)
class Calibration:
    """What :func:`calibrate` measured for one check."""

    chapter: str
    claim: str
    n_seeds: int
    null_rate: float        # share of null draws judged "reproduced"
    power: float            # share of effect draws judged "reproduced"
    reached: dict = field(default_factory=dict)   # verdict -> share over all draws
    note: str = ""

    @property
    def unreachable(self) -> list[str]:
        """Verdicts among reproduced / not reproduced / inconclusive that never occurred."""
        return [v for v in (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE) if self.reached.get(v, 0) == 0]


def calibrate(check: Check, chapter: str = "", draws: int = 1000, seed: int = 0) -> Calibration:
    """Run ``check``'s rule on ``draws`` simulated data sets of each kind."""
    rng = np.random.default_rng(seed)
    counts: dict[str, int] = {}

    def run(sampler) -> float:
        hits = 0
        for _ in range(draws):
            v = check.judge(sampler(rng))
            if v not in VERDICTS or v == EXACT:
                raise ValueError(f"{check.claim!r}: the rule returned {v!r}")
            counts[v] = counts.get(v, 0) + 1
            hits += v == REPRODUCED
        return hits / draws

    null_rate = run(check.null)
    power = run(check.effect)
    total = 2 * draws
    if check.against is not None:
        run(check.against)
        total += draws
    reached = {v: counts.get(v, 0) / total for v in VERDICTS if v != EXACT}
    return Calibration(chapter, check.claim, check.n_seeds, null_rate, power, reached, check.note)


def normal_seeds(mean: float, sd: float, n: int) -> Sampler:
    """Sampler of ``n`` per-seed values ~ N(mean, sd)."""
    return lambda rng: rng.normal(mean, sd, n)


def normal_pairs(mean_a: float, mean_b: float, sd: float, n: int) -> Sampler:
    """Sampler of two arms ``(a, b)``, ``n`` values each ~ N(mean_*, sd)."""
    return lambda rng: (rng.normal(mean_a, sd, n), rng.normal(mean_b, sd, n))


def chapter_checks() -> dict[str, list[Check]]:
    """``CHECKS`` of every chapter module in :mod:`overparam.chapters`, by module name."""
    from . import chapters
    found = {}
    for info in pkgutil.iter_modules(chapters.__path__):
        mod = importlib.import_module(f"{chapters.__name__}.{info.name}")
        checks = getattr(mod, "CHECKS", None)
        if checks:
            found[info.name] = list(checks)
    return found


def calibration_table(draws: int = 1000, seed: int = 0) -> list[Calibration]:
    """Calibrate every check of every chapter."""
    return [calibrate(c, chapter, draws, seed) for chapter, checks in chapter_checks().items()
            for c in checks]


def calibration_markdown(rows: list[Calibration] | None = None, draws: int = 1000) -> str:
    """The page "How the verdicts are made": one row per calibrated rule."""
    rows = calibration_table(draws) if rows is None else rows
    lines = [
        "# How the verdicts are made", "",
        "Each claim's rule is a function from per-seed measurements to a verdict. Below, each "
        f"rule is run on {draws} simulated data sets of three kinds, at the profile's number "
        "of seeds: with **no effect** (the quantity exactly at the rule's threshold; the rule "
        f"may say *reproduced* in at most {MAX_NULL_RATE:.0%} of them), with an effect of the "
        "**size the source claims** (the share of *reproduced* is the rule's power), and with "
        "that effect **reversed** (so that *not reproduced* is reachable). Noise is as large "
        "as the chapter's own spread over seeds.", "",
        "| chapter | claim | seeds | false 'reproduced' under no effect | power at the claimed effect | verdicts reached | noise and effect |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        reached = ", ".join(f"{v} {p:.0%}" for v, p in r.reached.items() if p > 0)
        claim = r.claim.replace("|", "\\|")
        lines.append(f"| {r.chapter} | {claim} | {r.n_seeds} | {r.null_rate:.1%} | {r.power:.0%} | "
                     f"{reached} | {r.note.replace('|', '/')} |")
    return "\n".join(lines) + "\n"
