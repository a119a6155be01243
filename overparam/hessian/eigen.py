"""Eigenvalues of curvature operators: Lanczos, top eigenpairs, stochastic Lanczos
quadrature (spectral densities) and the stacked top eigenvalue.

Part of :mod:`overparam.hessian`; see its docstring.

Introduced in: Chapter 2
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch.func import grad, jvp, vmap

from ..config import check_choice, check_positive
from .curvature import (EIG_METHODS, LOSSES, SPECTRUM_METHODS, Apply, Curvature, output_loss)


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
