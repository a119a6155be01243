"""Hidden units up to permutation: aligning two networks, and dropout stability.

Permuting the hidden units of an MLP changes its parameters but not its function. Two
networks trained from different starts may therefore sit far apart in parameter space
while computing nearly the same thing with their units in another order; aligning one
to the other before interpolating removes that part of the distance (Entezari et al.
2022; Ainsworth et al. 2023, "Git Re-Basin").

- :func:`permute` – apply one permutation per hidden layer (the function is unchanged);
  :func:`random_permutations` draws them.
- :func:`weight_matching` – permutations of ``b``'s units that maximise
  ``sum_l <W_l^a, P_l W_l^b P_{l-1}^T>`` (weights and biases), by coordinate descent over
  layers, each step an assignment problem solved by
  :func:`scipy.optimize.linear_sum_assignment`.
- :func:`activation_matching` – per hidden layer, the assignment that maximises the
  correlation of the two networks' unit activations on data.
- :func:`align` – ``b`` permuted onto ``a`` by either method.
- :func:`dropout_loss` – loss after dropping a fraction of the units of the hidden layers
  and rescaling the others (dropout stability, Kuditipudi et al. 2019; the comparison of
  Nguyen 2021).

Networks are the MLPs of :mod:`overparam.models` (layout ``[W1 (d, w1), b1, ...,
Wout (w_L, C), bout]``, ``h @ W``), given as lists of tensors at their true shapes
(one network, no member dimension). Permutations are LongTensors ``perm`` of length
``w_l``: unit ``j`` of the permuted network is unit ``perm[j]`` of the original.

Introduced in: Chapter 8
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from .config import check_choice, check_fraction, check_positive

METHODS = ("weight", "activation")


def _check_mlp(arch, params: Sequence[torch.Tensor], name: str = "params") -> None:
    if arch.arch != "mlp":
        raise ValueError(f"arch={arch.arch!r} is not supported; alignment and dropout work on 'mlp'")
    shapes = [tuple(p.shape) for p in params]
    if shapes != arch.shapes():
        raise ValueError(f"{name} has shapes {shapes}; {arch} needs {arch.shapes()} "
                         "(one network at its true widths, no member dimension)")


def random_permutations(arch, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """One uniformly random permutation per hidden layer of ``arch``.

    Introduced in: Chapter 8
    """
    return [torch.randperm(w, generator=generator) for w in arch.widths]


def permute(arch, params: Sequence[torch.Tensor], perms: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The network with hidden units reordered: unit j of layer l becomes unit ``perms[l][j]``.

    Incoming weights (columns of ``W_l``), biases and outgoing weights (rows of
    ``W_{l+1}``) move together, so the network computes the same function.

    Introduced in: Chapter 8
    """
    _check_mlp(arch, params)
    if len(perms) != arch.depth:
        raise ValueError(f"perms has {len(perms)} permutations; {arch} has {arch.depth} hidden layers")
    out = [p.detach().clone() for p in params]
    for i, (w, perm) in enumerate(zip(arch.widths, perms)):
        perm = torch.as_tensor(perm, dtype=torch.long)
        if perm.shape != (w,) or not torch.equal(torch.sort(perm).values, torch.arange(w)):
            raise ValueError(f"perms[{i}] is not a permutation of {w} units")
        out[2 * i] = out[2 * i][:, perm]
        out[2 * i + 1] = out[2 * i + 1][perm]
        out[2 * i + 2] = out[2 * i + 2][perm, :]
    return out


def _assign(similarity: torch.Tensor) -> torch.Tensor:
    """Permutation ``perm`` maximising ``sum_j S[j, perm[j]]`` (a linear assignment)."""
    rows, cols = linear_sum_assignment(similarity.detach().cpu().double().numpy(), maximize=True)
    return torch.as_tensor(cols[np.argsort(rows)], dtype=torch.long)


def weight_matching(arch, a: Sequence[torch.Tensor], b: Sequence[torch.Tensor], *,
                    max_iter: int = 100, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Permutations of ``b``'s hidden units that bring its weights closest to ``a``'s.

    Maximises ``sum_l <W_l^a, P_l W_l^b P_{l-1}^T> + <b_l^a, P_l b_l^b>`` by coordinate
    descent: each pass visits the hidden layers in a random order and solves, for that
    layer with the others fixed, the assignment problem whose similarity of unit j of
    ``a`` with unit k of ``b`` is the inner product of their incoming weights (after the
    previous layer's permutation), biases and outgoing weights (after the next layer's).
    Stops when a pass changes nothing (Ainsworth et al. 2023, algorithm 1).

    Returns
    -------
    list of LongTensor, one per hidden layer; :func:`permute` (arch, b, perms) is the aligned ``b``

    Introduced in: Chapter 8
    """
    _check_mlp(arch, a, "a")
    _check_mlp(arch, b, "b")
    check_positive("max_iter", max_iter, integer=True)
    a = [p.detach().double().cpu() for p in a]
    b = [p.detach().double().cpu() for p in b]
    L = arch.depth
    perms = [torch.arange(w) for w in arch.widths]
    for _ in range(max_iter):
        changed = False
        order = torch.randperm(L, generator=generator).tolist() if generator is not None else list(range(L))
        for i in order:
            W_in_b = b[2 * i] if i == 0 else b[2 * i][perms[i - 1], :]      # (w_{i-1}, w_i), rows aligned
            W_out_b = b[2 * i + 2] if i == L - 1 else b[2 * i + 2][:, perms[i + 1]]  # (w_i, w_{i+1}), cols aligned
            S = (a[2 * i].T @ W_in_b + a[2 * i + 1][:, None] * b[2 * i + 1][None, :]
                 + a[2 * i + 2] @ W_out_b.T)                                # (w_i of a, w_i of b)
            new = _assign(S)
            if not torch.equal(new, perms[i]):
                old_score = S[torch.arange(len(new)), perms[i]].sum()
                if S[torch.arange(len(new)), new].sum() > old_score + 1e-12 * (1 + old_score.abs()):
                    perms[i], changed = new, True
        if not changed:
            break
    return perms


@torch.no_grad()
def hidden_activations(arch, params: Sequence[torch.Tensor], X: torch.Tensor) -> list[torch.Tensor]:
    """Post-ReLU activations (n, w_l) of every hidden layer of one MLP on inputs X (n, d).

    Introduced in: Chapter 8
    """
    _check_mlp(arch, params)
    h, out = X.to(params[0].dtype), []
    for i in range(arch.depth):
        h = torch.relu(h @ params[2 * i] + params[2 * i + 1])
        out.append(h)
    return out


def activation_matching(arch, a: Sequence[torch.Tensor], b: Sequence[torch.Tensor],
                        X: torch.Tensor) -> list[torch.Tensor]:
    """Permutations of ``b``'s hidden units that best correlate its activations with ``a``'s.

    For each hidden layer, the similarity of unit j of ``a`` and unit k of ``b`` is the
    Pearson correlation of their activations over the inputs X (a dead unit correlates
    0 with everything); the assignment maximising the total is solved exactly. A
    layer's activations do not depend on how earlier layers are ordered, so the layers
    are matched independently (Ainsworth et al. 2023; Li et al. 2015).

    Returns
    -------
    list of LongTensor, one per hidden layer

    Introduced in: Chapter 8
    """
    _check_mlp(arch, a, "a")
    _check_mlp(arch, b, "b")
    Ha = hidden_activations(arch, [p.double() for p in a], X.double())
    Hb = hidden_activations(arch, [p.double() for p in b], X.double())
    perms = []
    for ha, hb in zip(Ha, Hb):
        za = (ha - ha.mean(0)) / ha.std(0).clamp_min(1e-12)
        zb = (hb - hb.mean(0)) / hb.std(0).clamp_min(1e-12)
        perms.append(_assign(za.T @ zb / ha.shape[0]))
    return perms


def align(arch, a: Sequence[torch.Tensor], b: Sequence[torch.Tensor], method: str = "weight",
          X: torch.Tensor | None = None, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """``b`` with its hidden units permuted onto ``a`` (same function as ``b``).

    Parameters
    ----------
    method : "weight" (:func:`weight_matching`) or "activation" (:func:`activation_matching`,
        needs inputs ``X``)

    Introduced in: Chapter 8
    """
    check_choice("method", method, METHODS)
    if method == "activation":
        if X is None:
            raise ValueError("method='activation' needs inputs X")
        perms = activation_matching(arch, a, b, X)
    else:
        perms = weight_matching(arch, a, b, generator=generator)
    return [p.to(b[0].dtype) for p in permute(arch, b, perms)]


@torch.no_grad()
def dropout_loss(arch, params: Sequence[torch.Tensor], X: torch.Tensor, y: torch.Tensor, *,
                 fraction: float = 0.5, layers: Sequence[int] | None = None, n_draws: int = 8,
                 generator: torch.Generator | None = None) -> np.ndarray:
    """Cross-entropy after dropping a fraction of hidden units and rescaling the rest.

    In each hidden layer of ``layers`` (default: all), ``round(fraction * w)`` units
    chosen at random are removed and the outgoing weights of the others are multiplied
    by ``1 / (1 - fraction)``, so the next layer's input keeps its expected size. A
    network is ``eps``-dropout stable (Kuditipudi et al. 2019) when some such subnetwork
    loses at most ``eps``; the minimum over draws estimates that from above.

    Returns
    -------
    ndarray (n_draws,): the loss of each random draw

    Introduced in: Chapter 8
    """
    _check_mlp(arch, params)
    check_fraction("fraction", fraction)
    if fraction >= 1:
        raise ValueError("fraction=1 is not allowed; at least one unit per layer must stay")
    check_positive("n_draws", n_draws, integer=True)
    layers = list(range(arch.depth)) if layers is None else list(layers)
    for li in layers:
        if not 0 <= li < arch.depth:
            raise ValueError(f"layers={layers!r} is not allowed; hidden layers are 0..{arch.depth - 1}")
    X = X.to(params[0].device, params[0].dtype)
    y = y.to(params[0].device)
    out = []
    for _ in range(n_draws):
        h = X
        for i in range(arch.depth):
            h = torch.relu(h @ params[2 * i] + params[2 * i + 1])
            if i in layers:
                w = arch.widths[i]
                n_drop = int(round(fraction * w))
                keep = torch.ones(w, dtype=h.dtype, device=h.device)
                keep[torch.randperm(w, generator=generator)[:n_drop].to(h.device)] = 0
                h = h * keep * (w / max(w - n_drop, 1))
        logits = h @ params[-2] + params[-1]
        out.append(float(F.cross_entropy(logits, y)))
    return np.asarray(out)
