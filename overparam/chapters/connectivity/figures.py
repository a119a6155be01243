"""Chapter 8's figures: paths, barriers against width and width / sqrt(N), dropout, features.

Bands are 95 % t-intervals over the independently trained pairs; on log axes, of the log
barrier (geometric means; barriers below 1e-4 count as 1e-4).

Introduced in: Chapter 8
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ...plotting import plot_band
from ...stats import mean_ci
from .verdicts import width_needed
from .experiments import GridResult
from .features import FeatureResult
from .profiles import TOL

LABELS = {"line": "straight line", "weight": "line after weight matching",
          "activation": "line after activation matching", "bezier": "trained Bezier curve",
          "same_start": "line, two trainings from one start"}
STYLES = {"line": "-", "weight": "--", "activation": ":", "bezier": "-", "same_start": "-."}
FLOOR = 1e-4  # barriers are >= 0; on log axes values below this are drawn at it


def _log_band(ax: plt.Axes, x, samples, **kwargs) -> None:
    """Geometric mean over pairs with its 95 % band (a t-interval of log10 barrier), for
    log axes: an arithmetic band of values near 0 would reach below every log axis."""
    logs = np.log10(np.clip(np.asarray(samples, dtype=float), FLOOR, None))
    m, lo, hi = mean_ci(logs, axis=0)
    line, = ax.plot(x, 10 ** m, **kwargs)
    ax.fill_between(x, 10 ** lo, 10 ** hi, color=line.get_color(), alpha=0.2, linewidth=0)


def _log_barrier_axis(ax: plt.Axes) -> None:
    ax.set_yscale("log")
    ax.axhline(TOL, color="grey", lw=0.8, ls=":")


def plot_paths(grid: GridResult, n_index: int = -1, width_index: int = -1, pair: int = 0) -> plt.Figure:
    """Training loss and test error along every path of one pair at one (N, width).

    Introduced in: Chapter 8
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for m, per in grid.curves.items():
        if np.all(np.isnan(per["train_loss"][n_index, width_index, pair])):
            continue
        for ax, metric in zip(axes, ("train_loss", "test_error")):
            ax.plot(grid.ts, per[metric][n_index, width_index, pair], STYLES[m], marker="o", ms=3,
                    label=LABELS[m])
    N, w = int(grid.n_trains[n_index]), int(grid.widths[width_index])
    axes[0].set(xlabel="t (0 and 1: the two trained networks)", ylabel="training loss (nats)",
                yscale="log", title=f"N = {N}, width {w}, pair {pair}")
    axes[1].set(xlabel="t", ylabel="test error", title="test error along the same paths")
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_barriers(grid: GridResult, n_index: int = -1) -> plt.Figure:
    """Barrier against width for the straight line, the aligned lines and the trained curve
    (and the line between two trainings from one start), training loss and test error.

    Introduced in: Chapter 8
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for m in grid.curves:
        for ax, metric in zip(axes, ("train_loss", "test_error")):
            b = grid.barrier(m, metric)[n_index]           # (J, P)
            if np.all(np.isnan(b)):
                continue
            draw = _log_band if metric == "train_loss" else plot_band
            draw(ax, grid.widths, b.T, label=LABELS[m], linestyle=STYLES[m], marker="o", ms=3)
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xticks(grid.widths, [str(int(w)) for w in grid.widths])
        ax.set_xlabel("width of both hidden layers")
    _log_barrier_axis(axes[0])
    axes[0].set(ylabel="training-loss barrier (nats), geom. mean",
                title=f"N = {int(grid.n_trains[n_index])}; dotted: {TOL} nats")
    axes[1].set(ylabel="barrier in test error", title="the same paths, test error")
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_sqrt_n(grid: GridResult) -> plt.Figure:
    """Curve barrier against width (left) and against width / sqrt(N) (right), one curve per N.

    If width ~ sqrt(N) is what connectivity needs, the right panel's curves coincide.

    Introduced in: Chapter 8
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    b = grid.barrier("bezier")
    for i, N in enumerate(grid.n_trains):
        for ax, x in zip(axes, (grid.widths, grid.widths / np.sqrt(N))):
            _log_band(ax, x, b[i].T, label=f"N = {int(N)}", marker="o", ms=3)
        ws = width_needed(grid.widths, b[i].T)
        ws = ws[np.isfinite(ws)]
        if len(ws):
            axes[0].axvline(2 ** ws.mean(), color=axes[0].lines[-1].get_color(), lw=0.8, ls="--")
    for ax in axes:
        _log_barrier_axis(ax)
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_ylabel("curve barrier (nats), geometric mean")
    axes[0].set(xlabel="width", title="dashed: width needed (barrier reaches the dotted line)")
    axes[1].set(xlabel="width / sqrt(N)", title="rescaled by sqrt(N)")
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_dropout(grid: GridResult) -> plt.Figure:
    """Each pair: its curve barrier against the larger dropout gap of its two ends.

    Points right of the vertical line and below the horizontal line are connected but
    not dropout-stable.

    Introduced in: Chapter 8
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    b = grid.barrier("bezier")
    gap = grid.dropout_gap.max(-1)
    for i, N in enumerate(grid.n_trains):
        for j, w in enumerate(grid.widths):
            ax.scatter(np.clip(gap[i, j], 1e-3, None), np.clip(b[i, j], 1e-4, None), s=18,
                       marker="os^v"[i % 4], color=plt.cm.viridis(j / max(1, len(grid.widths) - 1)),
                       label=f"N={int(N)}, w={int(w)}")
    ax.axhline(TOL, color="grey", lw=0.8, ls=":")
    ax.axvline(TOL, color="grey", lw=0.8, ls=":")
    ax.set(xscale="log", yscale="log", xlabel="dropout gap: loss after dropping half the units - loss (nats)",
           ylabel="curve barrier (nats)", title="lower right: connected, not dropout-stable")
    ax.legend(fontsize="x-small", ncol=2)
    fig.tight_layout()
    return fig


def plot_features(feat: FeatureResult) -> plt.Figure:
    """Curve barrier against width on each kind of features (label: linear-probe accuracy).

    Introduced in: Chapter 8
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for q, lv in enumerate(feat.levels):
        _log_band(ax, feat.widths, feat.barrier[q].T, label=f"{lv} (probe acc. {feat.quality[q]:.2f})",
                  marker="o", ms=3)
    _log_barrier_axis(ax)
    ax.set_xscale("log", base=2)
    ax.set_xticks(feat.widths, [str(int(w)) for w in feat.widths])
    ax.set(xlabel="width of the head's two hidden layers",
           ylabel="curve barrier (nats), geometric mean", title=f"N = {feat.n_train}")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
