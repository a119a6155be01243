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
- a stated stopping criterion (:class:`Plateau` of the training loss over a window, or a
  :class:`TargetError`): whether each member met it is recorded in the result's
  :class:`~overparam.adequacy.TrainState` (steps taken, final train loss and error, met);
  ``stop_when_met`` ends the run once every member met it (off by default).
- progress lines on stderr for long runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from ..adequacy import TrainState, plateaued
from ..config import Progress, check_choice, check_positive, keep_freed_memory
from .optim import StackedOptimizer, lean_step

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
    stop: bool = False
    info: dict = field(default_factory=dict)
    counted: torch.Tensor | None = None   # steps taken, less ``plain``
    plain: int = 0                        # steps every member took, not yet in ``counted``

    @property
    def taken(self) -> torch.Tensor:
        """(M,) number of steps each member took (no kernel per step for the common case)."""
        return self.counted + self.plain if self.plain else self.counted

    @property
    def n_members(self) -> int:
        return self.params[0].shape[0]


@dataclass
class FitResult:
    """The outcome of :func:`fit`: final parameters (detached), steps taken, frozen members,
    and each member's training state."""

    params: list[torch.Tensor]
    taken: np.ndarray        # (M,) optimizer steps each member took
    diverged: np.ndarray     # (M,) bool: frozen by the NaN guard
    steps: int               # loop iterations run (fewer than asked when a callback stopped it)
    info: dict
    state: TrainState | None = None   # steps taken, final train loss / error, criterion met


@dataclass(frozen=True)
class Plateau:
    """Stopping criterion: the training loss has reached a plateau.

    The per-step (mini-batch) losses are averaged over blocks of ``window`` steps; the
    criterion holds when the last block's mean is less than ``rel_tol`` below the mean of
    the block before (or already below 1e-4; :func:`overparam.adequacy.plateaued`).
    """

    window: int
    rel_tol: float = 0.01

    def __post_init__(self):
        check_positive("window", self.window, integer=True)
        check_positive("rel_tol", self.rel_tol)

    def describe(self) -> str:
        return f"train loss plateau: < {self.rel_tol:.0%} drop over the last {self.window} steps"


@dataclass(frozen=True)
class TargetError:
    """Stopping criterion: training error <= ``error`` (checked every ``every`` steps with
    ``stop_when_met``, and at the end; needs :func:`fit`'s ``train_error``)."""

    error: float
    every: int = 100

    def __post_init__(self):
        check_positive("error", self.error, allow_zero=True)
        check_positive("every", self.every, integer=True)

    def describe(self) -> str:
        return f"train error <= {self.error:g}"


def describe(criterion) -> str:
    """The criterion in words ("" for none)."""
    return "" if criterion is None else criterion.describe()


class _Tracker:
    """Per-member block means of the step losses and the criterion's verdict (device tensors;
    a GPU synchronises only when :meth:`met` is asked)."""

    def __init__(self, criterion, M: int, device, train_error):
        if isinstance(criterion, TargetError) and train_error is None:
            raise ValueError("criterion=TargetError needs train_error= (a function of the parameters)")
        self.criterion, self.train_error = criterion, train_error
        self.window = criterion.window if isinstance(criterion, Plateau) else None
        self.sum, self.n, self.blocks = torch.zeros(M, device=device), 0, []
        self.last: torch.Tensor | None = None

    def update(self, loss: torch.Tensor) -> bool:
        """Add one step's losses; True at the end of a block (a check point)."""
        self.last = loss
        if self.window is None:
            return False
        self.sum += loss
        self.n += 1
        if self.n < self.window:
            return False
        self.blocks.append(self.sum / self.n)
        self.sum, self.n = torch.zeros_like(self.sum), 0
        return True

    def error(self, params) -> np.ndarray | None:
        if self.train_error is None:
            return None
        with torch.no_grad():
            return self.train_error(params).detach().float().cpu().numpy()

    def met(self, params, alive: torch.Tensor, err: np.ndarray | None = None) -> np.ndarray:
        M = alive.shape[0]
        if isinstance(self.criterion, Plateau):
            if len(self.blocks) < 2:
                out = np.zeros(M, dtype=bool)
            else:
                out = plateaued(torch.stack(self.blocks[-2:], 1).cpu().numpy(), 1, self.criterion.rel_tol)
        elif isinstance(self.criterion, TargetError):
            err = self.error(params) if err is None else err
            out = np.isfinite(err) & (err <= self.criterion.error)
        else:
            out = np.zeros(M, dtype=bool)
        return out & alive.cpu().numpy()

    def state(self, params, taken, alive) -> TrainState:
        dead = ~alive.cpu().numpy()
        if self.window is not None and self.blocks:
            loss = self.blocks[-1].cpu().numpy().astype(float)
        elif self.last is not None:
            loss = self.last.cpu().numpy().astype(float)
        else:
            loss = np.full(len(dead), np.nan)
        err = self.error(params)
        err = np.full(len(dead), np.nan) if err is None else err.astype(float)
        loss[dead], err[dead] = np.nan, np.nan
        return TrainState(np.asarray(taken).astype(np.int64), loss, err, self.met(params, alive, err),
                          describe(self.criterion))


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
        guard_every: int = 50, label: str = "train", progress_every: float = 15.0,
        criterion: Plateau | TargetError | None = None,
        train_error: Callable[[list[torch.Tensor]], torch.Tensor] | None = None,
        stop_when_met: bool = False) -> FitResult:
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
    criterion : :class:`Plateau`, :class:`TargetError` or None: the stated stopping
        criterion; ``FitResult.state.met`` says which members met it at the end
    train_error : ``f(params) -> Tensor (M,)``, each member's training error (for
        :class:`TargetError` and the final state's ``train_error``; NaN without it)
    stop_when_met : end the run at the first check where every live member met ``criterion``

    Returns
    -------
    FitResult (``state``: each member's :class:`~overparam.adequacy.TrainState`)

    Introduced in: the engine (every chapter trains through it)
    """
    check_positive("steps", steps, integer=True, allow_zero=True)
    check_choice("nan_guard", nan_guard, GUARDS)
    check_positive("guard_every", guard_every, integer=True)
    params = list(params)
    if params[0].device.type == "cpu":
        keep_freed_memory()
    if active is not None and not _is_stacked(optimizer):
        raise ValueError("active= (per-member step skipping) needs a StackedOptimizer")
    M = params[0].shape[0]
    device = params[0].device
    state = FitState(params=params, optimizer=optimizer, steps=steps,
                     alive=torch.ones(M, dtype=torch.bool, device=device),
                     counted=torch.zeros(M, device=device))
    next_batch = batches if callable(batches) else (lambda _s, it=batches: next(it))
    masks = None if grad_masks is None else list(grad_masks)
    progress = Progress(label, steps, progress_every)
    track = _Tracker(criterion, M, device, train_error)
    check_every = getattr(criterion, "every", None)
    adam_fixed = False
    lean_for, lean, retry = None, None, False  # the optimizer whose lean step is cached (a callback may replace it)
    for cb in callbacks:
        cb(state)

    # non-finite losses are detected from a running sum of the per-member losses (one
    # kernel per step, no synchronisation): NaN and inf survive a sum of losses
    acc = torch.zeros(M, device=device)
    ones = torch.ones(M, device=device)
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
        if penalties:
            total, seed = per.sum() + sum(pen(params).sum() for pen in penalties), None
        else:  # d(sum of the members' losses) = ones into the per-member losses: no sum node
            total, seed = per, (None if per.ndim == 0 else ones)
        per_d = per.detach()
        if per_d.ndim == 0:  # one member's scalar loss (no view node in the graph)
            per_d = per_d.reshape(1)
        if nan_guard != "off":
            acc += per_d
        take = None if active is None else active(batch)
        if not all_alive:
            take = state.alive if take is None else take & state.alive
        grads = _in_layout(torch.autograd.grad(total, params, grad_outputs=seed, allow_unused=True,
                                               materialize_grads=True), params)
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
            if lean_for is not opt:
                lean_for, lean, retry = opt, lean_step(opt), True
            if lean is not None:  # torch's own kernel on this step's gradients, no Optimizer.step
                lean(grads)
            else:
                for p, g in zip(params, grads):  # the gradients of this step, no zeroing pass
                    p.grad = g
                opt.step()
                if retry:  # its first step made its buffers: a lean step may take over
                    lean, retry = lean_step(opt), False
                    if lean is not None:
                        for p in params:
                            p.grad = None
            if not adam_fixed and masks is not None:
                _positive_second_moment(opt, params, masks)
                adam_fixed = True
        if take is None:
            state.plain += 1  # every member took it: counted without a kernel
        else:
            state.counted += state.plain + take.to(state.counted.dtype)
            state.plain = 0
        state.step, state.loss, state.batch = step, per_d, batch
        if nan_guard != "off" and (step % guard_every == 0 or step == steps):
            guard()
        block_end = track.update(state.loss)
        if stop_when_met and criterion is not None and (block_end or (check_every and step % check_every == 0)):
            guard()
            state.stop = state.stop or bool(track.met(state.params, state.alive)[state.alive.cpu().numpy()].all())
        for cb in callbacks:
            cb(state)
        progress.update(step)
        if state.stop:
            break
    guard()
    taken = state.taken.cpu().numpy()
    return FitResult(params=[p.detach() for p in state.params], taken=taken,
                     diverged=(~state.alive).cpu().numpy(), steps=state.step, info=state.info,
                     state=track.state(state.params, taken, state.alive))


def _in_layout(grads, params) -> list[torch.Tensor]:
    """Gradients in their parameters' memory layout. The family's forward yields transposed
    weight gradients (see :func:`overparam.models.forward`), a stack of one may keep its
    weights in ``nn.Linear``'s order (``init_stack(linear_layout=True)``), and torch's fused
    optimizers silently misread a gradient whose layout differs from its parameter's."""
    return [g if g.stride() == p.stride() else _to_layout(g, p) for g, p in zip(grads, params)]


def _to_layout(g: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    big = [i for i, n in enumerate(p.shape) if n > 1]  # strides of size-1 dimensions are moot
    if [g.stride(i) for i in big] == [p.stride(i) for i in big]:
        return g.as_strided(p.shape, p.stride())
    return torch.empty_like(p).copy_(g)


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
