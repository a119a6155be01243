"""Supermasks (Zhou et al. 2019): signed constants, and masks learned over frozen weights.

Introduced in: Chapter 7
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .. import models
from ..config import check_choice, generator
from .masks import density, weights
from .training import SplitData, StepConfig, TrainRun, train_loop

ESTIMATORS = ("straight_through", "sigmoid_bernoulli")
HE_GAIN = math.sqrt(6.0)  # std of U(-1/sqrt(n), 1/sqrt(n)) times this = He's sqrt(2/n)


def _fan_in(shape: tuple) -> int:
    return shape[0] if len(shape) == 2 else shape[1] * shape[2]


def signed_constant(arch: models.Arch, params: Sequence[torch.Tensor], gain: float = 1.0) -> list[torch.Tensor]:
    """Zhou et al.'s signed constant: each weight set to sign(w_init) times its layer's init std.

    The init is U(-b, b) with b = 1/sqrt(fan_in), whose std is b/sqrt(3); ``gain``
    multiplies it (``HE_GAIN`` gives He's std sqrt(2/fan_in)). Biases unchanged.

    Introduced in: Chapter 7
    """
    out = []
    for j, (p, s) in enumerate(zip(params, arch.shapes())):
        out.append(p.clone() if j % 2 else torch.sign(p) * gain / math.sqrt(_fan_in(s)) / math.sqrt(3))
    return out


def he_scale(params: Sequence[torch.Tensor], gain: float = HE_GAIN) -> list[torch.Tensor]:
    """Weights multiplied by ``gain`` (default: PyTorch's fan-in uniform init rescaled to
    He's std sqrt(2 / fan_in)); biases unchanged. Frozen-weight (supermask) networks need a
    scale that carries the signal through ReLU layers, since training cannot grow it.

    Introduced in: Chapter 7
    """
    return [p * gain if j % 2 == 0 else p.clone() for j, p in enumerate(params)]


def supermask(scores: torch.Tensor, estimator: str, train: bool,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """The 0/1 mask of a learned-mask score tensor, differentiable in training.

    ``straight_through``: mask = 1[s > 0], gradient passed as if mask = s.
    ``sigmoid_bernoulli``: mask ~ Bernoulli(sigmoid(s)) in training, gradient through
    sigmoid(s) (Zhou et al.); at evaluation the deterministic 1[sigmoid(s) > 0.5].

    Introduced in: Chapter 7
    """
    check_choice("estimator", estimator, ESTIMATORS)
    hard = (scores > 0).to(scores.dtype)
    if not train:
        return hard
    if estimator == "straight_through":
        return hard + scores - scores.detach()
    p = torch.sigmoid(scores)
    u = torch.rand(scores.shape, generator=generator, device=scores.device)
    return (u < p).to(scores.dtype) + p - p.detach()


@dataclass
class SupermaskRun:
    """A learned supermask over frozen weights.

    Attributes
    ----------
    run : TrainRun (``params`` are the masked effective weights)
    masks : list of (M, ...) final 0/1 masks
    density : ndarray (M,)

    Introduced in: Chapter 7
    """

    run: TrainRun
    masks: list
    density: np.ndarray


def dwr_scale(mask: torch.Tensor) -> torch.Tensor:
    """Zhou et al.'s dynamic weight rescaling factor of a stacked layer mask (M, ...): per
    member, the layer's number of weights over the number of ones in its mask (no gradient;
    an empty mask gives the factor of one kept weight), shaped to broadcast against it.

    Introduced in: Chapter 7
    """
    kept = mask.detach().flatten(1).sum(1).clamp_min(1.0)
    return (mask[0].numel() / kept).reshape(-1, *([1] * (mask.dim() - 1)))


def train_supermask(arch: models.Arch, frozen: Sequence[torch.Tensor], data: SplitData, cfg: StepConfig, *,
                    estimator: str = "sigmoid_bernoulli", score_init: float = 0.0,
                    order_seeds: Sequence[int] | None = None, seed: int = 0,
                    dwr: bool | Sequence[bool] = False) -> SupermaskRun:
    """Learn a mask over frozen weights (Zhou et al.'s supermask training); weights never change.

    The scores are the trained tensors of :func:`overparam.engine.loop.fit` (through
    :func:`~overparam.pruning.training.train_loop`).

    Parameters
    ----------
    frozen : list of (M, ...) weights (e.g. the init or its signed constant); biases frozen too
    estimator : "straight_through" or "sigmoid_bernoulli"
    score_init : initial score of every weight, plus small noise (0: keep probability 1/2)
    seed : seeds the score noise and the Bernoulli samples (``config.generator`` streams)
    dwr : dynamic weight rescaling (Zhou et al.), for every member or one flag per member: at
        every iteration, and at evaluation, each layer's masked weights are multiplied by the
        layer's number of weights over the number of ones in the mask drawn (:func:`dwr_scale`)

    Returns
    -------
    SupermaskRun

    Introduced in: Chapter 7
    """
    check_choice("estimator", estimator, ESTIMATORS)
    device = data.X_train.device
    M = frozen[0].shape[0]
    fz = [p.detach().to(device) for p in frozen]
    g = generator(seed, "supermask-scores")
    scores = [(score_init + 0.01 * torch.randn(w.shape, generator=g)).to(device).requires_grad_(True)
              for w in weights(fz)]
    dgen = generator(seed, "supermask-bernoulli", device)
    flags = torch.as_tensor([dwr] * M if isinstance(dwr, bool) else list(dwr), dtype=torch.bool, device=device)
    if flags.numel() != M:
        raise ValueError(f"dwr has {flags.numel()} flags for {M} members")

    def masked(p: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if not bool(flags.any()):
            return p * mask
        scale = torch.where(flags.reshape(-1, *([1] * (mask.dim() - 1))), dwr_scale(mask), 1.0)
        return p * (mask * scale)

    def effective(sc: list[torch.Tensor], train: bool) -> list[torch.Tensor]:
        return [masked(p, supermask(sc[j // 2], estimator, train, dgen)) if j % 2 == 0 else p
                for j, p in enumerate(fz)]

    order_seeds = list(range(M)) if order_seeds is None else list(order_seeds)
    run = train_loop(arch, scores, effective, None, data, cfg, order_seeds, (), f"supermask {estimator}")
    masks = [supermask(s.detach(), estimator, False).cpu() for s in scores]
    return SupermaskRun(run, masks, density(masks))
