"""Every data set of the book, generated or embedded locally: nothing is downloaded.

Sections: the 1101 pattern and the AND quadrants (Chapter 1); further sets are added by
the chapters that introduce them.
"""
from __future__ import annotations

import torch

from .config import check_positive

PATTERN_1101 = (1.0, 1.0, 0.0, 1.0)  # the kernel that separates the 1101 task perfectly


def make_pattern_1101(n: int, length: int = 64, *, generator: torch.Generator | None = None,
                      device: torch.device | str = "cpu", batch_shape: tuple[int, ...] = ()):
    """Sample the 1101 task: n negative and n positive sequences of U[-0.5, 0.5] floats.

    A positive example has the values at positions i, i+1, i+3 set to 1 for a random i
    (position i+2 stays noise), so the kernel [1, 1, 0, 1] followed by a max over
    positions scores every positive above 2.5 and every negative below 1.5.

    Parameters
    ----------
    n : int
        Number of pairs; the output holds n negatives then n positives.
    length : int
        Sequence length (64 in the source).
    batch_shape : tuple of int
        Leading dimensions, one independent draw per index (e.g. ``(n_models,)`` to give
        every member of a stacked ensemble its own examples).

    Returns
    -------
    X : Tensor, shape (*batch_shape, 2n, length)
    y : Tensor, shape (*batch_shape, 2n), 0. for negatives, 1. for positives

    Introduced in: Chapter 1
    """
    check_positive("n", n, integer=True)
    check_positive("length", length, integer=True)
    if length < 4:
        raise ValueError(f"length={length!r} is not allowed; expected an integer >= 4")
    X = torch.rand(*batch_shape, 2 * n, length, generator=generator, device=device) - 0.5
    pos = X[..., n:, :]
    start = torch.randint(0, length - 3, (*batch_shape, n, 1), generator=generator, device=device)
    for offset in (0, 1, 3):
        pos.scatter_(-1, start + offset, 1.0)
    y = torch.cat([torch.zeros(*batch_shape, n, device=device), torch.ones(*batch_shape, n, device=device)], -1)
    return X, y


def make_and_task(n: int, *, generator: torch.Generator | None = None,
                  device: torch.device | str = "cpu", batch_shape: tuple[int, ...] = ()):
    """Sample the AND task: x ~ N(0, I_2), y = (x1 > 0) and (x2 > 0).

    Returns
    -------
    X : Tensor, shape (*batch_shape, n, 2)
    y : Tensor, shape (*batch_shape, n), float 0./1.

    Introduced in: Chapter 1
    """
    check_positive("n", n, integer=True)
    X = torch.randn(*batch_shape, n, 2, generator=generator, device=device)
    y = ((X[..., 0] > 0) & (X[..., 1] > 0)).float()
    return X, y


# ---------------------------------------------------------------------------- Gaussian blobs
def make_blob_centres(k: int, d: int, *, scale: float = 1.0, generator: torch.Generator | None = None,
                      device: torch.device | str = "cpu") -> torch.Tensor:
    """Draw the centres of k Gaussian blobs in d dimensions, each ``N(0, scale^2 I_d)``.

    Returns
    -------
    centres : Tensor, shape (k, d)

    Introduced in: Chapter 2
    """
    check_positive("k", k, integer=True)
    check_positive("d", d, integer=True)
    check_positive("scale", scale)
    return (torch.randn(k, d, generator=generator) * scale).to(device)


def sample_blobs(centres: torch.Tensor, n: int, *, sigma: float = 0.5,
                 generator: torch.Generator | None = None):
    """Sample n points from the blobs around ``centres`` (k, d), classes balanced.

    Example i has label ``i mod k`` and lies at ``centres[label] + sigma * N(0, I_d)``;
    the order is then shuffled.

    Returns
    -------
    X : Tensor, shape (n, d), float32
    y : LongTensor, shape (n,), labels in 0..k-1

    Introduced in: Chapter 2
    """
    check_positive("n", n, integer=True)
    check_positive("sigma", sigma, allow_zero=True)
    k, d = centres.shape
    y = torch.arange(n) % k
    y = y[torch.randperm(n, generator=generator)]
    X = centres.cpu()[y] + sigma * torch.randn(n, d, generator=generator)
    return X.to(centres.device), y.to(centres.device)


def make_blobs(n_train: int, n_test: int, k: int, d: int, *, sigma: float = 0.5,
               scale: float = 1.0, seed: int = 0, device: torch.device | str = "cpu"):
    """Train and test sets of k Gaussian blobs in d dimensions (one draw of centres).

    The talk's Hessian experiments use k = 50 blobs in d = 100 dimensions.

    Returns
    -------
    X_train (n_train, d), y_train (n_train,), X_test (n_test, d), y_test (n_test,)

    Introduced in: Chapter 2
    """
    check_positive("seed", seed, integer=True, allow_zero=True)
    g = torch.Generator().manual_seed(int(seed))
    centres = make_blob_centres(k, d, scale=scale, generator=g)
    X_tr, y_tr = sample_blobs(centres, n_train, sigma=sigma, generator=g)
    X_te, y_te = sample_blobs(centres, n_test, sigma=sigma, generator=g)
    return X_tr.to(device), y_tr.to(device), X_te.to(device), y_te.to(device)
