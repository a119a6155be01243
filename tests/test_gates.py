"""Liveness gates (overparam.gates): the gate's hand-written gradient, removal during training
(outputs, optimizer state, stack padding), the penalty, and what autograd saves."""
import pytest
import torch
import torch.nn.functional as F

from overparam import gates
from overparam.engine.loop import fit, per_member_batches
from overparam.engine.optim import StackedOptimizer, make_optimizer
from overparam.models import Arch, forward

torch.set_default_dtype(torch.float32)


def _arch(kind, depth, w=12):
    if kind == "mlp":
        return Arch("mlp", tuple([w] * depth), 6, 3)
    return Arch("cnn", tuple([w] * depth), 16, 3)


def _x(arch, n=10, seed=0):
    return torch.randn(n, arch.d, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind, depth", [("mlp", 1), ("mlp", 2), ("mlp", 3), ("mlp", 4), ("cnn", 1), ("cnn", 2)])
def test_gated_forward_with_open_gates_is_the_family_forward(kind, depth):
    arch = _arch(kind, depth)
    net = gates.init_gated([arch, arch.with_widths([5] * depth)], seeds=[0, 1], gate_scale=[1.0, 4.0])
    X = _x(arch)
    L = 2 * depth + 2
    ref = forward(net.arch, [p.detach() for p in net.params[:L]], X)
    for mode in gates.GATE_MODES:
        assert torch.allclose(gates.gated_forward(net.arch, net.params, X, net.gscale, mode), ref, atol=1e-6)


def test_hand_written_gate_gradient_equals_autograd():
    g = torch.Generator().manual_seed(3)
    z = torch.randn(4, 7, 5, dtype=torch.float64, generator=g, requires_grad=True)
    gate = (torch.rand(1, 7, 1, dtype=torch.float64, generator=g) + 0.1).requires_grad_(True)
    assert torch.autograd.gradcheck(gates.GateReLU.apply, (z, gate))
    up = torch.randn(4, 7, 5, dtype=torch.float64, generator=g)
    a = torch.autograd.grad((gates.gate(z, gate, "hand") * up).sum(), (z, gate))
    b = torch.autograd.grad((gates.gate(z, gate, "naive") * up).sum(), (z, gate))
    assert all(torch.allclose(u, v) for u, v in zip(a, b))


def _kill(net, member, layer, units):
    """Set some gates of one member to 0 (what the L1 step and the clamp do)."""
    with torch.no_grad():
        net.params[2 * net.depth + 2 + layer][member, units] = 0


@pytest.mark.parametrize("kind, depth", [("mlp", 1), ("mlp", 2), ("mlp", 3), ("mlp", 4), ("cnn", 1), ("cnn", 3)])
def test_outputs_identical_before_and_after_a_removal(kind, depth):
    arch = _arch(kind, depth)
    net = gates.init_gated([arch, arch], seeds=[0, 1])
    X = _x(arch, seed=2)
    _kill(net, 0, 0, [1, 4, 5])
    _kill(net, 1, 0, [0, 2, 3, 4, 9, 11])           # member 1 keeps 6, member 0 keeps 9
    _kill(net, 1, depth - 1, [7])
    before = gates.gated_forward(net.arch, net.params, X, net.gscale)
    keep = gates.live_mask(net.arch, net.params)
    new_arch, new = gates.compact(net.arch, net.params, keep)
    assert new_arch.widths[0] == 9                  # the stack: the widest member
    if depth > 1:
        assert new_arch.widths[-1] == 12
    counts = gates.live_counts(new_arch, new)
    assert counts[:, 0].tolist() == [9, 6 if depth > 1 else 5]
    after = gates.gated_forward(new_arch, new, X, net.gscale)
    assert torch.allclose(before, after, atol=1e-6)
    # the padding of member 1 is exactly zero: weights in, bias, gate and weights out
    W1, b1, g1 = new[0][1], new[1][1], new[2 * depth + 2][1]
    assert float(W1[..., 6:].abs().sum() if kind == "mlp" else W1[6:].abs().sum()) == 0
    assert float(b1[6:].abs().sum()) == 0 and float(g1[6:].abs().sum()) == 0


def _gate_loss(net, X, y):
    def f(params, idx):
        out = gates.gated_forward(gates.arch_of(net.arch, params), params, X[idx], net.gscale)
        return F.cross_entropy(out.transpose(1, 2), y[idx], reduction="none").mean(1)
    return f


@pytest.mark.parametrize("optname, key", [("torch_adam", "exp_avg"), ("torch_adam", "exp_avg_sq"),
                                         ("stacked_adam", "exp_avg"), ("stacked_adam", "exp_avg_sq"),
                                         ("stacked_momentum", "momentum_buffer")])
def test_optimizer_state_of_kept_units_is_unchanged(optname, key):
    """Both Adam moments (and momentum) of the kept units survive a removal unchanged,
    the removed units' entries are gone, the padding is zero, the step counts are kept."""
    arch = _arch("mlp", 2)
    net = gates.init_gated([arch, arch], seeds=[0, 1])
    X, y = _x(arch, 20), torch.randint(0, 3, (20,), generator=torch.Generator().manual_seed(1))
    params = net.params
    opt = (torch.optim.Adam(params, lr=1e-2) if optname == "torch_adam"
           else make_optimizer(params, optname.split("_")[1], 1e-2, stacked=True))
    batches = per_member_batches(20, 5, [torch.Generator().manual_seed(i) for i in range(2)])
    fit(params, _gate_loss(net, X, y), batches, opt, 3)   # updates net.params in place

    def moment(o, i):
        if isinstance(o, StackedOptimizer):
            return o.state[i][key]
        return o.state[o.param_groups[0]["params"][i]][key]

    m_before = moment(opt, 0).clone()                        # W1 (M, d, w1)
    w2_before = moment(opt, 2).clone()                       # W2 (M, w1, w2)
    assert float(m_before.abs().min()) > 0                   # a moment that could be lost
    _kill(net, 0, 0, [2, 3])
    _kill(net, 1, 0, [0])

    class S:  # a FitState stand-in
        pass
    st = S()
    st.params, st.optimizer = list(net.params), opt
    gates.remove_units(st, net.arch, gates.live_mask(net.arch, st.params))
    kept0 = [i for i in range(12) if i not in (2, 3)]
    kept1 = list(range(1, 12))
    m_after, w2_after = moment(st.optimizer, 0), moment(st.optimizer, 2)
    assert m_after.shape == (2, 6, 11) and w2_after.shape == (2, 11, 12)
    assert torch.equal(m_after[0, :, :10], m_before[0][:, kept0])
    assert torch.equal(m_after[1, :, :11], m_before[1][:, kept1])
    assert float(m_after[0, :, 10:].abs().sum()) == 0
    assert torch.equal(w2_after[0, :10], w2_before[0][kept0])
    assert torch.equal(w2_after[1, :11], w2_before[1][kept1])
    new_params = (st.optimizer.param_groups[0]["params"] if optname == "torch_adam"
                  else st.optimizer.params)
    assert all(p is q for p, q in zip(st.params, new_params))   # the optimizer follows
    if isinstance(opt, StackedOptimizer):
        assert st.optimizer.t.tolist() == [3, 3]
    else:
        assert all(float(st.optimizer.state[p]["step"]) == 3 for p in st.params)


def _train(specs, X, y, steps, remove=True, arch=None, **kw):
    arch = arch or _arch("mlp", 2)
    archs = [arch.with_widths(s) for s in specs]
    net = gates.init_gated(archs, seeds=list(range(len(specs))), gate_scale=5.0)
    pen = gates.GatePenalty(kw.get("lam", 0.003), net.depth, net.gscale)
    rem = gates.Remover(net, pen, steps_per_epoch=5, remove=remove)
    gens = [torch.Generator().manual_seed(100 + i) for i in range(len(specs))]
    opt = torch.optim.Adam(net.params, lr=1e-2)
    fit(net.params, _gate_loss(net, X, y), per_member_batches(len(X), 8, gens), opt, steps,
        penalties=[pen], callbacks=[rem])
    return net, rem


def test_removal_during_fit_shrinks_the_stack_and_matches_training_without_removal():
    """Removing dead units changes nothing the network computes: the same run with units
    kept in place (gates at 0) ends with the same outputs, and the stack really shrank."""
    X = torch.randn(40, 6, generator=torch.Generator().manual_seed(5))
    y = torch.randint(0, 3, (40,), generator=torch.Generator().manual_seed(6))
    a, rem_a = _train([(12, 12), (12, 12)], X, y, 60, remove=True)
    b, _ = _train([(12, 12), (12, 12)], X, y, 60, remove=False)
    assert rem_a.log.events, "no unit was removed: the test would not test removal"
    live_end = gates.live_counts(a.arch, a.params)
    assert bool((live_end > 0).all()), "every unit died: the outputs would be trivially equal"
    assert sum(a.arch.widths) < sum(b.arch.widths) == 24
    out_a = gates.gated_forward(a.arch, a.params, X, a.gscale)
    out_b = gates.gated_forward(b.arch, b.params, X, b.gscale)
    assert torch.allclose(out_a, out_b, atol=1e-4)
    assert torch.equal(gates.live_counts(a.arch, a.params), gates.live_counts(b.arch, b.params))
    live = torch.stack(rem_a.log.live)                        # never revives
    assert bool((live[1:] <= live[:-1]).all())


def test_a_member_in_a_stack_trains_as_it_would_alone():
    X = torch.randn(40, 6, generator=torch.Generator().manual_seed(5))
    y = torch.randint(0, 3, (40,), generator=torch.Generator().manual_seed(6))
    both, _ = _train([(12, 12), (7, 9)], X, y, 40)
    alone, _ = _train([(12, 12)], X, y, 40)
    out_both = gates.gated_forward(both.arch, both.params, X, both.gscale)[0]
    out_alone = gates.gated_forward(alone.arch, alone.params, X, alone.gscale)[0]
    assert torch.allclose(out_both, out_alone, atol=1e-5)


def test_penalty_and_decay():
    net = gates.init_gated(_arch("mlp", 2), seeds=[0, 1], gate_scale=[1.0, 2.0])
    pen = gates.GatePenalty([0.1, 0.2], 2, net.gscale, decay=0.5)
    assert torch.allclose(pen(net.params), torch.tensor([0.1 * 24, 0.2 * 24]))
    pen.decay_step()
    assert torch.allclose(pen(net.params), torch.tensor([0.05 * 24, 0.1 * 24]))


@pytest.mark.parametrize("bad", [-1e-3, float("nan"), "x", [0.1, -0.2]])
def test_negative_lambda_is_one_clear_error(bad):
    net = gates.init_gated(_arch("mlp", 1), seeds=[0, 1])
    with pytest.raises(ValueError, match="lam"):
        gates.GatePenalty(bad, 1, net.gscale)
    with pytest.raises(ValueError, match="lam"):
        gates.GateSpec(lam=bad if not isinstance(bad, list) else -0.2)


def test_hand_written_gate_keeps_a_plain_cnns_memory():
    """What autograd saves for backward: the naive gate about doubles a plain CNN's
    activations; the hand-written gradient brings it back to within 10 %."""
    arch = Arch("cnn", (64, 64, 64), 128, 10)
    net = gates.init_gated(arch, seeds=[0])
    X = torch.randn(32, 128, generator=torch.Generator().manual_seed(0))
    L = 2 * arch.depth + 2
    plain_p = [p.detach().clone().requires_grad_(True) for p in net.params[:L]]

    def run(fn):
        return gates.saved_bytes(lambda: fn().sum(), exclude=net.params + plain_p)

    plain = run(lambda: forward(arch, plain_p, X))
    naive = run(lambda: gates.gated_forward(arch, net.params, X, net.gscale, "naive"))
    hand = run(lambda: gates.gated_forward(arch, net.params, X, net.gscale, "hand"))
    assert naive >= 1.8 * plain
    assert hand <= 1.1 * plain
