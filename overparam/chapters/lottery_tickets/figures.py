"""Chapter 7 figures and tables.

Introduced in: Chapter 7
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ...plotting import plot_band
from ...stats import mean_ci
from .experiments import Bigger, Controls, ImpStage, Movement
from .extras import ZHOU_DWR_MNIST_FC, ZHOU_MNIST_FC, Instability, Supermasks, Transfer


def _logx(ax, xs=None, invert: bool = True) -> None:
    """Log x axis labelled at the data's own x values (plain numbers), sparsest on the right."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter
    ax.set_xscale("log")
    if xs is not None:
        ax.xaxis.set_major_locator(FixedLocator(sorted({float(f"{v:.3g}") for v in np.ravel(xs)})))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}" if v < 1000 else f"{v / 1e3:.3g}k"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    if invert and not ax.xaxis_inverted():
        ax.invert_xaxis()


def plot_tickets(stage: ImpStage, ctl: Controls):
    """Test accuracy, training accuracy, early-stopping iteration and iterations to the speed
    threshold vs % weights remaining: tickets, random re-init, random pruning (+ long runs).

    Introduced in: Chapter 7
    """
    imp, g, gr = stage.imp, stage.groups["large_final"], stage.groups["random"]
    x = stage.pct()
    xr = x[1:] if ctl.rounds is None else x[ctl.rounds]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    axes = axes.ravel()
    thr = 100 * (1 - stage.cfg.speed_threshold)
    for ax, key, yl in ((axes[0], "test_acc", "test accuracy"), (axes[1], "train_acc", "training accuracy"),
                        (axes[2], "early_step", "early-stopping iteration"),
                        (axes[3], "speed", f"iterations to {thr:.0f} % val. accuracy")):
        a = stage.speed(None) if key == "speed" else getattr(imp, key)
        plot_band(ax, x, a[:, g].T, label="winning ticket (rewind to 0)", marker="o")
        plot_band(ax, xr, getattr(ctl, key).T, label="same mask, random re-init", marker="s")
        plot_band(ax, x, a[:, gr].T, label="random pruning", marker="^")
        _logx(ax, x)
        ax.set_xlabel("% of weights remaining (log)")
        ax.set_ylabel(yl)
    xl = x[ctl.long_rounds]
    lf = stage.cfg.long_factor
    axes[0].errorbar(xl, ctl.long_ticket.mean(1), fmt="P", color="C0", ms=9, label=f"ticket, {lf}x longer")
    axes[0].errorbar(xl, ctl.long_reinit.mean(1), fmt="X", color="C1", ms=9, label=f"re-init, {lf}x longer")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{stage.cfg.dataset}, {stage.cfg.arch} {stage.cfg.widths}: mean over {len(g)} seeds, 95 % bands")
    fig.tight_layout()
    return fig


def plot_groups(stage: ImpStage, groups: dict, title: str, extra: dict | None = None):
    """Test accuracy vs % weights remaining for several IMP groups (and extra curves).

    ``groups`` maps label -> group name; ``extra`` maps label -> (x, samples (S, len(x))).

    Introduced in: Chapter 7
    """
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for lab, grp in groups.items():
        plot_band(ax, stage.pct(grp), stage.imp.test_acc[:, stage.groups[grp]].T, label=lab, marker="o")
    for lab, (x, s) in (extra or {}).items():
        plot_band(ax, x, s, label=lab, marker="s")
    _logx(ax, stage.pct())
    ax.set_xlabel("% of weights remaining (log)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_bigger(big: Bigger):
    """Test accuracy vs number of remaining weights for both starting nets.

    Introduced in: Chapter 7
    """
    fig, ax = plt.subplots(figsize=(6.4, 4))
    plot_band(ax, big.count_big.mean(1), big.acc_big.T, label=f"start {big.big_widths}", marker="o")
    plot_band(ax, big.count_small.mean(1), big.acc_small.T, label=f"start {big.small_widths}", marker="s")
    c, _, _ = big.at_equal_weights()
    ax.axvline(c, color="grey", ls=":", label="compared here")
    _logx(ax, big.count_big.mean(1)[::2])
    ax.set_xlabel("remaining weights (count, log)")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_movement(stage: ImpStage, mv: Movement):
    """Ticket weights vs the rest: movement ratio, raw and at equal final magnitude.

    Introduced in: Chapter 7
    """
    x = stage.pct()[1:]
    fig, ax = plt.subplots(figsize=(6.4, 4))
    plot_band(ax, x, mv.raw.T, label="vs every pruned weight (raw)", marker="o")
    plot_band(ax, x, mv.matched.T, label="vs pruned weights of equal |w_final|", marker="s")
    ax.axhline(1, color="grey", ls=":")
    _logx(ax, x)
    ax.set_xlabel("% of weights remaining in the ticket (log)")
    ax.set_ylabel("movement ratio ticket / pruned\n(mean |w_final - w_init|)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def supermask_table(sm: Supermasks, best_init: np.ndarray, best_sc: np.ndarray) -> pd.DataFrame:
    """Our accuracies (mean and 95 % CI, %) beside Zhou et al.'s MNIST FC numbers.

    ``best_init`` / ``best_sc``: the untrained arms at the round picked on the other seeds
    (:func:`~overparam.chapters.lottery_tickets.verdicts.pick_on_other_seeds`).

    Introduced in: Chapter 7
    """
    ours = {"mask ⊙ init": best_init, "mask ⊙ signed constant": best_sc,
            "learned mask ⊙ init": sm.learned_init, "learned mask ⊙ signed constant": sm.learned_sc,
            "trained weights": sm.trained}
    rows = []
    for k, theirs in ZHOU_MNIST_FC.items():
        e = mean_ci(100 * np.asarray(ours[k]))
        rows.append({"network": k, "ours (%)": f"{e.mean:.1f} [{e.low:.1f}, {e.high:.1f}]",
                     "Zhou et al. MNIST FC (%)": theirs, "_ours": e.mean})
    df = pd.DataFrame(rows)
    df["our rank"] = df["_ours"].rank(method="min").astype("Int64")
    df["their rank"] = df["Zhou et al. MNIST FC (%)"].rank().astype("Int64")
    df = df.drop(columns="_ours").set_index("network")
    e = mean_ci(100 * np.asarray(sm.learned_default))
    df.loc["learned mask ⊙ init, PyTorch default scale"] = [f"{e.mean:.1f} [{e.low:.1f}, {e.high:.1f}]",
                                                           np.nan, pd.NA, pd.NA]
    if sm.learned_dwr is not None:
        e = mean_ci(100 * np.asarray(sm.learned_dwr))
        df.loc["DWR learned mask ⊙ init"] = [f"{e.mean:.1f} [{e.low:.1f}, {e.high:.1f}]",
                                            ZHOU_DWR_MNIST_FC["DWR learned mask ⊙ init"], pd.NA, pd.NA]
    return df


def plot_instability(ins: Instability):
    """Error barrier and test accuracy vs the rewind iteration k.

    Introduced in: Chapter 7
    """
    k = ins.k.astype(float)
    x = np.where(k == 0, 1.0, k)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    plot_band(axes[0], x, 100 * ins.dense.T, label="dense network", marker="o")
    plot_band(axes[0], x, 100 * ins.ticket.T, label=f"ticket ({100 * ins.density:.1f} % weights)", marker="s")
    axes[0].set_ylabel("error barrier on the line (pp)")
    plot_band(axes[1], x, ins.dense_acc.T, label="dense network", marker="o")
    plot_band(axes[1], x, ins.ticket_acc.T, label="ticket rewound to k", marker="s")
    axes[1].set_ylabel("test accuracy")
    for ax in axes:
        _logx(ax, x, invert=False)
        ax.set_xlabel("rewind iteration k (k = 0 drawn at 1; log)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_transfer(tr: Transfer):
    """Transferred tickets: across optimizers (left) and across data sets (right).

    Introduced in: Chapter 7
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax = axes[0]
    if tr.sgd_ticket is not None:
        plot_band(ax, tr.pct, tr.sgd_ticket.T, label="ticket found with SGD (in place)", marker="o")
    xo = tr.pct[1:] if tr.rounds_pct is None else tr.rounds_pct
    plot_band(ax, xo, tr.adam_ticket_sgd.T, label="ticket found with Adam, trained with SGD", marker="s")
    plot_band(ax, xo, tr.random_sgd.T, label="random mask (same layer counts), SGD", marker="^")
    _logx(ax, xo if tr.pct is None else tr.pct)
    ax.set_ylabel("test accuracy (SGD training)")
    ax.set_title("across optimizers")
    ax = axes[1]
    plot_band(ax, tr.data_pct, tr.data_ticket.T, label=f"ticket found on digits {tr.source}", marker="s")
    plot_band(ax, tr.data_pct, tr.data_random.T, label="random mask, same layer counts", marker="^")
    _logx(ax, tr.data_pct)
    ax.set_ylabel(f"test accuracy on digits {tr.target}")
    ax.set_title("across data sets")
    for ax in axes:
        ax.set_xlabel("% of weights remaining (log)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def summary_table(stage: ImpStage, ctl: Controls) -> pd.DataFrame:
    """Mean test accuracy (%) per round for every IMP group and the re-init control.

    Introduced in: Chapter 7
    """
    cols = {"% weights": stage.pct()}
    for name, idx in stage.groups.items():
        cols["late reset" if name == "late" else name] = 100 * stage.imp.test_acc[:, idx].mean(1)
    reinit = np.full(len(cols["% weights"]), np.nan)
    reinit[np.arange(1, len(reinit)) if ctl.rounds is None else ctl.rounds] = 100 * ctl.test_acc.mean(1)
    cols["re-init"] = reinit
    return pd.DataFrame(cols).round(2)
