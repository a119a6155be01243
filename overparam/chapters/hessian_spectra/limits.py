"""Chapter 2's size bounds for the book's runner: :data:`LIMITS` and
:func:`estimate_cost`.

The peak is the larger of the training stacks (n_seeds or n_retrain 2-hidden-layer MLPs
on the blobs, evaluated on the whole training set) and the exact spectrum: a dense
Hessian of up to ``max_exact`` parameters in float64, built from blocks of 256 HVPs over
chunks of 2,048 examples, then diagonalised.

Introduced in: Chapter 2
"""
from __future__ import annotations

from ... import models
from ...data import DIGITS_N_TEST
from .profiles import SpectraConfig

#: Largest value the runner accepts for each integer knob (``-p NAME VALUE``).
LIMITS = {
    "d": 10_000,                 # blob dimension: 100x the talk's 100
    "k": 1_000,                  # classes: 20x the talk's 50
    "ks": 1_000,
    "n_train": 100_000,          # generated blobs: 10x the full profile
    "n_test": 100_000,
    "width": 8_192,              # hidden widths: 8x the largest of any profile (1,024)
    "widths": 8_192,
    "retrain_width": 8_192,
    "small_width": 8_192,
    "large_width": 8_192,
    # a batch cannot exceed the training set (n_train <= 100,000)
    "batch_size": 100_000,
    "batch_sizes": 100_000,
    "lb_batch": 100_000,
    "sb_batch": 100_000,
    # section 7 trains on MNIST-1D (4,000 training examples) or digits (1,297): a batch
    # cannot exceed the larger set
    "sgd_batch": 4_000,
    "n_seeds": 1_000,            # nets per setting: an interval needs a few, not thousands
    "n_seeds7": 1_000,
    "n_retrain": 10_000,         # retrainings for the top-eigenvalue histogram
    # a dense float64 Hessian of 30,000 parameters is 7.2 GB, and eigh needs as much again
    "max_exact": 30_000,
    "slq_probes": 1_000,
    "slq_steps": 10_000,         # Lanczos steps: more than ~1,000 only repeats converged values
    "steps": 1_000_000,
    "sb_steps": 1_000_000,
    "epochs": 100_000,
    "gd_epochs": 1_000_000,
    "gd_eval_every": 1_000_000,
}

F32, F64 = 4, 8
STATE = 4           # parameter, gradient and two buffers (SGD keeps fewer; an upper bound)
ACT = 3             # activations kept for backward, their gradients, one temporary
CHUNK = 2048        # examples per chunk of the Hessian products (hessian.Curvature)
BLOCK = 256         # unit vectors per block of the dense Hessian
SET_SIZES = {"mnist1d": (4000, 1000, 40), "digits": (1797 - DIGITS_N_TEST, DIGITS_N_TEST, 64)}


def _stack(nets: int, arch: models.Arch, n_eval: int, batch: int, dtype: int = F32) -> float:
    """Bytes of a stack of 2-hidden-layer nets: training state and a full evaluation."""
    units = sum(arch.widths) + arch.n_classes
    return dtype * nets * (STATE * arch.n_params + ACT * units * max(batch, n_eval))


def estimate_cost(cfg: SpectraConfig) -> int:
    """Upper estimate of the peak bytes of the chapter's sections at ``cfg``.

    Introduced in: Chapter 2
    """
    k = max(cfg.k, max(cfg.ks))
    w = max(cfg.width, max(cfg.widths))
    blobs = models.Arch("mlp", (w, w), cfg.d, k)
    n = cfg.n_train + cfg.n_test
    batch = max(cfg.batch_size, max(cfg.batch_sizes), cfg.lb_batch, cfg.sb_batch)
    data = F64 * n * (cfg.d + 1) * 2                       # float32 tensors and float64 copies
    # three stacks at once in section 8 (large batch, its two continuations); section 6
    # retrains n_retrain nets of retrain_width
    retrain = models.Arch("mlp", (cfg.retrain_width,) * 2, cfg.d, cfg.k)
    train = max(3 * _stack(cfg.n_seeds, blobs, cfg.n_train, batch),
                _stack(cfg.n_retrain, retrain, cfg.n_train, batch))
    # the dense Hessian / Gauss-Newton matrix (out, eye, symmetrised copy, eigh workspace)
    # for nets small enough, and a block of 256 HVPs over one chunk of examples
    p = min(blobs.n_params, cfg.max_exact)
    units = 2 * w + k
    exact = F64 * (5 * p * p + BLOCK * min(CHUNK, cfg.n_train) * units * ACT + BLOCK * p * 2)
    slq = F64 * (cfg.slq_steps + 2) * blobs.n_params * 2   # Lanczos basis per probe
    # section 7: small and large nets on the real data set, SGD and full-batch GD
    n_tr, n_te, d7 = SET_SIZES[cfg.dataset]
    big = models.Arch("mlp", (cfg.large_width, cfg.large_width), d7, 10)
    sec7 = F32 * n_tr * d7 + _stack(cfg.n_seeds7, big, max(n_tr, n_te), max(cfg.sgd_batch, n_tr))
    return int(data + max(train, exact, slq, sec7))
