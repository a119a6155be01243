"""Liveness gates: an L1-penalised gate per hidden unit that removes the unit during training.

The journal's "sparsifier network" (November 2017) multiplies every hidden unit (every
channel of a CNN) by a trained *liveness* ``g >= 0`` and adds ``lambda * sum |g|`` to the
loss; a unit whose liveness reaches 0 is removed from the network while it trains, so the
steps after it are really cheaper.

How to use it
-------------
>>> from overparam import gates
>>> net = gates.init_gated(Arch("mlp", (500,), 40, 10), seeds=[0, 1])   # a stack of 2
>>> logits = gates.gated_forward(net.arch, net.params, X, net.gscale)
>>> pen = gates.GatePenalty([1e-3, 1e-4], depth=1, decay=0.9)            # lambda per member
>>> rem = gates.Remover(net, pen, steps_per_epoch=40)                     # fit callback
>>> fit(net.params, loss, batches, opt, steps, penalties=[pen], callbacks=[rem])

- Parameter layout: the family's ``[W1, b1, ..., Wout, bout]`` (:mod:`overparam.models`)
  followed by one gate tensor ``(M, w_l)`` per hidden layer. A member's gate ``l`` is
  ``gscale[m] * theta``: under Adam the step on ``g`` is then ``gscale[m]`` times the step
  on ``theta``, so ``gscale`` is a per-member *gate learning rate* (Adam is invariant to
  the gradient's scale); gates start at 1.
- :class:`Remover` (a callback of :func:`overparam.engine.loop.fit`): after each step it
  clamps the gates to ``>= 0`` (the projection of the L1 step), and every ``check_every``
  steps removes units whose gate is 0 by :func:`compact`: each member keeps its own live
  units, moved to the front in their order, and the stack is cut to the widest member.
  The rest is zero padding with a zero gate, which is exact for ReLU: a padded unit has
  zero weights in and out and a zero gradient everywhere, so it never moves and never
  contributes (tested). The optimizer's state (Adam moments, momentum) follows the kept
  units through the same index selection, so their state is unchanged by a removal.
- :func:`compact`: the structural surgery, written with ``torch.gather`` on the stacked
  tensors (no library: torch-pruning's ``prune_linear_out_channels`` works on one
  ``nn.Module`` at a time, does not know the stack's per-member padding, and would not move
  the optimizer's state; the gather is a few lines and covers MLPs and the 1-d CNN).
- :class:`GateReLU`: ``relu(z) * g`` with its gradient written by hand, saving only the
  output and the gate. Autograd on the naive product keeps ``relu(z)`` (for the gate's
  gradient) *and* the product (for the next layer): twice a plain network's activations,
  the journal's CNN memory problem. :func:`saved_bytes` measures what autograd keeps.

Introduced in: Chapter 6
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .config import check_choice, check_positive
from .models import Arch, init_stack
from .models.family import CNN_PADDING, CNN_STRIDE

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


def move_optimizer(opt, old: Sequence[torch.Tensor], new: Sequence[torch.Tensor],
                   transform: Callable[[int, torch.Tensor], torch.Tensor]):
    """A copy of optimizer ``opt`` over the ``new`` parameters whose state is the old state
    passed through ``transform(i, tensor)`` (tensors shaped like parameter ``i``).

    Works for :class:`~overparam.engine.optim.StackedOptimizer` and ``torch.optim``
    optimizers (param groups and their hyper-parameters kept).
    """
    from .engine.optim import StackedOptimizer
    if isinstance(opt, StackedOptimizer):
        out = copy.copy(opt)
        out.params = list(new)
        out.state1 = [transform(i, s) for i, s in enumerate(opt.state1)]
        out.state2 = None if opt.state2 is None else [transform(i, s) for i, s in enumerate(opt.state2)]
        return out
    pos = {id(p): i for i, p in enumerate(old)}
    groups = []
    for g in opt.param_groups:
        ng = {k: v for k, v in g.items() if k != "params"}
        ng["params"] = [new[pos[id(p)]] for p in g["params"]]
        groups.append(ng)
    out = type(opt)(groups)
    for p in old:
        st = opt.state.get(p)
        if not st:
            continue
        i = pos[id(p)]
        out.state[new[i]] = {k: (transform(i, v) if torch.is_tensor(v) and v.shape == p.shape
                                 else (v.clone() if torch.is_tensor(v) else copy.deepcopy(v)))
                             for k, v in st.items()}
    return out


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


# --------------------------------------------------------------------------- training


TASKS = ("classification", "regression")


@dataclass(frozen=True)
class GateSpec:
    """One member of a gated (or static) stack: penalty, seed, gate learning-rate scale, widths."""

    lam: float = 0.0
    seed: int = 0
    gate_scale: float = 1.0
    widths: tuple = (500,)

    def __post_init__(self):
        check_lambda("lam", self.lam)
        check_positive("gate_scale", self.gate_scale)
        check_positive("widths", list(self.widths), integer=True)


@dataclass
class GatedRun:
    """A trained stack: per-epoch curves (index 0 = before training), removal log, final widths.

    Attributes
    ----------
    specs : the members
    score : (E + 1, M) test accuracy (classification) or R^2 (regression) at epoch ends
    train_loss : (E + 1, M) training loss on the whole training set at epoch ends
    live : (E + 1, M, L) live units per hidden layer at epoch ends
    epoch_time : (E,) seconds of training per epoch (evaluation excluded), the whole stack
    step_loss : (T, M) mini-batch loss of every step
    events : removal events (step, member, layer, units removed)
    """

    specs: list
    gated: bool
    steps_per_epoch: int
    score: "object"
    train_loss: "object"
    live: "object"
    epoch_time: "object"
    step_loss: "object"
    events: list
    net: GatedNet | None
    wall: float

    @property
    def size(self):
        """(E + 1, M) live hidden units (all layers) at epoch ends."""
        return self.live.sum(-1)


def _loss_fn(task: str):
    if task == "classification":
        return lambda out, y: F.cross_entropy(out.transpose(1, 2), y, reduction="none").mean(1)
    return lambda out, y: ((out[..., 0] - y) ** 2).mean(1)


@torch.no_grad()
def _evaluate(fwd, params, X, y, task: str, chunk: int = 4096):
    outs = torch.cat([fwd(params, X[i:i + chunk]) for i in range(0, len(X), chunk)], 1)
    if task == "classification":
        loss = F.cross_entropy(outs.transpose(1, 2), y.expand(outs.shape[0], -1), reduction="none").mean(1)
        return (outs.argmax(-1) == y).float().mean(1), loss
    mse = ((outs[..., 0] - y) ** 2).mean(1)      # y (n,) or per member (M, n)
    return 1 - mse / y.var(dim=-1, unbiased=False), mse


def train_gated(arch: Arch, specs: Sequence[GateSpec], data: dict, *, epochs: int, batch_size: int,
                lr: float, task: str = "classification", gated: bool = True, decay: float = 1.0,
                mode: str = "hand", remove: bool = True, budget_s: float | None = None,
                order_seed: int = 0, device="cpu", check_every: int = 1, label: str = "gates") -> GatedRun:
    """Train a stack of gated networks (or static ones, ``gated=False``) through ``fit``.

    Parameters
    ----------
    arch : kind, d and n_classes (1 output for regression); widths come from ``specs``
    specs : one :class:`GateSpec` per member (seed = initialisation and batch order)
    data : ``x``, ``y``, ``x_test``, ``y_test`` tensors (on ``device``); a regression
        target may be per member, ``y`` (M, n) and ``y_test`` (M, n_test)
    epochs, batch_size, lr : Adam on every parameter; ``budget_s`` stops after that many
        seconds of training (evaluation excluded), whatever ``epochs`` says
    gated : gates + L1 penalty + removal; False = plain networks of ``specs``' widths
    decay : lambda multiplied by ``decay`` after every epoch
    mode : "hand" (:class:`GateReLU`) or "naive" gate
    remove : False keeps dead units in place (same function, no speed-up)

    Introduced in: Chapter 6
    """
    import time

    import numpy as np

    from .config import generator
    from .engine.loop import fit, per_member_batches

    check_choice("task", task, TASKS)
    check_choice("mode", mode, GATE_MODES)
    check_positive("epochs", epochs, integer=True)
    check_positive("batch_size", batch_size, integer=True)
    check_positive("lr", lr)
    if budget_s is not None:
        check_positive("budget_s", budget_s)
    specs = list(specs)
    archs = [arch.with_widths(s.widths) for s in specs]
    X, y, Xt, yt = (data[k].to(device) for k in ("x", "y", "x_test", "y_test"))
    n = len(X)
    spe = max(1, -(-n // batch_size))
    gens = [generator(s.seed, "gates/order/%d" % order_seed) for s in specs]
    batches = per_member_batches(n, batch_size, gens, device)
    lossf = _loss_fn(task)
    if gated:
        net = init_gated(archs, [s.seed for s in specs], device, gate_scale=[s.gate_scale for s in specs])
        pen = GatePenalty([s.lam for s in specs], net.depth, net.gscale, decay)

        def fwd(params, Xb):
            return gated_forward(arch_of(net.arch, params), params, Xb, net.gscale, mode)
        params, masks = net.params, None
    else:
        from .models import forward
        st = init_stack(archs, [s.seed for s in specs], device, requires_grad=True)
        net, pen, params, masks = None, None, st.params, st.masks

        def fwd(params, Xb):
            return forward(st.arch, params, Xb)

    def loss(params, idx):
        return lossf(fwd(params, X[idx]), y[idx] if y.ndim == 1 else torch.gather(y, 1, idx))

    rec = {"score": [], "loss": [], "time": [], "steps": []}
    clock = {"t": time.perf_counter(), "train": 0.0}
    remover = Remover(net, pen, spe, check_every, remove) if gated else None

    def cur_live(state):
        if gated:
            return live_counts(net.arch, state.params).cpu()
        return torch.tensor([list(s.widths) for s in specs])

    @torch.no_grad()
    def epoch_end(state):
        if state.step != 0:
            rec["steps"].append(state.loss)
        if state.step % spe:
            return
        now = time.perf_counter()
        if state.step:
            rec["time"].append(now - clock["t"])
            clock["train"] += now - clock["t"]
        sc, ls = _evaluate(fwd, state.params, X, y, task)
        rec["loss"].append(ls.cpu())
        rec["score"].append(_evaluate(fwd, state.params, Xt, yt, task)[0].cpu())
        rec.setdefault("live", []).append(cur_live(state))
        if budget_s is not None and clock["train"] >= budget_s:
            state.stop = True
        clock["t"] = time.perf_counter()

    callbacks = ([remover] if gated else []) + [epoch_end]
    opt = torch.optim.Adam(params, lr=lr)
    t0 = time.perf_counter()
    res = fit(params, loss, batches, opt, epochs * spe, grad_masks=masks,
              penalties=[pen] if gated else (), callbacks=callbacks, label=label)
    if gated:
        net.params = list(res.params)
    E = len(rec["time"])
    return GatedRun(specs=specs, gated=gated, steps_per_epoch=spe,
                    score=torch.stack(rec["score"]).numpy(), train_loss=torch.stack(rec["loss"]).numpy(),
                    live=torch.stack(rec["live"]).numpy(), epoch_time=np.array(rec["time"][:E]),
                    step_loss=(torch.stack(rec["steps"]).cpu().numpy() if rec["steps"]
                               else np.zeros((0, len(specs)))),
                    events=list(remover.log.events) if gated else [], net=net,
                    wall=time.perf_counter() - t0)
