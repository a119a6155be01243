"""Chapter 6's figures: one function per notebook section."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ...stats import mean_ci
from .experiments import CompressResult, GrowthResult, MemoryResult, SweepResult


def _band(ax, x, ys, label, **kw):
    """Mean over the last axis of ``ys`` (len(x), S) with a 95 % band."""
    m, lo, hi = mean_ci(np.asarray(ys, float), axis=1)
    line, = ax.plot(x, m, label=label, **kw)
    if ys.shape[1] > 1:
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2)
    return line


def plot_sweep(easy: SweepResult, hard: SweepResult):
    """Size over epochs per penalty (both tasks), final size vs penalty, test accuracy vs penalty."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    ep = np.arange(easy.size.shape[0])
    for sw, style in ((easy, "-"), (hard, "--")):
        for k, lam in enumerate(sw.lambdas):
            _band(axes[0], ep, sw.size[:, k], f"{sw.task}, λ={lam:g}", ls=style, color=f"C{k}")
        _band(axes[1], sw.lambdas, sw.final_size.astype(float), sw.task, marker="o", ls=style)
        _band(axes[2], sw.lambdas, sw.score[-1], f"{sw.task}, gated", marker="o", ls=style)
        m = sw.static_score[-1].mean()
        axes[2].axhline(m, ls=style, color="grey", label=f"{sw.task}, static ({sw.start_width} units)")
    axes[0].set(xlabel="epoch", ylabel="live hidden units", title="Units alive during training")
    axes[0].legend(fontsize=7, ncol=2)
    axes[1].set(xscale="log", yscale="log", xlabel="penalty λ", ylabel="final live units",
                title="Final size vs penalty")
    axes[1].legend()
    axes[2].set(xscale="log", xlabel="penalty λ", ylabel="test accuracy", title="Test accuracy (final epoch)")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_training(easy: SweepResult, hard: SweepResult, slow: SweepResult | None = None):
    """Mini-batch loss with each net's first removal (one per penalty), share removed per
    epoch, and the training time per epoch of the gated and static stacks."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    spe = easy.steps_per_epoch
    for sw, style in ((easy, "-"), (hard, "--")):
        T = sw.step_loss.shape[0]
        w = max(1, spe // 4)
        n = T // w
        for k, lam in enumerate(sw.lambdas):
            curve = sw.step_loss[: n * w, k, 0].reshape(n, w).mean(1)
            axes[0].plot((np.arange(n) + 0.5) * w / spe, curve, ls=style, color=f"C{k}",
                         label=f"{sw.task}, λ={lam:g}")
            f = sw.first_removal[k, 0]
            if f >= 0:
                axes[0].axvline(f / spe, ls=":", color=f"C{k}")
    axes[0].set(xlabel="epoch", ylabel="training loss (mini-batches, seed 1)",
                title="Loss and first removals (dotted)")
    axes[0].legend(fontsize=7, ncol=2)
    for sw, label in [(easy, f"easy, gate lr x{easy.gate_scale:g}"), (hard, f"hard, gate lr x{hard.gate_scale:g}")] + \
            ([(slow, f"easy, gate lr x{slow.gate_scale:g}")] if slow is not None else []):
        E1 = sw.size.shape[0]
        total = np.maximum(sw.size[0] - sw.size[-1], 1)
        share = ((sw.size[0] - sw.size) / total).reshape(E1, -1)
        _band(axes[1], np.arange(E1), share, label, marker=".")
    axes[1].set(xlabel="epoch", ylabel="share of the removals done", title="When units are removed")
    axes[1].legend(fontsize=8)
    for sw, style in ((easy, "-"), (hard, "--")):
        e = np.arange(1, len(sw.epoch_time) + 1)
        axes[2].plot(e, sw.epoch_time / len(sw.lambdas), ls=style, marker=".", label=f"{sw.task}, gated (per λ)")
        axes[2].plot(e, sw.static_time, ls=style, marker="x", color="grey", label=f"{sw.task}, static")
    axes[2].set(xlabel="epoch", ylabel="seconds per epoch (stack of the seeds)", title="Time per epoch")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_starts(starts: list):
    """Final size per starting size (one penalty)."""
    fig, ax = plt.subplots(figsize=(5, 4))
    w = np.array([s.start_width for s in starts], float)
    sizes = np.stack([s.final_size[0] for s in starts]).astype(float)
    _band(ax, w, sizes, f"λ = {starts[0].lambdas[0]:g}", marker="o")
    ax.plot(w, w, ls=":", color="grey", label="final = start")
    ax.set(xscale="log", yscale="log", xlabel="starting size", ylabel="final live units",
           title=f"Starting size ({starts[0].task} task)")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_compress(c: CompressResult):
    """Compress vs static of the converged size, same wall-clock budget, per data set."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    x = np.arange(len(c.datasets))
    for i, (arr, label) in enumerate(((c.compress_score, "compress"), (c.static_score, "static, converged size"))):
        m, lo, hi = mean_ci(arr, axis=1)
        axes[0].bar(x + (i - 0.5) * 0.38, m, 0.38, yerr=[m - lo, hi - m] if arr.shape[1] > 1 else None,
                    label=label, capsize=3)
    axes[0].set_xticks(x, c.datasets)
    axes[0].set(ylabel="test accuracy (R² for regression)", title=f"Same {c.budget_s:g} s of training")
    axes[0].legend()
    axes[1].bar(x, c.final_size.mean(1))
    axes[1].set_xticks(x, c.datasets)
    axes[1].set(ylabel="live units", title=f"Converged size (start {c.width})")
    fig.tight_layout()
    return fig


def plot_growth(g: GrowthResult):
    """Growth by blocks on Add10: test error per block vs the wide control; convergence curves."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    b = np.arange(1, g.growth_test.shape[0] + 1)
    _band(axes[0], b, g.growth_test, f"grown, {g.block}-unit blocks", marker="o")
    axes[0].axhline(g.wide_test.mean(), color="grey", ls="--", label=f"compress-trained, start {g.width}")
    axes[0].set(xlabel="blocks", ylabel="test MSE / variance", title="Add10: growth by blocks")
    axes[0].legend()
    _band(axes[1], np.arange(g.block_loss.shape[0]), g.block_loss, f"block 1 ({g.block} units)")
    _band(axes[1], np.arange(g.wide_loss.shape[0]), g.wide_loss, f"{g.width} units")
    axes[1].set(yscale="log", xlabel="epoch", ylabel="training MSE", title="Convergence")
    axes[1].legend()
    fig.tight_layout()
    return fig


def plot_memory(m: MemoryResult):
    """Bytes kept for backward: plain CNN, naive gate, hand-written gate (and the parameters)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    names = ["plain CNN", "naive gate", "hand-written gate", "4 x parameters"]
    vals = [m.plain.mean(), m.naive.mean(), m.hand.mean(), 4 * m.params.mean()]
    ax.bar(names, np.array(vals) / 2**20, color=["C0", "C3", "C2", "grey"])
    ax.set(ylabel="MiB", title=f"Memory for backward ({m.method}), {m.channels} ch x {m.depth}, batch {m.batch}")
    fig.tight_layout()
    return fig
