"""Chapter 8's experiments: pairs of independently trained MLPs and the paths between them.

- :func:`load_task` – MNIST-1D, inputs standardised with the training statistics.
- :func:`connectivity_grid` – for every training-set size N and width w, ``n_pairs``
  pairs of networks trained from independent starts (one stack per width, every N in it:
  no padding); along the straight line, the line after weight matching and after
  activation matching, and the trained Bezier curve: training loss and test error at
  every t; plus each network's dropout stability and, at the largest N, pairs trained
  from one start (chapter 7's instability); and how far every network and curve trained.
- :func:`pair_paths` – the paths between the pairs of one trained stack.

The feature-quality grid is in :mod:`.features`, the training in :mod:`.training`.

Introduced in: Chapter 8
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ... import alignment, data, landscape
from ...adequacy import TrainState
from ...config import check_choice, generator, log, seed_stream, threads
from ...models import Arch
from .profiles import ConnectivityConfig
from .training import Plateau, Trained, train_networks

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


# --------------------------------------------------------------------------- the (N, width) grid


@dataclass
class GridResult:
    """Paths between pairs of independently trained networks over a grid of (N, width).

    Attributes
    ----------
    n_trains (I,), widths (J,), ts (T,)
    curves : dict method -> dict metric -> ndarray (I, J, P, T); methods are
        :data:`METHODS` plus ``"same_start"`` (the line between two trainings from one
        start, largest N only, NaN elsewhere); NaN in cells not trained (``trained``)
    dropout_gap : ndarray (I, J, P, 2): best-of-draws training loss after dropping half of
        both hidden layers (rescaled), minus the network's own training loss, per end
    met : dict "ends" (I, J, P, 2), "bezier" (I, J, P), "same_start" (I, J, P) -> bool:
        the network / curve met the plateau criterion (``criterion``)
    steps : dict "ends", "bezier", "same_start" -> ndarray (I, J): steps taken
    criterion : the plateau criterion in words
    seconds : wall time

    Introduced in: Chapter 8
    """

    n_trains: np.ndarray
    widths: np.ndarray
    ts: np.ndarray
    curves: dict
    dropout_gap: np.ndarray
    met: dict = field(default_factory=dict)
    steps: dict = field(default_factory=dict)
    criterion: str = ""
    seconds: float = 0.0

    @property
    def n_pairs(self) -> int:
        return self.dropout_gap.shape[2]

    @property
    def trained(self) -> np.ndarray:
        """(I, J) bool: the cells the profile trained (a grid may skip the widest widths at
        the smaller N)."""
        return np.isfinite(self.curves["line"]["train_loss"][..., 0]).any(-1)

    def barrier(self, method: str = "bezier", metric: str = "train_loss") -> np.ndarray:
        """Barrier (max along the path minus the mean of the ends), shape (I, J, P)."""
        check_choice("method", method, tuple(self.curves))
        check_choice("metric", metric, METRICS)
        return landscape.path_barrier(self.curves[method][metric])

    def end_loss(self) -> np.ndarray:
        """Training loss of the two ends, (I, J, P, 2)."""
        c = self.curves["line"]["train_loss"]
        return np.stack([c[..., 0], c[..., -1]], -1)

    def state(self, arm: str, i: int, j: int) -> TrainState | None:
        """The :class:`TrainState` of ``arm`` ("ends", "bezier", "same_start") in cell (i, j):
        one entry per network (ends: both of every pair) or curve; None if not recorded."""
        if arm not in self.met:
            return None
        met = self.met[arm][i, j].reshape(-1)
        line = self.curves["line"] if arm != "bezier" else self.curves["bezier"]
        if arm == "ends":
            loss = np.stack([line["train_loss"][i, j, :, 0], line["train_loss"][i, j, :, -1]], -1).reshape(-1)
            err = np.stack([line["train_error"][i, j, :, 0], line["train_error"][i, j, :, -1]], -1).reshape(-1)
        elif arm == "same_start":
            loss, err = self.curves["same_start"]["train_loss"][i, j, :, -1], self.curves["same_start"]["train_error"][i, j, :, -1]
        else:  # the curve's loss averaged along t
            loss, err = line["train_loss"][i, j].mean(-1), line["train_error"][i, j].mean(-1)
        return TrainState(np.full(met.shape, self.steps[arm][i, j]), loss, err, met, self.criterion)


def _init_seed(seed: int, *key) -> int:
    return seed_stream(seed, "connectivity/init/" + "/".join(str(k) for k in key))


def _scan(arch, a, b, task_tr, task_te, ts, kind="line", bend=None) -> dict:
    s = landscape.scan_path(arch, a, b, ts, *task_tr, *task_te, kind=kind, bend=bend)
    return {m: getattr(s, m) for m in METRICS}


def _aligned(tr: Trained, ia, ib, method: str, X: torch.Tensor, seed: int) -> list[torch.Tensor]:
    """``b`` members permuted onto their ``a`` partners, stacked."""
    out = [alignment.align(tr.arch, tr.member(i), tr.member(j), method, X=X,
                           generator=generator(seed, f"connectivity/align/{tr.arch.widths[0]}/{i}"))
           for i, j in zip(ia, ib)]
    return [torch.stack([o[k] for o in out]).to(tr.params[0].device) for k in range(len(tr.params))]


def _dropout_gaps(tr: Trained, members, X, y, base_loss: np.ndarray, cfg, seed: int) -> np.ndarray:
    gaps = []
    for k, i in enumerate(members):
        losses = alignment.dropout_loss(tr.arch, tr.member(i), X, y, fraction=0.5,
                                        n_draws=cfg.dropout_draws,
                                        generator=generator(seed, f"connectivity/dropout/{tr.arch.widths[0]}/{i}"))
        gaps.append(losses.min() - base_loss[k])
    return np.asarray(gaps)


def fit_bends(tr: Trained, ia, ib, X, y, sizes, cfg: ConnectivityConfig, seed: int,
              label: str = "bend", offsets=None) -> tuple[list[torch.Tensor], Plateau]:
    """Train the Bezier bend of every pair (``ia[k]``, ``ib[k]``) of a stack, pair k on its
    own training set (``sizes[k]`` rows of ``X`` from ``offsets[k]``, default 0); stops at a
    plateau like the ends."""
    plateau = Plateau(cfg.block, stop=cfg.stop_on_plateau, min_steps=cfg.min_steps)
    bend = landscape.fit_bend(tr.arch, tr.select(ia), tr.select(ib), X, y, kind="bezier",
                              steps=cfg.curve_steps, lr=cfg.lr, batch_size=cfg.batch_size, sizes=sizes, offsets=offsets,
                              generator=generator(seed, f"connectivity/{label}"), callbacks=[plateau],
                              label=label, impl="fused")
    return bend, plateau


def pair_paths(tr: Trained, ia, ib, train: tuple, test: tuple, cfg: ConnectivityConfig, seed: int,
               methods=METHODS, bend=None) -> dict:
    """Curves of every path method between members ``ia[k]`` and ``ib[k]`` of a trained stack,
    on one training set ``train`` (the pairs' own) and the test set.

    ``bend``: the pairs' trained Bezier bends (:func:`fit_bends`), needed for "bezier".
    Returns dict method -> dict metric -> ndarray (K, T).

    Introduced in: Chapter 8
    """
    ts = np.linspace(0, 1, cfg.n_points)
    a, b = tr.select(ia), tr.select(ib)
    out = {}
    for m in methods:
        if m == "line":
            out[m] = _scan(tr.arch, a, b, train, test, ts)
        elif m in ("weight", "activation"):
            out[m] = _scan(tr.arch, a, _aligned(tr, ia, ib, m, train[0], seed), train, test, ts)
        else:
            out[m] = _scan(tr.arch, a, b, train, test, ts, "bezier", bend)
    return out


def max_width(cfg: ConnectivityConfig, i: int) -> int:
    """Widest width trained at the i-th training-set size (all widths at the largest N)."""
    if cfg.narrow_max is None or i == len(cfg.n_trains) - 1:
        return max(cfg.widths)
    return cfg.narrow_max


@threads(1)
def connectivity_grid(cfg: ConnectivityConfig, task: Task, seed: int = 0) -> GridResult:
    """Train ``n_pairs`` independent pairs per (N, width) and measure the paths between them.

    For each width w, one stack holds, for every N (the first N training examples) and
    pair k, two networks from independent seeded starts (and, at the largest N with
    ``same_start``, a third network from the first one's start with its own batch order);
    every member draws its batches from its own N. Then, per pair: the straight line, the
    line after weight matching and after activation matching (on the N training inputs),
    and a Bezier curve whose bend is trained (all pairs of the width in one stack);
    training loss/error on the N examples and test loss/error on the 1,000 test examples at
    ``n_points`` values of t; and each network's dropout gap. Networks and bends train for
    at most ``steps`` / ``curve_steps`` and, with ``stop_on_plateau``, stop once every
    member of the stack has plateaued (:class:`Plateau`).

    Introduced in: Chapter 8
    """
    t0 = time.perf_counter()
    I, J, P, T = len(cfg.n_trains), len(cfg.widths), cfg.n_pairs, cfg.n_points
    curves = {m: {k: np.full((I, J, P, T), np.nan) for k in METRICS} for m in (*METHODS, "same_start")}
    gaps = np.full((I, J, P, 2), np.nan)
    met = {"ends": np.zeros((I, J, P, 2), bool), "bezier": np.zeros((I, J, P), bool),
           "same_start": np.zeros((I, J, P), bool)}
    steps = {k: np.zeros((I, J), int) for k in met}
    test = (task.X_test, task.y_test)
    n_max = max(cfg.n_trains)
    X, y = task.X[:n_max], task.y[:n_max]
    criterion = ""
    for j, w in enumerate(cfg.widths):
        arch = Arch("mlp", (w, w), d=task.d, n_classes=task.n_classes)
        rows = [(i, N) for i, N in enumerate(cfg.n_trains) if w <= max_width(cfg, i)]
        seeds, sizes, ia, ib, isame, cell = [], [], [], [], [], []
        for i, N in rows:
            same = cfg.same_start and i == I - 1
            for k in range(P):
                for e in (0, 1):
                    (ia if e == 0 else ib).append(len(seeds))
                    seeds.append(_init_seed(seed, N, w, k, e))
                    sizes.append(N)
                if same:
                    isame.append(len(seeds))
                    seeds.append(_init_seed(seed, N, w, k, 0))
                    sizes.append(N)
                cell.append((i, k))
        log.info(f"connectivity: width {w}, {len(seeds)} networks")
        tr = train_networks(arch, seeds, X, y, cfg, seed_stream(seed, f"connectivity/order/w{w}"),
                            sizes=sizes, label=f"connectivity w={w}")
        bend, bplat = fit_bends(tr, ia, ib, X, y, [sizes[m] for m in ia], cfg, seed, label=f"bend w={w}")
        criterion = tr.plateau.criterion
        end_met, bend_met = tr.plateau.met(), bplat.met()
        for i, N in rows:
            r = [q for q, (ii, _) in enumerate(cell) if ii == i]
            train = (task.X[:N], task.y[:N])
            sub = [ia[q] for q in r], [ib[q] for q in r]
            paths = pair_paths(tr, *sub, train, test, cfg, seed, bend=[p[r] for p in bend])
            if isame and i == I - 1:
                paths["same_start"] = _scan(tr.arch, tr.select(sub[0]), tr.select(isame), train, test,
                                            np.linspace(0, 1, T))
                met["same_start"][i, j] = end_met[isame]
                steps["same_start"][i, j] = tr.plateau.steps
            for m, per in paths.items():
                for metric, v in per.items():
                    curves[m][metric][i, j] = v
            line = paths["line"]["train_loss"]
            gaps[i, j] = np.stack([_dropout_gaps(tr, sub[0], *train, line[:, 0], cfg, seed),
                                   _dropout_gaps(tr, sub[1], *train, line[:, -1], cfg, seed)], -1)
            met["ends"][i, j] = np.stack([end_met[sub[0]], end_met[sub[1]]], -1)
            met["bezier"][i, j] = bend_met[r]
            steps["ends"][i, j], steps["bezier"][i, j] = tr.plateau.steps, bplat.steps
    return GridResult(np.asarray(cfg.n_trains), np.asarray(cfg.widths), np.linspace(0, 1, T), curves,
                      gaps, met, steps, criterion, time.perf_counter() - t0)


@dataclass
class ConnectivityResults:
    """Everything :func:`claims` reads: the (N, width) grid and the feature-quality grid."""

    grid: "GridResult"
    features: object
    cfg: ConnectivityConfig
