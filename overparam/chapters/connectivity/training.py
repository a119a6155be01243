"""Chapter 8's training: stacks of MLPs of one width through the engine, with a plateau stop.

- :class:`Plateau` – a callback of :func:`overparam.engine.loop.fit` that averages each
  member's mini-batch loss over blocks of steps, says per member whether the loss has
  stopped falling (the chapter's adequacy criterion) and, if asked, ends the run once every
  member has.
- :func:`train_networks` – one stack of MLPs (one width: no padding), each member from its
  own seeded start, drawing its own batches from its own training set (the first ``sizes[m]``
  examples), trained with Adam by the engine's one loop.

Introduced in: Chapter 8
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ...adequacy import TrainState
from ...engine.loop import FitState, Snapshots, fit
from ...engine.optim import make_optimizer
from ...landscape import member_batches
from ...models import Arch, forward, init_stack, member_params


class Plateau:
    """Per member: has the training loss stopped falling? Optionally stop when all have.

    The per-step mini-batch losses are averaged over blocks of ``block`` steps; a member
    has *plateaued* when its last block mean is lower than the block mean two blocks
    earlier by less than ``max(rel_tol x that mean, abs_tol)`` (``abs_tol`` in nats: a
    tenth of the chapter's barrier tolerance). With ``stop``, the run ends at the first
    block end after ``min_steps`` where every member has plateaued.

    Introduced in: Chapter 8
    """

    def __init__(self, block: int = 100, rel_tol: float = 0.05, abs_tol: float = 0.01,
                 stop: bool = False, min_steps: int = 0):
        self.block, self.rel_tol, self.abs_tol = int(block), float(rel_tol), float(abs_tol)
        self.stop, self.min_steps = bool(stop), int(min_steps)
        self.acc = None
        self.means: list[np.ndarray] = []
        self.steps = 0

    @property
    def criterion(self) -> str:
        return (f"training loss plateau: block mean (blocks of {self.block} steps) fell by "
                f"< max({self.rel_tol:.0%}, {self.abs_tol} nats) over the last two blocks")

    def met(self) -> np.ndarray:
        """(M,) bool: the criterion holds at the last completed block."""
        if len(self.means) < 3:
            n = 0 if self.acc is None else self.acc.shape[0]
            return np.zeros(n, dtype=bool)
        start, end = self.means[-3], self.means[-1]
        return np.isfinite(end) & (start - end < np.maximum(self.rel_tol * np.abs(start), self.abs_tol))

    def __call__(self, state: FitState) -> None:
        if state.step == 0 or state.loss is None:
            return
        self.steps = state.step
        loss = state.loss.detach().double()
        self.acc = loss.clone() if self.acc is None else self.acc + loss
        if state.step % self.block == 0:
            self.means.append((self.acc / self.block).cpu().numpy())
            self.acc = torch.zeros_like(self.acc)
            if self.stop and state.step >= self.min_steps and bool(self.met().all()):
                state.stop = True

    def state(self, train_loss, train_error, members=None) -> TrainState:
        """The :class:`TrainState` of members ``members`` (default all), with their final
        training loss and error as measured on their whole training sets."""
        met = self.met()
        idx = np.arange(len(met)) if members is None else np.asarray(members)
        return TrainState(np.full(len(idx), self.steps), np.asarray(train_loss, float),
                          np.asarray(train_error, float), met[idx], self.criterion)


@dataclass
class Trained:
    """A trained stack of one width: parameters (M, ...), the arch, snapshots, the plateau."""

    arch: Arch
    params: list
    plateau: Plateau
    snapshots: dict = field(default_factory=dict)

    def member(self, i: int) -> list[torch.Tensor]:
        return member_params(self.params, i, self.arch)

    def select(self, idx) -> list[torch.Tensor]:
        idx = torch.as_tensor(np.asarray(idx), dtype=torch.long, device=self.params[0].device)
        return [p[idx] for p in self.params]


def train_networks(arch: Arch, seeds: list[int], X: torch.Tensor, y: torch.Tensor, cfg,
                   order_seed: int, *, sizes=None, offsets=None, steps: int | None = None,
                   stop: bool | None = None,
                   snapshot_steps=(), label: str = "train") -> Trained:
    """Train one network of ``arch`` per seed with Adam on mini-batches drawn with replacement.

    Member m starts from :func:`overparam.models.init_member` of ``seeds[m]`` and draws its
    batches from its own training set, ``sizes[m]`` rows of ``X`` from row ``offsets[m]``
    (default: all of ``X``); the stack trains through :func:`overparam.engine.loop.fit` with torch's
    fused Adam (elementwise, and every member steps at every step: each member trains as it
    would alone; one kernel per tensor, about 30x faster than the per-member-skipping stacked
    Adam at width 1024, which this chapter does not need). ``steps`` (default ``cfg.steps``) is the most
    steps; with ``stop`` (default ``cfg.stop_on_plateau``) the run ends once every member's
    loss has plateaued (:class:`Plateau`, after ``cfg.min_steps``).

    Introduced in: Chapter 8
    """
    device = X.device
    st = init_stack([arch] * len(seeds), seeds, device, requires_grad=True)
    M = len(seeds)
    gen = torch.Generator().manual_seed(order_seed)
    draw = member_batches(M, X.shape[0] if sizes is None else sizes, cfg.batch_size, gen, offsets)

    def batches(_step):
        return draw().to(device)

    def loss(ps, idx):
        logits = forward(st.arch, ps, X[idx], class_major=True)      # (M, C, B)
        return F.cross_entropy(logits, y[idx], reduction="none").mean(1)

    plateau = Plateau(cfg.block, stop=cfg.stop_on_plateau if stop is None else stop, min_steps=cfg.min_steps)
    snaps = Snapshots(snapshot_steps)
    opt = make_optimizer(st.params, "adam", cfg.lr, impl="fused")
    res = fit(st.params, loss, batches, opt, cfg.steps if steps is None else steps,
              callbacks=[plateau, snaps] if snapshot_steps else [plateau], label=label)
    return Trained(st.arch, res.params, plateau, snaps.snaps)
