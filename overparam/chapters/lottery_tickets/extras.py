"""Chapter 7 experiments, part 2: supermasks, Malach's pruning-only target, pruning at init,
instability, and ticket transfer across optimizers and data sets.

Introduced in: Chapter 7
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ... import models
from ... import pruning as P
from ...config import generator, threads
from .experiments import ImpStage

# Zhou et al. 2019, Table (MNIST FC), as quoted in the source: test accuracy in %.
ZHOU_MNIST_FC = {"mask ⊙ init": 79.3, "mask ⊙ signed constant": 86.3,
                 "learned mask ⊙ init": 95.3, "learned mask ⊙ signed constant": 96.4,
                 "trained weights": 97.7}
#: ... and its DWR columns (dynamic weight rescaling), same row: DWR learned mask ⊙ init 97.8,
#: DWR learned mask ⊙ S.C. 98.0
ZHOU_DWR_MNIST_FC = {"DWR learned mask ⊙ init": 97.8, "DWR learned mask ⊙ signed constant": 98.0}


@dataclass
class Supermasks:
    """Zhou et al.'s table: untrained ticket masks on the (He-scaled) init and on its signed
    constant, every round (R, S); masks learned over frozen weights (S,); trained weights (S,).

    Introduced in: Chapter 7
    """

    by_round_init: np.ndarray
    by_round_sc: np.ndarray
    learned_init: np.ndarray
    learned_sc: np.ndarray
    learned_default: np.ndarray    # learned mask over PyTorch's default (not He) scale
    trained: np.ndarray
    density_learned: np.ndarray
    seconds: float
    learned_dwr: np.ndarray | None = None   # (S,) learned mask ⊙ init with dynamic weight rescaling
    #                                         (``dwr``; same frozen weights, steps and batches)
    train_init: np.ndarray | None = None    # (S,) training accuracy of learned mask ⊙ init
    train_dwr: np.ndarray | None = None     # (S,) ... of its DWR twin
    steps: int = 0                          # iterations of mask training


def run_supermasks(stage: ImpStage, data: P.SplitData, seed: int = 0) -> Supermasks:
    """Untrained ticket masks and learned supermasks over frozen weights.

    Introduced in: Chapter 7
    """
    cfg = stage.cfg
    net = cfg.net(data.d, data.n_classes)
    dev = data.X_train.device
    t0 = time.perf_counter()
    p_default = [p.to(dev) for p in stage.ticket("params0")]
    p0 = P.he_scale(p_default)  # He-scaled init (Zhou et al.'s nets); signs and ranks kept
    sc = P.signed_constant(net, p_default, gain=P.HE_GAIN)
    acc_init, acc_sc = [], []
    with threads(1, dev):
        for r in range(1, cfg.rounds + 1):
            m = [t.to(dev) for t in stage.ticket("masks", round=r)]
            acc_init.append(1 - P.evaluate(net, P.apply_masks(p0, m), data.X_test, data.y_test)[1])
            acc_sc.append(1 - P.evaluate(net, P.apply_masks(sc, m), data.X_test, data.y_test)[1])
        # arms: learned mask over the He-scaled init, over its signed constant, over PyTorch's default
        # scale, and (``dwr``) over the He-scaled init with dynamic weight rescaling
        blocks = [p0, sc, p_default] + ([p0] if cfg.dwr else [])
        frozen = [torch.cat(ts) for ts in zip(*blocks)]
        smcfg = P.StepConfig(cfg.supermask_steps, cfg.supermask_lr, "adam", 0.9, cfg.batch_size, cfg.eval_every)
        S = cfg.n_seeds
        sm = P.train_supermask(net, frozen, data, smcfg, estimator=cfg.estimator,
                               order_seeds=[seed + s for s in range(S)] * len(blocks), seed=seed,
                               dwr=[False] * 3 * S + [True] * (len(blocks) - 3) * S)
    acc = sm.run.test_acc
    return Supermasks(np.array(acc_init), np.array(acc_sc), acc[:S], acc[S:2 * S], acc[2 * S:3 * S],
                      stage.imp.test_acc[0, stage.groups["large_final"]], sm.density[:3 * S],
                      time.perf_counter() - t0, acc[3 * S:] if cfg.dwr else None, 1 - sm.run.train_err[:S],
                      1 - sm.run.train_err[3 * S:] if cfg.dwr else None, int(sm.run.steps[-1]))


@dataclass
class Malach:
    """Malach et al.: a trained target of depth L (one hidden layer of ``target_width``)
    against a mask learned over the random network of depth 2L (the chapter's net), (S,).

    Introduced in: Chapter 7
    """

    target_width: int
    target_acc: np.ndarray
    mask_acc: np.ndarray
    seconds: float


def run_malach(stage: ImpStage, sm: Supermasks, data: P.SplitData, seed: int = 0) -> Malach:
    """Train the depth-1 target nets; the pruned random depth-2 nets are the learned masks
    over the He-scaled init of :func:`run_supermasks`.

    Introduced in: Chapter 7
    """
    cfg = stage.cfg
    t0 = time.perf_counter()
    if cfg.arch != "mlp":
        raise ValueError("the Malach comparison needs arch='mlp' (a one-hidden-layer target)")
    target = P.Arch("mlp", (cfg.target_width,), data.d, data.n_classes)
    seeds = [seed + s for s in range(cfg.n_seeds)]
    with threads(1, data.X_train.device):
        run = P.train_stack(target, models.init_stack(target, seeds).params, None, data, cfg.step_config(),
                            order_seeds=seeds, label="malach target")
    return Malach(cfg.target_width, run.test_acc, sm.learned_init, time.perf_counter() - t0)


@dataclass
class AtInit:
    """SNIP and GraSP masks at the densities of the sparsest ``pai_rounds`` IMP rounds, trained
    once ((N, S), the sparsest last).

    Introduced in: Chapter 7
    """

    density: np.ndarray
    snip: np.ndarray
    grasp: np.ndarray
    seconds: float


def run_pai(stage: ImpStage, data: P.SplitData, seed: int = 0) -> AtInit:
    """SNIP and GraSP at init (the whole training set as the one batch; global ranking).

    Introduced in: Chapter 7
    """
    cfg = stage.cfg
    net = cfg.net(data.d, data.n_classes)
    S, rounds = cfg.n_seeds, cfg.sparsest(cfg.pai_rounds)
    R = len(rounds)
    t0 = time.perf_counter()
    p0 = [p.to(data.X_train.device) for p in stage.ticket("params0")]
    dens = stage.imp.density[rounds][:, stage.groups["large_final"]].mean(1)
    with threads(1, data.X_train.device):
        masks = [[t.cpu() for t in P.prune_at_init(method, net, p0, data.X_train, data.y_train, float(dens[r]))]
                 for method in ("snip", "grasp") for r in range(R)]
        run = P.train_stack(net, P.repeat_params([p.cpu() for p in p0], 2 * R), P.stack_rounds(masks), data,
                            cfg.end_only(), order_seeds=[seed + s for s in range(S)] * (2 * R),
                            label="snip/grasp")
    acc = run.test_acc.reshape(2, R, S)
    return AtInit(dens, acc[0], acc[1], time.perf_counter() - t0)


@dataclass
class Instability:
    """Error barriers and accuracies vs rewind iteration k ((K, S)), dense net and sparsest ticket.

    Introduced in: Chapter 7
    """

    k: np.ndarray
    dense: np.ndarray
    ticket: np.ndarray
    dense_acc: np.ndarray
    ticket_acc: np.ndarray
    density: float
    seconds: float


def run_instability(stage: ImpStage, data: P.SplitData, seed: int = 0) -> Instability:
    """Instability vs rewind iteration k, for the dense net and the sparsest ticket (its mask
    on the values at k), and the ticket's accuracy when rewound to k.

    Introduced in: Chapter 7
    """
    cfg = stage.cfg
    S = cfg.n_seeds
    t0 = time.perf_counter()
    g = stage.groups["large_final"]
    snaps = {k: P.repeat_params(P.select(v, g), 2) for k, v in stage.imp.snapshots.items()}
    masks = [torch.cat([a, b]) for a, b in zip(P.ones_masks(stage.ticket("params0")),
                                               stage.ticket("masks", round=cfg.rounds))]
    with threads(1, data.X_train.device):
        out = P.instability_vs_rewind(cfg.net(data.d, data.n_classes), snaps, masks, data, cfg.step_config(),
                                      cfg.rewind_steps, [seed + s for s in range(S)] * 2)
    return Instability(out.rewind_steps, out.barrier[:, :S], out.barrier[:, S:], out.test_acc[:, :S],
                       out.test_acc[:, S:], float(stage.imp.density[cfg.rounds, g].mean()),
                       time.perf_counter() - t0)


@dataclass
class Transfer:
    """Tickets moved to another optimizer and to another data set, at the sparsest
    ``transfer_rounds`` rounds (accuracies (N, S), the sparsest last, unless said).

    Optimizers: tickets found with Adam, trained with SGD (``adam_ticket_sgd``), against random
    masks with the same per-layer counts trained with SGD (``random_sgd``), at ``rounds_pct``;
    in-place SGD tickets every round ((R + 1, S), ``pct``).
    Data sets: tickets found by IMP on classes ``source`` of the data, rewound and trained
    on classes ``target`` (``data_ticket``), against random masks with the same per-layer
    counts trained there (``data_random``); ``data_pct`` (N,).

    Introduced in: Chapter 7
    """

    pct: np.ndarray | None          # (R + 1,) None: no in-place SGD tickets (``in_place_sgd``)
    sgd_ticket: np.ndarray | None   # (R + 1, S) likewise
    random_sgd: np.ndarray
    adam_ticket_sgd: np.ndarray
    source: tuple
    target: tuple
    data_pct: np.ndarray
    data_ticket: np.ndarray
    data_random: np.ndarray
    seconds: float
    rounds_pct: np.ndarray | None = None    # (N,) % of weights of the optimizer arms


def run_transfer(stage: ImpStage, data: P.SplitData, seed: int = 0) -> Transfer:
    """Ticket transfer (Morcos et al.) across optimizers and across data sets (digit classes
    0-4 -> 5-9: same inputs, other classes).

    Introduced in: Chapter 7
    """
    cfg = stage.cfg
    net = cfg.net(data.d, data.n_classes)
    S, R, rounds = cfg.n_seeds, cfg.rounds, cfg.sparsest(cfg.transfer_rounds)
    N = len(rounds)
    t0 = time.perf_counter()
    sgd = cfg.end_only("sgd", cfg.sgd_lr)     # only final accuracies are read here
    seeds = [seed + s for s in range(S)]
    source, target = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)
    with threads(1, data.X_train.device):
        own = P.imp(net, seeds, data, sgd, rate=cfg.rate, rounds=R) if cfg.in_place_sgd else None
        masks = P.stack_rounds([stage.ticket("masks", round=r) for r in rounds])
        rand = P.random_masks_like(masks, generator(seed, "transfer-random-sgd-masks"))
        run = P.train_stack(net, P.repeat_params(stage.ticket("params0"), 2 * N),
                            [torch.cat([a, b]) for a, b in zip(masks, rand)], data, sgd,
                            order_seeds=seeds * (2 * N), label="transfer adam -> sgd")
        src, tgt = data.subset(source), data.subset(target)
        found = P.imp(net, seeds, src, cfg.end_only(), rate=cfg.rate, rounds=R)
        tm = P.stack_rounds([found.masks[r] for r in rounds])
        rm = P.random_masks_like(tm, generator(seed, "transfer-random-masks"))
        start = P.repeat_params(found.params0, 2 * N)
        both = P.train_stack(net, start, [torch.cat([a, b]) for a, b in zip(tm, rm)], tgt, cfg.end_only(),
                             order_seeds=seeds * (2 * N), label="transfer across data sets")
    acc, opt = both.test_acc.reshape(2, N, S), run.test_acc.reshape(2, N, S)
    return Transfer(None if own is None else 100 * own.density.mean(1), None if own is None else own.test_acc,
                    opt[1], opt[0], source, target,
                    100 * found.density[rounds].mean(1), acc[0], acc[1], time.perf_counter() - t0,
                    stage.pct()[rounds])
