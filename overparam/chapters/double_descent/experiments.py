"""Chapter 3's MLP experiments on MNIST-1D: model-wise, EMC, sample-wise, random labels and
a teacher-student test, all trained by the engine's :func:`~overparam.engine.sweep.train_grid`
(batched, resumable through the chapter's result store).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from ... import config
from ... import data as _data
from ...config import check_choice, check_positive
from ...engine.store import ResultStore
from ...engine.sweep import Member, TrainData, make_model, train_grid
from .closed_form import LinearSystemResult, RandomFeaturesResult
from .profiles import DoubleDescentConfig


def member_seeds(seed: int, n_seeds: int) -> list[int]:
    """The seeds of a run's members: ``n_seeds`` independent streams of the run's ``seed``.

    Runs with different ``seed`` share no member (``seed, seed+1, ...`` would: the runs
    with seeds 0 and 1 would share all but one), and every experiment of one run uses the
    same list, so grid points at the same (width, n, noise) are shared between them.

    Introduced in: Chapter 3
    """
    check_positive("n_seeds", n_seeds, integer=True)
    return [config.seed_stream(seed, f"member {k}") % 2**31 for k in range(n_seeds)]


def _kw(log):
    return {} if log is None else {"log": log}


# --------------------------------------------------------------------------- data


def mnist1d_sets(n_train: int, noises: Sequence[float], seeds: Sequence[int],
                 device: torch.device | str = "cpu") -> tuple[list[TrainData], dict]:
    """Training sets with their own label noise per (noise, seed), sharing X in memory.

    The first ``n_train`` of MNIST-1D's 4,000 training sequences; each (noise, seed) gets
    labels corrupted by :func:`overparam.data.add_label_noise` from the stream
    ``(seed, "label noise")``. The test set (1,000 sequences) is clean.

    Returns
    -------
    datas : list of TrainData
    index : dict (noise, seed) -> position in datas

    Introduced in: Chapter 3
    """
    ds = _data.load_mnist1d()
    X = torch.tensor(ds["x"][:n_train], device=device)
    y = torch.tensor(ds["y"][:n_train], device=device)
    Xt, yt = torch.tensor(ds["x_test"], device=device), torch.tensor(ds["y_test"], device=device)
    datas, index = [], {}
    for noise in noises:
        for s in seeds:
            yn, _ = _data.add_label_noise(y, float(noise), 10,
                                          seed=config.seed_stream(int(s), "label noise"))
            index[(float(noise), int(s))] = len(datas)
            datas.append(TrainData(X, yn, Xt, yt, 10,
                                   key=f"mnist1d n={n_train} noise={float(noise):g} seed={int(s)}"))
    return datas, index


# --------------------------------------------------------------------------- model-wise


@dataclass
class WidthSweep:
    """A model-wise sweep: widths x seeds x noise levels.

    Attributes
    ----------
    widths : ndarray (W,)
    noises : ndarray (K,)
    seeds : ndarray (S,)
    n_params : ndarray (W,)
    epochs : ndarray (T,)
    train_err, test_err, train_loss, test_loss : ndarray (K, S, W) – final values
    test_err_curve, train_err_curve : ndarray (K, S, W, T) – every eval_every epochs
    test_probs : ndarray (K, S, W, n_test, 10) – final softmax outputs
    y_test : ndarray (n_test,)
    n_train : int
    diverged : dict – member label -> epoch (empty when all finite)
    arch : str
    params : list (K*S*W, in (noise, seed, width) order) of each member's trained
        parameters, or None
    """

    widths: np.ndarray
    noises: np.ndarray
    seeds: np.ndarray
    n_params: np.ndarray
    epochs: np.ndarray
    train_err: np.ndarray
    test_err: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray
    test_err_curve: np.ndarray
    train_err_curve: np.ndarray
    test_probs: np.ndarray
    y_test: np.ndarray
    n_train: int
    diverged: dict
    arch: str = "mlp"
    params: list | None = None


def n_params_mlp(width: int, depth: int = 1, d: int = 40, n_classes: int = 10) -> int:
    """Number of parameters of the MLP d-width^depth-n_classes (weights + biases).

    Introduced in: Chapter 3
    """
    dims = [d] + [width] * depth + [n_classes]
    return sum(a * b + b for a, b in zip(dims[:-1], dims[1:]))


def _n_params(width: int, depth: int, arch: str) -> int:
    if arch == "mlp":
        return n_params_mlp(width, depth)
    return sum(p.numel() for p in make_model(Member(width, depth, arch), 40, 10).parameters())


def width_sweep(cfg: DoubleDescentConfig, *, seed: int = 0, device: torch.device | str = "cpu",
                store: ResultStore | None = None, arch: str = "mlp",
                widths: Sequence[int] | None = None, log: Callable[[str], None] | None = None,
                **engine) -> WidthSweep:
    """Train every (noise, seed, width) of the model-wise sweep (resumable) and collect it.

    The seeds are :func:`member_seeds` of ``seed``; each sets the label-noise draw, the
    initialisation and the batch order of its members.

    Introduced in: Chapter 3
    """
    check_choice("arch", arch, ("mlp", "cnn"))
    widths = tuple(widths if widths is not None else (cfg.widths if arch == "mlp" else cfg.cnn_widths))
    if not widths:
        raise ValueError(f"widths={widths!r} is not allowed; expected at least one width for arch={arch!r}")
    seeds = member_seeds(seed, cfg.n_seeds)
    noises = [float(x) for x in cfg.label_noise]
    datas, index = mnist1d_sets(cfg.n_train, noises, seeds, device)
    depth = cfg.depth if arch == "mlp" else 2
    members = [Member(w, depth=depth, arch=arch, seed=s, data=index[(nz, s)],
                      name=f"{arch} w={w} noise={nz:g} seed={s}")
               for nz in noises for s in seeds for w in widths]
    r = train_grid(members, datas, cfg.train_config(), store=store, device=device, keep_probs=True,
                   keep_params=True, **_kw(log), **engine)  # parameters: the generalization probes
    K, S, W = len(noises), len(seeds), len(widths)

    def grid(a):
        return a.reshape(K, S, W, *a.shape[1:])

    n_par = np.array([_n_params(w, depth, arch) for w in widths])
    return WidthSweep(
        np.array(widths), np.array(noises), np.array(seeds), n_par, r.epochs,
        grid(r.final("train_err")), grid(r.final("test_err")), grid(r.final("train_loss")),
        grid(r.final("test_loss")), grid(r.curves["test_err"]), grid(r.curves["train_err"]),
        grid(r.test_probs), datas[0].y_test.cpu().numpy(), cfg.n_train, dict(r.diverged), arch, r.params)


def interpolation_index(train_err: np.ndarray, tol: float) -> int | None:
    """Index of the first width whose mean training error over seeds is <= tol.

    Parameters
    ----------
    train_err : ndarray (S, W)

    Returns
    -------
    int or None when no width interpolates

    Introduced in: Chapter 3
    """
    hits = np.flatnonzero(np.asarray(train_err).mean(0) <= tol)
    return int(hits[0]) if len(hits) else None


def crossing_position(train_err: np.ndarray, tol: float) -> float:
    """Where one curve of training error first reaches ``tol``, as a fractional index.

    Linear interpolation between the last point above ``tol`` and the first at or below
    it (0.0 if the first point already fits; NaN if no point does).

    Parameters
    ----------
    train_err : ndarray (W,) – one seed's training error per width (or per n)

    Introduced in: Chapter 3
    """
    e = np.asarray(train_err, dtype=float)
    hits = np.flatnonzero(e <= tol)
    if not len(hits):
        return math.nan
    i = int(hits[0])
    if i == 0:
        return 0.0
    return (i - 1) + (e[i - 1] - tol) / (e[i - 1] - e[i])


def classical_min_indices(curves: np.ndarray) -> np.ndarray:
    """:func:`classical_min_index` of every curve along the last axis of ``curves`` (..., W)."""
    m = np.asarray(curves, dtype=float)
    w = m.shape[-1]
    start = np.full(m.shape[:-1], min(2, w - 1), dtype=int)
    if w >= 5:
        pad = np.concatenate([m[..., :1], m, m[..., -1:]], axis=-1)
        sm = (pad[..., :-2] + pad[..., 1:-1] + pad[..., 2:]) / 3
        is_min = (sm[..., 1:-1] <= sm[..., :-2]) & (sm[..., 1:-1] < sm[..., 2:])
        start = np.where(is_min.any(-1), is_min.argmax(-1) + 1, start)
    return start


def classical_min_index(curve: np.ndarray) -> int:
    """Index of the classical minimum of a mean test-error curve (W,): the first interior
    local minimum of its 3-point moving average (index 2 when there is none).

    Introduced in: Chapter 3
    """
    return int(classical_min_indices(curve))


def peak_indices(curves: np.ndarray) -> np.ndarray:
    """:func:`peak_index` of every curve along the last axis of ``curves`` (..., W): the
    largest value at or after its classical minimum (the first, on ties)."""
    m = np.asarray(curves, dtype=float)
    start = classical_min_indices(m)
    after = np.arange(m.shape[-1]) >= start[..., None]
    return np.where(after, m, -np.inf).argmax(-1)


def peak_index(test_err: np.ndarray) -> int:
    """Index of the double-descent peak: the largest mean test error after the classical
    minimum (:func:`classical_min_index`).

    The narrow end of a width sweep under-fits, so its test error is high too; taking the
    global maximum would find that end, not the peak.

    Parameters
    ----------
    test_err : ndarray (S, W) test error per seed and width, or (W,) one curve

    Introduced in: Chapter 3
    """
    m = np.asarray(test_err, dtype=float)
    return int(peak_indices(m.mean(0) if m.ndim == 2 else m))


def peak_position(curve: np.ndarray) -> float:
    """The peak of one test-error curve (W,) at sub-grid resolution: :func:`peak_index`
    refined by the vertex of the parabola through it and its neighbours (within ±0.5).

    Introduced in: Chapter 3
    """
    e = np.asarray(curve, dtype=float)
    p = peak_index(e)
    if p == 0 or p == len(e) - 1:
        return float(p)
    a, b, c = e[p - 1], e[p], e[p + 1]
    den = a - 2 * b + c
    off = 0.0 if den >= 0 else 0.5 * (a - c) / den
    return p + float(np.clip(off, -0.5, 0.5))


def divergence_report(sw: WidthSweep) -> str:
    """"all N members finite" or the names of the members whose loss became NaN/inf.

    Introduced in: Chapter 3
    """
    total = sw.train_err.size
    if not sw.diverged:
        return f"all {total} trainings finite (no NaN/inf)"
    names = "; ".join(f"{k} (epoch {v})" for k, v in sw.diverged.items())
    return (f"WARNING: {len(sw.diverged)} of {total} trainings diverged and are left out of the "
            f"curves (gaps): {names}")


# --------------------------------------------------------------------------- EMC


@dataclass
class EMCResult:
    """Training error of each (n, width) and the effective model complexity per width.

    Attributes
    ----------
    ns : ndarray (N,), widths : ndarray (W,)
    train_err : ndarray (N, S, W)
    emc : ndarray (S, W) – largest n of the grid with training error <= tol (0 if none)
    log2_emc : ndarray (S, W) – log2 EMC between grid points (:func:`emc_log2_grid`)
    noise : float
    """

    ns: np.ndarray
    widths: np.ndarray
    train_err: np.ndarray
    emc: np.ndarray
    log2_emc: np.ndarray
    noise: float


def emc_log2(train_err: np.ndarray, ns: Sequence[int], tol: float, slope: float | None = None) -> float:
    """log2 of the effective model complexity from one width's training errors over n.

    EMC is the largest n trained to <= ``tol``. Past EMC the training error grows about
    linearly in log2 n (quick, 20 % noise: +0.09 to +0.16 per octave) and below it is ~0,
    a hinge; so EMC is placed where the line through the first size above ``tol`` with the
    slope of the next size (or ``slope``, per octave, when there is no next size above)
    falls to ``tol``, kept between the last fitting size and the first failing one.
    Interpolating from the last fitting size instead (error ~0 there) would put EMC next to
    that size whatever it is: the estimate would snap to the grid. Without any slope, that
    interpolation is the fallback. Censored: a width that fits every n gets log2 of the
    largest n (a lower bound); one that fits none gets log2 of the smallest n minus 1.

    Parameters
    ----------
    train_err : ndarray (N,), the training error at each n of ``ns`` (increasing)
    slope : float, optional – training error per octave of n past EMC (:func:`emc_slope`)

    Introduced in: Chapter 3
    """
    e = np.asarray(train_err, dtype=float)
    lg = np.log2(np.asarray(ns, dtype=float))
    above = np.flatnonzero(e > tol)
    if not len(above):
        return float(lg[-1])
    j = int(above[0])
    if j == 0:
        return float(lg[0] - 1)
    if j + 1 < len(e) and e[j + 1] > e[j]:
        slope = (e[j + 1] - e[j]) / (lg[j + 1] - lg[j])
    if slope is not None and slope > 0:
        return float(np.clip(lg[j] - (e[j] - tol) / slope, lg[j - 1], lg[j]))
    t = (tol - e[j - 1]) / (e[j] - e[j - 1])
    return float(lg[j - 1] + t * (lg[j] - lg[j - 1]))


def emc_slope(train_err: np.ndarray, ns: Sequence[int], tol: float) -> float:
    """Median over widths of the training error's rise per octave of n between the first
    two sizes above ``tol`` (``train_err`` (N, W) of one seed); NaN when no width has two.

    Introduced in: Chapter 3
    """
    e = np.asarray(train_err, dtype=float)
    lg = np.log2(np.asarray(ns, dtype=float))
    slopes = []
    for w in range(e.shape[1]):
        above = np.flatnonzero(e[:, w] > tol)
        if len(above) >= 2 and above[1] == above[0] + 1:
            a, b = above[0], above[1]
            slopes.append((e[b, w] - e[a, w]) / (lg[b] - lg[a]))
    return float(np.median(slopes)) if slopes else float("nan")


def emc_log2_grid(train_err: np.ndarray, ns: Sequence[int], tol: float) -> np.ndarray:
    """:func:`emc_log2` of every (seed, width) of ``train_err`` (N, S, W), each seed's
    widths with a single size above ``tol`` taking that seed's :func:`emc_slope`. (S, W).

    Introduced in: Chapter 3
    """
    e = np.asarray(train_err, dtype=float)
    out = np.empty(e.shape[1:])
    for s in range(e.shape[1]):
        sl = emc_slope(e[:, s], ns, tol)
        for w in range(e.shape[2]):
            out[s, w] = emc_log2(e[:, s, w], ns, tol, None if np.isnan(sl) else sl)
    return out


def emc_sweep(cfg: DoubleDescentConfig, *, noise: float, seed: int = 0,
              device: torch.device | str = "cpu", store: ResultStore | None = None,
              log: Callable[[str], None] | None = None, **engine) -> EMCResult:
    """Effective model complexity: the largest n each width trains to <= interp_tol error.

    Trains every (n in ``cfg.emc_ns``, width in ``cfg.emc_widths``, seed) with the
    chapter's training procedure and ``noise`` label noise (Nakkiran et al.'s EMC). The
    n's go above the width sweep's n, so EMC can come out larger than n. The seeds are
    first ``min(cfg.emc_seeds, cfg.n_seeds)`` of :func:`member_seeds` (points at ``n_train``
    are shared with the width sweep).

    Introduced in: Chapter 3
    """
    seeds = member_seeds(seed, min(cfg.emc_seeds, cfg.n_seeds))
    ns = list(cfg.emc_ns)
    errs = []
    for n in ns:
        datas, index = mnist1d_sets(n, [noise], seeds, device)
        members = [Member(w, depth=cfg.depth, seed=s, data=index[(float(noise), s)],
                          name=f"emc n={n} w={w} seed={s}") for s in seeds for w in cfg.emc_widths]
        r = train_grid(members, datas, cfg.train_config(), store=store, device=device,
                       keep_probs=True, **_kw(log), **engine)  # probs: keys shared with the sweep
        errs.append(r.final("train_err").reshape(len(seeds), len(cfg.emc_widths)))
    train_err = np.stack(errs)
    fits = train_err <= cfg.interp_tol
    emc = np.where(fits, np.array(ns)[:, None, None], 0).max(0)
    lg = emc_log2_grid(train_err, ns, cfg.interp_tol)
    return EMCResult(np.array(ns), np.array(cfg.emc_widths), train_err, emc, lg, float(noise))


# --------------------------------------------------------------------------- sample-wise


@dataclass
class SampleSweep:
    """Test error at one width as the training set grows. test_err, train_err: (S, N)."""

    ns: np.ndarray
    test_err: np.ndarray
    train_err: np.ndarray
    width: int
    noise: float


def sample_sweep(cfg: DoubleDescentConfig, *, seed: int = 0, device: torch.device | str = "cpu",
                 store: ResultStore | None = None, log: Callable[[str], None] | None = None,
                 **engine) -> SampleSweep:
    """Train width ``cfg.sample_width`` on n in ``cfg.sample_ns`` (noise ``cfg.sample_noise``).

    Introduced in: Chapter 3
    """
    seeds = member_seeds(seed, cfg.n_seeds)
    ns = list(cfg.sample_ns)
    te, tr = [], []
    for n in ns:
        datas, index = mnist1d_sets(n, [cfg.sample_noise], seeds, device)
        members = [Member(cfg.sample_width, depth=cfg.depth, seed=s,
                          data=index[(float(cfg.sample_noise), s)],
                          name=f"samples n={n} w={cfg.sample_width} seed={s}") for s in seeds]
        r = train_grid(members, datas, cfg.train_config(), store=store, device=device,
                       keep_probs=True, **_kw(log), **engine)  # probs: keys shared with the sweeps
        te.append(r.final("test_err"))
        tr.append(r.final("train_err"))
    return SampleSweep(np.array(ns), np.stack(te, 1), np.stack(tr, 1), cfg.sample_width,
                       cfg.sample_noise)


# --------------------------------------------------------------------------- bias-variance


def bias_variance(probs: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared-error bias-variance split of softmax outputs over seeds.

    With p_s(x) the output of seed s and p̄(x) their mean, the expected squared error
    ``mean_s |p_s(x) - e_y|^2`` equals ``bias² = |p̄(x) - e_y|^2`` plus
    ``variance = mean_s |p_s(x) - p̄(x)|^2`` exactly; both are averaged over test points.

    Parameters
    ----------
    probs : ndarray (S, ..., n_test, C)
    y : ndarray (n_test,) int labels

    Returns
    -------
    bias2, variance : ndarrays of shape probs.shape[1:-2]

    Introduced in: Chapter 3
    """
    p = np.asarray(probs, dtype=np.float64)
    onehot = np.eye(p.shape[-1])[np.asarray(y)]
    pbar = p.mean(0)
    bias2 = ((pbar - onehot) ** 2).sum(-1).mean(-1)
    var = ((p - pbar) ** 2).sum(-1).mean(-1).mean(0)
    return bias2, var
