"""Chapter 5 experiments: the scaler's numerics, the start-size comparison, the penalty and
L2 grid against static networks, growth without L2 (fixed and random slope, penalty = x0),
and pre-training before the size is enabled.

Every training goes through :func:`overparam.sizing.train_flexible` (one stack per group
of similar capacities, through :func:`overparam.engine.loop.fit`).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch

from ... import sizing as Z
from ...config import check_choice, log, seed_stream, threads
from ...engine.sweep import TrainData
from .profiles import TASKS, FlexConfig

__all__ = ["load_task", "member_seed", "Numerics", "numerics", "StartSweep", "start_sweep",
           "PenaltyGrid", "penalty_grid", "Growth", "growth", "Pretraining", "pretraining",
           "FlexResults", "REGIMES", "bound_table", "plateau_width", "last_quarter_use", "epoch_steps",
           "epoch_means"]

REGIMES = ("penalty + L2", "no penalty, no L2")


def load_task(task: str) -> TrainData:
    """The task's train/test data (through :mod:`overparam.data`): ``easy``/``hard``
    MNIST-1D (chapter 4's pair) or sklearn's ``digits``.

    Introduced in: Chapter 5
    """
    from ... import data as D
    check_choice("task", task, TASKS)
    d = D.load_digits_split() if task == "digits" else D.load_mnist1d_task(task)
    t = {k: torch.as_tensor(d[k]) for k in ("x", "y", "x_test", "y_test")}
    return TrainData(t["x"], t["y"], t["x_test"], t["y_test"], n_classes=10, key=task)


def member_seed(seed: int, s: int) -> int:
    """Init seed of the ``s``-th seed of a run with seed ``seed`` (the same for every
    configuration, so that configurations are paired by seed).

    Introduced in: Chapter 5
    """
    return seed_stream(seed, f"flexible/member{s}") % (2**31)


def _member(cfg: FlexConfig, start: float, seed: int, **kw) -> Z.FlexMember:
    cap = int(np.ceil(start)) + cfg.room
    return Z.FlexMember(capacity=max(cap, 1), start=float(start), size_lr=cfg.size_lr, gray=cfg.gray,
                        gray_low=cfg.gray_low, gray_high=cfg.gray_high, seed=seed, **kw)


#: In the penalty grid, members of at most this many units share one stack (the static grid's
#: narrow widths, the retrained static nets): on a CPU a stack's step costs ~1.5 ms of fixed
#: work, more than padding these narrow members to the stack's width.
SMALL = 128


def _train(members, data, cfg: FlexConfig, device, label, steps=None, small=0) -> Z.FlexResult:
    with threads(1, device):
        res = Z.train_grouped(members, data, steps=cfg.steps if steps is None else steps, lr=cfg.lr,
                              batch_size=cfg.batch_size, device=device, label=label, small=small)
    if res.diverged.any():
        log.info(f"{label}: {int(res.diverged.sum())} of {len(members)} members diverged")
    return res


def last_quarter_use(res: Z.FlexResult, idx=None) -> np.ndarray:
    """(M,) |x0(T) - x0(3T/4)| as a share of Adam's bound over that quarter (size_lr x T/4):
    near 1, the size was still moving as fast as Adam lets it (held back by the step bound);
    near 0, it had settled."""
    idx = np.arange(len(res.members)) if idx is None else np.asarray(idx)
    T = res.steps
    lr = np.array([res.members[i].size_lr for i in idx])
    return np.abs(res.x0[T, idx] - res.x0[T - T // 4, idx]) / (lr * (T // 4))


# --------------------------------------------------------------------------- numerics


@dataclass
class Numerics:
    """The scaler, its penalty and the journal's NaN gradients (no training).

    Attributes
    ----------
    units : (n,) unit index; ``curves`` : dict label -> (n,) scales f_i
    n, k, x0 : the journal's initialisation (x0 = N = n units, k = 1)
    naive_nan, stable_nan : share of NaN among the gradients (x0, k) of the penalty, the
        journal's sum of naive scales vs the stable integral, at that initialisation
    integral_error : max |closed form - numerical integral| over a grid of (x0, k)
    sum_gap : max |sum of scales - integral shifted by half a unit| over that grid
    extreme_finite : all values and gradients finite for x0 in +-1e6 and k in [1e-3, 1e3]
    naive_nan_from : smallest k x0 (x0 = n) at which the naive sum's gradient is NaN
    """

    units: np.ndarray
    curves: dict
    n: int
    k: float
    naive_nan: float
    stable_nan: float
    integral_error: float
    sum_gap: float
    extreme_finite: bool
    naive_nan_from: float


def numerics(cfg: FlexConfig, n: int = 128) -> Numerics:
    """Scales for a few (x0, k), the journal's NaN gradients and the closed form's accuracy.

    Introduced in: Chapter 5
    """
    from scipy.integrate import quad
    units = np.arange(n)
    curves = {}
    for x0, k in ((32, cfg.k), (64, cfg.k), (64, 0.25 * cfg.k), (64, 4 * cfg.k)):
        f = Z.scaler(torch.tensor(float(x0)), k, n).numpy()
        curves[f"x0 = {x0}, k = {k:g} (gray zone {Z.GRAY / k:.3g} units)"] = f

    def grads(fn, x0v, kv):
        x0 = torch.tensor(float(x0v), requires_grad=True)
        k = torch.tensor(float(kv), requires_grad=True)
        val = fn(x0, k)
        gx, gk = torch.autograd.grad(val, (x0, k))
        return val, torch.stack([gx, gk])

    naive = lambda x0, k: Z.scaler_naive(x0, k, n).sum()
    stable = lambda x0, k: Z.size_integral(x0, k, n)
    _, g_naive = grads(naive, n, 1.0)
    _, g_stable = grads(stable, n, 1.0)
    err, gap = 0.0, 0.0
    for x0 in (-20.0, 0.0, 7.3, 40.0, 127.0, 300.0):
        for k in (0.1, 1.0, 5.0):
            closed = float(Z.size_integral(torch.tensor(x0, dtype=torch.float64), k, n))
            num = quad(lambda t: 1 / (1 + np.exp(-np.clip(k * (x0 - t), -700, 700))), 0, n,
                       points=[min(max(x0, 0), n)], limit=200)[0]
            err = max(err, abs(closed - num))
            s = float(Z.size_sum(torch.tensor(x0, dtype=torch.float64), k, n))
            shifted = float(Z.size_integral(torch.tensor(x0 + 0.5, dtype=torch.float64), k, n))
            gap = max(gap, abs(s - shifted))
    finite = True
    for x0 in (-1e6, -1e3, 0.0, 1e3, 1e6):
        for k in (1e-3, 1.0, 1e3):
            v, g = grads(stable, x0, k)
            finite &= bool(torch.isfinite(v)) and bool(torch.isfinite(g).all())
    nan_from = np.nan
    for kx in np.arange(60, 120, 1.0):
        _, g = grads(lambda x0, k: Z.scaler_naive(x0, k, int(kx) + 1).sum(), kx, 1.0)
        if torch.isnan(g).any():
            nan_from = float(kx)
            break
    return Numerics(units, curves, n, 1.0, float(torch.isnan(g_naive).float().mean()),
                    float(torch.isnan(g_stable).float().mean()), err, gap, finite, nan_from)


# --------------------------------------------------------------------------- start sizes


@dataclass
class StartSweep:
    """Start-size comparison on one task (arrays (R regimes, S seeds, N starts)).

    Attributes
    ----------
    task, starts, regimes, bound (Adam's bound size_lr x steps, units), steps
    size : final size; acc : final test accuracy
    traces : (R, S, N, T + 1) size over the steps
    quarter : share of Adam's bound used in the last quarter (see :func:`last_quarter_use`)
    ceiling : (R, S, N) the size ended within one gray zone of its capacity
    max_step : (R, S, N) largest one-step move of x0, in units of size_lr
    members : the FlexMember of each (regime, seed, start), flat in that order
    loss, grad : (R, S, N, T) batch loss and d loss / d x0 of each step
    seconds : wall time
    """

    task: str
    starts: np.ndarray
    regimes: tuple
    bound: float
    steps: int
    size: np.ndarray
    acc: np.ndarray
    traces: np.ndarray
    quarter: np.ndarray
    ceiling: np.ndarray
    max_step: np.ndarray
    members: list | None = None
    loss: np.ndarray | None = None
    grad: np.ndarray | None = None
    seconds: float = 0.0


def start_sweep(cfg: FlexConfig, *, seed: int = 0, device="cpu", task: str = "easy") -> StartSweep:
    """Flexible nets from every start size of ``cfg.starts``, with the size penalty and L2
    (the journal's first runs) and with neither (the Erratum's runs), ``cfg.n_seeds`` each.

    Introduced in: Chapter 5
    """
    t0 = time.perf_counter()
    data = load_task(task)
    R, S, N = len(REGIMES), cfg.n_seeds, len(cfg.starts)
    regs = [dict(penalty=cfg.sweep_penalty, l2=cfg.l2), dict(penalty=0.0, l2=0.0)]
    members = [_member(cfg, st, member_seed(seed, s), tag=f"{r}/{s}/{j}", **regs[r])
               for r in range(R) for s in range(S) for j, st in enumerate(cfg.starts)]
    log.info(f"flexible: start sizes {list(cfg.starts)} on {task}: {len(members)} members, {cfg.steps} steps")
    res = _train(members, data, cfg, device, f"flexible: start sizes ({task})")
    shape = (R, S, N)
    size = res.size[-1].reshape(shape)
    cap = np.array([m.capacity for m in members]).reshape(shape)
    return StartSweep(task, np.array(cfg.starts, float), REGIMES, cfg.bound(), cfg.steps, size,
                      res.test_acc.reshape(shape), res.size.T.reshape(*shape, -1),
                      last_quarter_use(res).reshape(shape), size > cap - cfg.gray,
                      res.max_step().reshape(shape), members, res.loss.T.reshape(*shape, -1),
                      res.grad.T.reshape(*shape, -1), time.perf_counter() - t0)


def bound_table(sw: StartSweep):
    """Per regime and start size: Adam's bound, the mean travel, the share of the bound the
    last quarter used and the ceiling hits (a pandas DataFrame).

    Introduced in: Chapter 5
    """
    import pandas as pd
    rows = []
    for r, reg in enumerate(sw.regimes):
        for j, st in enumerate(sw.starts):
            rows.append({"regime": reg, "start": int(st), "final size": sw.size[r, :, j].mean(),
                         "Adam bound (units)": sw.bound,
                         "travel |x0(T) - x0(0)|": np.abs(sw.traces[r, :, j, -1] - sw.traces[r, :, j, 0]).mean(),
                         "largest step / size_lr": sw.max_step[r, :, j].max(),
                         "last quarter / its bound": sw.quarter[r, :, j].mean(),
                         "at the ceiling": int(sw.ceiling[r, :, j].sum())})
    return pd.DataFrame(rows).round(3)


# --------------------------------------------------------------------------- penalties, L2, static


@dataclass
class PenaltyGrid:
    """One task's penalty x L2 grid of flexible nets, the static grid and the static nets
    retrained at the converged sizes.

    Arrays over (P penalties, 2 [L2 on, off], S seeds): ``size``, ``acc`` (test), ``train_acc``,
    ``retrain_acc`` (static net of round(size) units from scratch, same seed and steps),
    ``retrain_train`` (its training accuracy),
    ``w_ratio`` (mean |Wout row| of disabled units at the end / at the start; NaN when a
    member has none), ``n_disabled``; ``traces`` (P, 2, S, T + 1). ``size_no_penalty`` (S,):
    the final size with L2 and no size penalty at all (the journal's "even if we remove the
    size of the network from the loss"), ``traces_no_penalty`` (S, T + 1) its size over the
    steps.
    Static grid (S, W): ``static_acc``, ``static_train``.
    """

    task: str
    penalties: np.ndarray
    l2: float
    size: np.ndarray
    acc: np.ndarray
    train_acc: np.ndarray
    retrain_acc: np.ndarray
    w_ratio: np.ndarray
    n_disabled: np.ndarray
    traces: np.ndarray
    static_widths: np.ndarray
    static_acc: np.ndarray
    static_train: np.ndarray
    w_rows: list
    size_no_penalty: np.ndarray | None = None
    traces_no_penalty: np.ndarray | None = None
    seconds: float = 0.0
    retrain_train: np.ndarray | None = None    # (P, 2, S) training accuracy of the retrained static nets


def penalty_grid(cfg: FlexConfig, task: str, *, seed: int = 0, device="cpu") -> PenaltyGrid:
    """Flexible nets from ``cfg.start`` for every penalty, with and without L2; a static
    grid of ``cfg.static_widths``; static nets of each converged size (from scratch).

    Introduced in: Chapter 5
    """
    t0 = time.perf_counter()
    data = load_task(task)
    P, S, W = len(cfg.penalties), cfg.n_seeds, len(cfg.static_widths)
    flex = [_member(cfg, cfg.start, member_seed(seed, s), penalty=float(p), l2=l2)
            for p in cfg.penalties for l2 in (cfg.l2, 0.0) for s in range(S)]
    no_pen = [_member(cfg, cfg.start, member_seed(seed, s), penalty=0.0, l2=cfg.l2) for s in range(S)]
    static = [Z.FlexMember(capacity=int(w), static=True, seed=member_seed(seed, s), size_lr=cfg.size_lr)
              for s in range(S) for w in cfg.static_widths]
    log.info(f"flexible: penalty grid on {task}: {len(flex) + S} flexible + {len(static)} static members")
    res = _train(flex + static + no_pen, data, cfg, device, f"flexible: penalties ({task})", small=SMALL)
    nf = len(flex)
    size = res.size[-1, :nf]
    retrain = [Z.FlexMember(capacity=max(1, int(round(s))), static=True, seed=m.seed, size_lr=cfg.size_lr)
               for s, m in zip(size, flex)]
    rr = _train(retrain, data, cfg, device, f"flexible: retrained at the found sizes ({task})", small=SMALL)
    ratio, nd = np.full(nf, np.nan), np.zeros(nf)
    for i in range(nf):
        off = res.f_end[i] < Z.EPS
        nd[i] = off.sum()
        if off.any():
            ratio[i] = res.w_out[i][off].mean() / max(res.w_out0[i][off].mean(), 1e-12)
    sh = (P, 2, S)
    return PenaltyGrid(task, np.array(cfg.penalties, float), cfg.l2, size.reshape(sh),
                       res.test_acc[:nf].reshape(sh), res.train_acc[:nf].reshape(sh),
                       rr.test_acc.reshape(sh), ratio.reshape(sh), nd.reshape(sh),
                       res.size[:, :nf].T.reshape(*sh, -1), np.array(cfg.static_widths),
                       res.test_acc[nf:nf + S * W].reshape(S, W), res.train_acc[nf:nf + S * W].reshape(S, W),
                       [(res.w_out0[i], res.w_out[i], res.f_end[i]) for i in range(nf)],
                       res.size[-1, nf + S * W:], res.size[:, nf + S * W:].T, time.perf_counter() - t0,
                       rr.train_acc.reshape(sh))


def plateau_width(acc: np.ndarray, widths: np.ndarray, tol: float) -> float:
    """First width whose accuracy (a mean curve) is within ``tol`` of its best."""
    return float(widths[np.argmax(acc >= acc.max() - tol)])


# --------------------------------------------------------------------------- growth without L2


@dataclass
class Growth:
    """No L2, no size penalty: fixed slope vs random slope, and the "penalty = x0" runs
    (arrays (S,) or (S, T + 1)); ``bound`` is Adam's bound in units."""

    task: str
    steps: int
    bound: float
    fixed: np.ndarray         # size traces, fixed slope
    random: np.ndarray        # size traces, random slope
    loss_fixed: np.ndarray    # (S, T) batch losses
    loss_random: np.ndarray
    grad_fixed: np.ndarray    # (S, T) d loss / d x0
    x0_pen: np.ndarray        # (S, T + 1) x0 traces with penalty = x0
    x0_int: np.ndarray        # (S, T + 1) x0 traces with the integral penalty of the same weight
    grad_random: np.ndarray | None = None   # (S, T) d loss / d x0, random slope
    epoch: int = 0            # steps per epoch (training-set size / batch size)
    seconds: float = 0.0


def _same_member(a: Z.FlexMember, b: Z.FlexMember) -> bool:
    return dataclasses.replace(a, tag="") == dataclasses.replace(b, tag="")


def _from_sweep(sweep: StartSweep | None, fixed: list, task: str, steps: int):
    """The fixed-slope, no-penalty arm taken from ``sweep`` when it trained exactly these
    members (same task, steps, start, seeds and settings): (size, loss, grad) as (S, ...)
    arrays, else None. A member trains the same alone or in any stack (tested)."""
    if sweep is None or sweep.members is None or sweep.task != task or sweep.steps != steps:
        return None
    R, S, N = sweep.size.shape
    for r in range(R):
        for j in range(N):
            cand = [sweep.members[(r * S + s) * N + j] for s in range(S)]
            if len(fixed) == S and all(_same_member(a, b) for a, b in zip(cand, fixed)):
                return sweep.traces[r, :, j], sweep.loss[r, :, j], sweep.grad[r, :, j]
    return None


def growth(cfg: FlexConfig, *, seed: int = 0, device="cpu", task: str = "easy",
           sweep: StartSweep | None = None) -> Growth:
    """From ``cfg.start``: no L2 and no penalty with a fixed slope and with a random slope
    (gray zone ~ U[gray_low, gray_high] each step), and no L2 with penalty = x0 and with
    the integral penalty of the same weight. The fixed-slope arm is the start sweep's own
    no-penalty run from ``cfg.start`` when ``sweep`` trained exactly those members (not
    trained twice).

    Introduced in: Chapter 5
    """
    t0 = time.perf_counter()
    data = load_task(task)
    S = cfg.n_seeds
    kinds = [dict(), dict(slope="random"), dict(penalty=cfg.x0_penalty, penalty_kind="x0"),
             dict(penalty=cfg.x0_penalty)]
    members = [_member(cfg, cfg.start, member_seed(seed, s), **kw) for kw in kinds for s in range(S)]
    reused = _from_sweep(sweep, members[:S], task, cfg.steps)
    if reused is not None:
        members = members[S:]
    res = _train(members, data, cfg, device, f"flexible: growth without L2 ({task})")
    j0 = 0 if reused is None else -1
    g = lambda a, j: a[:, (j + j0) * S:(j + j0 + 1) * S].T
    fixed, loss, grad = reused if reused is not None else (g(res.size, 0), g(res.loss, 0), g(res.grad, 0))
    return Growth(task, cfg.steps, cfg.bound(), fixed, g(res.size, 1), loss, g(res.loss, 1), grad,
                  g(res.x0, 2), g(res.x0, 3), g(res.grad, 1), epoch_steps(data, cfg), time.perf_counter() - t0)


def epoch_steps(data: TrainData, cfg: FlexConfig) -> int:
    """Steps per epoch: training-set size / batch size (at least 1)."""
    return max(1, len(data.X_train) // cfg.batch_size)


def epoch_means(x: np.ndarray, epoch: int) -> np.ndarray:
    """(..., T) per-step values -> (..., T // epoch) means over whole epochs."""
    E = x.shape[-1] // epoch
    return x[..., :E * epoch].reshape(*x.shape[:-1], E, epoch).mean(-1)


# --------------------------------------------------------------------------- pre-training


@dataclass
class Pretraining:
    """Static pre-training for P steps, then the size enabled from x0 = 0 for ``steps``
    more (every P gets the same number of size steps, so the same Adam bound).

    ``size`` (K, S, steps + 1) size after enabling; ``final`` (K, S); ``train_loss`` (K, S)
    full training-set loss at the end; ``pos_grad`` (K, S) share of enabled steps with
    d loss / d x0 > 0 (the size pushed down); ``grad`` (K, S, steps) d loss / d x0 of the
    enabled steps; ``loss`` (K, S, steps) their batch losses; ``epoch`` steps per epoch;
    ``bound`` in units."""

    task: str
    pretrain: np.ndarray
    size: np.ndarray
    final: np.ndarray
    train_loss: np.ndarray
    pos_grad: np.ndarray
    bound: float
    grad: np.ndarray | None = None
    epoch: int = 0
    loss: np.ndarray | None = None
    seconds: float = 0.0


def pretraining(cfg: FlexConfig, *, seed: int = 0, device="cpu", task: str = "easy") -> Pretraining:
    """Pre-train static nets of ``cfg.room`` units for each of ``cfg.pretrain`` steps, then
    enable the size from 0 (no penalty, no L2), ``cfg.n_seeds`` each.

    Introduced in: Chapter 5
    """
    t0 = time.perf_counter()
    data = load_task(task)
    S, T = cfg.n_seeds, cfg.steps
    sizes, final, loss, pos, grads, batch = [], [], [], [], [], []
    for P in cfg.pretrain:
        ms = [_member(cfg, 0.0, member_seed(seed, s), pretrain=int(P)) for s in range(S)]
        res = _train(ms, data, cfg, device, f"flexible: pre-training {P} steps ({task})", steps=int(P) + T)
        sizes.append(res.size[int(P):].T)
        final.append(res.size[-1])
        loss.append(res.train_loss)
        pos.append((res.grad[int(P):] > 0).mean(0))
        grads.append(res.grad[int(P):].T)
        batch.append(res.loss[int(P):].T)
    return Pretraining(task, np.array(cfg.pretrain), np.stack(sizes), np.stack(final), np.stack(loss),
                       np.stack(pos), cfg.bound(), np.stack(grads), epoch_steps(data, cfg), np.stack(batch),
                       time.perf_counter() - t0)


# --------------------------------------------------------------------------- bundle


@dataclass
class FlexResults:
    """Everything :func:`claims` reads: config, numerics, start sweep, one penalty grid per
    task, growth and pre-training."""

    cfg: FlexConfig
    numerics: Numerics
    starts: StartSweep
    grids: dict
    growth: Growth
    pretraining: Pretraining
