"""Training: one plain loop for a single model, and the sweep engine for grids of models.

Public API (stable; other chapters build on it):

- :class:`Member` – one model of a grid: architecture, width, depth, seed, which data.
- :class:`TrainConfig` – optimizer, learning rate, epochs, batch size, evaluation period.
- :class:`TrainData` – one training set (its own labels, e.g. its own label noise) plus
  the test set; members point at one of a list of these by index.
- :func:`make_model` – the standalone ``nn.Module`` of a member, initialised from its seed.
- :func:`train_model` – the one training loop for a single model (curves every k epochs).
- :func:`train_ensemble` – trains many members at once. Members are grouped into buckets
  of similar cost; a bucket is stacked along a leading dimension and trained as one
  batched computation (``torch.baddbmm`` / grouped ``conv1d``), mixed widths zero-padded
  and masked so each member trains exactly as its standalone network. Where batching is
  slower than a plain loop (very wide members), a short timed probe picks the loop;
  the choice is logged.
- :func:`train_grid` – :func:`train_ensemble` plus a :class:`~overparam.results.ResultStore`:
  each member's result is saved as soon as its chunk finishes under a key derived from
  its configuration, so a killed run resumes and a finished grid is reloaded.

Exactness of the stacking: each member's loss enters the total as its own mean over its
own batch, so the gradient of the sum with respect to a member's parameters is that
member's own gradient; SGD, momentum and Adam update elementwise, so one optimizer over
stacked tensors equals one optimizer per member. A padded unit has zero incoming and
outgoing weights and its gradient is masked to zero, so it stays zero.
"""
from __future__ import annotations

import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import check_choice, check_positive
from ..models import uniform_init

ARCHS = ("mlp", "cnn")
OPTIMIZERS = ("sgd", "adam")
MODES = ("auto", "batched", "loop")
CURVES = ("train_loss", "train_err", "test_loss", "test_err")
_ORDER_SEED_OFFSET = 1_000_003  # batch order uses its own stream, independent of init
_CNN_KERNEL = 5  # mnist1d's ConvBase uses kernel 5 (stride 2, padding 1); we pad 2


# --------------------------------------------------------------------------- configs


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
    optimizer: str = "sgd"      # "sgd" (with momentum below) or "adam"
    momentum: float = 0.9       # MNIST-1D / udlbook setting; ignored by adam
    weight_decay: float = 0.0   # double descent is studied without regularization
    batch_size: int = 100       # 0 = full batch; 100 as in the MNIST-1D notebooks
    eval_every: int = 10        # epochs between points of the curves (epoch 0 and last always)

    def __post_init__(self):
        check_positive("epochs", self.epochs, integer=True)
        check_positive("lr", self.lr)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_positive("momentum", self.momentum, allow_zero=True)
        check_positive("weight_decay", self.weight_decay, allow_zero=True)
        check_positive("batch_size", self.batch_size, integer=True, allow_zero=True)
        check_positive("eval_every", self.eval_every, integer=True)


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
            None if self.params is None else [self.params[i] for i in idx])

    def check_finite(self) -> None:
        """Raise ValueError naming every diverged member (call before plotting)."""
        if self.diverged:
            names = ", ".join(f"{k} (epoch {v})" for k, v in self.diverged.items())
            raise ValueError(f"{len(self.diverged)} member(s) diverged (NaN/inf loss): {names}")


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- parameters


def _cnn_lengths(d: int, depth: int) -> list[int]:
    """Sequence length after each conv layer (kernel 5, stride 2, padding 2)."""
    lengths = [d]
    for _ in range(depth):
        lengths.append((lengths[-1] + 2 * 2 - _CNN_KERNEL) // 2 + 1)
    return lengths


def init_params(member: Member, d: int, n_classes: int) -> list[torch.Tensor]:
    """Initial parameters of a member at their true shapes, drawn from the member's seed.

    Each layer draws weight then bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the
    PyTorch default of ``nn.Linear`` / ``nn.Conv1d``. Layout (the batched layout, used by
    :func:`make_model` too): MLP ``[W (d, w), b (w), ..., W (w, C), b (C)]`` with ``W`` as
    ``x @ W``; CNN ``[K (w, c_in, 5), b (w), ..., W (w * L, C), b (C)]``.

    Returns
    -------
    list of Tensor (CPU, float32)

    Introduced in: Chapter 3
    """
    gen = torch.Generator().manual_seed(member.seed)
    params = []
    w = member.width
    if member.arch == "mlp":
        dims = [d] + [w] * member.depth + [n_classes]
        for fan_in, fan_out in zip(dims[:-1], dims[1:]):
            bound = 1 / math.sqrt(fan_in)
            params.append(uniform_init((fan_out, fan_in), bound, gen).T.contiguous())
            params.append(uniform_init((fan_out,), bound, gen))
    else:
        c_in = 1
        for _ in range(member.depth):
            bound = 1 / math.sqrt(c_in * _CNN_KERNEL)
            params.append(uniform_init((w, c_in, _CNN_KERNEL), bound, gen))
            params.append(uniform_init((w,), bound, gen))
            c_in = w
        fan_in = w * _cnn_lengths(d, member.depth)[-1]
        bound = 1 / math.sqrt(fan_in)
        params.append(uniform_init((n_classes, fan_in), bound, gen).T.contiguous())
        params.append(uniform_init((n_classes,), bound, gen))
    return params


class _CNN(nn.Module):
    def __init__(self, width: int, depth: int, d: int, n_classes: int):
        super().__init__()
        convs, c_in = [], 1
        for _ in range(depth):
            convs.append(nn.Conv1d(c_in, width, _CNN_KERNEL, stride=2, padding=2))
            c_in = width
        self.convs = nn.ModuleList(convs)
        self.out = nn.Linear(width * _cnn_lengths(d, depth)[-1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x[:, None, :]
        for conv in self.convs:
            h = F.relu(conv(h))
        return self.out(h.flatten(1))


def make_model(member: Member, d: int, n_classes: int = 10,
               device: torch.device | str = "cpu") -> nn.Module:
    """The standalone network of a member, initialised exactly as in the batched stack.

    Parameters
    ----------
    member : Member
    d : int
        Input dimension (sequence length for the CNN).
    n_classes : int

    Returns
    -------
    nn.Module mapping (B, d) -> (B, n_classes) logits.

    Introduced in: Chapter 3
    """
    params = init_params(member, d, n_classes)
    if member.arch == "mlp":
        dims = [d] + [member.width] * member.depth + [n_classes]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(dims) - 2:
                layers.append(nn.ReLU())
        model = nn.Sequential(*layers)
        linears = [m for m in model if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for i, lin in enumerate(linears):
                lin.weight.copy_(params[2 * i].T)
                lin.bias.copy_(params[2 * i + 1])
    else:
        model = _CNN(member.width, member.depth, d, n_classes)
        with torch.no_grad():
            for i, conv in enumerate(model.convs):
                conv.weight.copy_(params[2 * i])
                conv.bias.copy_(params[2 * i + 1])
            model.out.weight.copy_(params[-2].T)
            model.out.bias.copy_(params[-1])
    return model.to(device)


def model_params(model: nn.Module, member: Member) -> list[torch.Tensor]:
    """Parameters of a :func:`make_model` network in the :func:`init_params` layout.

    Parameters
    ----------
    model : nn.Module built by :func:`make_model` for ``member``
    member : Member

    Returns
    -------
    list of Tensor (CPU, detached copies): MLP ``[W (d, w), b (w), ..., W (w, C), b (C)]``;
    CNN ``[K (w, c_in, 5), b (w), ..., W (w * L, C), b (C)]``

    Introduced in: Chapter 4
    """
    out = []
    if member.arch == "mlp":
        for lin in (m for m in model if isinstance(m, nn.Linear)):
            out += [lin.weight.detach().T.contiguous().cpu(), lin.bias.detach().cpu().clone()]
    else:
        for conv in model.convs:
            out += [conv.weight.detach().cpu().clone(), conv.bias.detach().cpu().clone()]
        out += [model.out.weight.detach().T.contiguous().cpu(), model.out.bias.detach().cpu().clone()]
    return out


def _pad_to(t: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    out = torch.zeros(shape, dtype=t.dtype)
    out[tuple(slice(0, s) for s in t.shape)] = t
    return out


class _Stack:
    """Parameters of M members of one architecture and depth, padded to the widest."""

    def __init__(self, members: Sequence[Member], d: int, n_classes: int, device, init: bool = True):
        self.arch = members[0].arch
        self.depth = members[0].depth
        self.M = len(members)
        self.width = max(m.width for m in members)
        self.d, self.C = d, n_classes
        proto = Member(self.width, self.depth, self.arch)
        shapes = [tuple(p.shape) for p in init_params(proto, d, n_classes)]
        if init:  # each member's own initialisation at its true shapes, then padded
            per_member = [init_params(m, d, n_classes) for m in members]
        else:  # timing probes: throw-away values, no generator of a member is touched
            per_member = [[torch.randn(s) * 0.1 for s in shapes] for _ in members]
        self.params, self.masks = [], []
        padded = any(m.width != self.width for m in members)
        for j, shape in enumerate(shapes):
            stacked = torch.stack([_pad_to(pm[j], shape) for pm in per_member])
            self.params.append(stacked.to(device).requires_grad_(True))
            if padded:  # 1 where the member has a true parameter, 0 on padding
                ones = torch.stack([_pad_to(torch.ones_like(pm[j]), shape) for pm in per_member])
                self.masks.append(ones.to(device))
            else:
                self.masks.append(None)

    def hidden(self, X: torch.Tensor) -> torch.Tensor:
        """X: (M, B, d) -> last hidden representation (M, B, width [* length])."""
        p = self.params
        if self.arch == "mlp":
            h = X
            for i in range(self.depth):
                h = torch.relu(torch.baddbmm(p[2 * i + 1][:, None, :], h, p[2 * i]))
            return h
        M, B, L = X.shape
        h = X.permute(1, 0, 2)  # (B, M * 1, L), member-major channels
        for i in range(self.depth):
            K, b = p[2 * i], p[2 * i + 1]  # (M, w, c_in, k), (M, w)
            h = torch.relu(F.conv1d(h, K.reshape(-1, K.shape[2], K.shape[3]), b.reshape(-1),
                                    stride=2, padding=2, groups=M))
        return h.reshape(B, M, -1).permute(1, 0, 2)  # (M, B, w * L_last)

    def logits_t(self, X: torch.Tensor) -> torch.Tensor:
        """X: (M, B, d) -> logits (M, C, B), class-major.

        Cross-entropy over a class axis of 10 is several times faster on the CPU when
        the batch axis is innermost (the softmax vectorises over examples).
        """
        h = self.hidden(X)
        # (M, B, C) then a small contiguous copy: keeps the gradient of h contiguous,
        # which the ReLU backward needs to be fast
        return torch.baddbmm(self.params[-1][:, None, :], h, self.params[-2]).transpose(1, 2).contiguous()

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """X: (M, B, d) -> logits (M, B, C)."""
        return self.logits_t(X).transpose(1, 2)

    def mask_grads(self) -> None:
        for prm, mask in zip(self.params, self.masks):
            if mask is not None and prm.grad is not None:
                prm.grad.mul_(mask)

    def member_params(self, i: int, member: Member) -> list[torch.Tensor]:
        """Unpadded parameters of member i (true shapes), detached."""
        true = [tuple(t.shape) for t in init_params(dataclasses.replace(member, seed=0), self.d, self.C)]
        return [prm[i][tuple(slice(0, s) for s in shape)].detach().clone()
                for prm, shape in zip(self.params, true)]


def _make_optimizer(params: list[torch.Tensor], cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _flops_per_example(member: Member, d: int, n_classes: int) -> float:
    """Forward multiply-adds x2 per example (the cost model of bucketing and benchmarks)."""
    w = member.width
    if member.arch == "mlp":
        return 2.0 * (d * w + (member.depth - 1) * w * w + w * n_classes)
    lengths = _cnn_lengths(d, member.depth)
    flops, c_in = 0.0, 1
    for L in lengths[1:]:
        flops += 2.0 * L * w * c_in * _CNN_KERNEL
        c_in = w
    return flops + 2.0 * w * lengths[-1] * n_classes


def training_flops(member: Member, d: int, n_classes: int, n_examples: int) -> float:
    """FLOPs of one pass of training (forward + backward ~ 3x forward) over n_examples.

    Introduced in: Chapter 3
    """
    return 3.0 * _flops_per_example(member, d, n_classes) * n_examples


# --------------------------------------------------------------------------- one model


def _steps_per_epoch(n: int, batch_size: int) -> int:
    return 1 if batch_size == 0 or batch_size >= n else -(-n // batch_size)


def _epoch_batches(n: int, batch_size: int, gen: torch.Generator | None) -> list[torch.Tensor]:
    if batch_size == 0 or batch_size >= n:
        return [torch.arange(n)]
    perm = torch.randperm(n, generator=gen)
    return list(perm.split(batch_size))


@torch.no_grad()
def _evaluate_model(model: nn.Module, X: torch.Tensor, y: torch.Tensor, chunk: int = 4096):
    loss, err, probs = 0.0, 0.0, []
    for s in range(0, len(X), chunk):
        out = model(X[s:s + chunk])
        loss += F.cross_entropy(out, y[s:s + chunk], reduction="sum").item()
        err += (out.argmax(1) != y[s:s + chunk]).sum().item()
        probs.append(out.softmax(1))
    return loss / len(X), err / len(X), torch.cat(probs)


def _eval_epochs(cfg: TrainConfig) -> list[int]:
    return sorted({0, cfg.epochs, *range(cfg.eval_every, cfg.epochs + 1, cfg.eval_every)})


def train_model(model: nn.Module, data: TrainData, cfg: TrainConfig, *, seed: int = 0,
                device: torch.device | str = "cpu", label: str = "model",
                keep_probs: bool = False) -> EnsembleResult:
    """Train one model with cross-entropy: the book's one plain training loop.

    Mini-batches are drawn each epoch from ``torch.randperm`` of a generator seeded with
    ``seed + 1_000_003`` (the same order a member with that seed gets in the batched
    engine). A NaN/inf loss stops training and is reported under ``label``.

    Parameters
    ----------
    model : nn.Module mapping (B, d) -> (B, n_classes)
    data : TrainData
    cfg : TrainConfig
    seed : int
        Seeds the batch order.
    device : device to train on (the model is moved there)
    label : name used in the divergence report
    keep_probs : whether to return the final test softmax outputs

    Returns
    -------
    EnsembleResult with one member (``Member`` fields unknown: a placeholder of width 1)

    Introduced in: Chapter 3
    """
    device = torch.device(device)
    model = model.to(device)
    Xtr, ytr = data.X_train.to(device), data.y_train.to(device)
    Xte, yte = data.X_test.to(device), data.y_test.to(device)
    opt = _make_optimizer(list(model.parameters()), cfg)
    gen = torch.Generator().manual_seed(seed + _ORDER_SEED_OFFSET)
    evals = _eval_epochs(cfg)
    curves = {k: np.full(len(evals), np.nan) for k in CURVES}
    diverged: dict[str, int] = {}
    probs = None
    t0 = time.perf_counter()

    def record(j):
        nonlocal probs
        model.eval()
        curves["train_loss"][j], curves["train_err"][j], _ = _evaluate_model(model, Xtr, ytr)
        curves["test_loss"][j], curves["test_err"][j], probs = _evaluate_model(model, Xte, yte)
        model.train()

    record(0)
    for epoch in range(1, cfg.epochs + 1):
        finite = True
        for idx in _epoch_batches(len(Xtr), cfg.batch_size, gen):
            idx = idx.to(device)
            loss = F.cross_entropy(model(Xtr[idx]), ytr[idx])
            opt.zero_grad(set_to_none=False)
            loss.backward()
            opt.step()
            finite = finite and bool(torch.isfinite(loss))
        if not finite:
            diverged[label] = epoch
            _stderr(f"diverged: {label} at epoch {epoch} (NaN/inf loss); stopped")
            probs = None
            break
        if epoch in evals:
            record(evals.index(epoch))
    placeholder = Member(1, name=label)
    return EnsembleResult(
        [placeholder], np.array(evals), {k: v[None] for k, v in curves.items()},
        None if (not keep_probs or probs is None) else probs.cpu().numpy()[None],
        diverged, ["loop"], [], time.perf_counter() - t0)


# --------------------------------------------------------------------------- the engine


def _bucket(members: Sequence[Member], datas: Sequence[TrainData], overhead: float,
            max_members: int) -> list[list[int]]:
    """Group member indices into stacks (same arch, depth, n_train) of least modelled cost.

    A stack costs per step ``overhead + (members) x (cost of its widest member)``, with
    cost = forward FLOPs per example and ``overhead`` the fixed per-step cost of one stack
    (kernel launches, optimizer, gathers) in the same units. Within a group, members are
    sorted by cost and cut into contiguous buckets by dynamic programming over the
    distinct cost levels, so narrow members share a stack while wide ones are not padded
    to a much wider neighbour. Buckets hold at most ``max_members`` members.
    """
    groups: dict[tuple, list[int]] = {}
    for i, m in enumerate(members):
        groups.setdefault((m.arch, m.depth, datas[m.data].n_train), []).append(i)
    buckets = []
    for key in sorted(groups):
        d, C = datas[members[groups[key][0]].data].d, datas[members[groups[key][0]].data].n_classes
        cost = {i: _flops_per_example(members[i], d, C) for i in groups[key]}
        levels = sorted(set(cost.values()))
        count = [sum(1 for i in groups[key] if cost[i] == c) for c in levels]
        # best[b] = least cost of levels[:b]; cut[b] = start of the last bucket
        best, cut = [0.0] + [math.inf] * len(levels), [0] * (len(levels) + 1)
        for b in range(1, len(levels) + 1):
            total = 0
            for a in range(b - 1, -1, -1):
                total += count[a]
                c = best[a] + math.ceil(total / max_members) * overhead + total * levels[b - 1]
                if c < best[b]:
                    best[b], cut[b] = c, a
        spans, b = [], len(levels)
        while b > 0:
            spans.append((cut[b], b))
            b = cut[b]
        for a, b in reversed(spans):
            inside = {levels[j] for j in range(a, b)}
            idx = sorted((i for i in groups[key] if cost[i] in inside), key=lambda i: (cost[i], i))
            buckets += [idx[s:s + max_members] for s in range(0, len(idx), max_members)]
    return buckets


class _BatchedRun:
    """Training state of one bucket trained as a stack."""

    def __init__(self, members, datas, cfg: TrainConfig, device, init: bool = True):
        self.members, self.cfg, self.device = members, cfg, device
        d0 = datas[members[0].data]
        self.stack = _Stack(members, d0.d, d0.n_classes, device, init=init)
        self.d_in = d0.d
        self.M, self.n = len(members), d0.n_train
        uniq: dict[int, int] = {}
        xs = []
        for m in members:  # share X tensors between members that share them
            key = id(datas[m.data].X_train)
            if key not in uniq:
                uniq[key] = len(xs)
                xs.append(datas[m.data].X_train)
        self.Xs = torch.stack(xs).to(device)  # (U, n, d)
        self.u = torch.tensor([uniq[id(datas[m.data].X_train)] for m in members], device=device)
        self.Y = torch.stack([datas[m.data].y_train for m in members]).to(device)  # (M, n)
        uniq_t: dict[int, int] = {}
        xts = []
        for m in members:
            key = id(datas[m.data].X_test)
            if key not in uniq_t:
                uniq_t[key] = len(xts)
                xts.append(datas[m.data].X_test)
        self.Xt = torch.stack(xts).to(device)
        self.ut = torch.tensor([uniq_t[id(datas[m.data].X_test)] for m in members], device=device)
        self.Yt = torch.stack([datas[m.data].y_test for m in members]).to(device)
        self.rows = torch.arange(self.M, device=device)[:, None]
        self.opt = _make_optimizer(self.stack.params, cfg)
        self.gens = [torch.Generator().manual_seed(m.seed + _ORDER_SEED_OFFSET) for m in members]
        self.alive = torch.ones(self.M, dtype=torch.bool, device=device)

    def epoch_indices(self) -> list[torch.Tensor]:
        B = self.cfg.batch_size
        if B == 0 or B >= self.n:
            return [torch.arange(self.n, device=self.device).expand(self.M, self.n)]
        perms = torch.stack([torch.randperm(self.n, generator=g) for g in self.gens]).to(self.device)
        return list(perms.split(B, dim=1))

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs (M, B, d) and labels (M, B) of batch indices idx (M, B), each member from
        its own training set (``index_select`` on the flattened sets: faster than
        advanced indexing)."""
        flat = (self.u[:, None] * self.n + idx).reshape(-1)
        Xb = self.Xs.reshape(-1, self.Xs.shape[-1]).index_select(0, flat).view(*idx.shape, -1)
        return Xb, torch.gather(self.Y, 1, idx)

    def step(self, idx: torch.Tensor) -> torch.Tensor:
        """One optimizer step on batch indices idx (M, B); returns per-member losses (M,)."""
        Xb, yb = self.batch(idx)
        per = F.cross_entropy(self.stack.logits_t(Xb), yb, reduction="none").mean(1)
        self.opt.zero_grad(set_to_none=False)
        per.sum().backward()
        self.stack.mask_grads()
        self.opt.step()
        return per.detach()

    @torch.no_grad()
    def evaluate(self, chunk: int | None = None):
        """Per-member (train_loss, train_err, test_loss, test_err), and test probs (M, n, C).

        ``chunk`` examples per forward; by default about 4 M hidden activations per chunk
        over all members, so wide stacks stay in cache instead of streaming memory.
        """
        if chunk is None:
            width = self.stack.width * (self.d_in if self.stack.arch == "cnn" else 1)
            chunk = int(min(2048, max(64, 2 ** 22 // (self.M * width * self.stack.depth))))
        res = []
        probs = None
        for X, u, Y in ((self.Xs, self.u, self.Y), (self.Xt, self.ut, self.Yt)):
            n = Y.shape[1]
            loss = torch.zeros(self.M, device=self.device)
            err = torch.zeros(self.M, device=self.device)
            ps = []
            for s in range(0, n, chunk):
                out = self.stack.logits_t(X[u, s:s + chunk])  # (M, C, b)
                yb = Y[:, s:s + chunk]
                loss += F.cross_entropy(out, yb, reduction="none").sum(1)
                err += (out.argmax(1) != yb).sum(1)
                ps.append(out.softmax(1).transpose(1, 2))
            res += [(loss / n).cpu().numpy(), (err / n).cpu().numpy()]
            probs = torch.cat(ps, 1)
        return res, probs

    @torch.no_grad()
    def kill(self, i: int) -> None:
        """Freeze diverged member i: zero its parameters, optimizer state and masks."""
        self.alive[i] = False
        for j, prm in enumerate(self.stack.params):
            prm[i] = 0
            if self.stack.masks[j] is None:
                self.stack.masks[j] = torch.ones_like(prm)
            self.stack.masks[j][i] = 0
            for v in self.opt.state.get(prm, {}).values():
                if torch.is_tensor(v) and v.ndim > 0 and v.shape[0] == self.M:
                    v[i] = 0


def _probe(members, datas, cfg, device, steps: int = 3, loop_sample: int = 3,
           repeats: int = 3) -> tuple[float, float]:
    """Seconds per optimizer step: batched stack of all members vs the per-model loop.

    The loop time is measured on up to ``loop_sample`` members spread over the bucket
    and scaled to all of them. Batched and loop timings are interleaved up to
    ``repeats`` times (fewer when one is more than twice as fast) and the fastest of
    each is kept, so a burst of load on a shared machine does not decide. Uses
    throw-away parameters; no member state is touched.
    """
    n = datas[members[0].data].n_train
    B = cfg.batch_size if 0 < cfg.batch_size < n else n
    run = _BatchedRun(members, datas, cfg, device, init=False)
    idx = torch.randint(0, run.n, (run.M, B), device=device)
    picks = sorted({round(k * (len(members) - 1) / max(1, loop_sample - 1)) for k in range(loop_sample)})
    loops = []
    for k in picks:
        m = members[k]
        data = datas[m.data]
        model = make_model(m, data.d, data.n_classes, device)
        X = data.X_train.to(device)[idx[0]]
        y = data.y_train.to(device)[idx[0]]
        loops.append((model, _make_optimizer(list(model.parameters()), cfg), X, y))

    def sync():
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize(device)

    def time_batched():
        sync()
        t = time.perf_counter()
        for _ in range(steps):
            run.step(idx)
        sync()
        return (time.perf_counter() - t) / steps

    def time_loop():
        total = 0.0
        for model, opt, X, y in loops:
            sync()
            t = time.perf_counter()
            for _ in range(steps):
                loss = F.cross_entropy(model(X), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
            sync()
            total += (time.perf_counter() - t) / steps
        return total * len(members) / len(picks)

    run.step(idx)  # warm-up
    time_loop()
    tb, tl = [], []
    for _ in range(repeats):
        tb.append(time_batched())
        tl.append(time_loop())
        if max(min(tb), min(tl)) > 2 * min(min(tb), min(tl)):
            break  # a clear winner: more repeats would only cost time
    return min(tb), min(tl)


def _probe_threads(members, datas, cfg, device) -> tuple[float, float, int]:
    """:func:`_probe` at the current CPU thread count and, if that is > 1, at one thread.

    Small kernels gain little from threads, and on a machine shared with other jobs an
    OpenMP team waiting on a descheduled thread can make a step 10-30x slower (measured
    here: 46 ms vs 1.6 ms). Returns (batched s, loop s, threads); more threads are kept
    only when their faster mode beats one thread's by 30 %.
    """
    n = torch.get_num_threads()
    tb, tl = _probe(members, datas, cfg, device)
    if torch.device(device).type != "cpu" or n == 1:
        return tb, tl, n
    with _threads(1):
        tb1, tl1 = _probe(members, datas, cfg, device)
    # more threads only when clearly faster: the probe is a snapshot of a machine whose
    # load changes, and a team of threads degrades far worse under load than one thread
    return (tb, tl, n) if min(tb, tl) < 0.7 * min(tb1, tl1) else (tb1, tl1, 1)


class _threads:
    """Context manager: run with ``n`` torch CPU threads, then restore the old count."""

    def __init__(self, n: int):
        self.n, self.old = n, torch.get_num_threads()

    def __enter__(self):
        if self.n != self.old:
            torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        if torch.get_num_threads() != self.old:
            torch.set_num_threads(self.old)
        return False


def choose_mode(t_batched: float, t_loop: float) -> str:
    """``"batched"`` when the probe's batched step is faster than the loop, else ``"loop"``.

    Introduced in: Chapter 3
    """
    return "batched" if t_batched < t_loop else "loop"


def _stack_bytes(members, datas, cfg) -> float:
    """Rough peak memory of a batched bucket: parameters x 4 (grad, 2 Adam moments)
    plus activations of one batch and of one evaluation chunk."""
    d0 = datas[members[0].data]
    widest = max(members, key=lambda m: m.width)
    n_par = sum(p.numel() for p in init_params(dataclasses.replace(widest, seed=0), d0.d, d0.n_classes))
    B = cfg.batch_size if cfg.batch_size else d0.n_train
    act = max(B, min(2048, max(d0.n_train, len(d0.X_test)))) * widest.width * widest.depth * 3
    if widest.arch == "cnn":
        act *= d0.d
    return 4.0 * len(members) * (4 * n_par + act)


def train_ensemble(members: Sequence[Member], datas: TrainData | Sequence[TrainData],
                   cfg: TrainConfig, *, device: torch.device | str = "cpu", mode: str = "auto",
                   bucket_overhead: float | None = None, max_members: int = 512,
                   memory_budget: float | None = None,
                   keep_probs: bool = False, log: Callable[[str], None] | None = _stderr,
                   progress_every: float = 15.0, probe_min_steps: int = 200,
                   keep_params: bool = False) -> EnsembleResult:
    """Train every member (grid of widths x seeds x data sets) as few batched computations.

    Members are grouped into buckets (same architecture, depth and training-set size;
    similar cost, see ``bucket_overhead``). Each bucket is trained as one stack of zero-padded,
    masked members, or by a per-model loop when that is faster: with ``mode="auto"`` a
    bucket of one member, or one whose estimated memory exceeds ``memory_budget`` bytes,
    takes the loop; otherwise a timed probe of a few steps decides (:func:`choose_mode`).
    Every decision is logged. Each member's result equals training its
    :func:`make_model` network alone with :func:`train_model` (same seed) up to
    floating-point rounding.

    Parameters
    ----------
    members : sequence of Member, length M
    datas : TrainData or sequence of TrainData (``Member.data`` indexes it)
    cfg : TrainConfig
    device : device to train on
    mode : "auto" | "batched" | "loop"
    bucket_overhead : fixed per-step cost of one stack, in forward FLOPs per example (see
        ``_bucket``); None: 3e4 on the CPU (about one member of width 300), 1e6 on CUDA,
        where launches dominate. A huge value puts every compatible member in one stack.
    max_members : most members per bucket
    memory_budget : bytes a batched bucket may use (estimate) before falling back to the
        loop; None: half the free GPU memory on CUDA, 4 GB on the CPU
    keep_probs : return the final softmax test outputs, shape (M, n_test, C)
    log : where decision/progress lines go (stderr by default; None for silence)
    progress_every : seconds between progress lines within a bucket
    probe_min_steps : a bucket trained for fewer optimizer steps than this skips the probe
        and is batched (the probe would cost more than it could save)
    keep_params : return each member's trained parameters (``EnsembleResult.params``)

    Returns
    -------
    EnsembleResult (members in the given order)

    Introduced in: Chapter 3
    """
    check_choice("mode", mode, MODES)
    datas = [datas] if isinstance(datas, TrainData) else list(datas)
    members = list(members)
    if not members:
        raise ValueError("members is empty; give at least one Member")
    for m in members:
        if m.data >= len(datas):
            raise ValueError(f"member {m.label()} has data={m.data} but only {len(datas)} data sets")
    device = torch.device(device)
    if memory_budget is None:
        memory_budget = (0.5 * torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else 4e9)
    say = log or (lambda s: None)
    evals = _eval_epochs(cfg)
    M = len(members)
    curves = {k: np.full((M, len(evals)), np.nan) for k in CURVES}
    n_test = len(datas[0].X_test)
    probs = np.full((M, n_test, datas[0].n_classes), np.nan, dtype=np.float32) if keep_probs else None
    modes = [""] * M
    diverged: dict[str, int] = {}
    lines: list[str] = []
    params_out = [None] * M if keep_params else None

    def note(s: str):
        lines.append(s)
        say(s)

    t_start = time.perf_counter()
    if bucket_overhead is None:
        bucket_overhead = 1e6 if device.type == "cuda" else 3e4
    buckets = (_bucket(members, datas, bucket_overhead, max_members) if mode != "loop"
               else [[i] for i in range(M)])
    if mode == "loop":
        note(f"engine: mode=loop for all {M} members")
    threads_before = torch.get_num_threads()  # a probe may pick 1 thread for a bucket
    try:
        for b, idx in enumerate(buckets):
            n_threads = threads_before
            bm = [members[i] for i in idx]
            widths = sorted({m.width for m in bm})
            desc = f"bucket {b + 1}/{len(buckets)} ({len(bm)} {bm[0].arch} members, width {widths[0]}-{widths[-1]})"
            if mode == "loop" or len(bm) == 1:
                choice = "loop"
            elif mode == "batched":
                choice = "batched"
            elif _stack_bytes(bm, datas, cfg) > memory_budget:
                choice = "loop"
                note(f"engine: {desc}: estimated {_stack_bytes(bm, datas, cfg) / 1e9:.2f} GB "
                     f"> memory_budget {memory_budget / 1e9:.2f} GB -> loop")
            elif cfg.epochs * _steps_per_epoch(datas[bm[0].data].n_train, cfg.batch_size) < probe_min_steps:
                choice = "batched"
                note(f"engine: {desc}: short run (< {probe_min_steps} steps), batched without a probe")
            else:
                tb, tl, n_threads = _probe_threads(bm, datas, cfg, device)
                choice = choose_mode(tb, tl)
                note(f"engine: {desc}: probe batched {tb * 1e3:.2f} ms/step vs loop "
                     f"{tl * 1e3:.2f} ms/step -> {choice}"
                     + (f" ({n_threads} CPU thread{'s' if n_threads > 1 else ''})" if device.type == "cpu" else ""))
            if mode != "loop" and len(bm) > 1 and choice == "batched" and mode == "batched":
                note(f"engine: {desc}: batched (forced)")
            for i in idx:
                modes[i] = choice
            if torch.get_num_threads() != n_threads:
                torch.set_num_threads(n_threads)  # restored after the last bucket
            if choice == "loop":
                for i in idx:
                    m = members[i]
                    data = datas[m.data]
                    model = make_model(m, data.d, data.n_classes, device)
                    r = train_model(model, data, cfg,
                                    seed=m.seed, device=device, label=m.label(), keep_probs=keep_probs)
                    if keep_params:
                        params_out[i] = model_params(model, m)
                    for k in CURVES:
                        curves[k][i] = r.curves[k][0]
                    if keep_probs and r.test_probs is not None:
                        probs[i] = r.test_probs[0]
                    diverged.update(r.diverged)
                continue
            run = _BatchedRun(bm, datas, cfg, device)
            alive = np.ones(len(bm), dtype=bool)

            def record(j):
                vals, p = run.evaluate()
                for k, v in zip(CURVES, vals):
                    curves[k][idx, j] = np.where(alive, v, np.nan)
                if keep_probs:
                    probs[idx] = p.cpu().numpy()

            record(0)
            t_b, t_last = time.perf_counter(), time.perf_counter()
            for epoch in range(1, cfg.epochs + 1):
                bad = torch.zeros(len(bm), dtype=torch.bool, device=device)
                for bidx in run.epoch_indices():
                    per = run.step(bidx)
                    bad |= ~torch.isfinite(per)
                bad_np = bad.cpu().numpy() & alive
                for j in np.flatnonzero(bad_np):
                    alive[j] = False
                    diverged[bm[j].label()] = epoch
                    run.kill(int(j))
                    note(f"diverged: {bm[j].label()} at epoch {epoch} (NaN/inf loss); member stopped")
                if epoch in evals:
                    record(evals.index(epoch))
                now = time.perf_counter()
                if now - t_last > progress_every:
                    el = now - t_b
                    say(f"{desc}: epoch {epoch}/{cfg.epochs}, elapsed {el:.0f} s, "
                        f"eta {el / epoch * (cfg.epochs - epoch):.0f} s")
                    t_last = now
            if keep_probs:
                for j in np.flatnonzero(~alive):
                    probs[idx[j]] = np.nan
            if keep_params:
                for j, i in enumerate(idx):
                    params_out[i] = [t.cpu() for t in run.stack.member_params(j, bm[j])]
    finally:
        if torch.get_num_threads() != threads_before:
            torch.set_num_threads(threads_before)
    seconds = time.perf_counter() - t_start
    return EnsembleResult(members, np.array(evals), curves, probs, diverged, modes, lines, seconds,
                          params_out)


# --------------------------------------------------------------------------- grids with a store


def member_key(member: Member, data: TrainData, cfg: TrainConfig, keep_probs: bool) -> str:
    """Result key of one member: hash of member, data key, training config (non-defaults)."""
    from ..engine.store import config_key
    if not data.key:
        raise ValueError("TrainData.key is empty; train_grid needs a key describing the data")
    return config_key({"member": dataclasses.replace(member, data=0, name=""), "data": data.key,
                       "train": cfg, "probs": keep_probs}, prefix=member.arch)


def train_grid(members: Sequence[Member], datas: TrainData | Sequence[TrainData], cfg: TrainConfig,
               *, store=None, device: torch.device | str = "cpu", chunk_size: int = 256,
               keep_probs: bool = False, log: Callable[[str], None] | None = _stderr,
               on_chunk: Callable[[int], None] | None = None, **engine) -> EnsembleResult:
    """Train a grid of members, saving each one's result as its chunk finishes; resume.

    Members already in ``store`` are loaded, not retrained. The others are trained in
    chunks: the engine's buckets (see :func:`train_ensemble`), cheapest first, each split
    to at most ``chunk_size`` members; after each chunk every member is saved under
    :func:`member_key` and a progress line ``points k/N, elapsed s, eta s`` is logged.

    Parameters
    ----------
    members, datas, cfg, device, keep_probs, log : as in :func:`train_ensemble`
    store : ResultStore or None (None: train everything, save nothing)
    chunk_size : members per chunk (the unit of resumption)
    on_chunk : called with the number of chunks done after each one (tests use it to
        simulate an interruption)
    **engine : further keyword arguments for :func:`train_ensemble` (mode, bucket_overhead, ...)

    Returns
    -------
    EnsembleResult with all members in the given order (``modes`` is "stored" for loaded ones)

    Introduced in: Chapter 3
    """
    datas = [datas] if isinstance(datas, TrainData) else list(datas)
    members = list(members)
    check_positive("chunk_size", chunk_size, integer=True)
    say = log or (lambda s: None)
    evals = _eval_epochs(cfg)
    M = len(members)
    curves = {k: np.full((M, len(evals)), np.nan) for k in CURVES}
    probs = None
    if keep_probs:
        probs = np.full((M, len(datas[0].X_test), datas[0].n_classes), np.nan, dtype=np.float32)
    modes, diverged, lines = ["stored"] * M, {}, []
    keys = [member_key(m, datas[m.data], cfg, keep_probs) if store is not None else "" for m in members]
    todo = []
    for i, m in enumerate(members):
        if store is not None and store.has(keys[i]):
            arrays, meta = store.load(keys[i])
            for k in CURVES:
                curves[k][i] = arrays[k]
            if keep_probs:
                probs[i] = arrays["test_probs"]
            if meta.get("diverged_epoch") is not None:
                diverged[m.label()] = meta["diverged_epoch"]
        else:
            todo.append(i)
    if store is not None:
        say(f"grid: {M - len(todo)}/{M} points loaded from {store.root}, {len(todo)} to train")
    d0 = datas[0]
    # chunks = the engine's own buckets (cheapest first), split to at most chunk_size
    dev = torch.device(device)
    overhead = engine.get("bucket_overhead") or (1e6 if dev.type == "cuda" else 3e4)
    sub = [members[i] for i in todo]
    buckets = _bucket(sub, datas, overhead, engine.get("max_members", 512)) if todo else []
    chunks = [[todo[j] for j in b[s:s + chunk_size]] for b in buckets for s in range(0, len(b), chunk_size)]
    chunks.sort(key=lambda ch: (max(_flops_per_example(members[i], d0.d, d0.n_classes) for i in ch), ch[0]))
    t0 = time.perf_counter()
    done_flops, total_flops = 0.0, sum(_flops_per_example(members[i], d0.d, d0.n_classes) + 2e4 for i in todo)
    for c, chunk in enumerate(chunks):
        r = train_ensemble([members[i] for i in chunk], datas, cfg, device=device,
                           keep_probs=keep_probs, log=log, **engine)
        lines += r.log
        for j, i in enumerate(chunk):
            for k in CURVES:
                curves[k][i] = r.curves[k][j]
            if keep_probs:
                probs[i] = r.test_probs[j]
            modes[i] = r.modes[j]
            lab = members[i].label()
            if lab in r.diverged:
                diverged[lab] = r.diverged[lab]
            if store is not None:
                arrays = {k: r.curves[k][j] for k in CURVES}
                arrays["epochs"] = r.epochs
                if keep_probs:
                    arrays["test_probs"] = r.test_probs[j]
                store.save(keys[i], arrays, {"member": dataclasses.asdict(members[i]), "data": datas[members[i].data].key,
                                             "train": dataclasses.asdict(cfg), "mode": r.modes[j],
                                             "diverged_epoch": r.diverged.get(lab)})
        done_flops += sum(_flops_per_example(members[i], d0.d, d0.n_classes) + 2e4 for i in chunk)
        el = time.perf_counter() - t0
        eta = el / done_flops * (total_flops - done_flops)
        say(f"points {M - len(todo) + sum(len(ch) for ch in chunks[:c + 1])}/{M}, "
            f"elapsed {el:.0f} s, eta {eta:.0f} s")
        if on_chunk is not None:
            on_chunk(c + 1)
    return EnsembleResult(members, np.array(evals), curves, probs, diverged, modes, lines,
                          time.perf_counter() - t0)
