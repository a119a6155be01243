"""The one training loop (overparam.engine.loop.fit): hooks at small scale, fixed seeds."""
import pytest
import torch
import torch.nn.functional as F

from overparam.engine.loop import FitState, Snapshots, fit, per_member_batches
from overparam.engine.optim import StackedOptimizer


def _linear_stack(M=3, d=4, C=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    W = (torch.randn(M, d, C, generator=g) * 0.3).requires_grad_(True)
    b = torch.zeros(M, C).requires_grad_(True)
    return [W, b]


def _data(n=32, d=4, C=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randint(0, C, (n,), generator=g)


def _loss(X, y):
    def f(params, idx):
        W, b = params
        out = torch.baddbmm(b[:, None, :], X[idx], W)  # (M, B, C)
        return F.cross_entropy(out.transpose(1, 2), y[idx], reduction="none").mean(1)
    return f


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
def test_stack_equals_members_trained_alone(name):
    """A stack of 3 trained together equals each member trained alone with torch.optim."""
    X, y = _data()
    params = _linear_stack()
    start = [p.detach().clone() for p in params]
    gens = [torch.Generator().manual_seed(10 + i) for i in range(3)]
    idx_log = []
    batches = per_member_batches(len(X), 8, gens)

    def logged(step):
        idx = next(batches)
        idx_log.append(idx)
        return idx
    opt = StackedOptimizer(params, name, lr=0.05)
    fit(params, _loss(X, y), logged, opt, 12)
    for i in range(3):
        W = start[0][i:i + 1].clone().requires_grad_(True)
        b = start[1][i:i + 1].clone().requires_grad_(True)
        ref = opt.torch_equivalent([W, b])
        for idx in idx_log:
            ref.zero_grad()
            _loss(X, y)([W, b], idx[i:i + 1]).sum().backward()
            ref.step()
        torch.testing.assert_close(params[0][i], W[0].detach(), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(params[1][i], b[0].detach(), rtol=1e-4, atol=1e-5)


def test_grad_masks_keep_masked_entries_fixed_with_torch_adam():
    X, y = _data()
    params = _linear_stack()
    mask = (torch.rand(params[0].shape, generator=torch.Generator().manual_seed(3)) > 0.5).float()
    before = params[0].detach().clone()
    opt = torch.optim.Adam(params, lr=0.05)
    fit(params, _loss(X, y), per_member_batches(len(X), 8, [torch.Generator().manual_seed(i) for i in range(3)]),
        opt, 10, grad_masks=[mask, None])
    moved = (params[0].detach() != before)
    assert not moved[mask == 0].any()
    assert moved[mask == 1].float().mean() > 0.9


def test_active_skips_members_and_keeps_their_state():
    X, y = _data()
    params = _linear_stack()
    before = [p.detach().clone() for p in params]
    opt = StackedOptimizer(params, "adam", lr=0.05)
    only_first = torch.tensor([True, False, True])
    res = fit(params, _loss(X, y), lambda s: torch.arange(8).expand(3, 8), opt, 5,
              active=lambda batch: only_first)
    assert res.taken.tolist() == [5, 0, 5]
    torch.testing.assert_close(params[0][1], before[0][1])
    assert not torch.equal(params[0][0], before[0][0])
    assert opt.t.tolist() == [5, 0, 5]


def test_active_needs_a_stacked_optimizer():
    params = _linear_stack()
    with pytest.raises(ValueError, match="StackedOptimizer"):
        fit(params, _loss(*_data()), lambda s: None, torch.optim.SGD(params, lr=0.1), 1,
            active=lambda b: torch.ones(3, dtype=torch.bool))


def test_penalty_changes_the_gradient_as_an_extra_loss_term():
    """A penalty c*||W||^2 with zero data loss is plain weight decay: W shrinks by (1-2*lr*c)."""
    params = _linear_stack()
    W0 = params[0].detach().clone()
    opt = StackedOptimizer(params, "sgd", lr=0.1)
    zero = lambda p, b: (p[0] * 0).sum((1, 2))  # noqa: E731
    fit(params, zero, lambda s: None, opt, 1, penalties=[lambda p: 0.5 * (p[0] ** 2).sum((1, 2))])
    torch.testing.assert_close(params[0].detach(), W0 * (1 - 0.1), rtol=1e-6, atol=1e-7)


def test_nan_guard_freezes_only_the_diverged_member():
    params = _linear_stack()
    lr = torch.tensor([0.05, 1e6, 0.05])  # member 1's quadratic loss blows up to inf, then NaN
    quad = lambda p, b: (p[0] ** 2).sum((1, 2))  # noqa: E731
    opt = StackedOptimizer(params, "sgd", lr=lr)
    res = fit(params, quad, lambda s: None, opt, 20, guard_every=5)
    assert res.diverged.tolist() == [False, True, False]
    assert torch.isfinite(params[0]).all()
    assert (params[0][1] == 0).all()
    with pytest.raises(FloatingPointError, match="members \\[1\\]"):
        params = _linear_stack()
        fit(params, quad, lambda s: None, StackedOptimizer(params, "sgd", lr=lr), 20,
            nan_guard="raise", guard_every=5)


def test_callbacks_snapshot_and_stop():
    X, y = _data()
    params = _linear_stack()
    snaps = Snapshots([0, 3])
    seen = []

    def stop_at_4(state: FitState):
        seen.append(state.step)
        if state.step == 4:
            state.stop = True
    res = fit(params, _loss(X, y), lambda s: torch.arange(8).expand(3, 8),
              StackedOptimizer(params, "sgd", lr=0.1), 10, callbacks=[snaps, stop_at_4])
    assert seen == [0, 1, 2, 3, 4] and res.steps == 4
    assert sorted(snaps.snaps) == [0, 3]
    assert not torch.equal(snaps.snaps[0][0], snaps.snaps[3][0])


def test_per_member_lr_matches_separate_runs():
    X, y = _data()
    lrs = torch.tensor([0.01, 0.1, 0.3])
    params = _linear_stack()
    start = [p.detach().clone() for p in params]
    fit(params, _loss(X, y), lambda s: torch.arange(32).expand(3, 32), StackedOptimizer(params, "sgd", lr=lrs), 3)
    for i in range(3):
        single = [start[0][i:i + 1].clone().requires_grad_(True), start[1][i:i + 1].clone().requires_grad_(True)]
        fit(single, _loss(X, y), lambda s: torch.arange(32).expand(1, 32),
            StackedOptimizer(single, "sgd", lr=float(lrs[i])), 3)
        torch.testing.assert_close(params[0][i], single[0][0].detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_fused_optimizer_gets_gradients_in_the_parameters_layout(opt_name, depth):
    """The family's forward yields transposed weight gradients; fused torch optimizers
    misread those, so fit must hand them over contiguous: the trained stack equals each
    member trained alone by a textbook loop (nn.Module-free, unfused torch.optim)."""
    from overparam import models
    arch = models.Arch("mlp", (7,) * depth, 5, 3)
    st = models.init_stack(arch, [0, 1], requires_grad=True)
    start = [p.detach().clone() for p in st.params]
    X, y = _data(n=24, d=5, C=3)
    idx = torch.arange(24).reshape(3, 8)

    def loss(params, b):
        out = models.forward(arch, params, X[idx[b % 3]], class_major=True)
        return F.cross_entropy(out, y[idx[b % 3]].expand(2, -1), reduction="none").mean(1)

    def make(ps, fused):
        if opt_name == "sgd":
            return torch.optim.SGD(ps, lr=0.1, momentum=0.9, fused=fused)
        return torch.optim.Adam(ps, lr=0.05, fused=fused)

    fit(st.params, loss, lambda s: s, make(st.params, True), 6, progress_every=1e9)
    for i in range(2):
        ps = [p[i].clone().requires_grad_(True) for p in start]
        opt = make(ps, False)
        for s in range(6):
            xb, yb = X[idx[s % 3]], y[idx[s % 3]]
            h = xb
            for j in range(depth):
                h = torch.relu(h @ ps[2 * j] + ps[2 * j + 1])
            out = h @ ps[-2] + ps[-1]
            opt.zero_grad()
            F.cross_entropy(out, yb).backward()
            opt.step()
        for a, b in zip(st.params, ps):
            assert torch.allclose(a[i], b, atol=1e-5), opt_name


@pytest.mark.parametrize("hyper", [dict(momentum=0.9), dict(momentum=0.0), dict(momentum=0.5, weight_decay=1e-3,
                                                                              nesterov=True)])
def test_lean_sgd_step_equals_torch_optimizer_step_bit_for_bit(hyper):
    """fit drives a fused torch SGD through its functional kernel (no Optimizer.step after
    the first): the parameters equal, bit for bit, the same net trained by opt.step()."""
    from overparam.engine.optim import lean_step
    X, y = _data(n=40, d=6, C=4)
    g = torch.Generator().manual_seed(3)
    start = [torch.randn(1, 6, 9, generator=g), torch.randn(1, 9, generator=g),
             torch.randn(1, 9, 4, generator=g), torch.randn(1, 4, generator=g)]
    order = torch.randperm(40, generator=g)[:40].reshape(5, 8)

    def net(ps, xb):
        return torch.addmm(ps[3], torch.relu(torch.addmm(ps[1], xb, ps[0])), ps[2])

    def loss(ps, s):
        i = order[s % 5]
        return F.cross_entropy(net([p.squeeze(0) for p in ps], X[i]), y[i])  # one member: a scalar

    ps = [p.clone().requires_grad_(True) for p in start]
    opt = torch.optim.SGD(ps, lr=0.1, fused=True, **hyper)
    assert lean_step(opt) is not None
    res = fit(ps, loss, lambda s: s, opt, 12, progress_every=1e9)
    assert all(p.grad is None for p in ps)  # the lean path ran: no .grad was set
    ref = [p.clone().requires_grad_(True) for p in start]
    ref_opt = torch.optim.SGD(ref, lr=0.1, fused=True, **hyper)
    for s in range(12):
        ref_opt.zero_grad(set_to_none=True)
        loss(ref, s).backward()
        ref_opt.step()
    assert all(torch.equal(a, b.detach()) for a, b in zip(res.params, ref))
    if hyper["momentum"]:  # the optimizer's state holds the buffers, as opt.step() leaves them
        assert all(torch.equal(opt.state[p]["momentum_buffer"], ref_opt.state[q]["momentum_buffer"])
                   for p, q in zip(ps, ref))
    # a weight in nn.Linear's memory order (transposed) trains to the same values
    lin = [p.clone() for p in start]
    lin[0] = torch.empty_strided(lin[0].shape, (54, 1, 6)).copy_(lin[0])
    lin = [p.requires_grad_(True) for p in lin]
    lin_opt = torch.optim.SGD(lin, lr=0.1, fused=True, **hyper)
    fit(lin, loss, lambda s: s, lin_opt, 12, progress_every=1e9)
    assert not lin[0].is_contiguous() and all(torch.allclose(a, b, atol=1e-6) for a, b in zip(res.params, lin))
    assert not torch.equal(res.params[0], start[0])  # it trained
    hooked = torch.optim.SGD([p.clone().requires_grad_(True) for p in start], lr=0.1, fused=True, **hyper)
    hooked.register_step_post_hook(lambda *a: None)
    assert lean_step(hooked) is None  # hooks: through Optimizer.step
    assert lean_step(torch.optim.SGD([p.clone().requires_grad_(True) for p in start], lr=0.1)) is None  # unfused
