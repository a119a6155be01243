"""Chapter 1 mechanisms: batched training equals per-model training, hand-set nets, analyses."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import norm
from sklearn.metrics import f1_score

from overparam import config
from overparam.chapters import exploration as E
from overparam.data import make_and_task, make_pattern_1101
from overparam.models import StackedCNN, StackedMLP1
from overparam.engine.optim import StackedOptimizer


def _replay(batches):
    it = iter(batches)
    return lambda: next(it)


@pytest.mark.parametrize("random_conv", [False, True])
def test_batched_cnn_training_equals_separate_trainings(random_conv):
    g = torch.Generator().manual_seed(0)
    sizes = [1, 3, 2]
    model = StackedCNN(sizes, random_conv=random_conv, generator=g)
    members = [model.member(i) for i in range(len(sizes))]
    batches = [make_pattern_1101(1, generator=g, batch_shape=(3,)) for _ in range(15)]
    opt = StackedOptimizer(model.trained_parameters(), "momentum", lr=0.1, momentum=0.5)
    E.train_online(model, _replay(batches), 15, opt)
    for i, net in enumerate(members):
        ref = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1, momentum=0.5)
        for X, y in batches:
            loss = F.binary_cross_entropy_with_logits(net(X[i]), y[i])
            ref.zero_grad()
            loss.backward()
            ref.step()
        trained = model.member(i)
        for a, b in zip(trained.parameters(), net.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_batched_and_training_with_skip_rule_equals_separate_trainings():
    g = torch.Generator().manual_seed(1)
    model = StackedMLP1([1, 4, 2], generator=g)
    members = [model.member(i) for i in range(3)]
    batches = [make_and_task(16, generator=g, batch_shape=(3,)) for _ in range(30)]
    opt = StackedOptimizer(model.trained_parameters(), "sgd", lr=0.1)
    taken = E.train_online(model, _replay(batches), 30, opt, skip=E.and_skip_rule)
    for i, net in enumerate(members):
        ref = torch.optim.SGD(net.parameters(), lr=0.1)
        n = 0
        for X, y in batches:
            if y[i].sum() < 4:
                continue
            n += 1
            ref.zero_grad()
            F.binary_cross_entropy_with_logits(net(X[i]), y[i]).backward()
            ref.step()
        assert taken[i] == n < 30  # the rule did skip some batches
        for a, b in zip(model.member(i).parameters(), net.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_padded_member_trains_like_the_small_net():
    g1 = torch.Generator().manual_seed(5)
    g2 = torch.Generator().manual_seed(5)
    small = StackedMLP1([3], generator=g1)
    padded = StackedMLP1([3, 9], generator=g2)
    # give the padded stack's member 0 the small net's initial values (units 3..8 stay 0)
    for k in ("W1", "b1", "w2"):
        padded.params[k][0, :3] = small.params[k][0]
    padded.params["b2"][0] = small.params["b2"][0]
    g = torch.Generator().manual_seed(6)
    batches = [make_and_task(16, generator=g, batch_shape=(2,)) for _ in range(20)]
    for model in (small, padded):
        opt = StackedOptimizer(model.trained_parameters(), "adam", lr=0.05)
        E.train_online(model, _replay([(X[:model.n_models], y[:model.n_models]) for X, y in batches]), 20, opt)
    assert torch.all(padded.params["W1"][0, 3:] == 0) and torch.all(padded.params["w2"][0, 3:] == 0)
    torch.testing.assert_close(padded.params["W1"][0, :3], small.params["W1"][0])
    torch.testing.assert_close(padded.params["w2"][0, :3], small.params["w2"][0])


def test_macro_f1_matches_sklearn():
    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.3
    pred = rng.random((4, 300)) < 0.4
    pred[3] = False  # a member that never says 1
    ours = E.macro_f1(torch.tensor(pred), torch.tensor(y)).numpy()
    ref = [f1_score(y, p, average="macro", zero_division=0) for p in pred]
    np.testing.assert_allclose(ours, ref, rtol=1e-6)


def test_handset_1101_kernel_is_perfect():
    assert E.handset_1101_accuracy(500) == 1.0


def test_handset_and_net_scores_its_closed_form():
    # predicted positive iff relu(-x1) + relu(-x2) < 0.1: false positives lie in the bands
    # -0.1 < x1 < 0 (x2 > 0), -0.1 < x2 < 0 (x1 > 0), and the corner where both are small.
    band = norm.cdf(0) - norm.cdf(-0.1)
    corner = sum(norm.pdf(-t) * (norm.cdf(0) - norm.cdf(-(0.1 - t))) * 1e-4
                 for t in np.arange(0, 0.1, 1e-4))
    fp, tp = 2 * band * 0.5 + corner, 0.25
    tn = 0.75 - fp
    f1 = (2 * tp / (2 * tp + fp) + 2 * tn / (2 * tn + fp)) / 2
    measured = E.handset_and_f1(10, 20000).mean()
    assert abs(measured - f1) < 0.003
    assert measured < 0.97  # below the 0.98 the source's figure draws


def test_more_draws_prediction():
    res = E.SweepResult("naive", np.array([1] * 4 + [2] * 4), np.zeros(8),
                        np.zeros(8), np.array([1, 1, 0, 0, 1, 1, 1, 0], bool))
    rows = {r["size"]: r for r in E.more_draws(res, n_boot=200)}
    assert rows[1]["predicted"] == pytest.approx(0.5) and rows[1]["diff"] == pytest.approx(0)
    assert rows[2]["predicted"] == pytest.approx(0.75) and rows[2]["measured"] == pytest.approx(0.75)


def test_more_filters_find_the_pattern_more_often():
    res = E.sweep_cnn("naive", [1, 4], 150, steps=100, n_val_pairs=200, seed=0)
    rates = {s: res.success[res.sizes == s].mean() for s in (1, 4)}
    assert rates[4] > rates[1] + 0.15


def test_kernel_analysis_counts_useful_filters():
    res = E.sweep_cnn("naive", [2], 2, steps=1, n_val_pairs=50, seed=0)
    res.model.params["kernels"][0] = torch.tensor([[1.0, 1, 0, 1], [0.0, 0, 0, 0]])
    res.model.params["w"][0] = torch.tensor([1.0, 1.0])
    k = E.kernel_analysis(res, 50, 0)
    assert k["n_useful"][0] == 1 and k["best_cos"][0] == pytest.approx(1.0)


def test_profile_validation():
    with pytest.raises(ValueError, match="n_runs"):
        config.resolve_profile(E.PROFILES, "smoke", n_runs=-5)
    with pytest.raises(ValueError, match="profile='huge'"):
        config.resolve_profile(E.PROFILES, "huge")
    with pytest.raises(ValueError, match="kind="):
        E.sweep_cnn("wide", [1], 2)


def test_smoke_chapter_produces_every_claim():
    res = E.run_chapter(E.PROFILES["smoke"], seed=0)
    claims = E.chapter_claims(res, "smoke", 0)
    assert len(claims) == 8
    assert all(c.ci_low <= c.measured <= c.ci_high for c in claims)
