"""The loss landscape along lines: between two solutions, beyond them, and barrier heights.

Works on flat parameter vectors and a functional model ``apply(theta, X) -> logits``
(a :class:`overparam.hessian.FlatMLP`, or any ``nn.Module`` through
:func:`overparam.hessian.module_to_functional`). The points of a path are evaluated as
one batched computation (``torch.func.vmap`` over the stacked parameter vectors).

Paths between two solutions of the model family (straight line, polygonal chain, quadratic
Bezier curve with a trained bend) and their barriers: :func:`path_point`, :func:`fit_bend`,
:func:`scan_path`, :func:`path_barrier` (chapter 8).

Introduced in: Chapter 2 (large batch, then small batch); paths in Chapter 8.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import vmap

from .config import check_choice, check_positive
from .hessian import LOSSES, Apply, output_loss


def interpolate(theta_a: torch.Tensor, theta_b: torch.Tensor, alphas) -> torch.Tensor:
    """Points ``(1 - alpha) theta_a + alpha theta_b`` on the line through two solutions.

    Parameters
    ----------
    theta_a, theta_b : Tensor, shape (M,)
    alphas : array_like, shape (P,); values outside [0, 1] extend the line beyond each end

    Returns
    -------
    Tensor, shape (P, M)

    Introduced in: Chapter 2
    """
    if theta_a.shape != theta_b.shape or theta_a.ndim != 1:
        raise ValueError(f"theta_a and theta_b must be flat vectors of one shape, got "
                         f"{tuple(theta_a.shape)} and {tuple(theta_b.shape)}")
    a = torch.as_tensor(np.asarray(alphas, dtype=float), dtype=theta_a.dtype, device=theta_a.device)
    return theta_a[None] + a[:, None] * (theta_b - theta_a)[None]


def evaluate(apply: Apply, thetas: torch.Tensor, X: torch.Tensor, y: torch.Tensor,
             loss: str = "ce", chunk_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Mean loss and error rate of each parameter vector in a stack.

    Parameters
    ----------
    thetas : Tensor, shape (P, M)
    X : Tensor (N, d);  y : LongTensor (N,)

    Returns
    -------
    loss : ndarray (P,);  error : ndarray (P,), fraction misclassified

    Introduced in: Chapter 2
    """
    check_choice("loss", loss, LOSSES)
    check_positive("chunk_size", chunk_size, integer=True)
    N = X.shape[0]
    X = X.to(thetas.device, thetas.dtype)
    y = y.to(thetas.device)
    tot_loss = torch.zeros(thetas.shape[0], dtype=thetas.dtype, device=thetas.device)
    wrong = torch.zeros(thetas.shape[0], dtype=thetas.dtype, device=thetas.device)
    with torch.no_grad():
        for s in range(0, N, chunk_size):
            Xc, yc = X[s:s + chunk_size], y[s:s + chunk_size]
            logits = vmap(lambda th: apply(th, Xc))(thetas)  # (P, n, k)
            tot_loss += vmap(lambda lg: output_loss(lg, yc, loss))(logits) * Xc.shape[0]
            wrong += (logits.argmax(-1) != yc).sum(-1)
    return (tot_loss / N).cpu().numpy(), (wrong / N).cpu().numpy()


@dataclass
class LineScan:
    """Loss and error along a line; ``alphas`` 0 and 1 are the two ends.

    Introduced in: Chapter 2
    """

    alphas: np.ndarray
    train_loss: np.ndarray
    train_error: np.ndarray
    test_loss: np.ndarray | None = None
    test_error: np.ndarray | None = None


def scan_line(apply: Apply, theta_a: torch.Tensor, theta_b: torch.Tensor, X: torch.Tensor,
              y: torch.Tensor, alphas, X_test: torch.Tensor | None = None,
              y_test: torch.Tensor | None = None, loss: str = "ce") -> LineScan:
    """Loss and error on the line through ``theta_a`` (alpha=0) and ``theta_b`` (alpha=1).

    Alphas below 0 extend the line away from ``theta_a`` on the far side from
    ``theta_b``; alphas above 1 extend it beyond ``theta_b``.

    Returns
    -------
    LineScan with arrays of shape (P,) (test arrays only when a test set is given)

    Introduced in: Chapter 2
    """
    pts = interpolate(theta_a, theta_b, alphas)
    tr_l, tr_e = evaluate(apply, pts, X, y, loss)
    te_l = te_e = None
    if X_test is not None and y_test is not None:
        te_l, te_e = evaluate(apply, pts, X_test, y_test, loss)
    return LineScan(np.asarray(alphas, dtype=float), tr_l, tr_e, te_l, te_e)


def scan_direction(apply: Apply, theta: torch.Tensor, direction: torch.Tensor, X: torch.Tensor,
                   y: torch.Tensor, ts, loss: str = "ce", normalize: bool = True) -> LineScan:
    """Loss and error at ``theta + t * u`` for each t, with ``u`` the (unit, if
    ``normalize``) direction; e.g. the top Hessian eigenvector or a random direction.

    Introduced in: Chapter 2
    """
    u = direction / direction.norm() if normalize else direction
    return scan_line(apply, theta, theta + u, X, y, ts, loss=loss)


def barrier_height(alphas, losses) -> float:
    """Largest rise of the loss above the straight line between the ends (alpha 0 and 1).

    ``max_alpha [L(alpha) - ((1 - alpha) L(0) + alpha L(1))]`` over alphas in [0, 1];
    about 0 when the two solutions are linearly connected.

    Introduced in: Chapter 2
    """
    a = np.asarray(alphas, dtype=float)
    L = np.asarray(losses, dtype=float)
    if not (np.any(np.isclose(a, 0)) and np.any(np.isclose(a, 1))):
        raise ValueError("alphas must contain both ends, 0 and 1")
    L0, L1 = L[np.argmin(np.abs(a))], L[np.argmin(np.abs(a - 1))]
    inside = (a >= 0) & (a <= 1)
    return float(np.max(L[inside] - ((1 - a[inside]) * L0 + a[inside] * L1)))


# --------------------------------------------------------------------------- paths between solutions
#
# Connectivity of solutions (chapter 8). Two solutions ``a`` and ``b`` are stacks of
# networks of the model family (lists of tensors (M, ...) in the layout of
# :mod:`overparam.models`, member i of ``a`` paired with member i of ``b``); a path is
# ``theta(t)`` for t in [0, 1] with ``theta(0) = a`` and ``theta(1) = b``:
#
# - "line":   (1 - t) a + t b
# - "chain":  a polygonal chain a -> bend -> b, the bend reached at t = 1/2
# - "bezier": the quadratic Bezier curve (1 - t)^2 a + 2 t (1 - t) bend + t^2 b
#
# The bend of a chain or Bezier curve is trained to minimise the loss averaged over
# t ~ U(0, 1) (Garipov et al. 2018), through the engine's one training loop.

PATHS = ("line", "chain", "bezier")


def check_ends(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> None:
    """Raise one ValueError unless ``a`` and ``b`` are parameter lists of one architecture."""
    sa = [tuple(p.shape) for p in a]
    sb = [tuple(p.shape) for p in b]
    if sa != sb:
        raise ValueError(f"the two ends of a path must have the same architecture (parameter shapes); "
                         f"got {sa} and {sb}")


def _check_ts(t) -> torch.Tensor:
    tt = torch.as_tensor(t, dtype=torch.float64)
    if tt.numel() == 0 or not bool(torch.isfinite(tt).all()) or bool((tt < 0).any()) or bool((tt > 1).any()):
        raise ValueError(f"t={t!r} is not allowed; expected value(s) in [0, 1]")
    return tt


def path_point(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor], t, kind: str = "line",
               bend: Sequence[torch.Tensor] | None = None) -> list[torch.Tensor]:
    """The point ``theta(t)`` of a path between stacked solutions ``a`` and ``b``.

    Parameters
    ----------
    a, b : lists of Tensor (M, ...), one architecture (member i of a is paired with member i of b)
    t : float in [0, 1], or Tensor (M,) of one t per member (differentiable through ``bend`` only)
    kind : "line", "chain" or "bezier"
    bend : list of Tensor (M, ...), the bend of a chain or Bezier curve (ignored by "line")

    Returns
    -------
    list of Tensor (M, ...)

    Introduced in: Chapter 8
    """
    check_choice("kind", kind, PATHS)
    check_ends(a, b)
    _check_ts(t.detach() if torch.is_tensor(t) else t)
    if kind != "line":
        if bend is None:
            raise ValueError(f"kind={kind!r} needs a bend (see init_bend / fit_bend)")
        check_ends(a, bend)
    out = []
    for j, (pa, pb) in enumerate(zip(a, b)):
        tt = torch.as_tensor(t, dtype=pa.dtype, device=pa.device)
        if tt.ndim == 1:
            tt = tt.reshape(-1, *([1] * (pa.dim() - 1)))
        if kind == "line":
            out.append(pa + tt * (pb - pa))
        elif kind == "bezier":
            out.append((1 - tt) ** 2 * pa + 2 * tt * (1 - tt) * bend[j] + tt ** 2 * pb)
        else:  # chain: a -> bend on [0, 1/2], bend -> b on [1/2, 1]
            first = pa + 2 * tt * (bend[j] - pa)
            second = bend[j] + (2 * tt - 1) * (pb - bend[j])
            out.append(torch.where(tt <= 0.5, first, second))
    return out


def init_bend(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The midpoint ``(a + b) / 2``: the bend's starting point (the curve starts as the line).

    Introduced in: Chapter 8
    """
    check_ends(a, b)
    return [((pa + pb) / 2).detach().clone() for pa, pb in zip(a, b)]


def _arch_forward(arch):
    from .models import forward
    return lambda params, X: forward(arch, params, X)


def _member_ce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-member mean cross-entropy of logits (M, B, C) against labels (B,) or (M, B)."""
    M, B, C = logits.shape
    yy = y.expand(M, B) if y.ndim == 1 else y
    return F.cross_entropy(logits.reshape(M * B, C), yy.reshape(-1), reduction="none").reshape(M, B).mean(1)


def fit_bend(arch, a: Sequence[torch.Tensor], b: Sequence[torch.Tensor], X: torch.Tensor,
             y: torch.Tensor, *, kind: str = "bezier", steps: int = 500, lr: float = 1e-3,
             batch_size: int = 128, generator: torch.Generator | None = None,
             masks: Sequence[torch.Tensor | None] | None = None,
             bend: Sequence[torch.Tensor] | None = None, sizes: Sequence[int] | None = None,
             offsets: Sequence[int] | None = None, callbacks: Sequence = (),
             label: str = "bend", impl: str | None = None) -> list[torch.Tensor]:
    """Train the bend of a chain or Bezier curve to minimise ``E_{t~U(0,1)} L(theta(t))``.

    The curve is a model whose parameters are a function of t: at each step every member
    draws its own t ~ U(0, 1) and its own mini-batch (with replacement), and Adam moves
    the bend (the ends stay fixed). Training goes through :func:`overparam.engine.loop.fit`.

    Parameters
    ----------
    arch : :class:`overparam.models.Arch` of the stacked networks (padded to the widest)
    a, b : lists of Tensor (M, ...), the two ends
    X, y : training inputs (n, d) and labels (n,), shared by all members
    kind : "bezier" or "chain"
    steps, lr, batch_size : Adam steps, learning rate, examples per step
    generator : draws t and the batches
    masks : 0/1 gradient masks of padded members (``Stack.masks``), or None
    bend : starting bend (default :func:`init_bend`)
    sizes, offsets : per member, its training set is ``sizes[m]`` rows of ``X`` from row
        ``offsets[m]`` (default: all of ``X`` for every member; offsets 0)
    callbacks : passed to :func:`overparam.engine.loop.fit` (e.g. a plateau stop)
    impl : Adam's implementation (:func:`overparam.engine.optim.make_optimizer`; ``"fused"``:
        one kernel per tensor, the same update)

    Returns
    -------
    list of Tensor (M, ...): the trained bend (detached)

    Introduced in: Chapter 8
    """
    from .engine.loop import fit
    from .engine.optim import make_optimizer
    check_choice("kind", kind, ("bezier", "chain"))
    check_ends(a, b)
    check_positive("steps", steps, integer=True, allow_zero=True)
    check_positive("lr", lr)
    check_positive("batch_size", batch_size, integer=True)
    a = [p.detach() for p in a]
    b = [p.detach() for p in b]
    start = init_bend(a, b) if bend is None else [p.detach().clone() for p in bend]
    check_ends(a, start)
    params = [p.clone().requires_grad_(True) for p in start]
    M, n = a[0].shape[0], X.shape[0]
    dev = a[0].device
    X, y = X.to(dev, a[0].dtype), y.to(dev)
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    apply = _arch_forward(arch)
    draw = member_batches(M, n if sizes is None else sizes, batch_size, gen, offsets)

    def batches(_step):
        t = torch.rand(M, generator=gen, dtype=torch.float64)
        return t.to(dev), draw().to(dev)

    def loss(ps, batch):
        t, idx = batch
        pts = path_point(a, b, t, kind, ps)
        return _member_ce(apply(pts, X[idx]), y[idx])

    opt = make_optimizer(params, "adam", lr, impl=impl)
    res = fit(params, loss, batches, opt, steps, grad_masks=masks, callbacks=callbacks, label=label)
    return res.params


def member_batches(M: int, sizes, batch_size: int, generator: torch.Generator, offsets=None):
    """A function drawing each member's mini-batch indices, (M, B), with replacement.

    ``sizes``: one int (every member draws from the first ``sizes`` examples) or one per
    member (member m draws from rows ``offsets[m]`` to ``offsets[m] + sizes[m] - 1``;
    ``offsets`` default 0). B = min(batch_size, largest size): a member with fewer examples
    draws some twice. With one size this is ``torch.randint(0, n, (M, B))``.

    Introduced in: Chapter 8
    """
    if np.ndim(sizes) == 0 and offsets is None:
        n = int(sizes)
        return lambda: torch.randint(0, n, (M, min(batch_size, n)), generator=generator)
    n = torch.as_tensor(np.broadcast_to(np.asarray(sizes), (M,)).copy(), dtype=torch.float64).reshape(M, 1)
    off = torch.zeros(M, 1, dtype=torch.long) if offsets is None else \
        torch.as_tensor(np.asarray(offsets), dtype=torch.long).reshape(M, 1)
    if bool((n < 1).any()) or bool((off < 0).any()):
        raise ValueError(f"sizes={sizes!r}, offsets={offsets!r} are not allowed; expected {M} positive "
                         "sizes and offsets >= 0")
    B = min(batch_size, int(n.max()))
    return lambda: (torch.rand(M, B, generator=generator, dtype=torch.float64) * n).long() + off


@dataclass
class PathScan:
    """Loss and error along paths of M pairs of solutions at T values of t.

    ``train_loss`` etc. have shape (M, T); column 0 is end ``a`` (t = 0), the last is
    end ``b`` (t = 1). ``barrier(metric)`` gives each pair's barrier (M,).

    Introduced in: Chapter 8
    """

    kind: str
    ts: np.ndarray
    train_loss: np.ndarray
    train_error: np.ndarray
    test_loss: np.ndarray | None = None
    test_error: np.ndarray | None = None

    def barrier(self, metric: str = "train_loss") -> np.ndarray:
        """Each pair's barrier of ``metric``: max along the path minus the mean of the ends."""
        check_choice("metric", metric, ("train_loss", "train_error", "test_loss", "test_error"))
        values = getattr(self, metric)
        if values is None:
            raise ValueError(f"metric={metric!r} was not measured (no test set given)")
        return path_barrier(values)


def path_barrier(values) -> np.ndarray | float:
    """Barrier along a path: ``max_t v(t) - (v(0) + v(1)) / 2`` over the last axis.

    ``values`` (..., T) holds the path's values at T points from t = 0 to t = 1; 0 when the
    path never rises above the mean of its ends (e.g. two identical ends). Frankle et al.
    (2020) and Entezari et al. (2022) use this definition; :func:`barrier_height` measures
    the rise above the chord instead.

    Introduced in: Chapter 8
    """
    v = np.asarray(values, dtype=float)
    if v.ndim == 0 or v.shape[-1] < 2:
        raise ValueError("values must hold at least the two ends (last axis of length >= 2)")
    out = v.max(-1) - (v[..., 0] + v[..., -1]) / 2
    return float(out) if out.ndim == 0 else out


@torch.no_grad()
def _eval_stack(apply, params, X, y, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss and error of every member of stacked ``params`` on (X, y)."""
    M = params[0].shape[0]
    tot = torch.zeros(M, dtype=torch.float64, device=params[0].device)
    wrong = torch.zeros(M, dtype=torch.float64, device=params[0].device)
    for s in range(0, X.shape[0], chunk):
        Xc, yc = X[s:s + chunk], y[s:s + chunk]
        logits = apply(params, Xc)
        tot += _member_ce(logits, yc).double() * Xc.shape[0]
        wrong += (logits.argmax(-1) != yc).double().sum(1)
    return tot / X.shape[0], wrong / X.shape[0]


@torch.no_grad()
def scan_path(arch, a: Sequence[torch.Tensor], b: Sequence[torch.Tensor], ts, X: torch.Tensor,
              y: torch.Tensor, X_test: torch.Tensor | None = None, y_test: torch.Tensor | None = None,
              kind: str = "line", bend: Sequence[torch.Tensor] | None = None,
              chunk_size: int = 2048) -> PathScan:
    """Loss and error at each t along the paths between stacked solutions ``a`` and ``b``.

    The T points of all M paths are evaluated as one stack of M * T networks.

    Parameters
    ----------
    arch : :class:`overparam.models.Arch` of the stacked networks
    a, b : lists of Tensor (M, ...); ts : values in [0, 1], first 0 and last 1
    X, y : training set; X_test, y_test : optional test set
    kind, bend : the path (see :func:`path_point`)

    Returns
    -------
    PathScan with arrays (M, T)

    Introduced in: Chapter 8
    """
    check_positive("chunk_size", chunk_size, integer=True)
    tt = _check_ts(ts).reshape(-1)
    if float(tt[0]) != 0.0 or float(tt[-1]) != 1.0:
        raise ValueError(f"ts={ts!r} must start at 0 and end at 1 (the two ends)")
    M, T = a[0].shape[0], len(tt)
    pts = [path_point(a, b, float(t), kind, bend) for t in tt]
    stacked = [torch.stack([p[j] for p in pts], 1).reshape(M * T, *a[j].shape[1:]) for j in range(len(a))]
    apply = _arch_forward(arch)
    dev, dt = a[0].device, a[0].dtype

    def ev(Xs, ys):
        lo, er = _eval_stack(apply, stacked, Xs.to(dev, dt), ys.to(dev), chunk_size)
        return lo.reshape(M, T).cpu().numpy(), er.reshape(M, T).cpu().numpy()

    tr_l, tr_e = ev(X, y)
    te_l = te_e = None
    if X_test is not None and y_test is not None:
        te_l, te_e = ev(X_test, y_test)
    return PathScan(kind, tt.numpy().astype(float), tr_l, tr_e, te_l, te_e)
