"""Chapter 8's experiments: pairs of independently trained MLPs and the paths between them.

- :func:`load_task` – MNIST-1D, inputs standardised with the training statistics.
- :func:`train_networks` – a stack of MLPs of the model family trained by the engine's one
  loop (:func:`overparam.engine.loop.fit`), mixed widths zero-padded and masked.
- :func:`connectivity_grid` – for every training-set size N and width w, ``n_pairs``
  pairs of networks trained from independent starts; along the straight line, the line
  after weight matching and after activation matching, and the trained Bezier curve:
  training loss and test error at every t; plus each network's dropout stability and,
  at the largest N, pairs trained from one start (chapter 7's instability).
- :func:`feature_grid` – the same heads trained on features of growing quality (raw
  inputs, a random and a trained feature extractor), quality scored by a linear probe.

Introduced in: Chapter 8
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ... import alignment, data, landscape
from ...config import check_choice, generator, log, seed_stream, threads
from ...engine.loop import Snapshots, fit
from ...engine.optim import make_optimizer
from ...models import Arch, forward, init_stack, member_params, pad_to
from .profiles import ConnectivityConfig

METHODS = ("line", "weight", "activation", "bezier")   # the paths between independent solutions
METRICS = ("train_loss", "train_error", "test_loss", "test_error")


@dataclass
class Task:
    """A classification task as tensors: MNIST-1D with standardised inputs."""

    X: torch.Tensor
    y: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int = 10

    @property
    def d(self) -> int:
        return self.X.shape[1]


def load_task(device: torch.device | str = "cpu") -> Task:
    """MNIST-1D (4,000 train / 1,000 test, 40 inputs, 10 classes), each input
    standardised with the mean and sd of the 4,000 training sequences.

    Introduced in: Chapter 8
    """
    ds = data.load_mnist1d()
    X, Xt = torch.as_tensor(ds["x"]), torch.as_tensor(ds["x_test"])
    mu, sd = X.mean(0), X.std(0).clamp_min(1e-6)
    return Task(((X - mu) / sd).to(device), torch.as_tensor(ds["y"]).to(device),
                ((Xt - mu) / sd).to(device), torch.as_tensor(ds["y_test"]).to(device))


def _standardise(F_tr: torch.Tensor, F_te: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mu, sd = F_tr.mean(0), F_tr.std(0).clamp_min(1e-6)
    return (F_tr - mu) / sd, (F_te - mu) / sd


@dataclass
class Trained:
    """A trained stack: padded parameters (M, ...), masks, each member's true arch."""

    arch: Arch
    archs: list
    params: list
    masks: list
    snapshots: dict = field(default_factory=dict)

    def member(self, i: int) -> list[torch.Tensor]:
        return member_params(self.params, i, self.archs[i])

    def select(self, idx) -> tuple[list, list]:
        idx = torch.as_tensor(idx, dtype=torch.long, device=self.params[0].device)
        return ([p[idx] for p in self.params],
                [None if m is None else m[idx] for m in self.masks])


def train_networks(archs: list[Arch], seeds: list[int], X: torch.Tensor, y: torch.Tensor,
                   cfg: ConnectivityConfig, order_seed: int, *, steps: int | None = None,
                   snapshot_steps=(), label: str = "train") -> Trained:
    """Train one network per (arch, seed) with Adam on mini-batches drawn with replacement.

    Every member starts from :func:`overparam.models.init_member` of its own seed and
    draws its own batches (one generator seeded with ``order_seed`` for the stack); the
    stack trains through :func:`overparam.engine.loop.fit` with the stacked Adam, so each
    member trains as it would alone.

    Introduced in: Chapter 8
    """
    device = X.device
    st = init_stack(archs, seeds, device, requires_grad=True)
    M, n, B = len(seeds), X.shape[0], min(cfg.batch_size, X.shape[0])
    gen = torch.Generator().manual_seed(order_seed)

    def batches(_step):
        return torch.randint(0, n, (M, B), generator=gen).to(device)

    def loss(ps, idx):
        logits = forward(st.arch, ps, X[idx], class_major=True)      # (M, C, B)
        return F.cross_entropy(logits, y[idx], reduction="none").mean(1)

    snaps = Snapshots(snapshot_steps)
    opt = make_optimizer(st.params, "adam", cfg.lr, stacked=True)
    res = fit(st.params, loss, batches, opt, cfg.steps if steps is None else steps,
              grad_masks=st.masks, callbacks=[snaps] if snapshot_steps else (), label=label)
    return Trained(st.arch, st.archs, res.params, st.masks, snaps.snaps)


# --------------------------------------------------------------------------- the (N, width) grid


@dataclass
class GridResult:
    """Paths between pairs of independently trained networks over a grid of (N, width).

    Attributes
    ----------
    n_trains (I,), widths (J,), ts (T,)
    curves : dict method -> dict metric -> ndarray (I, J, P, T); methods are
        :data:`METHODS` plus ``"same_start"`` (the line between two trainings from one
        start, largest N only, NaN elsewhere)
    dropout_gap : ndarray (I, J, P, 2): best-of-draws training loss after dropping half of
        both hidden layers (rescaled), minus the network's own training loss, per end
    seconds : wall time

    Introduced in: Chapter 8
    """

    n_trains: np.ndarray
    widths: np.ndarray
    ts: np.ndarray
    curves: dict
    dropout_gap: np.ndarray
    seconds: float = 0.0

    @property
    def n_pairs(self) -> int:
        return self.dropout_gap.shape[2]

    def barrier(self, method: str = "bezier", metric: str = "train_loss") -> np.ndarray:
        """Barrier (max along the path minus the mean of the ends), shape (I, J, P)."""
        check_choice("method", method, tuple(self.curves))
        check_choice("metric", metric, METRICS)
        return landscape.path_barrier(self.curves[method][metric])

    def end_loss(self) -> np.ndarray:
        """Training loss of the two ends, (I, J, P, 2)."""
        c = self.curves["line"]["train_loss"]
        return np.stack([c[..., 0], c[..., -1]], -1)


def _init_seed(seed: int, *key) -> int:
    return seed_stream(seed, "connectivity/init/" + "/".join(str(k) for k in key))


def _scan(arch, a, b, task_tr, task_te, ts, kind="line", bend=None) -> dict:
    s = landscape.scan_path(arch, a, b, ts, *task_tr, *task_te, kind=kind, bend=bend)
    return {m: getattr(s, m) for m in METRICS}


def _aligned(tr: Trained, ia, ib, method: str, X: torch.Tensor, seed: int) -> list[torch.Tensor]:
    """``b`` members permuted onto their ``a`` partners, padded back into the stack layout."""
    out = []
    for i, j in zip(ia, ib):
        arch = tr.archs[i]
        pb = alignment.align(arch, tr.member(i), tr.member(j), method, X=X,
                             generator=generator(seed, f"connectivity/align/{i}"))
        out.append([pad_to(p, s) for p, s in zip(pb, tr.arch.shapes())])
    return [torch.stack([o[k] for o in out]).to(tr.params[0].device) for k in range(len(tr.params))]


def _dropout_gaps(tr: Trained, members, X, y, base_loss: np.ndarray, cfg, seed: int) -> np.ndarray:
    gaps = []
    for k, i in enumerate(members):
        losses = alignment.dropout_loss(tr.archs[i], tr.member(i), X, y, fraction=0.5,
                                        n_draws=cfg.dropout_draws,
                                        generator=generator(seed, f"connectivity/dropout/{i}"))
        gaps.append(losses.min() - base_loss[k])
    return np.asarray(gaps)


def pair_paths(tr: Trained, ia, ib, train: tuple, test: tuple, cfg: ConnectivityConfig, seed: int,
               methods=METHODS, label: str = "bend") -> dict:
    """Curves of every path method between members ``ia[k]`` and ``ib[k]`` of a trained stack.

    Returns dict method -> dict metric -> ndarray (K, T).

    Introduced in: Chapter 8
    """
    ts = np.linspace(0, 1, cfg.n_points)
    a, masks = tr.select(ia)
    b, _ = tr.select(ib)
    out = {}
    for m in methods:
        if m == "line":
            out[m] = _scan(tr.arch, a, b, train, test, ts)
        elif m in ("weight", "activation"):
            out[m] = _scan(tr.arch, a, _aligned(tr, ia, ib, m, train[0], seed), train, test, ts)
        else:
            bend = landscape.fit_bend(tr.arch, a, b, *train, kind="bezier", steps=cfg.curve_steps,
                                      lr=cfg.lr, batch_size=cfg.batch_size, masks=masks,
                                      generator=generator(seed, f"connectivity/{label}"), label=label)
            out[m] = _scan(tr.arch, a, b, train, test, ts, "bezier", bend)
    return out


@threads(1)
def connectivity_grid(cfg: ConnectivityConfig, task: Task, seed: int = 0) -> GridResult:
    """Train ``n_pairs`` independent pairs per (N, width) and measure the paths between them.

    For each N (the first N training examples): one stack holds, for every width w and
    pair k, two networks from independent seeded starts (and, at the largest N with
    ``same_start``, a third network from the first one's start with its own batch order).
    Then, per pair: the straight line, the line after weight matching and after
    activation matching (on the N training inputs), and a Bezier curve whose bend is
    trained for ``curve_steps``; training loss/error on the N examples and test
    loss/error on the 1,000 test examples at ``n_points`` values of t; and each network's
    dropout gap.

    Introduced in: Chapter 8
    """
    t0 = time.perf_counter()
    I, J, P, T = len(cfg.n_trains), len(cfg.widths), cfg.n_pairs, cfg.n_points
    names = (*METHODS, "same_start")
    curves = {m: {k: np.full((I, J, P, T), np.nan) for k in METRICS} for m in names}
    gaps = np.full((I, J, P, 2), np.nan)
    base = Arch("mlp", (cfg.widths[0],) * 2, d=task.d, n_classes=task.n_classes)
    test = (task.X_test, task.y_test)
    for i, N in enumerate(cfg.n_trains):
        train = (task.X[:N], task.y[:N])
        same = cfg.same_start and i == I - 1
        archs, seeds, ia, ib, isame, cell = [], [], [], [], [], []
        for j, w in enumerate(cfg.widths):
            for k in range(P):
                for e in (0, 1):
                    (ia if e == 0 else ib).append(len(seeds))
                    archs.append(base.with_widths((w, w)))
                    seeds.append(_init_seed(seed, N, w, k, e))
                if same:
                    isame.append(len(seeds))
                    archs.append(base.with_widths((w, w)))
                    seeds.append(_init_seed(seed, N, w, k, 0))
                cell.append((j, k))
        log.info(f"connectivity: N={N}, {len(seeds)} networks")
        tr = train_networks(archs, seeds, *train, cfg, seed_stream(seed, f"connectivity/order/N{N}"),
                            label=f"connectivity N={N}")
        paths = pair_paths(tr, ia, ib, train, test, cfg, seed, label=f"bend N={N}")
        if same:
            paths["same_start"] = _scan(tr.arch, tr.select(ia)[0], tr.select(isame)[0], train, test,
                                        np.linspace(0, 1, T))
        for m, per in paths.items():
            for metric, v in per.items():
                for r, (j, k) in enumerate(cell):
                    curves[m][metric][i, j, k] = v[r]
        line = paths["line"]["train_loss"]
        ga = _dropout_gaps(tr, ia, *train, line[:, 0], cfg, seed)
        gb = _dropout_gaps(tr, ib, *train, line[:, -1], cfg, seed)
        for r, (j, k) in enumerate(cell):
            gaps[i, j, k] = (ga[r], gb[r])
    return GridResult(np.asarray(cfg.n_trains), np.asarray(cfg.widths), np.linspace(0, 1, T), curves,
                      gaps, time.perf_counter() - t0)


# --------------------------------------------------------------------------- feature quality


@dataclass
class FeatureResult:
    """Bezier-curve and straight-line barriers of heads trained on features of several qualities.

    Attributes
    ----------
    levels : list of str – "raw" (the inputs), then "random features" (extractor at step 0)
        and "extractor after s steps" for each later checkpoint
    quality : ndarray (Q,) – training accuracy of a linear probe on each level's features
        (1.0: linearly separable training set)
    widths : ndarray (J,)
    barrier : ndarray (Q, J, P) – Bezier-curve training-loss barrier
    line_barrier : ndarray (Q, J, P) – straight-line training-loss barrier
    end_loss : ndarray (Q, J, P, 2) – training loss of the two ends
    n_train : int
    seconds : float

    Introduced in: Chapter 8
    """

    levels: list
    quality: np.ndarray
    widths: np.ndarray
    barrier: np.ndarray
    line_barrier: np.ndarray
    end_loss: np.ndarray
    n_train: int
    seconds: float = 0.0


def _probe_accuracy(Fe: torch.Tensor, y: torch.Tensor, cfg, seed: int, name: str, n_classes: int) -> float:
    """Training accuracy of a linear classifier (the model family with no hidden layer)."""
    arch = Arch("mlp", (), d=Fe.shape[1], n_classes=n_classes)
    tr = train_networks([arch], [_init_seed(seed, "probe", name)], Fe, y, cfg,
                        seed_stream(seed, f"connectivity/probe/{name}"), steps=cfg.probe_steps,
                        label=f"probe {name}")
    with torch.no_grad():
        return float((forward(tr.arch, tr.params, Fe)[0].argmax(1) == y).double().mean())


@threads(1)
def feature_grid(cfg: ConnectivityConfig, task: Task, grid: GridResult, seed: int = 0) -> FeatureResult:
    """The same two-hidden-layer heads on raw inputs and on a feature extractor's features.

    A d-``feature_dim``-10 MLP (the extractor) is trained on the largest training set;
    its hidden ReLU features at each of ``feature_steps`` (0: random features; the last:
    a network that fits its training set, whose features are then nearly linearly
    separable) are standardised and fed to heads of every width, trained in pairs from
    independent starts as in :func:`connectivity_grid`. The raw level is the grid's
    largest-N row (the same heads on the standardised inputs). Quality = training
    accuracy of a linear probe on the features.

    Introduced in: Chapter 8
    """
    t0 = time.perf_counter()
    N = int(cfg.n_trains[-1])
    X, y = task.X[:N], task.y[:N]
    ext_arch = Arch("mlp", (cfg.feature_dim,), d=task.d, n_classes=task.n_classes)
    steps = list(cfg.feature_steps)
    ext = train_networks([ext_arch], [_init_seed(seed, "extractor")], X, y, cfg,
                         seed_stream(seed, "connectivity/order/extractor"), steps=max(steps),
                         snapshot_steps=steps, label="extractor")
    feats = {"raw": (X, task.X_test)}
    for s in steps:
        W, b = ext.snapshots[s][0][0].to(X.device), ext.snapshots[s][1][0].to(X.device)
        feats["random features" if s == 0 else f"extractor after {s} steps"] = _standardise(torch.relu(X @ W + b), torch.relu(task.X_test @ W + b))
    levels = list(feats)
    Q, J, P = len(levels), len(cfg.widths), cfg.n_pairs
    quality = np.array([_probe_accuracy(feats[lv][0], y, cfg, seed, lv, task.n_classes) for lv in levels])
    bar, line_bar = np.full((Q, J, P), np.nan), np.full((Q, J, P), np.nan)
    ends = np.full((Q, J, P, 2), np.nan)
    bar[0] = grid.barrier("bezier")[-1]
    line_bar[0] = grid.barrier("line")[-1]
    ends[0] = grid.end_loss()[-1]
    for q, lv in enumerate(levels[1:], start=1):
        Ftr, Fte = feats[lv]
        base = Arch("mlp", (cfg.widths[0],) * 2, d=Ftr.shape[1], n_classes=task.n_classes)
        archs, seeds, ia, ib, cell = [], [], [], [], []
        for j, w in enumerate(cfg.widths):
            for k in range(P):
                for e in (0, 1):
                    (ia if e == 0 else ib).append(len(seeds))
                    archs.append(base.with_widths((w, w)))
                    seeds.append(_init_seed(seed, "features", lv, w, k, e))
                cell.append((j, k))
        log.info(f"connectivity: heads on {lv}, {len(seeds)} networks")
        tr = train_networks(archs, seeds, Ftr, y, cfg, seed_stream(seed, f"connectivity/order/{lv}"),
                            label=f"heads {lv}")
        paths = pair_paths(tr, ia, ib, (Ftr, y), (Fte, task.y_test), cfg, seed,
                           methods=("line", "bezier"), label=f"bend {lv}")
        for r, (j, k) in enumerate(cell):
            bar[q, j, k] = landscape.path_barrier(paths["bezier"]["train_loss"][r])
            line_bar[q, j, k] = landscape.path_barrier(paths["line"]["train_loss"][r])
            ends[q, j, k] = paths["line"]["train_loss"][r][[0, -1]]
    return FeatureResult(levels, quality, np.asarray(cfg.widths), bar, line_bar, ends, N,
                         time.perf_counter() - t0)


@dataclass
class ConnectivityResults:
    """Everything :func:`claims` reads: the (N, width) grid and the feature-quality grid."""

    grid: GridResult
    features: FeatureResult
    cfg: ConnectivityConfig
