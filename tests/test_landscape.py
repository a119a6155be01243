"""Lines through parameter space (Chapter 2): interpolation, batched evaluation, barriers."""
import numpy as np
import pytest
import torch

from overparam import hessian as H
from overparam import landscape as L


def _setup():
    g = torch.Generator().manual_seed(0)
    mlp = H.FlatMLP((3, 5, 4))
    a, b = mlp.init(g, batch_shape=(2,), dtype=torch.float64)
    X = torch.randn(23, 3, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (23,), generator=g)
    return mlp, a, b, X, y


def test_interpolate_hits_the_ends_and_extends_beyond():
    _, a, b, _, _ = _setup()
    pts = L.interpolate(a, b, [-1.0, 0.0, 0.5, 1.0, 2.0])
    assert torch.allclose(pts[1], a) and torch.allclose(pts[3], b)
    assert torch.allclose(pts[2], (a + b) / 2)
    assert torch.allclose(pts[0], 2 * a - b) and torch.allclose(pts[4], 2 * b - a)


def test_batched_evaluation_matches_one_by_one():
    mlp, a, b, X, y = _setup()
    pts = L.interpolate(a, b, np.linspace(-0.5, 1.5, 5))
    loss, err = L.evaluate(mlp, pts, X, y, chunk_size=7)
    for p, l_, e_ in zip(pts, loss, err):
        logits = mlp(p, X)
        assert l_ == pytest.approx(torch.nn.functional.cross_entropy(logits, y).item(), rel=1e-12)
        assert e_ == pytest.approx((logits.argmax(1) != y).double().mean().item())


def test_scan_line_and_direction():
    mlp, a, b, X, y = _setup()
    scan = L.scan_line(mlp, a, b, X, y, [0.0, 1.0], X_test=X, y_test=y)
    assert np.allclose(scan.train_loss, scan.test_loss)
    d = L.scan_direction(mlp, a, b - a, X, y, [0.0, float((b - a).norm())])
    assert np.allclose(d.train_loss, scan.train_loss)  # unit direction times |b - a| reaches b


def test_barrier_height_of_a_bump_and_of_a_straight_line():
    al = np.linspace(0, 1, 11)
    assert L.barrier_height(al, 2 + 3 * al) == pytest.approx(0.0, abs=1e-12)
    bump = 1 + 4 * al * (1 - al)  # peak 1 above the chord at alpha = 0.5
    assert L.barrier_height(al, bump) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="both ends"):
        L.barrier_height([0.2, 0.5], [1, 2])


def test_quadratic_along_top_eigenvector_has_the_eigenvalue_as_curvature():
    """Near a point, L(theta + t u) ~ L + t g.u + t^2/2 lambda for a unit eigenvector u."""
    mlp, a, _, X, y = _setup()
    curv = H.Curvature(mlp, a, X, y)
    res = H.top_eigenpairs(curv.hvp, mlp.n_params, 1, return_vectors=True, tol=1e-10)
    u = torch.from_numpy(res.vectors[:, 0])
    t = 1e-3
    ls = L.scan_direction(mlp, a, u, X, y, [-t, 0.0, t]).train_loss
    second = (ls[0] - 2 * ls[1] + ls[2]) / t ** 2
    assert second == pytest.approx(res.values[0], rel=1e-3)
