"""Chapter 7 "Lottery tickets": the experiments, their profiles, figures and claims.

Everything trains through :mod:`overparam.pruning` (stacked masked networks). One IMP
stack (:func:`run_imp`) holds every seed x criterion x rewind point, so the winning
tickets (large_final, rewind 0), late resetting (large_final, rewind j), Zhou et al.'s
criteria and random pruning (criterion ``random``) come out of one computation; the
controls, supermasks, pruning at init and the instability scan reuse its masks.

Introduced in: Chapter 7
"""
from __future__ import annotations

import contextlib
import functools
import sys
import time
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from .. import pruning as P
from ..claims import NOT_REPRODUCED, judge_above, judge_below, make_claim
from ..config import check_choice, check_positive
from ..plotting import plot_band
from ..stats import Estimate, mean_ci

DATASETS = ("digits", "mnist1d")
SOURCE = "He 2021 slides (004), sparsity part"
# Zhou et al. 2019, Table (MNIST FC), as quoted in the source: test accuracy in %.
ZHOU_MNIST_FC = {"mask ⊙ init": 79.3, "mask ⊙ signed constant": 86.3,
                 "learned mask ⊙ init": 95.3, "learned mask ⊙ signed constant": 96.4,
                 "trained weights": 97.7}


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class TicketsConfig:
    """Knobs of Chapter 7; one instance per profile in :data:`PROFILES`.

    Introduced in: Chapter 7
    """

    dataset: str = "digits"        # sklearn digits: a LeNet-like MLP saturates near 97 %
    arch: str = "mlp"              # "mlp" (LeNet-300-100 spirit) or "cnn" (1-d, mnist1d)
    widths: tuple = (300, 100)     # LeNet-300-100, Frankle & Carbin's MNIST net
    n_val: int = 200               # held out of the training set for early stopping
    steps: int = 400               # iterations per training (digits: 22 epochs of 60)
    lr: float = 1.2e-3             # Frankle & Carbin's Adam rate for LeNet
    optimizer: str = "adam"        # the source's setting for LeNet
    batch_size: int = 60           # Frankle & Carbin's batch size
    eval_every: int = 25           # iterations between validation evaluations (early stop)
    n_seeds: int = 5               # seeds per curve (bands are 95 % t-intervals)
    rate: float = 0.5              # fraction pruned per round (the paper: 0.2, full uses it)
    rounds: int = 5                # IMP rounds: 0.5^5 -> about 3.5 % of weights remain
    late_step: int = 100           # late resetting: rewind to iteration j (a few % of training)
    criteria: tuple = ("large_final", "magnitude_increase", "random")  # full: all of Zhou's
    long_factor: int = 3           # the longer-training control trains 3x longer
    long_rounds: int = 1           # ... on the sparsest rounds only (the cost)
    supermask_steps: int = 400     # iterations of learned-mask training
    supermask_lr: float = 0.1      # Adam on the scores: scores must move by O(1)
    estimator: str = "sigmoid_bernoulli"  # Zhou et al.'s estimator
    rewind_steps: tuple = (0, 25, 100, 250)  # instability scan: copies start here
    pai: bool = True               # run section 8 (SNIP / GraSP)
    speed_threshold: float = 0.1   # "learns faster": iterations to 90 % validation accuracy
    small_widths: tuple | None = None  # section 3: smaller starting net; None = half the widths
    transfer: bool = True          # run section 7 (ticket found with Adam, trained with SGD)
    sgd_lr: float = 0.05           # section 7: SGD (momentum 0.9) rate for this MLP
    cpu_threads: int = 1           # CPU threads while training (0 = leave torch's setting):
    #                                these small matrices run fastest on one thread, and on a
    #                                shared 2-core machine two threads were 5x slower (measured)

    def __post_init__(self):
        check_choice("dataset", self.dataset, DATASETS)
        check_choice("arch", self.arch, P.ARCHS)
        check_choice("optimizer", self.optimizer, P.OPTIMIZERS)
        check_choice("estimator", self.estimator, P.ESTIMATORS)
        for n in ("n_val", "steps", "batch_size", "eval_every", "n_seeds", "rounds", "long_factor",
                  "long_rounds", "supermask_steps"):
            check_positive(n, getattr(self, n), integer=True)
        check_positive("late_step", self.late_step, integer=True, allow_zero=True)
        check_positive("lr", self.lr)
        check_positive("supermask_lr", self.supermask_lr)
        check_positive("sgd_lr", self.sgd_lr)
        check_positive("cpu_threads", self.cpu_threads, integer=True, allow_zero=True)
        if not 0 < self.speed_threshold < 1:
            raise ValueError(f"speed_threshold={self.speed_threshold!r} is not allowed; expected 0 < x < 1")
        if self.small_widths is not None:
            check_positive("small_widths", list(self.small_widths), integer=True)
        P.check_rate(self.rate)
        if not isinstance(self.widths, tuple) or not self.widths:
            raise ValueError(f"widths={self.widths!r} is not allowed; expected a tuple of integers > 0")
        check_positive("widths", list(self.widths), integer=True)
        if self.n_seeds < 2:
            raise ValueError(f"n_seeds={self.n_seeds} is not allowed; expected >= 2 (for intervals)")
        for c in self.criteria:
            check_choice("criteria", c, P.CRITERIA)
        if "large_final" not in self.criteria or "random" not in self.criteria:
            raise ValueError(f"criteria={self.criteria!r} is not allowed; it must contain "
                             "'large_final' (the tickets) and 'random' (random pruning)")
        if self.long_rounds > self.rounds:
            raise ValueError(f"long_rounds={self.long_rounds} is not allowed; expected <= rounds={self.rounds}")
        check_positive("rewind_steps", list(self.rewind_steps), integer=True, allow_zero=True)
        if self.late_step >= self.steps:
            raise ValueError(f"late_step={self.late_step!r} is not allowed; expected an integer "
                             f">= 0 and < steps={self.steps}")
        if any(k >= self.steps for k in self.rewind_steps):
            raise ValueError(f"rewind_steps={self.rewind_steps!r} is not allowed; expected integers "
                             f">= 0 and < steps={self.steps}")

    def net(self, d: int, n_classes: int) -> P.Net:
        w = self.widths if self.arch == "mlp" else (self.widths[0],) * len(self.widths)
        return P.Net(self.arch, tuple(w), d, n_classes)

    def step_config(self, steps: int | None = None) -> P.StepConfig:
        return P.StepConfig(steps or self.steps, self.lr, self.optimizer, 0.9, self.batch_size,
                            self.eval_every)


PROFILES = {
    "smoke": TicketsConfig(widths=(40, 20), n_val=100, steps=60, eval_every=20, n_seeds=2, rounds=2,
                           late_step=10, criteria=("large_final", "magnitude_increase", "random"),
                           long_factor=2, long_rounds=1, supermask_steps=60, rewind_steps=(0, 10)),
    "quick": TicketsConfig(),
    "full": TicketsConfig(steps=3000, eval_every=50, n_seeds=5, rate=0.2, rounds=17, late_step=200,
                          criteria=("large_final", "magnitude_increase", "movement", "large_init",
                                    "small_final", "large_final_same_sign", "random"),
                          long_factor=4, long_rounds=4, supermask_steps=3000,
                          rewind_steps=(0, 25, 50, 100, 200, 500, 1000)),
}


@contextlib.contextmanager
def cpu_threads(n: int, device) -> None:
    """Run the block with ``n`` torch CPU threads (no change for n = 0 or a GPU), then restore.

    Introduced in: Chapter 7
    """
    if n == 0 or torch.device(device).type != "cpu":
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _threaded(fn):
    """Run an experiment function under its config's ``cpu_threads``."""
    @functools.wraps(fn)
    def wrapper(first, data, *args, **kwargs):
        cfg = first if isinstance(first, TicketsConfig) else first.cfg
        with cpu_threads(cfg.cpu_threads, data.X_train.device):
            return fn(first, data, *args, **kwargs)
    return wrapper


# --------------------------------------------------------------------------- data


def load_data(cfg: TicketsConfig, device="cpu") -> P.SplitData:
    """Digits (1097 train / n_val validation / 500 test, d = 64) or MNIST-1D (d = 40).

    The validation set is the first ``n_val`` training examples (a fixed split).

    Introduced in: Chapter 7
    """
    from ..chapters.hessian_spectra import load_classification
    X, y, Xt, yt = load_classification(cfg.dataset, "cpu")
    v = cfg.n_val
    return P.SplitData(X[v:], y[v:], X[:v], y[:v], Xt, yt, 10, cfg.dataset).to(device)


# --------------------------------------------------------------------------- experiments


@dataclass
class TicketResults:
    """Everything the chapter measures (arrays are per round x seed unless said).

    Introduced in: Chapter 7
    """

    cfg: TicketsConfig
    groups: dict                       # group name -> member indices in the IMP stack
    imp: P.ImpResult
    reinit: dict = field(default_factory=dict)   # "test_acc", "train_acc", "early_step": (R, S)
    long: dict = field(default_factory=dict)     # "ticket"/"reinit": (L, S) accuracies; "rounds"
    movement: dict = field(default_factory=dict)
    supermask: dict = field(default_factory=dict)
    pai: dict = field(default_factory=dict)
    instab: dict = field(default_factory=dict)
    bigger: dict = field(default_factory=dict)
    transfer: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)

    def speed_all(self) -> np.ndarray:
        """Iterations to ``speed_threshold`` validation error, (R + 1, M), every member."""
        return np.stack([P.iterations_to(v, self.imp.steps, self.cfg.speed_threshold)
                         for v in self.imp.val_curves])

    def speed(self, group: str = "large_final") -> np.ndarray:
        """Iterations to ``speed_threshold`` validation error, (R + 1, S), for an IMP group."""
        idx = self.groups[group]
        return np.stack([P.iterations_to(v[idx], self.imp.steps, self.cfg.speed_threshold)
                         for v in self.imp.val_curves])


def _group_layout(cfg: TicketsConfig):
    """Members of the IMP stack: (group, seed, criterion, rewind step)."""
    rows = []
    for c in cfg.criteria:
        rows += [(c, s, c, 0) for s in range(cfg.n_seeds)]
    rows += [("late", s, "large_final", cfg.late_step) for s in range(cfg.n_seeds)]
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(r[0], []).append(i)
    return rows, groups


def _sel(params, idx):
    return [p[idx] for p in params]


@_threaded
def run_imp(cfg: TicketsConfig, data: P.SplitData, seed: int = 0, log=_log) -> TicketResults:
    """Sections 1, 2, 5: IMP for every criterion and the late-reset tickets, one stack.

    Seeds are ``seed + s`` for s < n_seeds, shared across groups (a criterion and the
    large_final ticket of one seed start from the same network).

    Introduced in: Chapter 7
    """
    rows, groups = _group_layout(cfg)
    net = cfg.net(data.d, data.n_classes)
    t0 = time.perf_counter()
    res = P.imp(net, [seed + r[1] for r in rows], data, cfg.step_config(), rate=cfg.rate,
                rounds=cfg.rounds, rewind_step=[r[3] for r in rows], criterion=[r[2] for r in rows],
                snapshot_steps=cfg.rewind_steps, log=log)
    return TicketResults(cfg, groups, res, seconds={"imp": time.perf_counter() - t0})


@_threaded
def run_controls(res: TicketResults, data: P.SplitData, seed: int = 0, log=_log) -> None:
    """Section 1 controls: the ticket masks with a fresh init (every round), and the
    tickets and re-inits trained ``long_factor`` times longer on the sparsest rounds.

    Introduced in: Chapter 7
    """
    cfg, imp = res.cfg, res.imp
    net = cfg.net(data.d, data.n_classes)
    g = res.groups["large_final"]
    S, R = len(g), cfg.rounds
    t0 = time.perf_counter()
    masks = P.stack_rounds([_sel(imp.masks[r], g) for r in range(1, R + 1)])
    fresh = P.init_stack(net, [seed + 10_000 + s for s in range(S)] * R)
    run = P.train_stack(net, fresh, masks, data, cfg.step_config(), order_seeds=list(range(S)) * R,
                        log=log, label="reinit control")
    res.reinit = {"test_acc": run.test_acc.reshape(R, S), "train_acc": (1 - run.train_err).reshape(R, S),
                  "early_step": run.early_step.reshape(R, S),
                  "test_acc_early": (1 - run.test_err_early).reshape(R, S),
                  "speed": P.iterations_to(run.val_err, run.steps, cfg.speed_threshold).reshape(R, S)}
    L = cfg.long_rounds
    rounds = list(range(R - L + 1, R + 1))
    lm = P.stack_rounds([_sel(imp.masks[r], g) for r in rounds])
    lm2 = P.repeat_params(lm, 2)
    tick0 = P.repeat_params(_sel(imp.params0, g), L)
    fresh_l = P.init_stack(net, [seed + 10_000 + s for s in range(S)] * L)
    start = [torch.cat([a, b]) for a, b in zip(tick0, fresh_l)]
    lrun = P.train_stack(net, start, lm2, data, cfg.step_config(cfg.steps * cfg.long_factor),
                         order_seeds=list(range(S)) * (2 * L), log=log, label="long control")
    acc = lrun.test_acc.reshape(2, L, S)
    tr = (1 - lrun.train_err).reshape(2, L, S)
    res.long = {"rounds": np.array(rounds), "ticket": acc[0], "reinit": acc[1],
                "ticket_train": tr[0], "reinit_train": tr[1]}
    res.seconds["controls"] = time.perf_counter() - t0


def weight_movement(res: TicketResults) -> None:
    """Section 4: mean |w_final - w_init| of the dense run, inside the ticket vs outside.

    For every round's ticket mask (large_final, rewind 0) and seed.

    Introduced in: Chapter 7
    """
    imp, g = res.imp, res.groups["large_final"]
    w0 = P.weights(_sel(imp.params0, g))
    wf = P.weights(_sel(imp.dense_final, g))
    ins, outs = [], []
    for r in range(1, res.cfg.rounds + 1):
        m = _sel(imp.masks[r], g)
        mv = torch.cat([(b - a).abs().reshape(len(g), -1) for a, b in zip(w0, wf)], 1)
        mk = torch.cat([t.reshape(len(g), -1) for t in m], 1)
        ins.append(((mv * mk).sum(1) / mk.sum(1)).numpy())
        outs.append(((mv * (1 - mk)).sum(1) / (1 - mk).sum(1)).numpy())
    res.movement = {"in_ticket": np.array(ins), "rest": np.array(outs)}


@_threaded
def run_supermasks(res: TicketResults, data: P.SplitData, seed: int = 0, log=_log) -> None:
    """Section 6: Zhou et al.'s table: untrained masks on init / signed constant (best round),
    learned masks over the init / signed constant, and trained dense weights.

    Introduced in: Chapter 7
    """
    cfg, imp = res.cfg, res.imp
    net = cfg.net(data.d, data.n_classes)
    g = res.groups["large_final"]
    t0 = time.perf_counter()
    p_default = [p.to(data.X_train.device) for p in _sel(imp.params0, g)]
    p0 = P.he_scale(p_default)  # He-scaled init (Zhou et al.'s nets); signs and ranks kept
    sc = P.signed_constant(net, p_default, gain=P.HE_GAIN)
    acc_init, acc_sc = [], []
    for r in range(1, cfg.rounds + 1):
        m = [t.to(data.X_train.device) for t in _sel(imp.masks[r], g)]
        acc_init.append(1 - P.evaluate(net, P.apply_masks(p0, m), data.X_test, data.y_test)[1])
        acc_sc.append(1 - P.evaluate(net, P.apply_masks(sc, m), data.X_test, data.y_test)[1])
    acc_init, acc_sc = np.array(acc_init), np.array(acc_sc)
    frozen = [torch.cat([a, b, c]) for a, b, c in zip(p0, sc, p_default)]
    smcfg = P.StepConfig(cfg.supermask_steps, cfg.supermask_lr, "adam", 0.9, cfg.batch_size, cfg.eval_every)
    S = len(g)
    sm = P.train_supermask(net, frozen, data, smcfg, estimator=cfg.estimator,
                           order_seeds=list(range(S)) * 3, seed=seed, log=log)
    best = lambda a: a.max(0)  # Zhou et al. report the best pruning level  # noqa: E731
    res.supermask = {
        "mask ⊙ init": best(acc_init), "mask ⊙ signed constant": best(acc_sc),
        "learned mask ⊙ init": sm.run.test_acc[:S], "learned mask ⊙ signed constant": sm.run.test_acc[S:2 * S],
        "trained weights": imp.test_acc[0, g],
        "learned mask ⊙ init, PyTorch default scale": sm.run.test_acc[2 * S:],
        "_density_learned": sm.density, "_by_round_init": acc_init, "_by_round_sc": acc_sc}
    res.seconds["supermask"] = time.perf_counter() - t0


@_threaded
def run_pai(res: TicketResults, data: P.SplitData, seed: int = 0, log=_log) -> None:
    """Section 8: SNIP and GraSP masks at the densities of the IMP rounds, trained once.

    Scores use the whole training set as the one batch (a small set); global ranking.

    Introduced in: Chapter 7
    """
    cfg, imp = res.cfg, res.imp
    net = cfg.net(data.d, data.n_classes)
    g = res.groups["large_final"]
    S, R = len(g), cfg.rounds
    t0 = time.perf_counter()
    p0 = [p.to(data.X_train.device) for p in _sel(imp.params0, g)]
    dens = imp.density[1:, g].mean(1)
    masks, starts = [], []
    for method in ("snip", "grasp"):
        for r in range(R):
            m = P.prune_at_init(method, net, p0, data.X_train, data.y_train, float(dens[r]))
            masks.append([t.cpu() for t in m])
            starts.append(p0)
    mk = P.stack_rounds(masks)
    st = [torch.cat([s[j] for s in starts]).cpu() for j in range(len(p0))]
    run = P.train_stack(net, st, mk, data, cfg.step_config(), order_seeds=list(range(S)) * (2 * R),
                        log=log, label="snip/grasp")
    acc = run.test_acc.reshape(2, R, S)
    res.pai = {"density": dens, "snip": acc[0], "grasp": acc[1]}
    res.seconds["pai"] = time.perf_counter() - t0


@_threaded
def run_instability(res: TicketResults, data: P.SplitData, log=_log) -> None:
    """Section 9: instability vs rewind iteration k, for the dense net and the sparsest
    ticket (its mask on the values at k), and the ticket's accuracy when rewound to k.

    Introduced in: Chapter 7
    """
    cfg, imp = res.cfg, res.imp
    net = cfg.net(data.d, data.n_classes)
    g = res.groups["large_final"]
    S = len(g)
    t0 = time.perf_counter()
    snaps = {k: P.repeat_params(_sel(v, g), 2) for k, v in imp.snapshots.items()}
    dense = P.ones_masks(_sel(imp.params0, g))
    masks = [torch.cat([a, b]) for a, b in zip(dense, _sel(imp.masks[cfg.rounds], g))]
    out = P.instability_vs_rewind(net, snaps, masks, data, cfg.step_config(), cfg.rewind_steps,
                                  list(range(S)) * 2, log=log)
    res.instab = {"k": out.rewind_steps, "dense": out.barrier[:, :S], "ticket": out.barrier[:, S:],
                  "dense_acc": out.test_acc[:, :S], "ticket_acc": out.test_acc[:, S:],
                  "density": float(imp.density[cfg.rounds, g].mean())}
    res.seconds["instability"] = time.perf_counter() - t0


def run_all(cfg: TicketsConfig, device="cpu", seed: int = 0, log=_log) -> TicketResults:
    """Every section of the chapter, in order (the notebook calls the pieces one by one).

    Introduced in: Chapter 7
    """
    data = load_data(cfg, device)
    res = run_imp(cfg, data, seed, log)
    run_controls(res, data, seed, log)
    weight_movement(res)
    run_supermasks(res, data, seed, log)
    if cfg.pai:
        run_pai(res, data, seed, log)
    run_instability(res, data, log)
    run_bigger(res, data, seed, log)
    if cfg.transfer:
        run_transfer(res, data, seed, log)
    return res


@_threaded
def run_bigger(res: TicketResults, data: P.SplitData, seed: int = 0, log=_log) -> None:
    """Section 3: IMP tickets of a smaller starting net (``small_widths``) against the main
    net's, compared at equal numbers of remaining weights.

    Introduced in: Chapter 7
    """
    cfg = res.cfg
    t0 = time.perf_counter()
    sw = cfg.small_widths or tuple(max(1, w // 2) for w in cfg.widths)
    small = P.Net(cfg.arch, tuple(sw) if cfg.arch == "mlp" else (sw[0],) * len(cfg.widths),
                  data.d, data.n_classes)
    big = cfg.net(data.d, data.n_classes)
    S = cfg.n_seeds
    out = P.imp(small, [seed + s for s in range(S)], data, cfg.step_config(), rate=cfg.rate,
                rounds=cfg.rounds, log=log)
    g = res.groups["large_final"]
    res.bigger = {"count_small": out.density * small.n_weights(), "acc_small": out.test_acc,
                  "count_big": res.imp.density[:, g] * big.n_weights(), "acc_big": res.imp.test_acc[:, g],
                  "small_widths": small.widths, "big_widths": big.widths}
    res.seconds["bigger"] = time.perf_counter() - t0


def bigger_at_equal_weights(res: TicketResults) -> tuple[float, np.ndarray, np.ndarray]:
    """Accuracy of both starting nets' tickets at one common number of remaining weights
    (the smallest count both reach), by interpolation in log(count), per seed.

    Returns
    -------
    count, acc_big (S,), acc_small (S,)

    Introduced in: Chapter 7
    """
    b = res.bigger
    c = max(b["count_big"].min(), b["count_small"].min())

    def at(counts, accs):
        return np.array([np.interp(np.log(c), np.log(counts[::-1, s]), accs[::-1, s])
                         for s in range(counts.shape[1])])
    return float(c), at(b["count_big"], b["acc_big"]), at(b["count_small"], b["acc_small"])


def plot_bigger(res: TicketResults):
    """Section 3: test accuracy vs number of remaining weights for both starting nets.

    Introduced in: Chapter 7
    """
    b = res.bigger
    fig, ax = plt.subplots(figsize=(6.4, 4))
    plot_band(ax, b["count_big"].mean(1), b["acc_big"].T, label=f"start {b['big_widths']}", marker="o")
    plot_band(ax, b["count_small"].mean(1), b["acc_small"].T, label=f"start {b['small_widths']}", marker="s")
    c, _, _ = bigger_at_equal_weights(res)
    ax.axvline(c, color="grey", ls=":", label="compared here")
    _logx(ax, b["count_big"].mean(1)[::2])
    ax.set_xlabel("remaining weights (count, log)")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


@_threaded
def run_transfer(res: TicketResults, data: P.SplitData, seed: int = 0, log=_log) -> None:
    """Section 7: tickets found with Adam, rewound to init and trained with SGD, against
    tickets found with SGD (IMP in place) and random pruning under SGD.

    Introduced in: Chapter 7
    """
    cfg, imp = res.cfg, res.imp
    net = cfg.net(data.d, data.n_classes)
    S, R = cfg.n_seeds, cfg.rounds
    t0 = time.perf_counter()
    sgd = P.StepConfig(cfg.steps, cfg.sgd_lr, "sgd", 0.9, cfg.batch_size, cfg.eval_every)
    seeds = [seed + s for s in range(S)]
    own = P.imp(net, seeds * 2, data, sgd, rate=cfg.rate, rounds=R,
                criterion=["large_final"] * S + ["random"] * S, log=log)
    g = res.groups["large_final"]
    masks = P.stack_rounds([_sel(imp.masks[r], g) for r in range(1, R + 1)])
    run = P.train_stack(net, P.repeat_params(_sel(imp.params0, g), R), masks, data, sgd,
                        order_seeds=seeds * R, log=log, label="transfer adam -> sgd")
    res.transfer = {"pct": 100 * own.density[:, :S].mean(1), "sgd_ticket": own.test_acc[:, :S],
                    "random_sgd": own.test_acc[:, S:], "adam_ticket_sgd": run.test_acc.reshape(R, S)}
    res.seconds["transfer"] = time.perf_counter() - t0


def plot_transfer(res: TicketResults):
    """Section 7: SGD-trained accuracy of transferred (Adam) tickets, in-place SGD tickets
    and random masks, vs % weights remaining.

    Introduced in: Chapter 7
    """
    t = res.transfer
    fig, ax = plt.subplots(figsize=(6.4, 4))
    plot_band(ax, t["pct"], t["sgd_ticket"].T, label="ticket found with SGD (in place)", marker="o")
    plot_band(ax, t["pct"][1:], t["adam_ticket_sgd"].T, label="ticket found with Adam, trained with SGD",
              marker="s")
    plot_band(ax, t["pct"], t["random_sgd"].T, label="random pruning, SGD", marker="^")
    _logx(ax, t["pct"])
    ax.set_xlabel("% of weights remaining (log)")
    ax.set_ylabel("test accuracy (SGD training)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- figures, tables


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


def pct_remaining(res: TicketResults, group: str = "large_final") -> np.ndarray:
    """Percentage of weights remaining after each IMP round (R + 1,), mean over the group's seeds.

    Introduced in: Chapter 7
    """
    return 100 * res.imp.density[:, res.groups[group]].mean(1)


def plot_tickets(res: TicketResults):
    """Section 1: test accuracy, training accuracy and early-stopping iteration vs % weights
    remaining: tickets, random re-init, random pruning (+ the long-training control).

    Introduced in: Chapter 7
    """
    imp, g, gr = res.imp, res.groups["large_final"], res.groups["random"]
    x = pct_remaining(res)
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    axes = axes.ravel()
    thr = 100 * (1 - res.cfg.speed_threshold)
    for ax, key, rkey, yl in ((axes[0], "test_acc", "test_acc", "test accuracy"),
                              (axes[1], "train_acc", "train_acc", "training accuracy"),
                              (axes[2], "early_step", "early_step", "early-stopping iteration"),
                              (axes[3], "speed", "speed", f"iterations to {thr:.0f} % val. accuracy")):
        a = res.speed_all() if key == "speed" else getattr(imp, key)
        plot_band(ax, x, a[:, g].T, label="winning ticket (rewind to 0)", marker="o")
        plot_band(ax, x[1:], res.reinit[rkey].T, label="same mask, random re-init", marker="s")
        plot_band(ax, x, a[:, gr].T, label="random pruning", marker="^")
        _logx(ax, x)
        ax.set_xlabel("% of weights remaining (log)")
        ax.set_ylabel(yl)
    if res.long:
        xl = x[res.long["rounds"]]
        lf = res.cfg.long_factor
        axes[0].errorbar(xl, res.long["ticket"].mean(1), fmt="P", color="C0", ms=9,
                         label=f"ticket, {lf}x longer")
        axes[0].errorbar(xl, res.long["reinit"].mean(1), fmt="X", color="C1", ms=9,
                         label=f"re-init, {lf}x longer")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{res.cfg.dataset}, {res.cfg.arch} {res.cfg.widths}: mean over "
                 f"{len(g)} seeds, 95 % bands")
    fig.tight_layout()
    return fig


def plot_groups(res: TicketResults, groups: dict, title: str, extra: dict | None = None):
    """Test accuracy vs % weights remaining for several IMP groups (and extra curves).

    ``groups`` maps label -> group name; ``extra`` maps label -> (x, samples (S, len(x))).

    Introduced in: Chapter 7
    """
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for lab, grp in groups.items():
        plot_band(ax, pct_remaining(res, grp), res.imp.test_acc[:, res.groups[grp]].T, label=lab, marker="o")
    for lab, (x, s) in (extra or {}).items():
        plot_band(ax, x, s, label=lab, marker="s")
    _logx(ax, pct_remaining(res))
    ax.set_xlabel("% of weights remaining (log)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_movement(res: TicketResults):
    """Section 4: mean distance travelled in dense training, ticket weights vs the rest.

    Introduced in: Chapter 7
    """
    x = pct_remaining(res)[1:]
    fig, ax = plt.subplots(figsize=(6.4, 4))
    plot_band(ax, x, res.movement["in_ticket"].T, label="weights in the ticket", marker="o")
    plot_band(ax, x, res.movement["rest"].T, label="weights pruned away", marker="s")
    _logx(ax, x)
    ax.set_xlabel("% of weights remaining in the ticket (log)")
    ax.set_ylabel("mean |w_final - w_init|")
    ax.legend()
    fig.tight_layout()
    return fig


def supermask_table(res: TicketResults) -> pd.DataFrame:
    """Section 6: our accuracies (mean and 95 % CI, %) beside Zhou et al.'s MNIST FC numbers.

    Introduced in: Chapter 7
    """
    rows = []
    for k, theirs in ZHOU_MNIST_FC.items():
        e = mean_ci(100 * np.asarray(res.supermask[k]))
        rows.append({"network": k, "ours (%)": f"{e.mean:.1f} [{e.low:.1f}, {e.high:.1f}]",
                     "Zhou et al. MNIST FC (%)": theirs, "_ours": e.mean})
    df = pd.DataFrame(rows)
    df["our rank"] = df["_ours"].rank(method="min").astype("Int64")
    df["their rank"] = df["Zhou et al. MNIST FC (%)"].rank().astype("Int64")
    df = df.drop(columns="_ours").set_index("network")
    extra = "learned mask ⊙ init, PyTorch default scale"
    if extra in res.supermask:
        e = mean_ci(100 * np.asarray(res.supermask[extra]))
        df.loc[extra] = [f"{e.mean:.1f} [{e.low:.1f}, {e.high:.1f}]", np.nan, pd.NA, pd.NA]
    return df


def same_order(res: TicketResults) -> bool:
    """Whether our five supermask rows rank in Zhou et al.'s order.

    Introduced in: Chapter 7
    """
    ours = [np.mean(res.supermask[k]) for k in ZHOU_MNIST_FC]
    return bool(np.all(np.argsort(ours) == np.argsort(list(ZHOU_MNIST_FC.values()))))


def plot_instability(res: TicketResults):
    """Section 9: error barrier and test accuracy vs the rewind iteration k.

    Introduced in: Chapter 7
    """
    ins = res.instab
    k = ins["k"].astype(float)
    x = np.where(k == 0, 1.0, k)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    plot_band(axes[0], x, 100 * ins["dense"].T, label="dense network", marker="o")
    plot_band(axes[0], x, 100 * ins["ticket"].T, label=f"ticket ({100 * ins['density']:.1f} % weights)",
              marker="s")
    axes[0].set_ylabel("error barrier on the line (pp)")
    plot_band(axes[1], x, ins["dense_acc"].T, label="dense network", marker="o")
    plot_band(axes[1], x, ins["ticket_acc"].T, label="ticket rewound to k", marker="s")
    axes[1].set_ylabel("test accuracy")
    for ax in axes:
        _logx(ax, x, invert=False)
        ax.set_xlabel("rewind iteration k (k = 0 drawn at 1; log)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def summary_table(res: TicketResults) -> pd.DataFrame:
    """Mean test accuracy (%) per round for every IMP group and control.

    Introduced in: Chapter 7
    """
    imp = res.imp
    cols = {"% weights": pct_remaining(res)}
    for name, idx in res.groups.items():
        lab = "late reset" if name == "late" else name
        cols[lab] = 100 * imp.test_acc[:, idx].mean(1)
    cols["re-init"] = np.r_[np.nan, 100 * res.reinit["test_acc"].mean(1)] if res.reinit else np.nan
    return pd.DataFrame(cols).round(2)


# --------------------------------------------------------------------------- claims


def _diff(a, b) -> Estimate:
    """Mean over seeds of the paired difference a - b, with its 95 % interval."""
    return mean_ci(np.asarray(a, float) - np.asarray(b, float))


def build_claims(res: TicketResults, profile: str = "", seed: int = 0) -> list:
    """The chapter's claims, each measured and judged (verdicts computed, never typed).

    Introduced in: Chapter 7
    """
    cfg, imp = res.cfg, res.imp
    g, R = res.groups, cfg.rounds
    lf = imp.test_acc[:, g["large_final"]]
    rows = []

    def add(text, src, est, verdict, rule):
        rows.append(make_claim(text, src, est, verdict, rule, profile, seed))

    pct = 100 * imp.density[R, g["large_final"]].mean()
    e = _diff(lf[R], res.reinit["test_acc"][R - 1])
    add(f"Winning tickets beat the same mask re-initialized ({pct:.1f} % weights left)",
        "Frankle & Carbin 2019 [11]", e, judge_above(e, 0), "ticket - re-init accuracy > 0")
    e = _diff(res.reinit["speed"][R - 1], res.speed()[R])
    add(f"Tickets learn faster: fewer iterations than re-init to {100 * (1 - cfg.speed_threshold):.0f} % "
        "validation accuracy", "Frankle & Carbin 2019 [11]",
        e, judge_above(e, 0), "re-init - ticket iterations > 0 (censored at the end of training)")
    e = _diff(res.long["ticket"][-1], res.long["reinit"][-1])
    add(f"Better, not only faster: the ticket's edge survives {cfg.long_factor}x longer training",
        "this chapter's control", e, judge_above(e, 0), "long ticket - long re-init accuracy > 0")
    e = _diff(lf[R], imp.test_acc[R, g["random"]])
    add("Randomly pruned networks do worse than tickets", "Frankle & Carbin 2019 [11]", e,
        judge_above(e, 0), "ticket - random pruning accuracy > 0")
    e = _diff(imp.test_acc[R, g["late"]], lf[R])
    add(f"Late resetting (rewind to iteration {cfg.late_step}) beats rewinding to 0 at the "
        "sparsest level", "Frankle et al. 2019/2020", e, judge_above(e, 0), "late - rewind-0 accuracy > 0")
    e = mean_ci(res.movement["in_ticket"][-1] / res.movement["rest"][-1])
    add("Ticket weights move more during training than the rest", "Frankle & Carbin 2019 [11]", e,
        judge_above(e, 1), "mean movement ratio ticket / rest > 1")
    if "magnitude_increase" in g:
        e = _diff(imp.test_acc[R, g["magnitude_increase"]], lf[R])
        add("magnitude_increase works as well as large_final (within 1 pp or better)",
            "Zhou et al. 2019 [13]", e, judge_above(e, -0.01), "magnitude_increase - large_final > -0.01")
    sm = res.supermask
    e = _diff(sm["mask ⊙ signed constant"], sm["mask ⊙ init"])
    add("Untrained: mask ⊙ signed constant beats mask ⊙ init", "Zhou et al. 2019 [13]", e,
        judge_above(e, 0), "accuracy difference > 0")
    e = _diff(sm["trained weights"], sm["learned mask ⊙ init"])
    add("A learned supermask on random weights comes within 5 pp of trained weights",
        "Zhou et al. 2019 [13] (95.3 vs 97.7)", e, judge_below(e, 0.05),
        "trained - learned-mask accuracy < 0.05")
    if res.pai:
        e = _diff(lf[R], res.pai["snip"][-1])
        add("IMP tickets beat SNIP pruning at init at the same sparsity", "Lee et al. 2019; Frankle et al. 2021",
            e, judge_above(e, 0), "IMP - SNIP accuracy > 0")
    if res.bigger:
        c, ab, asm = bigger_at_equal_weights(res)
        e = _diff(ab, asm)
        add(f"Tickets from a bigger starting net are better at equal remaining weights ({c:.0f})",
            "Frankle & Carbin 2019 [11]", e, judge_above(e, 0), "big-start - small-start accuracy > 0")
    if res.transfer:
        t = res.transfer
        e = _diff(t["adam_ticket_sgd"][-1], t["random_sgd"][-1])
        add("A ticket found with one optimizer (Adam) beats a random mask under another (SGD)",
            "Morcos et al. 2019 [15]", e, judge_above(e, 0), "transferred - random accuracy > 0")
    ins = res.instab
    e = mean_ci(ins["dense"][0])
    add("A LeNet-size net is stable already at init (error barrier at k = 0 below 2 pp)",
        "Frankle et al. 2020", e, judge_below(e, 0.02), "barrier at k = 0 < 0.02")
    e = _diff(ins["ticket"][0], ins["ticket"][-1])
    add("The sparse ticket becomes more stable when rewound later", "Frankle et al. 2020", e,
        judge_above(e, 0), "barrier(k = 0) - barrier(k = last) > 0")
    return rows


def count_not_reproduced(claims) -> int:
    """Number of claims whose verdict is 'not reproduced'.

    Introduced in: Chapter 7
    """
    return sum(c.verdict == NOT_REPRODUCED for c in claims)
