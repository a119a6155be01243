"""Chapter 7 experiments on a tiny config: shapes, controls, tables, claims, validation."""
import dataclasses

import matplotlib
import numpy as np
import pytest

from overparam import claims as C
from overparam import config
from overparam.chapters import lottery_tickets as K

matplotlib.use("Agg")

TINY = dataclasses.replace(K.PROFILES["smoke"], widths=(12, 8), steps=30, eval_every=10,
                           supermask_steps=30, rewind_steps=(0, 5), late_step=5,
                           small_widths=(6, 4))


@pytest.fixture(scope="module")
def res():
    return K.run_all(TINY, log=None)


def test_profiles_validate_and_resolve():
    assert set(K.PROFILES) == set(config.PROFILES)
    cfg = config.resolve_profile(K.PROFILES, "quick", rate=0.2, rounds=3)
    assert cfg.rate == 0.2 and cfg.rounds == 3
    full = K.PROFILES["full"]
    assert (1 - full.rate) ** full.rounds <= 0.025 and full.n_seeds >= 5


@pytest.mark.parametrize("bad,match", [
    ({"rate": 1.0}, "rate=1.0 is not allowed"), ({"rate": 0}, "rate=0 is not allowed"),
    ({"criteria": ("large_final", "random", "huge")}, "criteria='huge'"),
    ({"criteria": ("large_final", "movement")}, "must contain"),
    ({"n_seeds": 1}, "n_seeds"), ({"late_step": 600}, "late_step=600 is not allowed"),
    ({"rewind_steps": (0, 400)}, "rewind_steps=\\(0, 400\\) is not allowed"),
    ({"dataset": "cifar"}, "dataset='cifar'"),
])
def test_bad_values_give_one_clear_error(bad, match):
    with pytest.raises(ValueError, match=match):
        config.resolve_profile(K.PROFILES, "quick", **bad)


def test_imp_stack_groups_and_densities(res):
    S, R = TINY.n_seeds, TINY.rounds
    assert set(res.groups) == {*TINY.criteria, "late"}
    assert all(len(v) == S for v in res.groups.values())
    assert res.imp.density.shape == (R + 1, S * (len(TINY.criteria) + 1))
    # every group of one round has the same density (same rate, same layer sizes)
    assert np.allclose(res.imp.density[R], res.imp.density[R, 0])
    assert res.reinit["test_acc"].shape == (R, S)
    assert res.long["ticket"].shape == (TINY.long_rounds, S)
    # a seed's criteria share the dense start: round 0 is identical across groups
    a = res.imp.test_acc[0, res.groups["large_final"]]
    b = res.imp.test_acc[0, res.groups["random"]]
    assert np.allclose(a, b)


def test_supermask_table_has_zhou_rows_and_ranks(res):
    df = K.supermask_table(res)
    assert list(df.index[:5]) == list(K.ZHOU_MNIST_FC)
    assert sorted(df["their rank"][:5]) == [1, 2, 3, 4, 5]
    assert list(df["Zhou et al. MNIST FC (%)"][:5]) == list(K.ZHOU_MNIST_FC.values())
    ours = [np.mean(res.supermask[k]) for k in K.ZHOU_MNIST_FC]
    assert K.same_order(res) == (list(np.argsort(ours)) == [0, 1, 2, 3, 4])


def test_instability_and_movement_shapes(res):
    assert res.instab["dense"].shape == (len(TINY.rewind_steps), TINY.n_seeds)
    assert np.all(res.instab["dense"] >= 0)
    assert res.movement["in_ticket"].shape == (TINY.rounds, TINY.n_seeds)


def test_claims_are_computed_from_the_measurements(res):
    rows = K.build_claims(res, "smoke", 0)
    assert len(rows) >= 10
    assert all(r.verdict in C.VERDICTS for r in rows)
    first = rows[0]  # ticket - re-init at the sparsest round, recomputed here
    R, g = TINY.rounds, res.groups["large_final"]
    diff = res.imp.test_acc[R, g] - res.reinit["test_acc"][R - 1]
    assert first.measured == pytest.approx(diff.mean())
    est = K.mean_ci(diff)
    assert first.verdict == C.judge_above(est, 0)


def test_bigger_nets_compared_at_one_common_count(res):
    c, big, small = K.bigger_at_equal_weights(res)
    b = res.bigger
    assert c == pytest.approx(max(b["count_big"].min(), b["count_small"].min()))
    assert big.shape == small.shape == (TINY.n_seeds,)
    assert b["small_widths"] == (6, 4) and b["big_widths"] == (12, 8)
    assert b["acc_small"].min() <= small.min() and small.max() <= b["acc_small"].max()
    assert res.transfer["adam_ticket_sgd"].shape == (TINY.rounds, TINY.n_seeds)


def test_figures_render(res):
    for fig in (K.plot_tickets(res), K.plot_movement(res), K.plot_instability(res),
                K.plot_bigger(res), K.plot_transfer(res),
                K.plot_groups(res, {"t": "large_final", "late": "late"}, "x")):
        assert fig.axes
    assert len(K.summary_table(res)) == TINY.rounds + 1


def test_cpu_threads_is_restored_and_ignored_off_cpu():
    import torch
    original = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with K.cpu_threads(1, "cpu"):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with K.cpu_threads(1, "meta"):
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(original)
