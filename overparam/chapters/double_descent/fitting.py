"""How easily networks fit: random labels (Zhang et al.) and a teacher's labels fitted by
students of the teacher's own width and wider (Livni et al.), on MNIST-1D inputs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ... import config
from ... import data as _data
from ...engine.store import ResultStore
from ...engine.sweep import Member, TrainData, train_grid
from .experiments import _kw, member_seeds
from .profiles import DoubleDescentConfig


@dataclass
class FitResult:
    """Final training and test error of members trained on constructed labels.

    Attributes
    ----------
    widths : ndarray (W,)
    train_err, test_err : ndarray (S, W) – on the constructed labels (train and test)
    train_err_curve : ndarray (S, W, T)
    epochs : ndarray (T,)
    n_train : int
    labels : str – "random" or "teacher width k"
    """

    widths: np.ndarray
    train_err: np.ndarray
    test_err: np.ndarray
    train_err_curve: np.ndarray
    epochs: np.ndarray
    n_train: int
    labels: str


def _train(datas, widths, seeds, cfg, store, device, log, engine, what) -> tuple:
    members = [Member(w, depth=cfg.depth, seed=s, data=i, name=f"{what} w={w} seed={s}")
               for i, s in enumerate(seeds) for w in widths]
    r = train_grid(members, datas, cfg.train_config(), store=store, device=device, **_kw(log),
                   **engine)
    S, W = len(seeds), len(widths)
    return (r.final("train_err").reshape(S, W), r.final("test_err").reshape(S, W),
            r.curves["train_err"].reshape(S, W, -1), r.epochs)


def random_label_fit(cfg: DoubleDescentConfig, *, seed: int = 0, device: torch.device | str = "cpu",
                     store: ResultStore | None = None, log: Callable[[str], None] | None = None,
                     **engine) -> FitResult:
    """Train the widest MLP of ``cfg.widths`` on ``cfg.random_n`` MNIST-1D inputs whose
    labels are drawn uniformly at random (stream ``(seed, "random labels")`` per member seed),
    with the chapter's training procedure (Zhang et al. 2017's test).

    Introduced in: Chapter 3
    """
    ds = _data.load_mnist1d()
    X = torch.tensor(ds["x"][:cfg.random_n], device=device)
    Xt = torch.tensor(ds["x_test"], device=device)
    seeds = member_seeds(seed, cfg.n_seeds)
    datas = []
    for s in seeds:
        g = config.generator(s, "random labels")
        y = torch.randint(0, 10, (cfg.random_n,), generator=g).to(device)
        yt = torch.randint(0, 10, (len(Xt),), generator=g).to(device)
        datas.append(TrainData(X, y, Xt, yt, 10, key=f"mnist1d n={cfg.random_n} random labels seed={s}"))
    w = int(cfg.widths[-1])
    tr, te, curve, epochs = _train(datas, [w], seeds, cfg, store, device, log, engine, "random")
    return FitResult(np.array([w]), tr, te, curve, epochs, cfg.random_n, "random")


def teacher_labels(X: torch.Tensor, width: int, seed: int) -> torch.Tensor:
    """Labels of a random teacher MLP ``d -> width -> 10`` (ReLU) on inputs ``X`` (n, d).

    Weights are Gaussian with variance 1/fan-in, drawn from the stream ``(seed, "teacher")``;
    each logit is centred on its mean over ``X`` before the argmax, so that no class
    dominates. A student of the teacher's width can represent these labels exactly.

    Introduced in: Chapter 3
    """
    g = config.generator(seed, "teacher")
    d = X.shape[1]
    W1 = torch.randn(width, d, generator=g) / math.sqrt(d)
    b1 = torch.randn(width, generator=g) * 0.1
    W2 = torch.randn(10, width, generator=g) / math.sqrt(width)
    Xc = X.detach().cpu().float()
    Xc = (Xc - Xc.mean(0)) / (Xc.std(0) + 1e-8)
    logits = torch.relu(Xc @ W1.T + b1) @ W2.T
    return (logits - logits.mean(0)).argmax(1).to(X.device)


def teacher_student_fit(cfg: DoubleDescentConfig, *, seed: int = 0, device: torch.device | str = "cpu",
                        store: ResultStore | None = None, log: Callable[[str], None] | None = None,
                        **engine) -> FitResult:
    """Students of widths ``cfg.student_widths`` trained on labels of a teacher of width
    ``cfg.teacher_width`` (:func:`teacher_labels`, one teacher per member seed) on
    ``cfg.teacher_n`` MNIST-1D inputs, with the chapter's training procedure.

    Livni, Shalev-Shwartz and Shamir (2014): a network as small as the teacher can fit the
    labels exactly in principle, yet larger networks are easier to train to low error.

    Introduced in: Chapter 3
    """
    ds = _data.load_mnist1d()
    X_all = torch.tensor(np.concatenate([ds["x"][:cfg.teacher_n], ds["x_test"]]), device=device)
    seeds = member_seeds(seed, cfg.n_seeds)
    datas = []
    for s in seeds:
        y_all = teacher_labels(X_all, cfg.teacher_width, s)
        n = cfg.teacher_n
        datas.append(TrainData(X_all[:n], y_all[:n], X_all[n:], y_all[n:], 10,
                               key=f"mnist1d n={n} teacher w={cfg.teacher_width} seed={s}"))
    tr, te, curve, epochs = _train(datas, list(cfg.student_widths), seeds, cfg, store, device,
                                   log, engine, "student")
    return FitResult(np.array(cfg.student_widths), tr, te, curve, epochs, cfg.teacher_n,
                     f"teacher width {cfg.teacher_width}")
