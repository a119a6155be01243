"""Masked batched training of stacked networks through the engine's one loop, and IMP.

Many networks (seeds x tickets x sparsities x criteria) are stacked along a leading
member dimension ``M`` and trained as one computation by
:func:`overparam.engine.loop.fit`. A masked network starts with its masked weights at
zero and ``fit`` multiplies every gradient by the mask (``grad_masks``) before the
optimizer step: with a zero gradient and a zero weight, SGD (momentum) and Adam leave the
weight at exactly zero for the whole run (tested).

Introduced in: Chapter 7
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .. import models
from ..config import check_choice, check_positive, generator, log
from ..engine.loop import Every, Snapshots, fit, per_member_batches
from ..engine.optim import OPTIMIZERS, make_optimizer
from .masks import (CRITERIA, SCOPES, apply_masks, check_rate, density, mask_scores, ones_masks, prune,
                    rewind, select)



def iterations_to(err_curves: np.ndarray, steps: np.ndarray, threshold: float) -> np.ndarray:
    """First iteration at which each error curve is at or below ``threshold`` (a speed
    measure); ``steps[-1]`` where it never gets there (censored at the end of training).

    Parameters
    ----------
    err_curves : ndarray (M, T);  steps : ndarray (T,)

    Returns
    -------
    ndarray (M,)

    Introduced in: Chapter 7
    """
    hit = np.asarray(err_curves) <= threshold
    first = np.where(hit.any(1), hit.argmax(1), len(steps) - 1)
    return np.asarray(steps)[first]


@dataclass
class SplitData:
    """Training, validation (for the early-stopping iteration) and test sets.

    Arrays: X_* (n, d) float32, y_* (n,) int64, on the training device.

    Introduced in: Chapter 7
    """

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int = 10
    name: str = ""

    @property
    def d(self) -> int:
        return self.X_train.shape[1]

    def to(self, device) -> "SplitData":
        return SplitData(*(t.to(device) for t in (self.X_train, self.y_train, self.X_val, self.y_val,
                                                   self.X_test, self.y_test)), self.n_classes, self.name)

    def subset(self, classes: Sequence[int], name: str = "") -> "SplitData":
        """The examples of the given classes only (labels unchanged)."""
        cl = torch.as_tensor(list(classes), device=self.y_train.device)

        def keep(X, y):
            k = torch.isin(y, cl)
            return X[k], y[k]
        parts = [t for X, y in ((self.X_train, self.y_train), (self.X_val, self.y_val),
                                (self.X_test, self.y_test)) for t in keep(X, y)]
        return SplitData(*parts, self.n_classes, name or f"{self.name}{list(classes)}")


@dataclass(frozen=True)
class StepConfig:
    """How each stacked network is trained (lengths in iterations, Frankle & Carbin's unit).

    Introduced in: Chapter 7
    """

    steps: int = 2000          # training iterations per run
    lr: float = 1.2e-3         # Frankle & Carbin's Adam rate for LeNet-300-100
    optimizer: str = "adam"    # "adam" (the source's Lenet setting) or "sgd" (with momentum)
    momentum: float = 0.9      # used by "sgd" only
    batch_size: int = 60       # Frankle & Carbin's batch size for MNIST
    eval_every: int = 100      # iterations between validation/test evaluations

    def __post_init__(self):
        check_positive("steps", self.steps, integer=True)
        check_positive("lr", self.lr)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_positive("momentum", self.momentum, allow_zero=True)
        check_positive("batch_size", self.batch_size, integer=True)
        check_positive("eval_every", self.eval_every, integer=True)

    def eval_steps(self) -> list[int]:
        return sorted({0, self.steps, *range(self.eval_every, self.steps + 1, self.eval_every)})


@dataclass
class TrainRun:
    """Results of one batched training run of M networks.

    Attributes
    ----------
    steps : ndarray (T,) iterations of the evaluations (0 = start)
    val_loss, val_err, test_err : ndarray (M, T)
    train_err : ndarray (M,) final training error
    early_step : ndarray (M,) iteration of the smallest validation loss (Frankle's
        early-stopping iteration)
    test_err_early : ndarray (M,) test error at ``early_step``
    params : list of (M, ...) tensors, final (effective) parameters (CPU)
    snapshots : dict iteration -> list of (M, ...) tensors (CPU), for rewinding
    seconds : wall time

    Introduced in: Chapter 7
    """

    steps: np.ndarray
    val_loss: np.ndarray
    val_err: np.ndarray
    test_err: np.ndarray
    train_err: np.ndarray
    early_step: np.ndarray
    test_err_early: np.ndarray
    params: list
    snapshots: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def test_acc(self) -> np.ndarray:
        """Final test accuracy per member, (M,)."""
        return 1 - self.test_err[:, -1]


@torch.no_grad()
def evaluate(arch: models.Arch, params: Sequence[torch.Tensor], X: torch.Tensor, y: torch.Tensor,
             chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Mean cross-entropy and error rate of every stacked network on (X, y).

    Returns
    -------
    loss, err : ndarray (M,) each

    Introduced in: Chapter 7
    """
    M = params[0].shape[0]
    loss = torch.zeros(M, device=X.device)
    err = torch.zeros(M, device=X.device)
    for s in range(0, len(X), chunk):
        out = models.forward(arch, params, X[s:s + chunk])
        yb = y[s:s + chunk].expand(M, -1)
        loss += F.cross_entropy(out.reshape(-1, out.shape[-1]), yb.reshape(-1),
                                reduction="none").reshape(M, -1).sum(1)
        err += (out.argmax(-1) != yb).sum(1)
    return (loss / len(X)).cpu().numpy(), (err / len(X)).cpu().numpy()


def _optimizer(params, cfg: StepConfig):
    # fused kernels where the device has them: one kernel per tensor instead of several
    # elementwise passes (Adam's sqrt pass alone was ~15 % of a masked step)
    return make_optimizer(params, cfg.optimizer, cfg.lr, momentum=cfg.momentum, impl="fused")


def train_loop(arch: models.Arch, trainable: list[torch.Tensor],
               effective: Callable[[list[torch.Tensor], bool], list[torch.Tensor]],
               grad_masks: list | None, data: SplitData, cfg: StepConfig, order_seeds: Sequence[int],
               snapshot_steps: Sequence[int] = (), label: str = "train") -> TrainRun:
    """Train ``trainable`` (weights or supermask scores) with :func:`overparam.engine.loop.fit`.

    ``effective(params, train)`` maps the trained tensors to the network's parameters
    (the identity for weights; scores -> masked frozen weights for supermasks). Member i
    draws its batch order from ``config.generator(order_seeds[i], "order")``; evaluation
    every ``cfg.eval_every`` iterations on the validation and test sets.

    Introduced in: Chapter 7
    """
    M = trainable[0].shape[0]
    if len(order_seeds) != M:
        raise ValueError(f"order_seeds has {len(order_seeds)} entries for {M} members")
    device = data.X_train.device
    gens = [generator(int(s), "order") for s in order_seeds]
    batches = per_member_batches(len(data.X_train), cfg.batch_size, gens, device, drop_last=True)
    evals = cfg.eval_steps()
    T = len(evals)
    vl, ve, te = (np.full((M, T), np.nan) for _ in range(3))

    def loss(params, idx):
        out = models.forward(arch, effective(params, True), data.X_train[idx])
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), data.y_train[idx].reshape(-1),
                               reduction="none").reshape(M, -1).mean(1)

    def record(state):
        with torch.no_grad():
            ps = effective(state.params, False)
            j = evals.index(state.step)
            vl[:, j], ve[:, j] = evaluate(arch, ps, data.X_val, data.y_val)
            te[:, j] = evaluate(arch, ps, data.X_test, data.y_test)[1]

    t0 = time.perf_counter()
    snaps = Snapshots(snapshot_steps)
    out = fit(trainable, loss, batches, _optimizer(trainable, cfg), cfg.steps, grad_masks=grad_masks,
              callbacks=[snaps, Every(evals, record)], label=label)
    with torch.no_grad():
        ps = effective(out.params, False)
        train_err = evaluate(arch, ps, data.X_train, data.y_train)[1]
    best = np.nanargmin(vl, axis=1)
    steps_arr = np.array(evals)
    return TrainRun(steps_arr, vl, ve, te, train_err, steps_arr[best], te[np.arange(M), best],
                    [p.detach().cpu() for p in ps], snaps.snaps, time.perf_counter() - t0)


def train_stack(arch: models.Arch, params: Sequence[torch.Tensor], masks: Sequence[torch.Tensor] | None,
                data: SplitData, cfg: StepConfig, *, order_seeds: Sequence[int] | None = None,
                snapshot_steps: Sequence[int] = (), label: str = "train") -> TrainRun:
    """Train M stacked (masked) networks at once; masked weights stay exactly zero.

    Parameters
    ----------
    arch : models.Arch
    params : list of (M, ...) starting parameters (copied; masked weights are zeroed)
    masks : list of (M, ...) 0/1 tensors, one per weight tensor, or None (dense)
    data : SplitData on the training device
    cfg : StepConfig
    order_seeds : (M,) seeds of each member's batch order (default 0, 1, ..., M-1);
        two members with the same order seed see the same batches
    snapshot_steps : iterations at which to save the parameters (0 = the start), e.g.
        the rewind iteration j of late resetting

    Returns
    -------
    TrainRun

    Introduced in: Chapter 7
    """
    device = data.X_train.device
    M = params[0].shape[0]
    order_seeds = list(range(M)) if order_seeds is None else list(order_seeds)
    dev_masks = None if masks is None else [m.to(device, torch.float32) for m in masks]
    trainable = [p.detach().clone().requires_grad_(True)
                 for p in apply_masks([p.to(device) for p in params], dev_masks)]
    grad_masks = None
    if dev_masks is not None:
        grad_masks = [dev_masks[j // 2] if j % 2 == 0 else None for j in range(len(trainable))]
    return train_loop(arch, trainable, lambda ps, train: ps, grad_masks, data, cfg, order_seeds,
                      snapshot_steps, label)


def _members(run: TrainRun, idx: Sequence[int]) -> TrainRun:
    """The run of members ``idx`` (indices into ``run``'s members; repeats allowed)."""
    idx = list(idx)
    return TrainRun(run.steps, run.val_loss[idx], run.val_err[idx], run.test_err[idx], run.train_err[idx],
                    run.early_step[idx], run.test_err_early[idx], select(run.params, idx),
                    {k: select(v, idx) for k, v in run.snapshots.items()}, run.seconds)


@dataclass
class ImpResult:
    """Rounds of iterative pruning of M stacked networks (round 0 = dense).

    Attributes
    ----------
    density : ndarray (R + 1, M) fraction of weights remaining after each round
    test_acc, train_acc : ndarray (R + 1, M) at the end of training
    test_acc_early : ndarray (R + 1, M) test accuracy at the early-stopping iteration
    early_step : ndarray (R + 1, M) iteration of the smallest validation loss
    masks : list (R + 1) of mask lists (CPU)
    params0 : list of (M, ...) initial parameters; rewind_params: values at ``rewind_step``
    dense_final : list of (M, ...) dense network after training (round 0)
    curves : list (R + 1) of ndarray (M, T) test error curves; steps: ndarray (T,)
    val_curves : list (R + 1) of ndarray (M, T) validation error curves
    snapshots : dict iteration -> list of (M, ...) values of the dense run
    final_params : list (R + 1) of trained parameters of each round

    Introduced in: Chapter 7
    """

    density: np.ndarray
    test_acc: np.ndarray
    train_acc: np.ndarray
    test_acc_early: np.ndarray
    early_step: np.ndarray
    masks: list
    params0: list
    rewind_params: list
    dense_final: list
    curves: list
    steps: np.ndarray
    seconds: float = 0.0
    snapshots: dict = field(default_factory=dict)
    final_params: list = field(default_factory=list)
    val_curves: list = field(default_factory=list)


def imp(arch: models.Arch, seeds: Sequence[int], data: SplitData, cfg: StepConfig, *, rate: float = 0.2,
        rounds: int = 5, rewind_step: int | Sequence[int] = 0, scope: str = "layer",
        criterion: str | Sequence[str] = "large_final", output_factor: float = 0.5,
        snapshot_steps: Sequence[int] = (), order_seeds: Sequence[int] | None = None) -> ImpResult:
    """Iterative magnitude pruning (Frankle & Carbin 2019) of one network per seed, batched.

    Train the dense network (saving its values at iteration ``rewind_step``); then
    ``rounds`` times: prune ``rate`` of the surviving weights by ``criterion`` (scores
    from the values at ``rewind_step`` and at the end of the last training), rewind the
    survivors to their values at ``rewind_step`` (0: the original init; j > 0: late
    resetting) and retrain.

    Parameters
    ----------
    arch, data, cfg : architecture, data, training
    seeds : (M,) init seeds (also the batch-order seeds unless ``order_seeds`` is given)
    rate : fraction pruned per round, 0 < rate < 1
    rounds : number of prune-rewind-retrain rounds
    rewind_step : iteration j whose values the survivors are reset to (one, or one per member)
    scope : "layer" or "global"
    criterion : a name of :data:`CRITERIA` or one per member (Zhou et al.'s comparison
        runs every criterion in one stack)
    snapshot_steps : further iterations of the dense run to keep (``ImpResult.snapshots``),
        e.g. the rewind points of an instability scan

    Returns
    -------
    ImpResult

    Introduced in: Chapter 7
    """
    check_rate(rate)
    check_positive("rounds", rounds, integer=True, allow_zero=True)
    check_choice("scope", scope, SCOPES)
    M = len(seeds)
    rws = [rewind_step] * M if isinstance(rewind_step, (int, np.integer)) else list(rewind_step)
    if len(rws) != M:
        raise ValueError(f"rewind_step has {len(rws)} entries for {M} members")
    for j in rws:
        check_positive("rewind_step", j, integer=True, allow_zero=True)
        if j > cfg.steps:
            raise ValueError(f"rewind_step={j} is not allowed; expected <= steps={cfg.steps}")
    crits = [criterion] * M if isinstance(criterion, str) else list(criterion)
    if len(crits) != M:
        raise ValueError(f"criterion has {len(crits)} entries for {M} members")
    for c in crits:
        check_choice("criterion", c, CRITERIA)
    order = list(seeds) if order_seeds is None else list(order_seeds)
    t0 = time.perf_counter()
    gen = generator(int(seeds[0]), "imp-random-criterion")
    p0 = models.init_stack(arch, [int(s) for s in seeds], data.X_train.device).params
    masks = [m.cpu() for m in ones_masks(p0)]
    # members with the same init seed and batch order train the same dense network: round 0
    # trains each such network once and hands its run to every member that shares it
    key = [(int(s), int(o)) for s, o in zip(seeds, order)]
    uniq = list(dict.fromkeys(key))
    first, back = [key.index(k) for k in uniq], [uniq.index(k) for k in key]
    run = train_stack(arch, select(p0, first), None, data, cfg, order_seeds=[order[i] for i in first],
                      snapshot_steps=sorted(set(rws) | set(snapshot_steps)), label="imp round 0")
    run = run if len(uniq) == M else _members(run, back)
    rew = [torch.stack([run.snapshots[j][t][i] for i, j in enumerate(rws)]) for t in range(len(p0))]
    runs, all_masks, last = [run], [masks], run
    for r in range(1, rounds + 1):
        masks = prune(mask_scores(crits, rew, last.params, gen), masks, rate, scope, output_factor)
        last = train_stack(arch, rewind(rew, masks), masks, data, cfg, order_seeds=order, label=f"imp round {r}")
        runs.append(last)
        all_masks.append(masks)
        log.info(f"imp: round {r}/{rounds}, density {density(masks).mean():.3f}, "
                 f"test acc {last.test_acc.mean():.3f}, elapsed {time.perf_counter() - t0:.0f} s")
    return ImpResult(np.stack([density(m) for m in all_masks]),
                     np.stack([rr.test_acc for rr in runs]), np.stack([1 - rr.train_err for rr in runs]),
                     np.stack([1 - rr.test_err_early for rr in runs]), np.stack([rr.early_step for rr in runs]),
                     all_masks, [p.cpu() for p in p0], [p.cpu() for p in rew], run.params,
                     [rr.test_err for rr in runs], runs[0].steps, time.perf_counter() - t0,
                     dict(run.snapshots), [rr.params for rr in runs], [rr.val_err for rr in runs])
