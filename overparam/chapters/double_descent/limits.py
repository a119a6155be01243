"""Chapter 3's size bounds for the book's runner: :data:`LIMITS` and
:func:`estimate_cost`.

The MLP sweeps train through :func:`~overparam.engine.sweep.train_grid`: chunks of at
most 256 members stacked (padded to the chunk's widest), and a stack the engine
estimates above its memory budget (4 GB on CPU) trained one member at a time. Every
member's softmax test outputs are kept (``keep_probs``), and the width sweep's parameters. The closed-form parts hold
feature matrices of up to 10 n columns in float64.

Introduced in: Chapter 3
"""
from __future__ import annotations

from ... import models
from .profiles import MNIST1D_TRAIN, DoubleDescentConfig

#: Largest value the runner accepts for each integer knob (``-p NAME VALUE``).
LIMITS = {
    # sample sizes: MNIST-1D's generated set has 4,000 training examples
    "n_train": MNIST1D_TRAIN,
    "sample_ns": MNIST1D_TRAIN,
    "emc_ns": MNIST1D_TRAIN,
    "random_n": MNIST1D_TRAIN,
    "teacher_n": MNIST1D_TRAIN,
    "batch_size": MNIST1D_TRAIN,   # a batch cannot exceed the training set
    # hidden widths of a 40-w-10 MLP: 8x the full profile's widest (2,048); the threshold
    # sits near n_train x 10 / 50 parameters per unit, far below
    "widths": 16_384,
    "sample_width": 16_384,
    "emc_widths": 16_384,
    "student_widths": 16_384,
    "teacher_width": 16_384,
    "cnn_widths": 1_024,           # CNN channels (the conv layers are 40 positions long)
    "depth": 16,                   # hidden layers
    "n_seeds": 100,                # seeds per point: 10x the full profile
    "epochs": 100_000,
    "eval_every": 100_000,
    # random features: the n x 10n feature matrix (float64) and its SVD
    "rf_n_train": 10_000,
    "rf_d": 10_000,
    "rf_n_ratios": 1_000,          # N/n values on [0.1, 10]: at most ~10 n distinct ones
    "rf_seeds": 1_000,
    "ls_rows": 10_000,             # linear system: m x 3m float64 SVDs
    "ls_seeds": 1_000,
}

F32, F64 = 4, 8
N_TEST, D, C, LENGTH = 1000, 40, 10, 40   # MNIST-1D test set, input size, classes
CHUNK = 256                              # members per train_grid chunk
BUDGET = 4e9                             # the engine's memory budget of a batched stack (CPU)


def _member_bytes(arch: models.Arch, batch: int, n_train: int) -> float:
    """The engine's estimate (engine.plan.stack_bytes) for one member of ``arch``."""
    act = max(batch, min(2048, max(n_train, N_TEST))) * max(arch.widths) * arch.depth * 3
    if arch.arch == "cnn":
        act *= arch.d
    return F32 * (4 * arch.n_params + act)


def _grid(count: int, arch: models.Arch, cfg: DoubleDescentConfig,
          n_train: int) -> tuple[float, float]:
    """Bytes of one train_grid call: (a chunk's stack, or one member when the stack exceeds
    the budget; the test outputs and curves kept for every member)."""
    one = _member_bytes(arch, cfg.batch_size, n_train)
    stack = min(count, CHUNK) * one
    train = stack if stack <= BUDGET else max(BUDGET, one)
    n_evals = cfg.epochs // cfg.eval_every + 2
    kept = count * (F32 * N_TEST * C + F64 * 6 * n_evals)
    return train, kept


def estimate_cost(cfg: DoubleDescentConfig) -> int:
    """Upper estimate of the peak bytes of the chapter at ``cfg``.

    Introduced in: Chapter 3
    """
    mlp = lambda w: models.Arch("mlp", (int(w),) * cfg.depth, D, C)  # noqa: E731
    seeds, noise = cfg.n_seeds, len(cfg.label_noise)
    data = F32 * (MNIST1D_TRAIN + N_TEST) * (D + 1) * (noise + 1)
    grids = [
        _grid(len(cfg.widths) * noise * seeds, mlp(max(cfg.widths)), cfg, cfg.n_train),
        _grid(len(cfg.sample_ns) * seeds, mlp(cfg.sample_width), cfg, max(cfg.sample_ns)),
        _grid(len(cfg.emc_ns) * len(cfg.emc_widths) * seeds, mlp(max(cfg.emc_widths)), cfg,
              max(cfg.emc_ns)),
        _grid(len(cfg.student_widths) * seeds * 2, mlp(max(cfg.student_widths)), cfg,
              max(cfg.random_n, cfg.teacher_n)),
    ]
    if cfg.cnn_widths:
        cnn = models.Arch("cnn", (max(cfg.cnn_widths),) * cfg.depth, LENGTH, C)
        grids.append(_grid(len(cfg.cnn_widths) * noise * seeds, cnn, cfg, cfg.n_train))
    # kept outputs add up over the sweeps; the training stacks come one at a time
    # the width sweep's trained parameters are kept too (the generalization probes read them)
    params = F32 * len(cfg.widths) * noise * seeds * mlp(max(cfg.widths)).n_params
    mlps = max(t for t, _ in grids) + sum(k for _, k in grids) + params
    # random features: train (n x N) and test (1000 x N) features, the SVD's factors
    n, N = cfg.rf_n_train, 10 * cfg.rf_n_train
    rf = F64 * (3 * (n + N_TEST) * N + n * n + cfg.rf_d * N)
    ls = F64 * 5 * cfg.ls_rows * 3 * cfg.ls_rows
    return int(data + max(mlps, rf, ls))
