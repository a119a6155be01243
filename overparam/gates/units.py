"""Liveness gates: the gate, the gated network, its forward and live units (see :mod:`overparam.gates`).

Introduced in: Chapter 6
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from ..models import Arch, init_stack
from ..models.family import CNN_PADDING, CNN_STRIDE

GATE_MODES = ("hand", "naive")


def check_lambda(name: str, value) -> list[float]:
    """Penalty strengths as floats; one ValueError naming ``name`` for negative/NaN/non-numbers."""
    vals = list(value) if isinstance(value, (list, tuple)) or torch.is_tensor(value) else [value]
    out = []
    for v in vals:
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"{name}={value!r} is not allowed; expected numbers >= 0") from None
        if isinstance(v, bool) or not math.isfinite(f) or f < 0:
            raise ValueError(f"{name}={value!r} is not allowed; expected finite numbers >= 0")
        out.append(f)
    return out


# --------------------------------------------------------------------------- the gate


class GateReLU(torch.autograd.Function):
    """``relu(z) * g`` whose backward needs only the output and the gate.

    With ``out = relu(z) g``: ``d/dz = grad * g * [out != 0]`` and
    ``d/dg = sum(grad * out / g)`` (``relu(z) = out / g``). Where ``g = 0`` the unit is dead
    (the :class:`Remover` removes it in the same step) and its gate gets no gradient.
    ``g`` broadcasts against ``z``; its gradient is summed back to ``g``'s shape.
    """

    @staticmethod
    def forward(ctx, z, g):
        out = torch.relu(z) * g
        ctx.save_for_backward(out, g)
        return out

    @staticmethod
    def backward(ctx, grad):
        out, g = ctx.saved_tensors
        gz = gg = None
        if ctx.needs_input_grad[0]:
            gz = grad * g * (out != 0)
        if ctx.needs_input_grad[1]:
            safe = torch.where(g != 0, g, torch.ones_like(g))
            gg = ((grad * out).sum_to_size(g.shape) / safe) * (g != 0)
        return gz, gg


def gate(z: torch.Tensor, g: torch.Tensor, mode: str = "hand") -> torch.Tensor:
    """``relu(z) * g``: ``mode="hand"`` (:class:`GateReLU`) or ``"naive"`` (autograd's product)."""
    if mode == "hand":
        return GateReLU.apply(z, g)
    return torch.relu(z) * g


# --------------------------------------------------------------------------- the network


@dataclass
class GatedNet:
    """A stack of gated networks: padded architecture, parameters (arch tensors + gates), gate scales."""

    arch: Arch
    params: list
    gscale: torch.Tensor          # (M,) per-member gate learning-rate scale

    @property
    def depth(self) -> int:
        return self.arch.depth

    @property
    def n_members(self) -> int:
        return self.params[0].shape[0]


def init_gated(arch: Arch | Sequence[Arch], seeds: Sequence[int], device="cpu", *,
               gate_scale: float | Sequence[float] = 1.0) -> GatedNet:
    """Members initialised as the model family does (:func:`overparam.models.init_stack`,
    zero-padded to the widest), with gates ``gscale * theta = 1`` on real units and 0 on padding.

    Introduced in: Chapter 6
    """
    st = init_stack(arch, seeds, device)
    M = st.n_members
    scale = torch.as_tensor(gate_scale, dtype=torch.float32, device=device).reshape(-1).expand(M).clone()
    if not bool((scale > 0).all()):
        raise ValueError(f"gate_scale={gate_scale!r} is not allowed; expected numbers > 0")
    gates = []
    for l, w in enumerate(st.arch.widths):
        true = torch.tensor([a.widths[l] for a in st.archs], device=device)
        on = (torch.arange(w, device=device)[None, :] < true[:, None]).float()
        gates.append(on / scale[:, None])
    params = [p.detach().clone().requires_grad_(True) for p in st.params + gates]
    return GatedNet(st.arch, params, scale)


def arch_of(arch: Arch, params: Sequence[torch.Tensor]) -> Arch:
    """``arch`` with the widths the (possibly compacted) ``params`` have now."""
    L = arch.depth
    return arch.with_widths([params[2 * L + 2 + l].shape[1] for l in range(L)])


def gated_forward(arch: Arch, params: Sequence[torch.Tensor], X: torch.Tensor,
                  gscale: torch.Tensor, mode: str = "hand") -> torch.Tensor:
    """Logits (M, B, C) of a stack of gated networks (the family's forward with gates).

    ``X`` is (B, d) shared or (M, B, d). The MLP and the 1-d CNN (gate per channel) of
    :mod:`overparam.models`; with every gate at 1 this equals ``models.forward`` (tested).
    """
    L = arch.depth
    M = params[0].shape[0]
    gs = [params[2 * L + 2 + l] * gscale[:, None] for l in range(L)]
    if X.ndim == 2:
        X = X.expand(M, *X.shape)
    if arch.arch == "mlp":
        h = X
        for i in range(L):
            h = gate(torch.baddbmm(params[2 * i + 1][:, None, :], h, params[2 * i]), gs[i][:, None, :], mode)
    else:
        B = X.shape[1]
        h = X.permute(1, 0, 2)
        for i in range(L):
            K, b = params[2 * i], params[2 * i + 1]
            z = F.conv1d(h, K.reshape(-1, K.shape[2], K.shape[3]), b.reshape(-1),
                         stride=CNN_STRIDE, padding=CNN_PADDING, groups=M)
            h = gate(z, gs[i].reshape(1, -1, 1), mode)
        h = h.reshape(B, M, -1).permute(1, 0, 2)
    return torch.baddbmm(params[2 * L + 1][:, None, :], h, params[2 * L])


def live_mask(arch: Arch, params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Per hidden layer, (M, w_l) bool: units whose gate is above 0."""
    L = arch.depth
    return [params[2 * L + 2 + l].detach() > 0 for l in range(L)]


def live_counts(arch: Arch, params: Sequence[torch.Tensor]) -> torch.Tensor:
    """(M, L) live units of every member in every hidden layer."""
    return torch.stack([m.sum(1) for m in live_mask(arch, params)], 1)


# --------------------------------------------------------------------------- memory


def saved_bytes(fn: Callable[[], torch.Tensor], exclude: Sequence[torch.Tensor] = ()) -> int:
    """Bytes of the distinct storages autograd saves for backward while ``fn()`` runs.

    Tensors sharing storage are counted once (a ReLU's output that the next layer saves
    as its input costs memory once). Storages of ``exclude`` (the parameters, which exist
    anyway) are left out. Works on the CPU; on a GPU use ``torch.cuda.max_memory_allocated``.
    """
    seen: dict[int, int] = {}
    skip = {p.untyped_storage().data_ptr() for p in exclude}

    def pack(t):
        s = t.untyped_storage()
        if s.data_ptr() not in skip:
            seen[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return int(sum(seen.values()))
