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
        want = forward(arch, ps, X)[0]
        torch.testing.assert_close(_forward_single(arch, ps, X, class_major=False), want, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(_forward_single(arch, ps, X), want.t()[None], rtol=1e-5, atol=1e-6)


def test_the_short_run_cost_model_batches_up_to_its_parameter_limit():
    """Runs too short to probe: batched up to BATCH_PARAMS_CPU parameters a member on the CPU
    (width 512 x 3 layers: 5.5e5), the loop beyond (1024 x 2: 1.1e6); CUDA always batches."""
    from overparam.engine.plan import BATCH_PARAMS_CPU, batching_pays
    data, cfg = _data(), TrainConfig(batch_size=500)
    assert Member(512, depth=3).spec(40, 10).n_params <= BATCH_PARAMS_CPU < Member(1024, depth=2).spec(40, 10).n_params
    assert batching_pays([Member(512, depth=3, seed=s) for s in range(4)], [data], cfg, "cpu")
    assert batching_pays([Member(2048, depth=1, seed=s) for s in range(4)], [data], cfg, "cpu")
    assert not batching_pays([Member(8, seed=0), Member(1024, depth=2, seed=1)], [data], cfg, "cpu")  # the widest decides
    assert batching_pays([Member(1024, depth=2, seed=s) for s in range(4)], [data], cfg, torch.device("cuda"))


def test_a_stack_of_one_at_a_large_batch_trains_as_its_textbook_net():
    """From CLASS_MAJOR_FROM examples a step a stack of one trains on class-major logits (the
    last GEMM class-major for a narrow net, batch-major and transposed for a wide one): the
    same losses and curves as the member's nn.Module trained alone, up to rounding."""
    from overparam import config
    from overparam.engine import stackrun
    from overparam.engine.sweep import make_model, train_ensemble
    g = torch.Generator().manual_seed(1)
    X, Xt = torch.randn(600, 12, generator=g), torch.randn(40, 12, generator=g)
    y, yt = (X[:, :3].sum(1) > 0).long(), (Xt[:, :3].sum(1) > 0).long()
    data = TrainData(X, y, Xt, yt, 2, "big")
    cfg = TrainConfig(epochs=3, lr=0.05, optimizer="sgd", batch_size=300, eval_every=1)
    for width in (5, 2048):   # 300 x 5 under CLASS_MAJOR_GEMM, 300 x 2048 over it
        assert (300 * width > stackrun.CLASS_MAJOR_GEMM) == (width == 2048)
        got = train_ensemble([Member(width, seed=2)], data, cfg, mode="loop", log=None)
        net = make_model(Member(width, seed=2), 12, 2)
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=cfg.momentum)
        gen = config.generator(2, "order")
        losses = []
        for epoch in range(3):
            for idx in torch.randperm(600, generator=gen).split(300):
                loss = torch.nn.functional.cross_entropy(net(X[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                losses.append(float(torch.nn.functional.cross_entropy(net(X), y)))
        assert stackrun.CLASS_MAJOR_FROM <= 300
        torch.testing.assert_close(torch.tensor(got.curves["train_loss"][0, 1:], dtype=torch.float64), torch.tensor(losses, dtype=torch.float64),
                                   rtol=1e-4, atol=2e-5)
        assert losses[-1] < got.curves["train_loss"][0, 0]   # it trained: equality is not trivial
