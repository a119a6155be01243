"""Chapter 7 experiments, part 1: the IMP stack, its controls, weight movement, bigger nets.

One IMP stack (:func:`run_imp`) holds every seed x criterion x rewind point, so the
winning tickets (large_final, rewind 0), late resetting (large_final, rewind j), Zhou et
al.'s criteria and random pruning (criterion ``random``) come out of one computation; the
other experiments reuse its masks. Each function returns its own result dataclass.

Introduced in: Chapter 7
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ... import models
from ... import pruning as P
from ...adequacy import plateaued
from ...config import seed_stream, threads
from .profiles import TicketsConfig


@dataclass
class ImpStage:
    """The chapter's IMP stack: every criterion and the late-reset tickets, one computation.

    ``groups`` maps a group name (a criterion, or ``"late"``) to its member indices; a
    group's members are the seeds ``seed + s`` in order, shared across groups.

    Introduced in: Chapter 7
    """

    cfg: TicketsConfig
    groups: dict
    imp: P.ImpResult
    seconds: float

    def speed(self, group: str | None = "large_final") -> np.ndarray:
        """Iterations to ``speed_threshold`` validation error, (R + 1, S) for a group
        (every member for ``group=None``)."""
        idx = slice(None) if group is None else self.groups[group]
        return np.stack([P.iterations_to(v[idx], self.imp.steps, self.cfg.speed_threshold)
                         for v in self.imp.val_curves])

    def pct(self, group: str = "large_final") -> np.ndarray:
        """% of weights remaining after each round (R + 1,), mean over the group's seeds."""
        return 100 * self.imp.density[:, self.groups[group]].mean(1)

    def ticket(self, name: str = "masks", group: str = "large_final", round: int | None = None):
        """Members of ``group`` of an ImpResult list field (``masks`` of a round, ``params0``...)."""
        v = getattr(self.imp, name)
        v = v[round] if round is not None else v
        return P.select(v, self.groups[group])


def pct_remaining(stage: ImpStage, group: str = "large_final") -> np.ndarray:
    """Percentage of weights remaining after each IMP round (R + 1,), mean over the group's seeds.

    Introduced in: Chapter 7
    """
    return stage.pct(group)


def _group_layout(cfg: TicketsConfig):
    """Members of the IMP stack: (group, seed offset, criterion, rewind step)."""
    rows = []
    for c in cfg.criteria:
        rows += [(c, s, c, 0) for s in range(cfg.n_seeds)]
    rows += [("late", s, "large_final", cfg.late_step) for s in range(cfg.n_seeds)]
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(r[0], []).append(i)
    return rows, groups


def _fresh_seeds(seed: int, S: int) -> list[int]:
    """Init seeds of the re-initialized controls: their own stream, never a ticket's seed."""
    return [seed_stream(seed + s, "reinit") % 2**31 for s in range(S)]


def run_imp(cfg: TicketsConfig, data: P.SplitData, seed: int = 0) -> ImpStage:
    """IMP for every criterion and the late-reset tickets, one stack.

    Seeds are ``seed + s`` for s < n_seeds, shared across groups (a criterion and the
    large_final ticket of one seed start from the same network).

    Introduced in: Chapter 7
    """
    rows, groups = _group_layout(cfg)
    t0 = time.perf_counter()
    with threads(1, data.X_train.device):
        res = P.imp(cfg.net(data.d, data.n_classes), [seed + r[1] for r in rows], data, cfg.step_config(),
                    rate=cfg.rate, rounds=cfg.rounds, rewind_step=[r[3] for r in rows],
                    criterion=[r[2] for r in rows], snapshot_steps=cfg.rewind_steps)
    return ImpStage(cfg, groups, res, time.perf_counter() - t0)


@dataclass
class Controls:
    """The ticket masks with a fresh init on the sparsest ``reinit_rounds`` rounds (``rounds``;
    arrays (N, S), the sparsest last), and tickets and re-inits trained ``long_factor`` times
    longer on the sparsest ``long_rounds`` rounds ((L, S)).

    Introduced in: Chapter 7
    """

    test_acc: np.ndarray
    train_acc: np.ndarray
    early_step: np.ndarray
    test_acc_early: np.ndarray
    speed: np.ndarray
    long_rounds: np.ndarray
    long_ticket: np.ndarray
    long_reinit: np.ndarray
    long_ticket_train: np.ndarray
    long_reinit_train: np.ndarray
    seconds: float
    steps: int = 0                           # iterations each re-init was trained (the run's last evaluation)
    long_steps: int = 0                      # ... each longer-trained ticket and re-init
    long_plateau: np.ndarray | None = None   # (2, L, S) validation loss on a plateau at the end
    #                                          (:data:`PLATEAU`): tickets, re-inits
    rounds: np.ndarray | None = None         # (N,) the IMP rounds of the re-init arrays (None: 1..R)


#: "Trained long enough" for the longer-training control: over the last quarter of the
#: evaluations the validation loss fell by less than 5 % (or rose: over-fitting).
PLATEAU = "validation loss fell < 5 % over the last quarter of training"


def plateau(val_loss) -> np.ndarray:
    """:data:`PLATEAU` per member of a run's (M, T) validation-loss curves."""
    T = np.asarray(val_loss).shape[-1]
    return plateaued(val_loss, max(1, (T - 1) // 4), rel_tol=0.05)


def run_controls(stage: ImpStage, data: P.SplitData, seed: int = 0) -> Controls:
    """Random re-initialization of the sparsest ``reinit_rounds`` rounds' ticket masks (the
    rules read the sparsest), and the longer-training control.

    Introduced in: Chapter 7
    """
    cfg = stage.cfg
    net = cfg.net(data.d, data.n_classes)
    S = cfg.n_seeds
    t0 = time.perf_counter()
    order = [seed + s for s in range(S)]
    ri = cfg.sparsest(cfg.reinit_rounds)
    N = len(ri)
    with threads(1, data.X_train.device):
        masks = P.stack_rounds([stage.ticket("masks", round=r) for r in ri])
        fresh = models.init_stack(net, _fresh_seeds(seed, S) * N).params
        run = P.train_stack(net, fresh, masks, data, cfg.step_config(), order_seeds=order * N,
                            label="reinit control")
        L = cfg.long_rounds
        rounds = cfg.sparsest(L)
        lm = P.repeat_params(P.stack_rounds([stage.ticket("masks", round=r) for r in rounds]), 2)
        start = [torch.cat([a, b]) for a, b in zip(P.repeat_params(stage.ticket("params0"), L),
                                                   models.init_stack(net, _fresh_seeds(seed, S) * L).params)]
        lrun = P.train_stack(net, start, lm, data, cfg.step_config(cfg.steps * cfg.long_factor),
                             order_seeds=order * (2 * L), label="long control")
    acc, tr = lrun.test_acc.reshape(2, L, S), (1 - lrun.train_err).reshape(2, L, S)
    return Controls(run.test_acc.reshape(N, S), (1 - run.train_err).reshape(N, S),
                    run.early_step.reshape(N, S), (1 - run.test_err_early).reshape(N, S),
                    P.iterations_to(run.val_err, run.steps, cfg.speed_threshold).reshape(N, S),
                    np.array(rounds), acc[0], acc[1], tr[0], tr[1], time.perf_counter() - t0,
                    int(run.steps[-1]), int(lrun.steps[-1]), plateau(lrun.val_loss).reshape(2, L, S),
                    np.array(ri))


@dataclass
class Matching:
    """The hypothesis itself at the round fixed in advance (``cfg.match_round()``): test
    accuracy of the dense network at its own early-stopping iteration and of the ticket at
    that same iteration, per seed (S,).

    Introduced in: Chapter 7
    """

    round: int
    pct: float
    dense_step: np.ndarray
    dense_acc: np.ndarray
    ticket_acc: np.ndarray


def matching(stage: ImpStage) -> Matching:
    """Does the ticket reach the dense accuracy in no more iterations? Both read at the
    dense network's early-stopping iteration (minimum validation loss), per seed.

    Introduced in: Chapter 7
    """
    r = stage.cfg.match_round()
    g = stage.groups["large_final"]
    steps = list(stage.imp.steps)
    t = np.array([steps.index(s) for s in stage.imp.early_step[0, g]])
    cols = np.arange(len(g))
    dense = 1 - stage.imp.curves[0][g][cols, t]
    tick = 1 - stage.imp.curves[r][g][cols, t]
    return Matching(r, float(stage.pct()[r]), stage.imp.early_step[0, g], dense, tick)


@dataclass
class Movement:
    """Mean |w_final - w_init| of the dense run, ticket weights vs the rest, per round (R, S):
    ``raw`` (every pruned weight) and ``matched`` (pruned weights of equal |w_final|).

    Introduced in: Chapter 7
    """

    raw: np.ndarray
    matched: np.ndarray


def weight_movement(stage: ImpStage, n_bins: int = 20) -> Movement:
    """Ticket weights move more? Raw ratio, and the ratio at equal final magnitude
    (:func:`overparam.pruning.matched_movement_ratio`), for every round's ticket.

    Introduced in: Chapter 7
    """
    w0 = P.weights(stage.ticket("params0"))
    wf = P.weights(stage.ticket("dense_final"))
    raw, matched = [], []
    for r in range(1, stage.cfg.rounds + 1):
        m = stage.ticket("masks", round=r)
        raw.append(P.movement_ratio(w0, wf, m))
        matched.append(P.matched_movement_ratio(w0, wf, m, n_bins))
    return Movement(np.array(raw), np.array(matched))


@dataclass
class Bigger:
    """IMP tickets of a smaller starting net against the main net's ((R + 1, S) arrays).

    Introduced in: Chapter 7
    """

    count_small: np.ndarray
    acc_small: np.ndarray
    count_big: np.ndarray
    acc_big: np.ndarray
    small_widths: tuple
    big_widths: tuple
    seconds: float
    drift_small: np.ndarray | None = None   # (S,) :func:`unit_drift` of the dense small net
    drift_big: np.ndarray | None = None     # (S,) ... of the dense main net (same seeds)
    train_small: np.ndarray | None = None   # (S,) training accuracy of the dense small net
    steps: int = 0                          # iterations of each dense training
    drift_steps: int = 0                    # iterations of the dense nets the drifts are read on
    drift_train_small: np.ndarray | None = None   # (S,) their training accuracy: small net
    drift_train_big: np.ndarray | None = None     # ... main net

    def at_equal_weights(self) -> tuple[float, np.ndarray, np.ndarray]:
        """Accuracy of both nets' tickets at one common number of remaining weights (the
        smallest count both reach; fixed by the design), by interpolation in log(count)."""
        c = max(self.count_big.min(), self.count_small.min())

        def at(counts, accs):
            return np.array([np.interp(np.log(c), np.log(counts[::-1, s]), accs[::-1, s])
                             for s in range(counts.shape[1])])
        return float(c), at(self.count_big, self.acc_big), at(self.count_small, self.acc_small)


def unit_drift(params0, final) -> np.ndarray:
    """How far training moved each first-layer weight vector from its initialization,
    relative to its initial norm: mean over hidden units r of ||w_r(T) - w_r(0)|| / ||w_r(0)||,
    per member (M,). Du et al.'s quantity (every w_r stays close to its initialization).

    Introduced in: Chapter 7
    """
    w0, wf = P.weights(params0)[0].double(), P.weights(final)[0].double()   # (M, fan_in, units)
    return ((wf - w0).norm(dim=1) / w0.norm(dim=1)).mean(1).cpu().numpy()


def run_bigger(stage: ImpStage, data: P.SplitData, seed: int = 0) -> Bigger:
    """IMP tickets of a smaller starting net (``small_widths``) against the main net's.

    Introduced in: Chapter 7
    """
    cfg = stage.cfg
    t0 = time.perf_counter()
    sw = cfg.small_widths or tuple(max(1, w // 2) for w in cfg.widths)
    small = P.Arch(cfg.arch, tuple(sw) if cfg.arch == "mlp" else (sw[0],) * len(cfg.widths),
                   data.d, data.n_classes)
    big = cfg.net(data.d, data.n_classes)
    with threads(1, data.X_train.device):
        out = P.imp(small, [seed + s for s in range(cfg.n_seeds)], data, cfg.end_only(), rate=cfg.rate,
                    rounds=cfg.rounds)
    g = stage.groups["large_final"]
    p_big = stage.ticket("params0")
    if cfg.drift_factor > 1:   # both dense nets retrained drift_factor x longer, same inits and batches
        long = cfg.end_only(steps=cfg.steps * cfg.drift_factor)
        seeds = [seed + s for s in range(cfg.n_seeds)]
        with threads(1, data.X_train.device):
            rs = P.train_stack(small, out.params0, None, data, long, order_seeds=seeds, label="drift small")
            rb = P.train_stack(big, p_big, None, data, long, order_seeds=seeds, label="drift big")
        fin_s, fin_b, dsteps, tr_s, tr_b = rs.params, rb.params, long.steps, 1 - rs.train_err, 1 - rb.train_err
    else:
        fin_s, fin_b, dsteps = out.dense_final, stage.ticket("dense_final"), int(out.steps[-1])
        tr_s, tr_b = out.train_acc[0], stage.imp.train_acc[0, g]
    return Bigger(out.density * small.n_weights(), out.test_acc, stage.imp.density[:, g] * big.n_weights(),
                  stage.imp.test_acc[:, g], small.widths, big.widths, time.perf_counter() - t0,
                  unit_drift(out.params0, fin_s), unit_drift(p_big, fin_b), out.train_acc[0],
                  int(out.steps[-1]), int(dsteps), tr_s, tr_b)
