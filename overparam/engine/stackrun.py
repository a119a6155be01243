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
from ..models import forward, forward_one, init_stack
from .grid import eval_epochs, steps_per_epoch  # noqa: F401 (eval_epochs: re-exported)
from .loop import Every, FitResult, FitState, fit, per_member_batches
from .optim import lean_layout, make_optimizer


def _shared(tensors: Sequence[torch.Tensor], device) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack distinct tensors once (by identity); return (stack (U, ...), index (M,))."""
    uniq: dict[int, int] = {}
    xs = []
    for t in tensors:
        if id(t) not in uniq:
            uniq[id(t)] = len(xs)
            xs.append(t)
    stacked = xs[0][None].to(device) if len(xs) == 1 else torch.stack(xs).to(device)  # one: a view, no copy
    return stacked, torch.tensor([uniq[id(t)] for t in tensors], device=device)


def _wrong(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``logits.argmax(1) != y`` for class-major logits (M, C, B), without the slow strided
    argmax: wrong where another class scores higher, or ties with a lower index (argmax
    returns the first maximum)."""
    at_y = logits.gather(1, y[:, None, :])
    cls = torch.arange(logits.shape[1], device=logits.device)[None, :, None]
    return (logits > at_y).any(1) | ((logits == at_y) & (cls < y[:, None, :])).any(1)


def _forward_single(arch, params: list[torch.Tensor], X: torch.Tensor) -> torch.Tensor:
    """Logits (B, C) of a stack of one member (parameters (1, ...)) on inputs (B, d): what a
    textbook network computes, with the same kernels (``addmm``: bias fused into the GEMM;
    ``conv1d``); equal to :func:`overparam.models.forward` up to rounding (tested)."""
    ps = [p.squeeze(0) for p in params]
    if arch.arch != "mlp":
        return forward_one(arch, ps, X)
    h = X
    for i in range(arch.depth):
        h = torch.relu(torch.addmm(ps[2 * i + 1], h, ps[2 * i]))
    return torch.addmm(ps[-1], h, ps[-2])


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
                                random_values=not init, requires_grad=True,
                                linear_layout=lean_layout(cfg.optimizer))
        self.arch = self.stack.arch
        self.M, self.n = len(self.members), d0.n_train
        own = [datas[m.data] for m in self.members]
        self.Xs, self.u = _shared([t.X_train for t in own], self.device)   # (U, n, d), (M,)
        self.Y = torch.stack([t.y_train for t in own]).to(self.device)     # (M, n)
        self.Xt, self.ut = _shared([t.X_test for t in own], self.device)
        self.Yt = torch.stack([t.y_test for t in own]).to(self.device)
        self.offset = (self.u * self.n)[:, None]
        self.X1, self.Y1 = self.Xs[0], self.Y[0]   # a stack of one: its own set (see loss)
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
        if self.M == 1:  # a stack of one (the loop mode): a textbook network's 2-d kernels
            i = idx[0]
            out = _forward_single(self.arch, params, self.X1.index_select(0, i))
            return F.cross_entropy(out, self.Y1.index_select(0, i))  # scalar: fit takes it as (1,)
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
        res = []
        for X, u, Y, probs_too in ((self.Xs, self.u, self.Y, False), (self.Xt, self.ut, self.Yt, want_probs)):
            loss, err, probs = self.measure(self.params, X, u, Y, chunk, probs_too)
            res += [loss.cpu().numpy(), err.cpu().numpy()]
        return res, probs

    @torch.no_grad()
    def measure(self, params, X, u, Y, chunk: int | None = None, want_probs: bool = False):
        """Mean loss (M,), error rate (M,) and, with ``want_probs``, softmax outputs (M, n, C)
        of every member on its rows ``u`` of the stacked sets ``X`` with labels ``Y``."""
        if chunk is None:
            width = max(self.arch.widths or (1,)) * (self.arch.d if self.arch.arch == "cnn" else 1)
            chunk = int(min(2048, max(64, 2 ** 22 // (self.M * width * max(1, self.arch.depth)))))
        n = Y.shape[1]
        loss = torch.zeros(self.M, device=self.device)
        err = torch.zeros(self.M, device=self.device)
        ps = []
        for s in range(0, n, chunk):
            yb = Y[:, s:s + chunk]
            if self.M == 1:  # as in training: the textbook's kernels, batch-major logits
                out = _forward_single(self.arch, params, X[0, s:s + chunk])   # one member: one set
                loss += F.cross_entropy(out, yb[0], reduction="sum")
                err += (out.argmax(1) != yb[0]).sum()
                if want_probs:
                    ps.append(out.softmax(1)[None])
                continue
            out = forward(self.arch, params, X[u, s:s + chunk], class_major=True)  # (M, C, b)
            loss += F.cross_entropy(out, yb, reduction="none").sum(1)
            err += _wrong(out, yb).sum(1)
            if want_probs:
                ps.append(out.softmax(1).transpose(1, 2))
        return loss / n, err / n, (torch.cat(ps, 1) if want_probs else None)

    def train_error(self, params) -> torch.Tensor:
        """Each member's error rate on its whole training set, (M,)."""
        return self.measure(params, self.Xs, self.u, self.Y)[1]

    def train(self, evals: Sequence[int], on_eval: Callable[[int, list, torch.Tensor, np.ndarray], None],
              on_diverged: Callable[[int, int], None], label: str = "train",
              progress_every: float = 15.0, want_probs: bool = False) -> FitResult:
        """Train ``cfg.epochs`` epochs through :func:`fit`.

        ``on_eval(j, values, probs, alive)`` is called at ``evals[j]`` epochs (0 = before
        training; ``probs`` only at the last, with ``want_probs``, else None); ``on_diverged(member, epoch)`` once per member whose loss became
        non-finite (checked at each epoch's end; the member is then frozen at zero).
        ``cfg.criterion`` (and ``cfg.stop_when_met``) go to :func:`fit`; its result's
        ``state`` says which members met it.
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
        crit = getattr(self.cfg, "criterion", None)
        res = fit(self.params, self.loss, self.batches(), self.opt, steps, grad_masks=self.stack.masks,
                   callbacks=[check], nan_guard="freeze", guard_every=spe, label=label,
                   progress_every=progress_every, criterion=crit,
                   train_error=self.train_error if crit is not None else None,
                   stop_when_met=getattr(self.cfg, "stop_when_met", False))
        if res.steps < steps:  # stopped early (criterion met): the members stay as they are now
            alive = ~res.diverged
            rest = [j for j, e in enumerate(evals) if e * spe > res.steps]
            if rest:
                vals, probs = self.evaluate(want_probs=want_probs)
                for j in rest:
                    on_eval(j, vals, probs if j == len(evals) - 1 else None, alive)
        return res

    def time_steps(self, steps: int, idx: torch.Tensor) -> float:
        """Seconds per optimizer step on the fixed batch ``idx`` (timing probes)."""
        sync = (lambda: torch.cuda.synchronize(self.device)) if self.device.type == "cuda" else (lambda: None)
        sync()
        t = time.perf_counter()
        fit(self.params, self.loss, lambda _s: idx, self.opt, steps, grad_masks=self.stack.masks,
            nan_guard="off", progress_every=math.inf)
        sync()
        return (time.perf_counter() - t) / steps

