"""Chapter 2's figures and tables: one ``plot_*`` per section."""
from __future__ import annotations

import numpy as np
from scipy import stats as _st

from ...stats import mean_ci
from .experiments import (TALK_MISCLASSIFICATIONS, BulkResult, FluctuationResult, GaussNewtonResult,
                          LargeSmallResult, SgdGdResult, SweepResult)


def _plt():
    import matplotlib.pyplot as plt
    return plt


def plot_bulk(res: BulkResult, window: int):
    """Section 1 figure: histogram of all eigenvalues (net 0) and the ranked top eigenvalues.

    Introduced in: Chapter 2
    """
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8))
    sp = res.spectra[0]
    if sp.exact:
        a1.hist(sp.eigenvalues, bins=120, color="C0")
    else:
        grid = np.linspace(sp.nodes.min(), sp.nodes.max(), 400)
        a1.plot(grid, res.n_params * sp.density(grid, (grid[-1] - grid[0]) / 200))
    a1.set_yscale("log")
    a1.set_xlabel("eigenvalue of the Hessian")
    a1.set_ylabel("count (log scale)")
    a1.set_title(f"all {res.n_params} eigenvalues ({'exact' if sp.exact else 'SLQ'}), net 1")
    for i, s in enumerate(res.spectra):
        ev = (s.eigenvalues if s.exact else np.array([res.top[i]]))[:window]
        a2.semilogy(np.arange(1, ev.size + 1), np.clip(ev, 1e-8, None), "o-", ms=3,
                    label=f"net {i + 1}: {res.n_outliers[i]} outliers")
        a2.axvline(res.n_outliers[i] + 0.5, color=f"C{i}", ls=":", lw=1)
    a2.set_xlabel("rank i")
    a2.set_ylabel(r"$\lambda_i$ (log scale)")
    a2.set_title(f"top {window} eigenvalues; dotted: knee (outlier count)")
    a2.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_sweep(res: SweepResult, xlabel: str, what: str = "outliers", ref_line: bool = False,
               logx: bool = False):
    """Sections 2-4 figures: a measure vs the swept setting, mean over seeds with 95 % bands.

    ``what``: ``"outliers"`` (count), ``"zeros"`` (fraction at zero) or ``"top"`` (the
    top eigenvalues lambda_1, lambda_2, ...).

    Introduced in: Chapter 2
    """
    from ...plotting import plot_band
    plt = _plt()
    x = np.array(res.values, dtype=float)
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    if what == "outliers":
        plot_band(ax, x, res.n_outliers, label="measured (knee rule)", marker="o")
        if ref_line:
            ax.plot(x, x, "k--", lw=1, label="= k")
            ax.plot(x, x - 1, "k:", lw=1, label="= k - 1")
        ax.set_ylabel("number of outliers")
    elif what == "zeros":
        plot_band(ax, x, res.frac_zero, marker="o", label=r"$|\lambda| \leq$ tol $\lambda_{max}$")
        ax.set_ylabel("fraction of eigenvalues at zero")
    else:
        for j in range(min(3, res.top.shape[2])):
            plot_band(ax, x, res.top[:, :, j], label=rf"$\lambda_{j + 1}$", marker="o")
        ax.set_yscale("log")
        ax.set_ylabel("eigenvalue (log scale)")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_gauss_newton(res: GaussNewtonResult):
    """Section 5 figure: spectra of H, G and R (net 1), and top eigenvalues of H vs G.

    Introduced in: Chapter 2
    """
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8))
    for name, sp, c in (("H", res.H, "C0"), ("G", res.G, "C1"), ("R = H - G", res.R, "C2")):
        if sp.exact:
            a1.hist(sp.eigenvalues, bins=120, histtype="step", color=c, label=name, lw=1.5)
        else:
            grid = np.linspace(sp.nodes.min(), sp.nodes.max(), 400)
            a1.plot(grid, res.n_params * sp.density(grid, (grid[-1] - grid[0]) / 200), c, label=name)
    a1.set_yscale("log")
    a1.set_xlabel("eigenvalue")
    a1.set_ylabel("count (log scale)")
    a1.legend()
    a1.set_title("spectra at the end of training, net 1")
    n = res.top_H.shape[1]
    for i in range(res.top_H.shape[0]):
        a2.plot(res.top_H[i], res.top_G[i], "o", ms=4, label=f"net {i + 1}")
    lim = [np.nanmin(res.top_H) * 0.8, np.nanmax(res.top_H) * 1.2]
    a2.plot(lim, lim, "k--", lw=1, label="G = H")
    a2.set_xlabel(rf"top {n} eigenvalues of H")
    a2.set_ylabel(rf"top {n} eigenvalues of G")
    a2.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_fluctuations(res: FluctuationResult):
    """Section 6 figure: histogram of the top eigenvalue over retrainings with two fits.

    Introduced in: Chapter 2
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    ax.hist(res.lam, bins=max(8, res.lam.size // 8), density=True, alpha=0.5, color="C0",
            label=f"{res.lam.size} retrainings")
    x = np.linspace(res.lam.min() - 0.2 * np.ptp(res.lam), res.lam.max() + 0.2 * np.ptp(res.lam), 300)
    ax.plot(x, _st.norm.pdf(x, *res.normal), "C1", label=f"Gaussian fit (KS {res.ks_normal:.3f})")
    ax.plot(x, _st.gumbel_r.pdf(x, *res.gumbel), "C2", label=f"Gumbel fit (KS {res.ks_gumbel:.3f})")
    ax.set_xlabel(r"top Hessian eigenvalue $\lambda_{max}$")
    ax.set_ylabel("density")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def sgd_gd_table(res: SgdGdResult):
    """Section 7 table: mean test misclassifications [95 % CI], at the end and at matched
    training error, beside the talk's MNIST figures.

    Introduced in: Chapter 2
    """
    import pandas as pd

    def fmt(x):
        e = mean_ci(x)
        return f"{e.mean:.1f} [{e.low:.1f}, {e.high:.1f}]"

    rows = []
    for size in ("small", "large"):
        row = {"net": f"{size} (M = {res.n_params[size]:,})"}
        for method in ("SGD", "GD"):
            row[f"{method} end (of {res.n_test})"] = fmt(res.errors[(size, method)])
            row[f"{method} matched"] = fmt(res.matched[(size, method)])
            row[f"{method} (talk, MNIST)"] = TALK_MISCLASSIFICATIONS[(size, method)]
        row["matched train error (%)"] = fmt(100 * res.level[size])
        rows.append(row)
    return pd.DataFrame(rows).set_index("net")


def plot_sgd_gd(res: SgdGdResult):
    """Section 7 figure: training and test error against training error, SGD and GD.

    Each curve is one net; reading along a vertical line compares the two methods at the
    same training error.

    Introduced in: Chapter 2
    """
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for ax, size in zip(axes, ("small", "large")):
        for method, c in (("SGD", "C0"), ("GD", "C1")):
            cv = res.curves[(size, method)]
            for r in range(cv.train_error.shape[1]):
                ax.plot(100 * cv.train_error[:, r], 100 * cv.test_error[:, r], "-", color=c, lw=1,
                        label=method if r == 0 else None)
        for r, lev in enumerate(res.level[size]):
            ax.axvline(100 * lev, color="k", ls=":", lw=0.8, label="matched level" if r == 0 else None)
        ax.invert_xaxis()
        ax.set_xlabel("training error (%), training goes left")
        ax.set_title(f"{size} net (M = {res.n_params[size]:,}), {res.dataset}")
        ax.legend(fontsize="small")
    axes[0].set_ylabel("test error (%)")
    fig.tight_layout()
    return fig


def plot_line(res: LargeSmallResult):
    """Section 8 figure: train loss and test error on the line LB (alpha=0) -> SB (alpha=1).

    Introduced in: Chapter 2
    """
    from ...plotting import plot_band
    plt = _plt()
    a = res.scans[0].alphas
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8))
    plot_band(a1, a, np.stack([s.train_loss for s in res.scans]), label="train loss")
    plot_band(a1, a, np.stack([s.test_loss for s in res.scans]), label="test loss")
    a1.set_yscale("log")
    a1.set_ylabel("cross-entropy (log scale)")
    plot_band(a2, a, 100 * np.stack([s.train_error for s in res.scans]), label="train error")
    plot_band(a2, a, 100 * np.stack([s.test_error for s in res.scans]), label="test error")
    a2.set_ylabel("error (%)")
    for ax in (a1, a2):
        ax.axvline(0, color="k", ls=":", lw=1)
        ax.axvline(1, color="k", ls="--", lw=1)
        ax.set_xlabel(r"$\alpha$: 0 = large-batch end, 1 = small-batch end")
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


