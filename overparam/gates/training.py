"""Training a stack of gated (or static) networks through :func:`overparam.engine.loop.fit`
(see :mod:`overparam.gates`).

Introduced in: Chapter 6
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..config import check_choice, check_positive, generator
from ..engine.loop import fit, per_member_batches
from ..engine.optim import make_optimizer
from ..models import Arch, forward, init_stack
from .removal import GatePenalty, Remover
from .units import GATE_MODES, GatedNet, arch_of, check_lambda, gated_forward, init_gated, live_counts

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
    opt = make_optimizer(params, "adam", lr)
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
