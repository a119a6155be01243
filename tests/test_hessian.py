"""Curvature tools (Chapter 2) against exact oracles on tiny nets, float64, CPU."""
import numpy as np
import pytest
import torch

from overparam import hessian as H
from overparam import models


@pytest.fixture(scope="module")
def problem():
    g = torch.Generator().manual_seed(0)
    mlp = H.FlatMLP((5, 7, 6, 3))
    theta = mlp.init(g, dtype=torch.float64)
    X = torch.randn(40, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (40,), generator=g)
    exact = torch.func.hessian(lambda t: H.output_loss(mlp(t, X), y))(theta)
    return mlp, theta, X, y, exact


def test_flat_mlp_counts_parameters_and_matches_module():
    mlp = H.FlatMLP((4, 3, 2))
    assert mlp.n_params == 4 * 3 + 3 + 3 * 2 + 2
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    apply, theta = H.module_to_functional(net)
    X = torch.randn(5, 4)
    assert torch.allclose(apply(theta, X), net(X))
    # the family's flat layout (W as (fan_in, fan_out)) of the same module gives the same logits
    flat = models.flatten([p[None] for p in models.from_module(mlp.arch, net)])[0]
    assert torch.allclose(mlp(flat, X), net(X))
    assert not torch.allclose(mlp(theta, X), net(X))  # the layouts differ: the check above is not vacuous
    # a stack of flat vectors (R, P) gives (R, n, k), each row as alone
    thetas = mlp.init(torch.Generator().manual_seed(1), batch_shape=(3,))
    out = mlp(thetas, X)
    assert out.shape == (3, 5, 2)
    torch.testing.assert_close(out[2], mlp(thetas[2], X))


@pytest.mark.parametrize("method", ["fwd_rev", "double_backward"])
def test_hvp_equals_exact_hessian_times_v(problem, method):
    mlp, theta, X, y, exact = problem
    curv = H.Curvature(mlp, theta, X, y, chunk_size=16, hvp_method=method)  # 3 uneven chunks
    v = torch.randn(mlp.n_params, dtype=torch.float64)
    assert torch.allclose(curv.hvp(v), exact @ v, atol=1e-12)
    V = torch.randn(4, mlp.n_params, dtype=torch.float64)
    assert torch.allclose(curv.hvp(V), V @ exact, atol=1e-12)
    assert curv.n_products == 5


def test_dense_hessian_matches_torch_func(problem):
    mlp, theta, X, y, exact = problem
    curv = H.Curvature(mlp, theta, X, y, chunk_size=25)
    assert torch.allclose(curv.hessian(block=17), exact, atol=1e-12)


@pytest.mark.parametrize("method", H.EIG_METHODS)
def test_top_k_agrees_with_exact_spectrum(problem, method):
    mlp, theta, X, y, exact = problem
    curv = H.Curvature(mlp, theta, X, y)
    ev = np.linalg.eigvalsh(exact.numpy())[::-1]
    k = 1 if method == "power" else 4  # power iteration finds largest |lambda|; at init
    # this net has negative eigenvalues larger in size than its 2nd positive one
    res = H.top_eigenpairs(curv.hvp, mlp.n_params, k, method=method, tol=1e-10,
                           max_products=2000, generator=torch.Generator().manual_seed(1),
                           return_vectors=True)
    np.testing.assert_allclose(res.values, ev[:k], rtol=1e-6)
    Hv = exact.numpy() @ res.vectors
    np.testing.assert_allclose(Hv, res.vectors * res.values, atol=1e-5)
    assert 0 < res.n_products <= 2000


def test_lanczos_needs_far_fewer_products_than_the_dimension(problem):
    mlp, theta, X, y, exact = problem
    curv = H.Curvature(mlp, theta, X, y)
    ev = np.linalg.eigvalsh(exact.numpy())[::-1]
    res = H.top_eigenpairs(curv.hvp, mlp.n_params, 3, exact=ev, rtol_exact=1e-3,
                           generator=torch.Generator().manual_seed(2))
    assert np.all(np.abs(res.values - ev[:3]) <= 1e-3 * np.abs(ev[:3]))
    assert res.n_products < mlp.n_params / 2


def test_slq_quadrature_is_exact_per_probe_and_moments_agree(problem):
    mlp, theta, X, y, exact = problem
    curv = H.Curvature(mlp, theta, X, y)
    A = exact.numpy()
    M = mlp.n_params
    # Gauss quadrature with m nodes integrates v^T H^p v exactly for p < 2m
    v = torch.ones(M, dtype=torch.float64)
    alpha, beta, _ = H.lanczos(curv.hvp, M, 6, v0=v)
    th, S = H.tridiag_eigh(alpha, beta)
    for p in range(1, 12):
        quad = float((S[0] ** 2 * th ** p).sum())
        ref = float(v @ torch.from_numpy(np.linalg.matrix_power(A, p)) @ v) / M
        assert quad == pytest.approx(ref, rel=1e-8, abs=1e-12)
    dens = H.spectrum(curv, "slq", n_probes=200, steps=20, generator=torch.Generator().manual_seed(3))
    ev = np.linalg.eigvalsh(A)
    for p in (1, 2, 3):
        ref = np.mean(ev ** p)
        spread = np.sqrt(2 * np.sum(A ** (2 * p) if p == 1 else np.linalg.matrix_power(A, p) ** 2)) / M
        assert abs(dens.moment(p) - ref) < 3 * spread / np.sqrt(200) + 1e-10
    assert dens.mass() == pytest.approx(1.0)
    grid = np.linspace(ev.min() - 1, ev.max() + 1, 2000)
    assert np.trapezoid(dens.density(grid, 0.05), grid) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("loss", H.LOSSES)
def test_gauss_newton_plus_residual_is_the_hessian_and_rank_bound_holds(loss):
    g = torch.Generator().manual_seed(4)
    mlp = H.FlatMLP((3, 6, 4))  # M = 24 + 16 + ... = 3*6+6+6*4+4 = 52
    theta = mlp.init(g, dtype=torch.float64)
    X = torch.randn(5, 3, generator=g, dtype=torch.float64)  # N = 5, so N(k-1) = 15 < M
    y = torch.randint(0, 4, (5,), generator=g)
    curv = H.Curvature(mlp, theta, X, y, loss=loss, chunk_size=2)
    Hm, G = curv.hessian(), curv.gauss_newton()
    R = torch.stack([curv.residual_vp(e) for e in torch.eye(mlp.n_params, dtype=torch.float64)], 1)
    assert torch.allclose(G + R, Hm, atol=1e-12)
    # G is positive semi-definite and its rank is at most the bound
    evG = torch.linalg.eigvalsh(G)
    assert evG.min() > -1e-10
    bound = H.gauss_newton_rank_bound(5, 4, mlp.n_params, loss)
    assert bound == (15 if loss == "ce" else 20)
    assert torch.linalg.matrix_rank(G, rtol=1e-9).item() <= bound
    # oracle for G: J^T H_l J / N from the explicit Jacobian
    J = torch.func.jacrev(lambda t: mlp(t, X))(theta)  # (N, k, M)
    if loss == "ce":
        p = torch.softmax(mlp(theta, X), -1)
        Hl = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    else:
        Hl = torch.eye(4, dtype=torch.float64).expand(5, 4, 4)
    G_ref = torch.einsum("nkm,nkl,nlp->mp", J, Hl, J) / 5
    assert torch.allclose(G, G_ref, atol=1e-12)


def test_stacked_top_eigenvalue_matches_each_network():
    g = torch.Generator().manual_seed(5)
    mlp = H.FlatMLP((4, 6, 3))
    thetas = mlp.init(g, batch_shape=(3,), dtype=torch.float64)
    X = torch.randn(30, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (30,), generator=g)
    got = H.stacked_top_eigenvalue(mlp, thetas, X, y, steps=mlp.n_params, generator=g)
    for t, lam in zip(thetas, got):
        exact = torch.func.hessian(lambda q: H.output_loss(mlp(q, X), y))(t)
        assert lam == pytest.approx(torch.linalg.eigvalsh(exact)[-1].item(), rel=1e-8)


def test_clear_errors(problem):
    mlp, theta, X, y, _ = problem
    curv = H.Curvature(mlp, theta, X, y)
    with pytest.raises(ValueError, match=r"k=1000 .*n_params=\d+"):
        H.top_eigenvalues(curv, k=1000)
    with pytest.raises(ValueError, match=r"method='arnoldi'.*'lanczos', 'eigsh', 'power'"):
        H.top_eigenpairs(curv.hvp, mlp.n_params, 2, method="arnoldi")
    with pytest.raises(ValueError, match=r"method='full'.*'exact', 'slq'"):
        H.spectrum(curv, method="full")
    with pytest.raises(ValueError, match="loss"):
        H.Curvature(mlp, theta, X, y, loss="hinge")
    with pytest.raises(ValueError, match="eigenvalues are only available"):
        H.spectrum(curv, "slq", n_probes=1, steps=3).eigenvalues


def test_slq_batched_and_one_probe_at_a_time_agree(problem):
    mlp, theta, X, y, exact = problem
    curv = H.Curvature(mlp, theta, X, y)
    a = H.slq(curv.hvp, mlp.n_params, 3, 8, generator=torch.Generator().manual_seed(7))
    b = H.slq(curv.hvp, mlp.n_params, 3, 8, generator=torch.Generator().manual_seed(7), batched=False)
    np.testing.assert_allclose(np.sort(a.nodes, 1), np.sort(b.nodes, 1), atol=1e-10)
    assert a.moment(2) == pytest.approx(b.moment(2), rel=1e-10)


def test_eigsh_asking_for_every_eigenvalue_falls_back_to_dense():
    A = torch.diag(torch.arange(5.0, dtype=torch.float64))
    res = H.top_eigenpairs(lambda v: A @ v, 5, 5, method="eigsh")
    np.testing.assert_allclose(res.values, [4, 3, 2, 1, 0], atol=1e-12)


@pytest.mark.parametrize("which", ["H", "G", "R"])
def test_spectrum_comes_out_descending_and_equals_eigvalsh(problem, which):
    """The documented order: ``spectrum(...).eigenvalues`` and ``top_eigenvalues`` are
    descending; their values are numpy.linalg.eigvalsh of the torch.func.hessian oracle
    (for G and R: of the dense split), sorted the other way."""
    mlp, theta, X, y, exact = problem
    curv = H.Curvature(mlp, theta, X, y)
    G = curv.gauss_newton().numpy()        # checked against its own oracle above
    oracle = {"H": exact.numpy(), "G": G, "R": exact.numpy() - G}[which]
    ref = np.linalg.eigvalsh(oracle)                     # ascending, by numpy's contract
    ev = H.spectrum(curv, "exact", which).eigenvalues
    assert np.all(np.diff(ev) <= 0), "exact spectrum not descending"
    np.testing.assert_allclose(ev, ref[::-1], atol=1e-10)
    assert not np.allclose(ev, ref), "the oracle's ascending order must differ (not a vacuous check)"
    top = H.top_eigenvalues(curv, 4, which)
    assert np.all(np.diff(top) <= 0)
    np.testing.assert_allclose(top, ref[::-1][:4], atol=1e-6)
