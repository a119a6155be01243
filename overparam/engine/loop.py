"""The one training loop of the book: :func:`fit`.

Every training in the package, a stack of thousands of tiny members or one network,
goes through :func:`fit`. A model is a list of parameter tensors whose leading dimension
indexes the members of a stack (M = 1 for a single network); the caller supplies a
loss that returns one value per member. Because each member's loss enters the total as
its own term, the gradient of the sum with respect to a member's parameters is that
member's own gradient, and elementwise optimizers then update every member exactly as
if it trained alone.

The loop has the hooks the chapters need:

- ``grad_masks``: per-tensor 0/1 masks multiplied into the gradients (pruned weights,
  padding of narrower members in a stack); masked entries never move.
- ``active``: per-member "take this step" (the AND rule of chapter 1); needs a
  :class:`~overparam.engine.optim.StackedOptimizer`, whose skipped members keep their
  moments and step counts untouched.
- ``penalties``: extra per-member loss terms of the parameters (size penalties, gate
  penalties), added to the data loss.
- ``callbacks``: called after every step with the :class:`FitState`: evaluation,
  snapshots for rewinding (:class:`Snapshots`), unit removal (a callback may replace
  ``state.params`` and ``state.optimizer``), early stopping (``state.stop = True``).
- a NaN guard: members whose loss is not finite are frozen (parameters and optimizer
  state zeroed, no further updates) or the run raises, checked every ``guard_every``
  steps and at the end.
- progress lines on stderr for long runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from ..config import Progress, check_choice, check_positive
from .optim import StackedOptimizer

GUARDS = ("freeze", "raise", "off")

Loss = Callable[[list[torch.Tensor], Any], torch.Tensor]


@dataclass
class FitState:
    """What a callback sees (and may change) after each optimizer step.

    ``params`` and ``optimizer`` may be replaced (e.g. after removing units); the loop
    reads them again before the next step. Setting ``stop`` ends the run.
    """

    params: list[torch.Tensor]
    optimizer: Any
    step: int = 0
    steps: int = 0
    loss: torch.Tensor | None = None      # per-member data loss of the last batch (M,)
    batch: Any = None                     # the last batch, as the batch source gave it
    alive: torch.Tensor | None = None     # (M,) bool: False once the NaN guard froze a member
    taken: torch.Tensor | None = None     # (M,) number of steps each member took
    stop: bool = False
    info: dict = field(default_factory=dict)

    @property
    def n_members(self) -> int:
        return self.params[0].shape[0]


@dataclass
class FitResult:
    """The outcome of :func:`fit`: final parameters (detached), steps taken, frozen members."""

    params: list[torch.Tensor]
    taken: np.ndarray        # (M,) optimizer steps each member took
    diverged: np.ndarray     # (M,) bool: frozen by the NaN guard
    steps: int               # loop iterations run (fewer than asked when a callback stopped it)
    info: dict


class Snapshots:
    """Callback that keeps copies of the parameters at given steps (0 = the start).

    ``snaps[step]`` is a list of CPU tensors, as :func:`fit` held them at that step;
    used for late resetting (rewinding) and for instability experiments.
    """

    def __init__(self, steps: Iterable[int]):
        self.want = {int(s) for s in steps}
        self.snaps: dict[int, list[torch.Tensor]] = {}

    def take(self, params: Sequence[torch.Tensor], step: int) -> None:
        if step in self.want:
            self.snaps[step] = [p.detach().cpu().clone() for p in params]

    def __call__(self, state: FitState) -> None:
        self.take(state.params, state.step)


class Every:
    """Callback that calls ``fn(state)`` at the given steps (e.g. evaluation points)."""

    def __init__(self, steps: Iterable[int], fn: Callable[[FitState], None]):
        self.steps, self.fn = {int(s) for s in steps}, fn

    def __call__(self, state: FitState) -> None:
        if state.step in self.steps:
            self.fn(state)


def _is_stacked(opt) -> bool:
    return isinstance(opt, StackedOptimizer)


@torch.no_grad()
def freeze_members(state: FitState, dead: torch.Tensor) -> None:
    """Zero the parameters and optimizer state of members ``dead`` (bool (M,)) for good.

    Their gradients are masked from then on (see :func:`fit`), so they stay zero.
    """
    idx = torch.nonzero(dead).flatten()
    if not len(idx):
        return
    state.alive[idx] = False
    for p in state.params:
        p[idx] = 0
    opt = state.optimizer
    if _is_stacked(opt):
        opt.reset_members(idx)
    else:
        for st in opt.state.values():
            for v in st.values():
                if torch.is_tensor(v) and v.ndim > 0 and v.shape[0] == state.n_members:
                    v[idx] = 0


def fit(params: Sequence[torch.Tensor], loss: Loss, batches: Iterator | Callable[[int], Any],
        optimizer, steps: int, *, grad_masks: Sequence[torch.Tensor | None] | None = None,
        active: Callable[[Any], torch.Tensor] | None = None,
        penalties: Sequence[Callable[[list[torch.Tensor]], torch.Tensor]] = (),
        callbacks: Sequence[Callable[[FitState], None]] = (), nan_guard: str = "freeze",
        guard_every: int = 50, label: str = "train", progress_every: float = 15.0) -> FitResult:
    """Run ``steps`` optimizer steps on stacked parameters; the book's one training loop.

    Parameters
    ----------
    params : list of Tensor, each (M, ...)
        Leaf tensors with ``requires_grad=True``, updated in place.
    loss : callable
        ``loss(params, batch) -> Tensor (M,)``: each member's mean loss on its batch.
    batches : iterator or callable
        The batch source: ``next(batches)`` or ``batches(step)`` gives the batch of
        each step (per-member data, fresh samples, indices: whatever ``loss`` takes).
    optimizer : StackedOptimizer or torch.optim.Optimizer over ``params``
    steps : int
        Number of steps (0 runs only the callbacks' step-0 call).
    grad_masks : list (one per parameter tensor) of 0/1 tensors or None
    active : callable, optional
        ``active(batch) -> bool Tensor (M,)``: members that take this step.
    penalties : callables ``f(params) -> Tensor (M,)`` added to the loss
    callbacks : callables ``f(state)``, called once before the first step (step 0)
        and after every step
    nan_guard : "freeze" (default), "raise" or "off"
    guard_every : steps between NaN checks (each check synchronises a GPU)

    Returns
    -------
    FitResult

    Introduced in: the engine (every chapter trains through it)
    """
    check_positive("steps", steps, integer=True, allow_zero=True)
    check_choice("nan_guard", nan_guard, GUARDS)
    check_positive("guard_every", guard_every, integer=True)
    params = list(params)
    if active is not None and not _is_stacked(optimizer):
        raise ValueError("active= (per-member step skipping) needs a StackedOptimizer")
    M = params[0].shape[0]
    device = params[0].device
    state = FitState(params=params, optimizer=optimizer, steps=steps,
                     alive=torch.ones(M, dtype=torch.bool, device=device),
                     taken=torch.zeros(M, device=device))
    next_batch = batches if callable(batches) else (lambda _s, it=batches: next(it))
    masks = None if grad_masks is None else list(grad_masks)
    progress = Progress(label, steps, progress_every)
    adam_fixed = False
    for cb in callbacks:
        cb(state)

    # non-finite losses are detected from a running sum of the per-member losses (one
    # kernel per step, no synchronisation): NaN and inf survive a sum of losses
    acc = torch.zeros(M, device=device)
    plain = 0  # steps taken by every member, not yet added to state.taken (one kernel less per step)
    all_alive = True  # Python-side copy of state.alive.all(): no GPU sync per step

    def guard() -> None:
        nonlocal acc, all_alive
        if nan_guard == "off":
            return
        bad = ~torch.isfinite(acc)
        if not bool(bad.any()):
            return
        if nan_guard == "raise":
            who = torch.nonzero(bad).flatten()[:10].tolist()
            raise FloatingPointError(f"{label}: non-finite loss in members {who} at step {state.step}")
        freeze_members(state, bad & state.alive)
        acc = torch.zeros_like(acc)
        all_alive = bool(state.alive.all())

    for step in range(1, steps + 1):
        params, opt = state.params, state.optimizer
        batch = next_batch(step - 1)
        per = loss(params, batch)
        total = per.sum()
        for pen in penalties:
            total = total + pen(params).sum()
        if nan_guard != "off":
            acc += per.detach()
        take = None if active is None else active(batch)
        if not all_alive:
            take = state.alive if take is None else take & state.alive
        grads = _contiguous(torch.autograd.grad(total, params, allow_unused=True, materialize_grads=True))
        if masks is not None:  # fresh tensors from autograd: masked in place, no allocation
            for g, m in zip(grads, masks):
                if m is not None:
                    g.mul_(m)
        if _is_stacked(opt):
            opt.step(grads, take)
        else:
            if take is not None:  # frozen members: no gradient (weight decay off them too)
                keep = take.to(params[0].dtype)
                grads = [g * keep.reshape(-1, *([1] * (g.dim() - 1))) for g in grads]
            for p, g in zip(params, grads):  # the gradients of this step, no zeroing pass
                p.grad = g
            opt.step()
            if not adam_fixed and masks is not None:
                _positive_second_moment(opt, params, masks)
                adam_fixed = True
        if take is None:
            plain += 1  # added to state.taken when a callback or the end reads it
        else:
            state.taken += plain + take.to(state.taken.dtype)
            plain = 0
        state.step, state.loss, state.batch = step, per.detach(), batch
        if nan_guard != "off" and (step % guard_every == 0 or step == steps):
            guard()
        if callbacks and plain:
            state.taken += plain
            plain = 0
        for cb in callbacks:
            cb(state)
        progress.update(step)
        if state.stop:
            break
    guard()
    state.taken += plain
    return FitResult(params=[p.detach() for p in state.params],
                     taken=state.taken.cpu().numpy(), diverged=(~state.alive).cpu().numpy(),
                     steps=state.step, info=state.info)


def _contiguous(grads) -> list[torch.Tensor]:
    """Gradients in the parameters' (contiguous) layout. The family's forward yields
    transposed weight gradients (see :func:`overparam.models.forward`), and torch's fused
    optimizers silently misread a gradient whose strides differ from its parameter's."""
    return [g if g.is_contiguous() else g.contiguous() for g in grads]


@torch.no_grad()
def _positive_second_moment(opt, params, masks) -> None:
    """Adam keeps ``exp_avg_sq = 0`` at masked weights, and sqrt(0) is several times
    slower than sqrt of a normal number on common CPUs. A positive second moment there
    changes nothing: the first moment stays 0, so the update stays exactly 0."""
    for p, m in zip(params, masks):
        st = opt.state.get(p, {})
        if m is not None and "exp_avg_sq" in st:
            st["exp_avg_sq"].add_(1 - m)


def per_member_batches(n: int, batch_size: int, generators: Sequence[torch.Generator],
                       device: str | torch.device = "cpu", drop_last: bool = False) -> Iterator[torch.Tensor]:
    """Endless per-member mini-batch indices (M, B): each member its own shuffled epochs.

    Member i draws its permutations from ``generators[i]``; ``batch_size`` 0 or >= n
    gives the full set every step. ``drop_last`` drops a short last batch of an epoch.
    """
    M = len(generators)
    if batch_size == 0 or batch_size >= n:
        full = torch.arange(n, device=device).expand(M, n)
        while True:
            yield full
    while True:
        perms = torch.stack([torch.randperm(n, generator=g) for g in generators]).to(device)
        nb = n // batch_size if drop_last else -(-n // batch_size)
        for b in range(nb):
            yield perms[:, b * batch_size:(b + 1) * batch_size]
