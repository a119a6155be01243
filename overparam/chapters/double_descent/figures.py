"""Chapter 3's figures and printed summaries."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter

from ...plotting import plot_band
from .closed_form import LinearSystemResult, RandomFeaturesResult
from .experiments import (EMCResult, SampleSweep, WidthSweep, bias_variance, interpolation_index,
                          peak_index)
from .fitting import FitResult


def plot_random_features(res: RandomFeaturesResult, ax=None):
    """Test MSE vs N/n (log-log), one band per lambda, the threshold N = n marked.

    Introduced in: Chapter 3
    """
    ax = ax or plt.subplots(figsize=(6.4, 4))[1]
    for li, lm in enumerate(res.lambdas):
        label = "min-norm (λ = 0)" if lm == 0 else f"ridge λ = {lm:g}"
        plot_band(ax, res.ratios, res.test_mse[li], label=label)
    ax.axvline(1.0, color="k", ls="--", lw=1, label="N = n")
    ax.set(xscale="log", yscale="log", xlabel="features per training point N / n",
           ylabel="test MSE (vs noise-free teacher)",
           title=f"Random ReLU features, n = {res.n_train} (mean, 95 % band)")
    ax.legend(fontsize="small")
    _tidy_logx(ax)
    return ax



def random_features_summary(rf: RandomFeaturesResult) -> str:
    """One line per lambda: where the mean test MSE peaks (N/n) and its height there.

    Introduced in: Chapter 3
    """
    lines = []
    for li, lm in enumerate(rf.lambdas):
        m = rf.test_mse[li].mean(0)
        k = int(np.argmax(m))
        name = "min-norm (λ = 0)" if lm == 0 else f"ridge λ = {lm:g}"
        lines.append(f"{name:>18}: peak at N/n = {rf.ratios[k]:.2f}, test MSE there {m[k]:.3f}; "
                     f"at N/n = {rf.ratios[-1]:.0f}: {m[-1]:.3f}; lowest {m.min():.3f}")
    return "\n".join(lines)



def linear_system_summary(res: LinearSystemResult) -> str:
    """Where the mean norm of the minimum-norm solution peaks and how large it gets.

    Introduced in: Chapter 3
    """
    m = res.norm.mean(0)
    k = int(np.argmax(m))
    return (f"m = {res.rows}: mean |x| peaks at n = {res.cols[k]} columns (n/m = {res.cols[k] / res.rows:.2f}), "
            f"|x| = {m[k]:.3g} there vs {m[res.rows // 2 - 1]:.3g} at n = m/2 and {m[-1]:.3g} at n = {res.cols[-1]}")



def plot_linear_system(res: LinearSystemResult):
    """Two panels: rank and residual; norm of the minimum-norm solution (log scale).

    Introduced in: Chapter 3
    """
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    ratio = res.cols / res.rows
    plot_band(a1, ratio, res.rank / res.rows, label="rank(A) / m")
    plot_band(a1, ratio, res.residual, label="residual |Ax − b| / √m")
    a1.set(xlabel="columns / rows  (n / m)", ylabel="fraction", title=f"m = {res.rows} equations")
    a1.legend(fontsize="small")
    plot_band(a2, ratio, res.norm, label="|x| (minimum norm)")
    plot_band(a2, ratio, res.smin, label="smallest singular value")
    a2.set(xlabel="columns / rows  (n / m)", yscale="log", title="mean over draws, 95 % band")
    for a in (a1, a2):
        a.axvline(1, color="k", ls="--", lw=1)
    a2.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_width_sweep(sw: WidthSweep, tol: float):
    """Test and training error vs width per noise level, with the interpolation width marked.

    Introduced in: Chapter 3
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    for k, nz in enumerate(sw.noises):
        plot_band(axes[0], sw.widths, sw.test_err[k], label=f"{nz:.0%} label noise", marker="o", ms=3)
        colour = axes[0].lines[-1].get_color()
        plot_band(axes[1], sw.widths, sw.train_err[k], label=f"{nz:.0%} label noise", marker="o", ms=3)
        i = interpolation_index(sw.train_err[k], tol)
        if i is not None:
            for ax in axes:
                ax.axvline(sw.widths[i], color=colour, ls="--", lw=1)
    axes[0].set(xscale="log", xlabel="hidden units (width)", ylabel="test error",
                title=f"{sw.arch.upper()} on MNIST-1D, n = {sw.n_train}: test")
    axes[1].set(xscale="log", xlabel="hidden units (width)", ylabel="training error (noisy labels)",
                title="train (dashed: first width with train error ≤ "
                      f"{tol:.0%})")
    axes[0].legend(fontsize="small")
    for ax in axes:
        _tidy_logx(ax)
    fig.tight_layout()
    return fig


def width_table(sw: WidthSweep, tol: float) -> str:
    """Markdown table per noise level: interpolation width, peak width, errors there.

    Introduced in: Chapter 3
    """
    rows = ["| label noise | first width with train err ≤ tol | peak test-error width | "
            "test err at peak | test err at widest |", "|---|---|---|---|---|"]
    for k, nz in enumerate(sw.noises):
        i = interpolation_index(sw.train_err[k], tol)
        p = peak_index(sw.test_err[k])
        te = sw.test_err[k].mean(0)
        rows.append(f"| {nz:.0%} | {'none' if i is None else sw.widths[i]} | {sw.widths[p]} | "
                    f"{te[p]:.3f} | {te[-1]:.3f} |")
    return "\n".join(rows)


def plot_emc(emc: EMCResult, n_train: int, peak_width: int | None = None):
    """log2(EMC / n) per width, with n (0) and the grid's largest size marked.

    Introduced in: Chapter 3
    """
    fig, ax = plt.subplots(figsize=(6.4, 4))
    plot_band(ax, emc.widths, emc.log2_emc - np.log2(n_train), marker="o",
              label="log2(EMC / n), interpolated between sizes")
    ax.axhline(0, color="k", ls="--", lw=1, label=f"EMC = n = {n_train} (width sweep)")
    ax.axhline(np.log2(emc.ns[-1] / n_train), color="0.5", ls=":", lw=1,
               label=f"largest size trained ({emc.ns[-1]}): EMC censored there")
    if peak_width is not None:
        ax.axvline(peak_width, color="C3", ls=":", label=f"test-error peak (w = {peak_width})")
    ax.set(xscale="log", xlabel="hidden units (width)", ylabel="log2(EMC / n)",
           title=f"EMC with {emc.noise:.0%} label noise (mean, 95 % band)")
    ax.legend(fontsize="small")
    _tidy_logx(ax)
    return fig


def plot_sample_sweep(sw: SampleSweep):
    """Test and training error vs n at a fixed width.

    Introduced in: Chapter 3
    """
    fig, ax = plt.subplots(figsize=(6.4, 4))
    plot_band(ax, sw.ns, sw.test_err, label="test error", marker="o")
    plot_band(ax, sw.ns, sw.train_err, label="training error (noisy labels)", marker="o")
    ax.set(xscale="log", xlabel="training examples n", ylabel="error",
           title=f"width {sw.width}, {sw.noise:.0%} label noise (mean, 95 % band)")
    ax.legend(fontsize="small")
    _tidy_logx(ax)
    return fig


def plot_epochwise(sw: WidthSweep, width_index: int = -1, noise_index: int = -1):
    """Test and training error vs epoch for one width and noise level (mean over seeds).

    Introduced in: Chapter 3
    """
    fig, ax = plt.subplots(figsize=(6.4, 4))
    te = sw.test_err_curve[noise_index, :, width_index]
    tr = sw.train_err_curve[noise_index, :, width_index]
    x = np.maximum(sw.epochs, 1)
    plot_band(ax, x, te, label="test error")
    plot_band(ax, x, tr, label="training error (noisy labels)")
    ax.set(xscale="log", xlabel="epoch", ylabel="error",
           title=f"width {sw.widths[width_index]}, {sw.noises[noise_index]:.0%} label noise")
    ax.legend(fontsize="small")
    _tidy_logx(ax)
    return fig


def plot_neyshabur(sw: WidthSweep, tol: float, noise_index: int = 0):
    """Training and test error vs width without label noise, regimes shaded.

    Introduced in: Chapter 3
    """
    fig, ax = plt.subplots(figsize=(6.4, 4))
    plot_band(ax, sw.widths, sw.test_err[noise_index], label="test error", marker="o", ms=3)
    plot_band(ax, sw.widths, sw.train_err[noise_index], label="training error", marker="o", ms=3)
    i = interpolation_index(sw.train_err[noise_index], tol)
    if i is not None:
        ax.axvspan(sw.widths[0], sw.widths[i], color="0.9", zorder=0, label="classical (does not fit)")
        ax.axvline(sw.widths[i], color="k", ls="--", lw=1)
    ax.set(xscale="log", xlabel="hidden units (width)", ylabel="error",
           title=f"{sw.noises[noise_index]:.0%} label noise, n = {sw.n_train} (mean, 95 % band)")
    ax.legend(fontsize="small")
    _tidy_logx(ax)
    return fig


def plot_bias_variance(sw: WidthSweep, noise_index: int = -1):
    """Bias², variance and their sum (expected squared error) vs width.

    Introduced in: Chapter 3
    """
    b, v = bias_variance(sw.test_probs[noise_index], sw.y_test)
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.plot(sw.widths, b + v, "k-o", ms=3, label="expected squared error")
    ax.plot(sw.widths, b, "-o", ms=3, label="bias²")
    ax.plot(sw.widths, v, "-o", ms=3, label="variance over seeds")
    ax.set(xscale="log", xlabel="hidden units (width)", ylabel="squared error of softmax outputs",
           title=f"{sw.noises[noise_index]:.0%} label noise, {len(sw.seeds)} seeds")
    ax.legend(fontsize="small")
    _tidy_logx(ax)
    return fig


def _tidy_logx(ax) -> None:
    """Log x axis without overlapping minor tick labels."""
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_fits(random: FitResult, teacher: FitResult):
    """Training error vs epoch: the widest MLP on random labels (left), students of a
    teacher's labels by width (right).

    Introduced in: Chapter 3
    """
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    x = np.maximum(random.epochs, 1)
    plot_band(a1, x, random.train_err_curve[:, 0], label=f"width {random.widths[0]}")
    a1.set(xscale="log", xlabel="epoch", ylabel="training error",
           title=f"random labels, n = {random.n_train} (chance: 0.9)")
    for j, w in enumerate(teacher.widths):
        plot_band(a2, np.maximum(teacher.epochs, 1), teacher.train_err_curve[:, j],
                  label=f"student width {w}")
    a2.set(xscale="log", xlabel="epoch", title=f"labels of a {teacher.labels}, n = {teacher.n_train}")
    for a in (a1, a2):
        a.legend(fontsize="small")
        _tidy_logx(a)
    fig.tight_layout()
    return fig


def plot_probes(sw: WidthSweep, probes):
    """Test error, input sensitivity and the loss rise under weight perturbations vs width
    (the probed, highest noise level), the widths where the weight-decay arm was trained marked.

    Introduced in: Chapter 3
    """
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    k = len(sw.noises) - 1
    panels = [(sw.test_err[k], "test error"), (probes.sensitivity, "input sensitivity ||∂p/∂x||"),
              (probes.sharpness, f"loss rise, weights moved {probes.rel:g} x norm")]
    for ax, (vals, name) in zip(axes, panels):
        plot_band(ax, sw.widths, vals, marker="o", ms=3)
        ax.set(xscale="log", xlabel="hidden units (width)", ylabel=name)
        _tidy_logx(ax)
    d = probes.decay
    axes[0].plot(d.widths, d.test_err_decay, "v", color="C3", label=f"weight decay {d.weight_decay:g}")
    axes[0].legend(fontsize="small")
    fig.suptitle(f"{sw.noises[k]:.0%} label noise, {len(sw.seeds)} seeds (mean, 95 % band)")
    fig.tight_layout()
    return fig
