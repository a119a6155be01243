"""Chapter 7's size bounds for the book's runner: :data:`LIMITS` and
:func:`estimate_cost`.

The IMP stack holds (criteria + 1) x n_seeds masked networks and keeps, for every round,
their masks, trained parameters and error curves, plus the snapshots to rewind to; the
later sections (controls, supermasks, instability copies, transfer) train further stacks
of the same network from those.

Introduced in: Chapter 7
"""
from __future__ import annotations

from ... import models
from ...data import DIGITS_N_TEST
from .profiles import TicketsConfig

#: Largest value the runner accepts for each integer knob (``-p NAME VALUE``).
LIMITS = {
    # held out of the training set for early stopping: digits' training split has 1,297
    # examples, so at most 1,000 leaves ~300 to train on
    "n_val": 1_000,
    # a batch cannot exceed the larger training set (MNIST-1D: 4,000 examples)
    "batch_size": 4_000,
    # hidden widths (MLP) or channels (CNN): 27x LeNet-300-100's widest layer
    "widths": 8_192,
    "small_widths": 8_192,
    "target_width": 8_192,       # Malach's target net
    "n_seeds": 100,              # seeds per curve: 12x the full profile
    # pruning rounds: 0.8^100 keeps 2e-10 of the weights, less than one weight of any net
    "rounds": 100,
    "long_rounds": 100,
    "reinit_rounds": 100,
    "pai_rounds": 100,
    "transfer_rounds": 100,
    "long_factor": 100,          # the longer-training control's factor
    "drift_factor": 100,         # the near-init dense nets' factor
    "steps": 1_000_000,
    "supermask_steps": 1_000_000,
    "eval_every": 1_000_000,
    "late_step": 1_000_000,      # < steps anyway
    "rewind_steps": 1_000_000,   # < steps anyway
}

F32, F64 = 4, 8
STATE = 5           # parameter, gradient, Adam's two moments, the gradient mask
ACT = 3             # activations kept for backward, their gradients, a temporary
#: (n_train, n_test, input size) of the data sets
SETS = {"digits": (1797 - DIGITS_N_TEST, DIGITS_N_TEST, 64), "mnist1d": (4000, 1000, 40)}


def estimate_cost(cfg: TicketsConfig) -> int:
    """Upper estimate of the peak bytes of the chapter's sections at ``cfg``.

    Introduced in: Chapter 7
    """
    n_train, n_test, d = SETS[cfg.dataset]
    arch = cfg.net(d, 10)     # the largest net (small_widths: a smaller start, bounded alike)
    P = arch.n_params
    units = sum(arch.widths) * (arch.d if arch.arch == "cnn" else 1) + 10
    S, R = cfg.n_seeds, cfg.rounds
    imp = (len(cfg.criteria) + 1) * S
    steps = max(cfg.steps * max(cfg.long_factor, cfg.drift_factor), cfg.supermask_steps)
    T = steps // cfg.eval_every + 2
    # the largest stack trained at once: the IMP stack, the instability copies, the controls
    members = max(imp, 2 * S * len(cfg.rewind_steps), 2 * S * max(R, 1), 3 * S)
    train = F32 * members * (STATE * P + ACT * units * max(cfg.batch_size, n_train + n_test))
    # kept: per round masks and trained parameters, curves, snapshots, starts and ends
    kept = (F32 * imp * P * (2 * (R + 1) + len(cfg.rewind_steps) + 3)
            + F64 * imp * (R + 1) * T * 2
            + F32 * S * P * (2 * R + len(cfg.rewind_steps) + 6))     # controls, copies, masks
    malach = models.Arch("mlp", (cfg.target_width,), d, 10).n_params * S * F32 * STATE
    data = F32 * (n_train + n_test) * (d + 1) * 2
    return int(data + train + kept + malach)
