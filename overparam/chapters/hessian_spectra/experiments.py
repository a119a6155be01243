"""Chapter 2's experiments, one function per section, each returning a result dataclass.

Sections: (1) bulk and outliers, (2) outliers vs k, (3) zeros vs width, (4) top
eigenvalues vs batch size, (5) the Gauss-Newton split, (6) fluctuations of the top
eigenvalue over retrainings, (7) SGD vs GD on small and large nets at matched training
error, (8) large batch then small batch, against a large-batch continuation.
"""
from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats as _st

from ... import data, hessian, landscape, models
from ...config import generator, log, seed_stream, threads
from ...engine.loop import Every, per_member_batches
from ...stats import Estimate
from .profiles import SpectraConfig
from .training import (Trained, count_outliers, outlier_window, sgd_stack, spectrum_of, top_of,
                       train_blobs)


def _one_thread(fn):
    """Run a section on one CPU thread when its device is the CPU (chapters run side by
    side on small machines; the products here are small, M ~ 10^3)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with threads(1, kwargs.get("device", "cpu")):
            return fn(*args, **kwargs)
    return wrapper


def _frac_zero(sp: hessian.SpectralDensity, lam_max: float, tol: float) -> float:
    return sp.mass(-tol * lam_max, tol * lam_max)


# ---------------------------------------------------------------------------- 1. bulk
@dataclass
class BulkResult:
    """Section 1: spectra of the trained nets, their losses and the bulk/outlier split."""

    spectra: list             # SpectralDensity per net
    n_params: int
    train_loss: np.ndarray    # (R,)
    test_error: np.ndarray    # (R,)
    frac_zero: np.ndarray     # (R,) fraction with |lambda| <= zero_tol * lambda_max
    n_outliers: np.ndarray    # (R,) by :func:`count_outliers`
    top: np.ndarray           # (R,) lambda_max
    trained: Trained          # the networks, reused by section 5


@_one_thread
def bulk_and_outliers(cfg: SpectraConfig, *, seed: int = 0, device="cpu") -> BulkResult:
    """Section 1: the Hessian spectrum at the end of SGD training on k blobs.

    Introduced in: Chapter 2
    """
    tr = train_blobs(cfg, seed=seed, device=device, label="section 1")
    tl, _, _, se = tr.errors()
    W = outlier_window(cfg)
    specs, fz, no, top = [], [], [], []
    for i in range(tr.thetas.shape[0]):
        sp = spectrum_of(tr, i, cfg, seed=seed)
        lam = sp.eigenvalues if sp.exact else top_of(tr, i, W)
        specs.append(sp)
        fz.append(_frac_zero(sp, lam[0], cfg.zero_tol))
        no.append(count_outliers(lam, W))
        top.append(lam[0])
        log.info(f"section 1: net {i + 1}/{tr.thetas.shape[0]} spectrum done")
    return BulkResult(specs, tr.n_params, tl, se, np.array(fz), np.array(no), np.array(top), tr)


# ---------------------------------------------------------------------------- 2-4. sweeps
@dataclass
class SweepResult:
    """Sections 2-4: a quantity per (net, setting)."""

    name: str                # the swept knob: "k", "width" or "batch_size"
    values: tuple            # the settings
    n_params: np.ndarray     # (S,) parameters per setting
    top: np.ndarray          # (R, S, window) top eigenvalues, descending
    n_outliers: np.ndarray   # (R, S) by :func:`count_outliers`
    frac_zero: np.ndarray    # (R, S) (NaN where not measured)
    train_loss: np.ndarray   # (R, S)
    train_error: np.ndarray  # (R, S)
    test_error: np.ndarray   # (R, S)


def _sweep(cfg: SpectraConfig, name: str, values, seed: int, device, with_zero: bool,
           bulk: BulkResult | None = None) -> SweepResult:
    """One knob swept; at the setting that equals section 1's (``bulk``, same seed and
    config), section 1's trained nets and exact spectra are reused instead of retrained."""
    W = outlier_window(cfg)
    R, S = cfg.n_seeds, len(values)
    top = np.full((R, S, W), np.nan)
    no = np.zeros((R, S), dtype=int)
    fz = np.full((R, S), np.nan)
    tl, te, se = (np.zeros((R, S)) for _ in range(3))
    n_params = np.zeros(S, dtype=int)
    for j, v in enumerate(values):
        same = bulk is not None and v == getattr(cfg, name)
        tr = bulk.trained if same else train_blobs(cfg, seed=seed, device=device, label=f"{name}={v}", **{name: v})
        n_params[j] = tr.n_params
        tl[:, j], te[:, j], _, se[:, j] = tr.errors()
        for i in range(R):
            sp = bulk.spectra[i] if same else spectrum_of(tr, i, cfg, seed=seed) if with_zero else None
            lam = sp.eigenvalues[:W] if sp is not None and sp.exact else top_of(tr, i, W)
            top[i, j, :lam.size] = lam
            no[i, j] = count_outliers(lam, W)
            if with_zero:
                fz[i, j] = _frac_zero(sp, lam[0], cfg.zero_tol)
        log.info(f"{name} sweep: {j + 1}/{S} done")
    return SweepResult(name, tuple(values), n_params, top, no, fz, tl, te, se)


@_one_thread
def outliers_vs_classes(cfg: SpectraConfig, *, seed: int = 0, device="cpu",
                        bulk: BulkResult | None = None) -> SweepResult:
    """Section 2: number of outlier eigenvalues for each k in ``cfg.ks``.

    ``bulk``: section 1's result, reused at k = ``cfg.k`` (its nets are that setting's).

    Introduced in: Chapter 2
    """
    return _sweep(cfg, "k", cfg.ks, seed, device, with_zero=False, bulk=bulk)


@_one_thread
def zeros_vs_width(cfg: SpectraConfig, *, seed: int = 0, device="cpu",
                   bulk: BulkResult | None = None) -> SweepResult:
    """Section 3: fraction of eigenvalues at zero and outlier count for each width.

    ``bulk``: section 1's result, reused at width = ``cfg.width`` (its nets are that setting's).

    Introduced in: Chapter 2
    """
    return _sweep(cfg, "width", cfg.widths, seed, device, with_zero=True, bulk=bulk)


@_one_thread
def top_vs_batch(cfg: SpectraConfig, *, seed: int = 0, device="cpu") -> SweepResult:
    """Section 4: top eigenvalues after the same number of steps at each batch size.

    Introduced in: Chapter 2
    """
    return _sweep(cfg, "batch_size", cfg.batch_sizes, seed, device, with_zero=False)


# ---------------------------------------------------------------------------- 5. G and R
@dataclass
class GaussNewtonResult:
    """Section 5: spectra of H, G and R = H - G at one trained net; G's rank and bound."""

    H: hessian.SpectralDensity
    G: hessian.SpectralDensity
    R: hessian.SpectralDensity
    top_H: np.ndarray        # (R_nets, n_top)
    top_G: np.ndarray        # (R_nets, n_top)
    top_R: np.ndarray        # (R_nets,) largest |eigenvalue| of R
    rank_G: int | None       # numerical rank (exact spectra only)
    rank_bound: int
    n_params: int


@_one_thread
def gauss_newton_split(cfg: SpectraConfig, *, seed: int = 0, device="cpu",
                       bulk: BulkResult | None = None) -> GaussNewtonResult:
    """Section 5: where the outliers come from, H = G + R.

    ``bulk``: section 1's result, whose networks and H spectrum are reused.

    Introduced in: Chapter 2
    """
    tr = bulk.trained if bulk is not None else train_blobs(cfg, seed=seed, device=device,
                                                           label="section 5")
    n_top = cfg.k
    sp = {w: spectrum_of(tr, 0, cfg, w, seed) for w in ("G", "R")}
    sp["H"] = bulk.spectra[0] if bulk is not None else spectrum_of(tr, 0, cfg, "H", seed)
    tH, tG, tR = [], [], []
    for i in range(tr.thetas.shape[0]):
        exact = bulk is not None and bulk.spectra[i].exact        # section 1 has all of H's eigenvalues
        tH.append(bulk.spectra[i].eigenvalues[:n_top] if exact else top_of(tr, i, n_top, "H"))
        tG.append(top_of(tr, i, n_top, "G"))
        curv = tr.curvature(i)
        pos = hessian.top_eigenvalues(curv, 1, "R", tol=1e-4)[0]
        neg = -hessian.top_eigenpairs(lambda v: -curv.residual_vp(v), curv.n_params, 1,
                                      tol=1e-4, dtype=torch.float64,
                                      device=curv.theta.device).values[0]
        tR.append(max(abs(pos), abs(neg)))
    rank = None
    if sp["G"].exact:
        ev = sp["G"].eigenvalues
        rank = int(np.sum(ev > ev.max() * tr.n_params * np.finfo(float).eps * 10))
    bound = hessian.gauss_newton_rank_bound(cfg.n_train, cfg.k, tr.n_params)
    return GaussNewtonResult(sp["H"], sp["G"], sp["R"], np.array(tH), np.array(tG), np.array(tR),
                             rank, bound, tr.n_params)


# ---------------------------------------------------------------------------- 6. fluctuations
@dataclass
class FluctuationResult:
    """Section 6: the top eigenvalue of each of many retrainings and two fits."""

    lam: np.ndarray          # (n_retrain,)
    normal: tuple            # (loc, scale), fitted on all retrainings (for the figure)
    gumbel: tuple            # (loc, scale) of the right-skewed Gumbel (gumbel_r), likewise
    heldout_diff: np.ndarray  # (n_retrain,) Gumbel minus Gaussian log-likelihood of each
    #                           retraining under the fits made on the other half
    skewness: Estimate       # sample skewness with a bootstrap interval
    ks_normal: float         # Kolmogorov-Smirnov distance to each fit
    ks_gumbel: float
    init_loss: np.ndarray    # (n_retrain,) training loss at each random start
    final_loss: np.ndarray   # (n_retrain,) ... after training
    seconds: float


def heldout_loglik_diff(lam) -> np.ndarray:
    """Gumbel minus Gaussian log-likelihood of each value, scored out of sample.

    Two folds (even and odd positions): each fold is scored under a Gumbel (gumbel_r)
    and a Gaussian fitted by maximum likelihood on the other fold.

    Introduced in: Chapter 2
    """
    lam = np.asarray(lam, dtype=float)
    if lam.size < 4:
        raise ValueError(f"lam has {lam.size} values; expected >= 4 (two folds of >= 2)")
    out = np.empty_like(lam)
    idx = np.arange(lam.size)
    for fold in (0, 1):
        test, fit_on = idx[idx % 2 == fold], idx[idx % 2 != fold]
        g = _st.gumbel_r.fit(lam[fit_on])
        n = _st.norm.fit(lam[fit_on])
        out[test] = _st.gumbel_r.logpdf(lam[test], *g) - _st.norm.logpdf(lam[test], *n)
    return out


def _bootstrap(x: np.ndarray, stat, n_boot: int = 2000, seed: int = 0) -> Estimate:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, (n_boot, x.size))
    boots = np.array([stat(x[i]) for i in idx])
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return Estimate(float(stat(x)), float(lo), float(hi), int(x.size))


@_one_thread
def top_eigenvalue_fluctuations(cfg: SpectraConfig, *, seed: int = 0, device="cpu") -> FluctuationResult:
    """Section 6: retrain one configuration ``n_retrain`` times as one stacked computation.

    All networks share the data and the hyper-parameters; they differ in initialisation
    and batch order. Their top eigenvalues come from one batched Lanczos run.

    Introduced in: Chapter 2
    """
    t0 = time.perf_counter()
    tr = train_blobs(cfg, width=cfg.retrain_width, n_nets=cfg.n_retrain, seed=seed,
                     device=device, stream=" retrain", label="section 6")
    lam = hessian.stacked_top_eigenvalue(tr.flat, tr.thetas, tr.X, tr.y, steps=30,
                                         generator=generator(seed, "retrain lanczos"))
    lam = np.asarray(lam, dtype=float)
    nl, ns = _st.norm.fit(lam)
    gl, gs = _st.gumbel_r.fit(lam)
    return FluctuationResult(
        lam, (nl, ns), (gl, gs), heldout_loglik_diff(lam),
        _bootstrap(lam, lambda x: float(_st.skew(x)), seed=seed),
        float(_st.kstest(lam, "norm", (nl, ns)).statistic),
        float(_st.kstest(lam, "gumbel_r", (gl, gs)).statistic),
        np.asarray(tr.init_loss), tr.errors()[0], time.perf_counter() - t0)


# ---------------------------------------------------------------------------- 7. SGD vs GD
@dataclass
class Curves:
    """Training and test error of R stacked nets at evaluation steps."""

    steps: np.ndarray        # (T,)
    train_error: np.ndarray  # (T, R)
    test_error: np.ndarray   # (T, R)
    train_loss: np.ndarray | None = None  # (T, R) mean cross-entropy on the training set


@dataclass
class SgdGdResult:
    """Section 7: test misclassifications of small/large nets trained with SGD and GD."""

    errors: dict             # (size, method) -> (R,) test misclassifications at the end
    matched: dict            # (size, method) -> (R,) ... at matched training error
    level: dict              # size -> (R,) the matched training error (see match_train_error)
    curves: dict             # (size, method) -> Curves
    n_params: dict           # size -> parameter count
    n_test: int
    dataset: str
    seconds: float
    sgd_steps: int = 0       # parameter updates of SGD (epochs x batches per epoch)
    gd_steps: int = 0        # parameter updates of GD at most (one per epoch)


TALK_MISCLASSIFICATIONS = {("small", "SGD"): 256, ("small", "GD"): 299,
                           ("large", "SGD"): 174, ("large", "GD"): 194}  # MNIST, 10k test


def match_train_error(a: Curves, b: Curves) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Test errors of two runs of the same nets at the same training error, per net.

    The level of net r is the larger of the two final training errors; each run is read
    at its first evaluation with training error <= that level (the run that ends behind
    is read at its end, the other where it first got there). Selection uses training
    error only, never the test error being compared.

    Returns
    -------
    test error of ``a`` (R,), test error of ``b`` (R,), level (R,)

    Introduced in: Chapter 2
    """
    level = np.maximum(a.train_error[-1], b.train_error[-1])
    out = []
    for c in (a, b):
        first = np.argmax(c.train_error <= level[None, :] + 1e-12, axis=0)  # (R,)
        out.append(c.test_error[first, np.arange(level.size)])
    return out[0], out[1], level


def _errors(arch, params, X, y, with_loss: bool = False):
    """Error rate per net (R,); with ``with_loss`` also the mean cross-entropy (same forward)."""
    with torch.no_grad():
        out = models.forward(arch, params, X)
        err = (out.argmax(-1) != y).double().mean(1).cpu().numpy()
        if not with_loss:
            return err
        loss = F.cross_entropy(out.transpose(1, 2), y.expand(out.shape[0], -1), reduction="none").mean(1)
    return err, loss.double().cpu().numpy()


def _train_recorded(arch, params, X, y, Xt, yt, *, lr, steps, batch_size, batches, eval_steps,
                    label) -> Curves:
    rec: list = []

    def record(state):
        rec.append((state.step, *_errors(arch, state.params, X, y, with_loss=True),
                    _errors(arch, state.params, Xt, yt)))

    sgd_stack(arch, params, X, y, lr=lr, steps=steps, batch_size=batch_size, batches=batches,
              callbacks=[Every(eval_steps, record)], label=label)
    return Curves(np.array([r[0] for r in rec]), np.stack([r[1] for r in rec]),
                  np.stack([r[3] for r in rec]), np.stack([r[2] for r in rec]))


@_one_thread
def sgd_vs_gd(cfg: SpectraConfig, *, seed: int = 0, device="cpu") -> SgdGdResult:
    """Section 7: small and large 2-hidden-layer nets, SGD and full-batch GD, several seeds.

    Both methods start from the same initialisations (PyTorch's default init, one seed per
    net) and train with plain SGD steps (no momentum) through the engine's loop: SGD with
    ``sgd_batch`` examples per step for ``epochs`` epochs, GD on the full set for
    ``gd_epochs`` steps. Errors are recorded after every SGD epoch and every
    ``gd_eval_every`` GD steps, so that the two can be compared at the same training
    error (:func:`match_train_error`) as well as at their ends.

    Introduced in: Chapter 2
    """
    t0 = time.perf_counter()
    X, y, Xt, yt = data.load_classification(cfg.dataset, device)
    N, R = len(y), cfg.n_seeds7
    per_epoch = math.ceil(N / cfg.sgd_batch)
    sgd_steps = cfg.epochs * per_epoch
    errors, matched, level, curves, n_params = {}, {}, {}, {}, {}
    for size, w in (("small", cfg.small_width), ("large", cfg.large_width)):
        arch = models.Arch("mlp", (w, w), X.shape[1], 10)
        n_params[size] = arch.n_params
        st = models.init_stack(arch, [seed_stream(seed, f"sgd-gd init {s}") for s in range(R)], device)
        gens = [generator(seed, f"sgd-gd batches {s}") for s in range(R)]
        curves[(size, "SGD")] = _train_recorded(
            arch, st.params, X, y, Xt, yt, lr=cfg.lr7, steps=sgd_steps, batch_size=cfg.sgd_batch,
            batches=per_member_batches(N, cfg.sgd_batch, gens, device),
            eval_steps=range(0, sgd_steps + 1, per_epoch), label=f"section 7 {size} SGD")
        gd_eval = sorted({*range(0, cfg.gd_epochs + 1, cfg.gd_eval_every), cfg.gd_epochs})
        curves[(size, "GD")] = _train_recorded(
            arch, st.params, X, y, Xt, yt, lr=cfg.gd_lr, steps=cfg.gd_epochs, batch_size=N,
            batches=None, eval_steps=gd_eval, label=f"section 7 {size} GD")
        for method in ("SGD", "GD"):
            errors[(size, method)] = np.round(curves[(size, method)].test_error[-1] * len(yt))
        a, b, lev = match_train_error(curves[(size, "SGD")], curves[(size, "GD")])
        matched[(size, "SGD")], matched[(size, "GD")] = np.round(a * len(yt)), np.round(b * len(yt))
        level[size] = lev
        log.info(f"section 7: {size} done")
    return SgdGdResult(errors, matched, level, curves, n_params, len(yt), cfg.dataset,
                       time.perf_counter() - t0, sgd_steps, cfg.gd_epochs)


# ---------------------------------------------------------------------------- 8. LB then SB
@dataclass
class LargeSmallResult:
    """Section 8: large batch, then a small-batch and a large-batch continuation."""

    scans: list              # LineScan per net: alpha 0 = large-batch end, 1 = small-batch end
    top_lb: np.ndarray       # (R,) top Hessian eigenvalue at the large-batch end
    top_sb: np.ndarray       # (R,) ... after the small-batch continuation
    top_lc: np.ndarray       # (R,) ... after the large-batch continuation (same length)
    train_err_sb: np.ndarray  # (R,)
    train_err_lc: np.ndarray  # (R,)
    test_err_lb: np.ndarray  # (R,)
    test_err_sb: np.ndarray  # (R,)
    test_err_lc: np.ndarray  # (R,)


@_one_thread
def large_then_small(cfg: SpectraConfig, *, seed: int = 0, device="cpu",
                     alphas=None) -> LargeSmallResult:
    """Section 8: train with ``lb_batch``, then continue ``sb_steps`` steps two ways.

    The talk's continuation uses ``sb_batch``; the control continues as many steps with
    ``lb_batch``, so that "small batch flattens" is not confused with "more steps
    flatten". The line is scanned from the large-batch end to the small-batch end.

    Introduced in: Chapter 2
    """
    alphas = np.linspace(-1.0, 2.0, 31) if alphas is None else np.asarray(alphas)
    lb = train_blobs(cfg, batch_size=cfg.lb_batch, seed=seed, device=device, stream=" lb",
                     label="large batch")
    sb = train_blobs(cfg, batch_size=cfg.sb_batch, steps=cfg.sb_steps, seed=seed, start=lb,
                     stream=" sb", label="small-batch continuation")
    lc = train_blobs(cfg, batch_size=cfg.lb_batch, steps=cfg.sb_steps, seed=seed, start=lb,
                     stream=" lb continued", label="large-batch continuation")
    scans, tops = [], {"lb": [], "sb": [], "lc": []}
    for i in range(lb.thetas.shape[0]):
        scans.append(landscape.scan_line(lb.flat, lb.thetas[i], sb.thetas[i], lb.X, lb.y, alphas,
                                         lb.X_test, lb.y_test))
        for name, tr in (("lb", lb), ("sb", sb), ("lc", lc)):
            tops[name].append(top_of(tr, i, 1)[0])
    e_lb, e_sb, e_lc = lb.errors(), sb.errors(), lc.errors()
    return LargeSmallResult(scans, np.array(tops["lb"]), np.array(tops["sb"]), np.array(tops["lc"]),
                            e_sb[1], e_lc[1], e_lb[3], e_sb[3], e_lc[3])


# ---------------------------------------------------------------------------- all
@dataclass
class SpectraResults:
    """Everything the chapter measured, as :func:`claims` takes it (None: not run)."""

    cfg: SpectraConfig
    bulk: BulkResult | None = None
    by_k: SweepResult | None = None
    by_width: SweepResult | None = None
    by_batch: SweepResult | None = None
    gn: GaussNewtonResult | None = None
    fluct: FluctuationResult | None = None
    sgd_gd: SgdGdResult | None = None
    line: LargeSmallResult | None = None
