"""The book's one optimizer factory, :func:`make_optimizer`, and its stacked optimizers.

Every optimizer in the package is made here from one table, :data:`OPTIMIZERS`: a name,
the ``torch.optim`` class it stands for, the hyper-parameters it takes and their
defaults, and its update written over stacked tensors. Adding an optimizer is one entry.

``torch.optim`` updates are elementwise, so on stacked tensors (leading dimension = the
members) they already equal one optimizer per member, except for one thing Chapter 1
needs: skipping the step for some members only (the AND task skips a batch with < 25 %
positives, per member). Skipping must leave momentum buffers, Adam moments and Adam's
step count of that member untouched, which a zeroed gradient does not do.
:class:`StackedOptimizer` follows the ``torch.optim`` update formulas of the same entry
(tested against it) and takes an ``active`` mask; ``make_optimizer(..., stacked=True)``
gives one.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from ..config import check_choice, check_positive


# --------------------------------------------------------------------------- stacked updates
# Each takes (p, g, state, rule settings, lr, t, mask) and returns the update direction
# (p -= lr * direction); ``state`` is a dict of this tensor's buffers, created on first use.

def _sgd(p, g, st, s, t, mask):
    if not s["momentum"]:
        return g
    buf = st.setdefault("momentum_buffer", torch.zeros_like(p))
    buf.copy_(torch.where(mask, s["momentum"] * buf + g, buf))
    return buf


def _adam(p, g, st, s, t, mask):
    b1, b2 = s["betas"]
    m = st.setdefault("exp_avg", torch.zeros_like(p))
    v = st.setdefault("exp_avg_sq", torch.zeros_like(p))
    m.copy_(torch.where(mask, b1 * m + (1 - b1) * g, m))
    v.copy_(torch.where(mask, b2 * v + (1 - b2) * g * g, v))
    t = t.clamp(min=1).reshape(mask.shape)
    return (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt() + s["eps"])


def _rmsprop(p, g, st, s, t, mask):
    v = st.setdefault("square_avg", torch.zeros_like(p))
    v.copy_(torch.where(mask, s["alpha"] * v + (1 - s["alpha"]) * g * g, v))
    return g / (v.sqrt() + s["eps"])


@dataclass(frozen=True)
class Rule:
    """One optimizer: its ``torch.optim`` class, hyper-parameters (name -> default) and
    stacked update. ``decoupled``: weight decay shrinks the weights directly
    (``p *= 1 - lr * weight_decay``, AdamW) instead of entering the gradient."""

    torch_class: type
    settings: dict
    update: Callable
    decoupled: bool = False
    fused: bool = True          # torch has a fused kernel for it (CPU and CUDA)
    doc: str = ""


_DECAY = {"weight_decay": 0.0}
_ADAM = {"betas": (0.9, 0.999), "eps": 1e-8}

#: The optimizers of the book, by name. ``"sgd"`` is plain SGD unless given a momentum;
#: ``"momentum"`` is the same with momentum 0.9 by default.
OPTIMIZERS: dict[str, Rule] = {
    "sgd": Rule(torch.optim.SGD, {"momentum": 0.0, **_DECAY}, _sgd, doc="SGD (momentum 0 unless given)"),
    "momentum": Rule(torch.optim.SGD, {"momentum": 0.9, **_DECAY}, _sgd, doc="SGD with momentum 0.9"),
    "adam": Rule(torch.optim.Adam, {**_ADAM, **_DECAY}, _adam, doc="Adam (L2 decay in the gradient)"),
    "adamw": Rule(torch.optim.AdamW, {**_ADAM, "weight_decay": 0.01}, _adam, decoupled=True,
                  doc="AdamW (decoupled weight decay)"),
    "rmsprop": Rule(torch.optim.RMSprop, {"alpha": 0.99, "eps": 1e-8, **_DECAY}, _rmsprop, fused=False,
                    doc="RMSprop"),
}

IMPLS = (None, "fused", "foreach")


def settings_of(name: str, **given) -> dict:
    """The hyper-parameters of optimizer ``name``: its defaults, overridden by the ``given``
    ones it takes (a value None, or one the optimizer does not take, is ignored: a
    config's ``momentum`` means nothing to Adam)."""
    check_choice("optimizer", name, OPTIMIZERS)
    s = dict(OPTIMIZERS[name].settings)
    s.update({k: v for k, v in given.items() if k in s and v is not None})
    for k in ("momentum", "weight_decay", "alpha", "eps"):
        if k in s:
            check_positive(k, s[k], allow_zero=True)
    return s


def make_optimizer(params, name: str, lr, *, stacked: bool = False, impl: str | None = None,
                   **hyper):
    """The optimizer ``name`` of :data:`OPTIMIZERS` over ``params``; the book's one factory.

    Parameters
    ----------
    params : list of Tensor, or of param-group dicts (``torch.optim`` form; a group may set
        its own ``lr``)
    name : a key of :data:`OPTIMIZERS`
    lr : learning rate (a tensor (M,) of per-member rates only with ``stacked``)
    stacked : a :class:`StackedOptimizer` (per-member step skipping) instead of ``torch.optim``
    impl : ``torch.optim`` implementation: None (torch's default), ``"fused"`` (one kernel
        per tensor, where the optimizer and device have one) or ``"foreach"``
    **hyper : momentum, weight_decay, betas, eps, alpha (see :func:`settings_of`)

    Introduced in: the engine (every chapter's optimizers come from here)
    """
    s = settings_of(name, **hyper)
    if stacked:
        return StackedOptimizer(params, name, lr=lr, **s)
    check_choice("impl", impl, IMPLS)
    check_positive("lr", lr)
    rule = OPTIMIZERS[name]
    kw = dict(s)
    if impl == "fused":
        first = params[0]["params"][0] if isinstance(params[0], dict) else params[0]
        if rule.fused and first.device.type in ("cpu", "cuda"):
            kw["fused"] = True
    elif impl == "foreach":
        kw["foreach"] = True
    return rule.torch_class(params, lr=lr, **kw)


class StackedOptimizer:
    """An optimizer of :data:`OPTIMIZERS` over tensors with leading dim ``n_models``.

    Parameters
    ----------
    params : sequence of Tensor, each of shape (n_models, ...)
    name : a key of :data:`OPTIMIZERS`
    lr : learning rate: a number, or a tensor (n_models,) of per-member rates
    **hyper : the optimizer's hyper-parameters (:func:`settings_of`), torch semantics

    ``state[i]`` holds parameter ``i``'s buffers under torch.optim's names
    (``momentum_buffer``, ``exp_avg``, ``exp_avg_sq``, ``square_avg``); ``t`` (n_models,)
    counts each member's steps.

    Introduced in: Chapter 1
    """

    def __init__(self, params: Sequence[torch.Tensor], name: str = "sgd", lr: float = 0.1, **hyper):
        self.settings = settings_of(name, **hyper)
        self.params, self.name, self.rule = list(params), name, OPTIMIZERS[name]
        if torch.is_tensor(lr):
            if lr.shape != (self.params[0].shape[0],) or not bool((lr > 0).all()):
                raise ValueError(f"lr tensor must be positive with shape ({self.params[0].shape[0]},), "
                                 f"got {tuple(lr.shape)}")
            lr = lr.to(self.params[0].device, self.params[0].dtype)
        else:
            check_positive("lr", lr)
        self.lr = lr
        self.state: list[dict] = [{} for _ in self.params]
        self.t = torch.zeros(self.params[0].shape[0], device=self.params[0].device)

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor], active: torch.Tensor | None = None) -> None:
        """Update every member whose ``active`` entry is True (all when ``active`` is None)."""
        if active is None:
            active = torch.ones_like(self.t, dtype=torch.bool)
        self.t += active.to(self.t.dtype)
        wd = self.settings.get("weight_decay", 0.0)
        for p, g, st in zip(self.params, grads, self.state):
            mask = active.reshape(-1, *([1] * (p.dim() - 1)))
            lr = self.lr.reshape(mask.shape) if torch.is_tensor(self.lr) else self.lr
            if wd and self.rule.decoupled:
                p.copy_(torch.where(mask, p * (1 - lr * wd), p))
            elif wd:
                g = g + wd * p
            upd = self.rule.update(p, g, st, self.settings, self.t, mask)
            p.sub_(torch.where(mask, lr * upd, torch.zeros_like(upd)))

    @torch.no_grad()
    def reset_members(self, idx: torch.Tensor) -> None:
        """Zero the state (moments, step counts) of members ``idx``."""
        for st in self.state:
            for buf in st.values():
                buf[idx] = 0
        self.t[idx] = 0

    def moved(self, params: Sequence[torch.Tensor],
              transform: Callable[[int, torch.Tensor], torch.Tensor]) -> "StackedOptimizer":
        """A copy over new ``params`` whose buffers are ``transform(i, buffer)`` (e.g. the
        kept units after a removal); step counts and hyper-parameters kept."""
        out = object.__new__(StackedOptimizer)
        out.__dict__.update(self.__dict__)
        out.params = list(params)
        out.state = [{k: transform(i, v) for k, v in st.items()} for i, st in enumerate(self.state)]
        out.t = self.t.clone()
        return out

    def torch_equivalent(self, params) -> torch.optim.Optimizer:
        """The torch.optim optimizer this one reproduces, for one member's ``params``."""
        return make_optimizer(params, self.name, self.lr, **self.settings)


def move_optimizer(opt, old: Sequence[torch.Tensor], new: Sequence[torch.Tensor],
                   transform: Callable[[int, torch.Tensor], torch.Tensor]):
    """A copy of optimizer ``opt`` over the ``new`` parameters whose state is the old state
    passed through ``transform(i, tensor)`` (tensors shaped like parameter ``i``): the
    unit-removal hook of the engine (kept units keep their moments and step counts).

    Works for :class:`StackedOptimizer` and ``torch.optim`` optimizers (param groups and
    their hyper-parameters kept).
    """
    if isinstance(opt, StackedOptimizer):
        return opt.moved(new, transform)
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


def lean_layout(name: str) -> bool:
    """Whether a stack of one trained with optimizer ``name`` keeps its linear weights in
    ``nn.Linear``'s memory order (:func:`overparam.models.init_stack`'s ``linear_layout``):
    only where :func:`lean_step` updates them as contiguous tensors (SGD); torch's fused
    kernels copy a non-contiguous tensor in and out at every step."""
    return OPTIMIZERS[name].torch_class is torch.optim.SGD


def lean_step(opt) -> Callable[[Sequence[torch.Tensor]], None] | None:
    """``opt``'s update as one call of torch's functional SGD (``torch.optim.sgd.sgd``) on
    given gradients, with the optimizer's own hyper-parameters and buffers: the same kernel
    with the same arguments as ``opt.step()`` (bit for bit, tested), without the per-call
    Python of ``torch.optim.Optimizer.step`` (hooks, profiler record, re-grouping the
    tensors: 24 -> 10 us a call measured on a 4-tensor MLP, a tenth of a small network's
    step). The gradients need not be set as ``.grad``.

    None (use ``opt.step()``) unless ``opt`` is a ``torch.optim.SGD`` with one parameter
    group, fused, without step hooks. Its first step makes the momentum buffers and puts
    them in ``opt.state``, as ``opt.step()`` does.
    Introduced in: the engine
    """
    if type(opt) is not torch.optim.SGD or len(opt.param_groups) != 1:
        return None
    if getattr(opt, "_optimizer_step_pre_hooks", None) or getattr(opt, "_optimizer_step_post_hooks", None):
        return None
    group = opt.param_groups[0]
    if not group.get("fused") or group.get("differentiable"):
        return None
    params = list(group["params"])
    bufs = [opt.state.get(p, {}).get("momentum_buffer") if group["momentum"] else None for p in params]
    if len({b is None for b in bufs}) > 1:
        return None
    from torch.optim.sgd import sgd

    # a weight kept in nn.Linear's memory order (a transposed tensor) goes to the kernel as its
    # contiguous transpose, its gradient and buffer likewise: the same elementwise update, without
    # the fused kernel's copies of a non-contiguous tensor (3x slower measured)
    flip = [p.ndim >= 2 and not p.is_contiguous() and p.transpose(-1, -2).is_contiguous() for p in params]
    ps = [p.transpose(-1, -2) if f else p for p, f in zip(params, flip)]
    bs = [b.transpose(-1, -2) if f and b is not None else b for b, f in zip(bufs, flip)]
    if not all(t is None or t.is_contiguous() for t in ps + bs):
        return None

    @torch.no_grad()
    def step(grads: Sequence[torch.Tensor]) -> None:
        gs = [g.transpose(-1, -2) if f else g for g, f in zip(grads, flip)]
        first = group["momentum"] and bs[0] is None
        sgd(ps, gs, bs, fused=True, weight_decay=group["weight_decay"],
            momentum=group["momentum"], lr=group["lr"], dampening=group["dampening"],
            nesterov=group["nesterov"], maximize=group["maximize"])
        if first:  # the kernel made the buffers (in bs): the optimizer's state holds them, as opt.step() would
            for p, b, f in zip(params, bs, flip):
                opt.state[p]["momentum_buffer"] = b.transpose(-1, -2) if f else b

    return step
