"""The sweep engine: batched grids equal separate trainings, padding does not leak,
the fallback triggers, NaN/inf members are named, and an interrupted grid resumes."""
import dataclasses

import numpy as np
import pytest
import torch

from overparam import config, models
from overparam.engine.stackrun import eval_epochs
from overparam.engine.store import ResultStore
from overparam.engine.sweep import (
    CURVES, Member, TrainConfig, TrainData, choose_mode, init_params, make_model,
    train_ensemble, train_grid,
)


def _toy(n=60, d=12, n_test=40, seed=0, key="toy"):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    y = (X[:, :3].sum(1) > 0).long() + (X[:, 3] > 1).long()
    Xt = torch.randn(n_test, d, generator=g)
    yt = (Xt[:, :3].sum(1) > 0).long() + (Xt[:, 3] > 1).long()
    return TrainData(X, y, Xt, yt, n_classes=3, key=key)


def _noisy(data, seed, key):
    g = torch.Generator().manual_seed(seed)
    y = data.y_train.clone()
    flip = torch.randperm(len(y), generator=g)[: len(y) // 5]
    y[flip] = (y[flip] + 1) % data.n_classes
    return TrainData(data.X_train, y, data.X_test, data.y_test, data.n_classes, key)


def _reference(member, data, cfg):
    """Independent oracle: the member's nn.Module trained alone with plain torch.optim
    (no fused kernels), cross-entropy, its own batch order; curves at the engine's epochs.
    Returns {curve: (T,)}."""
    model = make_model(member, data.d, data.n_classes)
    ps = list(model.parameters())
    opt = (torch.optim.SGD(ps, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, foreach=False)
           if cfg.optimizer == "sgd" else
           torch.optim.Adam(ps, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=False))
    gen = config.generator(member.seed, "order")
    evals, n, B = eval_epochs(cfg), data.n_train, cfg.batch_size
    out = {k: [] for k in CURVES}

    def record():
        with torch.no_grad():
            for X, y, name in ((data.X_train, data.y_train, "train"), (data.X_test, data.y_test, "test")):
                logits = model(X)
                out[f"{name}_loss"].append(float(torch.nn.functional.cross_entropy(logits, y)))
                out[f"{name}_err"].append(float((logits.argmax(1) != y).float().mean()))

    record()
    for epoch in range(1, cfg.epochs + 1):
        order = torch.randperm(n, generator=gen).split(B) if 0 < B < n else [torch.arange(n)]
        for idx in order:
            loss = torch.nn.functional.cross_entropy(model(data.X_train[idx]), data.y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if epoch in evals:
            record()
    return {k: np.array(v) for k, v in out.items()}


def _close(a, b, tol=2e-5):
    for k in CURVES:
        np.testing.assert_allclose(a.curves[k], b.curves[k], atol=tol, rtol=0, err_msg=k)


@pytest.mark.parametrize("mode", ["batched", "loop"])
@pytest.mark.parametrize("optimizer,lr,batch,momentum", [("sgd", 0.05, 16, 0.9), ("sgd", 0.2, 16, 0.0),
                                                         ("adam", 0.01, 0, 0.9)])
def test_batched_grid_equals_separate_trainings(optimizer, lr, batch, momentum, mode):
    """Stacked (batched) or one by one (loop: fit's lean SGD step), every member equals its
    nn.Module trained alone with torch.optim."""
    base = _toy()
    datas = [base, _noisy(base, 1, "n1")]  # per-member data: own label noise
    members = [Member(w, depth=dep, seed=s, data=s % 2) for w in (2, 5, 9) for s in (0, 3)
               for dep in (1, 2)]
    cfg = TrainConfig(epochs=6, lr=lr, optimizer=optimizer, batch_size=batch, eval_every=2, momentum=momentum)
    batched = train_ensemble(members, datas, cfg, mode=mode, bucket_overhead=1e12, log=None)
    assert set(batched.modes) == {mode}
    for i, m in enumerate(members):
        alone = _reference(m, datas[m.data], cfg)
        for k in CURVES:
            np.testing.assert_allclose(batched.curves[k][i], alone[k], atol=2e-5, err_msg=k)
    # training did something, so equality is not trivial
    assert np.all(batched.curves["train_loss"][:, -1] < batched.curves["train_loss"][:, 0])


def test_padded_width3_member_trains_as_true_width3_net():
    data = _toy()
    cfg = TrainConfig(epochs=5, lr=0.1, batch_size=20, eval_every=1)
    small, wide = Member(3, seed=7), Member(40, seed=8)
    stacked = train_ensemble([small, wide], data, cfg, mode="batched", bucket_overhead=1e12, log=None,
                             keep_params=True)
    alone = _reference(small, data, cfg)
    for k in CURVES:
        np.testing.assert_allclose(stacked.curves[k][0], alone[k], atol=1e-5, err_msg=k)
    assert [tuple(t.shape) for t in stacked.params[0]] == [(12, 3), (3,), (3, 3), (3,)]
    assert not torch.equal(stacked.params[0][0], init_params(small, 12, 3)[0])  # it trained


def test_cnn_members_batched_equal_loop():
    data = _toy(d=16)
    members = [Member(w, depth=2, arch="cnn", seed=s) for w in (2, 5) for s in (0, 1)]
    cfg = TrainConfig(epochs=3, lr=0.05, batch_size=20, eval_every=1)
    batched = train_ensemble(members, data, cfg, mode="batched", bucket_overhead=1e12, log=None)
    loop = train_ensemble(members, data, cfg, mode="loop", log=None)
    assert set(loop.modes) == {"loop"}
    _close(batched, loop)


def test_init_is_the_members_own_and_standalone():
    m = Member(6, depth=2, seed=4)
    a, b = init_params(m, 10, 3), init_params(m, 10, 3)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    c = init_params(dataclasses.replace(m, seed=5), 10, 3)
    assert not torch.equal(a[0], c[0])
    assert [tuple(p.shape) for p in a] == [(10, 6), (6,), (6, 6), (6,), (6, 3), (3,)]
    assert a[0].abs().max() <= 1 / np.sqrt(10) and a[2].abs().max() <= 1 / np.sqrt(6)
    net = make_model(m, 10, 3)
    torch.testing.assert_close(net[0].weight, a[0].T)
    x = torch.randn(4, 10)
    st = models.init_stack([m.spec(10, 3), Member(9, depth=2).spec(10, 3)], [4, 1])
    torch.testing.assert_close(models.forward(st.arch, st.params, x)[0], net(x))


def test_fallback_to_loop_triggers_and_is_logged():
    data = _toy()
    members = [Member(w, seed=s) for w in (4, 6) for s in (0, 1)]
    cfg = TrainConfig(epochs=2, lr=0.05, batch_size=20, eval_every=1)
    lines = []
    r = train_ensemble(members, data, cfg, memory_budget=1.0, log=lines.append)
    assert r.modes == ["loop"] * 4
    assert any("memory_budget" in s and "-> loop" in s for s in lines)
    _close(r, train_ensemble(members, data, cfg, mode="batched", log=None))
    # the timed probe is logged with both timings and a decision
    lines.clear()
    r = train_ensemble(members, data, cfg, log=lines.append, probe_min_steps=0)
    assert any("probe batched" in s and "ms/step vs loop" in s for s in lines)
    assert choose_mode(1.0, 2.0) == "batched" and choose_mode(2.0, 1.0) == "loop"


def test_probe_may_pick_one_thread_and_restores_the_count():
    data = _toy()
    members = [Member(w, seed=s) for w in (4, 6) for s in (0, 1)]
    cfg = TrainConfig(epochs=2, lr=0.05, batch_size=20, eval_every=1)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        lines = []
        r = train_ensemble(members, data, cfg, log=lines.append, probe_min_steps=0)
        assert torch.get_num_threads() == 2
        assert any("CPU thread" in s for s in lines)
        _close(r, train_ensemble(members, data, cfg, mode="loop", log=None))
    finally:
        torch.set_num_threads(before)


def test_nan_member_is_named_and_does_not_touch_others():
    good = _toy()
    bad_X = good.X_train.clone()
    bad_X[5, 0] = float("nan")
    bad = TrainData(bad_X, good.y_train, good.X_test, good.y_test, 3, "bad")
    members = [Member(4, seed=0, data=0), Member(4, seed=1, data=1, name="poisoned"), Member(5, seed=2)]
    cfg = TrainConfig(epochs=3, lr=0.05, batch_size=20, eval_every=1)
    lines = []
    r = train_ensemble(members, [good, bad], cfg, mode="batched", log=lines.append)
    assert list(r.diverged) == ["poisoned"] and r.diverged["poisoned"] == 1
    assert any("poisoned" in s for s in lines)
    assert np.all(np.isnan(r.curves["test_err"][1, 1:]))
    with pytest.raises(ValueError, match="poisoned"):
        r.check_finite()
    clean = train_ensemble([members[0], members[2]], [good], cfg, mode="batched", log=None)
    _close(r.select([0, 2]), clean)
    looped = train_ensemble(members, [good, bad], cfg, mode="loop", log=None)
    assert list(looped.diverged) == ["poisoned"]


def test_interrupted_grid_resumes_to_the_same_results(tmp_path):
    base = _toy()
    datas = [base, _noisy(base, 2, "noisy2")]
    members = [Member(w, seed=s, data=s % 2) for w in (2, 4, 8) for s in (0, 1)]
    cfg = TrainConfig(epochs=3, lr=0.05, batch_size=20, eval_every=1)
    full = train_grid(members, datas, cfg, store=ResultStore(tmp_path / "a"), chunk_size=2, log=None,
                      keep_probs=True)

    class Killed(Exception):
        pass

    def kill_after_first(done):
        if done == 1:
            raise Killed

    store = ResultStore(tmp_path / "b")
    with pytest.raises(Killed):
        train_grid(members, datas, cfg, store=store, chunk_size=2, log=None, on_chunk=kill_after_first,
                   keep_probs=True)
    assert len(store.keys()) == 2
    chunks = []
    resumed = train_grid(members, datas, cfg, store=store, chunk_size=2, log=None,
                         on_chunk=chunks.append, keep_probs=True)
    assert chunks == [1, 2]  # two chunks left to train, not three
    assert resumed.modes.count("stored") == 2
    _close(resumed, full, tol=1e-6)
    np.testing.assert_allclose(resumed.test_probs, full.test_probs, atol=1e-6)
    chunks.clear()
    again = train_grid(members, datas, cfg, store=store, chunk_size=2, log=None, on_chunk=chunks.append,
                       keep_probs=True)
    assert chunks == [] and again.modes == ["stored"] * 6
    _close(again, full, tol=1e-6)


def test_bad_values_raise_naming_the_parameter():
    with pytest.raises(ValueError, match="width"):
        Member(0)
    with pytest.raises(ValueError, match="arch"):
        Member(3, arch="rnn")
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="lbfgs")
    with pytest.raises(ValueError, match="mode"):
        train_ensemble([Member(2)], _toy(), TrainConfig(epochs=1), mode="fast")
    with pytest.raises(ValueError, match="data=3"):
        train_ensemble([Member(2, data=3)], _toy(), TrainConfig(epochs=1))


def test_class_major_error_count_equals_argmax_with_ties():
    from overparam.engine.stackrun import _wrong
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 40, generator=g).round()  # rounding makes many ties
    logits[1] = 0  # a frozen member: every class ties, argmax picks class 0
    y = torch.randint(0, 5, (3, 40), generator=g)
    assert torch.equal(_wrong(logits, y), logits.argmax(1) != y)
    assert 0 < int(_wrong(logits, y).sum()) < 120
    big = torch.randint(0, 3, (4, 10, 1000), generator=g).float()   # vectorised reductions, many ties
    yb = torch.randint(0, 10, (4, 1000), generator=g)
    assert torch.equal(_wrong(big, yb), big.argmax(1) != yb)


@pytest.mark.parametrize("n_members", [1, 3])
def test_evaluation_is_the_same_in_any_chunks(n_members):
    """The joint (training + test rows) evaluation gives each member's own losses and error
    rates whether it runs in one pass (the default chunk for this size) or in chunks of 7
    rows, one of which straddles the training/test boundary; the test probabilities too."""
    from overparam.engine.stackrun import StackRun
    data = _toy()
    members = [Member(5, 2, seed=s) for s in range(n_members)]
    run = StackRun(members, [data], TrainConfig(epochs=1), "cpu")
    (whole, probs_whole), (cut, probs_cut) = run.evaluate(), run.evaluate(chunk=7)
    for a, b in zip(whole, cut):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(probs_whole, probs_cut)
    for i, m in enumerate(members):   # each member alone, as a module
        net = make_model(m, data.d, data.n_classes)
        with torch.no_grad():
            for X, y, loss, err in ((data.X_train, data.y_train, whole[0], whole[1]),
                                    (data.X_test, data.y_test, whole[2], whole[3])):
                out = net(X)
                assert loss[i] == pytest.approx(float(torch.nn.functional.cross_entropy(out, y)), rel=1e-5)
                assert err[i] == pytest.approx(float((out.argmax(1) != y).float().mean()))
