"""Stacked optimizers equal torch.optim, and skipping a member leaves it untouched."""
import pytest
import torch

from overparam.engine.optim import OPTIMIZERS, StackedOptimizer, make_optimizer


@pytest.mark.parametrize("wd", [0.0, 0.1])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_matches_torch_optim_with_skips(name, wd):
    torch.manual_seed(0)
    M, steps = 3, 6
    p0 = torch.randn(M, 4)
    grads = torch.randn(steps, M, 4)
    active = torch.rand(steps, M) > 0.3
    stacked = p0.clone()
    opt = make_optimizer([stacked], name, 0.05, stacked=True, weight_decay=wd)
    for t in range(steps):
        opt.step([grads[t]], active[t])
    for m in range(M):
        p = p0[m].clone().requires_grad_(True)
        ref = opt.torch_equivalent([p])
        for t in range(steps):
            if active[t, m]:  # a skipped step is no call at all, as in the source
                p.grad = grads[t, m].clone()
                ref.step()
        torch.testing.assert_close(stacked[m], p.detach(), rtol=1e-5, atol=1e-6)


def test_unknown_optimizer_raises():
    with pytest.raises(ValueError, match="optimizer='lbfgs'"):
        StackedOptimizer([torch.zeros(2, 2)], "lbfgs")


def test_factory_gives_the_torch_class_with_the_entry_settings():
    p = [torch.zeros(3, requires_grad=True)]
    sgd = make_optimizer(p, "sgd", 0.1, momentum=0.5, betas=(0.1, 0.2))   # betas: not SGD's
    assert type(sgd) is torch.optim.SGD and sgd.defaults["momentum"] == 0.5
    assert make_optimizer(p, "sgd", 0.1).defaults["momentum"] == 0.0
    assert make_optimizer(p, "momentum", 0.1).defaults["momentum"] == 0.9
    adam = make_optimizer(p, "adam", 0.1, momentum=0.9, impl="fused")     # momentum: not Adam's
    assert type(adam) is torch.optim.Adam and adam.defaults["fused"] and adam.defaults["weight_decay"] == 0
    adamw = make_optimizer(p, "adamw", 0.1)
    assert type(adamw) is torch.optim.AdamW and adamw.defaults["weight_decay"] == 0.01
    with pytest.raises(ValueError, match="impl="):
        make_optimizer(p, "adam", 0.1, impl="magic")
    with pytest.raises(ValueError, match="momentum"):
        make_optimizer(p, "sgd", 0.1, momentum=-1)


def test_adamw_decay_is_decoupled():
    """AdamW shrinks the weights by lr * wd whatever the gradient; Adam's L2 term enters the
    moments and is normalised away (a zero gradient: Adam moves by about lr, AdamW by lr*wd*p)."""
    out = {}
    for name in ("adam", "adamw"):
        p = torch.full((1, 4), 2.0)
        make_optimizer([p], name, 0.1, stacked=True, weight_decay=0.1).step([torch.zeros(1, 4)])
        out[name] = p
    torch.testing.assert_close(out["adamw"], torch.full((1, 4), 2.0 * (1 - 0.1 * 0.1)))
    torch.testing.assert_close(out["adam"], torch.full((1, 4), 2.0 - 0.1), rtol=1e-4, atol=1e-5)
