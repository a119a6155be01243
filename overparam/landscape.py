"""The loss landscape along lines: between two solutions, beyond them, and barrier heights.

Works on flat parameter vectors and a functional model ``apply(theta, X) -> logits``
(a :class:`overparam.hessian.FlatMLP`, or any ``nn.Module`` through
:func:`overparam.hessian.module_to_functional`). The points of a path are evaluated as
one batched computation (``torch.func.vmap`` over the stacked parameter vectors).

Introduced in: Chapter 2 (large batch, then small batch); reused by the connectivity chapter.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.func import vmap

from .config import check_choice, check_positive
from .hessian import LOSSES, Apply, output_loss


def interpolate(theta_a: torch.Tensor, theta_b: torch.Tensor, alphas) -> torch.Tensor:
    """Points ``(1 - alpha) theta_a + alpha theta_b`` on the line through two solutions.

    Parameters
    ----------
    theta_a, theta_b : Tensor, shape (M,)
    alphas : array_like, shape (P,); values outside [0, 1] extend the line beyond each end

    Returns
    -------
    Tensor, shape (P, M)

    Introduced in: Chapter 2
    """
    if theta_a.shape != theta_b.shape or theta_a.ndim != 1:
        raise ValueError(f"theta_a and theta_b must be flat vectors of one shape, got "
                         f"{tuple(theta_a.shape)} and {tuple(theta_b.shape)}")
    a = torch.as_tensor(np.asarray(alphas, dtype=float), dtype=theta_a.dtype, device=theta_a.device)
    return theta_a[None] + a[:, None] * (theta_b - theta_a)[None]


def evaluate(apply: Apply, thetas: torch.Tensor, X: torch.Tensor, y: torch.Tensor,
             loss: str = "ce", chunk_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Mean loss and error rate of each parameter vector in a stack.

    Parameters
    ----------
    thetas : Tensor, shape (P, M)
    X : Tensor (N, d);  y : LongTensor (N,)

    Returns
    -------
    loss : ndarray (P,);  error : ndarray (P,), fraction misclassified

    Introduced in: Chapter 2
    """
    check_choice("loss", loss, LOSSES)
    check_positive("chunk_size", chunk_size, integer=True)
    N = X.shape[0]
    X = X.to(thetas.device, thetas.dtype)
    y = y.to(thetas.device)
    tot_loss = torch.zeros(thetas.shape[0], dtype=thetas.dtype, device=thetas.device)
    wrong = torch.zeros(thetas.shape[0], dtype=thetas.dtype, device=thetas.device)
    with torch.no_grad():
        for s in range(0, N, chunk_size):
            Xc, yc = X[s:s + chunk_size], y[s:s + chunk_size]
            logits = vmap(lambda th: apply(th, Xc))(thetas)  # (P, n, k)
            tot_loss += vmap(lambda lg: output_loss(lg, yc, loss))(logits) * Xc.shape[0]
            wrong += (logits.argmax(-1) != yc).sum(-1)
    return (tot_loss / N).cpu().numpy(), (wrong / N).cpu().numpy()


@dataclass
class LineScan:
    """Loss and error along a line; ``alphas`` 0 and 1 are the two ends.

    Introduced in: Chapter 2
    """

    alphas: np.ndarray
    train_loss: np.ndarray
    train_error: np.ndarray
    test_loss: np.ndarray | None = None
    test_error: np.ndarray | None = None


def scan_line(apply: Apply, theta_a: torch.Tensor, theta_b: torch.Tensor, X: torch.Tensor,
              y: torch.Tensor, alphas, X_test: torch.Tensor | None = None,
              y_test: torch.Tensor | None = None, loss: str = "ce") -> LineScan:
    """Loss and error on the line through ``theta_a`` (alpha=0) and ``theta_b`` (alpha=1).

    Alphas below 0 extend the line away from ``theta_a`` on the far side from
    ``theta_b``; alphas above 1 extend it beyond ``theta_b``.

    Returns
    -------
    LineScan with arrays of shape (P,) (test arrays only when a test set is given)

    Introduced in: Chapter 2
    """
    pts = interpolate(theta_a, theta_b, alphas)
    tr_l, tr_e = evaluate(apply, pts, X, y, loss)
    te_l = te_e = None
    if X_test is not None and y_test is not None:
        te_l, te_e = evaluate(apply, pts, X_test, y_test, loss)
    return LineScan(np.asarray(alphas, dtype=float), tr_l, tr_e, te_l, te_e)


def scan_direction(apply: Apply, theta: torch.Tensor, direction: torch.Tensor, X: torch.Tensor,
                   y: torch.Tensor, ts, loss: str = "ce", normalize: bool = True) -> LineScan:
    """Loss and error at ``theta + t * u`` for each t, with ``u`` the (unit, if
    ``normalize``) direction; e.g. the top Hessian eigenvector or a random direction.

    Introduced in: Chapter 2
    """
    u = direction / direction.norm() if normalize else direction
    return scan_line(apply, theta, theta + u, X, y, ts, loss=loss)


def barrier_height(alphas, losses) -> float:
    """Largest rise of the loss above the straight line between the ends (alpha 0 and 1).

    ``max_alpha [L(alpha) - ((1 - alpha) L(0) + alpha L(1))]`` over alphas in [0, 1];
    about 0 when the two solutions are linearly connected.

    Introduced in: Chapter 2
    """
    a = np.asarray(alphas, dtype=float)
    L = np.asarray(losses, dtype=float)
    if not (np.any(np.isclose(a, 0)) and np.any(np.isclose(a, 1))):
        raise ValueError("alphas must contain both ends, 0 and 1")
    L0, L1 = L[np.argmin(np.abs(a))], L[np.argmin(np.abs(a - 1))]
    inside = (a >= 0) & (a <= 1)
    return float(np.max(L[inside] - ((1 - a[inside]) * L0 + a[inside] * L1)))
