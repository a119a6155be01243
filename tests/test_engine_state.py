"""Training state of every trained member (steps taken, final train loss and error, the
stated criterion met): recorded by fit and by the grid engine, at small scale."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from overparam.engine.loop import Plateau, TargetError, fit, per_member_batches
from overparam.engine.optim import make_optimizer
from overparam.engine.sweep import Member, TrainConfig, TrainData, train_ensemble


def _quad(target):
    """Per-member loss 0.5 * |w - target|^2 (M,)."""
    return lambda p, _b: 0.5 * ((p[0] - target) ** 2).sum(1)


def test_fit_records_steps_and_final_loss():
    w = torch.zeros(3, 2, requires_grad=True)
    target = torch.tensor([[1.0, 2.0], [0.5, 0.0], [3.0, 1.0]])
    res = fit([w], _quad(target), lambda s: None, make_optimizer([w], "sgd", 0.1, stacked=True), 7)
    st = res.state
    assert st.steps.tolist() == [7, 7, 7]
    # the loss of the last step (taken before its update): 0.5 |target|^2 (1 - 0.1)^(2 * 6)
    expect = 0.5 * (target ** 2).sum(1).numpy() * 0.9 ** 12
    np.testing.assert_allclose(st.train_loss, expect, rtol=1e-5)
    assert np.isnan(st.train_error).all()          # no train_error given: a regression
    assert not st.met.any() and st.criterion == ""


def test_plateau_is_met_by_a_converged_run_not_by_a_falling_one():
    target = torch.ones(2, 3)
    w = torch.zeros(2, 3, requires_grad=True)
    lr = torch.tensor([0.5, 1e-3])                 # member 0 converges, member 1 still falls
    res = fit([w], _quad(target), lambda s: None, make_optimizer([w], "sgd", lr, stacked=True), 60,
              criterion=Plateau(window=20, rel_tol=0.01))
    assert res.state.met.tolist() == [True, False]
    assert "20 steps" in res.state.criterion
    # the final loss is the mean over the last window
    assert res.state.train_loss[1] > 1.0 and res.state.train_loss[0] < 1e-4


def test_stop_when_met_ends_early_and_counts_the_steps():
    target = torch.ones(2, 3)
    w = torch.zeros(2, 3, requires_grad=True)
    res = fit([w], _quad(target), lambda s: None, make_optimizer([w], "sgd", 0.5, stacked=True), 500,
              criterion=Plateau(window=10, rel_tol=0.01), stop_when_met=True)
    assert res.steps < 500 and res.steps % 10 == 0
    assert res.state.met.all() and (res.state.steps == res.steps).all()
    w2 = torch.zeros(2, 3, requires_grad=True)
    off = fit([w2], _quad(target), lambda s: None, make_optimizer([w2], "sgd", 0.5, stacked=True), 500,
              criterion=Plateau(window=10, rel_tol=0.01))
    assert off.steps == 500 and (off.state.steps == 500).all()   # off by default


def test_target_error_uses_the_train_error_function():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(64, 3, generator=g)
    y = (X[:, 0] > 0).long()
    W = torch.zeros(2, 3, 2)
    W[:, 0] = torch.tensor([1.0, -1.0])            # starts wrong on every example
    W.requires_grad_(True)

    def loss(p, idx):
        return F.cross_entropy(torch.bmm(X[idx], p[0]).transpose(1, 2), y[idx], reduction="none").mean(1)

    def err(p):
        return (torch.matmul(X, p[0]).argmax(-1) != y).float().mean(1)

    lr = torch.tensor([0.5, 1e-6])
    batches = per_member_batches(64, 16, [torch.Generator().manual_seed(i) for i in range(2)])
    res = fit([W], loss, batches, make_optimizer([W], "sgd", lr, stacked=True), 40,
              criterion=TargetError(0.05), train_error=err)
    assert res.state.met.tolist() == [True, False]
    np.testing.assert_allclose(res.state.train_error, err([W.detach()]).numpy())
    with pytest.raises(ValueError, match="train_error"):
        fit([W], loss, batches, make_optimizer([W], "sgd", 0.1, stacked=True), 1, criterion=TargetError(0.1))


def test_a_nan_frozen_member_took_fewer_steps():
    w = torch.zeros(3, 2, requires_grad=True)
    lr = torch.tensor([0.1, 1e6, 0.1])
    quad = lambda p, b: (p[0] ** 2).sum(1) + (p[0] - 1).abs().sum(1)  # noqa: E731
    res = fit([w], quad, lambda s: None, make_optimizer([w], "sgd", lr, stacked=True), 20, guard_every=5)
    st = res.state
    assert res.diverged.tolist() == [False, True, False]
    assert st.steps[0] == st.steps[2] == 20 and st.steps[1] < 20
    assert np.isnan(st.train_loss[1]) and not st.met[1]


def _toy(n=60, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    y = (X[:, :2].sum(1) > 0).long()
    Xt = torch.randn(30, d, generator=g)
    return TrainData(X, y, Xt, (Xt[:, :2].sum(1) > 0).long(), n_classes=2, key="toy")


def test_stacked_members_states_equal_single_runs():
    data = _toy()
    members = [Member(4, seed=0), Member(6, seed=1), Member(6, seed=2)]
    cfg = TrainConfig(epochs=30, lr=0.1, batch_size=20, eval_every=10, criterion=Plateau(window=15, rel_tol=0.05))
    batched = train_ensemble(members, data, cfg, mode="batched", log=None).train_state
    alone = [train_ensemble([m], data, cfg, mode="loop", log=None).train_state for m in members]
    assert batched.steps.tolist() == [90, 90, 90] == [int(s.steps[0]) for s in alone]
    assert batched.met.tolist() == [bool(s.met[0]) for s in alone]
    np.testing.assert_allclose(batched.train_loss, [s.train_loss[0] for s in alone], atol=2e-5)
    np.testing.assert_allclose(batched.train_error, [s.train_error[0] for s in alone], atol=1e-6)
    assert np.isfinite(batched.train_error).all() and batched.criterion == cfg.criterion.describe()


def test_grid_stop_when_met_keeps_the_curves_flat_after_the_stop():
    data = _toy()
    cfg = TrainConfig(epochs=200, lr=0.5, batch_size=0, eval_every=20, optimizer="adam",
                      criterion=Plateau(window=5, rel_tol=0.5), stop_when_met=True)
    r = train_ensemble([Member(8, seed=0)], data, cfg, mode="loop", log=None)
    st = r.train_state
    assert st.met.all() and st.steps[0] < 200
    assert np.isfinite(r.curves["train_loss"]).all()
    last = int(np.searchsorted(r.epochs, st.steps[0]))   # the first record after the stop
    assert np.all(r.curves["train_loss"][0, last:] == r.curves["train_loss"][0, -1])
    with pytest.raises(ValueError, match="criterion="):
        TrainConfig(criterion=0.5)


def test_an_unmet_footing_says_where_the_arm_ended_with_what_was_recorded():
    """The why of a failed 'converged' footing names the final training loss where the run
    recorded one, else the final training error, and never a loss of 'nan'."""
    from overparam.adequacy import CONVERGED, TrainState, check_footing
    nan2 = np.full(2, np.nan)
    met = np.array([True, False])
    with_loss = TrainState(np.full(2, 10), np.array([0.2, 0.4]), np.array([0.0, 0.1]), met, "plateau")
    with_err = TrainState(np.full(2, 10), nan2, np.array([0.0, 0.1]), met, "plateau")
    neither = TrainState(np.full(2, 10), nan2, nan2, met, "plateau")
    assert check_footing(CONVERGED, {"a": with_loss}).endswith("final train loss 0.3)")
    assert check_footing(CONVERGED, {"a": with_err}).endswith("final train error 0.05)")
    why = check_footing(CONVERGED, {"a": neither})
    assert why == "a: 50% of members met 'plateau' (need 100%)" and "nan" not in why
    assert check_footing(CONVERGED, {"a": TrainState(np.full(2, 10), nan2, nan2, np.ones(2, bool))}) is None
