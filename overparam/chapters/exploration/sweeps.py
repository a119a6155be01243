"""Chapter 1 sweeps: hundreds of trainings per grid point of the 1101 CNN and the AND net.

Every grid point trains hundreds of independent networks. They run as one stacked
computation (``overparam.models.Stacked*``), members of all sizes in one stack, through
the book's one training loop :func:`overparam.engine.loop.fit`.
Source: rom1mouret/exploration (README, ``eval_cnn.py``, ``eval_bool.py``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ...config import generator, log
from ...data import make_and_task, make_pattern_1101
from ...engine.loop import FitResult, fit
from ...engine.optim import StackedOptimizer, make_optimizer
from ...models import StackedCNN, StackedHyperBoolNet, StackedHyperCNN, StackedMLP1
from ...adequacy import TrainState, plateaued
from ...stats import mean_ci, wilson_ci

CANDIDATES = ("momentum", "adam", "rmsprop")  # the "other PyTorch optimizers" (momentum 0.9)
#: The source's own recipes (eval_cnn.py, eval_bool.py): the baseline of the optimizer study.
BASELINES = {"cnn": ("momentum", 0.1, 0.5), "and": ("sgd", 0.1, 0.0)}

# --------------------------------------------------------------------------- training


def train_online(model, sample: Callable[[], tuple[torch.Tensor, torch.Tensor]], steps: int,
                 optimizer: StackedOptimizer, *, seed_dim: int = 0,
                 skip: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 generator: torch.Generator | None = None, nan_guard: str = "freeze",
                 label: str = "train") -> FitResult:
    """Train every member of a stacked model on freshly sampled batches, BCE with logits.

    A thin wrapper over :func:`overparam.engine.loop.fit`: the batch of a step is
    ``(X, y, z)``, the skip rule is fit's ``active=`` hook.

    Parameters
    ----------
    model : Stacked
        Stacked model; its trainable tensors are updated in place.
    sample : callable
        Returns ``(X, y)`` with X of shape (n_models, batch, ...) and y (n_models, batch).
    steps : int
        Iterations; each draws a new batch per member.
    optimizer : StackedOptimizer over ``model.trained_parameters()``
    seed_dim : int
        For hypernetworks: draw a seed z ~ N(0, I) of this size per member and step.
    skip : callable, optional
        Maps y to a bool tensor (n_models,) of members that take the step (the AND rule);
        a skipped member's moments and step count stay untouched.
    nan_guard : passed to :func:`fit` ("freeze": a diverged member is zeroed and stops)

    Returns
    -------
    FitResult; ``taken`` (n_models,) counts the steps each member took; ``info["losses"]``
    (n_models, 10): each member's mean loss on its batches in each tenth of the run.

    Introduced in: Chapter 1
    """
    model.requires_grad_()
    names = model.trainable
    M = model.n_models

    def batch(_step):
        X, y = sample()
        z = torch.randn(M, seed_dim, generator=generator, device=X.device) if seed_dim else None
        return X, y, z

    # each step's per-member loss on its batch, summed per tenth of the run (bounded memory)
    tenths = torch.zeros(TENTHS, M, device=model.params[names[0]].device)
    counts = [0] * TENTHS
    step = [0]

    def loss(params, b):
        model.params.update(zip(names, params))
        X, y, z = b
        out = F.binary_cross_entropy_with_logits(model(X, z), y, reduction="none").mean(-1)
        k = min(step[0] * TENTHS // max(steps, 1), TENTHS - 1)
        tenths[k] += out.detach()
        counts[k] += 1
        step[0] += 1
        return out

    active = None if skip is None else (lambda b: skip(b[1]))
    res = fit(model.trained_parameters(), loss, batch, optimizer, steps, active=active,
              nan_guard=nan_guard, label=label)
    done = [k for k in range(TENTHS) if counts[k]]
    res.info["losses"] = (tenths[done].T / torch.tensor([counts[k] for k in done], device=tenths.device)).cpu().numpy()
    for k in names:
        model.params[k] = model.params[k].detach()
    if res.diverged.any():
        log.info(f"  {label}: {int(res.diverged.sum())} of {M} members diverged (frozen at 0)")
    return res


@torch.no_grad()
def accuracy_1101(model, X: torch.Tensor, y: torch.Tensor, chunk: int = 64,
                  cells: int = 2**22) -> torch.Tensor:
    """Accuracy (n_models,) of every member on a shared validation set X (n, length).

    Members are taken in chunks (consecutive members, which share a size in the sweeps'
    layout) and the chunk's kernels trimmed to its largest live filter count: a padded
    filter adds exactly 0 to the logit. Examples are taken in batches so that the
    position-wise responses (members x filters x examples x positions, at most ``cells``)
    stay in cache.
    """
    out = []
    positions = X.shape[-1] - 3
    for s in range(0, model.n_models, chunk):
        sub = model.select(s, s + chunk)
        f = 1
        if "kernels" in sub.params:
            f = int(sub.sizes.max())
            sub.params = {**sub.params, "kernels": sub.params["kernels"][:, :f], "w": sub.params["w"][:, :f]}
        batch = max(1, cells // (sub.n_models * f * positions))
        hits = sum(((sub(X[b:b + batch]) > 0).float() == y[b:b + batch]).float().sum(-1)
                   for b in range(0, len(y), batch))
        out.append(hits / len(y))
    return torch.cat(out)


TENTHS = 10   # the per-step losses are kept as means over each tenth of the run
#: Convergence criterion of one training (recorded in its TrainState, for the record).
CRITERION = ("solved (perfect score), or the training loss, averaged per tenth of the run, fell "
             "by < 5 % over the last fifth")


def train_state(tenths: np.ndarray, steps: int, error: np.ndarray, solved: np.ndarray) -> TrainState:
    """TrainState of members trained ``steps`` iterations from their mean loss per tenth
    of the run (M, 10), as :func:`train_online` records it.

    ``train_loss``: the mean loss over the last tenth; ``met``: :data:`CRITERION`
    (single-example losses are noisy: the plateau test reads the per-tenth means).

    Introduced in: Chapter 1
    """
    tenths = np.asarray(tenths, float)
    if tenths.shape[1] == 0:
        tenths = np.full((len(tenths), 1), np.nan)
    met = np.asarray(solved, bool) | plateaued(tenths, window=2, rel_tol=0.05)
    return TrainState(np.full(len(tenths), steps), tenths[:, -1], np.asarray(error, float), met, CRITERION)


def subset_state(st: TrainState, keep: np.ndarray) -> TrainState:
    """The members of ``st`` selected by the boolean mask ``keep``."""
    return TrainState(st.steps[keep], st.train_loss[keep], st.train_error[keep], st.met[keep], st.criterion)


@dataclass
class SweepResult:
    """Per-member outcome of a stacked sweep (arrays of length n_members).

    Introduced in: Chapter 1
    """

    kind: str
    sizes: np.ndarray          # n_filters or width of each member
    n_trained: np.ndarray      # trained parameters of each member
    score: np.ndarray          # accuracy (CNN) or macro-F1 (AND)
    success: np.ndarray        # bool: perfect score (CNN) or F1 >= 0.99 (AND)
    lr: np.ndarray | None = None   # learning rate of each member
    diverged: np.ndarray | None = None
    model: object = field(repr=False, default=None)
    seconds: float = 0.0
    state: TrainState | None = field(repr=False, default=None)   # one entry per member
    init: np.ndarray | None = field(repr=False, default=None)    # CNN: initial kernels (M, F, 4)

    def arm(self, sizes=None) -> TrainState:
        """TrainState of the members whose size is in ``sizes`` (all members when None)."""
        if self.state is None:
            raise ValueError(f"{self.kind} sweep has no training state recorded")
        keep = np.ones(len(self.sizes), bool) if sizes is None else np.isin(self.sizes, list(np.atleast_1d(sizes)))
        return subset_state(self.state, keep)

    def by_size(self, what: str = "score") -> dict[int, np.ndarray]:
        """``score`` (or ``success`` as 0/1) grouped by size, in member order."""
        x = getattr(self, what).astype(float)
        return {int(s): x[self.sizes == s] for s in np.unique(self.sizes)}

    def summary(self) -> list[dict]:
        """Rows (size, n_trained, mean, ci_low, ci_high, success rate and its Wilson CI)."""
        rows = []
        for s in np.unique(self.sizes):
            sel = self.sizes == s
            e = mean_ci(self.score[sel])
            w = wilson_ci(int(self.success[sel].sum()), int(sel.sum()))
            rows.append(dict(kind=self.kind, size=int(s), n_trained=int(self.n_trained[sel][0]),
                             mean=e.mean, ci_low=e.low, ci_high=e.high, success=w.mean,
                             success_low=w.low, success_high=w.high, n=int(sel.sum())))
        return rows


# --------------------------------------------------------------------------- gradient-friendly variants

#: Temperature of the smooth max (log-sum-exp) that replaces max pooling: fixed before any
#: run, large enough that a kernel of the initial scale (outputs ~0.5 apart) still weights
#: its best window most, small enough that every window gets a gradient.
SMOOTH_TEMPERATURE = 5.0
LEAKY_SLOPE = 0.01   # PyTorch's default LeakyReLU slope


class SmoothMaxCNN(StackedCNN):
    """StackedCNN with max pooling replaced by a smooth max: log-sum-exp over positions of
    ``SMOOTH_TEMPERATURE`` x the responses, divided by it (every window gets a gradient).
    Members must all have the same number of filters (a zero-padded filter would not stay
    zero: its smooth max is log(P) / temperature, not 0).

    Introduced in: Chapter 1
    """

    def __init__(self, n_filters: Sequence[int], **kw):
        super().__init__(n_filters, **kw)
        if len(set(self.sizes.tolist())) != 1:
            raise ValueError(f"n_filters={list(n_filters)!r} is not allowed for a smooth max; "
                             "expected one size for every member")

    def forward(self, X, z=None):
        k = self.params["kernels"]
        M, n_f, width = k.shape
        windows = X.unfold(-1, width, 1)                  # (..., B, P, width)
        B, P = windows.shape[-3], windows.shape[-2]
        if X.dim() == 2:                                   # shared inputs: one matmul
            conved = k.reshape(M * n_f, width) @ windows.reshape(B * P, width).T
        else:
            conved = torch.bmm(k, windows.reshape(M, B * P, width).transpose(1, 2))
        h = torch.logsumexp(SMOOTH_TEMPERATURE * conved.reshape(M, n_f, B, P), dim=-1) / SMOOTH_TEMPERATURE
        return torch.einsum("mfb,mf->mb", h, self.params["w"]) + self.params["b"][:, None]


class LeakyMLP1(StackedMLP1):
    """StackedMLP1 with LeakyReLU (slope :data:`LEAKY_SLOPE`) instead of ReLU.

    Introduced in: Chapter 1
    """

    @staticmethod
    def act(x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, LEAKY_SLOPE)


def validation_1101(n_pairs: int, seed: int, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The shared 1101 validation set: ``n_pairs`` negatives then positives, fixed by ``seed``."""
    return make_pattern_1101(n_pairs, generator=generator(seed, "1101 validation", device),
                             device=device)


def _grid(sizes: Sequence[int], n_runs: int, lr) -> tuple[list[int], list[float]]:
    """Member sizes and learning rates: for each lr, for each size, ``n_runs`` members."""
    lrs = [float(v) for v in (lr if isinstance(lr, (list, tuple)) else [lr])]
    return ([s for _ in lrs for s in sizes for _ in range(n_runs)],
            [v for v in lrs for s in sizes for _ in range(n_runs)])


def _optimizer(model, name, lrs, momentum, device):
    lr = lrs[0] if len(set(lrs)) == 1 else torch.tensor(lrs, device=device)
    # the sources' "sgd" is plain SGD: a momentum belongs to "momentum" only
    return make_optimizer(model.trained_parameters(), name, lr, stacked=True,
                          momentum=momentum if name == "momentum" else None)


def sweep_cnn(kind: str, sizes: Sequence[int], n_runs: int, *, steps: int = 100,
              n_val_pairs: int = 1000, optimizer: str = "momentum",
              lr: float | Sequence[float] = 0.1, momentum: float = 0.5, seed: int = 0,
              stream: str | None = None, pool: str = "max", device="cpu") -> SweepResult:
    """Train ``n_runs`` members per size of a 1101 model as one stack; score on fresh pairs.

    Parameters
    ----------
    kind : "naive", "random_conv" or "hyper"
    sizes : n_filters values (ignored for "hyper", which has one kernel)
    optimizer, lr, momentum : the source uses SGD with lr 0.1, momentum 0.5; ``lr`` may be
        a list: then every size gets ``n_runs`` members per learning rate
    stream : name of the random stream (initial values, data, seeds z); default the kind
    pool : "max" (the source's) or "smooth" (:class:`SmoothMaxCNN`, Naive only); on the
        same stream both draw the same initial values and data (paired trainings)

    Returns
    -------
    SweepResult; ``success`` is 100 % validation accuracy; ``init`` the initial kernels.

    Introduced in: Chapter 1
    """
    if kind not in ("naive", "random_conv", "hyper"):
        raise ValueError(f"kind={kind!r} is not allowed; choose one of: 'naive', 'random_conv', 'hyper'")
    if pool not in ("max", "smooth") or (pool == "smooth" and kind != "naive"):
        raise ValueError(f"pool={pool!r} is not allowed for kind={kind!r}; choose 'max' (or 'smooth' for 'naive')")
    t0 = time.perf_counter()
    g = generator(seed, stream or f"1101 {kind}", device)
    member_sizes, member_lrs = _grid([1] if kind == "hyper" else list(sizes), n_runs, lr)
    M = len(member_sizes)
    if kind == "hyper":
        model = StackedHyperCNN(M, generator=g, device=device)
        n_trained = np.full(M, StackedHyperCNN.n_generated)
    else:
        cls = SmoothMaxCNN if pool == "smooth" else StackedCNN
        model = cls(member_sizes, random_conv=(kind == "random_conv"), generator=g, device=device)
        n_trained = model.n_trained.numpy()
    init = model.params["kernels"].detach().cpu().numpy().copy() if kind != "hyper" else None
    opt = _optimizer(model, optimizer, member_lrs, momentum, device)
    fitted = train_online(model, lambda: make_pattern_1101(1, generator=g, device=device, batch_shape=(M,)),
                          steps, opt, seed_dim=2 if kind == "hyper" else 0, generator=g,
                          label=f"1101 {kind}")
    Xv, yv = validation_1101(n_val_pairs, seed, device)
    acc = accuracy_1101(model, Xv, yv).cpu().numpy()
    res = SweepResult(kind, np.asarray(member_sizes), n_trained, acc, acc == 1.0,
                      np.asarray(member_lrs), fitted.diverged, model, time.perf_counter() - t0,
                      train_state(fitted.info["losses"], fitted.steps, 1 - acc, acc == 1.0), init)
    log.info(f"  1101 {kind}: {M} trainings in {res.seconds:.1f} s")
    return res


def and_skip_rule(y: torch.Tensor) -> torch.Tensor:
    """The source's rule: a member takes the step only if >= 25 % of its batch is positive."""
    return y.sum(-1) >= y.shape[-1] / 4


@torch.no_grad()
def macro_f1(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Macro-averaged F1 of binary predictions, per member.

    Parameters
    ----------
    pred : bool Tensor (n_models, n)
    y : Tensor (n,) or (n_models, n) of 0/1

    Returns
    -------
    Tensor (n_models,), the mean of the F1 of class 1 and of class 0 (as sklearn's
    ``f1_score(average="macro")``; a class with no predictions and no labels scores 0).
    Introduced in: Chapter 1
    """
    y = y.bool().expand_as(pred)
    f1s = []
    for p, t in ((pred, y), (~pred, ~y)):
        tp = (p & t).sum(-1).float()
        denom = p.sum(-1).float() + t.sum(-1).float()
        f1s.append(torch.where(denom > 0, 2 * tp / denom.clamp(min=1), torch.zeros_like(tp)))
    return (f1s[0] + f1s[1]) / 2


def sweep_and(kind: str, widths: Sequence[int], n_runs: int, *, steps: int = 500,
              batch: int = 16, n_test: int = 5000, optimizer: str = "sgd",
              lr: float | Sequence[float] = 0.1, momentum: float = 0.9, seed: int = 0,
              stream: str | None = None, act: str = "relu", device="cpu") -> SweepResult:
    """Train ``n_runs`` AND nets per width as one stack (the source's skip rule); macro-F1.

    ``kind`` is "naive" (Linear-ReLU-Linear) or "hyper" (HyperBoolNet, width 2); the
    source trains both with plain SGD, lr 0.1. ``lr`` may be a list (as in
    :func:`sweep_cnn`). ``act``: "relu" (the source's) or "leaky" (:class:`LeakyMLP1`, Naive
    only; on the same stream both draw the same initial values and data). ``success`` is
    F1 >= 0.99 on ``n_test`` fresh points.
    Introduced in: Chapter 1
    """
    if kind not in ("naive", "hyper"):
        raise ValueError(f"kind={kind!r} is not allowed; choose one of: 'naive', 'hyper'")
    if act not in ("relu", "leaky") or (act == "leaky" and kind != "naive"):
        raise ValueError(f"act={act!r} is not allowed for kind={kind!r}; choose 'relu' (or 'leaky' for 'naive')")
    t0 = time.perf_counter()
    g = generator(seed, stream or f"and {kind}", device)
    member_sizes, member_lrs = _grid([2] if kind == "hyper" else list(widths), n_runs, lr)
    M = len(member_sizes)
    if kind == "hyper":
        model = StackedHyperBoolNet(M, generator=g, device=device)
        n_trained = np.full(M, StackedHyperBoolNet.n_generated)
    else:
        model = (LeakyMLP1 if act == "leaky" else StackedMLP1)(member_sizes, generator=g, device=device)
        n_trained = model.n_trained.numpy()
    opt = _optimizer(model, optimizer, member_lrs, momentum, device)
    fitted = train_online(model, lambda: make_and_task(batch, generator=g, device=device, batch_shape=(M,)),
                          steps, opt, seed_dim=2 if kind == "hyper" else 0, skip=and_skip_rule,
                          generator=g, label=f"AND {kind}")
    Xt, yt = make_and_task(n_test, generator=generator(seed, "and test", device), device=device)
    with torch.no_grad():
        f1 = macro_f1(model(Xt) > 0, yt).cpu().numpy()
    res = SweepResult(kind, np.asarray(member_sizes), n_trained, f1, f1 >= 0.99,
                      np.asarray(member_lrs), fitted.diverged, model, time.perf_counter() - t0,
                      train_state(fitted.info["losses"], fitted.steps, 1 - f1, f1 >= 0.99))
    log.info(f"  AND {kind}: {M} trainings in {res.seconds:.1f} s")
    return res
