"""Chapter 4 experiments: width x seed sweeps measured with layer-local metrics, the sizes
each metric implies, the conjecture's noise data set, and the doubled-training rerun.

One-hidden-layer ReLU MLPs over a grid of widths x seeds are trained as one batched
computation per task (:func:`overparam.engine.sweep.train_ensemble`); each member's hidden
layer is then measured on the test set with :mod:`overparam.metrics` and
:mod:`overparam.distributions`.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from ... import distributions as Dist
from ... import metrics as M
from ...adequacy import TrainState
from ...config import Progress, check_choice, generator, log, seed_stream, threads
from ...engine.sweep import Member, TrainData, train_ensemble
from ...stats import mean_ci
from .profiles import TASKS, VarianceConfig

if TYPE_CHECKING:  # imported lazily at run time (tables only)
    import pandas as pd


def load_task(task: str, cfg: VarianceConfig) -> TrainData:
    """The task's train/test data as a :class:`TrainData` (through :mod:`overparam.data`).

    ``easy``/``hard``: MNIST-1D pair; ``digits``: sklearn digits; ``mnist``/``fashion``:
    the reader's files at ``cfg.mnist_path`` / ``cfg.fashion_path``.

    Introduced in: Chapter 4
    """
    from ... import data as D
    check_choice("task", task, TASKS)
    if task in ("easy", "hard"):
        d = D.load_mnist1d_task(task)
    elif task == "digits":
        d = D.load_digits_split()
    else:
        d = D.load_user_mnist(cfg.mnist_path if task == "mnist" else cfg.fashion_path)
    t = {k: torch.as_tensor(d[k]) for k in ("x", "y", "x_test", "y_test")}
    return TrainData(t["x"], t["y"], t["x_test"], t["y_test"], n_classes=10, key=task)


def member_seed(seed: int, s: int) -> int:
    """The init/order seed of the ``s``-th seed of a run with seed ``seed`` (same for every
    width and for the doubled-training rerun, so that the two are paired).

    Introduced in: Chapter 4
    """
    return seed_stream(seed, f"variance/member{s}") % (2**31)


@dataclass
class TaskSweep:
    """Measurements of one task's width x seed grid (arrays are (n_seeds, n_widths)).

    Attributes
    ----------
    task, epochs : the task and the epochs each member was trained for
    widths : ndarray (W,)
    acc : test accuracy
    variances : list (S) of lists (W) of per-unit variance arrays (width,)
    shapiro, total, median : Shapiro-Wilk W, total and median unit variance
    dead : ndarray (S, W, T) units with variance <= tol x the layer's mean unit variance
    dead_tols : ndarray (T,) relative tolerances (0: exactly constant units)
    share_exp, share_gamma : dead-like weight of the exp+normal / two-gamma fits
    shape : ML gamma shape of the positive variances (1: exponential)
    ll_exp, ll_gamma : held-out log-likelihood per unit of each mixture family (NaN where
        a layer has too few positive variances), and ``n_pos`` the units behind each
    explained, recon : lists (S) of lists (W) of PCA curves of the pre-activations
    k99 : pre-activation components for 99 % of the variance (at most the input dimension)
    k99_post : the same for the post-activations (not capped by the input dimension)
    params : list (S) of lists (W) of trained parameters
    data : TrainData
    seconds : float (training + metrics wall time)

    Introduced in: Chapter 4
    """

    task: str
    epochs: int
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
    shape: np.ndarray
    ll_exp: np.ndarray
    ll_gamma: np.ndarray
    n_pos: np.ndarray
    explained: list
    recon: list
    k99: np.ndarray
    k99_post: np.ndarray
    params: list
    data: TrainData
    seconds: float = 0.0
    state: TrainState | None = None   # per member, seed-major (member s * W + j)

    def arm(self, widths=None) -> TrainState:
        """TrainState of the members at ``widths`` (every member when None)."""
        keep = np.tile(np.isin(self.widths, self.widths if widths is None else np.atleast_1d(widths)),
                       len(self.params))
        st = self.state
        return TrainState(st.steps[keep], st.train_loss[keep], st.train_error[keep], st.met[keep], st.criterion)


#: Convergence of one member: its training error fell by at most PLATEAU_DROP over the last
#: quarter of the run, or is already at most PLATEAU_ERR. (Narrow nets keep memorising
#: slowly: at 80 epochs a width-16 net on the hard task still gains about a point per 20
#: epochs; two points per quarter is where its test accuracy has long stopped moving.)
PLATEAU_DROP = 0.02
PLATEAU_ERR = 0.01


def train_state(res, epochs: int, steps_per_epoch: int) -> TrainState:
    """TrainState of every member of an :class:`EnsembleResult` with curves recorded at
    least twice: ``met`` = training error down by <= :data:`PLATEAU_DROP` over the last
    recorded interval (a quarter of the run), or <= :data:`PLATEAU_ERR`.

    Introduced in: Chapter 4
    """
    err = np.asarray(res.curves["train_err"], float)
    end = err[:, -1]
    prev = err[:, -2] if err.shape[1] >= 2 else np.full_like(end, np.nan)
    met = np.isfinite(end) & ((prev - end <= PLATEAU_DROP) | (end <= PLATEAU_ERR))
    since = int(res.epochs[-2]) if len(res.epochs) >= 2 else 0
    return TrainState(np.full(len(end), epochs * steps_per_epoch), res.final("train_loss"), end, met,
                      f"training error down by <= {PLATEAU_DROP} from epoch {since} to {epochs}, "
                      f"or <= {PLATEAU_ERR}")


#: Per-step cost of one stack in forward FLOPs per example (engine default on the CPU: 3e4): at 1e5 the
#: narrow widths share stacks; hard task at quick, one thread: 12.8 s CPU vs 14.2 s (default), 13.4 s (1e6).
BUCKET_OVERHEAD = 1e5

_SCALARS = ("shapiro", "total", "median", "share_exp", "share_gamma", "shape", "ll_exp",
            "ll_gamma", "n_pos", "k99", "k99_post")


def sweep_task(task: str, cfg: VarianceConfig, *, seed: int = 0, epochs: int | None = None,
               device: torch.device | str = "cpu", sizes_only: bool = False) -> TaskSweep:
    """Train the width x seed grid of one task and measure every member's hidden layer.

    Member ``s`` of every width has seed :func:`member_seed` (seed, s); metrics are
    computed on the test set. ``epochs`` overrides ``cfg.epochs`` (the doubled run).
    ``sizes_only``: only what :func:`implied_sizes` reads (accuracy, Shapiro W, the two
    mixtures' dead shares, the widest layer's post-activation PCA) plus the variances; the
    held-out fits, gamma shapes and pre-activation PCA stay NaN / None.

    Introduced in: Chapter 4
    """
    t0 = time.perf_counter()
    epochs = cfg.epochs if epochs is None else epochs
    data = load_task(task, cfg)
    widths = np.array(cfg.widths)
    S, W = cfg.n_seeds, len(widths)
    members = [Member(int(w), seed=member_seed(seed, s)) for s in range(S) for w in widths]
    log.info(f"variance: {task}: training {len(members)} members (widths {widths[0]}-{widths[-1]}, "
             f"{S} seeds, {epochs} epochs)")
    with threads(1, device):
        # batched: one-hidden-layer MLPs up to a few thousand units stack well on CPU and GPU
        res = train_ensemble(members, data, cfg.train_config(epochs), device=device,
                             keep_params=True, mode="batched", bucket_overhead=BUCKET_OVERHEAD)
    res.check_finite()
    acc = (1 - res.final("test_err")).reshape(S, W)
    out = {k: np.full((S, W), np.nan) for k in _SCALARS}
    dead = np.zeros((S, W, len(cfg.dead_tols)))
    variances, explained, recon, params = ([[None] * W for _ in range(S)] for _ in range(4))
    Xt = data.X_test
    progress = Progress(f"variance: {task}: metrics", len(res.params))
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
        npos = int(np.sum(v > 0))
        out["n_pos"][s, j] = npos
        if sizes_only:
            if j == W - 1:
                out["k99_post"][s, j] = post_k99(post)
            progress.update(i + 1)
            continue
        if npos >= 2:
            out["shape"][s, j] = Dist.gamma_shape(v)
        if npos >= 4 * cfg.heldout_folds:
            hs = seed_stream(seed, f"variance/heldout/{task}/{s}/{j}")
            out["ll_exp"][s, j] = Dist.heldout_loglik(v, "exp_normal", folds=cfg.heldout_folds, seed=hs)
            out["ll_gamma"][s, j] = Dist.heldout_loglik(v, "two_gammas", folds=cfg.heldout_folds, seed=hs)
        pca = M.pca_metrics_linear(Xt, p[0])
        explained[s][j], recon[s][j] = pca.explained, pca.recon_error
        out["k99"][s, j] = pca.n_components(0.99)
        out["k99_post"][s, j] = post_k99(post)
        progress.update(i + 1)
    state = train_state(res, epochs, math.ceil(data.n_train / cfg.batch_size) if cfg.batch_size else 1)
    return TaskSweep(task, epochs, widths, acc, variances, out["shapiro"], out["total"], out["median"],
                     dead, np.array(cfg.dead_tols), out["share_exp"], out["share_gamma"], out["shape"],
                     out["ll_exp"], out["ll_gamma"], out["n_pos"], explained, recon, out["k99"],
                     out["k99_post"], params, data, time.perf_counter() - t0, state)


def post_k99(post: torch.Tensor, level: float = 0.99) -> int:
    """Principal components of the post-activations (n, w) that explain ``level`` of their
    variance. Unlike the pre-activations (rank <= input dimension), this can reach min(n, w).

    The component variances are the eigenvalues of the smaller Gram matrix of the centred
    activations (half the CPU time of their singular values, the same count).

    Introduced in: Chapter 4
    """
    a = post.detach().double()
    a = a - a.mean(0)
    gram = a.T @ a if a.shape[1] <= a.shape[0] else a @ a.T
    ev = torch.linalg.eigvalsh(gram).flip(0).clamp(min=0).numpy()
    if ev.sum() == 0:
        return 0
    return int(np.searchsorted(np.cumsum(ev) / ev.sum(), level - 1e-12) + 1)


def sweep_tasks(cfg: VarianceConfig, *, seed: int = 0, device: torch.device | str = "cpu") -> dict:
    """:func:`sweep_task` for every task of ``cfg.tasks``; dict task -> TaskSweep.

    Introduced in: Chapter 4
    """
    return {t: sweep_task(t, cfg, seed=seed, device=device) for t in cfg.tasks}


def sweep_doubled(cfg: VarianceConfig, *, seed: int = 0,
                  device: torch.device | str = "cpu") -> TaskSweep | None:
    """``cfg.double_task`` retrained with twice the epochs, same member seeds (paired),
    measured for the implied sizes only; None when ``cfg.double_task`` is empty.

    Introduced in: Chapter 4
    """
    if not cfg.double_task:
        return None
    return sweep_task(cfg.double_task, cfg, seed=seed, epochs=2 * cfg.epochs, device=device, sizes_only=True)


# --------------------------------------------------------------------------- sizes each signal implies


def plateau_width(acc: np.ndarray, widths: Sequence[int], tol: float) -> np.ndarray:
    """Per seed, the smallest width whose accuracy is within ``tol`` of the best accuracy.

    "The best" is the lower of the seed's own best and the best of the seed-mean curve:
    a seed's maximum over widths is biased upward by test-set noise, and the mean curve's
    best alone could be out of reach for a weak seed.

    Introduced in: Chapter 4
    """
    acc = np.asarray(acc)
    best = np.minimum(acc.max(axis=1, keepdims=True), acc.mean(axis=0).max())
    ok = acc >= best - tol
    return np.asarray(widths)[ok.argmax(axis=1)]


def loo_plateau_index(acc: np.ndarray, tol: float) -> np.ndarray:
    """Per seed s, the index of the plateau of the mean accuracy curve of the OTHER seeds
    (a point picked on seeds other than the one it is measured on).

    Introduced in: Chapter 4
    """
    acc = np.asarray(acc, float)
    if acc.shape[0] < 2:
        raise ValueError("loo_plateau_index needs at least 2 seeds")
    out = []
    for s in range(acc.shape[0]):
        m = np.delete(acc, s, axis=0).mean(0)
        out.append(int(np.argmax(m >= m.max() - tol)))
    return np.array(out)


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
    first "oversized" width by each mixture, and the post-activation PCA 99 % dimension of
    the widest layer (the pre-activation one is capped by the input dimension).

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
        "PCA 99 % after ReLU (widest)": np.log2(np.maximum(sw.k99_post[:, -1], 1)),
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
    Y = np.asarray(Y, float)
    return (Y - Y.mean(1, keepdims=True)) @ xc / (xc @ xc)


def quadratic_per_seed(x: Sequence[float], Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slope and quadratic coefficient of ``y = a + b u + c u^2`` per row of Y (S, n), where
    ``u`` is x rescaled to [-1, 1]. Returns ``(b, c)``, each (S,).

    Introduced in: Chapter 4
    """
    x = np.asarray(x, float)
    if x.size < 3 or np.ptp(x) == 0:
        raise ValueError("quadratic_per_seed needs >= 3 distinct x values")
    u = 2 * (x - x.min()) / np.ptp(x) - 1
    A = np.stack([np.ones_like(u), u, u**2], 1)
    coef = np.linalg.lstsq(A, np.asarray(Y, float).T, rcond=None)[0]
    return coef[1], coef[2]


def total_variance_trend(widths: Sequence[int], totals: Sequence[float]) -> dict:
    """Fit total variance vs width as ``a + b log w`` and ``c w^p`` (for the figure).

    Returns
    -------
    dict with ``log_fit`` (a, b) and ``power_fit`` (c, p)

    Introduced in: Chapter 4
    """
    w = np.asarray(widths, float)
    y = np.asarray(totals, float)
    b, a = np.polyfit(np.log(w), y, 1)
    p, lc = np.polyfit(np.log(w), np.log(y), 1)
    return {"log_fit": (a, b), "power_fit": (math.exp(lc), p)}


# --------------------------------------------------------------------------- the conjecture


CONJECTURE_METRICS = ("log2 median unit variance", "Shapiro W", "exp+normal dead share",
                      "two-gamma dead share")


@dataclass
class Conjecture:
    """The conjecture's measurements (arrays over seeds).

    Attributes
    ----------
    width : int, the width of M (the narrowest of the grid)
    plateau_width : ndarray (S,), the width P of each seed's properly sized reference,
        picked on the other seeds' mean accuracy (:func:`loo_plateau_index`)
    acc_d1, acc_d2, acc_p : accuracy of M on d1 (task), on d2 (noise labelled by M), of P on d1
    readings : ndarray (S, 4 metrics, 3) of [M on d1, M on d2, P on d1] for
        :data:`CONJECTURE_METRICS`

    Introduced in: Chapter 4
    """

    task: str
    width: int
    plateau_width: np.ndarray
    acc_d1: np.ndarray
    acc_d2: np.ndarray
    acc_p: np.ndarray
    readings: np.ndarray

    def table(self) -> "pd.DataFrame":
        """Mean over seeds of every reading (rows) on d1, d2 and for P on d1 (columns)."""
        import pandas as pd
        idx = ["test accuracy"] + list(CONJECTURE_METRICS)
        cols = {f"M on d1 ({self.task})": [self.acc_d1.mean()] + list(self.readings[:, :, 0].mean(0)),
                "M on d2 (noise, labels by M)": [self.acc_d2.mean()] + list(self.readings[:, :, 1].mean(0)),
                f"P (plateau) on d1": [self.acc_p.mean()] + list(self.readings[:, :, 2].mean(0))}
        return pd.DataFrame(cols, index=idx).round(3)


def _layer_readings(p, X) -> list[float]:
    v = M.unit_variance(M.hidden_layer(p, X)[1])
    return [float(np.log2(max(np.median(v), 1e-30))), M.variance_normality(v), M.fit_exp_normal(v, max_iter=300).dead_weight,
            M.fit_two_gammas(v, max_iter=300).dead_weight]


def conjecture_demo(sw: TaskSweep, cfg: VarianceConfig, *, seed: int = 0) -> Conjecture:
    """The journal's "proof", measured: can a layer metric see that M became exact?

    For each seed, M is the narrowest trained net of the task; P is the net at the
    accuracy plateau (picked on the other seeds). d2 has independent Gaussian noise
    inputs with the test inputs' per-feature mean and standard deviation ("random noise
    of the same shape"), labelled by M itself, so M is exact on d2 by construction. Each
    metric of :data:`CONJECTURE_METRICS` is read for M on d1, M on d2 and P on d1.

    Introduced in: Chapter 4
    """
    g = generator(seed, "variance/conjecture-noise")
    X1, y1 = sw.data.X_test, sw.data.y_test
    X2 = X1.mean(0) + X1.std(0) * torch.randn(cfg.n_noise, X1.shape[1], generator=g)
    S = len(sw.params)
    pj = loo_plateau_index(sw.acc, cfg.plateau_tol)
    acc1, acc2, accp, read = [], [], [], np.zeros((S, len(CONJECTURE_METRICS), 3))
    for s in range(S):
        p, q = sw.params[s][0], sw.params[s][pj[s]]

        def logits(par, X):
            return torch.relu(X @ par[0] + par[1]) @ par[2] + par[3]

        y2 = logits(p, X2).argmax(1)  # d2's labels: M's own outputs
        acc1.append(float((logits(p, X1).argmax(1) == y1).float().mean()))
        acc2.append(float((logits(p, X2).argmax(1) == y2).float().mean()))
        accp.append(float((logits(q, X1).argmax(1) == y1).float().mean()))
        for k, (par, X) in enumerate(((p, X1), (p, X2), (q, X1))):
            read[s, :, k] = _layer_readings(par, X)
    return Conjecture(sw.task, int(sw.widths[0]), sw.widths[pj], np.array(acc1), np.array(acc2),
                      np.array(accp), read)


# --------------------------------------------------------------------------- everything


@dataclass
class VarianceResults:
    """What :func:`overparam.chapters.variance_metrics.claims` judges.

    Introduced in: Chapter 4
    """

    cfg: VarianceConfig
    sweeps: dict
    conjecture: Conjecture | None = None
    doubled: TaskSweep | None = None


def run_all(cfg: VarianceConfig, *, seed: int = 0, device: torch.device | str = "cpu") -> VarianceResults:
    """Every experiment of the chapter: the sweeps, the conjecture, the doubled training.

    Introduced in: Chapter 4
    """
    sweeps = sweep_tasks(cfg, seed=seed, device=device)
    conj = conjecture_demo(sweeps["easy"], cfg, seed=seed)
    return VarianceResults(cfg, sweeps, conj, sweep_doubled(cfg, seed=seed, device=device))


__all__ = ["load_task", "member_seed", "TaskSweep", "PLATEAU_DROP", "PLATEAU_ERR", "train_state", "sweep_task", "sweep_tasks", "sweep_doubled",
           "post_k99", "plateau_width", "loo_plateau_index", "argmax_width", "oversized_width",
           "implied_sizes", "sizes_table", "slope_per_seed", "quadratic_per_seed",
           "total_variance_trend", "CONJECTURE_METRICS", "Conjecture", "conjecture_demo",
           "VarianceResults", "run_all"]
