"""Chapter 4 experiments: can a layer tell whether it is too big? Variance metrics re-measured.

One-hidden-layer ReLU MLPs over a grid of widths x seeds are trained as one batched
computation per task (:func:`overparam.train.train_ensemble`); each member's hidden layer
is then measured on the test set with the layer-local metrics of
:mod:`overparam.metrics` (activation variance, Shapiro normality, total variance, dead
units, EM mixtures, PCA). The chapter compares what each metric says about size with
where the test accuracy stops improving, on an easy and a hard task of the same shape,
and ends with the journal's conjecture that no layer-local metric can decide size.
Source: a 2017 research journal (``journal.md``; cite key ``journal2017activations``).
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from .. import claims as C
from .. import metrics as M
from ..config import check_choice, check_fraction, check_positive
from ..stats import Estimate, mean_ci, wilson_ci
from ..engine.sweep import Member, TrainConfig, TrainData, train_ensemble

if TYPE_CHECKING:  # imported lazily at run time (plotting / tables only)
    import pandas as pd
    from matplotlib.figure import Figure

SOURCE = "journal (2017)"
TASKS = ("easy", "hard", "digits", "mnist", "fashion")


def sqrt2_grid(lo: int, hi: int) -> tuple[int, ...]:
    """Widths ``round(lo * sqrt(2)**k)`` up to ``hi`` (the journal's grid: 64 ... 2896).

    Introduced in: Chapter 4
    """
    check_positive("lo", lo, integer=True)
    out, k = [], 0
    while round(lo * math.sqrt(2) ** k) <= hi:
        out.append(int(round(lo * math.sqrt(2) ** k)))
        k += 1
    return tuple(out)


# --------------------------------------------------------------------------- profiles


@dataclass(frozen=True)
class VarianceConfig:
    """Knobs of Chapter 4; one instance per profile in :data:`PROFILES`.

    Introduced in: Chapter 4
    """

    widths: tuple = (16, 32, 64, 128, 256, 512, 1024)  # octaves: both plateaus (~64, ~512) inside
    n_seeds: int = 5             # seeds per width: enough for 95 % bands (journal: 11)
    epochs: int = 20             # Adam converges on MNIST-1D in tens of epochs at lr 3e-3
    lr: float = 3e-3             # Adam; larger than the default 1e-3 to fit 20 epochs
    batch_size: int = 100        # the MNIST-1D notebooks' batch size
    tasks: tuple = ("easy", "hard", "digits")  # easy/hard MNIST-1D pair + digits (dead units)
    dead_tols: tuple = (0.0, 0.01, 0.03, 0.1)  # dead if variance <= tol x the layer's mean unit
    #                                            variance: relative, as the median shifts with width
    plateau_tol: float = 0.01    # plateau: first width within 1 point of the best accuracy
    n_noise: int = 1000          # size of the conjecture's noise data set (= n_test)
    mnist_path: str = ""         # a reader's MNIST (IDX folder or .npz); "" = not used
    fashion_path: str = ""       # a reader's FashionMNIST, likewise

    def __post_init__(self):
        check_positive("widths", list(self.widths), integer=True)
        if len(self.widths) < 3 or list(self.widths) != sorted(set(self.widths)) or self.widths[0] < 4:
            raise ValueError(f"widths={self.widths!r} is not allowed; expected >= 3 increasing "
                             "integers, the smallest >= 4 (the mixture fits need 4 units)")
        check_positive("n_seeds", self.n_seeds, integer=True)
        if self.n_seeds < 2:
            raise ValueError(f"n_seeds={self.n_seeds!r} is not allowed; expected an integer >= 2 (for intervals)")
        check_positive("epochs", self.epochs, integer=True)
        check_positive("lr", self.lr)
        check_positive("batch_size", self.batch_size, integer=True)
        for t in self.tasks:
            check_choice("tasks", t, TASKS)
        for t in ("easy", "hard"):
            if t not in self.tasks:
                raise ValueError(f"tasks={self.tasks!r} is not allowed; it must include 'easy' and 'hard'")
        check_positive("dead_tols", list(self.dead_tols), allow_zero=True)
        check_fraction("plateau_tol", self.plateau_tol)
        check_positive("n_noise", self.n_noise, integer=True)
        if "mnist" in self.tasks and not self.mnist_path:
            raise ValueError("tasks includes 'mnist' but mnist_path is empty; give the folder or .npz")
        if "fashion" in self.tasks and not self.fashion_path:
            raise ValueError("tasks includes 'fashion' but fashion_path is empty; give the folder or .npz")

    def train_config(self) -> TrainConfig:
        """The engine's training config (Adam, one evaluation at the end)."""
        return TrainConfig(epochs=self.epochs, lr=self.lr, optimizer="adam",
                           batch_size=self.batch_size, eval_every=self.epochs)


PROFILES = {
    "smoke": VarianceConfig(widths=(4, 8, 16, 32), n_seeds=2, epochs=2, n_noise=200),
    "quick": VarianceConfig(),
    "full": VarianceConfig(widths=sqrt2_grid(8, 2896), n_seeds=11, epochs=150, lr=1e-3),
}


# --------------------------------------------------------------------------- data


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load_task(task: str, cfg: VarianceConfig) -> TrainData:
    """The task's train/test data as a :class:`TrainData`.

    ``easy``/``hard``: MNIST-1D pair (:func:`overparam.data.load_mnist1d_task`);
    ``digits``: sklearn digits; ``mnist``/``fashion``: the reader's files at
    ``cfg.mnist_path`` / ``cfg.fashion_path`` (:func:`overparam.data.load_user_mnist`).

    Introduced in: Chapter 4
    """
    from .. import data as D
    check_choice("task", task, TASKS)
    if task in ("easy", "hard"):
        d = D.load_mnist1d_task(task)
    elif task == "digits":
        d = D.load_digits_split()
    else:
        d = D.load_user_mnist(cfg.mnist_path if task == "mnist" else cfg.fashion_path)
    t = {k: torch.as_tensor(d[k]) for k in ("x", "y", "x_test", "y_test")}
    return TrainData(t["x"], t["y"], t["x_test"], t["y_test"], n_classes=10, key=task)


# --------------------------------------------------------------------------- one task's sweep


@dataclass
class TaskSweep:
    """Measurements of one task's width x seed grid (arrays are (n_seeds, n_widths)).

    Attributes
    ----------
    task : str
    widths : ndarray (W,)
    acc : test accuracy
    variances : list (S) of lists (W) of per-unit variance arrays (width,)
    shapiro : Shapiro-Wilk W of the variances
    total : total variance
    median : median unit variance
    dead : ndarray (S, W, T) units whose variance is <= tol x the layer's mean unit variance,
        for each tol of ``dead_tols``
    dead_tols : ndarray (T,) relative tolerances (0: exactly constant units)
    share_exp, share_gamma : dead-like component weight of the exp+normal / two-gamma fits
    explained, recon : lists (S) of lists (W) of PCA curves of the pre-activations
    k99 : components explaining 99 % of the pre-activation variance
    params : list (S) of lists (W) of trained parameters
    data : TrainData
    seconds : float (training + metrics wall time)

    Introduced in: Chapter 4
    """

    task: str
    widths: np.ndarray
    acc: np.ndarray
    variances: list
    shapiro: np.ndarray
    total: np.ndarray
    median: np.ndarray
    dead: np.ndarray
    dead_tols: np.ndarray
    share_exp: np.ndarray
    share_gamma: np.ndarray
    explained: list
    recon: list
    k99: np.ndarray
    params: list
    data: TrainData
    seconds: float = 0.0


def sweep_task(task: str, cfg: VarianceConfig, *, seed: int = 0,
               device: torch.device | str = "cpu") -> TaskSweep:
    """Train the width x seed grid of one task and measure every member's hidden layer.

    Members have seeds ``seed + s`` for s < n_seeds; metrics are computed on the test set.

    Returns
    -------
    TaskSweep

    Introduced in: Chapter 4
    """
    t0 = time.perf_counter()
    data = load_task(task, cfg)
    widths = np.array(cfg.widths)
    S, W = cfg.n_seeds, len(widths)
    members = [Member(int(w), seed=seed + s) for s in range(S) for w in widths]
    _log(f"variance: {task}: training {len(members)} members (widths {widths[0]}-{widths[-1]}, "
         f"{S} seeds, {cfg.epochs} epochs)")
    # batched: one-hidden-layer MLPs up to a few thousand units stack well on CPU and GPU;
    # the engine's timing probe is unreliable on a loaded shared CPU, so it is skipped
    res = train_ensemble(members, data, cfg.train_config(), device=device, keep_params=True,
                         mode="batched")
    res.check_finite()
    acc = (1 - res.final("test_err")).reshape(S, W)
    out = {k: np.zeros((S, W)) for k in ("shapiro", "total", "median", "share_exp", "share_gamma", "k99")}
    dead = np.zeros((S, W, len(cfg.dead_tols)))
    variances = [[None] * W for _ in range(S)]
    explained = [[None] * W for _ in range(S)]
    recon = [[None] * W for _ in range(S)]
    params = [[None] * W for _ in range(S)]
    Xt = data.X_test
    t_m = time.perf_counter()
    for i, p in enumerate(res.params):
        s, j = divmod(i, W)
        _, post = M.hidden_layer(p, Xt)
        v = M.unit_variance(post)
        variances[s][j], params[s][j] = v, p
        out["shapiro"][s, j] = M.variance_normality(v)
        out["total"][s, j] = M.total_variance(v)
        out["median"][s, j] = np.median(v)
        dead[s, j] = M.dead_unit_sweep(v, np.asarray(cfg.dead_tols) * v.mean())
        out["share_exp"][s, j] = M.fit_exp_normal(v, max_iter=300).dead_weight
        out["share_gamma"][s, j] = M.fit_two_gammas(v, max_iter=300).dead_weight
        pca = M.pca_metrics_linear(Xt, p[0])
        explained[s][j], recon[s][j] = pca.explained, pca.recon_error
        out["k99"][s, j] = pca.n_components(0.99)
        if (i + 1) % max(1, len(res.params) // 4) == 0:
            _log(f"variance: {task}: metrics {i + 1}/{len(res.params)}, "
                 f"elapsed {time.perf_counter() - t_m:.0f} s")
    return TaskSweep(task, widths, acc, variances, out["shapiro"], out["total"], out["median"], dead,
                     np.array(cfg.dead_tols), out["share_exp"], out["share_gamma"], explained, recon,
                     out["k99"], params, data, time.perf_counter() - t0)


def sweep_tasks(cfg: VarianceConfig, *, seed: int = 0, device: torch.device | str = "cpu") -> dict:
    """:func:`sweep_task` for every task of ``cfg.tasks``; dict task -> TaskSweep.

    Introduced in: Chapter 4
    """
    return {t: sweep_task(t, cfg, seed=seed, device=device) for t in cfg.tasks}


# --------------------------------------------------------------------------- sizes each signal implies


def plateau_width(acc: np.ndarray, widths: Sequence[int], tol: float) -> np.ndarray:
    """Per seed, the smallest width whose accuracy is within ``tol`` of the best accuracy.

    "The best" is the lower of the seed's own best and the best of the seed-mean curve:
    a seed's maximum over widths is biased upward by test-set noise, and the mean curve's
    best alone could be out of reach for a weak seed.

    Parameters
    ----------
    acc : ndarray (S, W)
    widths : (W,)
    tol : accuracy (fraction) below the best still counted as the plateau

    Returns
    -------
    ndarray (S,) widths

    Introduced in: Chapter 4
    """
    acc = np.asarray(acc)
    best = np.minimum(acc.max(axis=1, keepdims=True), acc.mean(axis=0).max())
    ok = acc >= best - tol
    return np.asarray(widths)[ok.argmax(axis=1)]


def argmax_width(values: np.ndarray, widths: Sequence[int]) -> np.ndarray:
    """Per seed, the width where ``values`` (S, W) peaks (the journal's normality "sweet spot").

    Introduced in: Chapter 4
    """
    return np.asarray(widths)[np.nanargmax(np.asarray(values), axis=1)]


def oversized_width(share: np.ndarray, widths: Sequence[int]) -> np.ndarray:
    """Per seed, the first width whose dead-like share exceeds 1/2 ("more dead than alive").

    Where no width of the grid does, the value is censored at sqrt(2) x the widest.

    Introduced in: Chapter 4
    """
    widths = np.asarray(widths, float)
    over = np.asarray(share) > 0.5
    return np.where(over.any(axis=1), widths[over.argmax(axis=1)], widths[-1] * math.sqrt(2))


def implied_sizes(sw: TaskSweep, plateau_tol: float) -> dict:
    """log2 of the size each signal implies, per seed: accuracy plateau, normality peak,
    first "oversized" width by each mixture, and the PCA 99 % dimension at the widest layer.

    Returns
    -------
    dict name -> ndarray (S,) of log2 widths

    Introduced in: Chapter 4
    """
    return {
        "accuracy plateau": np.log2(plateau_width(sw.acc, sw.widths, plateau_tol)),
        "normality peak": np.log2(argmax_width(sw.shapiro, sw.widths)),
        "two gammas > 1/2": np.log2(oversized_width(sw.share_gamma, sw.widths)),
        "exp+normal > 1/2": np.log2(oversized_width(sw.share_exp, sw.widths)),
        "PCA 99 % (widest)": np.log2(sw.k99[:, -1]),
    }


def sizes_table(sweeps: dict, plateau_tol: float) -> "pd.DataFrame":
    """DataFrame: per task, the mean [95 % CI] width each signal implies (in units).

    Introduced in: Chapter 4
    """
    import pandas as pd
    rows = {}
    for task, sw in sweeps.items():
        col = {}
        for name, v in implied_sizes(sw, plateau_tol).items():
            e = mean_ci(v)
            col[name] = f"{2 ** e.mean:.0f} [{2 ** e.low:.0f}, {2 ** e.high:.0f}]"
        rows[task] = col
    return pd.DataFrame(rows)


def slope_per_seed(x: Sequence[float], Y: np.ndarray) -> np.ndarray:
    """Least-squares slope of each row of Y (S, n) against x (n,).

    Introduced in: Chapter 4
    """
    x = np.asarray(x, float)
    xc = x - x.mean()
    return (np.asarray(Y, float) - np.asarray(Y, float).mean(1, keepdims=True)) @ xc / (xc @ xc)


TREND_MODELS = ("constant", "logarithmic", "power")


def total_variance_trend(widths: Sequence[int], totals: Sequence[float]) -> dict:
    """Fit total variance vs width as constant, ``a + b log w`` and ``c w^p``; AIC each.

    Parameters
    ----------
    widths : (W,)
    totals : (W,) total variance of one seed

    Returns
    -------
    dict with ``aic`` {model: float}, ``winner`` (lowest AIC), ``log_fit`` (a, b),
    ``power_fit`` (c, p)

    Introduced in: Chapter 4
    """
    w = np.asarray(widths, float)
    y = np.asarray(totals, float)
    n = len(w)
    lw = np.log(w)

    def aic(rss, k):
        return n * np.log(max(rss, 1e-300) / n) + 2 * k

    b, a = np.polyfit(lw, y, 1)
    p, lc = np.polyfit(lw, np.log(y), 1)
    fits = {"constant": aic(((y - y.mean()) ** 2).sum(), 1),
            "logarithmic": aic(((y - (a + b * lw)) ** 2).sum(), 2),
            "power": aic(((y - np.exp(lc) * w**p) ** 2).sum(), 2)}
    return {"aic": fits, "winner": min(fits, key=fits.get), "log_fit": (a, b), "power_fit": (np.exp(lc), p)}


# --------------------------------------------------------------------------- the conjecture


def conjecture_demo(sw: TaskSweep, cfg: VarianceConfig, *, seed: int = 0) -> tuple["pd.DataFrame", dict]:
    """The journal's "proof": a metric cannot tell size, shown with numbers.

    For each seed, M is the narrowest trained net of the task (undersized: below the
    accuracy plateau). A second data set d2 has noise inputs (Gaussian with the test
    inputs' mean and covariance) labelled by M itself, so M is exact on d2. The layer
    metrics are computed for M on both data sets: the weights and the weight-based
    metric are the same; the activation metrics change with the inputs only.

    Returns
    -------
    pandas DataFrame (rows: quantities, columns: ``d1 (task)``, ``d2 (noise, labels by M)``,
    mean over seeds) and a dict of per-seed arrays (``acc_d1``, ``acc_d2``,
    ``undersized_d1``, ``undersized_d2``: whether the two-gamma dead-like share is < 1/2,
    i.e. the mixture reading "no unit to spare")

    Introduced in: Chapter 4
    """
    import pandas as pd
    g = torch.Generator().manual_seed(seed + 12345)
    X1, y1 = sw.data.X_test, sw.data.y_test
    mu = X1.mean(0)
    L = torch.linalg.cholesky(torch.cov(X1.T.double()) + 1e-6 * torch.eye(X1.shape[1], dtype=torch.float64))
    X2 = (mu.double() + torch.randn(cfg.n_noise, X1.shape[1], generator=g, dtype=torch.float64) @ L.T).float()
    rows = {k: [] for k in ("acc_d1", "acc_d2", "shapiro_d1", "shapiro_d2", "share_d1", "share_d2",
                             "total_d1", "total_d2", "dead_d1", "dead_d2", "svals_k99")}
    for s in range(len(sw.params)):
        p = sw.params[s][0]

        def logits(X):
            return torch.relu(X @ p[0] + p[1]) @ p[2] + p[3]

        y2 = logits(X2).argmax(1)  # d2's labels: M's own outputs
        rows["acc_d1"].append(float((logits(X1).argmax(1) == y1).float().mean()))
        rows["acc_d2"].append(float((logits(X2).argmax(1) == y2).float().mean()))
        for tag, X in (("d1", X1), ("d2", X2)):
            v = M.unit_variance(M.hidden_layer(p, X)[1])
            rows[f"shapiro_{tag}"].append(M.variance_normality(v))
            rows[f"share_{tag}"].append(M.fit_two_gammas(v, max_iter=300).dead_weight)
            rows[f"total_{tag}"].append(M.total_variance(v))
            rows[f"dead_{tag}"].append(M.dead_units(v))
        sv = torch.linalg.svdvals(p[0].double()).numpy() ** 2
        rows["svals_k99"].append(int(np.searchsorted(np.cumsum(sv) / sv.sum(), 0.99 - 1e-12) + 1))
    per = {k: np.array(v, float) for k, v in rows.items()}
    per["undersized_d1"] = per["share_d1"] < 0.5
    per["undersized_d2"] = per["share_d2"] < 0.5
    names = [("test accuracy of M", "acc"), ("Shapiro W of unit variances", "shapiro"),
             ("two-gamma dead-like share", "share"), ("total variance", "total"),
             ("dead units (variance 0)", "dead")]
    table = {f"d1 ({sw.task})": [per[f"{k}_d1"].mean() for _, k in names],
             "d2 (noise, labels by M)": [per[f"{k}_d2"].mean() for _, k in names]}
    index = [n for n, _ in names]
    table[f"d1 ({sw.task})"].append(per["svals_k99"].mean())
    table["d2 (noise, labels by M)"].append(per["svals_k99"].mean())
    index.append("weights: components for 99 % of ||W||^2")
    return pd.DataFrame(table, index=index).round(3), per


# --------------------------------------------------------------------------- figures


def _bands(ax, x, Y, label, **kw):
    from ..plotting import plot_band
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


# --------------------------------------------------------------------------- claims


def judge_outside(est: Estimate, target: float, tol: float) -> str:
    """Verdict for a claim "the quantity is NOT within ``tol`` of ``target``" (mirror of
    :func:`overparam.claims.judge_near`): reproduced when the interval misses the band,
    not reproduced when it lies inside, partly otherwise.

    Introduced in: Chapter 4
    """
    verdict = C.judge_near(est, target, tol)
    return {C.REPRODUCED: C.NOT_REPRODUCED, C.NOT_REPRODUCED: C.REPRODUCED}.get(verdict, C.PARTLY)


def _fraction(flags) -> Estimate:
    flags = np.asarray(flags, bool)
    return wilson_ci(int(flags.sum()), len(flags))


def claim_rows(sweeps: dict, cfg: VarianceConfig, conjecture: dict | None = None,
               profile: str = "", seed: int = 0) -> list:
    """The chapter's claims, each measured per seed and judged by a stated rule.

    Widths enter as log2 (octaves). Rows for the easy and the hard task each (and for
    the reader's MNIST / FashionMNIST when swept), the dead-unit row also for digits,
    cross-task rows (hard vs easy; fashion vs mnist when both were swept), and the
    conjecture row when its per-seed results are given.

    Returns
    -------
    list of :class:`overparam.claims.Claim`

    Introduced in: Chapter 4
    """
    rows = []

    def add(claim, est, verdict, rule):
        rows.append(C.make_claim(claim, SOURCE, est, verdict, rule, profile, seed))

    lw = {t: np.log2(sw.widths) for t, sw in sweeps.items()}
    sizes = {t: implied_sizes(sw, cfg.plateau_tol) for t, sw in sweeps.items()}
    for t in [t for t in ("easy", "hard", "mnist", "fashion") if t in sweeps]:
        sw, sz = sweeps[t], sizes[t]
        e = mean_ci(slope_per_seed(lw[t], np.log2(np.maximum(sw.median, 1e-30))))
        add(f"[{t}] the unit-variance distribution shifts toward 0 as width grows", e,
            C.judge_below(e, 0), "slope of log2 median variance per octave < 0")
        d = sz["normality peak"] - sz["accuracy plateau"]
        e = mean_ci(d)
        add(f"[{t}] normality (Shapiro W) peaks near the accuracy plateau", e,
            C.judge_near(e, 0, 1), "log2(peak / plateau) within +-1 octave")
        add(f"[{t}] normality overestimates the size (peak beyond the plateau)", e,
            C.judge_above(e, 0), "log2(peak / plateau) > 0")
        wins = [total_variance_trend(sw.widths, row)["winner"] == "logarithmic" for row in sw.total]
        e = _fraction(wins)
        add(f"[{t}] total variance grows logarithmically with width", e, C.judge_above(e, 0.5),
            "share of seeds where a + b log w has the lowest AIC (vs constant, c w^p) > 1/2")
        e = mean_ci(np.mean(sw.share_exp - sw.share_gamma, axis=1))
        add(f"[{t}] exp+normal gives more dead-like units than two gammas", e, C.judge_above(e, 0),
            "mean over widths of the share difference > 0")
        e = mean_ci(sz["two gammas > 1/2"] - sz["accuracy plateau"])
        add(f"[{t}] the mixture metric (moderately) underestimates the size", e, C.judge_below(e, 0),
            "log2(first width with two-gamma dead share > 1/2, over plateau) < 0")
        e = mean_ci(sz["PCA 99 % (widest)"] - sz["accuracy plateau"])
        add(f"[{t}] PCA of pre-activations does not locate the accuracy plateau", e,
            judge_outside(e, 0, 1), "log2(PCA 99 % dimension / plateau) outside +-1 octave")
    for t in [t for t in ("digits", "easy", "hard", "mnist", "fashion") if t in sweeps]:
        sw = sweeps[t]
        upper = sw.widths >= np.median(sw.widths)
        e = mean_ci(slope_per_seed(sw.widths[upper], sw.dead[:, upper, 0]))
        add(f"[{t}] dead units (variance 0) grow about linearly with width", e, C.judge_above(e, 0),
            "slope of dead units per added unit, upper half of widths, > 0")
    pairs = [("easy", "hard")] + ([("mnist", "fashion")] if {"mnist", "fashion"} <= set(sweeps) else [])
    for a, b in pairs:
        se, sh = sizes[a], sizes[b]
        tag = f"[{b} vs {a}]"
        e = mean_ci(sh["accuracy plateau"] - se["accuracy plateau"])
        add(f"{tag} the accuracy plateau comes later on the harder task", e, C.judge_above(e, 0),
            f"log2(plateau {b} / plateau {a}), paired by seed, > 0")
        for name in ("normality peak", "two gammas > 1/2", "PCA 99 % (widest)"):
            e = mean_ci((sh[name] - se[name]) - (sh["accuracy plateau"] - se["accuracy plateau"]))
            add(f"{tag} the {name} size does not follow the harder task", e, C.judge_below(e, 0),
                "(shift of the metric's size) - (shift of the plateau), octaves, < 0")
        j = len(sweeps[a].widths) // 2
        e = mean_ci(np.log2(sweeps[b].median[:, j] / sweeps[a].median[:, j]))
        add(f"{tag} unit variances are lower on the harder task (width {sweeps[a].widths[j]})", e,
            C.judge_below(e, 0), f"log2(median variance {b} / {a}), paired by seed, < 0")
    if conjecture is not None:
        same = conjecture["undersized_d1"] == conjecture["undersized_d2"]
        e = _fraction(same & (conjecture["acc_d2"] == 1.0))
        add("[conjecture] a layer metric gives the same size verdict on d1 and on d2, "
            "where the same net is exact", e, C.judge_above(e, 0.5),
            "share of seeds with an unchanged two-gamma verdict and 100 % accuracy on d2 > 1/2")
    return rows
