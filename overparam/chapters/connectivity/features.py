"""Chapter 8's feature-quality grid: the same heads on features of growing quality.

:func:`feature_grid` trains heads of every width in pairs on the raw inputs (the grid's
largest-N row), on a random feature extractor's features and on a trained one's, and
measures the Bezier-curve and straight-line barriers between them; a linear probe's
training accuracy scores each kind of feature.

Introduced in: Chapter 8
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ... import landscape
from ...config import log, seed_stream, threads
from ...models import Arch, forward
from .experiments import GridResult, Task, _init_seed, fit_bends, pair_paths
from .profiles import ConnectivityConfig
from .training import train_networks


@dataclass
class FeatureResult:
    """Bezier-curve and straight-line barriers of heads trained on features of several qualities.

    Attributes
    ----------
    levels : list of str – "raw" (the inputs), then "random features" (extractor at step 0)
        and "extractor after s steps" for each later checkpoint
    quality : ndarray (Q,) – training accuracy of a linear probe on each level's features
        (1.0: linearly separable training set)
    widths : ndarray (J,)
    barrier : ndarray (Q, J, P) – Bezier-curve training-loss barrier
    line_barrier : ndarray (Q, J, P) – straight-line training-loss barrier
    end_loss : ndarray (Q, J, P, 2) – training loss of the two ends
    n_train : int
    met : dict "ends" (Q, J, P, 2), "bezier" (Q, J, P) -> bool: met the plateau criterion
    steps : ndarray (Q, J) – steps the heads took; criterion : the plateau criterion in words
    seconds : float

    Introduced in: Chapter 8
    """

    levels: list
    quality: np.ndarray
    widths: np.ndarray
    barrier: np.ndarray
    line_barrier: np.ndarray
    end_loss: np.ndarray
    n_train: int
    met: dict = field(default_factory=dict)
    steps: np.ndarray | None = None     # (Q, J): steps the heads took
    criterion: str = ""
    seconds: float = 0.0


def _standardise(F_tr: torch.Tensor, F_te: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mu, sd = F_tr.mean(0), F_tr.std(0).clamp_min(1e-6)
    return (F_tr - mu) / sd, (F_te - mu) / sd


def _probe_accuracy(Fe: torch.Tensor, y: torch.Tensor, cfg, seed: int, name: str, n_classes: int) -> float:
    """Training accuracy of a linear classifier (the model family with no hidden layer)."""
    arch = Arch("mlp", (), d=Fe.shape[1], n_classes=n_classes)
    tr = train_networks(arch, [_init_seed(seed, "probe", name)], Fe, y, cfg,
                        seed_stream(seed, f"connectivity/probe/{name}"), steps=cfg.probe_steps,
                        stop=False, label=f"probe {name}")
    with torch.no_grad():
        return float((forward(tr.arch, tr.params, Fe)[0].argmax(1) == y).double().mean())


def feature_widths(cfg: ConnectivityConfig) -> tuple:
    """Widths of the heads on features (``cfg.feature_widths``, default the grid's widths)."""
    return tuple(cfg.widths) if cfg.feature_widths is None else tuple(cfg.feature_widths)


@threads(1)
def feature_grid(cfg: ConnectivityConfig, task: Task, grid: GridResult, seed: int = 0) -> FeatureResult:
    """The same two-hidden-layer heads on raw inputs and on a feature extractor's features.

    A d-``feature_dim``-10 MLP (the extractor) is trained on the largest training set;
    its hidden ReLU features at each of ``feature_steps`` (0: random features; the last:
    a network that fits its training set, whose features are then nearly linearly
    separable) are standardised and fed to heads of every width of ``feature_widths``,
    trained in pairs from independent starts as in :func:`connectivity_grid`. The raw
    level is the grid's largest-N row (the same heads on the standardised inputs).
    Quality = training accuracy of a linear probe on the features.

    Introduced in: Chapter 8
    """
    t0 = time.perf_counter()
    N = int(cfg.n_trains[-1])
    X, y = task.X[:N], task.y[:N]
    ext_arch = Arch("mlp", (cfg.feature_dim,), d=task.d, n_classes=task.n_classes)
    steps = list(cfg.feature_steps)
    ext = train_networks(ext_arch, [_init_seed(seed, "extractor")], X, y, cfg,
                         seed_stream(seed, "connectivity/order/extractor"), steps=max(steps), stop=False,
                         snapshot_steps=steps, label="extractor")
    feats = {"raw": (X, task.X_test)}
    for s in steps:
        W, b = ext.snapshots[s][0][0].to(X.device), ext.snapshots[s][1][0].to(X.device)
        feats["random features" if s == 0 else f"extractor after {s} steps"] = _standardise(torch.relu(X @ W + b), torch.relu(task.X_test @ W + b))
    levels = list(feats)
    widths = feature_widths(cfg)
    cols = [list(grid.widths).index(w) for w in widths]
    Q, J, P = len(levels), len(widths), cfg.n_pairs
    quality = np.array([_probe_accuracy(feats[lv][0], y, cfg, seed, lv, task.n_classes) for lv in levels])
    bar, line_bar = np.full((Q, J, P), np.nan), np.full((Q, J, P), np.nan)
    ends = np.full((Q, J, P, 2), np.nan)
    met = {"ends": np.zeros((Q, J, P, 2), bool), "bezier": np.zeros((Q, J, P), bool)}
    bar[0] = grid.barrier("bezier")[-1][cols]
    line_bar[0] = grid.barrier("line")[-1][cols]
    ends[0] = grid.end_loss()[-1][cols]
    hsteps = np.zeros((Q, J), int)
    if grid.met:
        met["ends"][0], met["bezier"][0] = grid.met["ends"][-1][cols], grid.met["bezier"][-1][cols]
        hsteps[0] = grid.steps["ends"][-1][cols]
    # one stack per width holds the heads of every extractor level: member m of level q draws
    # its batches from level q's block of the stacked features (rows (q-1) N ... q N - 1)
    Xcat = torch.cat([feats[lv][0] for lv in levels[1:]])
    ycat = y.repeat(Q - 1)
    for j, w in enumerate(widths):
        arch = Arch("mlp", (w, w), d=cfg.feature_dim, n_classes=task.n_classes)
        seeds = [_init_seed(seed, "features", lv, w, k, e) for lv in levels[1:] for k in range(P) for e in (0, 1)]
        offsets = [q * N for q in range(Q - 1) for _ in range(2 * P)]
        log.info(f"connectivity: heads on features, width {w}, {len(seeds)} networks")
        tr = train_networks(arch, seeds, Xcat, ycat, cfg, seed_stream(seed, f"connectivity/order/features/w{w}"),
                            sizes=N, offsets=offsets, label=f"heads w={w}")
        ia, ib = list(range(0, len(seeds), 2)), list(range(1, len(seeds), 2))
        bend, bplat = fit_bends(tr, ia, ib, Xcat, ycat, N, cfg, seed, label=f"bend features w={w}",
                                offsets=offsets[::2])
        em, bm = tr.plateau.met(), bplat.met()
        for q, lv in enumerate(levels[1:], start=1):
            r = list(range((q - 1) * P, q * P))
            Ftr, Fte = feats[lv]
            paths = pair_paths(tr, [ia[k] for k in r], [ib[k] for k in r], (Ftr, y), (Fte, task.y_test), cfg,
                               seed, methods=("line", "bezier"), bend=[p[r] for p in bend])
            bar[q, j] = landscape.path_barrier(paths["bezier"]["train_loss"])
            line_bar[q, j] = landscape.path_barrier(paths["line"]["train_loss"])
            ends[q, j] = paths["line"]["train_loss"][:, [0, -1]]
            met["ends"][q, j] = np.stack([em[[ia[k] for k in r]], em[[ib[k] for k in r]]], -1)
            met["bezier"][q, j] = bm[r]
            hsteps[q, j] = tr.plateau.steps
    return FeatureResult(levels, quality, np.asarray(widths), bar, line_bar, ends, N, met, hsteps,
                         grid.criterion, time.perf_counter() - t0)
