"""Initialisation of the family: the values drawn for a seed never change (the chapters'
seeds decide their numbers), however the draw is organised in memory."""
import math

import pytest
import torch

from overparam import models as Mo


def _reference(arch, seed, dtype=torch.float32):
    """The draw as first written: per layer U(-b, b) = (rand * 2 - 1) * b of the weight in
    nn.Linear's (fan_out, fan_in) order, transposed, then the bias; conv kernels as stored."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    shapes = arch.shapes()
    for ws, bs in zip(shapes[0::2], shapes[1::2]):
        fan_in = ws[0] if len(ws) == 2 else ws[1] * ws[2]
        b = 1 / math.sqrt(fan_in)
        draw = (ws[1], ws[0]) if len(ws) == 2 else ws
        w = (torch.rand(draw, generator=gen) * 2 - 1) * b
        out.append((w.T.contiguous() if len(ws) == 2 else w).to(dtype))
        out.append(((torch.rand(bs, generator=gen) * 2 - 1) * b).to(dtype))
    return out


ARCHS = [Mo.Arch("mlp", (8,), 40, 10), Mo.Arch("mlp", (300, 100), 784, 10), Mo.Arch("mlp", (3000,), 40, 10),
         Mo.Arch("mlp", (), 12, 3), Mo.Arch("cnn", (4, 6), 40, 10)]


@pytest.mark.parametrize("arch", ARCHS, ids=str)
def test_member_init_is_the_original_draw_bit_for_bit(arch):
    for seed in (0, 7):
        got, want = Mo.init_member(arch, seed), _reference(arch, seed)
        assert [tuple(t.shape) for t in got] == arch.shapes()
        assert all(torch.equal(g, w) for g, w in zip(got, want))
    got64 = Mo.init_member(arch, 3, torch.float64)
    assert all(g.dtype == torch.float64 and torch.equal(g, w) for g, w in zip(got64, _reference(arch, 3, torch.float64)))


def test_padded_stack_holds_each_members_own_draw_and_zero_padding():
    archs = [Mo.Arch("mlp", (w, v), 20, 5) for w, v in ((3, 9), (7, 2), (7, 9))]
    seeds = [5, 1, 5]
    st = Mo.init_stack(archs, seeds, requires_grad=True)
    assert st.arch.widths == (7, 9) and all(p.requires_grad and p.is_leaf for p in st.params)
    for i, (a, s) in enumerate(zip(archs, seeds)):
        ref = _reference(a, s)
        for j, (p, r) in enumerate(zip(st.params, ref)):
            cut = tuple(slice(0, n) for n in r.shape)
            assert torch.equal(p[i][cut], r)
            pad = p[i].detach().clone()
            pad[cut] = 0
            assert not pad.any()  # zero outside the member's own shape
            if st.masks[j] is not None:
                assert st.masks[j][i].sum() == r.numel() and st.masks[j][i][cut].all()
    assert st.masks[-1] is None and st.masks[0] is not None  # the read-out bias is never padded
    one = Mo.init_stack(archs[2], [5])
    assert all(m is None for m in one.masks)
    assert all(torch.equal(a[0], b) for a, b in zip(one.params, _reference(archs[2], 5)))


def test_linear_layout_stack_of_one_holds_the_same_values_in_nn_linear_order():
    arch = Mo.Arch("mlp", (30, 20), 12, 4)
    plain = Mo.init_stack(arch, [9])
    lin = Mo.init_stack(arch, [9], linear_layout=True, requires_grad=True)
    for j, (a, b) in enumerate(zip(plain.params, lin.params)):
        assert torch.equal(a, b.detach())
        assert a.is_contiguous()
        if j % 2 == 0:  # weights: (1, fan_in, fan_out) stored as (fan_out, fan_in) rows
            assert not b.is_contiguous() and b[0].T.is_contiguous()
    assert all(t.is_contiguous() for t in lin.member(0))
    two = Mo.init_stack([arch, arch], [9, 9], linear_layout=True)  # several members: ignored
    assert all(p.is_contiguous() for p in two.params)
