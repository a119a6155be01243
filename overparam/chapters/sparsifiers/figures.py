"""Chapter 6's figures: one function per notebook section."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ...stats import mean_ci
from .experiments import BATCHES, CompressResult, GrowthResult, MemoryResult, SweepResult
from .others import METHODS, ParetoResult


def _band(ax, x, ys, label, **kw):
    """Mean over the last axis of ``ys`` (len(x), S) with a 95 % band."""
    m, lo, hi = mean_ci(np.asarray(ys, float), axis=1)
    line, = ax.plot(x, m, label=label, **kw)
    if ys.shape[1] > 1:
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2)
    return line


def _lambda_axis(ax, lambdas) -> None:
    ax.set_xscale("log")
    ax.set_xticks(list(lambdas), [f"{x:g}" for x in lambdas])
    ax.minorticks_off()


def plot_sweep(easy: SweepResult, hard: SweepResult):
    """Size over epochs per penalty (both tasks), final size vs penalty, test accuracy vs penalty."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    ep = np.arange(easy.size.shape[0])
    for sw, style in ((easy, "-"), (hard, "--")):
        for k, lam in enumerate(sw.lambdas):
            _band(axes[0], ep, sw.size[:, k], f"{sw.task}, λ={lam:g}", ls=style, color=f"C{k}")
        _band(axes[1], sw.lambdas, sw.final_size.astype(float), sw.task, marker="o", ls=style)
        _band(axes[2], sw.lambdas, sw.score[-1], f"{sw.task}, gated", marker="o", ls=style)
        m = sw.base_score[-1].mean()
        axes[2].axhline(m, ls=style, color="grey", label=f"{sw.task}, no penalty ({sw.start_width} units)")
    axes[0].set(xlabel="epoch", ylabel="live hidden units", title="Units alive during training")
    axes[0].legend(fontsize=7, ncol=2)
    axes[1].set(yscale="log", xlabel="penalty λ", ylabel="final live units", title="Final size vs penalty")
    axes[1].legend()
    axes[2].set(xlabel="penalty λ", ylabel="test accuracy", title="Test accuracy (final epoch)")
    for ax in axes[1:]:
        _lambda_axis(ax, easy.lambdas)
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_training(easy: SweepResult, hard: SweepResult, slow: SweepResult | None = None):
    """Excess training loss over the unpenalised gated net (same batches) against time in
    units of a gate's time to zero, with each net's first removal; share of the removals
    done by then; the training time per net and epoch."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for sw, style in ((easy, "-"), (hard, "--")):
        T, t0 = sw.step_loss.shape[0], sw.t0
        w = max(1, int(t0 // 4))
        n = T // w
        excess = sw.step_loss - sw.base_step_loss[:, None, :]
        win = excess[: n * w].reshape(n, w, *excess.shape[1:]).mean(1)      # (n, K, S)
        for k, lam in enumerate(sw.lambdas):
            _band(axes[0], (np.arange(n) + 0.5) * w / t0, win[:, k], f"{sw.task}, λ={lam:g}",
                  ls=style, color=f"C{k}")
            f = sw.first_removal[k][sw.first_removal[k] >= 0]
            if len(f):
                axes[0].axvline(np.median(f) / t0, ls=":", color=f"C{k}")
    axes[0].axhline(0, color="grey", lw=0.8)
    axes[0].set(xscale="log", xlabel="steps / gate time to zero", ylabel="loss gated - loss unpenalised",
                title="What the penalty costs; first removals dotted")
    axes[0].legend(fontsize=7, ncol=2)
    rows = [(easy, f"easy, gate lr x{easy.gate_scale:g}"), (hard, f"hard, gate lr x{hard.gate_scale:g}")]
    if slow is not None:
        rows.append((slow, f"easy, λ={slow.lambdas[0]:g}, gate lr x{slow.gate_scale:g}"))
    for sw, label in rows:
        E1 = sw.size.shape[0]
        total = np.maximum(sw.size[0] - sw.size[-1], 1)
        share = ((sw.size[0] - sw.size) / total).reshape(E1, -1)
        _band(axes[1], np.arange(E1) * sw.steps_per_epoch / sw.t0, share, label, marker=".")
    axes[1].set(xscale="symlog", xlabel="steps / gate time to zero", ylabel="share of the removals done",
                title="When units are removed")
    axes[1].legend(fontsize=8)
    for sw, style in ((easy, "-"), (hard, "--")):
        e = np.arange(1, len(sw.epoch_time) + 1)
        K, S = sw.size.shape[1:]
        axes[2].plot(e, sw.epoch_time / ((K + 1) * S), ls=style, marker=".",
                     label=f"{sw.task}, gated (stack of {(K + 1) * S}, unpenalised included)")
    axes[2].set(xlabel="epoch", ylabel="seconds per net and epoch", title="Training time")
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
    """Compress vs static of the converged size, same multiply-adds of training, per data set."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    x = np.arange(len(c.datasets))
    for i, (arr, label) in enumerate(((c.compress_score, "compress"), (c.static_score, "static, converged size"))):
        m, lo, hi = mean_ci(arr, axis=1)
        axes[0].bar(x + (i - 0.5) * 0.38, m, 0.38, yerr=[m - lo, hi - m] if arr.shape[1] > 1 else None,
                    label=label, capsize=3)
    axes[0].set_xticks(x, c.datasets)
    axes[0].set(ylabel="test accuracy (R² for regression)", title=f"Same work ({c.epochs} compress epochs)")
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
    axes[0].set_xticks(b)
    axes[0].set(xlabel="blocks", ylabel="test MSE / variance", title="Add10: growth by blocks")
    axes[0].legend()
    _band(axes[1], np.arange(g.block_loss.shape[0]), g.block_loss, f"block 1 ({g.block} units)")
    _band(axes[1], np.arange(g.wide_loss.shape[0]), g.wide_loss, f"{g.width} units")
    axes[1].set(yscale="log", xlabel="epoch", ylabel="training MSE", title="Convergence")
    axes[1].legend()
    fig.tight_layout()
    return fig


def plot_memory(m: MemoryResult):
    """Activations' share of a 2-d CNN's training memory against batch size (both image
    shapes), and the bytes kept for backward at the profile's batch: plain, naive, hand."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    b = np.array(BATCHES)
    for name in m.per_example:
        axes[0].plot(b, [m.share(name, x) for x in b], marker="o", label=name)
    axes[0].axhline(0.9, color="grey", ls=":", label="90 %")
    axes[0].set(xscale="log", xlabel="batch size", ylabel="activations / training memory",
                title=f"2-d CNN, {m.channels} channels x {m.depth} blocks")
    axes[0].legend()
    names = list(m.per_example)
    x = np.arange(len(names))
    for i, mode in enumerate(("plain", "naive", "hand")):
        axes[1].bar(x + (i - 1) * 0.27, [m.saved(n, mode) / 2**20 for n in names], 0.27,
                    label={"plain": "plain CNN", "naive": "naive gate", "hand": "hand-written gate"}[mode],
                    color=["C0", "C3", "C2"][i])
    axes[1].set_xticks(x, names)
    axes[1].set(ylabel="MiB kept for backward", title=f"Batch {m.batch}")
    axes[1].legend()
    fig.tight_layout()
    return fig


def plot_pareto(p: ParetoResult):
    """Units kept vs test error of the three sparsifiers (one point per penalty, mean over
    seeds with 95 % intervals), and the L0 gates' expected count against the open count."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    names = {"gates": "L1 gates (this chapter)", "slimming": "network slimming", "l0": "hard-concrete L0"}
    for i, m in enumerate(METHODS):
        u, e = p.units[m].astype(float), p.test_err[m]
        um, ul, uh = mean_ci(u, axis=1)
        em, el, eh = mean_ci(e, axis=1)
        axes[0].errorbar(um, em, xerr=[um - ul, uh - um] if u.shape[1] > 1 else None,
                         yerr=[em - el, eh - em] if e.shape[1] > 1 else None, marker="o",
                         color=f"C{i}", label=names[m], capsize=3)
    axes[0].set(xscale="log", xlabel="units kept (final epoch)", ylabel="test error (final epoch)",
                title=f"Three sparsifiers, start {p.width} units")
    axes[0].legend()
    if p.expected_l0 is not None:
        axes[1].scatter(p.expected_l0.ravel(), p.open_l0.ravel(), color="C2")
        hi = max(p.expected_l0.max(), p.open_l0.max(), 1)
        axes[1].plot([0, hi], [0, hi], ls=":", color="grey", label="open = expected")
        axes[1].set(xlabel="expected L0 (sum of P(gate != 0))", ylabel="gates open at test time",
                    title="Hard-concrete L0: penalty vs count")
        axes[1].legend()
    fig.tight_layout()
    return fig
