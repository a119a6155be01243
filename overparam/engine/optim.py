"""Optimizers for stacked parameters, with a per-member "take this step" mask.

``torch.optim`` updates are elementwise, so on stacked tensors they already equal one
optimizer per member, except for one thing Chapter 1 needs: skipping the step for some
members only (the AND task skips a batch with < 25 % positives, per member). Skipping
must leave momentum buffers, Adam moments and Adam's step count of that member
untouched, which a zeroed gradient does not do. These optimizers follow torch.optim's
update formulas exactly (tested against it) and take an ``active`` mask.
"""
from __future__ import annotations

from typing import Sequence

import torch

from ..config import check_choice, check_positive

OPTIMIZERS = ("sgd", "momentum", "adam", "rmsprop")


class StackedOptimizer:
    """SGD, SGD+momentum, Adam or RMSprop over tensors with leading dim ``n_models``.

    Parameters
    ----------
    params : sequence of Tensor, each of shape (n_models, ...)
    name : one of :data:`OPTIMIZERS`
    lr : learning rate: a number, or a tensor (n_models,) of per-member rates
    momentum : for ``"momentum"`` (torch.optim.SGD semantics, no dampening)
    betas, eps : Adam (torch defaults); RMSprop uses ``alpha`` and ``eps``.

    Introduced in: Chapter 1
    """

    def __init__(self, params: Sequence[torch.Tensor], name: str = "sgd", lr: float = 0.1,
                 momentum: float = 0.9, betas=(0.9, 0.999), alpha: float = 0.99, eps: float = 1e-8):
        check_choice("optimizer", name, OPTIMIZERS)
        self.params, self.name = list(params), name
        if torch.is_tensor(lr):
            if lr.shape != (self.params[0].shape[0],) or not bool((lr > 0).all()):
                raise ValueError(f"lr tensor must be positive with shape ({self.params[0].shape[0]},), "
                                 f"got {tuple(lr.shape)}")
            lr = lr.to(self.params[0].device, self.params[0].dtype)
        else:
            check_positive("lr", lr)
        self.lr = lr
        self.momentum, self.betas, self.alpha, self.eps = momentum, betas, alpha, eps
        self.state1 = [torch.zeros_like(p) for p in self.params]
        self.state2 = [torch.zeros_like(p) for p in self.params] if name == "adam" else None
        self.t = torch.zeros(self.params[0].shape[0], device=self.params[0].device)

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor], active: torch.Tensor | None = None) -> None:
        """Update every member whose ``active`` entry is True (all when ``active`` is None)."""
        if active is None:
            active = torch.ones_like(self.t, dtype=torch.bool)
        self.t += active.to(self.t.dtype)
        for i, (p, g) in enumerate(zip(self.params, grads)):
            mask = active.reshape(-1, *([1] * (p.dim() - 1)))
            if self.name == "sgd":
                upd = g
            elif self.name == "momentum":
                buf = self.state1[i]
                buf.copy_(torch.where(mask, self.momentum * buf + g, buf))
                upd = buf
            elif self.name == "rmsprop":
                v = self.state1[i]
                v.copy_(torch.where(mask, self.alpha * v + (1 - self.alpha) * g * g, v))
                upd = g / (v.sqrt() + self.eps)
            else:  # adam
                b1, b2 = self.betas
                m, v = self.state1[i], self.state2[i]
                m.copy_(torch.where(mask, b1 * m + (1 - b1) * g, m))
                v.copy_(torch.where(mask, b2 * v + (1 - b2) * g * g, v))
                t = self.t.clamp(min=1).reshape(mask.shape)
                upd = (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt() + self.eps)
            lr = self.lr.reshape(mask.shape) if torch.is_tensor(self.lr) else self.lr
            p.sub_(torch.where(mask, lr * upd, torch.zeros_like(upd)))

    @torch.no_grad()
    def reset_members(self, idx: torch.Tensor) -> None:
        """Zero the state (moments, step counts) of members ``idx``."""
        for st in (self.state1, self.state2 or []):
            for t in st:
                t[idx] = 0
        self.t[idx] = 0

    def torch_equivalent(self, params) -> torch.optim.Optimizer:
        """The torch.optim optimizer this one reproduces, for one member's ``params``."""
        if self.name == "sgd":
            return torch.optim.SGD(params, lr=self.lr)
        if self.name == "momentum":
            return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum)
        if self.name == "rmsprop":
            return torch.optim.RMSprop(params, lr=self.lr, alpha=self.alpha, eps=self.eps)
        return torch.optim.Adam(params, lr=self.lr, betas=self.betas, eps=self.eps)
