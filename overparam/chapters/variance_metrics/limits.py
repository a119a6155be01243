"""Chapter 4's size bounds for the book's runner: :data:`LIMITS` and
:func:`estimate_cost`.

Each task trains its widths x seeds members with :func:`~overparam.engine.sweep.train_ensemble`
in forced batched mode (buckets of up to 512 members, padded to the bucket's widest, not
capped by the engine's memory budget), keeps every member's parameters, then measures
each member's hidden layer on the test set (post-activations, their SVD).

Introduced in: Chapter 4
"""
from __future__ import annotations

from ... import models
from .profiles import VarianceConfig

#: Largest value the runner accepts for each integer knob (``-p NAME VALUE``).
LIMITS = {
    # hidden widths: 4x the journal's largest (2,896); the metrics' SVDs grow as width^2
    "widths": 11_585,
    "n_seeds": 100,          # seeds per width: 9x the journal's 11
    "epochs": 100_000,
    # a batch cannot exceed the largest training set (a reader's MNIST: 60,000)
    "batch_size": 60_000,
    "n_noise": 100_000,      # the conjecture's noise set: 100x the test set it stands for
    "heldout_folds": 100,    # folds over units; each needs several units
}

F32 = 4
MAX_MEMBERS = 512                     # the engine's largest bucket
#: (n_train, n_test, input size) of every task's data
SETS = {"easy": (4000, 1000, 40), "hard": (4000, 1000, 40), "digits": (1297, 500, 64),
        "mnist": (60_000, 10_000, 784), "fashion": (60_000, 10_000, 784)}


def estimate_cost(cfg: VarianceConfig) -> int:
    """Upper estimate of the peak bytes of the chapter's sweeps at ``cfg``.

    Introduced in: Chapter 4
    """
    w = max(cfg.widths)
    members = len(cfg.widths) * cfg.n_seeds
    runs = list(cfg.tasks) + ([cfg.double_task] if cfg.double_task else [])
    data = sum(F32 * (n + m) * (d + 1) for n, m, d in (SETS[t] for t in cfg.tasks))
    peaks, kept = [], 0.0
    for task in runs:
        n_train, n_test, d = SETS[task]
        arch = models.Arch("mlp", (w,), d, 10)
        # the engine's stack_bytes for the widest bucket
        act = max(cfg.batch_size, min(2048, max(n_train, n_test))) * w * 3
        stack = F32 * min(members, MAX_MEMBERS) * (4 * arch.n_params + act)
        # one member's metrics: pre/post activations on the test set, their SVD, PCA of W
        metrics = F32 * (4 * max(n_test, cfg.n_noise) * w + 3 * d * w + w * w)
        peaks.append(max(stack, metrics))
        # parameters, unit variances and PCA curves kept for every member (float32/64)
        kept += members * (F32 * arch.n_params + 8 * (w + d))
    return int(data + max(peaks) + kept + F32 * cfg.n_noise * 40)
