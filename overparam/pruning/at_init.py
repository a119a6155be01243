"""Pruning at initialization (SNIP, GraSP) and instability (linear mode connectivity).

Introduced in: Chapter 7
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .. import models
from ..config import check_choice, check_positive
from ..landscape import barrier_height, scan_line
from .masks import check_rate, ones_masks, prune, repeat_params, rewind, weights
from .training import SplitData, StepConfig, train_stack


def _batch_loss(arch, params, X, y):
    out = models.forward(arch, params, X)
    M = out.shape[0]
    return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.expand(M, -1).reshape(-1),
                           reduction="none").reshape(M, -1).mean(1).sum()


def snip_scores(arch: models.Arch, params: Sequence[torch.Tensor], X: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """SNIP connection sensitivity |g * w| of every weight at the given parameters (Lee et al. 2019).

    Parameters
    ----------
    params : list of (M, ...) stacked parameters (usually the init)
    X, y : one batch (B, d), (B,) shared by all members

    Returns
    -------
    list of (M, ...) keep-scores, one per weight tensor

    Introduced in: Chapter 7
    """
    ps = [p.detach().clone().requires_grad_(True) for p in params]
    grads = torch.autograd.grad(_batch_loss(arch, ps, X, y), ps)
    return [(g * p).abs().detach() for g, p in zip(weights(grads), weights(ps))]


def grasp_scores(arch: models.Arch, params: Sequence[torch.Tensor], X: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """GraSP keep-scores w * (H g) (Wang et al. 2020): pruning removes the lowest, i.e. the
    weights whose removal least reduces the gradient flow g^T g.

    GraSP's score is S = -w * (H g) and it removes the largest S; here the keep-score
    is -S. No logit temperature is used.

    Returns
    -------
    list of (M, ...) keep-scores, one per weight tensor

    Introduced in: Chapter 7
    """
    ps = [p.detach().clone().requires_grad_(True) for p in params]
    g = torch.autograd.grad(_batch_loss(arch, ps, X, y), ps, create_graph=True)
    gd = [t.detach() for t in g]
    Hg = torch.autograd.grad(sum((a * b).sum() for a, b in zip(g, gd)), ps)
    return [(p * h).detach() for p, h in zip(weights(ps), weights(Hg))]


def prune_at_init(method: str, arch: models.Arch, params: Sequence[torch.Tensor], X: torch.Tensor,
                  y: torch.Tensor, target_density: float, scope: str = "global",
                  generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """One-shot masks at initialization keeping ``target_density`` of the weights.

    Parameters
    ----------
    method : "snip", "grasp" (one global ranking by default) or "random" (every layer
        pruned at random to ``target_density``)
    target_density : fraction of weights kept, 0 < target_density < 1

    Returns
    -------
    list of (M, ...) masks

    Introduced in: Chapter 7
    """
    check_choice("method", method, ("snip", "grasp", "random"))
    check_rate(target_density, "target_density")
    masks = ones_masks(params)
    if method == "random":
        return prune([torch.rand(m.shape, generator=generator).to(m.device) for m in masks], masks,
                     1 - target_density, "layer", output_factor=1.0)
    sc = (snip_scores if method == "snip" else grasp_scores)(arch, params, X, y)
    return prune(sc, masks, 1 - target_density, scope, output_factor=1.0)


def instability(arch: models.Arch, params_a: Sequence[torch.Tensor], params_b: Sequence[torch.Tensor],
                X: torch.Tensor, y: torch.Tensor, n_alphas: int = 11) -> np.ndarray:
    """Error barrier on the straight line between two stacked sets of networks (member i of a
    with member i of b), via :mod:`overparam.landscape`.

    The barrier is max over alpha of err(alpha) minus the chord between the end errors
    (:func:`overparam.landscape.barrier_height`); 0 when the two are linearly connected.

    Parameters
    ----------
    params_a, params_b : list of (M, ...) final parameters of the two copies
    X, y : evaluation set (e.g. the test set)
    n_alphas : points on the line, ends included

    Returns
    -------
    ndarray (M,) error barriers (fractions)

    Introduced in: Chapter 7
    """
    check_positive("n_alphas", n_alphas, integer=True)
    A, B = models.flatten(params_a).to(X.device), models.flatten(params_b).to(X.device)
    alphas = np.linspace(0, 1, max(n_alphas, 2))
    f = models.Flat(arch)
    return np.array([barrier_height(alphas, scan_line(f, A[i], B[i], X, y, alphas).train_error)
                     for i in range(A.shape[0])])


@dataclass
class InstabilityResult:
    """Instability of M networks when the two copies start at each rewind iteration.

    Attributes
    ----------
    rewind_steps : ndarray (K,)
    barrier : ndarray (K, M) test-error barriers
    test_acc : ndarray (K, M) mean test accuracy of the two copies

    Introduced in: Chapter 7
    """

    rewind_steps: np.ndarray
    barrier: np.ndarray
    test_acc: np.ndarray


def instability_vs_rewind(arch: models.Arch, snapshots: dict, masks: Sequence[torch.Tensor] | None,
                          data: SplitData, cfg: StepConfig, rewind_steps: Sequence[int],
                          seeds: Sequence[int]) -> InstabilityResult:
    """For each rewind iteration k: two copies of (mask times) the values at k, trained for the
    rest of training (steps - k) with different data orders; their error barrier.

    Parameters
    ----------
    snapshots : dict k -> list of (M, ...) parameters at iteration k (from
        :func:`~overparam.pruning.training.train_stack` with ``snapshot_steps``)
    masks : list of (M, ...) masks (a ticket) or None (the dense network)
    seeds : (M,) order seeds of copy a; copy b uses ``seed_stream``-derived other orders

    Returns
    -------
    InstabilityResult

    Introduced in: Chapter 7
    """
    from ..config import seed_stream
    bars, accs = [], []
    for k in rewind_steps:
        if k not in snapshots:
            raise ValueError(f"no snapshot at iteration {k}; train with snapshot_steps including it")
        start = rewind(snapshots[k], masks)
        M = start[0].shape[0]
        mk = None if masks is None else repeat_params(masks, 2)
        left = max(1, cfg.steps - int(k))
        rest = StepConfig(left, cfg.lr, cfg.optimizer, cfg.momentum, cfg.batch_size, left)
        order = list(seeds) + [seed_stream(int(s), "instability-copy-b") for s in seeds]
        run = train_stack(arch, repeat_params(start, 2), mk, data, rest, order_seeds=order,
                          label=f"instability k={k}")
        a, b = [p[:M] for p in run.params], [p[M:] for p in run.params]
        bars.append(instability(arch, a, b, data.X_test, data.y_test))
        accs.append((run.test_acc[:M] + run.test_acc[M:]) / 2)
    return InstabilityResult(np.array(list(rewind_steps)), np.stack(bars), np.stack(accs))
