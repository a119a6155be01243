"""The model family: a padded stacked member equals its standalone module, init is the
member's own, padding stays zero under training, flat views and module export round-trip."""
import pytest
import torch

from overparam import models as Mo


@pytest.mark.parametrize("kind,d", [("mlp", 12), ("cnn", 16)])
def test_padded_stacked_member_equals_standalone_module(kind, d):
    small = Mo.Arch(kind, (3, 4), d, 3)
    wide = Mo.Arch(kind, (9, 7), d, 3)
    st = Mo.init_stack([small, wide], seeds=[5, 6])
    assert st.arch.widths == (9, 7)
    X = torch.randn(6, d)
    out = Mo.forward(st.arch, st.params, X)
    assert out.shape == (2, 6, 3)
    for i, (a, s) in enumerate(((small, 5), (wide, 6))):
        p = Mo.init_member(a, s)
        assert all(torch.equal(x, y) for x, y in zip(st.member(i), p))
        torch.testing.assert_close(out[i], Mo.to_module(a, p)(X), atol=1e-6, rtol=0)
    torch.testing.assert_close(Mo.forward(st.arch, st.params, X, class_major=True), out.transpose(1, 2))
    # padding is zero and masked; the wide member has no mask entries at zero
    assert st.masks[0] is not None and torch.all(st.masks[0][1] == 1)
    assert torch.all(st.params[0][0][st.masks[0][0] == 0] == 0)


def test_init_is_pytorch_default_from_the_seed():
    a = Mo.Arch("mlp", (6, 6), 10, 3)
    p = Mo.init_member(a, 4)
    assert [tuple(t.shape) for t in p] == [(10, 6), (6,), (6, 6), (6,), (6, 3), (3,)]
    assert all(torch.equal(x, y) for x, y in zip(p, Mo.init_member(a, 4)))
    assert not torch.equal(p[0], Mo.init_member(a, 5)[0])
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(4)
    ref = torch.nn.Linear(10, 6)
    with torch.no_grad():  # nn.Linear's bound, drawn weight then bias from the same generator
        ref.weight.copy_((torch.rand(6, 10, generator=g) * 2 - 1) / 10 ** 0.5)
    torch.testing.assert_close(p[0], ref.weight.T)
    assert p[0].abs().max() <= 1 / 10 ** 0.5 and p[2].abs().max() <= 1 / 6 ** 0.5


def test_padding_stays_zero_under_momentum_sgd():
    st = Mo.init_stack([Mo.Arch("mlp", (3,), 5, 2), Mo.Arch("mlp", (8,), 5, 2)], [0, 1], requires_grad=True)
    opt = torch.optim.SGD(st.params, lr=0.5, momentum=0.9)
    X, y = torch.randn(2, 20, 5), torch.randint(0, 2, (2, 20))
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(Mo.forward(st.arch, st.params, X).reshape(-1, 2), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        for p, m in zip(st.params, st.masks):
            if m is not None:
                p.grad.mul_(m)
        opt.step()
    assert torch.all(st.params[0][0, :, 3:] == 0) and torch.all(st.params[2][0, 3:] == 0)
    assert torch.any(st.params[0][1, :, 3:] != 0)


@pytest.mark.parametrize("kind,d", [("mlp", 7), ("cnn", 11)])
def test_flat_view_and_module_round_trip(kind, d):
    a = Mo.Arch(kind, (4,) if kind == "cnn" else (4, 5), d, 3)
    st = Mo.init_stack(a, [0, 1, 2])
    theta = Mo.flatten(st.params)
    assert theta.shape == (3, a.n_params)
    back = Mo.unflatten(a, theta)
    assert all(torch.equal(x, y) for x, y in zip(back, st.params))
    X = torch.randn(4, d)
    flat = Mo.Flat(a)
    torch.testing.assert_close(flat(theta, X), Mo.forward(a, st.params, X))
    torch.testing.assert_close(torch.func.vmap(flat, (0, None))(theta, X), Mo.forward(a, st.params, X))
    net = Mo.to_module(a, st.member(1))
    assert all(torch.equal(x, y) for x, y in zip(Mo.from_module(a, net), st.member(1)))
    with pytest.raises(ValueError, match="entries"):
        Mo.unflatten(a, theta[:, 1:])


def test_bad_architectures_raise_naming_the_parameter():
    with pytest.raises(ValueError, match="arch"):
        Mo.Arch("rnn")
    with pytest.raises(ValueError, match="widths"):
        Mo.Arch("mlp", (3, 0))
    with pytest.raises(ValueError, match="widths"):
        Mo.Arch("cnn", ())
    with pytest.raises(ValueError, match="depth"):
        Mo.init_stack([Mo.Arch("mlp", (3,)), Mo.Arch("mlp", (3, 3))], [0, 1])
