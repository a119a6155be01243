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
import json
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .claims import EXACT, INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, VERDICTS, Rule, RuleBook

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



# =========================================================================== the rule form
# Calibration of a chapter's declared rules (overparam.claims.Rule / RuleBook) at a
# profile's size. The book layer (overparam.book.rules) collects every chapter's RuleBook;
# this module never imports a chapter.

#: A rule may call the *reversed* effect "reproduced" in at most this share of draws.
MAX_AGAINST_RATE = 0.05
#: The null's estimates must be centred on the rule's threshold within this many of their sd.
MAX_NULL_OFFSET = 0.25
#: Power a rule needs at the profile that publishes it (long, full).
TARGET_POWER = 0.80


@dataclass(frozen=True)
class RuleCalibration:
    """What :func:`calibrate_rule` measured for one rule at one profile."""

    chapter: str
    key: str
    claim: str
    profile: str
    n: int                  # replicates the simulation used (the profile's)
    null_rate: float        # share of null draws judged "reproduced"
    power: float            # share of effect draws judged "reproduced"
    against_rate: float     # share of reversed-effect draws judged "reproduced"
    null_offset: float      # |mean null estimate - nearest edge| / sd of the null estimates
    reached: dict = field(default_factory=dict)
    note: str = ""

    @property
    def unreachable(self) -> list[str]:
        return [v for v in (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE) if self.reached.get(v, 0) == 0]


def replicates_of(rule: Rule, book: RuleBook, cfg) -> int:
    """Replicates behind ``rule`` at the profile ``cfg``."""
    return int((rule.sim.replicates or book.replicates)(cfg))


def calibrate_rule(rule: Rule, book: RuleBook, cfg, chapter: str = "", profile: str = "",
                   draws: int = 1000, seed: int = 0) -> RuleCalibration:
    """Run ``rule``'s judge on ``draws`` simulated data sets of each kind at ``cfg``'s size."""
    if rule.exact:
        raise ValueError(f"rule {rule.key!r} is exact: nothing to calibrate")
    rng = np.random.default_rng(seed)
    counts: dict[str, int] = {}
    n = replicates_of(rule, book, cfg)

    def run(sampler, keep=None) -> float:
        hits = 0
        for _ in range(draws):
            j = rule.judge(sampler(rng, n, cfg))
            if j.verdict not in VERDICTS or j.verdict == EXACT:
                raise ValueError(f"{rule.key!r}: the rule returned {j.verdict!r}")
            counts[j.verdict] = counts.get(j.verdict, 0) + 1
            hits += j.verdict == REPRODUCED
            if keep is not None:
                keep.append(j.estimate.mean)
        return hits / draws

    null_means: list[float] = []
    null_rate = run(rule.sim.null, null_means)
    power = run(rule.sim.effect)
    against = run(rule.sim.against)
    reached = {v: counts.get(v, 0) / (3 * draws) for v in VERDICTS if v != EXACT}
    x = np.asarray(null_means, float)
    x = x[np.isfinite(x)]
    edges = getattr(rule.judge, "edges", ())
    if len(x) < 2 or not edges:
        offset = float("inf")
    else:
        sd = float(x.std()) or 1e-12
        offset = min(abs(float(x.mean()) - e) for e in edges) / sd
    return RuleCalibration(chapter, rule.key, rule.claim, profile, n, null_rate, power, against, offset, reached, rule.sim.note)


def calibrate_book(book: RuleBook, profiles: dict, chapter: str = "", names=None,
                   draws: int = 1000, seed: int = 0) -> list[RuleCalibration]:
    """Every calibrated rule of ``book`` at each profile in ``names`` (default: all)."""
    names = list(profiles) if names is None else [n for n in names if n in profiles]
    return [calibrate_rule(r, book, profiles[p], chapter, p, draws, seed)
            for p in names for r in book.calibrated]


def power_at(rule: Rule, book: RuleBook, cfg, draws: int = 400, seed: int = 0) -> float:
    """Share of the rule's effect draws judged "reproduced" at ``cfg``'s size."""
    rng = np.random.default_rng(seed)
    n = replicates_of(rule, book, cfg)
    return float(np.mean([rule.judge(rule.sim.effect(rng, n, cfg)).verdict == REPRODUCED
                          for _ in range(draws)]))


def replicates_for_power(rule: Rule, book: RuleBook, with_n, ns=range(2, 65),
                         target: float = TARGET_POWER, draws: int = 400) -> int | None:
    """Smallest ``n`` in ``ns`` whose power (at ``with_n(n)``, a profile config with ``n``
    replicates) reaches ``target``; None when none does."""
    for n in ns:
        if power_at(rule, book, with_n(n), draws) >= target:
            return int(n)
    return None


def normal(mean: float, sd: float) -> Callable:
    """Sampler of one value per replicate ~ N(mean, sd)."""
    return lambda rng, n, cfg: rng.normal(mean, sd, n)


def normal_pair(delta: float, sd: float, base: float = 0.9, base_sd: float = 0.02) -> Callable:
    """Sampler of two paired arms ``(a, b)`` whose per-replicate difference is N(delta, sd)."""
    def draw(rng, n, cfg):
        b = rng.normal(base, base_sd, n)
        return b + rng.normal(delta, sd, n), b
    return draw


def independent_pair(mean_a: float, mean_b: float, sd: float) -> Callable:
    """Sampler of two independent arms, ``n`` values each ~ N(mean_*, sd)."""
    return lambda rng, n, cfg: (rng.normal(mean_a, sd, n), rng.normal(mean_b, sd, n))


def load_spread(module_file: str | Path) -> dict:
    """The measured seed spread of a chapter's rules: ``spread.json`` beside ``module_file``.

    Written by ``scripts/measure_spread.py`` from quick runs over several seeds: ``sd`` is
    the pooled spread of one replicate per rule key; the file records the command, the seeds
    and the per-seed values. An empty dict when the chapter has no such file yet.
    """
    f = Path(module_file).with_name("spread.json")
    return json.loads(f.read_text()) if f.exists() else {}
