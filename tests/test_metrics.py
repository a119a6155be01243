"""Layer metrics: dead units of a hand-built layer, PCA against numpy, EM fits recover
known mixtures and are deterministic, Shapiro separates normal from skewed variances."""
import numpy as np
import pytest
import torch

from overparam.metrics import (
    dead_unit_sweep, dead_units, fit_exp_normal, fit_two_gammas, hidden_layer, pca_metrics,
    pca_metrics_linear,
    total_variance, unit_variance, variance_normality,
)


def test_dead_units_of_hand_built_layer():
    # 3 inputs >= 0; unit 0 = x0 (alive), unit 1 = -x0 - 1 (always < 0: dead),
    # unit 2 = 0.001 * x1 (tiny variance), unit 3 = constant 2 (alive but zero variance)
    W = torch.tensor([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.001, 0.0], [0.0, 0.0, 0.0, 0.0]])
    b = torch.tensor([0.0, -1.0, 0.0, 2.0])
    X = torch.rand(200, 3, generator=torch.Generator().manual_seed(0))
    pre, post = hidden_layer([W, b], X)
    torch.testing.assert_close(pre, X @ W + b)
    v = unit_variance(post)
    assert v.shape == (4,)
    assert dead_units(v) == 2  # units 1 and 3 never vary
    assert dead_units(v, tol=1e-5) == 3  # unit 2's variance ~ 1e-6 / 12
    np.testing.assert_array_equal(dead_unit_sweep(v, [0.0, 1e-5, 1.0]), [2, 3, 4])
    assert total_variance(v) == pytest.approx(np.var(X[:, 0].numpy()) + np.var(0.001 * X[:, 1].numpy()))


def test_pca_metrics_match_numpy():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(300, 3)) @ rng.normal(size=(3, 8)) + 0.01 * rng.normal(size=(300, 8))
    m = pca_metrics(A)
    C = np.cov(A.T, bias=True)
    ev = np.sort(np.linalg.eigvalsh(C))[::-1]
    np.testing.assert_allclose(m.explained, ev / ev.sum(), atol=1e-10)
    assert m.n_components(0.99) == 3  # rank-3 signal plus small noise
    Ac = A - A.mean(0)
    _, _, vt = np.linalg.svd(Ac, full_matrices=False)
    for k in (0, 2, 5, 8):
        P = vt[:k].T @ vt[:k]
        direct = np.linalg.norm(Ac - Ac @ P, axis=1).mean()
        assert m.recon_error[k] == pytest.approx(direct, abs=1e-8)
    assert np.all(np.diff(m.recon_error) <= 1e-12)


def test_exp_normal_em_recovers_parameters():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.exponential(0.05, 600), np.abs(rng.normal(1.0, 0.15, 1400))])
    f = fit_exp_normal(x)
    assert f.converged
    assert f.dead_weight == pytest.approx(0.3, abs=0.03)
    assert f.params["rate"] == pytest.approx(20, rel=0.15)
    assert f.params["mu"] == pytest.approx(1.0, abs=0.02)
    assert f.params["sigma"] == pytest.approx(0.15, abs=0.02)
    # scale-free and deterministic
    g = fit_exp_normal(x * 1000)
    assert g.dead_weight == pytest.approx(f.dead_weight, abs=1e-6)
    assert fit_exp_normal(x) == f


def test_two_gammas_em_recovers_parameters_and_counts_zeros():
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.gamma(1.5, 0.02, 500), rng.gamma(20.0, 0.05, 1500)])
    f = fit_two_gammas(x)
    assert f.converged
    assert f.dead_weight == pytest.approx(0.25, abs=0.03)
    assert f.params["shape1"] == pytest.approx(1.5, rel=0.2)
    assert f.params["shape2"] * f.params["scale2"] == pytest.approx(1.0, abs=0.03)
    assert f.params["shape2"] == pytest.approx(20, rel=0.2)
    assert fit_two_gammas(x) == f
    # 500 exact zeros join the dead-like component
    z = fit_two_gammas(np.concatenate([np.zeros(500), x]))
    assert z.dead_weight == pytest.approx((500 + 0.25 * 2000) / 2500, abs=0.03)
    with pytest.raises(ValueError, match="non-negative"):
        fit_two_gammas(np.array([1.0, -1.0, 2.0, 3.0]))


def test_shapiro_separates_normal_from_exponential():
    rng = np.random.default_rng(3)
    normal = variance_normality(np.abs(rng.normal(5.0, 0.5, 300)))
    skewed = variance_normality(rng.exponential(1.0, 300))
    assert normal > 0.98 > 0.9 > skewed
    with pytest.raises(ValueError, match="at least 3"):
        variance_normality([1.0, 2.0])


def test_pca_of_linear_layer_equals_dense_pca():
    rng = np.random.default_rng(4)
    X, W, b = rng.normal(size=(120, 6)), rng.normal(size=(6, 30)), rng.normal(size=30)
    dense, fast = pca_metrics(X @ W + b), pca_metrics_linear(torch.tensor(X), torch.tensor(W))
    r = len(fast.explained)
    assert r == 6 and np.allclose(dense.explained[r:], 0, atol=1e-12)
    np.testing.assert_allclose(fast.explained, dense.explained[:r], atol=1e-10)
    np.testing.assert_allclose(fast.recon_error, dense.recon_error[: r + 1], atol=1e-8)
