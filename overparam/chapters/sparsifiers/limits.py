"""Chapter 6's size bounds for the book's runner: :data:`LIMITS` and
:func:`estimate_cost`.

Every experiment trains one stack of gated (or static) MLPs through
:func:`overparam.gates.train_gated`: Adam state for weights and gates, one batch of
activations per member, evaluations on chunks of 4,096 examples, and per-step losses of
every member. The memory section runs one forward pass of a 2-d CNN on 3 images at most.

Introduced in: Chapter 6
"""
from __future__ import annotations

import math

from ... import models
from .profiles import SparsifierConfig

#: Largest value the runner accepts for each integer knob (``-p NAME VALUE``).
LIMITS = {
    # hidden widths: 4x the full profile's largest (2,048 units)
    "start_width": 8_192,
    "starts": 8_192,
    "compress_width": 8_192,
    "compare_width": 8_192,
    "block": 8_192,
    "n_blocks": 64,              # growth blocks: 10x the full profile's 6
    "n_seeds": 100,              # seeds per setting: 10x the full profile
    "epochs": 10_000,
    "block_epochs": 10_000,
    "compare_epochs": 10_000,
    "compress_epochs": 10_000,
    # a batch cannot exceed the largest training set of the chapter (add10 at its limit)
    "batch_size": 100_000,
    "check_every": 1_000_000,
    # Add10 is generated (Friedman #1): 20x the full profile's 5,000 examples
    "add10_train": 100_000,
    # the memory section's 2-d CNN (forward on 3 images; the batch only scales the numbers)
    "mem_channels": 4_096,
    "mem_depth": 4,              # 2x2 pools: 28x28 images are 1x1 after 4 blocks
    "mem_batch": 1_000_000,
}

F32, F64 = 4, 8
STATE = 4            # parameter, gradient, Adam's two moments
ACT = 3              # activations kept for backward, their gradients, a temporary
EVAL_CHUNK = 4096    # examples per evaluation chunk (gates._evaluate)
#: (n_train, n_test, input size) of the fixed data sets
SETS = {"easy": (4000, 1000, 40), "hard": (4000, 1000, 40), "digits": (1297, 500, 64),
        "poker": (5000, 2000, 85), "breast_cancer": (399, 170, 30), "wine": (125, 53, 13)}


def _sets(cfg: SparsifierConfig) -> dict:
    return {**SETS, "add10": (cfg.add10_train, 1000, 10)}


def _stack(members: int, width: int, data: tuple, epochs: int,
           cfg: SparsifierConfig) -> tuple[float, float]:
    """(training peak, bytes kept) of one train_gated stack of d-width-10 MLPs."""
    n_train, n_test, d = data
    per = models.Arch("mlp", (width,), d, 10).n_params + width      # weights and gates
    act = max(ACT * min(cfg.batch_size, n_train), min(EVAL_CHUNK, n_train + n_test)) * (width + 10)
    steps = epochs * math.ceil(n_train / cfg.batch_size)
    train = F32 * members * (STATE * per + act) + F32 * members * (n_train + n_test) * 10
    kept = members * (F64 * (steps + 4 * (epochs + 1)) + F32 * per)
    return train, kept


def estimate_cost(cfg: SparsifierConfig) -> int:
    """Upper estimate of the peak bytes of the chapter's experiments at ``cfg``.

    Introduced in: Chapter 6
    """
    sets = _sets(cfg)
    S, K = cfg.n_seeds, len(cfg.lambdas)
    mnist = sets["easy"]
    widest = max(cfg.start_width, max(cfg.starts))
    stacks = [_stack(K * S, widest, mnist, cfg.epochs, cfg),                  # lambda sweeps
              _stack(S, widest, mnist, cfg.epochs, cfg)]                      # static nets
    for name in cfg.compress_sets:
        stacks.append(_stack(2 * S, cfg.compress_width, sets[name], cfg.compress_epochs, cfg))
    growth = cfg.n_blocks * cfg.block_epochs
    stacks += [_stack(S, cfg.block, sets["add10"], cfg.block_epochs, cfg),
               _stack(2 * S, cfg.compress_width, sets["add10"], growth, cfg)]
    if cfg.compare_width:
        k = max(len(cfg.compare_lambdas_gates), len(cfg.compare_lambdas_slim),
                len(cfg.compare_lambdas_l0))
        stacks.append(_stack(3 * k * S, cfg.compare_width, mnist, cfg.compare_epochs, cfg))
    # the 2-d CNN of the memory section: parameters, 3 images of 32x32 (two copies: naive gate)
    c = cfg.mem_channels
    params = 9 * c * (3 + c * (cfg.mem_depth - 1)) + c * 16 * 16 * 10
    memory = F32 * (2 * params + 2 * 3 * c * 32 * 32 * 2)
    data = sum(F32 * (n + m) * (d + 1) for n, m, d in sets.values())
    return int(data + max(max(t for t, _ in stacks), memory) + 3 * sum(k for _, k in stacks))


#: How the chapter's time grows with knobs that are not proportional to it (the book's
#: time estimate, :mod:`overparam.budget`): the work of a sweep is set by examples seen,
#: not by how they are batched; gate rate and check interval cost nothing.
TIME_EXPONENTS = {"batch_size": 0.0, "gate_scale": 0.0, "slow_gate_scale": 0.0, "check_every": 0.0,
                  "mem_batch": 0.0, "add10_train": 1.0}
