"""Chapter 1 experiments: over-parameterization as exploration (the 1101 CNN and AND net).

Every grid point trains hundreds of independent networks. They run as one stacked
computation (``overparam.models.Stacked*``), members of all sizes in one stack.
Source: rom1mouret/exploration (README, ``eval_cnn.py``, ``eval_bool.py``).
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .. import claims as C
from ..config import check_positive
from ..data import PATTERN_1101, make_and_task, make_pattern_1101
from ..models import (StackedCNN, StackedHyperBoolNet, StackedHyperCNN, StackedMLP1,
                     conv_max, handset_and_net)
from ..engine.optim import OPTIMIZERS, StackedOptimizer
from ..stats import Estimate, diff_ci, mean_ci, wilson_ci

SOURCE = "rom1mouret/exploration"

# --------------------------------------------------------------------------- profiles


@dataclass(frozen=True)
class ExplorationConfig:
    """Knobs of Chapter 1; one instance per profile in :data:`PROFILES`."""

    n_runs: int = 200            # trainings per CNN grid point (source: 500)
    max_filters: int = 7         # Naive/RandomConv n_filters 1..max_filters (source: 7)
    cnn_steps: int = 100         # SGD steps, one negative + one positive each (source: 100)
    n_val_pairs: int = 1000      # validation pairs (source: 1000)
    and_runs: int = 50           # trainings per AND width (source: 50)
    max_width: int = 22          # AND widths 1..max_width (source: 22)
    and_steps: int = 500         # AND iterations of batch 16 (source: 500)
    n_test_and: int = 5000       # fresh AND test points (source: 5000)
    optimizer_runs: int = 100    # trainings per (optimizer, lr, size) in the optimizer study
    lrs: tuple = (0.03, 0.1, 0.3)  # lr grid per optimizer: each gets its best
    handset_repeats: int = 20    # fresh test sets for the hand-set AND net's F1

    def __post_init__(self):
        for name in ("n_runs", "max_filters", "cnn_steps", "n_val_pairs", "and_runs",
                     "max_width", "and_steps", "n_test_and", "optimizer_runs", "handset_repeats"):
            check_positive(name, getattr(self, name), integer=True)
        check_positive("lrs", list(self.lrs))
        if self.max_width < 3:
            raise ValueError(f"max_width={self.max_width!r} is not allowed; expected an integer >= 3")

    @property
    def random_conv_filters(self) -> tuple[int, ...]:
        """RandomConv sizes: 1..max_filters plus 5k filters (k <= 4), which train 5k+1
        parameters, as many as Naive with k filters."""
        matched = {5 * k for k in range(1, min(self.max_filters, 4) + 1)}
        return tuple(sorted(set(range(1, self.max_filters + 1)) | matched))


PROFILES = {
    "smoke": ExplorationConfig(n_runs=8, max_filters=3, cnn_steps=20, n_val_pairs=100, and_runs=4,
                               max_width=4, and_steps=40, n_test_and=500, optimizer_runs=4,
                               lrs=(0.1,), handset_repeats=3),
    "quick": ExplorationConfig(),
    "full": ExplorationConfig(n_runs=1000, max_filters=12, and_runs=500, max_width=32,
                              optimizer_runs=500, lrs=(0.003, 0.01, 0.03, 0.1, 0.3, 1.0),
                              handset_repeats=100),
}

# --------------------------------------------------------------------------- training


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def train_online(model, sample: Callable[[], tuple[torch.Tensor, torch.Tensor]], steps: int,
                 optimizer: StackedOptimizer, *, seed_dim: int = 0,
                 skip: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Train every member of a stacked model on freshly sampled batches, BCE with logits.

    Parameters
    ----------
    model : Stacked
        Stacked model; its trainable tensors are updated in place.
    sample : callable
        Returns ``(X, y)`` with X of shape (n_models, batch, ...) and y (n_models, batch).
    steps : int
        Iterations; each draws a new batch per member.
    seed_dim : int
        For hypernetworks: draw a seed z ~ N(0, I) of this size per member and step.
    skip : callable, optional
        Maps y to a bool tensor (n_models,) of members that take the step (the AND rule).

    Returns
    -------
    Tensor (n_models,): number of steps each member took.

    Introduced in: Chapter 1
    """
    model.requires_grad_()
    params = model.trained_parameters()
    taken = torch.zeros(model.n_models, device=params[0].device)
    for _ in range(steps):
        X, y = sample()
        z = (torch.randn(model.n_models, seed_dim, generator=generator, device=X.device)
             if seed_dim else None)
        loss = F.binary_cross_entropy_with_logits(model(X, z), y, reduction="none").mean(-1)
        grads = torch.autograd.grad(loss.sum(), params)
        active = skip(y) if skip is not None else None
        optimizer.step(grads, active)
        taken += 1 if active is None else active.float()
    bad = [i for i in range(model.n_models)
           if not all(torch.isfinite(p[i]).all() for p in params)]
    if bad:
        raise FloatingPointError(f"non-finite parameters in members {bad[:10]} "
                                 f"(sizes {model.sizes[bad[:10]].tolist()})")
    for p in params:
        p.requires_grad_(False)
    return taken


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
    """Per-member outcome of a stacked sweep (arrays of length n_members)."""

    kind: str
    sizes: np.ndarray          # n_filters or width of each member
    n_trained: np.ndarray      # trained parameters of each member
    score: np.ndarray          # accuracy (CNN) or macro-F1 (AND)
    success: np.ndarray        # bool: perfect score on the validation set
    model: object = field(repr=False, default=None)
    seconds: float = 0.0

    def by_size(self) -> dict[int, np.ndarray]:
        """Scores grouped by size."""
        return {int(s): self.score[self.sizes == s] for s in np.unique(self.sizes)}

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


def _generator(seed: int, device) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def validation_1101(n_pairs: int, seed: int, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The shared 1101 validation set: ``n_pairs`` negatives then positives, fixed by ``seed``."""
    return make_pattern_1101(n_pairs, generator=_generator(10_000 + seed, device), device=device)


def sweep_cnn(kind: str, sizes: Sequence[int], n_runs: int, *, steps: int = 100,
              n_val_pairs: int = 1000, optimizer: str = "momentum", lr: float = 0.1,
              momentum: float = 0.5, seed: int = 0, device="cpu") -> SweepResult:
    """Train ``n_runs`` members per size of a 1101 model as one stack; score on fresh pairs.

    Parameters
    ----------
    kind : "naive", "random_conv" or "hyper"
    sizes : n_filters values (ignored for "hyper", which has one kernel)
    optimizer, lr, momentum : the source uses SGD with lr 0.1, momentum 0.5

    Returns
    -------
    SweepResult; ``success`` is 100 % validation accuracy.

    Introduced in: Chapter 1
    """
    if kind not in ("naive", "random_conv", "hyper"):
        raise ValueError(f"kind={kind!r} is not allowed; choose one of: 'naive', 'random_conv', 'hyper'")
    t0 = time.perf_counter()
    g = _generator(seed, device)
    if kind == "hyper":
        member_sizes = [1] * n_runs
        model = StackedHyperCNN(n_runs, generator=g, device=device)
    else:
        member_sizes = [s for s in sizes for _ in range(n_runs)]
        model = StackedCNN(member_sizes, random_conv=(kind == "random_conv"), generator=g, device=device)
    opt = StackedOptimizer(model.trained_parameters(), optimizer, lr=lr, momentum=momentum)
    M = model.n_models
    train_online(model, lambda: make_pattern_1101(1, generator=g, device=device, batch_shape=(M,)),
                 steps, opt, seed_dim=2 if kind == "hyper" else 0, generator=g)
    Xv, yv = validation_1101(n_val_pairs, seed, device)
    acc = accuracy_1101(model, Xv, yv).cpu().numpy()
    n_trained = (np.full(M, StackedHyperCNN.n_generated) if kind == "hyper"
                 else model.n_trained.numpy())
    res = SweepResult(kind, np.asarray(member_sizes), n_trained, acc, acc == 1.0, model,
                      time.perf_counter() - t0)
    _log(f"  {kind}: {M} trainings in {res.seconds:.1f} s")
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
              batch: int = 16, n_test: int = 5000, optimizer: str = "sgd", lr: float = 0.1,
              momentum: float = 0.9, seed: int = 0, device="cpu") -> SweepResult:
    """Train ``n_runs`` AND nets per width as one stack (the source's skip rule); macro-F1.

    ``kind`` is "naive" (Linear-ReLU-Linear) or "hyper" (HyperBoolNet, width 2).
    ``success`` is F1 >= 0.99 on ``n_test`` fresh points. Introduced in: Chapter 1
    """
    if kind not in ("naive", "hyper"):
        raise ValueError(f"kind={kind!r} is not allowed; choose one of: 'naive', 'hyper'")
    t0 = time.perf_counter()
    g = _generator(seed + 1, device)
    if kind == "hyper":
        member_sizes = [2] * n_runs
        model = StackedHyperBoolNet(n_runs, generator=g, device=device)
        n_trained = np.full(n_runs, StackedHyperBoolNet.n_generated)
    else:
        member_sizes = [w for w in widths for _ in range(n_runs)]
        model = StackedMLP1(member_sizes, generator=g, device=device)
        n_trained = model.n_trained.numpy()
    opt = StackedOptimizer(model.trained_parameters(), optimizer, lr=lr, momentum=momentum)
    M = model.n_models
    train_online(model, lambda: make_and_task(batch, generator=g, device=device, batch_shape=(M,)),
                 steps, opt, seed_dim=2 if kind == "hyper" else 0, skip=and_skip_rule, generator=g)
    Xt, yt = make_and_task(n_test, generator=_generator(20_000 + seed, device), device=device)
    f1 = macro_f1(model(Xt) > 0, yt).cpu().numpy()
    res = SweepResult(kind, np.asarray(member_sizes), n_trained, f1, f1 >= 0.99, model,
                      time.perf_counter() - t0)
    _log(f"  AND {kind}: {M} trainings in {res.seconds:.1f} s")
    return res


def handset_and_f1(repeats: int, n_test: int = 5000, seed: int = 0, device="cpu") -> np.ndarray:
    """Macro-F1 of the hand-set width-2 AND net on ``repeats`` fresh test sets.

    Introduced in: Chapter 1
    """
    g = _generator(30_000 + seed, device)
    X, y = make_and_task(n_test, generator=g, device=device, batch_shape=(repeats,))
    return macro_f1(handset_and_net(X) > 0, y).cpu().numpy()


def handset_1101_accuracy(n_pairs: int, seed: int = 0, device="cpu") -> float:
    """Accuracy of the hand-set kernel [1, 1, 0, 1] with decision 1 * max - 2 (5 parameters)."""
    X, y = validation_1101(n_pairs, seed, device)
    k = torch.tensor(PATTERN_1101, device=device).reshape(1, 1, 4)
    logits = conv_max(X, k)[0, :, 0] - 2.0
    return float(((logits > 0).float() == y).float().mean())

# --------------------------------------------------------------------------- analyses


def more_draws(result: SweepResult, n_boot: int = 2000, seed: int = 0) -> list[dict]:
    """Compare the success rate at n filters with 1 - (1 - p1)^n from the 1-filter rate p1.

    If over-parameterization only buys independent draws from the initialization
    lottery, a net with n filters succeeds when any of n one-filter nets would.
    Returns per size: measured rate, predicted rate, and a bootstrap 95 % interval of
    measured - predicted (resampling members at size 1 and at size n).
    Introduced in: Chapter 1
    """
    rng = np.random.default_rng(seed)
    s1 = result.success[result.sizes == 1].astype(float)
    rows = []
    for n in np.unique(result.sizes):
        sn = result.success[result.sizes == n].astype(float)
        p1_b = rng.choice(s1, (n_boot, len(s1))).mean(1)
        pn_b = rng.choice(sn, (n_boot, len(sn))).mean(1)
        d_b = pn_b - (1 - (1 - p1_b) ** n)
        pred = 1 - (1 - s1.mean()) ** n
        rows.append(dict(size=int(n), measured=sn.mean(), predicted=pred, diff=sn.mean() - pred,
                         diff_low=np.quantile(d_b, 0.025), diff_high=np.quantile(d_b, 0.975),
                         diff_boot=d_b))
    return rows


@torch.no_grad()
def kernel_analysis(result: SweepResult, n_val_pairs: int = 1000, seed: int = 0) -> dict:
    """Where trained kernels end up: cosine to [1, 1, 0, 1] and how many filters are useful.

    A filter is *useful* when its max-pooled response alone separates the validation
    classes perfectly (every positive scores above every negative, in the direction of
    its decision weight). Returns per member: the best cosine of its filters to
    [1, 1, 0, 1], the number of useful filters, and the success flag.
    Introduced in: Chapter 1
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
    return dict(sizes=result.sizes, best_cos=best_cos.cpu().numpy(),
                n_useful=useful.sum(1).cpu().numpy(), success=result.success,
                cos=cos.cpu().numpy(), live=live.cpu().numpy())


def optimizer_study(task: str, sizes: Sequence[int], n_runs: int, lrs: Sequence[float],
                    optimizers: Sequence[str] = OPTIMIZERS, *, steps: int, seed: int = 0,
                    device="cpu", **task_kw) -> list[dict]:
    """Outcome at the smallest sizes for each optimizer, at its best learning rate.

    Every optimizer gets the same step budget and the same lr grid; for each, the lr
    with the best mean outcome over ``sizes`` is kept. The outcome is the success rate
    (100 % validation accuracy) for ``task="cnn"`` (Naive CNN) and the macro-F1 for
    ``task="and"``, where a width-2 net cannot reach F1 = 1 (even the hand-set one
    does not). Momentum is 0.9 for "momentum".
    Returns rows: task, optimizer, best lr, size, mean outcome and its 95 % CI, samples.
    Introduced in: Chapter 1
    """
    rows = []
    for name in optimizers:
        best = None
        for lr in lrs:
            if task == "cnn":
                r = sweep_cnn("naive", sizes, n_runs, steps=steps, optimizer=name, lr=lr,
                              momentum=0.9, seed=seed, device=device, **task_kw)
                outcome = r.success.astype(float)
            else:
                r = sweep_and("naive", sizes, n_runs, steps=steps, optimizer=name, lr=lr,
                              seed=seed, device=device, **task_kw)
                outcome = r.score
            if best is None or outcome.mean() > best[2].mean():
                best = (lr, r, outcome)
        lr, r, outcome = best
        for s in sizes:
            x = outcome[r.sizes == s]
            e = mean_ci(x)
            rows.append(dict(task=task, optimizer=name, lr=lr, size=int(s), mean=e.mean,
                             low=e.low, high=e.high, samples=x))
    return rows

# --------------------------------------------------------------------------- the chapter


def run_chapter(cfg: ExplorationConfig, seed: int = 0, device="cpu") -> dict:
    """Run every experiment of Chapter 1 at the sizes of ``cfg``; returns a dict of results.

    Introduced in: Chapter 1
    """
    t0 = time.perf_counter()
    filters = list(range(1, cfg.max_filters + 1))
    kw = dict(steps=cfg.cnn_steps, n_val_pairs=cfg.n_val_pairs, seed=seed, device=device)
    steps = ["naive", "random_conv", "hyper", "and", "and_hyper", "handset", "optimizers"]
    out = {}
    for i, name in enumerate(steps, 1):
        _log(f"[{i}/{len(steps)}] {name} (elapsed {time.perf_counter() - t0:.0f} s)")
        if name == "naive":
            out[name] = sweep_cnn("naive", filters, cfg.n_runs, **kw)
        elif name == "random_conv":
            out[name] = sweep_cnn("random_conv", cfg.random_conv_filters, cfg.n_runs, **kw)
        elif name == "hyper":
            out[name] = sweep_cnn("hyper", [1], cfg.n_runs, **kw)
        elif name == "and":
            out[name] = sweep_and("naive", range(1, cfg.max_width + 1), cfg.and_runs,
                                  steps=cfg.and_steps, n_test=cfg.n_test_and, seed=seed, device=device)
        elif name == "and_hyper":
            out[name] = sweep_and("hyper", [2], cfg.and_runs, steps=cfg.and_steps,
                                  n_test=cfg.n_test_and, seed=seed, device=device)
        elif name == "handset":
            out["handset_and"] = handset_and_f1(cfg.handset_repeats, cfg.n_test_and, seed, device)
            out["handset_1101"] = handset_1101_accuracy(cfg.n_val_pairs, seed, device)
        else:
            out["optimizers_cnn"] = optimizer_study(
                "cnn", [1, 2], cfg.optimizer_runs, cfg.lrs, steps=cfg.cnn_steps, seed=seed,
                device=device, n_val_pairs=cfg.n_val_pairs)
            out["optimizers_and"] = optimizer_study(
                "and", [2, 3], cfg.optimizer_runs, cfg.lrs, steps=cfg.and_steps, seed=seed,
                device=device, n_test=cfg.n_test_and)
    out["seconds"] = time.perf_counter() - t0
    _log(f"done in {out['seconds']:.0f} s")
    return out


def chapter_claims(res: dict, profile: str = "", seed: int = 0) -> list[C.Claim]:
    """The claims-under-test rows of Chapter 1, each verdict computed from ``res``.

    Introduced in: Chapter 1
    """
    naive, rc, hyper = res["naive"].by_size(), res["random_conv"].by_size(), res["hyper"].score
    and_ = res["and"].by_size()
    src = SOURCE + " README"
    rows = []

    def add(claim, est, verdict, rule):
        rows.append(C.make_claim(claim, src, est, verdict, rule, profile, seed))

    big = max(naive)
    e = diff_ci(naive[big], naive[1])
    add(f"Accuracy rises with n_filters (Naive, {big} vs 1 filter)", e, C.judge_above(e, 0),
        "accuracy difference > 0 with its 95 % CI")
    pairs = [k for k in naive if 5 * k in rc]
    e = diff_ci(np.concatenate([rc[5 * k] for k in pairs]), np.concatenate([naive[k] for k in pairs]))
    add("RandomConv is more economical than Naive at equal trained parameters "
        f"(5k vs k filters, k = {pairs[0]}..{pairs[-1]})", e, C.judge_above(e, 0),
        "RandomConv - Naive accuracy > 0 with its 95 % CI")
    e = diff_ci(hyper, naive[1])
    add("HyperNetwork beats the 1-filter Naive net with a 5-parameter generated net",
        e, C.judge_above(e, 0), "accuracy difference > 0 with its 95 % CI")
    wide = max(and_)
    e = diff_ci(and_[wide], and_[2])
    add(f"Width > 2 helps on AND (F1 at width {wide} vs 2)", e, C.judge_above(e, 0),
        "macro-F1 difference > 0 with its 95 % CI")
    e = mean_ci(res["handset_and"])
    add("The hand-set width-2 AND net reaches F1 ≈ 0.98", e, C.judge_near(e, 0.98, 0.01),
        "mean macro-F1 over fresh test sets within 0.98 ± 0.01")
    rows.append(_optimizer_claim(res["optimizers_cnn"], "1101 CNN, 1 filter", 1, profile, seed))
    rows.append(_optimizer_claim(res["optimizers_and"], "AND net, width 2", 2, profile, seed))
    md = more_draws(res["naive"])
    diffs = np.array([r["diff"] for r in md if r["size"] > 1])
    boots = np.stack([r["diff_boot"] for r in md if r["size"] > 1]).mean(0)
    e = Estimate(float(diffs.mean()), float(np.quantile(boots, 0.025)),
                 float(np.quantile(boots, 0.975)), len(diffs))
    misses = [r["size"] for r in md if r["size"] > 1 and not r["diff_low"] <= 0 <= r["diff_high"]]
    verdict = C.judge_near(e, 0.0, 0.05)
    if verdict == C.REPRODUCED and misses:
        verdict = C.PARTLY
    rows.append(C.make_claim(
        "Over-parameterization = more draws: success(n) ≈ 1 - (1 - p1)^n (our analysis"
        + (f"; prediction outside the 95 % CI at n = {misses})" if misses else ")"),
        "this book", e, verdict,
        "mean of measured - predicted over n > 1 within ± 0.05 (bootstrap CI), and every "
        "n's CI contains 0 (else partly)", profile, seed))
    return rows


def _optimizer_claim(rows: list[dict], what: str, size: int | None, profile: str, seed: int) -> C.Claim:
    """Claim row: the best of the other optimizers vs plain SGD, each at its best lr."""
    def pooled(name):
        return np.concatenate([r["samples"] for r in rows
                               if r["optimizer"] == name and (size is None or r["size"] == size)])
    base = pooled("sgd")
    others = {n: pooled(n) for n in sorted({r["optimizer"] for r in rows} - {"sgd"})}
    best = max(others, key=lambda n: others[n].mean())
    e = diff_ci(others[best], base)
    outcome = "success rate" if rows[0]["task"] == "cnn" else "macro-F1"
    return C.make_claim(f"Other optimizers train smaller nets ({what}: best is {best})",
                        SOURCE + " README", e, C.judge_above(e, 0),
                        f"{outcome} difference (best other − plain SGD, each at its best lr) > 0",
                        profile, seed)

# --------------------------------------------------------------------------- figures


def plot_cnn_sweep(res: dict):
    """Figure: 1101 accuracy and success rate vs trained parameters (mean, 95 % CI).

    Introduced in: Chapter 1
    """
    import matplotlib.pyplot as plt
    from ..plotting import plot_interval
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    labels = {"naive": "Naive CNN", "random_conv": "RandomConv", "hyper": "HyperNetwork"}
    for kind in ("naive", "random_conv", "hyper"):
        rows = res[kind].summary()
        x = [r["n_trained"] for r in rows]
        if kind == "hyper":
            r = rows[0]
            a1.errorbar(x, [100 * r["mean"]], [[100 * (r["mean"] - r["ci_low"])], [100 * (r["ci_high"] - r["mean"])]],
                        fmt="o", ms=8, capsize=4, label=labels[kind] + " (generated net)")
            a2.errorbar(x, [100 * r["success"]], [[100 * (r["success"] - r["success_low"])],
                        [100 * (r["success_high"] - r["success"])]], fmt="o", ms=8, capsize=4,
                        label=labels[kind])
            continue
        plot_interval(a1, x, [100 * r["mean"] for r in rows], [100 * r["ci_low"] for r in rows],
                      [100 * r["ci_high"] for r in rows], label=labels[kind], marker=".")
        plot_interval(a2, x, [100 * r["success"] for r in rows], [100 * r["success_low"] for r in rows],
                      [100 * r["success_high"] for r in rows], label=labels[kind], marker=".")
    a1.scatter([5], [100 * res["handset_1101"]], marker="x", s=90, c="red", zorder=5,
               label="hand-set [1,1,0,1] (measured)")
    a1.set(xlabel="trained parameters (generated parameters for HyperNetwork)",
           ylabel="validation accuracy (%)", title="1101 pattern: mean accuracy, 95 % CI")
    a2.set(xlabel="trained parameters", ylabel="trainings reaching 100 % (%)",
           title="Share of trainings that find a perfect solution")
    from matplotlib.ticker import ScalarFormatter
    for ax in (a1, a2):
        ax.set_xscale("log")
        ax.set_xticks([2, 5, 10, 20, 50])
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
    a1.legend(fontsize="small")
    a2.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_and_sweep(res: dict):
    """Figure: AND macro-F1 vs width (mean, 95 % CI), HyperBoolNet and the hand-set net.

    Introduced in: Chapter 1
    """
    import matplotlib.pyplot as plt
    from ..plotting import plot_interval
    fig, ax = plt.subplots(figsize=(7, 4))
    rows = res["and"].summary()
    plot_interval(ax, [r["size"] for r in rows], [r["mean"] for r in rows],
                  [r["ci_low"] for r in rows], [r["ci_high"] for r in rows],
                  label="Linear-ReLU-Linear, trained", marker=".")
    h = res["and_hyper"].summary()[0]
    ax.errorbar([2.1], [h["mean"]], [[h["mean"] - h["ci_low"]], [h["ci_high"] - h["mean"]]],
                fmt="o", capsize=4, label="HyperBoolNet (generated width-2 net)")
    e = mean_ci(res["handset_and"])
    ax.errorbar([1.9], [e.mean], [[e.mean - e.low], [e.high - e.mean]], fmt="x", c="red",
                ms=9, capsize=4, label="hand-set width-2 net (measured)")
    ax.axhline(0.98, ls=":", c="red", lw=1, label="source's figure: hand-set at 0.98")
    ax.set(xlabel="hidden width", ylabel="macro-F1 on fresh points",
           title="AND: y = (x1 > 0) and (x2 > 0)")
    ax.legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    return fig


def plot_more_draws(rows: list[dict]):
    """Figure: measured success rate vs the 'independent draws' prediction 1 - (1 - p1)^n.

    Introduced in: Chapter 1
    """
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.5, 4))
    n = [r["size"] for r in rows]
    ax.plot(n, [r["predicted"] for r in rows], "k--", label="predicted: 1 - (1 - p1)^n")
    ax.errorbar(n, [r["measured"] for r in rows],
                [[r["diff"] - r["diff_low"] for r in rows], [r["diff_high"] - r["diff"] for r in rows]],
                fmt="o-", capsize=3, label="measured (bars: 95 % CI of measured - predicted)")
    ax.set(xlabel="n_filters", ylabel="share of trainings reaching 100 %",
           title="Is a wider net just more lottery tickets?")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_kernels(k: dict):
    """Figure: best cosine to [1, 1, 0, 1] (successes vs failures) and useful filters per net.

    Introduced in: Chapter 1
    """
    import matplotlib.pyplot as plt
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    bins = np.linspace(-1, 1, 41)
    a1.hist(k["best_cos"][k["success"]], bins, alpha=0.6, label="reached 100 %", density=True)
    a1.hist(k["best_cos"][~k["success"]], bins, alpha=0.6, label="did not", density=True)
    a1.set(xlabel="best cosine of a trained kernel to [1, 1, 0, 1]", ylabel="density",
           title="Where the kernels end up (all sizes)")
    a1.legend(fontsize="small")
    sizes = np.unique(k["sizes"])
    for label, sel in (("nets reaching 100 %", k["success"]), ("other nets", ~k["success"])):
        m = [k["n_useful"][(k["sizes"] == s) & sel].mean() if ((k["sizes"] == s) & sel).any() else np.nan
             for s in sizes]
        a2.plot(sizes, m, "o-", label=label)
    a2.plot(sizes, sizes, ":", c="grey", label="all filters")
    a2.set(xlabel="n_filters", ylabel="useful filters per net (mean)",
           title="A filter is useful if it alone separates the classes")
    a2.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_optimizers(rows: list[dict]):
    """Figure: outcome per optimizer (at its best lr) at the smallest sizes, both tasks.

    Introduced in: Chapter 1
    """
    import matplotlib.pyplot as plt
    tasks = sorted({r["task"] for r in rows})
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        sub = [r for r in rows if r["task"] == task]
        sizes = sorted({r["size"] for r in sub})
        names = list(dict.fromkeys(r["optimizer"] for r in sub))
        w = 0.8 / len(sizes)
        for j, s in enumerate(sizes):
            rs = [next(r for r in sub if r["optimizer"] == n and r["size"] == s) for n in names]
            x = np.arange(len(names)) + j * w
            ax.bar(x, [r["mean"] for r in rs], w, yerr=[[r["mean"] - r["low"] for r in rs],
                   [r["high"] - r["mean"] for r in rs]], capsize=3,
                   label=("n_filters" if task == "cnn" else "width") + f" = {s}")
        ax.set_xticks(np.arange(len(names)) + 0.4 - w / 2,
                      [f"{n}\n(lr {next(r['lr'] for r in sub if r['optimizer'] == n)})" for n in names])
        ax.set(ylabel="share reaching 100 %" if task == "cnn" else "macro-F1",
               title="1101 CNN" if task == "cnn" else "AND net")
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def optimizer_table(rows: list[dict]):
    """The optimizer study as a DataFrame (task, optimizer, best lr, size, mean, CI)."""
    import pandas as pd
    return pd.DataFrame([{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()
                          if k != "samples"} for r in rows])


def kernel_summary(k: dict):
    """Per n_filters: success rate, useful filters of successful nets, median best cosine.

    Introduced in: Chapter 1
    """
    import pandas as pd
    rows = []
    for s in np.unique(k["sizes"]):
        sel = k["sizes"] == s
        ok, bad = sel & k["success"], sel & ~k["success"]
        rows.append(dict(n_filters=int(s), success=k["success"][sel].mean(),
                         useful_filters_if_success=k["n_useful"][ok].mean() if ok.any() else np.nan,
                         median_cos_success=np.median(k["best_cos"][ok]) if ok.any() else np.nan,
                         median_cos_failure=np.median(k["best_cos"][bad]) if bad.any() else np.nan))
    return pd.DataFrame(rows).round(3)
