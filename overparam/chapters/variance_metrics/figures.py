"""Chapter 4 figures: variance distributions, normality vs accuracy, total variance, dead
units, mixtures, easy vs hard, PCA, and the distribution shapes (gamma shape, held-out fit)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from .experiments import implied_sizes, total_variance_trend

if TYPE_CHECKING:
    from matplotlib.figure import Figure

def _bands(ax, x, Y, label, **kw):
    from ...plotting import plot_band
    plot_band(ax, x, Y, label=label, **kw)


def plot_variance_distributions(sweeps: dict, tasks: Sequence[str] = ("easy", "hard"),
                                n_show: int = 4) -> "Figure":
    """Section 1: per-unit variance distributions at several widths, and the median vs width.

    Returns the matplotlib Figure.

    Introduced in: Chapter 4
    """
    import matplotlib.pyplot as plt
    tasks = [t for t in tasks if t in sweeps]
    fig, axes = plt.subplots(1, len(tasks) + 1, figsize=(4.2 * (len(tasks) + 1), 3.6))
    for ax, t in zip(axes, tasks):
        sw = sweeps[t]
        idx = np.unique(np.linspace(0, len(sw.widths) - 1, n_show).round().astype(int))
        pooled_all = np.concatenate([sw.variances[s][j] for s in range(len(sw.variances)) for j in idx])
        pos = pooled_all[pooled_all > 0]
        bins = np.logspace(np.log10(pos.min()), np.log10(pos.max()), 40) if pos.size else 20
        for j in idx:
            pooled = np.concatenate([sw.variances[s][j] for s in range(len(sw.variances))])
            ax.hist(pooled[pooled > 0], bins=bins, density=True, histtype="step", lw=1.5,
                    label=f"width {sw.widths[j]}")
        ax.set_xscale("log")
        ax.set(xlabel="activation variance of a unit (test set)", ylabel="density",
               title=f"{t}: distribution over units (all seeds)")
        ax.legend(fontsize="small")
    ax = axes[-1]
    for t in tasks:
        _bands(ax, sweeps[t].widths, sweeps[t].median, t)
    ax.set(xscale="log", yscale="log", xlabel="hidden width", ylabel="median unit variance",
           title="median variance vs width (95 % band)")
    ax.set_xscale("log", base=2)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_normality_accuracy(sweeps: dict, plateau_tol: float,
                            tasks: Sequence[str] = ("easy", "hard")) -> "Figure":
    """Section 2: Shapiro W and test accuracy vs width on twin axes, plateau marked.

    Introduced in: Chapter 4
    """
    import matplotlib.pyplot as plt
    tasks = [t for t in tasks if t in sweeps]
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.2 * len(tasks), 3.8))
    axes = np.atleast_1d(axes)
    for ax, t in zip(axes, tasks):
        sw = sweeps[t]
        _bands(ax, sw.widths, sw.shapiro, "Shapiro W", color="C0")
        ax.set(xlabel="hidden width", ylabel="Shapiro W of unit variances", title=t,
               ylim=(max(0.0, np.nanmin(sw.shapiro) - 0.05), 1.005))
        ax.set_xscale("log", base=2)
        ax2 = ax.twinx()
        _bands(ax2, sw.widths, 100 * sw.acc, "test accuracy", color="C1")
        ax2.set_ylabel("test accuracy (%)", color="C1")
        ax2.grid(False)
        sz = implied_sizes(sw, plateau_tol)
        ax.axvline(2 ** sz["accuracy plateau"].mean(), color="C1", ls="--", lw=1, label="accuracy plateau")
        ax.axvline(2 ** sz["normality peak"].mean(), color="C0", ls=":", lw=1.5, label="normality peak")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize="small", loc="lower center")
    fig.tight_layout()
    return fig


def plot_total_variance(sweeps: dict, tasks: Sequence[str] = ("easy", "hard")) -> "Figure":
    """Section 3: total variance vs width with the logarithmic and power fits of the mean.

    Introduced in: Chapter 4
    """
    import matplotlib.pyplot as plt
    tasks = [t for t in tasks if t in sweeps]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for i, t in enumerate(tasks):
        sw = sweeps[t]
        _bands(ax, sw.widths, sw.total, f"{t} (measured)", color=f"C{i}", marker="o")
        fit = total_variance_trend(sw.widths, sw.total.mean(0))
        w = np.geomspace(sw.widths[0], sw.widths[-1], 100)
        a, b = fit["log_fit"]
        c, p = fit["power_fit"]
        ax.plot(w, a + b * np.log(w), color=f"C{i}", ls="--", lw=1, label=f"{t}: a + b log w")
        ax.plot(w, c * w**p, color=f"C{i}", ls=":", lw=1.5, label=f"{t}: c w^{p:.2f}")
    ax.set_xscale("log", base=2)
    ax.set(xlabel="hidden width", ylabel="total activation variance",
           title="total variance vs width (95 % band) and fits")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_dead_units(sweeps: dict, tasks: Sequence[str] = ("digits", "easy", "hard")) -> "Figure":
    """Section 4: dead units vs width, one line per tolerance, one panel per task.

    Introduced in: Chapter 4
    """
    import matplotlib.pyplot as plt
    tasks = [t for t in tasks if t in sweeps]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.6), sharey=False)
    axes = np.atleast_1d(axes)
    for ax, t in zip(axes, tasks):
        sw = sweeps[t]
        for k, tol in enumerate(sw.dead_tols):
            _bands(ax, sw.widths, sw.dead[:, :, k],
                   "variance = 0" if tol == 0 else f"variance <= {tol:g} x mean", marker=".")
        ax.plot(sw.widths, sw.widths, color="grey", lw=0.8, ls="--", label="all units")
        ax.set_yscale("symlog", linthresh=1)
        ax.set(xlabel="hidden width", ylabel="dead units", title=t, ylim=(0, 1.5 * sw.widths[-1]))
        ax.set_xscale("log", base=2)
        ax.legend(fontsize="x-small")
    fig.tight_layout()
    return fig


def plot_mixtures(sweeps: dict, plateau_tol: float,
                  tasks: Sequence[str] = ("easy", "hard", "digits")) -> "Figure":
    """Section 5: dead-like share of both mixture fits vs width, plateau and 1/2 marked.

    Introduced in: Chapter 4
    """
    import matplotlib.pyplot as plt
    tasks = [t for t in tasks if t in sweeps]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.6), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, t in zip(axes, tasks):
        sw = sweeps[t]
        _bands(ax, sw.widths, sw.share_exp, "exp + normal", marker="o")
        _bands(ax, sw.widths, sw.share_gamma, "two gammas", marker="s")
        ax.axhline(0.5, color="grey", lw=0.8)
        ax.axvline(2 ** implied_sizes(sw, plateau_tol)["accuracy plateau"].mean(), color="k",
                   ls="--", lw=1, label="accuracy plateau")
        ax.set_xscale("log", base=2)
        ax.set(xlabel="hidden width", ylabel="weight of the dead-like component", title=t, ylim=(0, 1))
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_easy_vs_hard(sweeps: dict, plateau_tol: float) -> "Figure":
    """Section 6: accuracy of both tasks vs width, and unit-variance distributions of both
    tasks at the narrowest and the widest width.

    Introduced in: Chapter 4
    """
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    ax = axes[0]
    for i, t in enumerate(("easy", "hard")):
        sw = sweeps[t]
        _bands(ax, sw.widths, 100 * sw.acc, t, color=f"C{i}", marker="o")
        ax.axvline(2 ** implied_sizes(sw, plateau_tol)["accuracy plateau"].mean(), color=f"C{i}", ls="--", lw=1)
    ax.set_xscale("log", base=2)
    ax.set(xlabel="hidden width", ylabel="test accuracy (%)", title="accuracy (dashed: plateau)")
    ax.legend()
    for ax, j, name in ((axes[1], 0, "narrowest"), (axes[2], -1, "widest")):
        allv = np.concatenate([v for t in ("easy", "hard") for v in (r[j] for r in sweeps[t].variances)])
        pos = allv[allv > 0]
        bins = np.logspace(np.log10(pos.min()), np.log10(pos.max()), 30)
        for i, t in enumerate(("easy", "hard")):
            pooled = np.concatenate([r[j] for r in sweeps[t].variances])
            ax.hist(pooled[pooled > 0], bins=bins, density=True, histtype="step", lw=1.5, color=f"C{i}", label=t)
        ax.set_xscale("log")
        ax.set(xlabel="unit variance", ylabel="density",
               title=f"{name} layer (width {sweeps['easy'].widths[j]})")
        ax.legend()
    fig.tight_layout()
    return fig


def plot_pca(sweeps: dict, tasks: Sequence[str] = ("easy", "hard"), n_show: int = 4) -> "Figure":
    """Section 7: cumulative explained variance and reconstruction error of the
    pre-activations vs number of components, several widths, mean over seeds.

    Introduced in: Chapter 4
    """
    import matplotlib.pyplot as plt
    tasks = [t for t in tasks if t in sweeps]
    fig, axes = plt.subplots(2, len(tasks), figsize=(5.0 * len(tasks), 6.6))
    axes = np.atleast_2d(axes.reshape(2, -1))
    for c, t in enumerate(tasks):
        sw = sweeps[t]
        idx = np.unique(np.linspace(0, len(sw.widths) - 1, n_show).round().astype(int))
        for j in idx:
            r = min(len(sw.explained[s][j]) for s in range(len(sw.explained)))
            ex = np.array([np.cumsum(sw.explained[s][j][:r]) for s in range(len(sw.explained))])
            rc = np.array([sw.recon[s][j][:r] for s in range(len(sw.recon))])  # k = r: exactly 0
            _bands(axes[0, c], np.arange(1, r + 1), ex, f"width {sw.widths[j]}")
            _bands(axes[1, c], np.arange(0, r), rc, f"width {sw.widths[j]}")
        axes[0, c].set(xlabel="components k", ylabel="explained variance (cumulative)", title=t)
        axes[1, c].set(xlabel="components k", ylabel="mean reconstruction distance", yscale="log")
        axes[0, c].legend(fontsize="small")
    fig.tight_layout()
    return fig



def plot_shapes(sweeps: dict, tasks: Sequence[str] = ("easy", "hard", "digits")) -> "Figure":
    """Distribution shapes vs width: the ML gamma shape of the unit variances (1 =
    exponential, larger = bell-shaped, "Poisson-like") and the held-out log-likelihood per
    unit of two gammas minus exponential + normal (> 0: two gammas predict unseen units better).

    Introduced in: Chapter 4
    """
    import matplotlib.pyplot as plt
    tasks = [t for t in tasks if t in sweeps]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for i, t in enumerate(tasks):
        sw = sweeps[t]
        _bands(axes[0], sw.widths, sw.shape, t, color=f"C{i}", marker="o")
        _bands(axes[1], sw.widths, sw.ll_gamma - sw.ll_exp, t, color=f"C{i}", marker="o")
    axes[0].axhline(1, color="grey", lw=0.8, ls="--", label="exponential (k = 1)")
    axes[0].set(yscale="log", xlabel="hidden width", ylabel="gamma shape k of unit variances",
                title="shape of the variance distribution")
    axes[1].axhline(0, color="grey", lw=0.8)
    axes[1].set(xlabel="hidden width", ylabel="held-out log-lik. per unit (gammas - exp+normal)",
                title="which mixture predicts unseen units")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


__all__ = ["plot_variance_distributions", "plot_normality_accuracy", "plot_total_variance",
           "plot_dead_units", "plot_mixtures", "plot_easy_vs_hard", "plot_pca", "plot_shapes"]
