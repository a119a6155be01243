"""overparam.sizing: the scaler, its penalty in closed form, the journal's NaN gradients, and
the stacked flexible training (padding exactness, Adam's step bound, pre-training)."""
import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad

from overparam import sizing as Z
from overparam.engine.sweep import TrainData


def _t(x, dtype=torch.float64, grad=False):
    return torch.tensor(float(x), dtype=dtype, requires_grad=grad)


@pytest.mark.parametrize("x0, k, n", [(-7.0, 1.0, 50), (0.0, 1.0, 50), (12.3, 0.3, 40), (40.0, 2.0, 64),
                                      (90.0, 1.0, 64), (5.0, 10.0, 20)])
def test_closed_form_equals_the_numerical_integral(x0, k, n):
    closed = float(Z.size_integral(_t(x0), k, n))
    num = quad(lambda t: 1 / (1 + math.exp(-max(min(k * (x0 - t), 700), -700))), 0, n,
               points=[min(max(x0, 0), n)], limit=200)[0]
    assert closed == pytest.approx(num, abs=1e-8)


@pytest.mark.parametrize("x0", [-3.0, 0.0, 10.5, 30.0, 63.0])
def test_sum_of_scales_is_the_integral_shifted_by_half_a_unit(x0):
    """Midpoint rule: sum_{i<n} f(i) = int_{-1/2}^{n-1/2} f; its error is below k^2/24 x the
    total variation of f' (< 0.01 at k = 1)."""
    n, k = 64, 1.0
    s = float(Z.size_sum(_t(x0), k, n))
    assert s == pytest.approx(float(Z.size_integral(_t(x0 + 0.5), k, n)), abs=0.01)
    assert float(Z.scaler(_t(x0), k, n)[0]) == pytest.approx(1 / (1 + math.exp(-k * x0)))


def test_integral_limits_and_gradient_match_finite_differences():
    n = 30
    assert float(Z.size_integral(_t(-1e4), 1.0, n)) == pytest.approx(0.0, abs=1e-12)
    assert float(Z.size_integral(_t(1e4), 1.0, n)) == pytest.approx(n)
    x0, k = _t(11.7, grad=True), _t(0.8, grad=True)
    assert torch.autograd.gradcheck(lambda a, b: Z.size_integral(a, b, n), (x0, k))
    # d/dx0 int_0^n sigmoid(k (x0 - t)) dt = sigmoid(k x0) - sigmoid(k (x0 - n))
    g, = torch.autograd.grad(Z.size_integral(x0, k, n), x0)
    x0, k = x0.detach(), k.detach()
    assert float(g) == pytest.approx(float(torch.sigmoid(k * x0) - torch.sigmoid(k * (x0 - n))))


@pytest.mark.parametrize("x0", [-1e6, -1e3, 0.0, 1e3, 1e6])
@pytest.mark.parametrize("k", [1e-3, 1.0, 1e3])
def test_stable_forms_have_finite_values_and_gradients_at_extremes(x0, k):
    a, b = _t(x0, torch.float32, True), _t(k, torch.float32, True)
    for val in (Z.size_integral(a, b, 100), Z.scaler(a, b, 100).sum()):
        ga, gb = torch.autograd.grad(val, (a, b))
        assert torch.isfinite(val) and torch.isfinite(ga) and torch.isfinite(gb)


def test_naive_forms_give_nan_gradients_where_the_journal_saw_them():
    """At the journal's initialisation (x0 = N, k = 1) the naive scaler overflows exp for
    N > 88 in float32 and its gradients are NaN; at N = 60 they are finite, and the
    stable forms are finite at both."""
    for n, nan in ((128, True), (60, False)):
        x0, k = _t(n, torch.float32, True), _t(1.0, torch.float32, True)
        g = torch.autograd.grad(Z.scaler_naive(x0, k, n).sum(), (x0, k))
        assert bool(torch.isnan(torch.stack(g)).any()) is nan
        g = torch.autograd.grad(Z.size_integral_naive(x0, k, n), (x0, k))
        assert bool(torch.isnan(torch.stack(g)).any()) is nan
        g = torch.autograd.grad(Z.size_integral(x0, k, n), (x0, k))
        assert not torch.isnan(torch.stack(g)).any()
    # where both are finite they agree
    x0 = _t(20.0)
    assert float(Z.scaler_naive(x0, 1.0, 40).sum()) == pytest.approx(float(Z.size_sum(x0, 1.0, 40)))


def test_penalty_kinds():
    x0 = torch.tensor([-50.0, 5.0])
    assert torch.equal(Z.size_penalty("x0", x0, 1.0, 10), x0)
    pen = Z.size_penalty("integral", x0, 1.0, 10)
    assert float(pen[0]) >= 0 and float(pen[1]) > 0       # the integral is never negative
    with pytest.raises(ValueError, match="penalty kind"):
        Z.size_penalty("l1", x0, 1.0, 10)


@pytest.mark.parametrize("kw, name", [(dict(start=-1), "start"), (dict(gray=0.0), "gray"),
                                      (dict(gray=-2.0), "gray"), (dict(penalty="a lot"), "penalty"),
                                      (dict(penalty=float("nan")), "penalty"), (dict(l2=-1e-3), "l2"),
                                      (dict(capacity=0), "capacity"), (dict(slope="wild"), "slope"),
                                      (dict(size_lr=0), "size_lr")])
def test_bad_members_raise_one_clear_error(kw, name):
    with pytest.raises(ValueError, match=name):
        Z.FlexMember(**{"capacity": 16, **kw})


# --------------------------------------------------------------------------- training


def _data(n=200, d=12, C=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    W = torch.randn(d, C, generator=g)
    y = (X @ W).argmax(1)
    return TrainData(X[:150], y[:150], X[150:], y[150:], n_classes=C)


def test_a_padded_member_trains_exactly_as_it_would_alone():
    data = _data()
    small = Z.FlexMember(capacity=12, start=6, penalty=1e-2, l2=1e-3, size_lr=0.2, seed=3)
    big = Z.FlexMember(capacity=40, start=30, penalty=0.0, slope="random", size_lr=0.5, seed=4)
    both = Z.train_flexible([small, big], data, steps=30, lr=1e-2, batch_size=32)
    alone = Z.train_flexible([small], data, steps=30, lr=1e-2, batch_size=32)
    np.testing.assert_allclose(both.x0[:, 0], alone.x0[:, 0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(both.loss[:, 0], alone.loss[:, 0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(both.w_out[0], alone.w_out[0], rtol=1e-4, atol=1e-6)
    assert both.test_acc[0] == pytest.approx(alone.test_acc[0])
    assert both.x0[-1, 0] != pytest.approx(both.x0[0, 0])       # the size moved
    # the padded units of the small member stayed exactly zero
    W1 = both.params[0][0]
    assert torch.count_nonzero(W1[:, 12:]) == 0


def test_size_moves_at_most_about_its_learning_rate_per_step_and_x0_penalty_diverges():
    data = _data()
    lr = 0.3
    ms = [Z.FlexMember(capacity=60, start=20, penalty=1.0, penalty_kind="x0", size_lr=lr, seed=1),
          Z.FlexMember(capacity=60, start=20, penalty=1.0, penalty_kind="integral", size_lr=lr, seed=1)]
    T = 300
    res = Z.train_flexible(ms, data, steps=T, lr=1e-2, batch_size=32)
    assert res.max_step().max() <= Z.ADAM_WORST * 1.01            # Adam's worst-case bound
    assert np.median(np.abs(np.diff(res.x0, axis=0)) / lr) <= 1.01  # typically at most lr
    late = res.x0[-1] - res.x0[T // 2]
    assert late[0] < -0.8 * Z.adam_bound(lr, T // 2)                # x0 alone: runs down at ~lr/step
    assert abs(late[1]) < 0.2 * Z.adam_bound(lr, T // 2)          # the integral's pull fades: it stops


def test_pretraining_freezes_the_size_then_enables_it():
    data = _data()
    m = Z.FlexMember(capacity=30, start=0.0, pretrain=15, size_lr=0.5, seed=2)
    res = Z.train_flexible([m], data, steps=40, lr=1e-2, batch_size=32)
    assert np.all(res.x0[:16, 0] == 0.0) and np.all(res.grad[:15, 0] == 0.0)
    assert res.x0[-1, 0] > 1.0                                      # grows once enabled
    assert np.all(res.size[:16, 0] == 30)                           # all units on while pre-training


def test_static_members_use_every_unit_and_ignore_the_penalty():
    data = _data()
    ms = [Z.FlexMember(capacity=16, static=True, penalty=1.0, seed=0),
          Z.FlexMember(capacity=16, static=True, penalty=0.0, seed=0)]
    res = Z.train_flexible(ms, data, steps=10, lr=1e-2, batch_size=32)
    np.testing.assert_array_equal(res.f_end[0], np.ones(16))
    np.testing.assert_allclose(res.loss[:, 0], res.loss[:, 1])


def test_x0_reparametrisation_is_adam_on_x0_at_rate_size_lr():
    """x0 = size_lr * u with u trained at rate 1 equals Adam on x0 at rate size_lr: two
    members with size_lr 0.1 and 0.4 whose start is scaled accordingly move in proportion
    when the loss depends on x0 only through a linear penalty."""
    data = _data()
    ms = [Z.FlexMember(capacity=20, start=100.0, penalty=1.0, penalty_kind="x0", size_lr=a, seed=0)
          for a in (0.1, 0.4)]
    res = Z.train_flexible(ms, data, steps=20, lr=1e-2, batch_size=32)
    moved = res.x0[-1] - res.x0[0]
    assert moved[1] == pytest.approx(4 * moved[0], rel=1e-3)
    assert moved[0] == pytest.approx(-0.1 * 20, rel=1e-2)


def test_narrow_members_share_one_stack_and_train_as_in_their_own(monkeypatch):
    """``small``: members up to that capacity go in one stack whatever their ratio; each
    member's run is the one it has in a snug stack."""
    data = _data()
    ms = [Z.FlexMember(capacity=c, start=c / 2, penalty=1e-2, size_lr=0.2, seed=i)
          for i, c in enumerate((6, 12, 24, 40))]
    calls = []
    real = Z.train_flexible
    monkeypatch.setattr(Z, "train_flexible", lambda m, *a, **k: calls.append(len(m)) or real(m, *a, **k))
    snug = Z.train_grouped(ms, data, steps=20, lr=1e-2, batch_size=32)
    assert calls == [1, 1, 1, 1]
    calls.clear()
    merged = Z.train_grouped(ms, data, steps=20, lr=1e-2, batch_size=32, small=24)
    assert calls == [3, 1]
    np.testing.assert_allclose(merged.x0, snug.x0, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(merged.loss, snug.loss, rtol=1e-4, atol=1e-6)
