"""Permutation alignment and dropout stability (chapter 8), at small scale with fixed seeds."""
import numpy as np
import pytest
import torch

from overparam import alignment as A
from overparam import landscape as L
from overparam.models import Arch, forward_one, init_member


def _net(widths=(7, 5, 6), seed=0, d=4, C=3):
    arch = Arch("mlp", widths, d=d, n_classes=C)
    return arch, init_member(arch, seed)


def _data(n=50, d=4, C=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randint(0, C, (n,), generator=g)


def test_permute_keeps_the_function_and_moves_the_weights():
    arch, p = _net()
    X, _ = _data()
    perms = A.random_permutations(arch, torch.Generator().manual_seed(3))
    q = A.permute(arch, p, perms)
    torch.testing.assert_close(forward_one(arch, q, X), forward_one(arch, p, X), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(q[0], p[0])
    torch.testing.assert_close(q[0][:, 0], p[0][:, perms[0][0]])


@pytest.mark.parametrize("method", ["weight", "activation"])
def test_alignment_recovers_a_known_permutation_exactly(method):
    """A network and a randomly permuted copy: identical weights after alignment, barrier 0."""
    arch, p = _net(widths=(16, 12, 10))
    X, y = _data(n=1000)
    X = 3 * X  # wide inputs: no unit is dead on the data, so activations identify every unit
    assert all(bool((h.std(0) > 0).all()) for h in A.hidden_activations(arch, p, X))
    perms = A.random_permutations(arch, torch.Generator().manual_seed(7))
    q = A.permute(arch, p, perms)
    aligned = A.align(arch, p, q, method, X=X, generator=torch.Generator().manual_seed(0))
    for pa, pb in zip(p, aligned):
        assert torch.equal(pa, pb)
    a = [t[None] for t in p]
    ts = np.linspace(0, 1, 5)
    scan_al = L.scan_path(arch, a, [t[None] for t in aligned], ts, X, y, X, y)
    for metric in ("train_loss", "test_error"):
        assert scan_al.barrier(metric)[0] == pytest.approx(0.0, abs=1e-6)
    assert not torch.equal(q[0], p[0])  # the copy really was permuted


def test_weight_matching_brings_independent_networks_closer():
    arch, p = _net(widths=(32, 32), seed=0)
    _, q = _net(widths=(32, 32), seed=1)
    aligned = A.align(arch, p, q, "weight")

    def dist(u, v):
        return sum(float(((s - t) ** 2).sum()) for s, t in zip(u, v))
    assert dist(p, aligned) < 0.9 * dist(p, q)
    X, _ = _data()
    torch.testing.assert_close(forward_one(arch, aligned, X), forward_one(arch, q, X), rtol=1e-5, atol=1e-6)


def test_dropout_loss_without_dropping_is_the_loss_and_dropping_hurts_a_tiny_layer():
    arch, p = _net(widths=(8, 8))
    X, y = _data(n=100)
    base = torch.nn.functional.cross_entropy(forward_one(arch, p, X), y).item()
    same = A.dropout_loss(arch, p, X, y, fraction=0.0, n_draws=2)
    np.testing.assert_allclose(same, base, rtol=1e-6)
    g = torch.Generator().manual_seed(0)
    dropped = A.dropout_loss(arch, p, X, y, fraction=0.5, n_draws=6, generator=g)
    assert dropped.shape == (6,)
    assert np.ptp(dropped) > 0  # different halves give different losses


def test_dropout_of_a_redundant_network_costs_nothing():
    """Two copies of every unit, each with half the outgoing weight: dropping one copy of
    each and doubling the other gives back the function exactly when the right half is
    dropped, so the best of many draws of a width-2 layer is exact."""
    arch1, p1 = _net(widths=(1,), seed=4)
    arch2 = Arch("mlp", (2,), d=4, n_classes=3)
    p2 = [torch.cat([p1[0], p1[0]], 1), torch.cat([p1[1], p1[1]]), torch.cat([p1[2], p1[2]]) / 2, p1[3]]
    X, y = _data(n=60)
    base = torch.nn.functional.cross_entropy(forward_one(arch1, p1, X), y).item()
    losses = A.dropout_loss(arch2, p2, X, y, n_draws=3, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(losses, base, rtol=1e-5)


def test_bad_inputs_raise_clear_errors():
    arch, p = _net()
    arch2, q = _net(widths=(7, 5, 5))
    with pytest.raises(ValueError, match="shapes"):
        A.weight_matching(arch, p, q)
    with pytest.raises(ValueError, match="method"):
        A.align(arch, p, p, "greedy")
    with pytest.raises(ValueError, match="needs inputs X"):
        A.align(arch, p, p, "activation")
    with pytest.raises(ValueError, match="not a permutation"):
        A.permute(arch, p, [torch.zeros(7, dtype=torch.long), torch.arange(5), torch.arange(6)])
    with pytest.raises(ValueError, match="fraction"):
        A.dropout_loss(arch, p, *_data(), fraction=1.5)
    with pytest.raises(ValueError, match="mlp"):
        A.weight_matching(Arch("cnn", (4,), d=16, n_classes=3), p, p)
