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
from typing import Callable, Sequence

import numpy as np
import torch

from ..config import check_choice, check_positive
from .distributed import (BACKENDS, GridFailed, replace_engine_log, resolve_backend, run_chunks,
                          train_ensemble_ray)
from .grid import (ARCHS, CURVES, MODES, EnsembleResult, Member, TrainConfig, TrainData,  # noqa: F401
                   init_params, make_model, member_key, say, steps_per_epoch)
from .loop import Plateau, TargetError  # noqa: F401 (criteria of TrainConfig)
from .plan import (BUCKETING, batching_pays, buckets_for, choose_mode, flops_per_example, probe_threads, stack_bytes,
                   training_flops)
from .stackrun import StackRun

__all__ = ["Member", "TrainConfig", "TrainData", "EnsembleResult", "init_params", "make_model",
           "train_ensemble", "train_grid", "member_key", "training_flops",
           "choose_mode", "CURVES", "MODES", "BACKENDS", "GridFailed", "Plateau", "TargetError"]


# --------------------------------------------------------------------------- configs


def train_ensemble(members: Sequence[Member], datas: TrainData | Sequence[TrainData],
                   cfg: TrainConfig, *, device: torch.device | str = "cpu", mode: str = "auto",
                   bucket_overhead: float | None = None, max_members: int = 512,
                   cache_bytes: float | None = None,
                   memory_budget: float | None = None,
                   keep_probs: bool = False, log: Callable[[str], None] | None = say,
                   progress_every: float = 15.0, probe_min_steps: int = 200,
                   keep_params: bool = False, backend="local") -> EnsembleResult:
    """Train every member (grid of widths x seeds x data sets) as few batched computations.

    Members are grouped into buckets (same architecture, depth and training-set size;
    similar cost, see ``bucket_overhead``). Each bucket is trained as one stack of
    zero-padded, masked members through :func:`~overparam.engine.loop.fit`, or member by
    member (stacks of one, the same code) when that is faster: with ``mode="auto"`` a
    bucket of one member, or one whose estimated memory exceeds ``memory_budget`` bytes,
    takes the loop; a run shorter than ``probe_min_steps`` is decided by a cost model of the
    members' shapes; otherwise a timed probe of a few steps decides (:func:`choose_mode`).
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
    cache_bytes : activation bytes of one step a stack may touch (a bucket is cut into
        stacks that fit; see :func:`~overparam.engine.plan.buckets_for`); None: 4 MB on the
        CPU, no limit on CUDA
    memory_budget : bytes a batched bucket may use (estimate) before falling back to the
        loop; None: half the free GPU memory on CUDA, 4 GB on the CPU
    keep_probs : return the final softmax test outputs, shape (M, n_test, C)
    log : where decision lines go (the book's logger by default; None for silence)
    progress_every : seconds between progress lines within a bucket
    probe_min_steps : a bucket trained for fewer optimizer steps than this skips the probe
        (it would cost more than it could save) and is decided by the cost model
        :func:`~overparam.engine.plan.batching_pays`
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
    if remote is not None:  # each bucket a task running this function (local) on a worker
        return train_ensemble_ray(members, datas, cfg, train=train_ensemble, device=device, backend=remote,
                                  log=log, engine=dict(
            mode=mode, bucket_overhead=bucket_overhead, max_members=max_members, cache_bytes=cache_bytes,
            memory_budget=memory_budget, keep_probs=keep_probs, progress_every=progress_every,
            probe_min_steps=probe_min_steps, keep_params=keep_params))
    if memory_budget is None:
        memory_budget = (0.5 * torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else 4e9)
    say = log or (lambda s: None)
    if log is None:
        progress_every = float("inf")
    M = len(members)
    shape = dict(n_test=len(datas[0].X_test), n_classes=datas[0].n_classes, keep_probs=keep_probs,
                 keep_params=keep_params)
    out = EnsembleResult.blank(members, cfg, **shape)
    evals = list(out.epochs)

    def note(s: str):
        out.log.append(s)
        say(s)

    def train_stack(idx: list[int], desc: str, mode: str) -> None:
        bm = [members[i] for i in idx]
        run = StackRun(bm, datas, cfg, device)
        part = EnsembleResult.blank(bm, cfg, **shape)
        part.modes = [mode] * len(bm)

        def on_eval(j, vals, p, alive):
            for k, v in zip(CURVES, vals):
                part.curves[k][:, j] = np.where(alive, v, np.nan)
            if keep_probs and p is not None:
                part.test_probs[:] = np.where(alive[:, None, None], p.cpu().numpy(), np.nan)

        def on_diverged(j, epoch):
            part.diverged[bm[j].label()] = epoch
            note(f"diverged: {bm[j].label()} at epoch {epoch} (NaN/inf loss); member stopped")

        res = run.train(evals, on_eval, on_diverged, label=desc, progress_every=progress_every,
                        want_probs=keep_probs)
        part.steps[:], part.met[:] = res.taken, res.state.met
        if keep_params:
            part.params = [[t.cpu() for t in run.stack.member(j)] for j in range(len(bm))]
        out.put(idx, part, log=False)

    t_start = time.perf_counter()
    buckets = buckets_for(members, datas, cfg, device, mode=mode, bucket_overhead=bucket_overhead,
                          max_members=max_members, cache_bytes=cache_bytes)
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
                choice = "batched" if batching_pays(bm, datas, cfg, device) else "loop"
                note(f"engine: {desc}: short run (< {probe_min_steps} steps), no probe; cost model -> {choice}")
            else:
                tb, tl, n_threads = probe_threads(bm, datas, cfg, device)
                choice = choose_mode(tb, tl)
                note(f"engine: {desc}: probe batched {tb * 1e3:.2f} ms/step vs loop "
                     f"{tl * 1e3:.2f} ms/step -> {choice}"
                     + (f" ({n_threads} CPU thread{'s' if n_threads > 1 else ''})" if device.type == "cpu" else ""))
            if torch.get_num_threads() != n_threads:
                torch.set_num_threads(n_threads)  # restored after the last bucket
            if choice == "loop":
                for i in idx:
                    train_stack([i], members[i].label(), choice)
            else:
                train_stack(idx, desc, choice)
    finally:
        if torch.get_num_threads() != threads_before:
            torch.set_num_threads(threads_before)
    out.seconds = time.perf_counter() - t_start
    return out


# --------------------------------------------------------------------------- grids with a store


def train_grid(members: Sequence[Member], datas: TrainData | Sequence[TrainData], cfg: TrainConfig,
               *, store=None, device: torch.device | str = "cpu", chunk_size: int = 256,
               keep_probs: bool = False, log: Callable[[str], None] | None = say,
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
    keep_params (in ``engine``) : also store and return each member's trained parameters; a
        stored point saved without them is retrained
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
    M = len(members)
    keep_params = bool(engine.get("keep_params"))
    out = EnsembleResult.blank(members, cfg, len(datas[0].X_test), datas[0].n_classes, keep_probs,
                               keep_params)
    out.modes = ["stored"] * M
    keys = [member_key(m, datas[m.data], cfg, keep_probs) if store is not None else "" for m in members]
    todo = []
    for i, m in enumerate(members):
        got = store.get(keys[i]) if store is not None else None  # None: absent, stale or corrupt
        if got is not None and keep_params and "param_0" not in got[0]:
            got = None  # stored without its parameters: retrained to have them
        if got is not None:
            arrays, meta = got
            for k in CURVES:
                out.curves[k][i] = arrays[k]
            if keep_probs:
                out.test_probs[i] = arrays["test_probs"]
            if keep_params:
                out.params[i] = [torch.from_numpy(arrays[f"param_{k}"]) for k in range(len(arrays))
                                 if f"param_{k}" in arrays]
            if meta.get("diverged_epoch") is not None:
                out.diverged[m.label()] = meta["diverged_epoch"]
            out.steps[i], out.met[i] = meta.get("steps", -1), meta.get("met", False)
        else:
            todo.append(i)
    if store is not None:
        say(f"grid: {M - len(todo)}/{M} points loaded from {store.root}, {len(todo)} to train")
    d0 = datas[0]
    # chunks = the engine's own buckets (cheapest first), split to at most chunk_size
    sub = [members[i] for i in todo]
    how = {k: engine[k] for k in BUCKETING if k in engine and k != "mode"}  # chunks: buckets whatever the mode
    buckets = buckets_for(sub, datas, cfg, device, **how) if todo else []
    chunks = [[todo[j] for j in b[s:s + chunk_size]] for b in buckets for s in range(0, len(b), chunk_size)]
    chunks.sort(key=lambda ch: (max(flops_per_example(members[i], d0.d, d0.n_classes) for i in ch), ch[0]))
    t0 = time.perf_counter()
    total_flops = sum(flops_per_example(members[i], d0.d, d0.n_classes) + 2e4 for i in todo)
    remote = resolve_backend(backend)  # checked before any training
    state = {"flops": 0.0, "points": M - len(todo), "chunks": 0}

    def absorb(c: int, chunk: list[int], r: EnsembleResult) -> None:
        """Take one trained chunk into the result and the store; log progress."""
        out.put(chunk, r)
        for j, i in enumerate(chunk):
            lab = members[i].label()
            if store is not None:
                arrays = {k: r.curves[k][j] for k in CURVES}
                arrays["epochs"] = r.epochs
                if keep_probs:
                    arrays["test_probs"] = r.test_probs[j]
                if keep_params:
                    arrays.update({f"param_{k}": t.numpy() for k, t in enumerate(r.params[j])})
                store.save(keys[i], arrays, {"member": dataclasses.asdict(members[i]), "data": datas[members[i].data].key,
                                             "train": dataclasses.asdict(cfg), "mode": r.modes[j],
                                             "diverged_epoch": r.diverged.get(lab),
                                             "steps": int(r.steps[j]), "met": bool(r.met[j])})
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
        failures = run_chunks(chunks, members, datas, cfg, train=train_ensemble, device=device, backend=remote,
                              engine=replace_engine_log({**engine, "keep_probs": keep_probs}, log),
                              on_result=absorb, log=say)
        if failures:
            raise GridFailed(failures, saved=store is not None)
    out.seconds = time.perf_counter() - t0
    return out
