"""The grid engine: many members (widths x depths x seeds x data sets) trained as few
stacked computations, each through the one loop :func:`overparam.engine.loop.fit`.

Public API (stable; other chapters build on it):

- :class:`Member` – one model of a grid: architecture, width, depth, seed, which data;
  ``member.spec(d, C)`` is its :class:`overparam.models.Arch`.
- :class:`TrainConfig` – optimizer, learning rate, epochs, batch size, evaluation period.
- :class:`TrainData` – one training set (its own labels, e.g. its own label noise) plus
  the test set; members point at one of a list of these by index.
- :func:`init_params` / :func:`make_model` – a member's initial parameters (model-family
  layout) and its standalone ``nn.Module`` (thin wrappers of :mod:`overparam.models`).
- :func:`train_ensemble` – trains many members at once. Members are grouped into buckets
  of similar cost (:mod:`~overparam.engine.plan`); a bucket is stacked along a leading
  dimension and trained as one batched computation (:mod:`~overparam.engine.stackrun`),
  mixed widths zero-padded and masked so each member trains exactly as its standalone
  network. Where batching is slower than the per-model loop (stacks of one member), a
  short timed probe picks the loop; the choice is logged.
- :func:`train_grid` – :func:`train_ensemble` plus a :class:`~overparam.engine.store.ResultStore`:
  each member's result is saved as soon as its chunk finishes under a key derived from
  its configuration and the engine's code fingerprint, so a killed run resumes, a
  finished grid is reloaded, and points stored by other code are retrained.

Exactness of the stacking: each member's loss enters the total as its own mean over its
own batch, so the gradient of the sum with respect to a member's parameters is that
member's own gradient; SGD, momentum and Adam update elementwise, so one optimizer over
stacked tensors equals one optimizer per member. A padded unit has zero incoming and
outgoing weights and its gradient is masked to zero, so it stays zero. Random streams:
a member's initialisation draws from its ``seed``, its batch order from
``config.seed_stream(seed, "order")``.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .. import config
from ..config import check_choice, check_positive
from ..models import Arch, init_member, to_module
from .distributed import BACKENDS, GridFailed, replace_engine_log, resolve_backend, run_chunks
from .optim import OPTIMIZERS
from .plan import (choose_mode, flops_per_example, make_buckets, probe_threads, stack_bytes,
                   training_flops)
from .stackrun import StackRun, eval_epochs, steps_per_epoch

ARCHS = ("mlp", "cnn")
MODES = ("auto", "batched", "loop")
CURVES = ("train_loss", "train_err", "test_loss", "test_err")


__all__ = ["Member", "TrainConfig", "TrainData", "EnsembleResult", "init_params", "make_model",
           "train_ensemble", "train_grid", "member_key", "training_flops",
           "choose_mode", "CURVES", "MODES", "BACKENDS", "GridFailed"]


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


# --------------------------------------------------------------------------- the engine


def _say(msg: str) -> None:
    config.log.info(msg)


def train_ensemble(members: Sequence[Member], datas: TrainData | Sequence[TrainData],
                   cfg: TrainConfig, *, device: torch.device | str = "cpu", mode: str = "auto",
                   bucket_overhead: float | None = None, max_members: int = 512,
                   memory_budget: float | None = None,
                   keep_probs: bool = False, log: Callable[[str], None] | None = _say,
                   progress_every: float = 15.0, probe_min_steps: int = 200,
                   keep_params: bool = False, backend="local") -> EnsembleResult:
    """Train every member (grid of widths x seeds x data sets) as few batched computations.

    Members are grouped into buckets (same architecture, depth and training-set size;
    similar cost, see ``bucket_overhead``). Each bucket is trained as one stack of
    zero-padded, masked members through :func:`~overparam.engine.loop.fit`, or member by
    member (stacks of one, the same code) when that is faster: with ``mode="auto"`` a
    bucket of one member, or one whose estimated memory exceeds ``memory_budget`` bytes,
    takes the loop; otherwise a timed probe of a few steps decides (:func:`choose_mode`).
    Every decision is logged. Each member's result equals training its
    :func:`make_model` network alone with ``torch.optim`` on its own batch order, up to
    floating-point rounding (tested).

    Parameters
    ----------
    members : sequence of Member, length M
    datas : TrainData or sequence of TrainData (``Member.data`` indexes it)
    cfg : TrainConfig
    device : device to train on
    mode : "auto" | "batched" | "loop"
    bucket_overhead : fixed per-step cost of one stack, in forward FLOPs per example (see
        :func:`~overparam.engine.plan.make_buckets`); None: 3e4 on the CPU (about one
        member of width 300), 1e6 on CUDA, where launches dominate. A huge value puts
        every compatible member in one stack.
    max_members : most members per bucket
    memory_budget : bytes a batched bucket may use (estimate) before falling back to the
        loop; None: half the free GPU memory on CUDA, 4 GB on the CPU
    keep_probs : return the final softmax test outputs, shape (M, n_test, C)
    log : where decision lines go (the book's logger by default; None for silence)
    progress_every : seconds between progress lines within a bucket
    probe_min_steps : a bucket trained for fewer optimizer steps than this skips the probe
        and is batched (the probe would cost more than it could save)
    keep_params : return each member's trained parameters (``EnsembleResult.params``)
    backend : "local" (this process) | "ray" | :class:`~overparam.engine.distributed.RayBackend`:
        each bucket becomes one Ray task running this function on a worker
        (:mod:`~overparam.engine.distributed`); a bucket that fails after its retries
        raises :class:`~overparam.engine.distributed.GridFailed` naming its members

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
    remote = resolve_backend(backend)
    if remote is not None:
        from .distributed import train_ensemble_ray
        return train_ensemble_ray(members, datas, cfg, device=device, backend=remote, log=log, engine=dict(
            mode=mode, bucket_overhead=bucket_overhead, max_members=max_members,
            memory_budget=memory_budget, keep_probs=keep_probs, progress_every=progress_every,
            probe_min_steps=probe_min_steps, keep_params=keep_params))
    if memory_budget is None:
        memory_budget = (0.5 * torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else 4e9)
    say = log or (lambda s: None)
    if log is None:
        progress_every = float("inf")
    evals = eval_epochs(cfg)
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

    def train_stack(idx: list[int], desc: str) -> None:
        bm = [members[i] for i in idx]
        run = StackRun(bm, datas, cfg, device)

        def on_eval(j, vals, p, alive):
            for k, v in zip(CURVES, vals):
                curves[k][idx, j] = np.where(alive, v, np.nan)
            if keep_probs and p is not None:
                probs[idx] = np.where(alive[:, None, None], p.cpu().numpy(), np.nan)

        def on_diverged(j, epoch):
            diverged[bm[j].label()] = epoch
            note(f"diverged: {bm[j].label()} at epoch {epoch} (NaN/inf loss); member stopped")

        run.train(evals, on_eval, on_diverged, label=desc, progress_every=progress_every,
                  want_probs=keep_probs)
        if keep_params:
            for j, i in enumerate(idx):
                params_out[i] = [t.cpu() for t in run.stack.member(j)]

    t_start = time.perf_counter()
    if bucket_overhead is None:
        bucket_overhead = 1e6 if device.type == "cuda" else 3e4
    buckets = (make_buckets(members, datas, bucket_overhead, max_members) if mode != "loop"
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
                note(f"engine: {desc}: batched (forced)")
            elif stack_bytes(bm, datas, cfg) > memory_budget:
                choice = "loop"
                note(f"engine: {desc}: estimated {stack_bytes(bm, datas, cfg) / 1e9:.2f} GB "
                     f"> memory_budget {memory_budget / 1e9:.2f} GB -> loop")
            elif cfg.epochs * steps_per_epoch(datas[bm[0].data].n_train, cfg.batch_size) < probe_min_steps:
                choice = "batched"
                note(f"engine: {desc}: short run (< {probe_min_steps} steps), batched without a probe")
            else:
                tb, tl, n_threads = probe_threads(bm, datas, cfg, device)
                choice = choose_mode(tb, tl)
                note(f"engine: {desc}: probe batched {tb * 1e3:.2f} ms/step vs loop "
                     f"{tl * 1e3:.2f} ms/step -> {choice}"
                     + (f" ({n_threads} CPU thread{'s' if n_threads > 1 else ''})" if device.type == "cpu" else ""))
            for i in idx:
                modes[i] = choice
            if torch.get_num_threads() != n_threads:
                torch.set_num_threads(n_threads)  # restored after the last bucket
            if choice == "loop":
                for i in idx:
                    train_stack([i], members[i].label())
            else:
                train_stack(idx, desc)
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
               keep_probs: bool = False, log: Callable[[str], None] | None = _say,
               on_chunk: Callable[[int], None] | None = None, backend="local",
               **engine) -> EnsembleResult:
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
    backend : "local" | "ray" | :class:`~overparam.engine.distributed.RayBackend`: with Ray,
        each chunk is one task on a worker (the same :func:`train_ensemble` call, so the
        same numbers) and is saved here as it comes back; chunks that fail after their
        retries are logged with their points, the others are saved, then
        :class:`~overparam.engine.distributed.GridFailed` is raised naming the failed
        points (run again to train only those)
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
    evals = eval_epochs(cfg)
    M = len(members)
    curves = {k: np.full((M, len(evals)), np.nan) for k in CURVES}
    probs = None
    if keep_probs:
        probs = np.full((M, len(datas[0].X_test), datas[0].n_classes), np.nan, dtype=np.float32)
    modes, diverged, lines = ["stored"] * M, {}, []
    keys = [member_key(m, datas[m.data], cfg, keep_probs) if store is not None else "" for m in members]
    todo = []
    for i, m in enumerate(members):
        got = store.get(keys[i]) if store is not None else None  # None: absent, stale or corrupt
        if got is not None:
            arrays, meta = got
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
    buckets = make_buckets(sub, datas, overhead, engine.get("max_members", 512)) if todo else []
    chunks = [[todo[j] for j in b[s:s + chunk_size]] for b in buckets for s in range(0, len(b), chunk_size)]
    chunks.sort(key=lambda ch: (max(flops_per_example(members[i], d0.d, d0.n_classes) for i in ch), ch[0]))
    t0 = time.perf_counter()
    total_flops = sum(flops_per_example(members[i], d0.d, d0.n_classes) + 2e4 for i in todo)
    remote = resolve_backend(backend)  # checked before any training
    state = {"flops": 0.0, "points": M - len(todo), "chunks": 0}

    def absorb(c: int, chunk: list[int], r: EnsembleResult) -> None:
        """Take one trained chunk into the result and the store; log progress."""
        lines.extend(r.log)
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
        state["flops"] += sum(flops_per_example(members[i], d0.d, d0.n_classes) + 2e4 for i in chunk)
        state["points"] += len(chunk)
        state["chunks"] += 1
        el = time.perf_counter() - t0
        eta = el / state["flops"] * (total_flops - state["flops"])
        say(f"points {state['points']}/{M}, elapsed {el:.0f} s, eta {eta:.0f} s")
        if on_chunk is not None:
            on_chunk(state["chunks"])

    if remote is None:
        for c, chunk in enumerate(chunks):
            absorb(c, chunk, train_ensemble([members[i] for i in chunk], datas, cfg, device=device,
                                            keep_probs=keep_probs, log=log, **engine))
    elif chunks:
        failures = run_chunks(chunks, members, datas, cfg, device=device, backend=remote,
                              engine=replace_engine_log({**engine, "keep_probs": keep_probs}, log),
                              on_result=absorb, log=say)
        if failures:
            raise GridFailed(failures, saved=store is not None)
    return EnsembleResult(members, np.array(evals), curves, probs, diverged, modes, lines,
                          time.perf_counter() - t0)
