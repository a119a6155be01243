"""Layer-local metrics of a hidden layer: activation variance, dead units, normality,
total variance, PCA of pre-activations, and mixture fits of the variance distribution.

Everything here takes plain arrays (activations of one layer over a data set, or the
per-unit variances derived from them) and is deterministic: the EM fits start from
quantiles of the data and run a fixed number of iterations or until a tolerance, with
no random restarts and no bootstrap.

Introduced in: Chapter 4
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np
import torch
from scipy import special as _sp
from scipy import stats as _st

from .config import check_positive

ArrayLike = Union[np.ndarray, torch.Tensor, Sequence[float]]  # arrays, tensors or lists


# --------------------------------------------------------------------------- activations


def hidden_layer(params: Sequence[torch.Tensor], X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pre- and post-activations of the first hidden layer of an MLP.

    Parameters
    ----------
    params : sequence of Tensor in the :func:`overparam.models.init_stack` layout (one member);
        only ``params[0]`` (W, shape (d, w)) and ``params[1]`` (b, shape (w,)) are used
    X : Tensor, shape (n, d)

    Returns
    -------
    pre : Tensor (n, w), ``X @ W + b``
    post : Tensor (n, w), ``relu(pre)``

    Introduced in: Chapter 4
    """
    W, b = params[0], params[1]
    pre = X.to(W.device, W.dtype) @ W + b
    return pre, torch.relu(pre)


def unit_variance(acts: ArrayLike) -> np.ndarray:
    """Variance of each unit's activation over the examples (population variance).

    Parameters
    ----------
    acts : array or Tensor, shape (n, w)

    Returns
    -------
    ndarray (w,) float64

    Introduced in: Chapter 4
    """
    a = acts.detach().cpu().double().numpy() if torch.is_tensor(acts) else np.asarray(acts, float)
    if a.ndim != 2 or a.shape[0] < 2:
        raise ValueError(f"acts has shape {a.shape}; expected (n >= 2, w)")
    return a.var(axis=0)


def dead_units(variances: ArrayLike, tol: float = 0.0) -> int:
    """Number of units whose activation variance is at most ``tol`` (0: exactly constant).

    Introduced in: Chapter 4
    """
    check_positive("tol", tol, allow_zero=True)
    return int(np.sum(np.asarray(variances) <= tol))


def dead_unit_sweep(variances: ArrayLike, tols: ArrayLike) -> np.ndarray:
    """Dead-unit counts for each tolerance in ``tols`` (shape (T,) -> counts (T,)).

    Introduced in: Chapter 4
    """
    v = np.sort(np.asarray(variances, float))
    return np.searchsorted(v, np.asarray(tols, float), side="right")


def variance_normality(variances: ArrayLike) -> float:
    """Shapiro-Wilk statistic W of the per-unit variances (1 = perfectly normal).

    The journal's "normality test" of the variance distribution. Needs >= 3 units; for
    more than 5,000 units scipy's p-value is approximate but W is still defined.

    Introduced in: Chapter 4
    """
    v = np.asarray(variances, float)
    if v.size < 3:
        raise ValueError(f"variances has {v.size} values; Shapiro-Wilk needs at least 3")
    if np.ptp(v) == 0:
        return float("nan")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # N > 5000: p-value approximate, W fine
        return float(_st.shapiro(v).statistic)


def total_variance(variances: ArrayLike) -> float:
    """Sum of the per-unit activation variances of a layer.

    Introduced in: Chapter 4
    """
    return float(np.sum(variances))


# --------------------------------------------------------------------------- PCA


@dataclass(frozen=True)
class PCAMetrics:
    """PCA of a layer's pre-activations.

    Attributes
    ----------
    explained : ndarray (r,) – explained-variance ratio of each component, descending
    recon_error : ndarray (r + 1,) – mean Euclidean distance between a centred example
        and its projection on the first k components, k = 0..r
    """

    explained: np.ndarray
    recon_error: np.ndarray

    def n_components(self, level: float = 0.99) -> int:
        """Smallest k whose components explain at least ``level`` of the variance."""
        return int(np.searchsorted(np.cumsum(self.explained), level - 1e-12) + 1)


def pca_metrics(pre: ArrayLike) -> PCAMetrics:
    """Explained-variance curve and reconstruction error vs number of components.

    Parameters
    ----------
    pre : array or Tensor, shape (n, w) – pre-activations over a data set

    Returns
    -------
    PCAMetrics (r = min(n, w) components)

    Introduced in: Chapter 4
    """
    a = pre.detach().cpu().double().numpy() if torch.is_tensor(pre) else np.asarray(pre, float)
    a = a - a.mean(axis=0)
    _, s, vt = np.linalg.svd(a, full_matrices=False)
    return _pca_from_coordinates(a @ vt.T, s**2)


def pca_metrics_linear(X: ArrayLike, W: ArrayLike, b: ArrayLike | None = None) -> PCAMetrics:
    """:func:`pca_metrics` of the pre-activations ``X @ W + b`` without forming them densely.

    The centred pre-activations ``Xc @ W`` have rank <= d; with ``Xc = U S V^T`` their
    PCA is that of the small (d, w) matrix ``S V^T W``, so a wide layer costs little
    more than a narrow one. Same result as ``pca_metrics(X @ W + b)`` (the bias drops out
    on centring) except that only the first min(n, d, w) components are returned (the
    others are zero).

    Parameters
    ----------
    X : array or Tensor (n, d)
    W : array or Tensor (d, w)
    b : ignored (kept for symmetry with the layer)

    Introduced in: Chapter 4
    """
    def arr(t):
        return t.detach().cpu().double().numpy() if torch.is_tensor(t) else np.asarray(t, float)
    Xc = arr(X)
    Xc = Xc - Xc.mean(axis=0)
    U, S, Vt = np.linalg.svd(Xc, full_matrices=False)
    B = (S[:, None] * Vt) @ arr(W)  # (r_x, w)
    P, sig, _ = np.linalg.svd(B, full_matrices=False)
    return _pca_from_coordinates(U @ (P * sig), sig**2)


def _pca_from_coordinates(proj: np.ndarray, ev: np.ndarray) -> PCAMetrics:
    """proj: (n, r) coordinates of centred examples on the components (descending)."""
    explained = ev / ev.sum() if ev.sum() > 0 else np.zeros_like(ev)
    sq = proj**2
    tail = np.cumsum(sq[:, ::-1], axis=1)[:, ::-1]  # tail[:, k] = sum_{j>=k}
    resid_sq = np.concatenate([tail, np.zeros((len(proj), 1))], axis=1)
    recon = np.sqrt(np.clip(resid_sq, 0, None)).mean(axis=0)
    return PCAMetrics(explained, recon)


# --------------------------------------------------------------------------- mixtures


@dataclass(frozen=True)
class MixtureFit:
    """A two-component mixture fitted by EM.

    Attributes
    ----------
    kind : "exp_normal" or "two_gammas"
    dead_weight : float – weight of the "dead-like" component (the exponential, or the
        gamma with the smaller mean; exactly-zero values count to it)
    params : dict – component parameters (``rate``, ``mu``, ``sigma`` or ``shape1``,
        ``scale1``, ``shape2``, ``scale2`` with component 1 the dead-like one)
    loglik : float – mean log-likelihood per positive value at the end
    n_iter : int – EM iterations run
    converged : bool – whether the log-likelihood change fell below the tolerance
    """

    kind: str
    dead_weight: float
    params: dict
    loglik: float
    n_iter: int
    converged: bool


def _prep(x) -> np.ndarray:
    x = np.asarray(x, float).ravel()
    if x.size < 4 or np.any(~np.isfinite(x)) or np.any(x < 0):
        raise ValueError("x must hold >= 4 finite non-negative values (per-unit variances)")
    return x


def fit_exp_normal(x: ArrayLike, *, max_iter: int = 500, tol: float = 1e-9) -> MixtureFit:
    """EM fit of ``pi * Exp(rate) + (1 - pi) * Normal(mu, sigma^2)`` to non-negative values.

    The exponential is the "dead-like" component. Deterministic start: the exponential's
    mean is the mean of the lower half, the normal's moments those of the upper half,
    ``pi = 1/2``. Stops after ``max_iter`` iterations or when the mean log-likelihood
    changes by less than ``tol``.

    Parameters
    ----------
    x : array (n,) of values >= 0

    Returns
    -------
    MixtureFit with params ``rate``, ``mu``, ``sigma``

    Introduced in: Chapter 4
    """
    x = _prep(x)
    scale = x.mean() if x.mean() > 0 else 1.0
    z = x / scale  # fit in units of the mean: the same answer at any scale
    srt = np.sort(z)
    lo, hi = srt[: len(z) // 2], srt[len(z) // 2:]
    rate = 1.0 / max(lo.mean(), 1e-6)
    mu, sigma = hi.mean(), max(hi.std(), 1e-3)
    pi = 0.5
    prev, ll, it, converged = -np.inf, -np.inf, 0, False
    for it in range(1, max_iter + 1):
        le = np.log(pi) + np.log(rate) - rate * z
        ln = np.log1p(-pi) + norm_logpdf(z, mu, sigma)
        m = np.logaddexp(le, ln)
        ll = m.mean()
        r = np.exp(le - m)
        pi = float(np.clip(r.mean(), 1e-9, 1 - 1e-9))
        rate = r.sum() / max((r * z).sum(), 1e-12)
        q = 1 - r
        mu = (q * z).sum() / max(q.sum(), 1e-12)
        sigma = float(np.sqrt(max((q * (z - mu) ** 2).sum() / max(q.sum(), 1e-12), 1e-8)))
        if abs(ll - prev) < tol:
            converged = True
            break
        prev = ll
    return MixtureFit("exp_normal", pi, {"rate": rate / scale, "mu": mu * scale, "sigma": sigma * scale},
                      float(ll - np.log(scale)), it, converged)


_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def norm_logpdf(x: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    """``scipy.stats.norm.logpdf(x, mu, sigma)`` without its per-call argument checks
    (the EM loops call it thousands of times per layer)."""
    return -0.5 * ((x - mu) / sigma) ** 2 - np.log(sigma) - _LOG_SQRT_2PI


def gamma_logpdf(x: np.ndarray, log_x: np.ndarray, shape: float, scale: float) -> np.ndarray:
    """``scipy.stats.gamma.logpdf(x, shape, scale=scale)`` from ``x`` and ``log x``, without
    scipy's per-call argument checks: ``(k - 1) log x - x / s - log Gamma(k) - k log s``."""
    return (shape - 1) * log_x - x / scale - _sp.gammaln(shape) - shape * np.log(scale)


def _gamma_shapes(means: np.ndarray, mean_logs: np.ndarray) -> np.ndarray:
    """Weighted ML shapes of gammas: solve log k - digamma(k) = log(mean) - mean_log for
    each entry (Newton from Minka's start, each entry stopped at its own convergence)."""
    s = np.maximum(np.log(means) - mean_logs, 1e-8)
    k = (3 - s + np.sqrt((s - 3) ** 2 + 24 * s)) / (12 * s)  # Minka's start
    done = np.zeros(k.shape, bool)
    for _ in range(50):
        f = np.log(k) - _sp.digamma(k) - s
        k_new = k - f / (1 / k - _sp.polygamma(1, k))
        k_new = np.where(k_new <= 0, k / 2, k_new)
        conv = np.abs(k_new - k) < 1e-10 * k
        k = np.where(done, k, k_new)
        done |= conv
        if done.all():
            break
    return np.clip(k, 1e-3, 1e6)


def fit_two_gammas(x: ArrayLike, *, max_iter: int = 500, tol: float = 1e-9) -> MixtureFit:
    """EM fit of ``pi * Gamma(k1, s1) + (1 - pi) * Gamma(k2, s2)`` to non-negative values.

    Deterministic: the components start from the lower and upper halves of the sorted
    values (moment estimates), ``pi = 1/2``; each M-step solves the weighted ML shape
    by Newton's method (no sampling). Exactly-zero values (dead units) have no gamma
    density; they are counted to the dead-like component (the one with the smaller
    mean) and the mixture is fitted to the positive values.

    Parameters
    ----------
    x : array (n,) of values >= 0 (at least 4 positive)

    Returns
    -------
    MixtureFit with params ``shape1, scale1`` (dead-like) and ``shape2, scale2``

    Introduced in: Chapter 4
    """
    x = _prep(x)
    zeros = int(np.sum(x == 0))
    pos = x[x > 0]
    if pos.size < 4:
        return MixtureFit("two_gammas", 1.0, {}, float("nan"), 0, True)
    scale = pos.mean()
    z = pos / scale
    lz = np.log(z)
    srt = np.sort(z)
    halves = (srt[: len(z) // 2], srt[len(z) // 2:])
    comps = []
    for h in halves:
        m, v = h.mean(), max(h.var(), 1e-6 * h.mean() ** 2)
        comps.append((m * m / v, v / m))  # shape, scale
    pi = 0.5
    prev, ll, it, converged = -np.inf, -np.inf, 0, False
    for it in range(1, max_iter + 1):
        l1 = np.log(pi) + gamma_logpdf(z, lz, *comps[0])
        l2 = np.log1p(-pi) + gamma_logpdf(z, lz, *comps[1])
        m = np.logaddexp(l1, l2)
        ll = m.mean()
        r = np.exp(l1 - m)
        pi = float(np.clip(r.mean(), 1e-9, 1 - 1e-9))
        w = np.stack([r, 1 - r])
        sw = np.maximum(w.sum(1), 1e-12)
        mean = (w @ z) / sw
        k = _gamma_shapes(mean, (w @ lz) / sw)
        comps = [(float(k[0]), float(mean[0] / k[0])), (float(k[1]), float(mean[1] / k[1]))]
        if abs(ll - prev) < tol:
            converged = True
            break
        prev = ll
    if comps[0][0] * comps[0][1] > comps[1][0] * comps[1][1]:  # component 1 = smaller mean
        comps = comps[::-1]
        pi = 1 - pi
    dead = (zeros + pi * pos.size) / x.size
    params = {"shape1": comps[0][0], "scale1": comps[0][1] * scale,
              "shape2": comps[1][0], "scale2": comps[1][1] * scale, "pi_positive": pi}
    return MixtureFit("two_gammas", float(dead), params, float(ll - np.log(scale)), it, converged)
