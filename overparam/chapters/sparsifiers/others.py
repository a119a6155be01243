"""Beyond the journal: the same MLP under three sparsifiers, units kept vs test error.

- ``"gates"``: this chapter's L1 liveness gates with removal (:mod:`overparam.gates`);
- ``"slimming"``: network slimming (Liu et al. 2017): batch normalisation after each
  hidden layer, an L1 penalty on its scales; a unit is pruned at the end when its
  ``|scale|`` is below ``SLIM_THRESHOLD`` (fixed in advance; no fine-tuning);
- ``"l0"``: hard-concrete L0 gates (Louizos, Welling & Kingma 2018): a stochastic gate per
  unit, ``z = min(1, max(0, sigmoid((log u - log(1 - u) + log alpha) / beta) (zeta - gamma)
  + gamma))`` during training, the expected number of open gates as the penalty, and the
  deterministic gate ``min(1, max(0, sigmoid(log alpha) (zeta - gamma) + gamma))`` at test
  time; a unit counts as kept when that gate is above 0.

All three train through :func:`overparam.engine.loop.fit` with Adam, the same start width,
epochs and seeds, their sparsity parameters (gates, BN scales, log alpha) at the same
learning rate (``gate_scale x lr``), and are read at the final epoch (not the best).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ... import gates
from ...config import generator, threads
from ...engine.loop import fit, per_member_batches
from ...engine.optim import make_optimizer
from ...models import Arch, init_stack
from .experiments import load_set, member_seeds
from .profiles import SparsifierConfig

METHODS = ("gates", "slimming", "l0")
BETA, GAMMA, ZETA = 2 / 3, -0.1, 1.1       # Louizos et al.'s hard-concrete constants
L0_INIT_DROP = 0.1                          # log alpha starts at log((1 - p) / p)
SLIM_THRESHOLD = 1e-2                       # |BN scale| below this: the unit is pruned
BN_EPS = 1e-5


@dataclass
class ParetoResult:
    """Units kept and test error of each method, per penalty (K) and seed (S), final epoch."""

    width: int
    lambdas: dict = field(default_factory=dict)    # method -> (K,)
    units: dict = field(default_factory=dict)      # method -> (K, S)
    test_err: dict = field(default_factory=dict)   # method -> (K, S)
    expected_l0: np.ndarray | None = None          # (K, S): sum of P(gate != 0) at the end
    open_l0: np.ndarray | None = None              # (K, S): test-time gates above 0


def _bn(a: torch.Tensor, scale, shift, stats=None):
    mean, var = (a.mean(1, keepdim=True), a.var(1, unbiased=False, keepdim=True)) if stats is None else stats
    return (a - mean) / torch.sqrt(var + BN_EPS) * scale[:, None, :] + shift[:, None, :]


def _hard_concrete(log_alpha: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    if gen is None:  # test time
        return torch.clamp(torch.sigmoid(log_alpha) * (ZETA - GAMMA) + GAMMA, 0, 1)
    u = torch.rand(log_alpha.shape, generator=gen, device=log_alpha.device).clamp(1e-6, 1 - 1e-6)
    s = torch.sigmoid((torch.log(u) - torch.log(1 - u) + log_alpha) / BETA)
    return torch.clamp(s * (ZETA - GAMMA) + GAMMA, 0, 1)


def expected_open(log_alpha: torch.Tensor) -> torch.Tensor:
    """(M,) expected number of non-zero hard-concrete gates, Louizos et al.'s L0 penalty."""
    return torch.sigmoid(log_alpha - BETA * math.log(-GAMMA / ZETA)).sum(-1)


def _forward(method: str, params, X, gen=None, stats=None):
    W1, b1, W2, b2, extra = params[0], params[1], params[2], params[3], params[4:]
    a = torch.baddbmm(b1[:, None, :], X.expand(W1.shape[0], *X.shape[-2:]) if X.ndim == 2 else X, W1)
    if method == "slimming":
        h = torch.relu(_bn(a, extra[0], extra[1], stats))
    else:
        h = torch.relu(a) * _hard_concrete(extra[0], gen)[:, None, :]
    return torch.baddbmm(b2[:, None, :], h, W2)


def _train_other(method: str, cfg: SparsifierConfig, lams, seed: int, ds, device):
    """Train one stack (penalties x seeds) of slimming or L0 nets; return (units, test error[, l0])."""
    S = cfg.n_seeds
    width = cfg.compare_width
    seeds = member_seeds(seed, S, "compare") * len(lams)
    lam = torch.tensor([l for l in lams for _ in range(S)], device=device)
    arch = Arch("mlp", (width,), ds["x"].shape[1], 10)
    st = init_stack(arch, seeds, device)
    M = len(seeds)
    if method == "slimming":
        extra = [torch.ones(M, width, device=device), torch.zeros(M, width, device=device)]
    else:
        extra = [torch.full((M, width), math.log((1 - L0_INIT_DROP) / L0_INIT_DROP), device=device)]
    params = [p.clone().requires_grad_(True) for p in st.params + extra]
    X, y = ds["x"], ds["y"]
    gens = [generator(s, f"sparsifiers/compare/order/{seed}") for s in seeds]
    batches = per_member_batches(len(X), cfg.batch_size, gens, device)
    noise = generator(seed, "sparsifiers/compare/l0", device)

    def loss(ps, idx):
        out = _forward(method, ps, X[idx], gen=noise)
        return F.cross_entropy(out.transpose(1, 2), y[idx], reduction="none").mean(1)

    def penalty(ps):
        return lam * (ps[4].abs().sum(1) if method == "slimming" else expected_open(ps[4]))

    spe = -(-len(X) // cfg.batch_size)
    # the sparsity parameters (BN scales, log alpha) move as fast as the L1 gates do
    opt = make_optimizer([{"params": params[:4]}, {"params": params[4:], "lr": cfg.lr * cfg.gate_scale}], "adam", cfg.lr)
    res = fit(params, loss, batches, opt, cfg.compare_epochs * spe,
              penalties=[penalty], label=f"compare {method}")
    ps = res.params
    with torch.no_grad():
        if method == "slimming":
            a = torch.baddbmm(ps[1][:, None, :], X.expand(M, *X.shape), ps[0])
            stats = (a.mean(1, keepdim=True), a.var(1, unbiased=False, keepdim=True))
            keep = ps[4].abs() >= SLIM_THRESHOLD
            pruned = [ps[0], ps[1], ps[2] * keep[:, :, None], ps[3], ps[4] * keep, ps[5] * keep]
            out = _forward(method, pruned, ds["x_test"], stats=stats)
            units = keep.sum(1)
            l0 = None
        else:
            out = _forward(method, ps, ds["x_test"])
            units = (_hard_concrete(ps[4], None) > 0).sum(1)
            l0 = expected_open(ps[4]).cpu().numpy().reshape(len(lams), S)
        err = (out.argmax(-1) != ds["y_test"]).float().mean(1).cpu().numpy().reshape(len(lams), S)
    return units.cpu().numpy().reshape(len(lams), S), err, l0


@threads(1)
def compare_sparsifiers(cfg: SparsifierConfig, seed: int, device="cpu", task: str = "easy") -> ParetoResult:
    """L1 gates, network slimming and hard-concrete L0 gates on the same MLP, start width
    ``compare_width``, each over its own penalties; units kept and test error at the end.

    Introduced in: Chapter 6
    """
    ds, kind, C = load_set(task, seed, device)
    out = ParetoResult(cfg.compare_width)
    lams = {"gates": cfg.compare_lambdas_gates, "slimming": cfg.compare_lambdas_slim, "l0": cfg.compare_lambdas_l0}
    for method in METHODS:
        K, S = len(lams[method]), cfg.n_seeds
        out.lambdas[method] = np.array(lams[method])
        if method == "gates":
            arch = Arch("mlp", (cfg.compare_width,), ds["x"].shape[1], C)
            specs = [gates.GateSpec(lam=l, seed=sd, gate_scale=cfg.gate_scale, widths=(cfg.compare_width,))
                     for l in lams[method] for sd in member_seeds(seed, S, "compare")]
            run = gates.train_gated(arch, specs, ds, epochs=cfg.compare_epochs, batch_size=cfg.batch_size,
                                    lr=cfg.lr, order_seed=seed, device=device, check_every=cfg.check_every,
                                    label="compare gates")
            out.units[method] = run.size[-1].reshape(K, S)
            out.test_err[method] = 1 - run.score[-1].reshape(K, S)
        else:
            units, err, l0 = _train_other(method, cfg, lams[method], seed, ds, device)
            out.units[method], out.test_err[method] = units, err
            if l0 is not None:
                out.expected_l0, out.open_l0 = l0, units
    return out
