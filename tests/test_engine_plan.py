"""The engine's plan: buckets cut to stacks that fit the cache, the cost model's bytes."""
import torch

from overparam.engine.plan import CACHE_BYTES_CPU, MIN_STACK, buckets_for, step_bytes
from overparam.engine.sweep import Member, TrainConfig, TrainData


def _data(n=200, d=40):
    X = torch.zeros(n, d)
    y = torch.zeros(n, dtype=torch.long)
    return TrainData(X, y, X[:10], y[:10], 10, "zeros")


def test_step_bytes_counts_hidden_units_per_example():
    assert step_bytes(Member(256), 40, 10, 100) == 12 * 100 * 256
    assert step_bytes(Member(64, depth=3), 40, 10, 10) == 12 * 10 * 192
    cnn = Member(8, depth=2, arch="cnn")
    assert step_bytes(cnn, 40, 10, 1) == 12 * (8 * 20 + 8 * 10)   # lengths 40 -> 20 -> 10


def test_a_bucket_is_cut_into_equal_stacks_that_fit_the_cache():
    data = _data()
    cfg = TrainConfig(batch_size=100)
    members = [Member(256, seed=s) for s in range(32)]             # 307 kB a member per step
    stacks = buckets_for(members, [data], cfg, "cpu")
    assert sorted(i for b in stacks for i in b) == list(range(32))
    sizes = [len(b) for b in stacks]
    assert len(stacks) == 3 and max(sizes) - min(sizes) <= 1   # 32 x 307 kB / 4 MB -> 3 stacks
    assert all(len(b) * step_bytes(members[0], 40, 10, 100) <= CACHE_BYTES_CPU for b in stacks)
    assert MIN_STACK == 4
    narrow = buckets_for([Member(8, seed=s) for s in range(32)], [data], cfg, "cpu")
    assert narrow == [list(range(32))]                              # small members: one stack
    wide = buckets_for([Member(4096, seed=s) for s in range(10)], [data], cfg, "cpu")
    assert wide == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]             # over the cache: stacks of MIN_STACK
    assert buckets_for([Member(4096, seed=s) for s in range(3)], [data], cfg, "cpu") == [[0, 1, 2]]
    assert buckets_for(members, [data], cfg, "cpu", mode="loop") == [[i] for i in range(32)]
    assert buckets_for(members, [data], cfg, "cpu", cache_bytes=float("inf")) == [list(range(32))]


def test_a_stack_of_one_computes_what_the_stacked_forward_computes():
    """The loop mode's textbook kernels (addmm, conv1d) give the family's forward."""
    from overparam.engine.stackrun import _forward_single
    from overparam.models import Arch, forward, init_stack
    X = torch.randn(7, 16, generator=torch.Generator().manual_seed(0))
    for arch in (Arch("mlp", (5,), 16, 3), Arch("mlp", (6, 4, 5), 16, 3), Arch("cnn", (4, 3), 16, 3)):
        ps = init_stack(arch, [3]).params
        torch.testing.assert_close(_forward_single(arch, ps, X), forward(arch, ps, X)[0], rtol=1e-5, atol=1e-6)
