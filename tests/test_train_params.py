"""train_ensemble(keep_params=True): the trained parameters of every member come back,
equal between the batched stack and the per-model loop, and they reproduce the member's
recorded test error."""
import numpy as np
import torch

from overparam.engine.sweep import Member, TrainConfig, TrainData, init_params, train_ensemble


def _toy(n=60, d=8, n_test=30):
    g = torch.Generator().manual_seed(0)
    X, Xt = torch.randn(n, d, generator=g), torch.randn(n_test, d, generator=g)
    return TrainData(X, (X[:, 0] > 0).long() + (X[:, 1] > 0).long(),
                     Xt, (Xt[:, 0] > 0).long() + (Xt[:, 1] > 0).long(), n_classes=3, key="toy")


def _test_err(p, data):
    h = torch.relu(data.X_test @ p[0] + p[1])
    return float(((h @ p[2] + p[3]).argmax(1) != data.y_test).float().mean())


def test_params_batched_equal_loop_and_reproduce_errors():
    data = _toy()
    members = [Member(3, seed=0), Member(5, seed=1)]
    cfg = TrainConfig(epochs=5, lr=0.05, batch_size=20, eval_every=5)
    rb = train_ensemble(members, data, cfg, mode="batched", keep_params=True, log=None)
    rl = train_ensemble(members, data, cfg, mode="loop", keep_params=True, log=None)
    for m, pb, pl in zip(members, rb.params, rl.params):
        shapes = [tuple(t.shape) for t in init_params(m, data.d, 3)]
        assert [tuple(t.shape) for t in pb] == shapes == [tuple(t.shape) for t in pl]
        for a, b in zip(pb, pl):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
        # training moved the parameters away from the initialisation
        assert not torch.allclose(pb[0], init_params(m, data.d, 3)[0])
    errs = [_test_err(p, data) for p in rb.params]
    np.testing.assert_allclose(errs, rb.final("test_err"), atol=1e-6)
    assert rb.select([1]).params[0][0].shape == (data.d, 5)


def test_params_not_kept_by_default():
    r = train_ensemble([Member(2)], _toy(), TrainConfig(epochs=1), log=None)
    assert r.params is None
