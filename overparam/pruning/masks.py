"""Masks of stacked networks: keep-score criteria, layer-wise or global pruning, densities.

A network is a list of parameter tensors in the layout of :mod:`overparam.models`
(MLP ``[W (d, w), b (w), ..., W (w, C), b (C)]`` with ``x @ W``; CNN ``[K (w, c_in, 5),
b (w), ..., W (w * L, C), b (C)]``), each with a leading member dimension ``M``. A *mask*
is a list with one 0/1 tensor per weight tensor (biases are never pruned), same shapes.

Introduced in: Chapter 7
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from ..config import check_choice

SCOPES = ("layer", "global")
CRITERIA = ("large_final", "small_final", "large_init", "small_init", "magnitude_increase",
            "movement", "large_final_same_sign", "random")


def check_rate(rate: float, name: str = "rate") -> float:
    """Validate a pruning rate: a number with 0 < rate < 1, else one clear ValueError.

    Introduced in: Chapter 7
    """
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating)) or not 0 < rate < 1:
        raise ValueError(f"{name}={rate!r} is not allowed; expected a fraction pruned per round "
                         f"with 0 < {name} < 1 (e.g. 0.2)")
    return float(rate)


def weights(params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The prunable tensors (weights and kernels, not biases) of a parameter list.

    Introduced in: Chapter 7
    """
    return list(params[0::2])


def apply_masks(params: Sequence[torch.Tensor], masks: Sequence[torch.Tensor] | None) -> list[torch.Tensor]:
    """Parameters with every weight tensor multiplied by its mask (biases unchanged; copies).

    Introduced in: Chapter 7
    """
    if masks is None:
        return [p.clone() for p in params]
    return [p * masks[j // 2].to(p.device, p.dtype) if j % 2 == 0 else p.clone()
            for j, p in enumerate(params)]


rewind = apply_masks  # rewinding = saved values (iteration 0 or j) times the current mask


def density(masks: Sequence[torch.Tensor]) -> np.ndarray:
    """Fraction of weights remaining per member, shape (M,).

    Introduced in: Chapter 7
    """
    kept = sum(m.reshape(m.shape[0], -1).sum(1).double() for m in masks)
    total = sum(m[0].numel() for m in masks)
    return (kept / total).cpu().numpy()


def ones_masks(params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Masks that keep every weight.

    Introduced in: Chapter 7
    """
    return [torch.ones_like(w) for w in weights(params)]


def stack_rounds(masks_per_round: Sequence[Sequence[torch.Tensor]]) -> list[torch.Tensor]:
    """Concatenate several lists of stacked tensors along the member axis: (R * M, ...).

    Introduced in: Chapter 7
    """
    return [torch.cat([mr[j] for mr in masks_per_round]) for j in range(len(masks_per_round[0]))]


def repeat_params(params: Sequence[torch.Tensor], times: int) -> list[torch.Tensor]:
    """Tile stacked tensors ``times`` along the member axis: (times * M, ...).

    Introduced in: Chapter 7
    """
    return [p.repeat(times, *([1] * (p.ndim - 1))) for p in params]


def select(params: Sequence[torch.Tensor], idx) -> list[torch.Tensor]:
    """Members ``idx`` of stacked tensors.

    Introduced in: Chapter 7
    """
    return [p[idx] for p in params]


def criterion_scores(criterion: str, w_init: torch.Tensor, w_final: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Keep-scores of Zhou et al.'s mask criteria: the highest-scoring weights are kept.

    ``large_final`` |w_f|; ``small_final`` -|w_f|; ``large_init`` |w_i|; ``small_init``
    -|w_i|; ``magnitude_increase`` |w_f| - |w_i|; ``movement`` |w_f - w_i|;
    ``large_final_same_sign`` |w_f| where sign(w_f) = sign(w_i), else below every other
    weight; ``random`` uniform noise.

    Parameters
    ----------
    criterion : one of :data:`CRITERIA`
    w_init, w_final : tensors of one shape (any)

    Returns
    -------
    Tensor of the same shape

    Introduced in: Chapter 7
    """
    check_choice("criterion", criterion, CRITERIA)
    if criterion == "large_final":
        return w_final.abs()
    if criterion == "small_final":
        return -w_final.abs()
    if criterion == "large_init":
        return w_init.abs()
    if criterion == "small_init":
        return -w_init.abs()
    if criterion == "magnitude_increase":
        return w_final.abs() - w_init.abs()
    if criterion == "movement":
        return (w_final - w_init).abs()
    if criterion == "large_final_same_sign":
        same = torch.sign(w_final) == torch.sign(w_init)
        return torch.where(same, w_final.abs(), -1.0 - w_final.abs())
    return torch.rand(w_final.shape, generator=generator).to(w_final.device)


def _keep_top(scores: torch.Tensor, alive: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Per row of (M, N): 1 at the k[m] highest scores among alive entries, else 0."""
    s = torch.where(alive > 0, scores.double(), torch.tensor(-math.inf, dtype=torch.float64, device=scores.device))
    order = torch.argsort(s, dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(s.shape[1], device=s.device).expand_as(order).contiguous())
    return (ranks < k[:, None]).to(alive.dtype)


def prune(scores: Sequence[torch.Tensor], masks: Sequence[torch.Tensor], rate: float,
          scope: str = "layer", output_factor: float = 0.5) -> list[torch.Tensor]:
    """Remove the fraction ``rate`` of the surviving weights with the lowest scores.

    Parameters
    ----------
    scores : list of (M, ...) keep-scores, one per weight tensor
    masks : list of (M, ...) current 0/1 masks
    rate : fraction of survivors removed, 0 < rate < 1
    scope : ``"layer"`` (each tensor loses ``rate`` of its survivors; the output layer
        ``rate * output_factor``, Frankle & Carbin's convention) or ``"global"`` (one
        ranking over all weight tensors of a member)
    output_factor : rate multiplier of the last layer for layer-wise pruning

    Returns
    -------
    list of new masks; a member keeps ``round((1 - rate) * alive)`` weights per tensor
    (layer) or in total (global)

    Introduced in: Chapter 7
    """
    check_rate(rate)
    check_choice("scope", scope, SCOPES)
    if not 0 < output_factor <= 1:
        raise ValueError(f"output_factor={output_factor!r} is not allowed; expected 0 < output_factor <= 1")
    M = masks[0].shape[0]
    if scope == "layer":
        new = []
        for j, (s, m) in enumerate(zip(scores, masks)):
            r = rate * (output_factor if j == len(masks) - 1 else 1.0)
            alive = m.reshape(M, -1)
            k = torch.round(alive.sum(1) * (1 - r)).long()
            new.append(_keep_top(s.reshape(M, -1).to(m.device), alive, k).reshape(m.shape))
        return new
    flat_s = torch.cat([s.reshape(M, -1).to(masks[0].device) for s in scores], 1)
    flat_m = torch.cat([m.reshape(M, -1) for m in masks], 1)
    k = torch.round(flat_m.sum(1) * (1 - rate)).long()
    keep = _keep_top(flat_s, flat_m, k)
    out, c = [], 0
    for m in masks:
        n = m[0].numel()
        out.append(keep[:, c:c + n].reshape(m.shape))
        c += n
    return out


def random_masks_like(masks: Sequence[torch.Tensor], generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Random masks with exactly the per-layer, per-member number of survivors of ``masks``.

    Introduced in: Chapter 7
    """
    out = []
    for m in masks:
        flat = m.reshape(m.shape[0], -1)
        u = torch.rand(flat.shape, generator=generator).to(m.device)
        out.append(_keep_top(u, torch.ones_like(flat), flat.sum(1).long()).reshape(m.shape))
    return out


def mask_scores(criterion: str | Sequence[str], params0: Sequence[torch.Tensor],
                params_final: Sequence[torch.Tensor], generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Keep-scores of every weight tensor; ``criterion`` is one name or one per member.

    Introduced in: Chapter 7
    """
    w0, wf = weights(params0), weights(params_final)
    M = w0[0].shape[0]
    crits = [criterion] * M if isinstance(criterion, str) else list(criterion)
    if len(crits) != M:
        raise ValueError(f"criterion has {len(crits)} entries for {M} members")
    for c in crits:
        check_choice("criterion", c, CRITERIA)
    out = []
    for a, b in zip(w0, wf):
        a, b = a.cpu(), b.cpu()
        out.append(torch.stack([criterion_scores(c, a[i], b[i], generator) for i, c in enumerate(crits)]))
    return out


def movement_ratio(w_init: Sequence[torch.Tensor], w_final: Sequence[torch.Tensor],
                   masks: Sequence[torch.Tensor]) -> np.ndarray:
    """Mean |w_final - w_init| inside the mask over the mean outside it, per member (M,).

    Part of this ratio is built in when the mask keeps the largest |w_final|: see
    :func:`matched_movement_ratio` for the comparison at equal final magnitude.

    Introduced in: Chapter 7
    """
    M = masks[0].shape[0]
    mv = torch.cat([(b - a).abs().reshape(M, -1) for a, b in zip(w_init, w_final)], 1).double()
    mk = torch.cat([m.reshape(M, -1) for m in masks], 1).double().to(mv.device)
    return (((mv * mk).sum(1) / mk.sum(1)) / ((mv * (1 - mk)).sum(1) / (1 - mk).sum(1))).cpu().numpy()


def matched_movement_ratio(w_init: Sequence[torch.Tensor], w_final: Sequence[torch.Tensor],
                           masks: Sequence[torch.Tensor], n_bins: int = 20) -> np.ndarray:
    """Movement of masked-in weights over that of pruned weights *of equal final magnitude*.

    Within each layer, weights are put into ``n_bins`` quantile bins of |w_final|; in
    every bin that holds both kept and pruned weights, the mean |w_final - w_init| of
    each is taken, and the two are averaged over bins weighted by the number of kept
    weights in the bin. This removes the part of "kept weights move more" that comes
    from selecting large |w_final| (which a small init makes far from the init). NaN
    for a member with no bin holding both kinds.

    Returns
    -------
    ndarray (M,): kept movement / matched pruned movement

    Introduced in: Chapter 7
    """
    if n_bins < 2:
        raise ValueError(f"n_bins={n_bins!r} is not allowed; expected an integer >= 2")
    M = masks[0].shape[0]
    num, den = np.zeros(M), np.zeros(M)
    for a, b, m in zip(w_init, w_final, masks):
        a = a.reshape(M, -1).double().cpu()
        b = b.reshape(M, -1).double().cpu()
        k = m.reshape(M, -1).bool().cpu()
        mv, mag = (b - a).abs(), b.abs()
        for i in range(M):
            edges = torch.quantile(mag[i], torch.linspace(0, 1, n_bins + 1, dtype=torch.float64))
            idx = torch.bucketize(mag[i], edges[1:-1])
            for j in range(n_bins):
                inb = idx == j
                kin, kout = inb & k[i], inb & ~k[i]
                if kin.any() and kout.any():
                    w = float(kin.sum())
                    num[i] += w * float(mv[i][kin].mean())
                    den[i] += w * float(mv[i][kout].mean())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
