"""Stacked models: counts, padding exactness, equality with nn.Modules (Chapter 1)."""
import pytest
import torch

from overparam.models import (HyperCNN, StackedCNN, StackedHyperBoolNet, StackedHyperCNN,
                              StackedMLP1, handset_and_net)


def test_trained_parameter_counts_match_modules():
    g = torch.Generator().manual_seed(0)
    naive = StackedCNN([1, 3], generator=g)
    rc = StackedCNN([1, 3], random_conv=True, generator=g)
    for i, f in enumerate([1, 3]):
        n_mod = sum(p.numel() for p in naive.member(i).parameters() if p.requires_grad)
        assert naive.n_trained[i] == n_mod == 5 * f + 1
        assert rc.n_trained[i] == sum(p.numel() for p in rc.member(i).parameters() if p.requires_grad) == f + 1
    mlp = StackedMLP1([1, 4], generator=g)
    assert mlp.n_trained.tolist() == [sum(p.numel() for p in mlp.member(i).parameters()) for i in range(2)]
    hyper = StackedHyperCNN(2, generator=g)
    assert StackedHyperCNN.n_generated == 5
    assert int(hyper.n_trained[0]) == sum(p.numel() for p in HyperCNN().parameters())


def test_stacked_forward_equals_members():
    g = torch.Generator().manual_seed(1)
    X = torch.rand(7, 64) - 0.5
    cnn = StackedCNN([1, 2, 5], generator=g)
    mlp = StackedMLP1([1, 3, 6], generator=g)
    Xa = torch.randn(9, 2)
    for i in range(3):
        torch.testing.assert_close(cnn(X)[i], cnn.member(i)(X))
        torch.testing.assert_close(mlp(Xa)[i], mlp.member(i)(Xa))


def test_hyper_cnn_stacked_equals_module():
    g = torch.Generator().manual_seed(2)
    st = StackedHyperCNN(2, generator=g)
    net = HyperCNN()
    with torch.no_grad():
        net.maker[0].weight.copy_(st.params["W1"][1]); net.maker[0].bias.copy_(st.params["b1"][1])
        net.maker[2].weight.copy_(st.params["W2"][1]); net.maker[2].bias.copy_(st.params["b2"][1])
    X = torch.rand(5, 64) - 0.5
    z = torch.randn(2, 2)
    torch.testing.assert_close(st(X, z)[1], net(X, z[1]))


def test_padded_units_are_zero_and_stay_zero_in_forward():
    g = torch.Generator().manual_seed(3)
    mlp = StackedMLP1([2, 5], generator=g)
    assert torch.all(mlp.params["W1"][0, 2:] == 0) and torch.all(mlp.params["w2"][0, 2:] == 0)
    cnn = StackedCNN([1, 4], generator=g)
    assert torch.all(cnn.params["kernels"][0, 1:] == 0)


def test_init_bounds_follow_nn_linear():
    g = torch.Generator().manual_seed(4)
    mlp = StackedMLP1([1] * 200 + [16] * 200, generator=g)
    w2 = mlp.params["w2"]
    assert w2[:200, 0].abs().max() <= 1.0 and w2[:200, 0].abs().max() > 0.9
    assert w2[200:].abs().max() <= 0.25 + 1e-6


def test_handset_and_net_is_exact_away_from_the_margin():
    X = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0], [0.5, 0.01]])
    assert ((handset_and_net(X) > 0).float() == torch.tensor([1.0, 0, 0, 0, 1])).all()
    # inside the margin (-0.1 < x1 < 0) it answers 1 for a negative: the source of its errors
    assert handset_and_net(torch.tensor([[-0.05, 1.0]])) > 0


def test_hyper_bool_net_generated_size():
    assert StackedHyperBoolNet.n_generated == 7
    out = StackedHyperBoolNet(3)(torch.randn(4, 2))
    assert out.shape == (3, 4)


def test_bad_widths_raise():
    with pytest.raises(ValueError, match="width"):
        StackedMLP1([2, -1])
    with pytest.raises(ValueError, match="n_filters"):
        StackedCNN([0])


def test_select_gives_the_members_rows():
    g = torch.Generator().manual_seed(7)
    cnn = StackedCNN([1, 2, 3, 4], generator=g)
    X = torch.rand(6, 64) - 0.5
    sub = cnn.select(1, 3)
    assert isinstance(sub, StackedCNN) and sub.n_models == 2
    assert sub.sizes.tolist() == [2, 3] and sub.n_trained.tolist() == [11, 16]
    torch.testing.assert_close(sub(X), cnn(X)[1:3])
