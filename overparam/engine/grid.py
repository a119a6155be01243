"""The vocabulary of the grid engine: members, training configs, data and results.

:class:`Member` (one model of a grid), :class:`TrainConfig` (how every member trains),
:class:`TrainData` (a training set and its test set) and :class:`EnsembleResult` (curves,
outputs and training state of trained members). :meth:`EnsembleResult.put` is the one
place where the results of a part of a grid (a bucket, a chunk, a Ray task) are
assembled into the grid's result. Read by every layer of the engine
(:mod:`~overparam.engine.stackrun`, :mod:`~overparam.engine.sweep`, the backends).

Introduced in: Chapter 3
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .. import config
from ..adequacy import TrainState
from ..config import check_choice, check_positive
from ..models import Arch, init_member, to_module
from .loop import Plateau, TargetError, describe
from .optim import OPTIMIZERS
from .store import config_key

ARCHS = ("mlp", "cnn")
MODES = ("auto", "batched", "loop")
CURVES = ("train_loss", "train_err", "test_loss", "test_err")


def say(msg: str) -> None:
    """The engine's default log: the book's logger."""
    config.log.info(msg)


def steps_per_epoch(n: int, batch_size: int) -> int:
    return 1 if batch_size == 0 or batch_size >= n else -(-n // batch_size)


def eval_epochs(cfg) -> list[int]:
    """Epochs at which the curves are recorded: 0, every ``eval_every``, and the last."""
    return sorted({0, cfg.epochs, *range(cfg.eval_every, cfg.epochs + 1, cfg.eval_every)})


@dataclass(frozen=True)
class Member:
    """One model of a grid.

    Parameters
    ----------
    width : int
        Hidden units per hidden layer (MLP) or channels per conv layer (CNN).
    depth : int
        Number of hidden layers (MLP) or conv layers (CNN).
    arch : str
        ``"mlp"`` (d-width-...-width-classes, ReLU) or ``"cnn"`` (1-d convs, kernel 5,
        stride 2, ReLU, then a linear read-out).
    seed : int
        Seeds the initialisation and, through its own stream, the batch order.
    data : int
        Index into the list of :class:`TrainData` given to the trainer.
    name : str
        Label used in logs and divergence reports; empty means one derived from the fields.

    Introduced in: Chapter 3
    """

    width: int
    depth: int = 1       # 1 hidden layer: the MLP d-h-10 of the benchmark and Neyshabur's sweep
    arch: str = "mlp"    # the chapter's model-wise sweeps are MLPs; "cnn" for the full profile
    seed: int = 0        # 0, like every notebook's default seed
    data: int = 0        # most grids share one training set
    name: str = ""       # "" -> derived label, see label()

    def __post_init__(self):
        check_positive("width", self.width, integer=True)
        check_positive("depth", self.depth, integer=True)
        check_choice("arch", self.arch, ARCHS)
        check_positive("seed", self.seed, integer=True, allow_zero=True)
        check_positive("data", self.data, integer=True, allow_zero=True)

    def spec(self, d: int, n_classes: int) -> Arch:
        """The member's architecture in the model family (:class:`overparam.models.Arch`)."""
        return Arch(self.arch, (self.width,) * self.depth, d, n_classes)

    def label(self) -> str:
        """The member's name for logs: ``name`` or e.g. ``"mlp w=64 d=1 seed=2 data=0"``."""
        return self.name or f"{self.arch} w={self.width} d={self.depth} seed={self.seed} data={self.data}"


@dataclass(frozen=True)
class TrainConfig:
    """How every member is trained.

    Introduced in: Chapter 3
    """

    epochs: int = 100           # a short default; the chapter profiles set their own
    lr: float = 0.01            # MNIST-1D / udlbook double-descent setting
    optimizer: str = "sgd"      # a key of engine.optim.OPTIMIZERS: "sgd" (momentum below), "adam", ...
    momentum: float = 0.9       # MNIST-1D / udlbook setting; ignored by adam
    weight_decay: float = 0.0   # double descent is studied without regularization
    batch_size: int = 100       # 0 = full batch; 100 as in the MNIST-1D notebooks
    eval_every: int = 10        # epochs between points of the curves (epoch 0 and last always)
    criterion: Plateau | TargetError | None = None   # the stated stopping criterion (met or not)
    stop_when_met: bool = False  # end a stack's training once every member met the criterion

    def __post_init__(self):
        check_positive("epochs", self.epochs, integer=True)
        check_positive("lr", self.lr)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_positive("momentum", self.momentum, allow_zero=True)
        check_positive("weight_decay", self.weight_decay, allow_zero=True)
        check_positive("batch_size", self.batch_size, integer=True, allow_zero=True)
        check_positive("eval_every", self.eval_every, integer=True)
        if self.criterion is not None and not isinstance(self.criterion, (Plateau, TargetError)):
            raise ValueError(f"criterion={self.criterion!r} is not allowed; expected None, "
                             "a loop.Plateau or a loop.TargetError")


@dataclass
class TrainData:
    """A classification training set and its test set.

    Parameters
    ----------
    X_train : Tensor, shape (n_train, d)
    y_train : Tensor, shape (n_train,), int64 class labels (possibly noisy)
    X_test : Tensor, shape (n_test, d)
    y_test : Tensor, shape (n_test,), int64
    n_classes : int
    key : str
        Describes the data for result keys (e.g. ``"mnist1d n=1000 noise=0.1 seed=2"``);
        needed only by :func:`train_grid`.

    Members that share the same ``X_train`` / ``X_test`` tensor objects share them in
    memory; only the labels are stacked per member.

    Introduced in: Chapter 3
    """

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int = 10
    key: str = ""

    def __post_init__(self):
        if self.X_train.ndim != 2 or self.X_test.ndim != 2:
            raise ValueError("X_train and X_test must have shape (n, d)")
        if len(self.y_train) != len(self.X_train) or len(self.y_test) != len(self.X_test):
            raise ValueError("X and y must have the same number of rows")

    @property
    def n_train(self) -> int:
        return len(self.X_train)

    @property
    def d(self) -> int:
        return self.X_train.shape[1]


@dataclass
class EnsembleResult:
    """Curves and final outputs of trained members.

    Attributes
    ----------
    members : list of Member
    epochs : ndarray, shape (T,) – epochs at which the curves were recorded (0 = init)
    curves : dict str -> ndarray, shape (M, T) – ``train_loss``, ``train_err`` (on the
        member's own, possibly noisy, labels), ``test_loss``, ``test_err``; NaN after a
        member diverged
    test_probs : ndarray, shape (M, n_test, n_classes) or None – final softmax outputs
    diverged : dict label -> epoch at which the member's loss became NaN/inf
    modes : list of str – "batched" or "loop", per member
    log : list of str – the engine's decisions (buckets, probe timings)
    seconds : float – wall time of the training
    params : list (one per member) of lists of CPU tensors at their true shapes, in the
        :func:`init_params` layout, or None (``keep_params=False``); zeros for a member
        that diverged in a batched bucket
    steps : ndarray (M,) optimizer steps each member took (fewer after a divergence or an
        early stop); met : ndarray (M,) bool, the config's criterion held at the end;
        criterion : its description ("" without one). See :attr:`train_state`.

    Introduced in: Chapter 3
    """

    members: list
    epochs: np.ndarray
    curves: dict
    test_probs: np.ndarray | None = None
    diverged: dict = field(default_factory=dict)
    modes: list = field(default_factory=list)
    log: list = field(default_factory=list)
    seconds: float = 0.0
    params: list | None = None
    steps: np.ndarray | None = None
    met: np.ndarray | None = None
    criterion: str = ""

    @classmethod
    def blank(cls, members: Sequence, cfg, n_test: int, n_classes: int, keep_probs: bool = False,
              keep_params: bool = False) -> "EnsembleResult":
        """A result for ``members`` with nothing trained yet (NaN curves), to :meth:`put` into."""
        M, T = len(members), len(eval_epochs(cfg))
        return cls(list(members), np.array(eval_epochs(cfg)), {k: np.full((M, T), np.nan) for k in CURVES},
                   np.full((M, n_test, n_classes), np.nan, dtype=np.float32) if keep_probs else None,
                   {}, [""] * M, [], 0.0, [None] * M if keep_params else None,
                   np.zeros(M, dtype=np.int64), np.zeros(M, dtype=bool), describe(cfg.criterion))

    def put(self, index: Sequence[int], part: "EnsembleResult", *, log: bool = True) -> None:
        """Take the members of ``part`` (a bucket, chunk or task result) into rows ``index``.

        The one place where parts of a grid are assembled: curves, outputs, parameters,
        modes, divergences, training state; the part's log lines are appended (``log``).
        """
        idx = list(index)
        for k in CURVES:
            self.curves[k][idx] = part.curves[k]
        if self.test_probs is not None and part.test_probs is not None:
            self.test_probs[idx] = part.test_probs
        if self.params is not None and part.params is not None:
            for j, i in enumerate(idx):
                self.params[i] = part.params[j]
        for j, i in enumerate(idx):
            self.modes[i] = part.modes[j] if part.modes else ""
            lab = self.members[i].label()
            if lab in part.diverged:
                self.diverged[lab] = part.diverged[lab]
        if part.steps is not None:
            self.steps[idx] = part.steps
            self.met[idx] = part.met
        if log:
            self.log.extend(part.log)

    @property
    def train_state(self) -> TrainState:
        """Per member: steps taken, final train loss and error (NaN after a divergence),
        and whether the stated criterion was met (:class:`overparam.adequacy.TrainState`)."""
        M = len(self.members)
        steps = self.steps if self.steps is not None else np.full(M, -1)
        met = self.met if self.met is not None else np.zeros(M, dtype=bool)
        return TrainState(steps, self.final("train_loss"), self.final("train_err"), met, self.criterion)

    def final(self, curve: str) -> np.ndarray:
        """Last recorded value of ``curve`` per member, shape (M,)."""
        return self.curves[curve][:, -1]

    def select(self, index: Sequence[int]) -> "EnsembleResult":
        """The result restricted to the members at ``index`` (in that order)."""
        idx = list(index)
        names = {self.members[i].label() for i in idx}
        return EnsembleResult(
            [self.members[i] for i in idx], self.epochs, {k: v[idx] for k, v in self.curves.items()},
            None if self.test_probs is None else self.test_probs[idx],
            {k: v for k, v in self.diverged.items() if k in names},
            [self.modes[i] for i in idx] if self.modes else [], list(self.log), self.seconds,
            None if self.params is None else [self.params[i] for i in idx],
            None if self.steps is None else self.steps[idx], None if self.met is None else self.met[idx],
            self.criterion)

    def check_finite(self) -> None:
        """Raise ValueError naming every diverged member (call before plotting)."""
        if self.diverged:
            names = ", ".join(f"{k} (epoch {v})" for k, v in self.diverged.items())
            raise ValueError(f"{len(self.diverged)} member(s) diverged (NaN/inf loss): {names}")


# --------------------------------------------------------------------------- parameters


def init_params(member: Member, d: int, n_classes: int) -> list[torch.Tensor]:
    """Initial parameters of a member at their true shapes, drawn from the member's seed.

    :func:`overparam.models.init_member` of ``member.spec(d, n_classes)``: PyTorch's
    default uniform fan-in init; layout MLP ``[W (d, w), b (w), ..., W (w, C), b (C)]``
    with ``h @ W``, CNN ``[K (w, c_in, 5), b (w), ..., W (w * L, C), b (C)]``.

    Introduced in: Chapter 3
    """
    return init_member(member.spec(d, n_classes), member.seed)


def make_model(member: Member, d: int, n_classes: int = 10,
               device: torch.device | str = "cpu") -> nn.Module:
    """The standalone network of a member, initialised exactly as in the batched stack.

    Returns an ``nn.Module`` mapping (B, d) -> (B, n_classes) logits
    (:func:`overparam.models.to_module`).

    Introduced in: Chapter 3
    """
    return to_module(member.spec(d, n_classes), init_params(member, d, n_classes), device)


def member_key(member: Member, data: TrainData, cfg: TrainConfig, keep_probs: bool) -> str:
    """Result key of one member: hash of member, data key, training config (non-defaults)."""
    if not data.key:
        raise ValueError("TrainData.key is empty; train_grid needs a key describing the data")
    return config_key({"member": dataclasses.replace(member, data=0, name=""), "data": data.key,
                       "train": cfg, "probs": keep_probs}, prefix=member.arch)
