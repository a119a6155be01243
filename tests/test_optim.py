"""Stacked optimizers equal torch.optim, and skipping a member leaves it untouched."""
import pytest
import torch

from overparam.engine.optim import OPTIMIZERS, StackedOptimizer


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_matches_torch_optim_with_skips(name):
    torch.manual_seed(0)
    M, steps = 3, 6
    p0 = torch.randn(M, 4)
    grads = torch.randn(steps, M, 4)
    active = torch.rand(steps, M) > 0.3
    stacked = p0.clone()
    opt = StackedOptimizer([stacked], name, lr=0.05)
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
