"""Chapter 4's judges: the bands its claims use, and the per-seed read-outs of curves
(local power-law exponent of the total variance, linearity of dead-unit counts, the
conjecture's score) with the rules that judge them. Declared in :mod:`.verdicts`.

Introduced in: Chapter 4
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ... import claims as C
from ...claims import AllOf, Above, Below, Judgement, mean_of
from ...stats import Estimate, wilson_ci
from .experiments import quadratic_per_seed

LOG_BAND = 0.1       # "logarithmic": local power-law exponent (curvature / slope in log w) within +-0.1
LINEAR_BAND = 0.2    # "about linear": quadratic / linear coefficient over the upper widths within +-0.2
OCTAVE_BAND = 1.0    # "near", "changes nothing": |difference| < 1 octave
EXP_BAND = 0.5       # "looks exponential": |log2 gamma shape| < 0.5 (shape between 0.71 and 1.41)
POISSON_MIN = 1.0    # "Poisson-like": log2 gamma shape > 1 (shape > 2: a clear mode away from 0)
DEAD_FLOOR = 0.01    # "dead units grow": a pooled share of dead units whose 95 % upper end is below 1 % has none
DEAD_OVERSIZED = 0.5  # the journal: a layer is oversized "when there are more dead neurons than active neurons"


# --------------------------------------------------------------------------- judges


def judge_within(est: Estimate, tol: float) -> str:
    """Verdict for "the quantity is within ``tol`` of 0", strictly: reproduced when the
    interval lies inside (-tol, tol), not reproduced when it lies at or beyond one edge,
    inconclusive otherwise. Strict, so that seeds all on the band's edge of a discrete grid
    (a zero-width interval at exactly 1 octave) never count as inside."""
    if not C._usable(est):
        return C.INCONCLUSIVE
    if -tol < est.low and est.high < tol:
        return C.REPRODUCED
    if est.high <= -tol or est.low >= tol:
        return C.NOT_REPRODUCED
    return C.INCONCLUSIVE


def judge_outside(est: Estimate, tol: float) -> str:
    """Verdict for "the quantity is NOT within ``tol`` of 0" (mirror of :func:`judge_within`)."""
    v = judge_within(est, tol)
    return {C.REPRODUCED: C.NOT_REPRODUCED, C.NOT_REPRODUCED: C.REPRODUCED}.get(v, C.INCONCLUSIVE)


@dataclass(frozen=True)
class Within:
    """Claim "|quantity| < ``tol``" (strict band around 0): :func:`judge_within`."""

    tol: float
    estimate: Callable[[Any], Estimate] = mean_of

    @property
    def edges(self) -> tuple[float, ...]:
        return (-self.tol, self.tol)

    def __call__(self, m) -> Judgement:
        e = self.estimate(m)
        return Judgement(judge_within(e, self.tol), e)


@dataclass(frozen=True)
class Outside(Within):
    """Claim "|quantity| >= ``tol``": :func:`judge_outside`."""

    def __call__(self, m) -> Judgement:
        e = self.estimate(m)
        return Judgement(judge_outside(e, self.tol), e)


def _grows_then_shape(slope, shape, band: float) -> Judgement:
    """"Grows, with this shape": not reproduced when the slope's interval lies at or below 0
    (no growth), inconclusive when it straddles 0, else the verdict of |shape| < band.
    The estimate shown is the shape's once the growth is established, else the slope's."""
    grows = Above(0.0)(slope)
    if grows.verdict != C.REPRODUCED:
        return grows
    return Within(band)(shape)


def log_curvature(widths: Sequence[float], totals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per seed: the slope of total variance vs log w, and its local power-law exponent.

    Fits ``y = a + b u + c u^2`` in ``u`` = log w rescaled to [-1, 1]. A logarithm
    ``a + b log w`` has c = 0; a power law ``w^p`` has curvature / slope = p in log w at
    every width. Returns (slope b per seed, exponent ``2 c_s / mean(b) / half-range``).
    """
    L = np.log(np.asarray(widths, float))
    b, c = quadratic_per_seed(L, totals)
    bm = b.mean()
    kappa = 2 * c / bm / (np.ptp(L) / 2) if bm > 0 else np.full_like(c, np.nan)
    return b, kappa


def rule_log_growth(m) -> Judgement:
    """(widths, totals (S, W)); claim "total variance grows logarithmically": the slope in
    log w is > 0 (else not reproduced / inconclusive), then the local power-law exponent is
    within +-LOG_BAND of 0 (a power law w^p with p >= LOG_BAND is told apart; in between the
    interval says inconclusive)."""
    widths, totals = m
    b, kappa = log_curvature(widths, totals)
    return _grows_then_shape(b, kappa, LOG_BAND)


def linear_curvature(widths: Sequence[float], dead: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per seed: slope of dead units per added unit, and the quadratic / linear coefficient
    ``c_s / mean(b)`` of ``a + b u + c u^2`` (u = width rescaled to [-1, 1]); ~0 when linear,
    ~0.39 (q - 1) for ``w^q`` on one octave-spaced upper half."""
    w = np.asarray(widths, float)
    b, c = quadratic_per_seed(w, dead)
    bm = b.mean()
    rho = c / bm if bm > 0 else np.full_like(c, np.nan)
    return b * 2 / np.ptp(w), rho


def rule_dead_linear(m) -> Judgement:
    """(upper widths, dead counts (S, W')); claim "dead units grow about linearly".

    First the one-sided bound: when the Wilson 95 % interval of the pooled share of dead
    units over those layers ends below :data:`DEAD_FLOOR`, there are no dead units to
    grow: not reproduced, the share (never a zero-width interval) as the estimate. Else:
    slope > 0 (else not reproduced / inconclusive), then |quadratic / linear| < LINEAR_BAND."""
    widths, dead = m
    dead = np.asarray(dead, float)
    share = wilson_ci(int(dead.sum()), int(dead.shape[0] * np.sum(widths)))
    if share.high < DEAD_FLOOR:
        return Judgement(C.NOT_REPRODUCED, share,
                         why=f"no dead units to grow: at most {share.high:.2%} of the units are dead "
                             f"(Wilson 95 % upper end, below the {DEAD_FLOOR:.0%} floor)")
    slope, rho = linear_curvature(widths, dead)
    return _grows_then_shape(slope, rho, LINEAR_BAND)


def conjecture_scores(readings: np.ndarray) -> np.ndarray:
    """(S, K, 3) readings [M on d1, M on d2, P on d1] -> (S, K) scores: how far the metric
    moves from M's d1 reading toward the properly sized reading on d2, minus half the way
    (``sign(G) (m2 - m1) - |G| / 2``, G = P - M on d1, sign of the mean G). < 0: the metric
    stays nearer to "undersized" although M is exact on d2 (the conjecture)."""
    r = np.asarray(readings, float)
    m1, m2, mp = r[..., 0], r[..., 1], r[..., 2]
    g = mp - m1
    sign = np.sign(np.nanmean(g, axis=0, keepdims=True))
    sign[sign == 0] = 1
    return sign * (m2 - m1) - sign * g / 2


def _conjecture_score(readings) -> Estimate:
    """Mean score of metric 0 (log2 median unit variance: the journal's first size signal,
    the one metric whose reading moves clearly with width) over seeds."""
    return mean_of(conjecture_scores(readings)[:, 0])


#: (S, K, 3) readings; claim "the layer metric does not see that M became exact": score < 0.
rule_conjecture = Below(0.0, _conjecture_score)
#: (log2 gamma shape of the oversized layer, of the undersized layer) per seed; claim
#: "oversized looks exponential (|log2 k| < EXP_BAND) and undersized Poisson-like (log2 k > POISSON_MIN)".
rule_shapes = AllOf((Within(EXP_BAND), Above(POISSON_MIN)))


#: Share of seeds whose accuracy plateau must lie at least one octave below the widest width
#: for that width to count as oversized (the footing share of the chapter's arms).
OVERSIZED_SHARE = 0.8


def rule_dead_majority(m) -> Judgement:
    """``m = (dead counts (S,) at the widest width, that width, log2 plateau width (S,))``;
    claim "an oversized layer has more dead units than live ones": share > DEAD_OVERSIZED.

    Footing first: the widest width is oversized only when the accuracy plateau of at least
    :data:`OVERSIZED_SHARE` of the seeds lies >= 1 octave below it; otherwise inconclusive.
    The estimate: the per-seed dead share (t-interval); when every seed gives the same share
    (no dead unit anywhere), the pooled share over all units with its Wilson interval (a
    one-sided bound: 0 dead of n units bounds the share above, never a zero-width interval).
    """
    dead, width, plateau = m
    dead = np.asarray(dead, float)
    below = np.mean(np.asarray(plateau, float) <= np.log2(width) - 1)
    shares = dead / width
    if np.ptp(shares) > 0:
        e = mean_of(shares)
    else:   # Wilson, its ends clamped around the share (0 of n: a low end of 1e-17 is rounding)
        w = wilson_ci(int(dead.sum()), int(len(dead) * width))
        e = Estimate(w.mean, min(w.low, w.mean), max(w.high, w.mean), w.n)
    if below < OVERSIZED_SHARE:
        return Judgement(C.INCONCLUSIVE, e, why=f"width {int(width)} is not oversized: the accuracy plateau lies "
                         f">= 1 octave below it for {below:.0%} of the seeds (< {OVERSIZED_SHARE:.0%})")
    return Judgement(C.judge_above(e, DEAD_OVERSIZED), e)
