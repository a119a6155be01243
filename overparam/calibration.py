"""Calibration of the book's verdict rules: can each rule pass, fail, and how often is it wrong?

Every claim of a chapter is judged by a rule declared once, in the chapter's
:class:`~overparam.claims.RuleBook`, with its calibration :class:`~overparam.claims.Sim`:
three samplers of simulated measurements at a profile's number of replicates:

- ``null``: no effect, the rule's estimate centred on its threshold, with noise as large
  as the chapter's measured seed spread. The rule may say ``reproduced`` in at most 5 % of
  such draws (:data:`MAX_NULL_RATE`).
- ``effect``: an effect of the size the source claims (or a stated minimal effect). The
  share of ``reproduced`` is the rule's power at this number of replicates.
- ``against``: that effect reversed; the rule may call it ``reproduced`` in at most 5 %
  (:data:`MAX_AGAINST_RATE`), and ``not reproduced`` must be reachable.

:func:`calibrate_rule` runs the three for one rule at one profile; the book layer
(:mod:`overparam.book.rules`) collects every chapter's rules for the page "How the
verdicts are made" and the tests. Power planning: :func:`replicates_for_power`; measured
spreads: :func:`load_spread`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .claims import EXACT, INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, VERDICTS, Rule, RuleBook

#: A rule may call "no effect" "reproduced" in at most this share of draws.
MAX_NULL_RATE = 0.05
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
