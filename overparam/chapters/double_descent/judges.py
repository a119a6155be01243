"""Chapter 3's judges: per-seed measurements -> :class:`~overparam.claims.Judgement`.

Rules that pick a point from the data (a peak, a classical minimum, an early minimum of
the epoch curve, the worst step of the sample-wise curve) pick it by cross-fitting: for
each seed, the point is chosen on the mean curve of the *other* seeds and measured on
that seed alone (:func:`crossfit`). Choosing and measuring on the same seeds would make
a rise positive by construction. Cross-fitted values share their picks, so their
interval comes from a delete-one-seed jackknife of the whole procedure
(:func:`crossfit_estimate`), and each judgement names the points picked.

The cross-fitted judges run on a vectorized core (:func:`crossfit_batch`,
:func:`jackknife_batch`: no Python loop per seed or left-out seed), and each has a batch
form, ``judge.batch(m)``: the judge's measurement with a leading axis of B data sets on its
arrays -> (mean, low, high) arrays (B,), the same numbers as judging each data set alone
(tested); the calibration's boundary search uses it.

Introduced in: Chapter 3
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import stats as _st

from ...claims import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Judgement, judge_above, judge_near, mean_of, paired
from ...stats import Estimate
from .experiments import peak_index, peak_indices

RF_TOL = 0.5         # log2 of N/n at the peak within ±0.5 (a factor 1.4) of the threshold
RIDGE_MAX = 0.5      # ridge's highest test MSE below half the min-norm peak
PEAK_STEPS = 1.5     # the MLP peak within 1.5 grid steps of the interpolation width
EMC_TOL = 0.5        # log2(EMC / n) at the peak within ±0.5: EMC within a factor 1.4 of n
EMC_REACH = 0.5      # the EMC width read must lie within half an octave of the peak width


# --------------------------------------------------------------------------- cross-fitting


def crossfit_picks(curves, choose, measure) -> tuple[np.ndarray, list]:
    """:func:`crossfit`, also returning the point chosen for each held-out seed."""
    c = np.asarray(curves, dtype=float)
    if len(c) < 2:
        return np.full(len(c), np.nan), []
    picks = [choose(np.delete(c, s, axis=0).mean(0)) for s in range(len(c))]
    return np.array([measure(c[s], p) for s, p in enumerate(picks)]), picks


def crossfit(curves: np.ndarray, choose: Callable[[np.ndarray], object],
             measure: Callable[[np.ndarray, object], float]) -> np.ndarray:
    """Choose on the other seeds, measure on the held-out one: one value per seed.

    Parameters
    ----------
    curves : ndarray (S, ...) – one curve per seed (S >= 2)
    choose : mean curve of the other seeds -> the chosen point
    measure : (this seed's curve, chosen point) -> value

    Returns
    -------
    ndarray (S,)

    Introduced in: Chapter 3
    """
    return crossfit_picks(curves, choose, measure)[0]


def crossfit_estimate(values: Callable[[np.ndarray], np.ndarray], n_seeds: int) -> Estimate:
    """Mean of cross-fitted per-seed values with a delete-one-seed jackknife interval.

    ``values(idx)`` runs the whole cross-fit on the seeds ``idx`` (picks on the others among
    them) and returns one value per seed of ``idx``. The values of one run share their
    picks (each seed's pick uses every other seed's curve), so they are correlated (about
    0.2 between seeds at the peak rule's null) and a t-interval over them is too narrow
    (6-7 % false "reproduced" at the null instead of <= 5 %). The jackknife reruns the
    cross-fit without each seed in turn, picks included, so its spread carries that
    dependence: mean of ``values(all)`` ± t(S-1) x the jackknife standard error.

    Introduced in: Chapter 3
    """
    full = np.asarray(values(np.arange(n_seeds)), dtype=float)
    theta = float(full.mean()) if len(full) else float("nan")
    if n_seeds < 3 or not np.isfinite(theta):
        return Estimate(theta, float("nan"), float("nan"), n_seeds)
    loo = np.array([np.mean(values(np.delete(np.arange(n_seeds), s))) for s in range(n_seeds)])
    se = float(np.sqrt((n_seeds - 1) / n_seeds * ((loo - loo.mean()) ** 2).sum()))
    half = float(_st.t.ppf(0.975, n_seeds - 1)) * se
    return Estimate(theta, theta - half, theta + half, n_seeds)


# --------------------------------------------------------------------------- the vectorized cross-fit
# The judges below run the cross-fit and its jackknife for a whole batch of data sets at once
# (leading axis B: one data set when judging a run, many draws when calibrating), with
# numpy instead of a Python loop per seed and per left-out seed. A pick is made on the mean
# of the other seeds, rounded to ROUND decimals, so that the way that mean is summed cannot
# break a tie differently.

ROUND = 12


def _others_means(c: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """For curves ``c`` (B, S, *F): the mean of every seed but s, for the first n seeds
    (B, n, *F), and of every seed but j and s (B, n, n, *F; None when S < 3)."""
    S = c.shape[1]
    tot = c.sum(1)
    loo = np.round((tot[:, None] - c[:, :n]) / (S - 1), ROUND)
    if S < 3:
        return loo, None
    l2o = np.round((tot[:, None, None] - c[:, :n, None] - c[:, None, :n]) / (S - 2), ROUND)
    return loo, l2o


def crossfit_batch(pick_src, choose: Callable, measure: Callable, meas_src=None):
    """Cross-fitted values of a batch: picks on the other seeds of ``pick_src`` (B, S, *F)
    (``choose``: mean curves (..., *F) -> picks (..., k) int), values measured on the held-out
    seed's rows of ``meas_src`` (B, n, *G), n <= S (default ``pick_src``; ``measure``: (rows
    (..., *G), picks (..., k)) -> values (...)).

    Returns (values (B, n), picks (B, n, k), jackknife values (B, n, n) or None): entry
    [b, j, s] is seed s's value when seed j is left out of the picks too (j = s unused).

    Introduced in: Chapter 3
    """
    c = np.asarray(pick_src, dtype=float)
    ms = c if meas_src is None else np.asarray(meas_src, dtype=float)
    B, n = ms.shape[:2]
    if c.shape[1] < 2:
        return np.full((B, n), np.nan), None, None
    loo, l2o = _others_means(c, n)
    picks = choose(loo)
    vals = measure(ms, picks)
    if l2o is None or n < 3:
        return vals, picks, None
    jack = measure(np.broadcast_to(ms[:, None], (B, n) + ms.shape[1:]), choose(l2o))
    return vals, picks, jack


def jackknife_batch(vals: np.ndarray, jack: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, low, high) per data set of cross-fitted ``vals`` (B, n) with the
    delete-one-seed jackknife interval from ``jack`` (B, n, n) (see :func:`crossfit_estimate`);
    NaN bounds when there is no jackknife (fewer than 3 seeds)."""
    theta = vals.mean(1)
    if jack is None:
        nan = np.full_like(theta, np.nan)
        return theta, nan, nan
    n = vals.shape[1]
    loo = np.where(~np.eye(n, dtype=bool), jack, 0.0).sum(2) / (n - 1)
    se = np.sqrt((n - 1) / n * ((loo - loo.mean(1, keepdims=True)) ** 2).sum(1))
    half = float(_st.t.ppf(0.975, n - 1)) * se
    return theta, theta - half, theta + half


def _take(e: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """e[..., idx[..., i]] for each column i of ``idx`` (..., k): (..., k)."""
    return np.take_along_axis(e, idx, axis=-1)


def _interior_peaks(mc: np.ndarray) -> np.ndarray:
    """:func:`interior_peak` of every mean curve (..., W)."""
    return np.clip(peak_indices(mc), 1, mc.shape[-1] - 2)


def _peak_and_minimum_v(mc):
    p = _interior_peaks(mc)
    mn = np.where(np.arange(mc.shape[-1]) < p[..., None], mc, np.inf).argmin(-1)
    return np.stack([p, mn], -1)


def _minimum_before_peak_v(mc):
    p = np.maximum(peak_indices(mc), 1)
    return np.where(np.arange(mc.shape[-1]) < p[..., None], mc, np.inf).argmin(-1)[..., None]


def _estimate(theta, low, high, n) -> Estimate:
    return Estimate(float(theta[0]), float(low[0]), float(high[0]), n)


def _judged(batch, m, label) -> Judgement:
    """One data set ``m`` judged through the batch form ``batch`` (its leading axis added)."""
    (theta, low, high), picks, n = batch(m)
    e = _estimate(theta, low, high, n)
    return Judgement(judge_above(e, 0.0), e, _shown([] if picks is None else [tuple(p) for p in picks[0]], label))


def verdicts_above(theta, low, high, n: int) -> np.ndarray:
    """:func:`~overparam.claims.judge_above` (threshold 0) of every (mean, low, high)."""
    ok = (n >= 2) & np.isfinite(theta) & np.isfinite(low) & np.isfinite(high)
    return np.where(ok & (low > 0), REPRODUCED, np.where(ok & (high <= 0), NOT_REPRODUCED, INCONCLUSIVE))


def verdicts_near(theta, low, high, n: int, tol: float) -> np.ndarray:
    """:func:`~overparam.claims.judge_near` (target 0, ``tol``) of every (mean, low, high)."""
    ok = (n >= 2) & np.isfinite(theta) & np.isfinite(low) & np.isfinite(high)
    inside, outside = (-tol <= low) & (high <= tol), (high < -tol) | (low > tol)
    return np.where(ok & inside, REPRODUCED, np.where(ok & outside, NOT_REPRODUCED, INCONCLUSIVE))


def _stack(ms, part=lambda m: m[0]):
    """The arrays ``part(m)`` of many measurements stacked along a new leading axis."""
    return np.stack([np.asarray(part(m), dtype=float) for m in ms])


def _many_above(batch):
    """``many(ms) -> (verdicts, means)`` of an above-0 judge from its batch form over stacked
    measurements (``batch(ms) -> ((mean, low, high), n)``)."""
    def many(ms):
        (theta, low, high), n = batch(ms)
        return list(verdicts_above(theta, low, high, n)), theta
    return many


def split_above0(curves, choose, measure, label) -> Judgement:
    """Pick on the first half of the seeds, measure on the other half: values above 0.

    For a rule whose pick is an argmin/argmax over many near-equal points (an early minimum
    among a flat stretch of evaluations, the worst of several steps of n), even the
    jackknife of the leave-one-out cross-fit is too narrow (null 7-23 % at 20 seeds): the
    picks vary from seed to seed and correlate the values. Here one pick, made on seeds the
    measured ones never see, serves every measured seed: their values are independent given
    it, and the t-interval holds.
    """
    c = np.asarray(curves, dtype=float)
    k = len(c) // 2
    if k < 1 or len(c) - k < 2:
        e = mean_of([np.nan])
        return Judgement(judge_above(e, 0.0), e)
    pick = choose(c[:k].mean(0))
    e = mean_of([measure(x, pick) for x in c[k:]])
    return Judgement(judge_above(e, 0.0), e, f"{label(pick)} (picked on seeds 1-{k}, measured on the other {len(c) - k})")


def interior_peak(curve: np.ndarray) -> int:
    """:func:`peak_index` of a mean curve, kept off both ends (a peak needs two neighbours)."""
    p = peak_index(curve)
    return int(np.clip(p, 1, len(curve) - 2))


def _shown(picks, label: Callable[[object], str]) -> str:
    """The points picked for the held-out seeds, in words (``label`` names one pick)."""
    names = [label(p) for p in picks]
    if names and len(set(names)) == 1:
        return f"{names[0]} for every held-out seed"
    return "per held-out seed: " + ", ".join(names)


def _peak_exists_batch(curves):
    """Batch form of :func:`peak_exists`: curves (B, S, W)."""
    vals, picks, jack = crossfit_batch(curves, _peak_and_minimum_v, lambda e, pm: (
        _take(e, pm[..., :1])[..., 0] - np.maximum(_take(e, pm[..., 1:])[..., 0], e[..., -1])))
    return jackknife_batch(vals, jack), picks, vals.shape[1]


def peak_exists(m) -> Judgement:
    """(test-error curves (S, W), widths (W,)): the curve rises from the classical minimum
    to a peak and falls again by the widest model. Held-out seed's error at the peak minus
    the larger of its errors at the classical minimum and at the widest model (peak and
    minimum chosen on the other seeds' mean curve); above 0.

    (A peak above its two grid neighbours alone was the earlier rule: the quick sweep's
    peak at 20 % noise is a hump several grid points wide, which that rule cannot see.)"""
    curves, x = m
    return _judged(lambda c: _peak_exists_batch(np.asarray(c, float)[None]), curves,
                   lambda pm: f"peak {x[pm[0]]:g}, minimum {x[pm[1]]:g}")


peak_exists.batch = lambda m: _peak_exists_batch(m[0])[0]  # (curves (B, S, W), widths)
peak_exists.many = _many_above(lambda ms: _peak_exists_batch(_stack(ms))[::2])


def _height(c):
    return crossfit_batch(c, lambda mc: peak_indices(mc)[..., None],
                          lambda e, p: _take(e, p)[..., 0] - e[..., -1])


def _peak_grows_batch(hi, lo):
    (vh, ph, jh), (vl, pl, jl) = _height(hi), _height(lo)
    return jackknife_batch(vh - vl, None if jh is None else jh - jl), ph, pl


def peak_grows(m) -> Judgement:
    """((high-noise curves, low-noise curves) each (S, W), widths (W,)): per seed, the peak
    height above the widest model (peak chosen on the other seeds, per noise level), high
    minus low."""
    (hi, lo), x = m
    (theta, low, high), ph, pl = _peak_grows_batch(np.asarray(hi, float)[None], np.asarray(lo, float)[None])
    e = _estimate(theta, low, high, len(hi))
    name = lambda p: f"peak {x[p]:g}"  # noqa: E731
    shown = [f"{lvl} {_shown([] if pk is None else list(pk[0, :, 0]), name)}" for lvl, pk in
             (("high-noise", ph), ("low-noise", pl))]
    return Judgement(judge_above(e, 0.0), e, "; ".join(shown))


peak_grows.batch = lambda m: _peak_grows_batch(*m[0])[0]  # ((hi, lo) each (B, S, W), widths)
peak_grows.many = _many_above(lambda ms: (_peak_grows_batch(_stack(ms, lambda m: m[0][0]),
                                                            _stack(ms, lambda m: m[0][1]))[0], len(ms[0][0][0])))


def threshold_shift(triple) -> Estimate:
    """(log2 interpolation width of the lower arm, of the higher arm, censoring value), per seed.

    A seed whose higher arm never fits gets the censoring value (log2 of twice the widest
    width: a lower bound, which can only shrink the shift). A seed whose lower arm never
    fits leaves the shift unknown: NaN, and the verdict is inconclusive.
    """
    lo, hi, cap = triple
    hi = np.where(np.isnan(hi), cap, hi)
    return mean_of(np.asarray(hi) - np.asarray(lo))


def _second_descent_batch(curves):
    def measure(e, i):
        i = i[..., 0]
        w = e.shape[-1]
        near = np.stack([np.maximum(i - 1, 0), i, np.minimum(i + 1, w - 1)], -1)
        return _take(e, near).min(-1) - e[..., -1]
    vals, picks, jack = crossfit_batch(curves, _minimum_before_peak_v, measure)
    return jackknife_batch(vals, jack), picks, vals.shape[1]


def second_descent(m) -> Judgement:
    """(test-error curves (S, W), widths (W,)): held-out seed's error at the classical
    minimum minus its error at the widest model; above 0. The minimum is the lowest point
    before the peak of the other seeds' mean curve; the held-out seed's error there is its
    lowest over that point and its two neighbours (choosing a point on noisy curves lands
    above the true minimum on average; the seed's own minimum of three leans the other way)."""
    curves, x = m
    return _judged(lambda c: _second_descent_batch(np.asarray(c, float)[None]), curves,
                   lambda i: f"minimum {x[i[0]]:g}")


second_descent.batch = lambda m: _second_descent_batch(m[0])[0]  # (curves (B, S, W), widths)
second_descent.many = _many_above(lambda ms: _second_descent_batch(_stack(ms))[::2])


def _emc_batch(curves, lw, lwe, emc):
    """Batch form of :func:`emc_at_peak`: curves (B, S, W), emc (B, SE, E); picks are the
    EMC column read per EMC seed, -1 where the peak is out of the EMC grid's reach."""
    def choose(mc):
        lp = lw[_interior_peaks(mc)]
        j = np.abs(lwe - lp[..., None]).argmin(-1)
        return np.where(np.abs(lwe[j] - lp) <= EMC_REACH + 1e-9, j, -1)[..., None]

    def measure(e, j):
        return np.where(j[..., 0] >= 0, _take(e, np.maximum(j, 0))[..., 0], np.nan)
    vals, picks, jack = crossfit_batch(curves, choose, measure, meas_src=emc)
    return jackknife_batch(vals, jack), picks


def emc_at_peak(m) -> Judgement:
    """(test-error curves (S, W) of the width sweep, log2 widths (W,), log2 EMC widths (E,),
    log2(EMC / n) (SE, E) of the EMC grid's seeds = the sweep's first SE seeds).

    Per EMC seed: log2(EMC / n) at the EMC width nearest (in log2) the peak of the mean
    curve of every *other* sweep seed; within ±EMC_TOL of 0. A peak more than EMC_REACH
    octaves from every EMC width is outside the EMC grid: the value is unknown (NaN) and
    the verdict inconclusive. EMC itself is censored by the grid of sample sizes (a width
    that fits the largest n has EMC >= it): :func:`~.experiments.emc_log2`. The interval is
    a jackknife over the EMC seeds (each left out of the picks too).
    """
    curves, lw, lwe, emc = (np.asarray(a, dtype=float) for a in m)
    (theta, low, high), picks = _emc_batch(curves[None], lw, lwe, emc[None])
    e = _estimate(theta, low, high, len(emc))
    js = [] if picks is None else list(picks[0, :, 0])
    why = ("" if all(j >= 0 for j in js) else
           f"the peak lies more than {EMC_REACH} octaves from every EMC width (outside the EMC grid)")
    verdict = INCONCLUSIVE if why else judge_near(e, 0.0, EMC_TOL)
    return Judgement(verdict, e, _shown(js, lambda j: f"EMC width {2 ** lwe[j]:g}" if j >= 0 else "none"), why)


def _emc_many(ms):
    """``many`` of :func:`emc_at_peak`: (verdicts, means) of many measurements at once."""
    curves, emc = _stack(ms), _stack(ms, lambda m: m[3])
    lw, lwe = (np.asarray(ms[0][i], dtype=float) for i in (1, 2))
    (theta, low, high), picks = _emc_batch(curves, lw, lwe, emc)
    v = verdicts_near(theta, low, high, emc.shape[1], EMC_TOL)
    if picks is not None:
        v = np.where((picks[..., 0] < 0).any(1), INCONCLUSIVE, v)
    return list(v), theta


emc_at_peak.many = _emc_many


def epochwise_rise(m) -> Judgement:
    """(test error vs epoch (S, T), epochs (T,)): mean test error over the second half of
    training minus the error at the early minimum (the lowest evaluation of the first half
    of the picking seeds' mean curve), on the measuring seeds (:func:`split_above0`); above 0.

    A curve that keeps falling gives a negative value (not reproduced); one that rises after
    its early minimum and stays up, a positive one. (Reading the later *maximum* instead
    could not fail: on a falling curve the maximum after the minimum is the minimum.)"""
    curves, ep = m
    half = np.asarray(curves).shape[1] // 2
    return split_above0(curves, lambda mc: int(np.argmin(mc[:half])),
                        lambda e, t: float(e[half:].mean()) - float(e[t]),
                        lambda t: f"early minimum at epoch {ep[t]:g}; second half from epoch {ep[half]:g}")


def more_data_hurts(m) -> Judgement:
    """(test error vs n (S, N), ns (N,)): the change over the step of n where the picking
    seeds' mean curve rises most, on the measuring seeds (:func:`split_above0`); above 0."""
    curves, ns = m
    return split_above0(np.diff(curves, axis=1), lambda mc: int(np.argmax(mc)), lambda e, j: float(e[j]),
                        lambda j: f"n {ns[j]:g} -> {ns[j + 1]:g}")


def keeps_falling(m) -> Judgement:
    """(test error at the first fitting width, at the widest, why-not), per seed (the same
    seeds at both widths): paired difference above 0; when no width (or only the widest)
    fits, inconclusive with the reason."""
    a, b, why = m
    if why:
        return Judgement(INCONCLUSIVE, Estimate(float(np.nanmean(a)), np.nan, np.nan, len(a)), why=why)
    e = paired((a, b))
    return Judgement(judge_above(e, 0.0), e)


def _peak_vs_widest_batch(err, probe):
    c = np.stack([np.asarray(err, dtype=float), np.asarray(probe, dtype=float)], axis=2)  # (B, S, 2, W)
    vals, picks, jack = crossfit_batch(c, lambda mc: _interior_peaks(mc[..., 0, :])[..., None],
                                       lambda e, p: _take(e[..., 1, :], p)[..., 0] - e[..., 1, -1])
    return jackknife_batch(vals, jack), picks, vals.shape[1]


def peak_vs_widest(m) -> Judgement:
    """((test-error curves (S, W), probe curves (S, W)), widths (W,)): per held-out seed, its
    probe value at the test-error peak chosen on the other seeds' mean test-error curve
    (:func:`interior_peak`), minus its probe value at the widest model; above 0 (jackknife
    interval, picks redone). The pick reads only the test error, the value only the probe."""
    (err, probe), x = m
    return _judged(lambda _: _peak_vs_widest_batch(np.asarray(err, float)[None], np.asarray(probe, float)[None]),
                   None, lambda p: f"peak {x[p[0]]:g}")


peak_vs_widest.batch = lambda m: _peak_vs_widest_batch(*m[0])[0]  # ((err, probe) each (B, S, W), widths)
peak_vs_widest.many = _many_above(lambda ms: _peak_vs_widest_batch(_stack(ms, lambda m: m[0][0]),
                                                                   _stack(ms, lambda m: m[0][1]))[::2])
