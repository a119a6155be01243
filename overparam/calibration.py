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
from typing import Callable, Sequence

import numpy as np

from .claims import (EXACT, INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, VERDICTS, Above, AllOf, Below, Near, Rule,
                     RuleBook, judge_all)
from .stats import estimates_of

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


def judge_many(judge, ms: Sequence) -> tuple[list[str], np.ndarray]:
    """The verdicts and estimate means of ``judge`` on every measurement of ``ms``.

    The same as ``[judge(m) for m in ms]``, computed at once where that is possible:

    - a judge that offers ``judge.many(ms) -> (verdicts, means)`` (a chapter's judge whose
      cost lies in per-measurement picks, e.g. a jackknife; :class:`~overparam.claims.Custom`
      carries one as ``many=``) is asked for all of them;
    - :class:`~overparam.claims.Above`, :class:`~overparam.claims.Below` and
      :class:`~overparam.claims.Near` on the estimators of :mod:`overparam.stats` judge the
      arrays of :func:`overparam.stats.estimates_of`; :class:`~overparam.claims.AllOf` by parts;
    - any other judge is called once per measurement.

    ``tests/test_rules.py`` checks, for every chapter's rule, that this path gives the verdicts
    and estimates of one call per measurement.
    """
    many = getattr(judge, "many", None)
    if callable(many):
        verdicts, means = many(ms)
        return list(verdicts), np.asarray(means, dtype=float)
    found = _builtin_many(judge, ms)
    if found is not None:
        return found
    js = [judge(m) for m in ms]
    return [j.verdict for j in js], np.array([j.estimate.mean for j in js], dtype=float)


def _builtin_many(judge, ms):
    """:func:`judge_many` for the rule form's own judges; None where it does not apply."""
    kind = type(judge)
    if kind is AllOf:
        if any(len(m) != len(judge.parts) for m in ms):
            return None
        parts = [judge_many(p, [m[i] for m in ms]) for i, p in enumerate(judge.parts)]
        verdicts = [judge_all(vs) for vs in zip(*(v for v, _ in parts))]
        return verdicts, parts[judge.shown][1]
    if kind not in (Above, Below, Near):
        return None
    est = estimates_of(judge.estimate, ms)
    if est is None:
        return None
    mean, low, high, n = est
    usable = (n >= 2) & np.isfinite(mean) & np.isfinite(low) & np.isfinite(high)
    if kind is Near:
        lo, hi = judge.target - judge.tol, judge.target + judge.tol
        yes, no = (lo <= low) & (high <= hi), (high < lo) | (low > hi)
    elif kind is Above:
        yes, no = low > judge.threshold, high <= judge.threshold
    else:   # judge_below: the interval flipped, judged above the flipped threshold
        yes, no = -high > -judge.threshold, -low <= -judge.threshold
    verdicts = np.where(~usable, INCONCLUSIVE, np.where(yes, REPRODUCED, np.where(no, NOT_REPRODUCED, INCONCLUSIVE)))
    return verdicts.tolist(), np.asarray(mean, dtype=float)


def calibrate_rule(rule: Rule, book: RuleBook, cfg, chapter: str = "", profile: str = "",
                   draws: int = 1000, seed: int = 0) -> RuleCalibration:
    """Run ``rule``'s judge on ``draws`` simulated data sets of each kind at ``cfg``'s size.

    The data sets of a kind are drawn first, in order from one generator (judges are pure
    functions, so this is the sequence of drawing and judging one at a time), then judged
    together by :func:`judge_many`.
    """
    if rule.exact:
        raise ValueError(f"rule {rule.key!r} is exact: nothing to calibrate")
    rng = np.random.default_rng(seed)
    counts: dict[str, int] = {}
    n = replicates_of(rule, book, cfg)

    def run(sampler) -> tuple[float, np.ndarray]:
        verdicts, means = judge_many(rule.judge, [sampler(rng, n, cfg) for _ in range(draws)])
        for v in verdicts:
            if v not in VERDICTS or v == EXACT:
                raise ValueError(f"{rule.key!r}: the rule returned {v!r}")
            counts[v] = counts.get(v, 0) + 1
        return sum(v == REPRODUCED for v in verdicts) / draws, means

    null_rate, x = run(rule.sim.null)
    power = run(rule.sim.effect)[0]
    against = run(rule.sim.against)[0]
    reached = {v: counts.get(v, 0) / (3 * draws) for v in VERDICTS if v != EXACT}
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
    verdicts = judge_many(rule.judge, [rule.sim.effect(rng, n, cfg) for _ in range(draws)])[0]
    return float(np.mean([v == REPRODUCED for v in verdicts]))


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
