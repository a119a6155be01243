"""Chapter 5 figures: one function per section, each returning its matplotlib Figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ...plotting import plot_band
from ...sizing import EPS
from .experiments import Growth, Numerics, Pretraining, StartSweep

__all__ = ["plot_scaler", "plot_start_sweep", "plot_penalty_grid", "plot_weights", "plot_growth",
           "plot_pretraining"]


def plot_scaler(num: Numerics) -> plt.Figure:
    """Left: the scales f_i for a few (x0, k). Right: share of NaN gradients (x0, k) of the
    size penalty at the journal's initialisation, naive formula vs stable closed form."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [2, 1]})
    for label, f in num.curves.items():
        a.plot(num.units, f, label=label)
    a.set(xlabel="unit index i", ylabel="scale f_i = sigmoid(k (x0 - i))", title="The scaler")
    a.legend(fontsize=8)
    b.bar(["naive sum\n1 - 1/(1 + exp(.))", "closed form\n(softplus)"], [num.naive_nan, num.stable_nan],
          color=["#cf222e", "#1a7f37"])
    b.set(ylim=(0, 1.05), ylabel="share of NaN gradients",
          title=f"x0 = N = {num.n} units, k = {num.k:g}")
    fig.tight_layout()
    return fig


def plot_start_sweep(sw: StartSweep) -> plt.Figure:
    """Size over training for every start size (both regimes), final size and final test
    accuracy against the start size (mean and 95 % interval over seeds)."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(sw.starts)))
    t = np.arange(sw.traces.shape[-1])
    for r, (reg, ls) in enumerate(zip(sw.regimes, ("-", "--"))):
        for j, st in enumerate(sw.starts):
            axes[0].plot(t, sw.traces[r, :, j].mean(0), ls=ls, color=colours[j],
                         label=f"start {int(st)}" if r == 0 else None)
        x = np.log2(sw.starts)
        plot_band(axes[1], x, np.log2(np.maximum(sw.size[r], 1e-3)), label=reg)
        plot_band(axes[2], x, 100 * sw.acc[r], label=reg)
    axes[0].set(xlabel="step", ylabel="size (units)", yscale="log",
                title=f"solid: {sw.regimes[0]}; dashed: {sw.regimes[1]}")
    axes[0].legend(fontsize=7, ncol=2)
    x = np.log2(sw.starts)
    axes[1].plot(x, x, color="grey", lw=0.8, ls=":", label="final = start")
    axes[1].set(xlabel="log2 start size", ylabel="log2 final size",
                title=f"Adam bound: {sw.bound:.0f} units per run")
    axes[1].legend(fontsize=8)
    axes[2].set(xlabel="log2 start size", ylabel=f"test accuracy (%), {sw.task}")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_penalty_grid(grids: dict) -> plt.Figure:
    """Per task: the static grid's test accuracy against width (band over seeds), every
    flexible net at its final size (filled: L2 on; open: L2 off), and the static nets
    retrained from scratch at those sizes (crosses)."""
    fig, axes = plt.subplots(1, len(grids), figsize=(5.2 * len(grids), 3.8), squeeze=False)
    for ax, (task, g) in zip(axes[0], grids.items()):
        plot_band(ax, np.log2(g.static_widths), 100 * g.static_acc, label="static nets", color="grey")
        colours = plt.cm.plasma(np.linspace(0.1, 0.8, len(g.penalties)))
        for p, pen in enumerate(g.penalties):
            for l, fill in ((0, True), (1, False)):
                x = np.log2(np.maximum(g.size[p, l], 1))
                ax.scatter(x, 100 * g.acc[p, l], s=30, color=colours[p] if fill else "none",
                           edgecolors=colours[p], label=f"flexible, penalty {pen:g}" + ("" if fill else ", no L2"))
                ax.scatter(x, 100 * g.retrain_acc[p, l], marker="x", s=25, color=colours[p])
        ax.set(xlabel="log2 width (static) or final size (flexible)", ylabel="test accuracy (%)",
               title=f"{task}: x = static net of the found size")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_weights(grid, member: int = 0) -> plt.Figure:
    """The journal's plateau plot: norm of each hidden unit's outgoing weights at the start
    and at the end, with L2 and without (same penalty and seed), and the final scales."""
    P, _, S = grid.size.shape
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.6), sharey=True)
    for ax, l, name in zip(axes, (0, 1), ("with L2", "without L2")):
        i = (0 * 2 + l) * S + member
        w0, w, f = grid.w_rows[i]
        u = np.arange(len(w))
        ax.plot(u, w0, color="grey", lw=0.8, label="at the start")
        ax.plot(u, w, color="C0", lw=0.9, label="at the end")
        ax2 = ax.twinx()
        ax2.plot(u, f, color="C3", lw=1.2, label="scale f_i")
        ax2.set_ylim(-0.05, 1.05)
        ax2.set_ylabel("scale f_i", color="C3")
        off = np.nonzero(f < EPS)[0]
        if len(off):
            ax.axvspan(off[0], len(w), color="C3", alpha=0.07)
        ax.set(xlabel="hidden unit i", title=f"{grid.task}, {name} (penalty {grid.penalties[0]:g}); "
               "shaded: disabled (f < 0.007)")
        ax.legend(fontsize=8, loc="upper center")
    axes[0].set_ylabel("|outgoing weights of unit i|")
    fig.tight_layout()
    return fig


def plot_growth(gr: Growth) -> plt.Figure:
    """No L2, no penalty: the size over training, fixed vs random slope (log time axis),
    their batch losses, and x0 with penalty = x0 vs the integral penalty."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    t = np.arange(1, gr.fixed.shape[1])
    plot_band(axes[0], t, gr.fixed[:, 1:], label="fixed slope (gray zone 10)")
    plot_band(axes[0], t, gr.random[:, 1:], label="random slope (gray zone U[1, 20])")
    axes[0].plot(t, gr.fixed[:, 0].mean() + 0.25 * 0 + t * (gr.bound / gr.steps), color="grey", ls=":",
                 lw=0.8, label="start + Adam bound")
    axes[0].set(xscale="log", xlabel="step (log)", ylabel="size (units)", ylim=(0, None),
                title=f"{gr.task}: no penalty, no L2")
    axes[0].legend(fontsize=8)
    w = max(1, gr.loss_fixed.shape[1] // 40)
    smooth = lambda a: np.stack([np.convolve(x, np.ones(w) / w, mode="valid") for x in a])
    tt = np.arange(smooth(gr.loss_fixed).shape[1]) + w
    plot_band(axes[1], tt, smooth(gr.loss_fixed), label="fixed slope")
    plot_band(axes[1], tt, smooth(gr.loss_random), label="random slope")
    axes[1].set(xlabel="step", ylabel=f"batch loss (running mean of {w})", yscale="log")
    axes[1].legend(fontsize=8)
    t0 = np.arange(gr.x0_pen.shape[1])
    plot_band(axes[2], t0, gr.x0_pen, label="penalty = x0")
    plot_band(axes[2], t0, gr.x0_int, label="penalty = integral (same weight)")
    axes[2].plot(t0, gr.x0_pen[:, 0].mean() - t0 * gr.bound / gr.steps, color="grey", ls=":", lw=0.8,
                 label="start - Adam bound")
    axes[2].set(xlabel="step", ylabel="x0 (units)", title="the size parameter")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_pretraining(pt: Pretraining) -> plt.Figure:
    """Size after the size is enabled (from x0 = 0), for each length of static pre-training."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    t = np.arange(pt.size.shape[-1])
    for k, P in enumerate(pt.pretrain):
        plot_band(ax, t, pt.size[k], label=f"pre-trained {P} steps")
    ax.plot(t, t * pt.bound / (len(t) - 1), color="grey", ls=":", lw=0.8, label="Adam bound")
    ax.set(xlabel="steps since the size was enabled", ylabel="size (units)", ylim=(0, None),
           title=f"{pt.task}: pre-training, then the size from 0")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
