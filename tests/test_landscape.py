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


# ----------------------------------------------------------------- paths between solutions (chapter 8)

from overparam.models import Arch, forward, init_stack  # noqa: E402


def _pair(widths=(6, 5), M=2, seed=0):
    arch = Arch("mlp", widths, d=3, n_classes=3)
    a = init_stack(arch, [seed + i for i in range(M)]).params
    b = init_stack(arch, [seed + 100 + i for i in range(M)]).params
    return arch, a, b


def test_paths_hit_both_ends_and_the_bend():
    arch, a, b = _pair()
    bend = [p + 1.0 for p in L.init_bend(a, b)]
    for kind in L.PATHS:
        for t, want in ((0.0, a), (1.0, b)):
            got = L.path_point(a, b, t, kind, bend)
            assert all(torch.allclose(g, w) for g, w in zip(got, want)), (kind, t)
    mid_chain = L.path_point(a, b, 0.5, "chain", bend)
    assert all(torch.allclose(g, w) for g, w in zip(mid_chain, bend))
    mid_bez = L.path_point(a, b, 0.5, "bezier", bend)  # (a + 2 bend + b) / 4
    assert all(torch.allclose(g, (pa + 2 * pc + pb) / 4) for g, pa, pb, pc in zip(mid_bez, a, b, bend))
    # a bend at the midpoint makes both curves the straight line
    mid = L.init_bend(a, b)
    for t in (0.2, 0.7):
        line = L.path_point(a, b, t, "line")
        for kind in ("chain", "bezier"):
            assert all(torch.allclose(g, w, atol=1e-6) for g, w in zip(L.path_point(a, b, t, kind, mid), line))
    # one t per member
    per = L.path_point(a, b, torch.tensor([0.0, 1.0]), "line")
    assert torch.allclose(per[0][0], a[0][0]) and torch.allclose(per[0][1], b[0][1])


def test_bad_t_and_mismatched_ends_raise_one_clear_error():
    arch, a, b = _pair()
    _, c, _ = _pair(widths=(6, 4))
    with pytest.raises(ValueError, match=r"t=.*\[0, 1\]"):
        L.path_point(a, b, 1.5)
    with pytest.raises(ValueError, match=r"t=.*\[0, 1\]"):
        L.path_point(a, b, torch.tensor([0.5, -0.1]))
    with pytest.raises(ValueError, match="same architecture"):
        L.path_point(a, c, 0.5)
    X = torch.randn(5, 3)
    y = torch.zeros(5, dtype=torch.long)
    with pytest.raises(ValueError, match="same architecture"):
        L.scan_path(arch, a, c, [0, 1], X, y)
    with pytest.raises(ValueError, match=r"t=.*\[0, 1\]"):
        L.scan_path(arch, a, b, [0, 0.5, 1.2], X, y)
    with pytest.raises(ValueError, match="same architecture"):
        L.fit_bend(arch, a, c, X, y, steps=1)
    with pytest.raises(ValueError, match="kind"):
        L.path_point(a, b, 0.5, "spline")
    with pytest.raises(ValueError, match="needs a bend"):
        L.path_point(a, b, 0.5, "bezier")


def test_barrier_is_zero_for_identical_ends():
    arch, a, _ = _pair()
    g = torch.Generator().manual_seed(1)
    X, y = torch.randn(40, 3, generator=g), torch.randint(0, 3, (40,), generator=g)
    ts = np.linspace(0, 1, 7)
    for kind in ("line", "bezier", "chain"):
        scan = L.scan_path(arch, a, [p.clone() for p in a], ts, X, y, X, y, kind=kind,
                           bend=L.init_bend(a, a))
        for metric in ("train_loss", "train_error", "test_loss", "test_error"):
            assert np.all(np.abs(scan.barrier(metric)) < 1e-6), (kind, metric)
    # the path values are the ends' own loss and error at every t
    logits = forward(arch, a, X)
    ce = torch.nn.functional.cross_entropy(logits[0], y).item()
    assert np.allclose(scan.train_loss[0], ce, atol=1e-5)


def test_path_barrier_definition():
    assert L.path_barrier([1.0, 3.0, 2.0]) == pytest.approx(3.0 - 1.5)
    assert L.path_barrier([2.0, 1.0, 0.0]) == pytest.approx(1.0)  # monotone path: max is an end
    np.testing.assert_allclose(L.path_barrier(np.array([[0, 1, 0], [0, 0, 0.0]])), [1.0, 0.0])
    with pytest.raises(ValueError):
        L.path_barrier([1.0])


def test_scan_path_matches_one_network_at_a_time():
    arch, a, b = _pair()
    g = torch.Generator().manual_seed(2)
    X, y = torch.randn(30, 3, generator=g), torch.randint(0, 3, (30,), generator=g)
    bend = [p + 0.3 * torch.randn(p.shape, generator=g) for p in L.init_bend(a, b)]
    ts = [0.0, 0.3, 0.5, 1.0]
    scan = L.scan_path(arch, a, b, ts, X, y, kind="bezier", bend=bend, chunk_size=7)
    for k, t in enumerate(ts):
        pt = L.path_point(a, b, t, "bezier", bend)
        logits = forward(arch, pt, X)
        for m in range(2):
            ce = torch.nn.functional.cross_entropy(logits[m], y).item()
            err = (logits[m].argmax(1) != y).double().mean().item()
            assert scan.train_loss[m, k] == pytest.approx(ce, rel=1e-5)
            assert scan.train_error[m, k] == pytest.approx(err)


def _ring_problem():
    """Two solutions with a known barrier: a 2-16-2 ReLU MLP trained on a two-ring problem
    from two seeds; the straight line between independent solutions rises in loss."""
    from overparam.engine.loop import fit
    g = torch.Generator().manual_seed(0)
    n = 256
    r = torch.where(torch.arange(n) % 2 == 0, 1.0, 2.0)
    ang = torch.rand(n, generator=g) * 2 * np.pi
    X = torch.stack([r * torch.cos(ang), r * torch.sin(ang)], 1) + 0.1 * torch.randn(n, 2, generator=g)
    y = (torch.arange(n) % 2).long()
    arch = Arch("mlp", (16,), d=2, n_classes=2)
    st = init_stack(arch, [11, 12, 13, 14], requires_grad=True)
    params = st.params

    def loss(ps, _):
        logits = forward(arch, ps, X)
        return torch.stack([torch.nn.functional.cross_entropy(lg, y) for lg in logits])
    fit(params, loss, lambda s: None, torch.optim.Adam(params, lr=0.03), 600)
    ends = [p.detach() for p in params]
    a = [p[:2] for p in ends]
    b = [p[2:] for p in ends]
    return arch, a, b, X, y


def test_trained_bend_lowers_the_loss_along_the_path():
    """Garipov et al.'s curve: training the bend lowers the path's mean and peak loss
    below the straight line's on a problem where the line has a barrier."""
    arch, a, b, X, y = _ring_problem()
    ts = np.linspace(0, 1, 21)
    line = L.scan_path(arch, a, b, ts, X, y)
    assert np.all(line.barrier() > 0.05)  # the known barrier of the straight line
    for kind in ("bezier", "chain"):
        bend = L.fit_bend(arch, a, b, X, y, kind=kind, steps=400, lr=0.02, batch_size=128,
                          generator=torch.Generator().manual_seed(5))
        curve = L.scan_path(arch, a, b, ts, X, y, kind=kind, bend=bend)
        assert np.all(curve.train_loss.mean(1) < line.train_loss.mean(1)), kind
        assert np.all(curve.barrier() < 0.5 * line.barrier()), kind
        # the ends are not moved by training the bend
        assert np.allclose(curve.train_loss[:, [0, -1]], line.train_loss[:, [0, -1]])


def test_fit_bend_keeps_padded_units_at_zero():
    arch_w = Arch("mlp", (8,), d=3, n_classes=3)
    st_a = init_stack([arch_w.with_widths((4,)), arch_w], [0, 1])
    st_b = init_stack([arch_w.with_widths((4,)), arch_w], [2, 3])
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(20, 3, generator=g), torch.randint(0, 3, (20,), generator=g)
    bend = L.fit_bend(st_a.arch, st_a.params, st_b.params, X, y, steps=20, lr=0.05, masks=st_a.masks)
    assert torch.all(bend[0][0, :, 4:] == 0) and torch.all(bend[2][0, 4:] == 0)
    assert not torch.allclose(bend[0][1], (st_a.params[0][1] + st_b.params[0][1]) / 2)


def test_member_batches_draw_each_member_from_its_own_rows():
    from overparam.landscape import member_batches
    g = torch.Generator().manual_seed(0)
    draw = member_batches(3, [16, 64, 256], 128, g, offsets=[0, 1000, 2000])
    idx = torch.cat([draw() for _ in range(20)], 1)
    assert idx.shape == (3, 20 * 128)
    for m, (n, o) in enumerate(((16, 0), (64, 1000), (256, 2000))):
        assert int(idx[m].min()) == o and int(idx[m].max()) == o + n - 1   # every row reachable, none beyond
    one = member_batches(2, 50, 128, torch.Generator().manual_seed(1))()
    assert one.shape == (2, 50) and int(one.max()) < 50
    with pytest.raises(ValueError):
        member_batches(2, [0, 5], 8, g)
