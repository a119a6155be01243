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
