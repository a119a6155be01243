"""Chapter 8's size bounds for the book's runner: :data:`LIMITS` and :func:`estimate_cost`.

For each width w one stack holds 2 networks d-w-w-10 per training-set size N and pair (3
at the largest N), with no padding; then every pair's bend is trained (stacked) and its
paths are scanned, and each network's dropout halves are drawn. The feature grid repeats
this on the extractor's ``feature_dim`` features. The widest width's stack is the peak.

Introduced in: Chapter 8
"""
from __future__ import annotations

from ... import models
from .profiles import ConnectivityConfig

#: Largest value the runner accepts for each integer knob (``-p NAME VALUE``).
LIMITS = {
    # training-set sizes: the first N of MNIST-1D's 4,000 generated training examples
    "n_trains": 4_000,
    "batch_size": 4_000,         # a batch cannot exceed the largest training set
    # widths of both hidden layers: 32x the full profile's widest (256); the width where
    # paths flatten (~2 sqrt(N) <= 127) lies far below
    "widths": 8_192,
    "feature_dim": 8_192,
    "n_pairs": 1_000,            # replicates per cell: 125x the full profile
    "n_points": 1_001,           # points on a path: t in steps of 0.001
    "dropout_draws": 10_000,     # random halves tried per network
    "steps": 1_000_000,
    "curve_steps": 1_000_000,
    "probe_steps": 1_000_000,
    "feature_steps": 1_000_000,
}

F32 = 4
F64 = 8
STATE = 4           # parameter, gradient, Adam's two moments
ACT = 3             # activations kept for backward, their gradients, a temporary
N_TEST, D, C = 1000, 40, 10     # MNIST-1D's test set, input size, classes


def _cell(nets: int, pairs: int, arch: models.Arch, n: int, cfg: ConnectivityConfig) -> float:
    """Bytes of one N's stack of networks and of its pairs' bends and path scans."""
    units = sum(arch.widths) + C
    P = arch.n_params
    train = F32 * nets * (STATE * P + ACT * units * cfg.batch_size)
    bends = F32 * pairs * (STATE * P + ACT * units * min(cfg.batch_size, n))
    # scanning a path: one N's pairs times n_points networks as one stack, on chunks of at
    # most 2,048 examples (the N training, then the 1,000 test examples)
    evaluate = F32 * cfg.n_pairs * cfg.n_points * (P + units * min(max(n, N_TEST), 2048))
    # activation matching: per-layer correlations of a pair on the N inputs
    match = F32 * (2 * n * units + 2 * max(arch.widths) ** 2)
    return train + bends + max(evaluate, match)


def estimate_cost(cfg: ConnectivityConfig) -> int:
    """Upper estimate of the peak bytes of the chapter's two grids at ``cfg``.

    Introduced in: Chapter 8
    """
    J, Pn, I = len(cfg.widths), cfg.n_pairs, len(cfg.n_trains)
    w = max(cfg.widths)
    n = max(cfg.n_trains)
    nets = I * Pn * 2 + (Pn if cfg.same_start else 0)     # the widest width's stack
    # one width's stack lives until its paths are scanned; the grid keeps only curves
    grid = _cell(nets, I * Pn, models.Arch("mlp", (w, w), D, C), n, cfg)
    kept = F64 * len(cfg.n_trains) * J * Pn * (5 * 4 * cfg.n_points + 2)
    extractor = models.Arch("mlp", (cfg.feature_dim,), D, C)
    feat = (F32 * STATE * extractor.n_params
            + F32 * len(cfg.feature_steps) * (4000 + N_TEST) * cfg.feature_dim
            + _cell(J * Pn * 2, J * Pn, models.Arch("mlp", (w, w), cfg.feature_dim, C), n, cfg))
    data = F32 * (4000 + N_TEST) * (D + 1) * 2
    return int(data + kept + max(grid, feat))
