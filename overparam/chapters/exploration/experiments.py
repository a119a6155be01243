"""Chapter 1 experiments: the 1101 CNN and the AND net, hundreds of trainings per point.

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
from scipy import integrate
from scipy.stats import norm

from ...config import generator, log, threads
from ...data import PATTERN_1101, make_and_task, make_pattern_1101
from ...engine.loop import FitResult, fit
from ...engine.optim import StackedOptimizer, make_optimizer
from ...models import (StackedCNN, StackedHyperBoolNet, StackedHyperCNN, StackedMLP1, conv_max,
                       handset_and_net)
from ...stats import mean_ci, wilson_ci
from .profiles import ExplorationConfig

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
    FitResult; ``taken`` (n_models,) counts the steps each member took.

    Introduced in: Chapter 1
    """
    model.requires_grad_()
    names = model.trainable
    M = model.n_models

    def batch(_step):
        X, y = sample()
        z = torch.randn(M, seed_dim, generator=generator, device=X.device) if seed_dim else None
        return X, y, z

    def loss(params, b):
        model.params.update(zip(names, params))
        X, y, z = b
        return F.binary_cross_entropy_with_logits(model(X, z), y, reduction="none").mean(-1)

    active = None if skip is None else (lambda b: skip(b[1]))
    res = fit(model.trained_parameters(), loss, batch, optimizer, steps, active=active,
              nan_guard=nan_guard, label=label)
    for k in names:
        model.params[k] = model.params[k].detach()
    if res.diverged.any():
        log.info(f"  {label}: {int(res.diverged.sum())} of {M} members diverged (frozen at 0)")
    return res


@torch.no_grad()
def accuracy_1101(model, X: torch.Tensor, y: torch.Tensor, chunk: int = 64,
                  batch: int = 250) -> torch.Tensor:
    """Accuracy (n_models,) of every member on a shared validation set X (n, length).

    Members and examples are taken in chunks so the position-wise responses, the
    costly part (n * positions * filters per member), stay in cache.
    """
    out = []
    for s in range(0, model.n_models, chunk):
        sub = model.select(s, s + chunk)
        hits = sum(((sub(X[b:b + batch]) > 0).float() == y[b:b + batch]).float().sum(-1)
                   for b in range(0, len(y), batch))
        out.append(hits / len(y))
    return torch.cat(out)


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
              stream: str | None = None, device="cpu") -> SweepResult:
    """Train ``n_runs`` members per size of a 1101 model as one stack; score on fresh pairs.

    Parameters
    ----------
    kind : "naive", "random_conv" or "hyper"
    sizes : n_filters values (ignored for "hyper", which has one kernel)
    optimizer, lr, momentum : the source uses SGD with lr 0.1, momentum 0.5; ``lr`` may be
        a list: then every size gets ``n_runs`` members per learning rate
    stream : name of the random stream (initial values, data, seeds z); default the kind

    Returns
    -------
    SweepResult; ``success`` is 100 % validation accuracy.

    Introduced in: Chapter 1
    """
    if kind not in ("naive", "random_conv", "hyper"):
        raise ValueError(f"kind={kind!r} is not allowed; choose one of: 'naive', 'random_conv', 'hyper'")
    t0 = time.perf_counter()
    g = generator(seed, stream or f"1101 {kind}", device)
    member_sizes, member_lrs = _grid([1] if kind == "hyper" else list(sizes), n_runs, lr)
    M = len(member_sizes)
    if kind == "hyper":
        model = StackedHyperCNN(M, generator=g, device=device)
        n_trained = np.full(M, StackedHyperCNN.n_generated)
    else:
        model = StackedCNN(member_sizes, random_conv=(kind == "random_conv"), generator=g, device=device)
        n_trained = model.n_trained.numpy()
    opt = _optimizer(model, optimizer, member_lrs, momentum, device)
    fitted = train_online(model, lambda: make_pattern_1101(1, generator=g, device=device, batch_shape=(M,)),
                          steps, opt, seed_dim=2 if kind == "hyper" else 0, generator=g,
                          label=f"1101 {kind}")
    Xv, yv = validation_1101(n_val_pairs, seed, device)
    acc = accuracy_1101(model, Xv, yv).cpu().numpy()
    res = SweepResult(kind, np.asarray(member_sizes), n_trained, acc, acc == 1.0,
                      np.asarray(member_lrs), fitted.diverged, model, time.perf_counter() - t0)
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
              stream: str | None = None, device="cpu") -> SweepResult:
    """Train ``n_runs`` AND nets per width as one stack (the source's skip rule); macro-F1.

    ``kind`` is "naive" (Linear-ReLU-Linear) or "hyper" (HyperBoolNet, width 2); the
    source trains both with plain SGD, lr 0.1. ``lr`` may be a list (as in
    :func:`sweep_cnn`). ``success`` is F1 >= 0.99 on ``n_test`` fresh points.
    Introduced in: Chapter 1
    """
    if kind not in ("naive", "hyper"):
        raise ValueError(f"kind={kind!r} is not allowed; choose one of: 'naive', 'hyper'")
    t0 = time.perf_counter()
    g = generator(seed, stream or f"and {kind}", device)
    member_sizes, member_lrs = _grid([2] if kind == "hyper" else list(widths), n_runs, lr)
    M = len(member_sizes)
    if kind == "hyper":
        model = StackedHyperBoolNet(M, generator=g, device=device)
        n_trained = np.full(M, StackedHyperBoolNet.n_generated)
    else:
        model = StackedMLP1(member_sizes, generator=g, device=device)
        n_trained = model.n_trained.numpy()
    opt = _optimizer(model, optimizer, member_lrs, momentum, device)
    fitted = train_online(model, lambda: make_and_task(batch, generator=g, device=device, batch_shape=(M,)),
                          steps, opt, seed_dim=2 if kind == "hyper" else 0, skip=and_skip_rule,
                          generator=g, label=f"AND {kind}")
    Xt, yt = make_and_task(n_test, generator=generator(seed, "and test", device), device=device)
    with torch.no_grad():
        f1 = macro_f1(model(Xt) > 0, yt).cpu().numpy()
    res = SweepResult(kind, np.asarray(member_sizes), n_trained, f1, f1 >= 0.99,
                      np.asarray(member_lrs), fitted.diverged, model, time.perf_counter() - t0)
    log.info(f"  AND {kind}: {M} trainings in {res.seconds:.1f} s")
    return res

# --------------------------------------------------------------------------- hand-set nets


def handset_and_f1(repeats: int, n_test: int = 5000, seed: int = 0, device="cpu") -> np.ndarray:
    """Macro-F1 of the hand-set width-2 AND net on ``repeats`` fresh test sets.

    Introduced in: Chapter 1
    """
    X, y = make_and_task(n_test, generator=generator(seed, "hand-set AND test", device),
                         device=device, batch_shape=(repeats,))
    return macro_f1(handset_and_net(X) > 0, y).cpu().numpy()


def handset_and_margin() -> float:
    """The hand-set AND net's margin t: it says "positive" iff relu(-x1) + relu(-x2) < t.

    Read off the net itself: its logit at (0, 1) is the bias b and falls by s per unit
    of -x1, so t = b / s (10 / 100 for the source's net).
    """
    logit = lambda x1: float(handset_and_net(torch.tensor([[x1, 1.0]], dtype=torch.float64))[0])
    bias, slope = logit(0.0), logit(0.0) - logit(-1.0)
    return bias / slope


def handset_and_f1_exact() -> float:
    """Macro-F1 of the hand-set AND net on x ~ N(0, I_2), in closed form (infinite test set).

    The net says "positive" iff relu(-x1) + relu(-x2) < t (:func:`handset_and_margin`), so
    it finds every positive (x1, x2 > 0) and errs on negatives near the quadrant's border:
    P(FP) = 2 * P(-t < x1 < 0) * P(x2 > 0) + P(u, v > 0, u + v < t) with u = -x1, v = -x2.
    Then F1(pos) = 2 TP / (2 TP + FP), F1(neg) = 2 TN / (2 TN + FP), TP = 1/4, TN = 3/4 - FP.

    Introduced in: Chapter 1
    """
    t = handset_and_margin()
    band = norm.cdf(0) - norm.cdf(-t)
    corner, _ = integrate.quad(lambda u: norm.pdf(u) * (norm.cdf(t - u) - norm.cdf(0)), 0, t)
    fp = 2 * band * 0.5 + corner
    tp, tn = 0.25, 0.75 - fp
    return float((2 * tp / (2 * tp + fp) + 2 * tn / (2 * tn + fp)) / 2)


def handset_1101_accuracy(n_pairs: int, seed: int = 0, device="cpu") -> float:
    """Accuracy of the hand-set kernel [1, 1, 0, 1] with decision 1 * max - 2 (5 parameters)."""
    X, y = validation_1101(n_pairs, seed, device)
    k = torch.tensor(PATTERN_1101, device=device).reshape(1, 1, 4)
    logits = conv_max(X, k)[0, :, 0] - 2.0
    return float(((logits > 0).float() == y).float().mean())

# --------------------------------------------------------------------------- analyses


def draws_estimate(s1: np.ndarray, sn: np.ndarray, n: int, level: float = 0.95):
    """Measured - predicted success at n filters, with a normal (delta-method) interval.

    The prediction of "n filters = n independent draws" is 1 - (1 - p1)^n from the
    1-filter success rate p1. Rates enter the variance with half a success added on
    each side, so an interval never has zero width.
    Returns ``(measured, predicted, diff, low, high)``.
    """
    s1, sn = np.asarray(s1, float), np.asarray(sn, float)
    p1, pn = s1.mean(), sn.mean()
    pred = 1 - (1 - p1) ** n
    q1 = (s1.sum() + 0.5) / (len(s1) + 1)
    qn = (sn.sum() + 0.5) / (len(sn) + 1)
    var = qn * (1 - qn) / len(sn) + (n * (1 - q1) ** (n - 1)) ** 2 * q1 * (1 - q1) / len(s1)
    half = norm.ppf(0.5 + level / 2) * np.sqrt(var)
    d = pn - pred
    return pn, pred, d, d - half, d + half


def more_draws(result: SweepResult, p1_result: SweepResult | None = None) -> list[dict]:
    """Compare the success rate at n filters with 1 - (1 - p1)^n from the 1-filter rate p1.

    If over-parameterization only buys independent draws from the initialization
    lottery, a net with n filters succeeds when any of n one-filter nets would.
    ``p1`` comes from ``p1_result`` (a separate, larger set of 1-filter trainings) when
    given, else from the 1-filter members of ``result``.
    Returns per size: measured rate, predicted rate, measured - predicted and its 95 %
    interval (:func:`draws_estimate`).
    Introduced in: Chapter 1
    """
    by = result.by_size("success")
    s1 = (p1_result or result).by_size("success")[1]
    rows = []
    for n, sn in by.items():
        m, p, d, lo, hi = draws_estimate(s1, sn, n)
        rows.append(dict(size=n, measured=m, predicted=p, diff=d, diff_low=lo, diff_high=hi))
    return rows


@dataclass
class KernelAnalysis:
    """Where the trained kernels of a Naive sweep end up, per member."""

    sizes: np.ndarray      # n_filters
    best_cos: np.ndarray   # best cosine of a live kernel to [1, 1, 0, 1]
    n_useful: np.ndarray   # filters that alone separate the validation classes
    success: np.ndarray    # bool: 100 % validation accuracy


@torch.no_grad()
def kernel_analysis(result: SweepResult, n_val_pairs: int = 1000, seed: int = 0) -> KernelAnalysis:
    """Where trained kernels end up: cosine to [1, 1, 0, 1] and how many filters are useful.

    A filter is *useful* when its max-pooled response alone separates the validation
    classes perfectly (every positive scores above every negative, in the direction of
    its decision weight). Introduced in: Chapter 1
    """
    model = result.model
    dev = model.params["kernels"].device
    Xv, yv = validation_1101(n_val_pairs, seed, dev)
    K = model.params["kernels"]  # (M, F, 4)
    target = torch.tensor(PATTERN_1101, device=dev)
    cos = F.cosine_similarity(K, target.expand_as(K), dim=-1)  # (M, F); zero rows -> 0
    live = torch.arange(K.shape[1], device=dev)[None] < model.sizes.to(dev)[:, None]
    useful = torch.zeros_like(live)
    for s in range(0, model.n_models, 64):
        h = conv_max(Xv, K[s:s + 64]) * torch.sign(model.params["w"][s:s + 64])[:, None]
        pos, neg = h[:, yv == 1], h[:, yv == 0]
        useful[s:s + 64] = pos.amin(1) > neg.amax(1)
    useful &= live
    best_cos = torch.where(live, cos, torch.full_like(cos, -2)).amax(1)
    return KernelAnalysis(result.sizes, best_cos.cpu().numpy(), useful.sum(1).cpu().numpy(),
                          result.success)

# --------------------------------------------------------------------------- optimizers


def pick_best(selection: dict[tuple[str, float], np.ndarray]) -> tuple[str, float]:
    """The (optimizer, lr) with the best mean outcome (ties: the first in order)."""
    return max(selection, key=lambda k: float(np.mean(selection[k])))


@dataclass
class OptimizerStudy:
    """Other optimizers vs the source's recipe at the smallest sizes, picked then tested.

    ``selection[(name, lr)]`` holds per-size outcomes of the picking trainings;
    ``chosen`` is the best candidate at ``size`` on them; ``test`` holds fresh
    trainings at ``size`` of the chosen candidate and of the baseline.
    """

    task: str                     # "cnn" or "and"
    sizes: tuple[int, ...]
    size: int                     # the size the claim is about (the smallest)
    baseline: tuple[str, float, float]   # (optimizer, lr, momentum) of the source
    selection: dict = field(default_factory=dict)   # (name, lr) -> {size: outcomes}
    chosen: tuple[str, float] = ("", 0.0)
    test: dict = field(default_factory=dict)        # "chosen" / "baseline" -> outcomes
    outcome: str = ""             # what an outcome is

    def at_size(self, size: int | None = None) -> dict[tuple[str, float], np.ndarray]:
        """Selection outcomes of the candidates (not the baseline) at ``size``."""
        s = self.size if size is None else size
        return {k: v[s] for k, v in self.selection.items() if k[0] != "baseline"}


def optimizer_study(task: str, sizes: Sequence[int], n_runs: int, lrs: Sequence[float],
                    candidates: Sequence[str] = CANDIDATES, *, steps: int, seed: int = 0,
                    device="cpu", **task_kw) -> OptimizerStudy:
    """Does another optimizer train the smallest nets better than the source's recipe?

    Each candidate (SGD with momentum 0.9, Adam, RMSprop) trains ``n_runs`` nets per size
    and learning rate of ``lrs`` (one stack per optimizer, per-member learning rates);
    the source's recipe (:data:`BASELINES`: SGD lr 0.1 with momentum 0.5 on the 1101
    task, plain SGD lr 0.1 on AND) trains on the same stream. The best candidate and lr
    at the smallest size is picked on these trainings, then it and the baseline train
    ``n_runs`` fresh nets at that size (another random stream), which the claim uses.
    The outcome is the success rate (100 % validation accuracy) for ``task="cnn"``
    (Naive CNN) and the macro-F1 for ``task="and"``.
    Introduced in: Chapter 1
    """
    if task not in BASELINES:
        raise ValueError(f"task={task!r} is not allowed; choose one of: 'cnn', 'and'")
    sweep = sweep_cnn if task == "cnn" else sweep_and
    what = "success" if task == "cnn" else "score"
    base_name, base_lr, base_mom = BASELINES[task]
    study = OptimizerStudy(task, tuple(sizes), min(sizes), BASELINES[task],
                           outcome="share reaching 100 %" if task == "cnn" else "macro-F1")

    def outcomes(r: SweepResult, lr: float) -> dict[int, np.ndarray]:
        sel = r.lr == lr
        x = getattr(r, what).astype(float)
        return {int(s): x[sel & (r.sizes == s)] for s in sizes}

    pick = f"optimizers {task} pick"
    for name in candidates:
        r = sweep("naive", sizes, n_runs, steps=steps, optimizer=name, lr=list(lrs), momentum=0.9,
                  seed=seed, stream=pick, device=device, **task_kw)
        for lr in lrs:
            study.selection[(name, float(lr))] = outcomes(r, float(lr))
    r = sweep("naive", sizes, n_runs, steps=steps, optimizer=base_name, lr=base_lr,
              momentum=base_mom, seed=seed, stream=pick, device=device, **task_kw)
    study.selection[("baseline", base_lr)] = outcomes(r, base_lr)
    study.chosen = pick_best(study.at_size())
    test = f"optimizers {task} test"
    for key, (name, lr, mom) in (("chosen", (study.chosen[0], study.chosen[1], 0.9)),
                                 ("baseline", BASELINES[task])):
        r = sweep("naive", [study.size], n_runs, steps=steps, optimizer=name, lr=lr, momentum=mom,
                  seed=seed, stream=test, device=device, **task_kw)
        study.test[key] = outcomes(r, lr)[study.size]
    return study

# --------------------------------------------------------------------------- the chapter


@dataclass
class ExplorationResults:
    """Everything Chapter 1 measures (one seed of the notebook, many trainings each)."""

    naive: SweepResult
    random_conv: SweepResult
    hyper: SweepResult
    and_naive: SweepResult
    and_hyper: SweepResult
    handset_and: np.ndarray        # macro-F1 of the hand-set AND net on fresh test sets
    handset_and_exact: float       # its closed form
    handset_1101: float            # accuracy of the hand-set 1101 kernel
    p1: SweepResult                # extra 1-filter Naive trainings (the "more draws" p1)
    optimizers_cnn: OptimizerStudy
    optimizers_and: OptimizerStudy
    seconds: float = 0.0


def run_chapter(cfg: ExplorationConfig, seed: int = 0, device="cpu") -> ExplorationResults:
    """Run every experiment of Chapter 1 at the sizes of ``cfg`` (one CPU thread).

    Introduced in: Chapter 1
    """
    t0 = time.perf_counter()
    filters = list(range(1, cfg.max_filters + 1))
    kw = dict(steps=cfg.cnn_steps, n_val_pairs=cfg.n_val_pairs, seed=seed, device=device)
    and_kw = dict(steps=cfg.and_steps, n_test=cfg.n_test_and, seed=seed, device=device)
    out = {}
    jobs = [
        ("naive", lambda: sweep_cnn("naive", filters, cfg.n_runs, **kw)),
        ("random_conv", lambda: sweep_cnn("random_conv", cfg.random_conv_filters, cfg.n_runs, **kw)),
        ("hyper", lambda: sweep_cnn("hyper", [1], cfg.n_runs, **kw)),
        ("p1", lambda: sweep_cnn("naive", [1], cfg.p1_runs, stream="1101 naive p1", **kw)),
        ("and_naive", lambda: sweep_and("naive", range(1, cfg.max_width + 1), cfg.and_runs, **and_kw)),
        ("and_hyper", lambda: sweep_and("hyper", [2], cfg.and_runs, **and_kw)),
        ("optimizers_cnn", lambda: optimizer_study("cnn", [1, 2], cfg.optimizer_runs, cfg.lrs, **kw)),
        ("optimizers_and", lambda: optimizer_study("and", [2, 3], cfg.optimizer_runs, cfg.lrs, **and_kw)),
    ]
    with threads(1, device):
        for i, (name, job) in enumerate(jobs, 1):
            log.info(f"[{i}/{len(jobs)}] {name} (elapsed {time.perf_counter() - t0:.0f} s)")
            out[name] = job()
        res = ExplorationResults(
            **out, handset_and=handset_and_f1(cfg.handset_repeats, cfg.n_test_and, seed, device),
            handset_and_exact=handset_and_f1_exact(),
            handset_1101=handset_1101_accuracy(cfg.n_val_pairs, seed, device))
    res.seconds = time.perf_counter() - t0
    log.info(f"done in {res.seconds:.0f} s")
    return res
