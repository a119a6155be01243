"""One bucket of members trained as one stack through :func:`overparam.engine.loop.fit`.

:class:`StackRun` holds a bucket's stacked parameters (:func:`overparam.models.init_stack`:
each member at its true widths from its seed, zero-padded and masked), its per-member
training data (shared inputs, own labels), the optimizer, the per-member loss and the
evaluation. :meth:`StackRun.train` runs :func:`fit` with the evaluation as an
:class:`~overparam.engine.loop.Every` callback and the NaN guard freezing diverged
members at epoch ends. The per-model loop of the engine is the same thing with stacks of
one member, so both modes share every line of training code.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .. import config
from ..models import forward, init_stack
from .loop import Every, FitState, fit, per_member_batches
from .optim import make_optimizer


def steps_per_epoch(n: int, batch_size: int) -> int:
    return 1 if batch_size == 0 or batch_size >= n else -(-n // batch_size)


def eval_epochs(cfg) -> list[int]:
    """Epochs at which the curves are recorded: 0, every ``eval_every``, and the last."""
    return sorted({0, cfg.epochs, *range(cfg.eval_every, cfg.epochs + 1, cfg.eval_every)})


def _shared(tensors: Sequence[torch.Tensor], device) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack distinct tensors once (by identity); return (stack (U, ...), index (M,))."""
    uniq: dict[int, int] = {}
    xs = []
    for t in tensors:
        if id(t) not in uniq:
            uniq[id(t)] = len(xs)
            xs.append(t)
    return torch.stack(xs).to(device), torch.tensor([uniq[id(t)] for t in tensors], device=device)


def _wrong(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``logits.argmax(1) != y`` for class-major logits (M, C, B), without the slow strided
    argmax: wrong where another class scores higher, or ties with a lower index (argmax
    returns the first maximum)."""
    at_y = logits.gather(1, y[:, None, :])
    cls = torch.arange(logits.shape[1], device=logits.device)[None, :, None]
    return (logits > at_y).any(1) | ((logits == at_y) & (cls < y[:, None, :])).any(1)


class StackRun:
    """Training state of one bucket: members stacked along a leading dimension.

    Parameters
    ----------
    members : sequence of Member (same arch, depth and n_train)
    datas : list of TrainData (``Member.data`` indexes it)
    cfg : TrainConfig
    device : torch device
    init : False gives throw-away parameter values (timing probes; no seed is touched)
    """

    def __init__(self, members, datas, cfg, device, init: bool = True):
        self.members, self.cfg, self.device = list(members), cfg, torch.device(device)
        d0 = datas[self.members[0].data]
        self.archs = [m.spec(d0.d, d0.n_classes) for m in self.members]
        self.stack = init_stack(self.archs, [m.seed for m in self.members], self.device,
                                random_values=not init, requires_grad=True)
        self.arch = self.stack.arch
        self.M, self.n = len(self.members), d0.n_train
        own = [datas[m.data] for m in self.members]
        self.Xs, self.u = _shared([t.X_train for t in own], self.device)   # (U, n, d), (M,)
        self.Y = torch.stack([t.y_train for t in own]).to(self.device)     # (M, n)
        self.Xt, self.ut = _shared([t.X_test for t in own], self.device)
        self.Yt = torch.stack([t.y_test for t in own]).to(self.device)
        self.offset = (self.u * self.n)[:, None]
        # fused kernels where the device has them: one kernel per tensor, not several passes
        self.opt = make_optimizer(self.stack.params, cfg.optimizer, cfg.lr, momentum=cfg.momentum,
                                  weight_decay=cfg.weight_decay, impl="fused")
        self.gens = [config.generator(m.seed, "order") for m in self.members]

    @property
    def params(self) -> list[torch.Tensor]:
        return self.stack.params

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs (M, B, d) and labels (M, B) of batch indices ``idx`` (M, B), each member
        from its own training set (``index_select`` on the flattened sets: faster than
        advanced indexing)."""
        flat = (self.offset + idx).reshape(-1)
        Xb = self.Xs.reshape(-1, self.Xs.shape[-1]).index_select(0, flat).view(*idx.shape, -1)
        return Xb, torch.gather(self.Y, 1, idx)

    def loss(self, params: list[torch.Tensor], idx: torch.Tensor) -> torch.Tensor:
        """Each member's mean cross-entropy on its batch ``idx`` (M, B): shape (M,)."""
        Xb, yb = self.batch(idx)
        logits = forward(self.arch, params, Xb, class_major=True)  # (M, C, B): fast softmax on CPU
        return F.cross_entropy(logits, yb, reduction="none").mean(1)

    def batches(self):
        return per_member_batches(self.n, self.cfg.batch_size, self.gens, self.device)

    @torch.no_grad()
    def evaluate(self, chunk: int | None = None, want_probs: bool = True):
        """Per-member (train_loss, train_err, test_loss, test_err) and test probs (M, n, C)
        (None unless ``want_probs``).

        ``chunk`` examples per forward; by default about 4 M hidden activations per chunk
        over all members, so wide stacks stay in cache instead of streaming memory.
        """
        if chunk is None:
            width = max(self.arch.widths or (1,)) * (self.arch.d if self.arch.arch == "cnn" else 1)
            chunk = int(min(2048, max(64, 2 ** 22 // (self.M * width * max(1, self.arch.depth)))))
        res, probs = [], None
        for X, u, Y in ((self.Xs, self.u, self.Y), (self.Xt, self.ut, self.Yt)):
            n = Y.shape[1]
            loss = torch.zeros(self.M, device=self.device)
            err = torch.zeros(self.M, device=self.device)
            ps = []
            for s in range(0, n, chunk):
                out = forward(self.arch, self.params, X[u, s:s + chunk], class_major=True)  # (M, C, b)
                yb = Y[:, s:s + chunk]
                loss += F.cross_entropy(out, yb, reduction="none").sum(1)
                err += _wrong(out, yb).sum(1)
                if want_probs:
                    ps.append(out.softmax(1).transpose(1, 2))
            res += [(loss / n).cpu().numpy(), (err / n).cpu().numpy()]
            probs = torch.cat(ps, 1) if want_probs else None
        return res, probs

    def train(self, evals: Sequence[int], on_eval: Callable[[int, list, torch.Tensor, np.ndarray], None],
              on_diverged: Callable[[int, int], None], label: str = "train",
              progress_every: float = 15.0, want_probs: bool = False):
        """Train ``cfg.epochs`` epochs through :func:`fit`.

        ``on_eval(j, values, probs, alive)`` is called at ``evals[j]`` epochs (0 = before
        training; ``probs`` only at the last, with ``want_probs``, else None); ``on_diverged(member, epoch)`` once per member whose loss became
        non-finite (checked at each epoch's end; the member is then frozen at zero).
        """
        spe = steps_per_epoch(self.n, self.cfg.batch_size)
        alive_seen = np.ones(self.M, dtype=bool)

        def record(state: FitState) -> None:
            epoch = state.step // spe
            alive = state.alive.cpu().numpy()
            for j in np.flatnonzero(alive_seen & ~alive):
                on_diverged(int(j), epoch)
            alive_seen[:] = alive
            if epoch in evals and state.step % spe == 0:
                vals, probs = self.evaluate(want_probs=want_probs and epoch == evals[-1])
                on_eval(evals.index(epoch), vals, probs, alive)

        steps = self.cfg.epochs * spe
        # every epoch's end: the NaN guard runs there (guard_every = spe), then record()
        # sees the members it froze and names them with that epoch
        check = Every(range(0, steps + 1, spe), record)
        return fit(self.params, self.loss, self.batches(), self.opt, steps, grad_masks=self.stack.masks,
                   callbacks=[check], nan_guard="freeze", guard_every=spe, label=label,
                   progress_every=progress_every)

    def time_steps(self, steps: int, idx: torch.Tensor) -> float:
        """Seconds per optimizer step on the fixed batch ``idx`` (timing probes)."""
        sync = (lambda: torch.cuda.synchronize(self.device)) if self.device.type == "cuda" else (lambda: None)
        sync()
        t = time.perf_counter()
        fit(self.params, self.loss, lambda _s: idx, self.opt, steps, grad_masks=self.stack.masks,
            nan_guard="off", progress_every=math.inf)
        sync()
        return (time.perf_counter() - t) / steps

