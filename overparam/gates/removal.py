"""Unit removal during training: the compaction of a stack, the gate penalty and the
:class:`Remover` callback of :func:`overparam.engine.loop.fit` (see :mod:`overparam.gates`).

Introduced in: Chapter 6
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from ..config import check_positive
from ..engine.optim import move_optimizer
from ..models import Arch
from .units import GatedNet, arch_of, check_lambda, live_counts, live_mask

# --------------------------------------------------------------------------- removal


def _gather(t: torch.Tensor, dim: int, idx: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``t`` (M, ...) with dimension ``dim`` replaced by per-member indices ``idx`` (M, w');
    entries where ``valid`` is False become 0."""
    M, w2 = idx.shape
    shape = [1] * t.dim()
    shape[0], shape[dim] = M, w2
    size = list(t.shape)
    size[dim] = w2
    out = torch.gather(t, dim, idx.reshape(shape).expand(size))
    return out * valid.reshape(shape).to(t.dtype)


def _plan(keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """From a (M, w) keep mask: indices (M, w') of each member's kept units (in order, first)
    and their validity, w' = the most units any member keeps (at least 1)."""
    M, w = keep.shape
    w2 = max(1, int(keep.sum(1).max()) if M else 0)  # a layer keeps one (dead) unit at least
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)  # kept first, in order
    idx = order[:, :w2]
    valid = torch.arange(w2, device=keep.device)[None, :] < keep.sum(1, keepdim=True)
    return idx, valid


def _touches(arch: Arch, l: int) -> list[tuple[int, int, int]]:
    """(parameter index, dimension, block) that hidden layer ``l`` indexes; block > 1 for the
    CNN read-out, whose rows come in blocks of the last conv layer's output length."""
    L = arch.depth
    out = [(2 * l, 2 if arch.arch == "mlp" else 1, 1), (2 * l + 1, 1, 1), (2 * L + 2 + l, 1, 1)]
    if l + 1 < L:
        out.append((2 * l + 2, 1 if arch.arch == "mlp" else 2, 1))
    else:
        out.append((2 * L, 1, 1 if arch.arch == "mlp" else arch.lengths()[-1]))
    return out


def plan(arch: Arch, params: Sequence[torch.Tensor], keep: Sequence[torch.Tensor | None]
         ) -> tuple[Arch, Callable[[int, torch.Tensor], torch.Tensor]]:
    """The compaction that keeps, in each member, the units where ``keep[l]`` (M, w_l) is True.

    Returns the new architecture and ``shrink(i, t)``, which maps a tensor shaped like
    parameter ``i`` (the parameter itself, or an optimizer moment of it) to its new shape:
    every member's kept units move to the front in their order, the rest is zero, and
    the stack is cut to the widest member.

    Introduced in: Chapter 6
    """
    arch = arch_of(arch, params)
    ops: dict[int, list] = {}
    widths = list(arch.widths)
    for l, k in enumerate(keep):
        if k is None:
            continue
        idx, valid = _plan(k.bool())
        widths[l] = idx.shape[1]
        for pi, dim, block in _touches(arch, l):
            ops.setdefault(pi, []).append((dim, block, idx, valid))

    def shrink(i: int, t: torch.Tensor) -> torch.Tensor:
        t = t.detach()
        for dim, block, idx, valid in ops.get(i, ()):
            if block == 1:
                t = _gather(t, dim, idx, valid)
            else:  # CNN read-out rows c * L_out + t: gather channels of (M, w, L_out, C)
                M, rows, C = t.shape
                t = _gather(t.reshape(M, rows // block, block, C), 1, idx, valid).reshape(M, -1, C)
        return t.contiguous()

    return arch.with_widths(widths), shrink


def compact(arch: Arch, params: Sequence[torch.Tensor], keep: Sequence[torch.Tensor | None]
            ) -> tuple[Arch, list[torch.Tensor]]:
    """``params`` with only the kept units (see :func:`plan`); detached copies.

    Introduced in: Chapter 6
    """
    new_arch, shrink = plan(arch, params, keep)
    return new_arch, [shrink(i, p) for i, p in enumerate(params)]


def remove_units(state, arch: Arch, keep: Sequence[torch.Tensor | None]) -> Arch:
    """Remove units inside a running :func:`~overparam.engine.loop.fit` (its ``FitState``):
    replaces ``state.params`` and ``state.optimizer``; returns the new architecture."""
    old = list(state.params)
    new_arch, shrink = plan(arch, old, keep)
    new = [shrink(i, p).requires_grad_(True) for i, p in enumerate(old)]
    state.params = new
    state.optimizer = move_optimizer(state.optimizer, old, new, shrink)
    return new_arch


# --------------------------------------------------------------------------- penalty and callback


class GatePenalty:
    """``lambda_m * sum_l sum_i |g_li|`` per member (a ``penalties=`` term of ``fit``).

    ``lam`` is one value or one per member (>= 0); :meth:`decay_step` multiplies it by
    ``decay`` (the journal's lambda decay, applied once per epoch by :class:`Remover`).
    """

    def __init__(self, lam, depth: int, gscale: torch.Tensor, decay: float = 1.0):
        vals = check_lambda("lam", lam)
        check_positive("decay", decay)
        if decay > 1:
            raise ValueError(f"decay={decay!r} is not allowed; expected a factor in (0, 1]")
        M = gscale.shape[0]
        if len(vals) not in (1, M):
            raise ValueError(f"lam has {len(vals)} values; expected 1 or one per member ({M})")
        self.lam = torch.tensor(vals, dtype=torch.float32, device=gscale.device).expand(M).clone()
        self.depth, self.gscale, self.decay = depth, gscale, float(decay)

    def __call__(self, params) -> torch.Tensor:
        L = self.depth
        tot = sum((params[2 * L + 2 + l] * self.gscale[:, None]).abs().sum(1) for l in range(L))
        return self.lam * tot

    def decay_step(self) -> None:
        self.lam *= self.decay


@dataclass
class RemovalLog:
    """What :class:`Remover` recorded: removal events and live counts over time."""

    events: list = field(default_factory=list)     # (step, member, layer, units removed)
    steps: list = field(default_factory=list)      # steps at which ``live`` was recorded
    live: list = field(default_factory=list)       # (M, L) live counts at those steps


class Remover:
    """``fit`` callback: clamp gates to >= 0, remove dead units, decay lambda per epoch.

    Parameters
    ----------
    net : GatedNet (its ``arch`` is kept current; ``net.params`` is updated at the end)
    penalty : GatePenalty or None
    steps_per_epoch : steps between lambda decays and live-count records
    check_every : steps between removal checks (each check synchronises a GPU)
    remove : False keeps dead units in place (gates stay at 0): the same function, no speed-up
    """

    def __init__(self, net: GatedNet, penalty: GatePenalty | None, steps_per_epoch: int,
                 check_every: int = 1, remove: bool = True):
        check_positive("steps_per_epoch", steps_per_epoch, integer=True)
        check_positive("check_every", check_every, integer=True)
        self.net, self.penalty = net, penalty
        self.spe, self.every, self.remove = steps_per_epoch, check_every, remove
        self.log = RemovalLog()

    @torch.no_grad()
    def __call__(self, state) -> None:
        L = self.net.depth
        if state.step == 0:
            self._prev = live_counts(self.net.arch, state.params)
            self._record(state)
            return
        for l in range(L):
            state.params[2 * L + 2 + l].clamp_(min=0)
        if self.remove and state.step % self.every == 0:
            alive = live_mask(self.net.arch, state.params)
            counts = torch.stack([m.sum(1) for m in alive], 1)
            lost = counts < self._prev
            shrinks = [int(counts[:, l].max()) < alive[l].shape[1] for l in range(L)]
            if bool(lost.any()) or any(shrinks):
                for m, l in torch.nonzero(lost).tolist():
                    self.log.events.append((state.step, m, l, int(self._prev[m, l] - counts[m, l])))
                self.net.arch = remove_units(state, self.net.arch, alive)
                self.net.params = state.params
            self._prev = counts
        if state.step % self.spe == 0:
            if self.penalty is not None:
                self.penalty.decay_step()
            self._record(state)

    def _record(self, state) -> None:
        self.log.steps.append(state.step)
        self.log.live.append(live_counts(self.net.arch, state.params).cpu())
