"""Training and measuring the chapter's networks: stacked SGD through the engine's one
loop, the blob task, and the spectrum helpers (outlier counting rule, window).

The many networks of one experiment (seeds, retrainings) are one stack of the model
family (:mod:`overparam.models`): parameters ``(R, ...)`` trained together by
:func:`overparam.engine.loop.fit` with plain SGD, each member on its own mini-batches,
and seen as flat vectors ``(R, P)`` by the Hessian tools (:class:`overparam.models.Flat`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ... import data, hessian, landscape, models
from ...config import check_positive, generator
from ...engine.loop import fit
from ...engine.optim import make_optimizer
from .profiles import SpectraConfig


def stacked_loss(arch: models.Arch, X: torch.Tensor, y: torch.Tensor) -> Callable:
    """Per-member mean cross-entropy ``loss(params, idx) -> (R,)`` for :func:`fit`.

    ``idx`` (R, B) indexes each member's own mini-batch; ``None`` is the full set.
    """
    def loss(params, idx):
        if idx is None:
            logits = models.forward(arch, params, X, class_major=True)       # (R, C, N)
            target = y.expand(logits.shape[0], -1)
        else:
            logits = models.forward(arch, params, X[idx], class_major=True)  # (R, C, B)
            target = y[idx]
        return F.cross_entropy(logits, target, reduction="none").mean(1)
    return loss


def sgd_stack(arch: models.Arch, params: Sequence[torch.Tensor], X: torch.Tensor, y: torch.Tensor, *,
              lr: float, steps: int, batch_size: int, batches=None,
              generator: torch.Generator | None = None, callbacks=(), label: str = "train"):
    """Constant-step SGD on a stack of R networks through :func:`overparam.engine.loop.fit`.

    Each member draws its own mini-batches (uniformly, with replacement, from
    ``generator``) unless ``batches`` (a batch source of index tensors (R, B) or None)
    is given; ``batch_size >= N`` is full-batch gradient descent.

    Returns
    -------
    FitResult (``.params``: the trained stacked tensors)

    Introduced in: Chapter 2
    """
    check_positive("lr", lr)
    check_positive("steps", steps, integer=True)
    check_positive("batch_size", batch_size, integer=True)
    params = [p.detach().clone().requires_grad_(True) for p in params]
    R, N = params[0].shape[0], X.shape[0]
    if batches is None:
        if batch_size >= N:
            def batches(_step):
                return None
        else:
            def batches(_step):
                return torch.randint(0, N, (R, batch_size), generator=generator).to(X.device)
    opt = make_optimizer(params, "sgd", lr, stacked=True)
    return fit(params, stacked_loss(arch, X, y), batches, opt, steps, callbacks=callbacks,
               nan_guard="raise", label=label)


def blob_arch(cfg: SpectraConfig, k: int, width: int) -> models.Arch:
    """The chapter's 2-hidden-layer ReLU MLP on ``d``-dimensional blobs with ``k`` classes."""
    return models.Arch("mlp", (width, width), cfg.d, k)


@dataclass
class Trained:
    """R networks trained on one blob task, with the data they were trained on."""

    flat: models.Flat
    thetas: torch.Tensor  # (R, P)
    X: torch.Tensor
    y: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    init_loss: np.ndarray | None = None  # (R,) training loss at the start

    @property
    def n_params(self) -> int:
        return self.flat.n_params

    def curvature(self, i: int) -> hessian.Curvature:
        """The curvature of network i's training loss (float64 on CPU for exact spectra)."""
        dt = torch.float64 if self.thetas.device.type == "cpu" else self.thetas.dtype
        return hessian.Curvature(self.flat, self.thetas[i].to(dt), self.X.to(dt), self.y)

    def errors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Training loss, training error, test loss and test error per network, each (R,)."""
        tl, te = landscape.evaluate(self.flat, self.thetas, self.X, self.y)
        sl, se = landscape.evaluate(self.flat, self.thetas, self.X_test, self.y_test)
        return tl, te, sl, se


def train_blobs(cfg: SpectraConfig, *, k: int | None = None, width: int | None = None,
                batch_size: int | None = None, steps: int | None = None, n_nets: int | None = None,
                seed: int = 0, device: torch.device | str = "cpu",
                start: Trained | None = None, stream: str = "", label: str = "blobs") -> Trained:
    """Train ``n_nets`` 2-hidden-layer MLPs (own init and batch order) on one blob task.

    Arguments left as None come from ``cfg``. ``start`` continues from trained networks
    (same task). The data come from ``seed``; initialisations and batch orders from the
    named streams ``config.generator(seed, "blobs init")`` and ``(seed, "batches" +
    stream)``: equal ``stream`` means equal batch draws.

    Introduced in: Chapter 2
    """
    if start is not None:
        flat, thetas = start.flat, start.thetas
        X, y, Xt, yt = start.X, start.y, start.X_test, start.y_test
    else:
        k = k or cfg.k
        width = width or cfg.width
        X, y, Xt, yt = data.make_blobs(cfg.n_train, cfg.n_test, k, cfg.d, sigma=cfg.sigma,
                                       seed=seed, device=device)
        flat = models.Flat(blob_arch(cfg, k, width))
        thetas = flat.init(generator(seed, "blobs init"), batch_shape=(n_nets or cfg.n_seeds,),
                           device=device)
    init_loss = landscape.evaluate(flat, thetas, X, y)[0]
    res = sgd_stack(flat.arch, models.unflatten(flat.arch, thetas), X, y, lr=cfg.lr,
                    steps=steps or cfg.steps, batch_size=batch_size or cfg.batch_size,
                    generator=generator(seed, "batches" + stream), label=label)
    return Trained(flat, models.flatten(res.params), X, y, Xt, yt, init_loss)


# ---------------------------------------------------------------------------- spectra
def count_outliers(eigenvalues, window: int) -> int:
    """Number of outliers by the knee rule (Kneedle, Satopaa et al. 2011), fixed in advance.

    Take the ``window`` largest eigenvalues ``l_1 >= ... >= l_W`` and scale them by
    ``l_1``; draw the chord from ``(1, 1)`` to ``(W, l_W / l_1)``; the knee is the rank
    ``i`` farthest below the chord, where the steep head of the ranked spectrum turns
    into the flat bulk, and the outliers are the ``i - 1`` eigenvalues above it. The window must not
    depend on the class count being tested (see :func:`outlier_window`).

    Introduced in: Chapter 2
    """
    check_positive("window", window, integer=True)
    ev = np.sort(np.asarray(eigenvalues, dtype=float))[::-1][:window]
    if ev.size < 3 or ev[0] <= 0:
        return int(ev.size > 1 and ev[0] > 0)
    y = ev / ev[0]
    x = np.arange(ev.size)
    chord = 1.0 + (y[-1] - 1.0) * x / (ev.size - 1)
    return int(np.argmax(chord - y))


def outlier_window(cfg: SpectraConfig) -> int:
    """How many of the largest eigenvalues the outlier rule and the ranked plots look at.

    ``2 * max(k, max(ks)) + 10``: one window for every k of the sweep (so the count
    cannot follow k by construction), room for about twice the largest class count.

    Introduced in: Chapter 2
    """
    return 2 * max(max(cfg.ks), cfg.k) + 10


def spectrum_of(tr: Trained, i: int, cfg: SpectraConfig, which: str = "H",
                seed: int = 0) -> hessian.SpectralDensity:
    """Net i's spectral density: exact up to ``cfg.max_exact`` parameters, else SLQ."""
    curv = tr.curvature(i)
    method = "exact" if curv.n_params <= cfg.max_exact else "slq"
    return hessian.spectrum(curv, method, which, n_probes=cfg.slq_probes, steps=cfg.slq_steps,
                            generator=generator(seed, f"slq {which} {i}"))


def top_of(tr: Trained, i: int, k: int, which: str = "H") -> np.ndarray:
    """Net i's ``k`` largest eigenvalues of H, G or R (Lanczos)."""
    curv = tr.curvature(i)
    k = min(k, curv.n_params)
    return hessian.top_eigenvalues(curv, k, which, tol=1e-4,
                                   generator=generator(i, f"lanczos {which}"))


def slopes(x, Y) -> np.ndarray:
    """Least-squares slope of each row of ``Y`` (shape (R, S)) against ``x`` (S,), shape (R,).

    Introduced in: Chapter 2
    """
    x = np.asarray(x, dtype=float)
    return np.array([np.polyfit(x, row, 1)[0] for row in np.asarray(Y, dtype=float)])
