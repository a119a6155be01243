"""Closed forms of Chapter 3: random-features regression and the linear system Ax = b."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ... import config
from ... import data as _data
from ...config import check_positive


@dataclass
class RandomFeaturesResult:
    """Test error of random-features regression.

    Attributes
    ----------
    ratios : ndarray (R,) – N / n
    lambdas : ndarray (L,)
    test_mse : ndarray (L, S, R) – mean squared error against the noise-free teacher
    train_mse : ndarray (L, S, R)
    norm : ndarray (L, S, R) – norm of the coefficient vector
    n_train : int
    """

    ratios: np.ndarray
    lambdas: np.ndarray
    test_mse: np.ndarray
    train_mse: np.ndarray
    norm: np.ndarray
    n_train: int


def ridge_fit(Phi: torch.Tensor, y: torch.Tensor, lambdas: Sequence[float]) -> list[torch.Tensor]:
    """Ridge solutions of ``|Phi b - y|^2 / n + lam |b|^2`` for every lam, from one SVD.

    ``lam = 0`` gives the minimum-norm least-squares solution ``pinv(Phi) @ y`` (singular
    values below the usual rank cutoff are treated as zero).

    Parameters
    ----------
    Phi : Tensor (n, N)
    y : Tensor (n,)
    lambdas : sequence of float >= 0

    Returns
    -------
    list of Tensor (N,), one per lambda

    Introduced in: Chapter 3
    """
    n = Phi.shape[0]
    U, S, Vh = torch.linalg.svd(Phi, full_matrices=False)
    Uty = U.T @ y
    cutoff = S.max() * max(Phi.shape) * torch.finfo(S.dtype).eps
    out = []
    for lm in lambdas:
        if lm == 0:
            inv = torch.where(S > cutoff, 1 / S, torch.zeros_like(S))
        else:
            inv = S / (S ** 2 + n * lm)
        out.append(Vh.T @ (inv * Uty))
    return out


def random_features_sweep(n_train: int = 100, d: int = 20, *, n_ratios: int = 40,
                          lambdas: Sequence[float] = (0.0, 1e-2), n_seeds: int = 5,
                          noise_std: float = 0.5, n_test: int = 1000, seed: int = 0) -> RandomFeaturesResult:
    """Ridge / minimum-norm least squares on N random ReLU features, N/n from 0.1 to 10.

    Features ``phi(x) = relu(V x) / sqrt(N)`` with ``V_ij ~ N(0, 1/d)``; the first N rows of
    one V per seed are used, so the feature sets are nested. The fit minimises
    ``|Phi b - y|^2 / n + lam |b|^2``; ``lam = 0`` gives the minimum-norm least-squares
    solution (pseudoinverse). All lambdas come from one SVD of Phi.

    Parameters
    ----------
    n_train : int – n
    d : int – input dimension of the linear teacher (:func:`overparam.data.make_teacher_regression`)
    n_ratios : int – number of N/n values, log-spaced in [0.1, 10] (N is rounded, unique)
    lambdas : ridge strengths (0 allowed)
    n_seeds : int – independent draws of data and features
    noise_std : float – teacher label noise
    n_test : int
    seed : int – the run's seed; draw s uses the streams ``(seed, "rf data s")`` and
        ``(seed, "rf features s")`` of :func:`overparam.config.seed_stream`

    Returns
    -------
    RandomFeaturesResult

    Introduced in: Chapter 3
    """
    check_positive("n_train", n_train, integer=True)
    check_positive("n_seeds", n_seeds, integer=True)
    Ns = np.unique(np.round(np.geomspace(0.1, 10, n_ratios) * n_train).astype(int))
    Ns = Ns[Ns >= 1]
    lam = np.asarray(lambdas, dtype=float)
    shape = (len(lam), n_seeds, len(Ns))
    test, train, norm = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    with config.threads(1):  # small SVDs: threads only add synchronisation
        _rf_fill(test, train, norm, Ns, lam, n_train, d, n_seeds, noise_std, n_test, seed)
    return RandomFeaturesResult(Ns / n_train, lam, test, train, norm, n_train)


def _rf_fill(test, train, norm, Ns, lam, n_train, d, n_seeds, noise_std, n_test, seed) -> None:
    for s in range(n_seeds):
        X, y, Xt, ft = _data.make_teacher_regression(
            n_train, n_test, d, noise_std=noise_std, seed=config.seed_stream(seed, f"rf data {s}"))
        g = config.generator(seed, f"rf features {s}")
        V = torch.randn(int(Ns.max()), d, generator=g, dtype=torch.float64) / math.sqrt(d)
        F_all, Ft_all = torch.relu(X @ V.T), torch.relu(Xt @ V.T)
        for r, N in enumerate(Ns):
            Phi, Phit = F_all[:, :N] / math.sqrt(N), Ft_all[:, :N] / math.sqrt(N)
            for li, b in enumerate(ridge_fit(Phi, y, lam)):
                test[li, s, r] = torch.mean((Phit @ b - ft) ** 2).item()
                train[li, s, r] = torch.mean((Phi @ b - y) ** 2).item()
                norm[li, s, r] = b.norm().item()


# --------------------------------------------------------------------------- 2. linear system


@dataclass
class LinearSystemResult:
    """Minimum-norm solutions of A x = b (m rows) as the number of columns grows.

    Attributes
    ----------
    cols : ndarray (K,)
    rank : ndarray (S, K)
    norm : ndarray (S, K) – |x| of the minimum-norm least-squares solution
    residual : ndarray (S, K) – |A x - b| / sqrt(m)
    smin : ndarray (S, K) – smallest nonzero singular value of A
    rows : int
    """

    cols: np.ndarray
    rank: np.ndarray
    norm: np.ndarray
    residual: np.ndarray
    smin: np.ndarray
    rows: int


def linear_system_sweep(rows: int = 40, *, max_ratio: float = 3.0, n_seeds: int = 10,
                        seed: int = 0) -> LinearSystemResult:
    """Rank and minimum-norm solution of a Gaussian system A x = b as columns pass rows.

    ``A`` (rows x n) has N(0, 1) entries (columns nested: the first n of one draw), ``b``
    ~ N(0, I). For n < rows the least-squares solution leaves a residual; at n = rows the
    square system is solved exactly by a large x (its smallest singular value is near 0);
    beyond, the minimum-norm x shrinks as more columns share the work.

    Returns
    -------
    LinearSystemResult with cols = 1..max_ratio*rows

    Introduced in: Chapter 3
    """
    check_positive("rows", rows, integer=True)
    check_positive("n_seeds", n_seeds, integer=True)
    cols = np.arange(1, int(max_ratio * rows) + 1)
    shape = (n_seeds, len(cols))
    rank, norm, res, smin = (np.zeros(shape) for _ in range(4))
    with config.threads(1):  # small SVDs: threads only add synchronisation
        for s in range(n_seeds):
            g = config.generator(seed, f"linear system {s}")
            A_all = torch.randn(rows, int(cols.max()), generator=g, dtype=torch.float64)
            b = torch.randn(rows, generator=g, dtype=torch.float64)
            for k, n in enumerate(cols):
                A = A_all[:, :n]
                U, S, Vh = torch.linalg.svd(A, full_matrices=False)
                r = int((S > S.max() * max(A.shape) * torch.finfo(S.dtype).eps).sum())
                x = Vh[:r].T @ ((U[:, :r].T @ b) / S[:r])  # pinv(A) @ b from the same SVD
                rank[s, k], norm[s, k] = r, x.norm().item()
                res[s, k] = ((A @ x - b).norm() / math.sqrt(rows)).item()
                smin[s, k] = S[r - 1].item()
    return LinearSystemResult(cols, rank, norm, res, smin, rows)
