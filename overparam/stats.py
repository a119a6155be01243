"""Means with confidence intervals: the error bars of every figure and claim in the book."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special as _special


def _t_quantile(p, df):
    """Student-t quantile: the function ``scipy.stats.t.ppf`` itself evaluates (the same
    numbers, bit for bit), without its per-call argument handling, which made the
    calibration page's 300,000 intervals take most of its time."""
    return _special.stdtrit(df, p)


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a confidence interval and the number of samples behind it."""

    mean: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"{self.mean:.3g} [{self.low:.3g}, {self.high:.3g}] (n={self.n})"


def mean_ci(values, level: float = 0.95, axis: int = 0):
    """Mean and Student-t confidence interval along ``axis``.

    Parameters
    ----------
    values : array_like, shape (n, ...)
        Samples (e.g. one accuracy per seed) along ``axis``.
    level : float
        Confidence level, 0.95 for a 95 % interval.

    Returns
    -------
    Estimate when ``values`` is 1-d; otherwise a tuple ``(mean, low, high)`` of arrays, each
    slice along ``axis`` reduced as a 1-d sample (the same numbers as ``mean_ci`` of that
    slice, bit for bit). With a single sample there is no interval: its ends are NaN (never
    zero width), and every verdict rule then says ``inconclusive``.
    """
    x = np.asarray(values, dtype=float)
    if x.ndim == 1 and axis in (0, -1):
        return _mean_ci_1d(x, level)
    x = np.moveaxis(x, axis, -1)
    if x.shape[-1] == 0:
        raise ValueError("mean_ci needs at least one value")
    m, low, high = rows_ci(x.reshape(-1, x.shape[-1]), level)   # each slice as a 1-d sample
    return m.reshape(x.shape[:-1]), low.reshape(x.shape[:-1]), high.reshape(x.shape[:-1])


def _t_half(ss, n: int, level: float):
    """Half-width of the Student-t interval of the mean of ``n`` values whose squared
    deviations from their mean sum to ``ss`` (a number or an array of them); NaN for a
    single value (no interval). The one formula of :func:`mean_ci` and :func:`rows_ci`."""
    if n < 2:
        return np.full_like(ss, np.nan) if np.ndim(ss) else np.nan
    return _t_quantile(0.5 + level / 2, n - 1) * np.sqrt(ss / (n - 1)) / np.sqrt(n)


def _mean_ci_1d(x: np.ndarray, level: float) -> Estimate:
    """:func:`mean_ci` of a 1-d array: numpy's ``mean`` and ``std(ddof=1)`` written out (the
    same reductions in the same order, so the same numbers bit for bit) without their
    per-call argument handling, which dominated the calibration's many small intervals."""
    n = x.shape[0]
    if n == 0:
        raise ValueError("mean_ci needs at least one value")
    m = np.add.reduce(x) / n
    d = x - m
    half = _t_half(np.add.reduce(d * d), n, level)
    return Estimate(float(m), float(m - half), float(m + half), n)


def wilson_ci(successes, n, level: float = 0.95):
    """Wilson score interval for a proportion ``successes / n`` (arrays broadcast).

    Returns an Estimate for scalars, else ``(p, low, high)`` arrays.
    """
    k = np.asarray(successes, dtype=float)
    n_arr = np.asarray(n, dtype=float)
    if np.any(n_arr <= 0) or np.any(k < 0) or np.any(k > n_arr):
        raise ValueError("wilson_ci needs 0 <= successes <= n and n > 0")
    z = _special.ndtri(0.5 + level / 2)
    p = k / n_arr
    denom = 1 + z**2 / n_arr
    centre = (p + z**2 / (2 * n_arr)) / denom
    half = z * np.sqrt(p * (1 - p) / n_arr + z**2 / (4 * n_arr**2)) / denom
    if p.ndim == 0:
        return Estimate(float(p), float(centre - half), float(centre + half), int(n_arr))
    return p, centre - half, centre + half


def diff_ci(a, b, level: float = 0.95) -> Estimate:
    """Difference of means ``mean(a) - mean(b)`` of two independent samples, Welch interval."""
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    d, low, high = (float(v[0]) for v in _welch_rows(a[None], b[None], level))
    return Estimate(d, low, high, len(a) + len(b))


# --------------------------------------------------------------------------- estimators
# per-replicate measurements -> Estimate (the judges of overparam.claims take these)

def mean_of(x) -> Estimate:
    """Mean over replicates with its 95 % t-interval (``x``: one value per replicate)."""
    return mean_ci(np.asarray(x, dtype=float).ravel())


def paired(pair) -> Estimate:
    """Mean over replicates of the paired difference ``a - b`` (``pair = (a, b)``)."""
    a, b = pair
    return mean_ci(np.asarray(a, dtype=float).ravel() - np.asarray(b, dtype=float).ravel())


def welch(pair) -> Estimate:
    """Difference of means ``mean(a) - mean(b)`` of two independent samples (Welch)."""
    a, b = pair
    return diff_ci(a, b)


def proportion(cells) -> Estimate:
    """Pooled share of True among ``cells`` with its Wilson interval (never zero width)."""
    cells = np.asarray(cells, dtype=bool)
    return wilson_ci(int(cells.sum()), cells.size)


def rows_ci(x, level: float = 0.95):
    """:func:`mean_ci` of every row of ``x`` (D, n) at once: ``(mean, low, high)`` arrays.

    The same numbers as ``mean_ci(row)`` for each row, bit for bit (each row is reduced
    along its contiguous axis, as numpy reduces a 1-d array); ``mean_ci`` of an n-d array
    goes through it. One row per simulated data set of the calibration.
    """
    x = np.ascontiguousarray(x, dtype=float)
    n = x.shape[1]
    if n == 0:
        raise ValueError("rows_ci needs at least one value per row")
    m = x.sum(axis=1) / n
    d = x - m[:, None]
    half = _t_half((d * d).sum(axis=1), n, level)
    return m, m - half, m + half


def _rows(ms, part=None) -> np.ndarray:
    """One flattened row per measurement (``part``: that element of a pair); ValueError if ragged."""
    return np.stack([np.asarray(m if part is None else m[part], dtype=float).ravel() for m in ms])


def _welch_rows(a: np.ndarray, b: np.ndarray, level: float = 0.95):
    """Welch difference of means of every row pair of ``a`` (D, na) and ``b`` (D, nb):
    ``(d, low, high)`` arrays; zero spread in both gives the point (d, d, d). The one Welch
    formula (:func:`diff_ci` is its one-row case)."""
    na, nb = a.shape[1], b.shape[1]
    ma, mb = a.sum(axis=1) / na, b.sum(axis=1) / nb
    d = ma - mb
    da, db = a - ma[:, None], b - mb[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):   # one value in an arm: no interval (NaN)
        va, vb = (da * da).sum(axis=1) / (na - 1) / na, (db * db).sum(axis=1) / (nb - 1) / nb
        se = np.sqrt(va + vb)
        dof = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
        half = np.where(se == 0, 0.0, _t_quantile(0.5 + level / 2, dof) * se)
    return d, np.where(se == 0, d, d - half), np.where(se == 0, d, d + half)


def estimates_of(estimator, ms):
    """``estimator(m)`` for every measurement of ``ms`` at once, as arrays ``(mean, low, high, n)``.

    For the estimators of this module (:func:`mean_of`, :func:`paired`, :func:`welch`,
    :func:`proportion`) on measurements of one shape: the same numbers as calling the
    estimator on each. ``None`` for any other estimator or for measurements of different
    shapes (the caller then calls it on each).
    """
    if not len(ms):
        return None
    try:
        if estimator is mean_of:
            x = _rows(ms)
            return (*rows_ci(x), np.full(len(x), x.shape[1]))
        if estimator is paired:
            x = _rows(ms, 0) - _rows(ms, 1)
            return (*rows_ci(x), np.full(len(x), x.shape[1]))
        if estimator is welch:
            a, b = _rows(ms, 0), _rows(ms, 1)
            if a.shape[1] < 2 or b.shape[1] < 2:
                return None
            return (*_welch_rows(a, b), np.full(len(a), a.shape[1] + b.shape[1]))
        if estimator is proportion:
            cells = np.stack([np.asarray(m, dtype=bool).ravel() for m in ms])
            k, n = cells.sum(axis=1), cells.shape[1]
            if n == 0:
                return None
            p, low, high = wilson_ci(k, np.full(len(k), n))
            return p, low, high, np.full(len(k), n)
    except ValueError:      # measurements of different shapes
        return None
    return None


def replicate_sd(est: Estimate, level: float = 0.95) -> float:
    """Spread of one replicate implied by an interval: half-width x sqrt(n) / t."""
    if est.n < 2 or not all(math.isfinite(v) for v in (est.low, est.high)):
        return float("nan")
    t = _t_quantile(0.5 + level / 2, est.n - 1)
    return float((est.high - est.low) / 2 * math.sqrt(est.n) / t)
