"""Curvature of the training loss: Hessian-vector products, exact Hessians, Lanczos,
stochastic Lanczos quadrature and the Gauss-Newton split H = G + R.

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

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch.func import functional_call, grad, jacrev, jvp, vjp, vmap

from .config import check_choice, check_positive
from .models import Arch, Flat

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
def _check_k(k: int, n: int) -> None:
    check_positive("k", k, integer=True)
    if k > n:
        raise ValueError(f"k={k!r} is not allowed; a matrix with n_params={n} has at most "
                         f"{n} eigenvalues: choose 1 <= k <= {n}")


@dataclass
class Eigenpairs:
    """Top eigenpairs of a symmetric operator and the number of products they cost."""

    values: np.ndarray          # shape (k,), descending
    vectors: np.ndarray | None  # shape (M, k) or None
    n_products: int             # matrix-vector products used


def lanczos(matvec: Callable[[torch.Tensor], torch.Tensor], n: int, steps: int, *,
            v0: torch.Tensor | None = None, generator: torch.Generator | None = None,
            dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu",
            batch: int | None = None,
            stop: Callable[[torch.Tensor, torch.Tensor], bool] | None = None,
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Lanczos tridiagonalisation with full re-orthogonalisation.

    Parameters
    ----------
    matvec : maps a (M,) vector -- or a (B, M) block when ``batch=B`` -- to its product
    n : dimension M
    steps : largest number of Lanczos steps m (at most M); one product per step
    v0 : starting vector(s) (M,) or (B, M); default a Gaussian draw
    batch : run B independent recursions at once (e.g. one per stacked network)
    stop : optional ``stop(alpha, beta) -> bool`` called after each step with the
        coefficients so far (``beta`` includes the newest off-diagonal, the residual norm);
        the recursion ends when it returns True (unbatched only)

    Returns
    -------
    alpha : Tensor (m,) or (B, m), diagonal of T
    beta : Tensor (m-1,) or (B, m-1), off-diagonal of T
    Q : Tensor (m, M) or (B, m, M), the orthonormal Lanczos vectors

    The eigenvalues of T (Ritz values) approximate the extreme eigenvalues of the operator.
    The recursion also stops early when it finds an invariant subspace.

    Introduced in: Chapter 2
    """
    check_positive("steps", steps, integer=True)
    steps = min(steps, n)
    B = 1 if batch is None else batch
    if v0 is None:
        v0 = torch.randn(B, n, generator=generator, dtype=dtype)
    v0 = v0.to(device=device, dtype=dtype).reshape(B, n)
    Q = torch.zeros(B, steps, n, dtype=dtype, device=device)
    alpha = torch.zeros(B, steps, dtype=dtype, device=device)
    beta = torch.zeros(B, steps, dtype=dtype, device=device)
    q = v0 / v0.norm(dim=-1, keepdim=True)
    m = steps
    for j in range(steps):
        Q[:, j] = q
        w = matvec(q[0]).reshape(1, n) if batch is None else matvec(q)
        w = w.to(dtype)
        alpha[:, j] = (w * q).sum(-1)
        # full re-orthogonalisation against all previous vectors, twice for safety
        for _ in range(2):
            coef = torch.einsum("bjn,bn->bj", Q[:, :j + 1], w)
            w = w - torch.einsum("bj,bjn->bn", coef, Q[:, :j + 1])
        b = w.norm(dim=-1)
        beta[:, j] = b
        scale = alpha[:, :j + 1].abs().max().clamp_min(1e-30)
        if bool((b <= 1e-10 * scale).all()) or j == steps - 1:
            m = j + 1
            break
        if stop is not None and batch is None and stop(alpha[0, :j + 1], beta[0, :j + 1]):
            m = j + 1
            break
        q = w / b.clamp_min(1e-300).unsqueeze(-1)
    alpha, beta, Q = alpha[:, :m], beta[:, :m - 1], Q[:, :m]
    if batch is None:
        return alpha[0], beta[0], Q[0]
    return alpha, beta, Q


def tridiag_eigh(alpha: torch.Tensor, beta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (ascending) and eigenvectors of the symmetric tridiagonal T(alpha, beta).

    Works on (m,) or batched (B, m) inputs.

    Introduced in: Chapter 2
    """
    T = torch.diag_embed(alpha) + torch.diag_embed(beta, 1) + torch.diag_embed(beta, -1)
    return torch.linalg.eigh(T)


def top_eigenpairs(matvec: Callable[[torch.Tensor], torch.Tensor], n: int, k: int = 1, *,
                   method: str = "lanczos", tol: float = 1e-6, max_products: int | None = None,
                   generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64,
                   device: torch.device | str = "cpu", return_vectors: bool = False,
                   exact: np.ndarray | None = None, rtol_exact: float = 1e-3) -> Eigenpairs:
    """The ``k`` algebraically largest eigenvalues of a symmetric operator.

    Parameters
    ----------
    matvec : product with the operator, (M,) -> (M,) (e.g. ``Curvature.hvp``)
    n : dimension M
    k : number of eigenvalues; 1 <= k <= M
    method : ``"lanczos"`` (own Lanczos with full re-orthogonalisation, grown until the top
        k Ritz values change by less than ``tol`` relatively), ``"eigsh"``
        (scipy.sparse.linalg.eigsh on a LinearOperator, ARPACK) or ``"power"`` (power
        iteration with deflation, as in PyHessian: stops when the Rayleigh quotient
        changes by less than ``tol`` relatively)
    exact : optional reference eigenvalues (descending); when given, lanczos and power
        stop as soon as all k values are within ``rtol_exact`` of it (used by the
        benchmark to count the products truly needed)

    Returns
    -------
    Eigenpairs with values (k,) descending, vectors (M, k) if asked, and the product count.

    Introduced in: Chapter 2
    """
    check_choice("method", method, EIG_METHODS)
    _check_k(k, n)
    max_products = max_products or max(50 * k, 500)
    count = [0]

    def mv(x: torch.Tensor) -> torch.Tensor:
        count[0] += 1 if x.ndim == 1 else x.shape[0]
        return matvec(x.to(device)).to(dtype)

    def close_to_exact(vals) -> bool:
        vals = np.asarray(vals, dtype=float)
        ref = np.asarray(exact, dtype=float)[:vals.size] if exact is not None else None
        return ref is not None and bool(np.all(np.abs(vals - ref) <= rtol_exact * np.abs(ref)))

    if method == "eigsh":
        from scipy.sparse.linalg import LinearOperator, eigsh
        if k >= n:  # ARPACK needs k < n: fall back to a dense build
            dense = torch.stack([mv(e) for e in torch.eye(n, dtype=dtype, device=device)], 1)
            w, V = torch.linalg.eigh(0.5 * (dense + dense.T))
            idx = torch.argsort(w, descending=True)[:k]
            return Eigenpairs(w[idx].cpu().numpy(), V[:, idx].cpu().numpy() if return_vectors else None,
                              count[0])
        op = LinearOperator((n, n), dtype=np.float64,
                            matvec=lambda x: mv(torch.as_tensor(np.ravel(x), dtype=dtype)).cpu().numpy())
        v0 = torch.randn(n, generator=generator, dtype=torch.float64).numpy()
        w, V = eigsh(op, k=k, which="LA", tol=tol, v0=v0, maxiter=max_products)
        order = np.argsort(w)[::-1]
        return Eigenpairs(w[order], V[:, order] if return_vectors else None, count[0])

    if method == "power":
        vals: list[float] = []
        vecs: list[torch.Tensor] = []
        for _ in range(k):
            v = torch.randn(n, generator=generator, dtype=dtype).to(device)
            lam_prev = None
            while True:
                for u in vecs:  # deflation: stay orthogonal to the found eigenvectors
                    v = v - (u @ v) * u
                v = v / v.norm()
                Hv = mv(v)
                for u, lam_u in zip(vecs, vals):
                    Hv = Hv - lam_u * (u @ v) * u
                lam = float(v @ Hv)
                done = (close_to_exact(vals + [lam]) if exact is not None else
                        lam_prev is not None and abs(lam - lam_prev) <= tol * (abs(lam_prev) + 1e-30))
                v = Hv
                if done or count[0] >= max_products:
                    break
                lam_prev = lam
            vecs.append(v / v.norm())
            vals.append(lam)
            if count[0] >= max_products:
                break
        vals_arr = np.array(vals + [np.nan] * (k - len(vals)))
        V = torch.stack(vecs, 1).cpu().numpy() if return_vectors else None
        return Eigenpairs(vals_arr, V, count[0])

    # Lanczos: one recursion, checking the top-k Ritz values after every step.
    def stop(alpha: torch.Tensor, beta: torch.Tensor) -> bool:
        m = alpha.numel()
        if m < k:
            return False
        theta_r, S = tridiag_eigh(alpha, beta[:-1])
        top = theta_r.flip(0)[:k].cpu().numpy()
        if exact is not None:
            return close_to_exact(top)
        # residual norm ||H y - theta y|| = |beta_m s_m| of each top Ritz pair
        resid = (beta[-1].abs() * S[-1, :].abs()).flip(0)[:k].cpu().numpy()
        return bool(np.all(resid <= tol * np.maximum(np.abs(top), 1e-12)))

    v0 = torch.randn(n, generator=generator, dtype=dtype)
    alpha, beta, Q = lanczos(mv, n, min(n, max_products), v0=v0, dtype=dtype, device=device,
                             stop=stop)
    theta_r, S = tridiag_eigh(alpha, beta)
    top = theta_r.flip(0)[:k].cpu().numpy()
    vectors = None
    if return_vectors:
        vectors = (Q.T @ S.flip(1)[:, :k]).cpu().numpy()
    return Eigenpairs(top, vectors, count[0])


# ---------------------------------------------------------------------------- densities
@dataclass
class SpectralDensity:
    """A spectrum as weighted nodes: exact (one row, weights 1/M) or from SLQ (one row per probe).

    ``nodes`` and ``weights`` have shape (P, m); each row of weights sums to 1, so the
    mean over rows of ``sum_j w_j f(node_j)`` estimates ``tr f(H) / M``.

    Introduced in: Chapter 2
    """

    nodes: np.ndarray
    weights: np.ndarray
    n_params: int
    n_products: int = 0
    exact: bool = False

    @classmethod
    def from_eigenvalues(cls, eigenvalues, n_products: int = 0) -> "SpectralDensity":
        """Wrap a full list of eigenvalues (shape (M,)) as an exact density."""
        ev = np.sort(np.asarray(eigenvalues, dtype=float))[::-1]
        return cls(ev[None], np.full((1, ev.size), 1.0 / ev.size), ev.size, n_products, True)

    @property
    def eigenvalues(self) -> np.ndarray:
        """All eigenvalues, descending (exact densities only)."""
        if not self.exact:
            raise ValueError("eigenvalues are only available for an exact spectrum (method='exact')")
        return self.nodes[0]

    def moment(self, p: int) -> float:
        """Estimate of ``tr(H^p) / M``."""
        return float(np.mean(np.sum(self.weights * self.nodes ** p, axis=1)))

    def mass(self, low: float = -np.inf, high: float = np.inf) -> float:
        """Fraction of the eigenvalues in ``[low, high]``."""
        inside = (self.nodes >= low) & (self.nodes <= high)
        return float(np.mean(np.sum(self.weights * inside, axis=1)))

    def density(self, grid, sigma: float) -> np.ndarray:
        """Gaussian-smoothed density on ``grid`` (shape (G,)); integrates to about 1."""
        grid = np.asarray(grid, dtype=float)
        z = (grid[:, None, None] - self.nodes[None]) / sigma
        kern = np.exp(-0.5 * z ** 2) / (sigma * np.sqrt(2 * np.pi))
        return np.mean(np.sum(self.weights[None] * kern, axis=2), axis=1)


def slq(matvec: Callable[[torch.Tensor], torch.Tensor], n: int, n_probes: int = 8,
        steps: int = 80, *, generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu",
        batched: bool = True) -> SpectralDensity:
    """Spectral density by stochastic Lanczos quadrature.

    For each Rademacher probe v, ``steps`` Lanczos steps give T = S diag(theta) S^T; the
    nodes theta_j with weights S_{0j}^2 form a Gauss quadrature with
    ``sum_j S_0j^2 theta_j^p = v^T H^p v / |v|^2`` exactly for p < 2 steps; averaging over
    probes estimates ``tr(H^p)/M``.

    Parameters
    ----------
    matvec : product with the operator; with ``batched=True`` it must accept (B, M) blocks
    n : dimension M
    n_probes, steps : probes P and Lanczos steps m (cost P * m products)

    Returns
    -------
    SpectralDensity with nodes and weights of shape (P, m)

    Introduced in: Chapter 2
    """
    check_positive("n_probes", n_probes, integer=True)
    check_positive("steps", steps, integer=True)
    V = (torch.randint(0, 2, (n_probes, n), generator=generator) * 2 - 1).to(dtype)
    nodes, weights = [], []
    if batched:
        alpha, beta, _ = lanczos(lambda x: matvec(x.to(device)), n, steps, v0=V, dtype=dtype,
                                 device=device, batch=n_probes)
        th, S = tridiag_eigh(alpha, beta)
        nodes, weights = th.cpu().numpy(), (S[:, 0, :] ** 2).cpu().numpy()
    else:
        for p in range(n_probes):
            alpha, beta, _ = lanczos(matvec, n, steps, v0=V[p], dtype=dtype, device=device)
            th, S = tridiag_eigh(alpha, beta)
            m = th.numel()
            row_n, row_w = np.zeros(steps), np.zeros(steps)
            row_n[:m], row_w[:m] = th.cpu().numpy(), (S[0] ** 2).cpu().numpy()
            nodes.append(row_n)
            weights.append(row_w)
        nodes, weights = np.stack(nodes), np.stack(weights)
    return SpectralDensity(nodes, weights, n, n_probes * steps, False)


def spectrum(curv: Curvature, method: str = "exact", which: str = "H", *, n_probes: int = 8,
             steps: int = 80, generator: torch.Generator | None = None) -> SpectralDensity:
    """The spectrum of H, G or R = H - G at the curvature's point.

    Parameters
    ----------
    curv : Curvature
    method : ``"exact"`` (dense matrix and eigvalsh; small nets) or ``"slq"``
    which : ``"H"``, ``"G"`` or ``"R"``
    n_probes, steps : SLQ settings

    Returns
    -------
    SpectralDensity (exact: all M eigenvalues)

    Introduced in: Chapter 2
    """
    check_choice("method", method, SPECTRUM_METHODS)
    check_choice("which", which, ("H", "G", "R"))
    before = curv.n_products
    if method == "exact":
        if which == "H":
            mat = curv.hessian()
        elif which == "G":
            mat = curv.gauss_newton()
        else:
            mat = curv.residual()
        ev = torch.linalg.eigvalsh(mat.to(torch.float64)).cpu().numpy()
        return SpectralDensity.from_eigenvalues(ev, curv.n_products - before)
    dens = slq(curv.operator(which), curv.n_params, n_probes, steps, generator=generator,
               dtype=torch.float64, device=curv.theta.device)
    dens.n_products = curv.n_products - before
    return dens


def top_eigenvalues(curv: Curvature, k: int = 1, which: str = "H", method: str = "lanczos",
                    tol: float = 1e-4, generator: torch.Generator | None = None) -> np.ndarray:
    """The ``k`` largest eigenvalues of H, G or R at the curvature's point, descending.

    Raises a ValueError when ``k`` exceeds the number of parameters.

    Introduced in: Chapter 2
    """
    check_choice("which", which, ("H", "G", "R"))
    # the recursion runs in float64 whatever the products' precision (float32 on GPUs)
    res = top_eigenpairs(curv.operator(which), curv.n_params, k, method=method, tol=tol,
                         generator=generator, dtype=torch.float64, device=curv.theta.device)
    return res.values


def stacked_top_eigenvalue(apply: Apply, thetas: torch.Tensor, X: torch.Tensor, y: torch.Tensor,
                           loss: str = "ce", steps: int = 30,
                           generator: torch.Generator | None = None) -> np.ndarray:
    """Top Hessian eigenvalue of each of R stacked networks, as one batched Lanczos run.

    Parameters
    ----------
    thetas : Tensor, shape (R, M), one parameter vector per network
    X, y : the shared training set (N, d), (N,)
    steps : Lanczos steps (products per network); the top Ritz value converges fast

    Returns
    -------
    ndarray, shape (R,)

    Introduced in: Chapter 2
    """
    check_choice("loss", loss, LOSSES)
    R, M = thetas.shape
    X = X.to(thetas.device, thetas.dtype)
    y = y.to(thetas.device)

    def f(th):
        return output_loss(apply(th, X), y, loss)

    hvp_b = vmap(lambda th, v: jvp(grad(f), (th,), (v,))[1])
    alpha, beta, _ = lanczos(lambda V: hvp_b(thetas, V.to(thetas.dtype)), M, steps,
                             generator=generator, dtype=thetas.dtype, device=thetas.device,
                             batch=R)
    th, _ = tridiag_eigh(alpha, beta)
    return th[:, -1].cpu().numpy()
