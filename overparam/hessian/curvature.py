"""Curvature of the training loss: the functional model, the loss and its Hessian-vector
products (:class:`Curvature`), and the Gauss-Newton split H = G + R.

Part of :mod:`overparam.hessian`; see its docstring.

Everything works on a *functional* model: a callable ``apply(theta, X) -> logits`` whose
parameters are one flat vector ``theta`` of shape ``(M,)``. The book's model family gives
such models (:class:`overparam.models.Flat`, e.g. :class:`FlatMLP`);
:func:`module_to_functional` turns any ``torch.nn.Module`` into one. The loss is the mean over the whole training set, evaluated in chunks so that memory stays bounded:

    L(theta) = (1/N) sum_i loss(apply(theta, x_i), y_i).

Hessian-vector products use ``torch.func``: forward-over-reverse (``jvp`` of ``grad``)
or double backward (``torch.autograd.grad`` twice); no Python loop runs over parameters.

Introduced in: Chapter 2
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch.func import functional_call, grad, jvp, vjp, vmap

from ..config import check_choice, check_positive
from ..models import Arch, Flat

LOSSES = ("ce", "mse")
HVP_METHODS = ("auto", "fwd_rev", "double_backward")
EIG_METHODS = ("lanczos", "eigsh", "power")
SPECTRUM_METHODS = ("exact", "slq")

# Which HVP is faster, per device type; "auto" picks from here. CPU: measured by
# benchmarks/hessian.py (double backward 2.10x a gradient vs forward-over-reverse 2.57x,
# MLP 100-64-64-10, N=2000, torch 2.13). CUDA: not yet measured; forward-over-reverse is the
# usual winner there -- rerun the benchmark on a GPU and update this entry.
FASTER_HVP = {"cpu": "double_backward", "cuda": "fwd_rev"}

Apply = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------------------- models
class FlatMLP(Flat):
    """A ReLU MLP of the model family (:class:`overparam.models.Flat`) given by its sizes.

    ``FlatMLP((d, h1, ..., k))`` is ``Flat(Arch("mlp", (h1, ...), d, k))``: calling
    ``mlp(theta, X)`` with ``theta`` (P,) and ``X`` (n, d) returns logits (n, k); the flat
    layout is the family's (``W (fan_in, fan_out)`` then ``b``, layer by layer), so a
    trained stack of the engine is ``models.flatten(params)``. Works under ``torch.func``.

    Introduced in: Chapter 2
    """

    def __init__(self, sizes: Sequence[int]):
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2:
            raise ValueError(f"sizes={sizes!r} is not allowed; expected at least (d, k)")
        check_positive("sizes", list(sizes), integer=True)
        self.sizes = sizes
        super().__init__(Arch("mlp", sizes[1:-1], sizes[0], sizes[-1]))

    def __repr__(self) -> str:
        return f"FlatMLP(sizes={self.sizes}, n_params={self.n_params})"


def module_to_functional(module: torch.nn.Module) -> tuple[Apply, torch.Tensor]:
    """Turn an ``nn.Module`` into ``(apply, theta)`` with one flat parameter vector.

    Returns
    -------
    apply : callable ``apply(theta, X) -> module(X)`` with the parameters taken from theta
    theta : Tensor, shape (M,), a detached copy of the module's parameters

    Introduced in: Chapter 2
    """
    names = [n for n, _ in module.named_parameters()]
    shapes = [p.shape for _, p in module.named_parameters()]
    numels = [p.numel() for _, p in module.named_parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in module.parameters()]).clone()

    def apply(th: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        parts = torch.split(th, numels)
        params = {n: t.view(s) for n, t, s in zip(names, parts, shapes)}
        return functional_call(module, params, (X,))

    return apply, theta


# ---------------------------------------------------------------------------- losses
def output_loss(logits: torch.Tensor, y: torch.Tensor, loss: str = "ce") -> torch.Tensor:
    """Mean loss of ``logits`` (n, k) against integer labels ``y`` (n,).

    ``"ce"``: softmax cross-entropy. ``"mse"``: ``0.5 * ||logits - onehot(y)||^2`` per example.

    Introduced in: Chapter 2
    """
    if loss == "ce":
        return torch.nn.functional.cross_entropy(logits, y)
    if loss == "mse":
        onehot = _onehot(y, logits)
        return 0.5 * ((logits - onehot) ** 2).sum(-1).mean()
    check_choice("loss", loss, LOSSES)
    raise AssertionError  # pragma: no cover


def _onehot(y: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    # comparison instead of F.one_hot, which does not work under vmap
    return (y[..., None] == torch.arange(logits.shape[-1], device=y.device)).to(logits.dtype)


def _chunks(n: int, chunk_size: int):
    for start in range(0, n, chunk_size):
        yield start, min(n, start + chunk_size)


# ---------------------------------------------------------------------------- curvature
class Curvature:
    """The Hessian H and Gauss-Newton matrix G of the full training loss at ``theta``.

    Parameters
    ----------
    apply : callable ``apply(theta, X) -> logits``; a :class:`FlatMLP` or from
        :func:`module_to_functional`.
    theta : Tensor, shape (M,)
    X : Tensor, shape (N, d);  y : LongTensor, shape (N,)
    loss : ``"ce"`` or ``"mse"``
    chunk_size : examples per chunk; products are summed over chunks with weights n_c/N
    hvp_method : ``"auto"``, ``"fwd_rev"`` (jvp of grad) or ``"double_backward"``

    ``n_products`` counts the matrix-vector products done so far (one per vector).

    Introduced in: Chapter 2
    """

    def __init__(self, apply: Apply, theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor,
                 loss: str = "ce", chunk_size: int = 2048, hvp_method: str = "auto"):
        check_choice("loss", loss, LOSSES)
        check_choice("hvp_method", hvp_method, HVP_METHODS)
        check_positive("chunk_size", chunk_size, integer=True)
        if theta.ndim != 1:
            raise ValueError(f"theta must be a flat vector of shape (M,), got {tuple(theta.shape)}")
        self.apply, self.loss = apply, loss
        self.theta = theta.detach()
        self.X, self.y = X.to(theta.device, theta.dtype), y.to(theta.device)
        self.N = X.shape[0]
        self.n_params = theta.numel()
        self.chunk_size = int(chunk_size)
        if hvp_method == "auto":
            hvp_method = FASTER_HVP.get(theta.device.type, "fwd_rev")
        self.hvp_method = hvp_method
        self.n_products = 0

    # -- scalar loss of one chunk as a function of theta
    def _loss_fn(self, a: int, b: int):
        Xc, yc = self.X[a:b], self.y[a:b]
        return lambda th: output_loss(self.apply(th, Xc), yc, self.loss)

    def loss_value(self) -> float:
        """The training loss L(theta)."""
        with torch.no_grad():
            return float(sum((b - a) / self.N * self._loss_fn(a, b)(self.theta)
                             for a, b in _chunks(self.N, self.chunk_size)))

    def gradient(self) -> torch.Tensor:
        """The gradient of the training loss, shape (M,)."""
        g = torch.zeros_like(self.theta)
        for a, b in _chunks(self.N, self.chunk_size):
            g += (b - a) / self.N * grad(self._loss_fn(a, b))(self.theta)
        return g

    def _hvp_one(self, v: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(self.theta)
        for a, b in _chunks(self.N, self.chunk_size):
            f = self._loss_fn(a, b)
            w = (b - a) / self.N
            if self.hvp_method == "fwd_rev":
                out += w * jvp(grad(f), (self.theta,), (v,))[1]
            else:
                th = self.theta.detach().requires_grad_(True)
                with torch.enable_grad():
                    g, = torch.autograd.grad(f(th), th, create_graph=True)
                    hv, = torch.autograd.grad(g, th, grad_outputs=v)
                out += w * hv
        return out

    def _hvp_many(self, V: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(V)
        for a, b in _chunks(self.N, self.chunk_size):
            f = self._loss_fn(a, b)
            hv = vmap(lambda v: jvp(grad(f), (self.theta,), (v,))[1])(V)
            out += (b - a) / self.N * hv
        return out

    def hvp(self, v: torch.Tensor) -> torch.Tensor:
        """Hessian-vector product ``H v``; ``v`` of shape (M,) or a block (B, M) of vectors."""
        v = v.to(self.theta.device, self.theta.dtype)
        self.n_products += 1 if v.ndim == 1 else v.shape[0]
        if v.ndim == 1:
            return self._hvp_one(v)
        return self._hvp_many(v)

    def gnvp(self, v: torch.Tensor) -> torch.Tensor:
        """Gauss-Newton-vector product ``G v`` with ``G = (1/N) sum_i J_i^T H_l,i J_i``.

        ``J_i`` is the Jacobian of example i's logits with respect to theta and ``H_l,i``
        the Hessian of the loss in the logits (``diag(p) - p p^T`` for softmax CE,
        the identity for MSE). ``v`` of shape (M,) or (B, M).
        """
        v = v.to(self.theta.device, self.theta.dtype)
        self.n_products += 1 if v.ndim == 1 else v.shape[0]

        def one(a, b, vec):
            Xc = self.X[a:b]
            f = lambda th: self.apply(th, Xc)  # noqa: E731
            logits, Jv = jvp(f, (self.theta,), (vec,))
            if self.loss == "ce":
                p = torch.softmax(logits, -1)
                HJv = p * Jv - p * (p * Jv).sum(-1, keepdim=True)
            else:
                HJv = Jv
            _, pull = vjp(f, self.theta)
            return pull(HJv)[0]

        out = torch.zeros_like(v)
        for a, b in _chunks(self.N, self.chunk_size):
            if v.ndim == 1:
                out += one(a, b, v) / self.N
            else:
                out += vmap(lambda vec: one(a, b, vec))(v) / self.N
        return out

    def residual_vp(self, v: torch.Tensor) -> torch.Tensor:
        """``R v`` with ``R = (1/N) sum_i sum_c (dl/df_ic) nabla^2 f_ic``: the network's own curvature.

        Computed directly (HVP of ``theta -> (1/N) sum_i r_i . f_i(theta)`` with the output
        gradients ``r_i`` held fixed), not as H - G, so that ``G + R = H`` is a real check.
        ``v`` of shape (M,) or (B, M).
        """
        v = v.to(self.theta.device, self.theta.dtype)
        self.n_products += 1 if v.ndim == 1 else v.shape[0]
        out = torch.zeros_like(v)
        for a, b in _chunks(self.N, self.chunk_size):
            Xc, yc = self.X[a:b], self.y[a:b]
            with torch.no_grad():
                logits = self.apply(self.theta, Xc)
                if self.loss == "ce":
                    r = torch.softmax(logits, -1)
                    r[torch.arange(b - a), yc] -= 1.0
                else:
                    r = logits - _onehot(yc, logits)

            def s(th, Xc=Xc, r=r):
                return (self.apply(th, Xc) * r).sum() / self.N

            rv = lambda vec: jvp(grad(s), (self.theta,), (vec,))[1]  # noqa: E731
            out += rv(v) if v.ndim == 1 else vmap(rv)(v)
        return out

    def hessian(self, block: int = 256) -> torch.Tensor:
        """The exact Hessian, shape (M, M), built from blocks of HVPs with unit vectors.

        Meant for small nets (a few thousand parameters): it costs M HVPs and M^2 memory.
        """
        return self._dense(self.hvp, block)

    def gauss_newton(self, block: int = 256) -> torch.Tensor:
        """The exact Gauss-Newton matrix G, shape (M, M) (see :meth:`gnvp`)."""
        return self._dense(self.gnvp, block)

    def residual(self, block: int = 256) -> torch.Tensor:
        """The exact residual R = H - G, shape (M, M), built from :meth:`residual_vp`."""
        return self._dense(self.residual_vp, block)

    def _dense(self, matvec, block: int) -> torch.Tensor:
        M = self.n_params
        out = torch.empty(M, M, dtype=self.theta.dtype, device=self.theta.device)
        eye = torch.eye(M, dtype=self.theta.dtype, device=self.theta.device)
        for s in range(0, M, block):
            out[:, s:s + block] = matvec(eye[s:s + block]).T
        return 0.5 * (out + out.T)

    def operator(self, which: str = "H") -> Callable[[torch.Tensor], torch.Tensor]:
        """The matrix-vector product of ``"H"``, ``"G"`` or ``"R"`` as a callable."""
        check_choice("which", which, ("H", "G", "R"))
        return {"H": self.hvp, "G": self.gnvp, "R": self.residual_vp}[which]


def gauss_newton_rank_bound(n_train: int, n_classes: int, n_params: int, loss: str = "ce") -> int:
    """Upper bound on rank(G): ``min(M, N (k-1))`` for softmax CE, ``min(M, N k)`` for MSE.

    Each example adds ``J_i^T H_l,i J_i`` of rank at most rank(H_l,i), and the CE output
    Hessian ``diag(p) - p p^T`` has the all-ones vector in its null space, so rank k - 1.

    Introduced in: Chapter 2
    """
    check_choice("loss", loss, LOSSES)
    per = n_classes - 1 if loss == "ce" else n_classes
    return int(min(n_params, n_train * per))


# ---------------------------------------------------------------------------- eigensolvers
