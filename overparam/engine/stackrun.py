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
    argmax: ``max(1)``'s indices, which are the first maximum's as argmax's are (torch's
    documented tie rule; tested against argmax on tied logits), measured 7.0 ms (argmax) vs
    1.5 ms on (32, 10, 1750) logits, and vs 3.3 ms for the comparisons this replaced."""
    return logits.max(1).indices != y


def _forward_single(arch, params: list[torch.Tensor], X: torch.Tensor, class_major: bool = True) -> torch.Tensor:
    """Class-major logits (1, C, B) of a stack of one member (parameters (1, ...)) on inputs
    (B, d): a textbook network's kernels (``addmm``: bias fused into the GEMM; ``conv1d``),
    but the last layer computed as ``W^T h^T``, so the logits come out class-major. Softmax
    and cross-entropy over a class dimension of 10 along rows run ~7x faster per example
    on the CPU than over a (B, 10) batch-major tensor (measured: 60 vs 9 us per 450 rows,
    forward alone), and for a narrow net at a large batch that is a large part of a step;
    below ~256 rows the extra views cost more than that saves (~15 us a step), so
    ``class_major=False`` gives the textbook's batch-major logits (B, C).
    Equal to :func:`overparam.models.forward` up to rounding (tested)."""
    ps = [p.squeeze(0) for p in params]
    if arch.arch != "mlp":
        out = forward_one(arch, ps, X)
        return out.t().contiguous()[None] if class_major else out
    h = X
    for i in range(arch.depth):
        h = torch.addmm(ps[2 * i + 1], h, ps[2 * i]).relu_()
    if not class_major:
        return torch.addmm(ps[-1], h, ps[-2])
    if h.shape[0] * h.shape[1] > CLASS_MAJOR_GEMM:  # a wide, long h: its GEMM is faster batch-major
        return torch.addmm(ps[-1], h, ps[-2]).t().contiguous()[None]
    return torch.addmm(ps[-1][:, None], ps[-2].t(), h.t())[None]


#: Batch size from which a stack of one trains on class-major logits (see :func:`_forward_single`).
CLASS_MAJOR_FROM = 256
#: Rows x width of the last hidden layer above which the last GEMM is computed batch-major
#: and its (small) output transposed: measured forward + cross-entropy, width 1024 x 500 rows
#: 136 us class-major vs 152 batch-major + copy; 512 x 1750: 507 vs 303; 2048 x 500: 598 vs 291.
CLASS_MAJOR_GEMM = 5.2e5


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
        self._joint = None   # training + test rows as one set (see _both), made at the first evaluation
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
            Xi, yi = self.X1.index_select(0, i), self.Y1.index_select(0, i)
            if len(i) >= CLASS_MAJOR_FROM:   # (1, C, B) logits; scalar loss: fit takes it as (1,)
                return F.cross_entropy(_forward_single(self.arch, params, Xi), yi[None])
            return F.cross_entropy(_forward_single(self.arch, params, Xi, class_major=False), yi)   # (B, C)
        Xb, yb = self.batch(idx)
        logits = forward(self.arch, params, Xb, class_major=True, inplace=True)  # (M, C, B): fast softmax on CPU
        return F.cross_entropy(logits, yb, reduction="none").mean(1)

    def batches(self):
        return per_member_batches(self.n, self.cfg.batch_size, self.gens, self.device)

    @torch.no_grad()
    def evaluate(self, chunk: int | None = None, want_probs: bool = True):
        """Per-member (train_loss, train_err, test_loss, test_err) and test probs (M, n, C)
        (None unless ``want_probs``).

        Both sets go through one forward pass (the training rows, then the test rows: one
        GEMM per layer with more rows instead of two: 2-10 % less time per evaluation
        measured for training sets of 64-200 rows at width 1024-2048), cut into chunks of
        ``chunk`` examples; by default about 4 M hidden activations per chunk over all
        members, so wide stacks stay in cache instead of streaming memory. A stack of one
        counts one layer (its evaluation keeps one layer's activations at a time), so a
        width-2048 network takes 750 rows in one GEMM per layer instead of 682 + 68 (the
        68-row GEMMs ran at 73 instead of 50 us a row: ~1 % of a short width-2048 x 3 run).
        """
        X, u, Y, n = self._both()
        acc, probs = self._measure(self.params, X, u, Y, chunk, want_probs, n)
        vals = acc.cpu().numpy()   # (loss | error, set, M): one copy
        return [vals[0, 0], vals[1, 0], vals[0, 1], vals[1, 1]], probs

    def _both(self):
        """The training and test rows of every member as one set: inputs (P, n + n_test, d) for
        the P distinct (training, test) input pairs, each member's pair (M,), labels (M, n +
        n_test), and n (made once)."""
        if self._joint is None:
            pairs = [(int(a), int(b)) for a, b in zip(self.u.tolist(), self.ut.tolist())]
            uniq = sorted(set(pairs))
            X = torch.stack([torch.cat([self.Xs[a], self.Xt[b]]) for a, b in uniq])
            up = torch.tensor([uniq.index(p) for p in pairs], device=self.device)
            self._joint = (X, up, torch.cat([self.Y, self.Yt], 1), self.n)
        return self._joint

    @torch.no_grad()
    def measure(self, params, X, u, Y, chunk: int | None = None, want_probs: bool = False):
        """Mean loss (M,), error rate (M,) and, with ``want_probs``, softmax outputs (M, n, C)
        of every member on its rows ``u`` of the stacked sets ``X`` with labels ``Y``."""
        acc, probs = self._measure(params, X, u, Y, chunk, want_probs, Y.shape[1])
        return acc[0, 0], acc[1, 0], probs

    def _measure(self, params, X, u, Y, chunk, want_probs, split):
        """Sums of one pass over rows that are two sets, ``[:split]`` and ``[split:]`` (the
        second may be empty): (loss, error) each (2, M), one row per set, as means; softmax
        outputs (M, n_second, C) of the second set (of the first when it is the only one).
        Returns (acc (2, 2, M): [loss | error, set, member], probs)."""
        if chunk is None:
            width = max(self.arch.widths or (1,)) * (self.arch.d if self.arch.arch == "cnn" else 1)
            # a stack of one holds one layer's activations at a time (no graph): the depth does not count
            layers = 1 if self.M == 1 else max(1, self.arch.depth)
            chunk = int(min(2048, max(64, 2 ** 22 // (self.M * width * layers))))
        n = Y.shape[1]
        acc = torch.zeros(2, 2, self.M, device=self.device)  # (loss | error, set, member)
        ps = []
        probs_of = 1 if split < n else 0
        for s in range(0, n, chunk):
            yb = Y[:, s:s + chunk]
            if self.M == 1:  # as in training: the textbook's kernels
                out = _forward_single(self.arch, params, X[0, s:s + chunk])   # (1, C, b): one member, one set
            else:
                # one input set for all (the usual case): 2-d, expanded without a copy; else each member's rows
                Xc = X[0, s:s + chunk] if X.shape[0] == 1 else X[:, s:s + chunk].index_select(0, u)
                out = forward(self.arch, params, Xc, class_major=True, inplace=True)  # (M, C, b)
            vals = torch.stack((F.cross_entropy(out, yb, reduction="none"), _wrong(out, yb).to(out.dtype)))
            b = vals.shape[-1]
            k = min(max(split - s, 0), b)  # this chunk's rows of the first set
            for part, sl in ((0, slice(0, k)), (1, slice(k, b))):
                if sl.start == sl.stop:
                    continue
                acc[:, part] += vals[..., sl].sum(-1)
                if want_probs and part == probs_of:
                    ps.append(out[:, :, sl].softmax(1).transpose(1, 2))
        acc[:, 0] /= max(split, 1)
        acc[:, 1] /= max(n - split, 1)
        return acc, (torch.cat(ps, 1) if ps else None)

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

