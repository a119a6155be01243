"""Goodness of fit for distributions of per-unit values (e.g. activation variances).

Chapter 4 asks which family describes the variances of a layer's units: an exponential,
a bell-shaped ("Poisson-like") law, or a two-component mixture. This module measures
that without judging on the data a model was fitted to:

- :func:`gamma_shape`: the maximum-likelihood shape ``k`` of a gamma law (``k = 1`` is
  the exponential; ``k > 1`` has its mode away from zero, like a Poisson count);
- :func:`mixture_logpdf`: the log-density of a fitted :class:`overparam.metrics.MixtureFit`
  (exponential + normal or two gammas) at new values;
- :func:`heldout_loglik`: the mean log-likelihood of a fitting procedure on values it
  was not fitted to (k-fold over units), so that a more flexible model gains nothing
  from fitting noise.

Introduced in: Chapter 4
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import special as _sp

from . import metrics as M
from .config import check_positive


def _positive(x, name: str = "x", min_n: int = 2) -> np.ndarray:
    x = np.asarray(x, float).ravel()
    if np.any(~np.isfinite(x)) or np.any(x < 0):
        raise ValueError(f"{name} must hold finite non-negative values")
    pos = x[x > 0]
    if pos.size < min_n:
        raise ValueError(f"{name} has {pos.size} positive values; expected at least {min_n}")
    return pos


def gamma_shape(x) -> float:
    """Maximum-likelihood shape ``k`` of a gamma law fitted to the positive values of ``x``.

    Solves ``log k - digamma(k) = log(mean) - mean(log x)`` by Newton's method from
    Minka's closed-form start. ``k = 1``: exponential; ``k`` large: a narrow bell.
    Exact zeros are left out (a gamma has no mass at 0; count them separately).

    Introduced in: Chapter 4
    """
    pos = _positive(x)
    s = float(np.log(pos.mean()) - np.log(pos).mean())
    if s <= 1e-12:
        return float("inf")  # all values equal: an infinitely narrow gamma
    k = (3 - s + np.sqrt((s - 3) ** 2 + 24 * s)) / (12 * s)
    for _ in range(100):
        f = np.log(k) - _sp.digamma(k) - s
        k_new = k - f / (1 / k - _sp.polygamma(1, k))
        k_new = k / 2 if k_new <= 0 else k_new
        if abs(k_new - k) < 1e-12 * k:
            return float(k_new)
        k = k_new
    return float(k)


def mixture_logpdf(fit: M.MixtureFit, x) -> np.ndarray:
    """Log-density of a fitted two-component mixture at the positive values ``x``.

    ``exp_normal``: ``pi Exp(rate) + (1 - pi) N(mu, sigma^2)`` (``pi`` is the fit's
    ``dead_weight``); ``two_gammas``: ``pi Gamma(k1, s1) + (1 - pi) Gamma(k2, s2)`` with
    ``pi`` the weight among positive values (``params["pi_positive"]``).

    Introduced in: Chapter 4
    """
    x = np.asarray(x, float)
    p = fit.params
    if fit.kind == "exp_normal":
        pi = float(np.clip(fit.dead_weight, 1e-12, 1 - 1e-12))
        le = np.log(pi) + np.log(p["rate"]) - p["rate"] * x
        ln = np.log1p(-pi) + M.norm_logpdf(x, p["mu"], p["sigma"])
    elif fit.kind == "two_gammas":
        if not p:
            raise ValueError("the two-gamma fit has no components (fewer than 4 positive values)")
        pi = float(np.clip(p["pi_positive"], 1e-12, 1 - 1e-12))
        lx = np.log(x)
        le = np.log(pi) + M.gamma_logpdf(x, lx, p["shape1"], p["scale1"])
        ln = np.log1p(-pi) + M.gamma_logpdf(x, lx, p["shape2"], p["scale2"])
    else:
        raise ValueError(f"fit.kind={fit.kind!r} is not allowed; expected 'exp_normal' or 'two_gammas'")
    return np.logaddexp(le, ln)


FITTERS: dict[str, Callable] = {
    "exp_normal": lambda x, max_iter: M.fit_exp_normal(x, max_iter=max_iter),
    "two_gammas": lambda x, max_iter: M.fit_two_gammas(x, max_iter=max_iter),
}


def heldout_loglik(x, kind: str, *, folds: int = 2, seed: int = 0, max_iter: int = 300) -> float:
    """Mean held-out log-likelihood per value of a mixture family on the positive values of ``x``.

    The positive values are split at random (generator seeded with ``seed``) into
    ``folds`` parts; the mixture is fitted on all parts but one and scored on the one left
    out, for each part in turn. Returns NaN when a training part has fewer than 4 values.
    The score is in units of ``log(1 / scale)``: compare families on the same ``x`` only.

    Parameters
    ----------
    x : array of values >= 0
    kind : "exp_normal" or "two_gammas"
    folds : int >= 2

    Introduced in: Chapter 4
    """
    if kind not in FITTERS:
        raise ValueError(f"kind={kind!r} is not allowed; choose one of {tuple(FITTERS)}")
    check_positive("folds", folds, integer=True)
    if folds < 2:
        raise ValueError(f"folds={folds!r} is not allowed; expected an integer >= 2")
    pos = _positive(x)
    z = pos / pos.mean()  # scale-free: the same score at any scale
    part = np.random.default_rng(seed).permutation(len(z)) % folds
    total, n = 0.0, 0
    for f in range(folds):
        train, test = z[part != f], z[part == f]
        if train.size < 4 or test.size == 0:
            return float("nan")
        ll = mixture_logpdf(FITTERS[kind](train, max_iter), test)
        total += float(np.sum(np.maximum(ll, -1e6)))
        n += test.size
    return total / n
