"""Chapter 3's calibration samplers: simulated measurements of the shape each rule's judge
takes, with the seed spread measured by ``scripts/measure_spread.py`` (``spread.json``).

Introduced in: Chapter 3
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np

from ...calibration import load_spread, normal
from ...claims import Sim
from .experiments import emc_log2_grid

# --------------------------------------------------------------------------- calibration
# Noise: per rule, the spread of one replicate measured by scripts/measure_spread.py
# (spread.json beside this module: quick runs, 5 seeds inside each); a rule without a
# measured spread yet falls back to the stated value. Curve rules add noise per point: the
# pooled sd across seeds of the quick run's test error per width (0.016 at 0 %, 0.014 at
# 20 % noise: 0.015), per evaluation of the epoch curve (0.014) and per sample size (0.019).

_SPREAD = load_spread(__file__).get("sd", {})


def _sd(key: str, fallback: float) -> float:
    return float(_SPREAD.get(key, fallback))


SD_ERR = 0.015    # test error at one width, across seeds (quick run, pooled over widths)
SD_EPOCH = 0.014  # the widest model's test error at one evaluation, across seeds
SD_SAMPLE = 0.019 # test error at one sample size, across seeds
SD_LOG2 = 0.3     # log2 EMC per seed: stated (the interpolation between sample sizes is coarse)
PEAK = 0.03       # the stated minimal effect: a 3-point peak / rise / gap in test error
_FLAT_EFFECT = 0.1  # sharpness: a 0.1-nat larger loss rise at the peak (stated minimal effect)
PEAK_SEEN = 0.04  # the model-wise peak the cross-fitted peak rule detects at 80 % power at long


def _curves(base_fn, sd=SD_ERR):
    """Sampler of (curves (n, W), widths): ``base_fn(W)`` plus N(0, sd) per point."""
    def draw(rng, n, cfg):
        base = np.asarray(base_fn(len(cfg.widths)), dtype=float)
        return base + rng.normal(0, sd, (n, len(base))), np.array(cfg.widths)
    return draw


def _bump(h, at=None):
    """A width curve: falls to a classical minimum (index 2), a plateau at its level, a peak
    of height h at index ``at`` (default W - 3), back to the plateau's level."""
    def base(w):
        x = np.full(w, 0.40)
        x[:3] = [0.50, 0.45, 0.40]
        x[w - 3 if at is None else at(w)] += h
        return x
    return base


def _second(delta):
    """Classical minimum at index 2 (0.40), a peak at W - 3 (0.45), the widest at 0.40 - delta."""
    def base(w):
        x = np.interp(np.arange(w), [0, 1, 2, w - 3, w - 1], [0.50, 0.45, 0.40, 0.45, 0.43])
        x[-1] = 0.40 - delta
        return x
    return base


def _bump_curves(h):
    return _curves(_bump(h))


def _second_curves(delta):
    return _curves(_second(delta))


def _epochs(rise):
    def draw(rng, n, cfg):
        t = cfg.epochs // cfg.eval_every + 1
        x = np.concatenate([np.linspace(0.6, 0.35, 5), 0.35 + rise * np.linspace(0, 1, t - 5) ** 0.5])
        return x + rng.normal(0, SD_EPOCH, (n, t)), np.arange(t) * cfg.eval_every
    return draw


def _samples(step, flat=False):
    """Test error over the sample sizes: falls by 0.05 per size with one step of size
    ``step`` from the second size to the third; ``flat``: every step flat (no effect at all)."""
    def draw(rng, n, cfg):
        k = len(cfg.sample_ns)
        x = np.full(k, 0.45) if flat else 0.45 - 0.05 * np.arange(k)
        if not flat:
            x[2:] += 0.05 + step
        return x + rng.normal(0, SD_SAMPLE, (n, k)), np.array(cfg.sample_ns)
    return draw


@lru_cache(maxsize=None)
def _boundary(judge: Callable, family: Callable, n: int, cfg, lo: float, hi: float) -> float:
    """The effect size ``h`` in [lo, hi] at which the judge's estimate is centred on 0 for
    data drawn from ``family(h)`` (10 bisection steps on the mean of 200 draws, fixed stream:
    within 1/1000 of the bracket and ~0.07 sd of the estimate). A judge with a ``batch`` form
    (:mod:`.judges`) takes the 200 draws at once.

    A rule whose estimate leans down under "no effect" (a maximum or minimum of noisy
    points taken inside it) is calibrated at this boundary of its null hypothesis: the
    largest effect its estimate does not see, where it must say "reproduced" <= 5 %.
    """
    batch = getattr(judge, "batch", None)

    def centre(h):
        rng = np.random.default_rng(12345)
        if batch is None:
            return float(np.mean([judge(family(h)(rng, n, cfg)).estimate.mean for _ in range(200)]))
        # the families draw independent rows: 200 data sets of n rows are one draw of 200 n rows
        curves, x = family(h)(rng, 200 * n, cfg)
        return float(np.mean(batch((curves.reshape(200, n, -1), x))[0]))
    for _ in range(10):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if centre(mid) < 0 else (lo, mid)
    return (lo + hi) / 2


def _at_boundary(judge, family, lo, hi):
    """Null sampler: ``family`` at :func:`_boundary` for the profile's size."""
    return lambda rng, n, cfg: family(_boundary(judge, family, n, cfg, lo, hi))(rng, n, cfg)


def _pair(a, b):
    fa, fb = _curves(a), _curves(b)
    return lambda rng, n, cfg: ((fa(rng, n, cfg)[0], fb(rng, n, cfg)[0]), np.array(cfg.widths))


def _emc_peak_index(cfg) -> int:
    """Where the simulated peak sits on the width grid: a width between two EMC widths and
    not one of them, if the grid has one (so that the nearest-width mapping is exercised)."""
    w, ew = np.array(cfg.widths), np.array(cfg.emc_widths)
    inside = [i for i, x in enumerate(w) if ew.min() < x < ew.max() and x not in ew]
    return inside[len(inside) // 2] if inside else int(np.argmin(np.abs(np.log2(w) - np.log2(ew).mean())))


def _emc(offset):
    """The EMC rule's inputs through the chapter's path: width-sweep curves with a peak at
    :func:`_emc_peak_index`; per EMC seed a true log2 EMC per EMC width (``offset`` above
    log2 n at the width read for the peak, one octave of EMC per octave of width, seed sd
    SD_LOG2), turned into training errors at the profile's sample sizes (crossing
    ``interp_tol`` at that EMC and rising 0.12 per octave past it, the quick run's slope) and
    back into log2 EMC by :func:`emc_log2_grid`, censored by the grid of sample sizes."""
    def draw(rng, n, cfg):
        p = _emc_peak_index(cfg)
        curves = _curves(_bump(PEAK, at=lambda w: p))(rng, cfg.n_seeds, cfg)[0]
        lw, lwe = np.log2(np.array(cfg.widths, float)), np.log2(np.array(cfg.emc_widths, float))
        read = lwe[int(np.argmin(np.abs(lwe - lw[p])))]
        true = np.log2(cfg.n_train) + offset + (lwe - read) + rng.normal(0, SD_LOG2, (n, len(lwe)))
        lns = np.log2(np.array(cfg.emc_ns, float))
        err = np.clip(cfg.interp_tol + 0.12 * (lns[:, None, None] - true[None]), 0, 0.9)  # (N, n, E)
        rel = emc_log2_grid(err, cfg.emc_ns, cfg.interp_tol) - np.log2(cfg.n_train)
        return curves, lw, lwe, rel
    return draw


def _threshold(shift, sd):
    return lambda rng, n, cfg: (rng.normal(7.0, sd, n), rng.normal(7.0 + shift, sd, n), 12.0)


def _indep(ma, mb, sd, why=None):
    def draw(rng, n, cfg):
        a, b = rng.normal(ma, sd, n), rng.normal(mb, sd, n)
        return (a, b) if why is None else (a, b, why)
    return draw


def _paired(delta, sd, why=""):
    """(a, b, why) with a shared per-seed level and a - b ~ N(delta, sd)."""
    def draw(rng, n, cfg):
        b = rng.normal(0.45, 0.02, n)
        return b + rng.normal(delta, sd, n), b, why
    return draw


def _probe_curves(delta, sd):
    """((test-error curves with a {PEAK_SEEN} bump at W - 3, probe curves flat but ``delta``
    higher at the bump) each (n, W), widths): the probe at the peak minus at the widest is
    ``delta`` when the peak is picked right; N(0, sd) per point of the probe."""
    def draw(rng, n, cfg):
        w = len(cfg.widths)
        q = np.zeros(w)
        q[w - 3] = delta
        err = _bump(PEAK_SEEN)(w) + rng.normal(0, SD_ERR, (n, w))
        return (err, q + rng.normal(0, sd, (n, w))), np.array(cfg.widths)
    return draw


def _cells(p, size: Callable):
    """Errors of every training example of every seed, (n, size(cfg)), each with rate p."""
    return lambda rng, n, cfg: rng.random((n, size(cfg))) < p


def _normal3(null, eff, rev, sd, note, replicates=None) -> Sim:
    return Sim(normal(null, sd), normal(eff, sd), normal(rev, sd), note, replicates)
