"""Pruning tools (Chapter 7): masks in stacked nets, IMP, rewinding, criteria, supermasks,
SNIP/GraSP, instability."""
import math

import numpy as np
import pytest
import torch

from overparam import pruning as P
from overparam import models


def _data(n=120, d=8, C=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(C, d, generator=g) * 2
    def draw(m):
        y = torch.randint(0, C, (m,), generator=g)
        return centres[y] + torch.randn(m, d, generator=g), y
    X, y = draw(n)
    Xv, yv = draw(40)
    Xt, yt = draw(40)
    return P.SplitData(X, y, Xv, yv, Xt, yt, C, "blobs")


def _init(arch, seeds):
    return models.init_stack(arch, seeds).params


NET = P.Arch("mlp", (16, 12), 8, 3)
CFG = P.StepConfig(steps=30, lr=0.01, batch_size=20, eval_every=10)


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_density_after_k_rounds_is_one_minus_p_to_the_k(scope):
    p = _init(NET, [0, 1])
    masks = P.ones_masks(p)
    rate = 0.3
    for k in range(1, 5):
        sc = [torch.rand(m.shape) for m in masks]
        new = P.prune(sc, masks, rate, scope, output_factor=1.0)
        # never revives a pruned weight
        assert all(torch.all(n <= m) for n, m in zip(new, masks))
        masks = new
        n = NET.n_weights()
        assert np.allclose(P.density(masks), (1 - rate) ** k, atol=len(masks) * k / n)
        if scope == "layer":
            for m in masks:
                per = m.reshape(2, -1).mean(1).numpy()
                assert np.allclose(per, (1 - rate) ** k, atol=k / m[0].numel() + 1e-9)


def test_layerwise_output_layer_is_pruned_at_half_rate():
    p = _init(NET, [0])
    masks = P.prune(P.mask_scores("large_final", p, p), P.ones_masks(p), 0.4, "layer")
    assert masks[0].mean().item() == pytest.approx(0.6, abs=1 / masks[0].numel())
    assert masks[-1].mean().item() == pytest.approx(0.8, abs=1 / masks[-1].numel())


def test_invalid_rate_and_unknown_criterion_give_one_clear_error():
    p = _init(NET, [0])
    for bad in (0, 1, 1.5, -0.2, 0.0):
        with pytest.raises(ValueError, match="rate=.*0 < rate < 1"):
            P.prune(P.ones_masks(p), P.ones_masks(p), bad)
        with pytest.raises(ValueError, match="rate="):
            P.imp(NET, [0], _data(), CFG, rate=bad, rounds=1)
    with pytest.raises(ValueError, match="criterion='biggest'"):
        P.criterion_scores("biggest", p[0], p[0])
    with pytest.raises(ValueError, match="criterion='biggest'"):
        P.imp(NET, [0], _data(), CFG, rate=0.2, rounds=1, criterion="biggest")


def test_masked_weights_stay_exactly_zero_through_training_sgd_and_adam():
    data = _data()
    p = _init(NET, [0, 1])
    g = torch.Generator().manual_seed(0)
    masks = [(torch.rand(w.shape, generator=g) > 0.5).float() for w in P.weights(p)]
    for opt in ("sgd", "adam"):
        cfg = P.StepConfig(steps=25, lr=0.05, optimizer=opt, batch_size=20, eval_every=5)
        run = P.train_stack(NET, p, masks, data, cfg)
        for w, m in zip(P.weights(run.params), masks):
            assert torch.all(w[m == 0] == 0)
            assert torch.count_nonzero(w[m == 1]) == int(m.sum())  # survivors did train
        start = P.apply_masks(p, masks)
        assert any(not torch.equal(a, b) for a, b in zip(run.params, start))


def test_stacked_members_train_as_if_alone():
    data = _data()
    p = _init(NET, [0, 1, 2])
    both = P.train_stack(NET, p, None, data, CFG, order_seeds=[5, 6, 7])
    alone = P.train_stack(NET, [t[1:2] for t in p], None, data, CFG, order_seeds=[6])
    for a, b in zip(both.params, alone.params):
        assert torch.allclose(a[1], b[0], atol=1e-5)


def test_rewinding_restores_the_saved_values():
    data = _data()
    p = _init(NET, [0])
    run = P.train_stack(NET, p, None, data, CFG, snapshot_steps=(0, 7))
    assert all(torch.equal(a, b) for a, b in zip(run.snapshots[0], p))
    short = P.train_stack(NET, p, None, data, P.StepConfig(7, CFG.lr, batch_size=20, eval_every=7))
    assert all(torch.allclose(a, b) for a, b in zip(run.snapshots[7], short.params))
    masks = P.prune(P.mask_scores("large_final", p, run.params), P.ones_masks(p), 0.5)
    back = P.rewind(run.snapshots[7], masks)
    for j, (b, s) in enumerate(zip(back, run.snapshots[7])):
        if j % 2 == 0:
            m = masks[j // 2].bool()
            assert torch.equal(b[m], s[m]) and torch.all(b[~m] == 0)
        else:
            assert torch.equal(b, s)


def test_imp_uses_rewind_values_and_shrinks_density():
    data = _data()
    res = P.imp(NET, [0, 1], data, CFG, rate=0.5, rounds=2, rewind_step=10)
    assert res.density.shape == (3, 2)
    assert np.allclose(res.density[0], 1)
    assert np.all(np.diff(res.density, axis=0) < 0)
    assert not any(torch.equal(a, b) for a, b in zip(res.rewind_params[::2], res.params0[::2]))
    # the round-1 mask keeps the largest |final| weights of the dense run (layer 0)
    for i in range(2):
        m, wf = res.masks[1][0][i], res.dense_final[0][i].abs()
        assert wf[m == 1].min() >= wf[m == 0].max()


def test_each_criterion_ranks_a_hand_made_example_as_its_definition_says():
    wi = torch.tensor([0.1, -0.5, 0.3, -0.2, 0.6])
    wf = torch.tensor([0.9, -0.4, -0.1, 0.05, 0.7])
    keep2 = {}
    for c in P.CRITERIA:
        sc = P.criterion_scores(c, wi, wf, torch.Generator().manual_seed(0))
        keep2[c] = set(torch.topk(sc, 2).indices.tolist())
    assert keep2["large_final"] == {0, 4}          # |wf| = .9, .7
    assert keep2["small_final"] == {3, 2}          # |wf| = .05, .1
    assert keep2["large_init"] == {4, 1}           # |wi| = .6, .5
    assert keep2["small_init"] == {0, 3}           # |wi| = .1, .2
    assert keep2["magnitude_increase"] == {0, 4}   # +.8, +.1 (others shrink)
    assert keep2["movement"] == {0, 2}             # .8, .4
    assert keep2["large_final_same_sign"] == {0, 4}  # 2 and 3 flip sign
    wf2 = torch.tensor([0.9, 0.4, -0.1, 0.05, -0.7])  # 1 and 4 flip sign now
    sc = P.criterion_scores("large_final_same_sign", wi, wf2)
    assert set(torch.topk(sc, 2).indices.tolist()) == {0, 3}
    r1 = P.criterion_scores("random", wi, wf, torch.Generator().manual_seed(1))
    r2 = P.criterion_scores("random", wi, wf, torch.Generator().manual_seed(2))
    assert not torch.equal(r1, r2)


def test_random_masks_keep_per_layer_counts_but_differ():
    p = _init(NET, [0, 1])
    masks = P.prune(P.mask_scores("large_final", p, p), P.ones_masks(p), 0.6)
    rnd = P.random_masks_like(masks, torch.Generator().manual_seed(0))
    for a, b in zip(masks, rnd):
        assert torch.equal(a.reshape(2, -1).sum(1), b.reshape(2, -1).sum(1))
    assert not torch.equal(masks[0], rnd[0])


def test_signed_constant_has_init_signs_and_layer_std():
    p = _init(NET, [0])
    sc = P.signed_constant(NET, p)
    assert torch.equal(torch.sign(sc[0]), torch.sign(p[0]))
    assert sc[0].abs().unique().numel() == 1
    assert sc[0].abs().max().item() == pytest.approx(1 / math.sqrt(8) / math.sqrt(3))
    assert torch.equal(sc[1], p[1])
    he = P.signed_constant(NET, p, gain=P.HE_GAIN)
    assert he[0].abs().max().item() == pytest.approx(math.sqrt(2 / 8))
    scaled = P.he_scale(p)
    assert torch.allclose(scaled[0], p[0] * math.sqrt(6)) and torch.equal(scaled[1], p[1])


@pytest.mark.parametrize("estimator", P.ESTIMATORS)
def test_learned_supermask_trains_scores_only_and_beats_its_start(estimator):
    data = _data(n=200)
    p = _init(NET, [0])
    cfg = P.StepConfig(steps=150, lr=0.1, batch_size=40, eval_every=50)
    res = P.train_supermask(NET, p, data, cfg, estimator=estimator)
    assert 0 < res.density[0] < 1
    for w, w0, m in zip(P.weights(res.run.params), P.weights(p), res.masks):  # weights are frozen
        assert torch.equal(w, w0 * m)
    assert res.run.val_err[0, -1] < res.run.val_err[0, 0] - 0.1


def test_supermask_straight_through_gradient_is_identity():
    s = torch.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    m = P.supermask(s, "straight_through", True)
    assert torch.equal(m.detach(), torch.tensor([0.0, 1.0, 1.0]))
    m.sum().backward()
    assert torch.equal(s.grad, torch.ones(3))
    with pytest.raises(ValueError, match="estimator"):
        P.supermask(s, "gumbel", True)


def test_snip_and_grasp_against_autograd_on_a_tiny_net():
    net = P.Arch("mlp", (4,), 3, 2)
    p = [t.double() for t in _init(net, [0])]
    g = torch.Generator().manual_seed(0)
    X = torch.randn(10, 3, generator=g, dtype=torch.float64)
    y = torch.randint(0, 2, (10,), generator=g)
    flat = models.flatten(p)[0].clone().requires_grad_(True)

    def loss(th):
        return torch.nn.functional.cross_entropy(models.forward_one(net, models.unflatten(net, th), X), y)
    grad = torch.autograd.grad(loss(flat), flat)[0]
    H = torch.autograd.functional.hessian(loss, flat.detach())
    snip = models.flatten([s for pair in zip(P.snip_scores(net, p, X, y), [t * 0 for t in p[1::2]]) for s in pair])[0]
    grasp = models.flatten([s for pair in zip(P.grasp_scores(net, p, X, y), [t * 0 for t in p[1::2]]) for s in pair])[0]
    is_w = models.flatten([torch.ones_like(t) if j % 2 == 0 else torch.zeros_like(t) for j, t in enumerate(p)])[0].bool()
    assert torch.allclose(snip[is_w], (grad * flat.detach()).abs()[is_w])
    assert torch.allclose(grasp[is_w], (flat.detach() * (H @ grad))[is_w])


def test_prune_at_init_reaches_the_target_density():
    p = _init(NET, [0, 1])
    data = _data()
    for method in ("snip", "grasp", "random"):
        m = P.prune_at_init(method, NET, p, data.X_train, data.y_train, 0.1)
        assert np.allclose(P.density(m), 0.1, atol=0.01)
    with pytest.raises(ValueError, match="method"):
        P.prune_at_init("synflow", NET, p, data.X_train, data.y_train, 0.1)


def test_instability_of_two_identical_runs_is_zero():
    data = _data()
    p = _init(NET, [0])
    run = P.train_stack(NET, P.repeat_params(p, 2), None, data, CFG, order_seeds=[3, 3])
    a, b = [t[:1] for t in run.params], [t[1:] for t in run.params]
    assert P.instability(NET, a, b, data.X_test, data.y_test)[0] == 0.0
    snaps = P.train_stack(NET, p, None, data, CFG, snapshot_steps=(0, 10)).snapshots
    res = P.instability_vs_rewind(NET, snaps, None, data, CFG, [0, 10], [0])
    assert res.barrier.shape == (2, 1) and res.test_acc.shape == (2, 1)
    with pytest.raises(ValueError, match="no snapshot"):
        P.instability_vs_rewind(NET, snaps, None, data, CFG, [5], [0])


def test_instability_detects_a_barrier_between_two_different_solutions():
    """Two nets with permuted hidden units compute the same function; on XOR data the
    midpoint averages the units into a nearly linear net, so the barrier is large."""
    net = P.Arch("mlp", (16,), 2, 2)
    g = torch.Generator().manual_seed(0)
    X = torch.rand(400, 2, generator=g) * 2 - 1
    y = ((X[:, 0] * X[:, 1]) > 0).long()
    data = P.SplitData(X, y, X, y, X, y, 2)
    run = P.train_stack(net, _init(net, [0]), None, data,
                        P.StepConfig(600, 0.02, batch_size=50, eval_every=600))
    a = run.params
    assert run.test_err[0, -1] < 0.1
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(0))
    b = [a[0][:, :, perm], a[1][:, perm], a[2][:, perm, :], a[3]]
    assert torch.allclose(models.forward(net, a, X), models.forward(net, b, X), atol=1e-5)
    assert P.instability(net, a, b, X, y)[0] > 0.05  # identical nets give exactly 0


def test_iterations_to_threshold_is_censored_at_the_end():
    err = np.array([[0.9, 0.5, 0.05, 0.01], [0.9, 0.8, 0.7, 0.6], [0.05, 0.5, 0.5, 0.5]])
    steps = np.array([0, 10, 20, 30])
    assert list(P.iterations_to(err, steps, 0.1)) == [20, 30, 0]


def test_matched_movement_removes_the_built_in_part_of_kept_weights_moving_more():
    g = torch.Generator().manual_seed(0)
    wf = (torch.randint(1, 21, (1, 4000), generator=g) / 20.0) * torch.sign(torch.randn(1, 4000, generator=g))
    w0 = torch.zeros_like(wf)                        # movement = |w_final| for every weight
    top = P.prune([wf.abs()], [torch.ones_like(wf)], 0.5, output_factor=1.0)
    # keeping the largest |w_final| makes kept weights "move more" by construction ...
    assert P.movement_ratio([w0], [wf], top)[0] > 1.5
    # ... and at equal |w_final| a random half moves exactly as much as the rest
    rand = P.random_masks_like(top, torch.Generator().manual_seed(1))
    assert P.matched_movement_ratio([w0], [wf], rand)[0] == pytest.approx(1.0, abs=0.02)
    # kept weights that did move more at equal |w_final| give a ratio above 1
    w0b = torch.where(rand.pop() > 0, torch.zeros_like(wf), wf / 2)
    keep = P.random_masks_like(top, torch.Generator().manual_seed(1))
    assert P.matched_movement_ratio([w0b], [wf], keep)[0] == pytest.approx(2.0, rel=0.02)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_pruning_trainer_equals_a_textbook_torch_loop_on_the_same_masks(opt):
    """The stacked masked trainer against the textbook: each member as an ``nn.Module``,
    plain (non-fused) ``torch.optim``, the same masks (weights zeroed, gradients masked
    before each step), the same batches; final weights and validation curves agree."""
    from overparam import config
    data = _data()
    p = _init(NET, [3, 4])
    g = torch.Generator().manual_seed(1)
    masks = [(torch.rand(w.shape, generator=g) > 0.4).float() for w in P.weights(p)]
    cfg = P.StepConfig(steps=24, lr=0.05 if opt == "sgd" else 0.01, optimizer=opt, batch_size=20, eval_every=8)
    run = P.train_stack(NET, p, masks, data, cfg, order_seeds=[11, 12])
    n, B = len(data.X_train), cfg.batch_size
    for i, seed in enumerate([11, 12]):
        start = P.apply_masks([t[i:i + 1] for t in p], [m[i:i + 1] for m in masks])
        net = models.to_module(NET, [t[0] for t in start])
        lins = [mod for mod in net if isinstance(mod, torch.nn.Linear)]
        wmask = [m[i].T for m in masks]                     # nn.Linear stores W transposed
        optim = (torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, foreach=False)
                 if opt == "sgd" else torch.optim.Adam(net.parameters(), lr=cfg.lr, foreach=False))
        gen = config.generator(seed, "order")
        val = []
        order = []
        while len(order) < cfg.steps:                       # whole batches only (drop_last)
            perm = torch.randperm(n, generator=gen)
            order += [perm[s:s + B] for s in range(0, n - B + 1, B)]
        for step in range(cfg.steps + 1):
            if step % cfg.eval_every == 0:
                with torch.no_grad():
                    val.append(float(torch.nn.functional.cross_entropy(net(data.X_val), data.y_val)))
            if step == cfg.steps:
                break
            idx = order[step]
            optim.zero_grad()
            torch.nn.functional.cross_entropy(net(data.X_train[idx]), data.y_train[idx]).backward()
            for lin, m in zip(lins, wmask):
                lin.weight.grad.mul_(m)
            optim.step()
        ref = models.from_module(NET, net)
        for a, b in zip(run.params, ref):
            torch.testing.assert_close(a[i], b, atol=2e-5, rtol=1e-4)
        np.testing.assert_allclose(run.val_loss[i], val, atol=2e-5)
        for w, m in zip(P.weights([r[None] for r in ref]), masks):
            assert torch.all(w[0][m[i] == 0] == 0)              # the textbook kept them at zero too
