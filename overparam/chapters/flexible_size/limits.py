"""Chapter 5's size bounds for the book's runner: :data:`LIMITS` and
:func:`estimate_cost`.

Every experiment trains one stack of flexible one-hidden-layer MLPs through
:func:`overparam.sizing.train_flexible`: members padded to the widest capacity (start
size + ``room``), Adam state, one batch of activations per member, an evaluation on
chunks of 2,000 examples, and per-step records (x0, size, loss, gradient) of every
member. The results of every experiment are kept until the claims are judged.

Introduced in: Chapter 5
"""
from __future__ import annotations

from ... import models
from .profiles import LIMITS as PROFILE_LIMITS
from .profiles import FlexConfig

#: Largest value the runner accepts for each integer knob (``-p NAME VALUE``): the bounds
#: of :mod:`.profiles` (steps <= 100,000; n_seeds <= 64; start sizes and static widths
#: <= 8,192 units, 2x the full profile's largest start) and:
LIMITS = {
    **PROFILE_LIMITS,
    # a batch cannot exceed the largest training set (MNIST-1D: 4,000 examples)
    "batch_size": 4_000,
    "pretrain": PROFILE_LIMITS["steps"],   # pre-training steps: as many as a run may take
    # units above the start: 2x the largest start size, so capacity stays <= 3 x 8,192
    "headroom": 16_384,
}

F32, F64 = 4, 8
STATE = 4                 # parameter, gradient, Adam's two moments
ACT = 3                   # activations kept for backward, their gradients, a temporary
#: (n_train, n_test, input size) of every task
SETS = {"easy": (4000, 1000, 40), "hard": (4000, 1000, 40), "digits": (1297, 500, 64)}
N_REGIMES = 2             # experiments.REGIMES
EVAL_CHUNK = 2000         # examples per evaluation chunk (sizing._evaluate, no gradients)


def _stack(members: int, capacity: int, steps: int, cfg: FlexConfig) -> tuple[float, float]:
    """(training peak, bytes kept afterwards) of one train_flexible stack."""
    n_train, n_test, d = max(SETS[t] for t in cfg.tasks)
    arch = models.Arch("mlp", (capacity,), d, 10)
    per = arch.n_params + 1
    act = max(ACT * cfg.batch_size, 2 * min(n_train, EVAL_CHUNK)) * capacity
    train = F32 * members * (STATE * per + act)
    kept = members * (F64 * 4 * (steps + 1) + F32 * (per + 3 * capacity))
    return train, kept


def estimate_cost(cfg: FlexConfig) -> int:
    """Upper estimate of the peak bytes of the chapter's experiments at ``cfg``.

    Introduced in: Chapter 5
    """
    S, room = cfg.n_seeds, cfg.room
    cap = int(max(max(cfg.starts), cfg.start, max(cfg.static_widths))) + room
    steps = cfg.steps + max(cfg.pretrain)
    n_pen = len(cfg.penalties)
    stacks = [
        _stack(N_REGIMES * S * len(cfg.starts), cap, steps, cfg),                   # start sizes
        _stack(S * (2 * n_pen + len(cfg.static_widths) + 3), cap, steps, cfg),      # penalty grid
        _stack(2 * S, cap, steps, cfg),                                              # growth
        _stack(len(cfg.pretrain) * S, room + 1, steps, cfg),                         # pre-training
    ]
    tasks = len(cfg.tasks)
    data = sum(F32 * (n + m) * (d + 1) for n, m, d in (SETS[t] for t in cfg.tasks))
    return int(data + max(t for t, _ in stacks) + tasks * sum(k for _, k in stacks))
