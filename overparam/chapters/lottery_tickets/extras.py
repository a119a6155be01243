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
        frozen = [torch.cat([a, b, c]) for a, b, c in zip(p0, sc, p_default)]
        smcfg = P.StepConfig(cfg.supermask_steps, cfg.supermask_lr, "adam", 0.9, cfg.batch_size, cfg.eval_every)
        S = cfg.n_seeds
        sm = P.train_supermask(net, frozen, data, smcfg, estimator=cfg.estimator,
                               order_seeds=[seed + s for s in range(S)] * 3, seed=seed)
    acc = sm.run.test_acc
    return Supermasks(np.array(acc_init), np.array(acc_sc), acc[:S], acc[S:2 * S], acc[2 * S:],
                      stage.imp.test_acc[0, stage.groups["large_final"]], sm.density,
                      time.perf_counter() - t0)


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
    """SNIP and GraSP masks at the densities of the IMP rounds, trained once ((R, S)).

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
    S, R = cfg.n_seeds, cfg.rounds
    t0 = time.perf_counter()
    p0 = [p.to(data.X_train.device) for p in stage.ticket("params0")]
    dens = stage.imp.density[1:, stage.groups["large_final"]].mean(1)
    with threads(1, data.X_train.device):
        masks = [[t.cpu() for t in P.prune_at_init(method, net, p0, data.X_train, data.y_train, float(dens[r]))]
                 for method in ("snip", "grasp") for r in range(R)]
        run = P.train_stack(net, P.repeat_params([p.cpu() for p in p0], 2 * R), P.stack_rounds(masks), data,
                            cfg.step_config(), order_seeds=[seed + s for s in range(S)] * (2 * R),
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
    """Tickets moved to another optimizer and to another data set (accuracies (R, S) unless said).

    Optimizers: tickets found with Adam, trained with SGD (``adam_ticket_sgd``), against
    in-place SGD tickets and random pruning under SGD ((R + 1, S), ``pct``).
    Data sets: tickets found by IMP on classes ``source`` of the data, rewound and trained
    on classes ``target`` (``data_ticket``), against random masks with the same per-layer
    counts trained there (``data_random``); ``data_pct`` (R,).

    Introduced in: Chapter 7
    """

    pct: np.ndarray
    sgd_ticket: np.ndarray
    random_sgd: np.ndarray
    adam_ticket_sgd: np.ndarray
    source: tuple
    target: tuple
    data_pct: np.ndarray
    data_ticket: np.ndarray
    data_random: np.ndarray
    seconds: float


def run_transfer(stage: ImpStage, data: P.SplitData, seed: int = 0) -> Transfer:
    """Ticket transfer (Morcos et al.) across optimizers and across data sets (digit classes
    0-4 -> 5-9: same inputs, other classes).

    Introduced in: Chapter 7
    """
    cfg = stage.cfg
    net = cfg.net(data.d, data.n_classes)
    S, R = cfg.n_seeds, cfg.rounds
    t0 = time.perf_counter()
    sgd = P.StepConfig(cfg.steps, cfg.sgd_lr, "sgd", 0.9, cfg.batch_size, cfg.eval_every)
    seeds = [seed + s for s in range(S)]
    source, target = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)
    with threads(1, data.X_train.device):
        own = P.imp(net, seeds * 2, data, sgd, rate=cfg.rate, rounds=R,
                    criterion=["large_final"] * S + ["random"] * S)
        masks = P.stack_rounds([stage.ticket("masks", round=r) for r in range(1, R + 1)])
        run = P.train_stack(net, P.repeat_params(stage.ticket("params0"), R), masks, data, sgd,
                            order_seeds=seeds * R, label="transfer adam -> sgd")
        src, tgt = data.subset(source), data.subset(target)
        found = P.imp(net, seeds, src, cfg.step_config(), rate=cfg.rate, rounds=R)
        tm = P.stack_rounds([found.masks[r] for r in range(1, R + 1)])
        rm = P.random_masks_like(tm, generator(seed, "transfer-random-masks"))
        start = P.repeat_params(found.params0, 2 * R)
        both = P.train_stack(net, start, [torch.cat([a, b]) for a, b in zip(tm, rm)], tgt, cfg.step_config(),
                             order_seeds=seeds * (2 * R), label="transfer across data sets")
    acc = both.test_acc.reshape(2, R, S)
    return Transfer(100 * own.density[:, :S].mean(1), own.test_acc[:, :S], own.test_acc[:, S:],
                    run.test_acc.reshape(R, S), source, target, 100 * found.density[1:].mean(1),
                    acc[0], acc[1], time.perf_counter() - t0)
