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
                           small_widths=(6, 4), target_width=4)
RUN = config.Run("smoke", "cpu", 0)


@pytest.fixture(scope="module")
def res():
    return K.run_all(TINY)


def test_profiles_validate_and_resolve():
    assert set(K.PROFILES) == set(config.PROFILES)
    cfg = config.resolve_profile(K.PROFILES, "quick", rate=0.2, rounds=3)
    assert cfg.rate == 0.2 and cfg.rounds == 3
    full = K.PROFILES["full"]
    assert (1 - full.rate) ** full.rounds <= 0.025 and full.n_seeds >= 5


def test_match_round_is_fixed_by_the_design_not_the_data():
    q = K.PROFILES["quick"]            # rate 0.5: densities 50, 25, 12.5, 6.25, 3.1 %
    assert q.match_round() == 3
    f = K.PROFILES["full"]             # rate 0.2: 0.8^9 = 13.4 % is the closest to 13 %
    assert f.match_round() == 9


@pytest.mark.parametrize("bad,match", [
    ({"rate": 1.0}, "rate=1.0 is not allowed"), ({"rate": 0}, "rate=0 is not allowed"),
    ({"criteria": ("large_final", "random", "huge")}, "criteria='huge'"),
    ({"criteria": ("large_final", "movement")}, "must contain"),
    ({"n_seeds": 2}, "n_seeds"), ({"late_step": 600}, "late_step=600 is not allowed"),
    ({"rewind_steps": (0, 400)}, "rewind_steps=\\(0, 400\\) is not allowed"),
    ({"dataset": "cifar"}, "dataset='cifar'"), ({"match_density": 1.5}, "match_density"),
])
def test_bad_values_give_one_clear_error(bad, match):
    with pytest.raises(ValueError, match=match):
        config.resolve_profile(K.PROFILES, "quick", **bad)


def test_imp_stack_groups_and_densities(res):
    S, R = TINY.n_seeds, TINY.rounds
    st = res.stage
    assert set(st.groups) == {*TINY.criteria, "late"}
    assert all(len(v) == S for v in st.groups.values())
    assert st.imp.density.shape == (R + 1, S * (len(TINY.criteria) + 1))
    # every group of one round has the same density (same rate, same layer sizes)
    assert np.allclose(st.imp.density[R], st.imp.density[R, 0])
    assert res.controls.test_acc.shape == (R, S)
    assert res.controls.long_ticket.shape == (TINY.long_rounds, S)
    # a seed's criteria share the dense start: round 0 is identical across groups
    a = st.imp.test_acc[0, st.groups["large_final"]]
    b = st.imp.test_acc[0, st.groups["random"]]
    assert np.allclose(a, b)


def test_matching_reads_both_at_the_dense_early_stopping_iteration(res):
    m, st = res.matching, res.stage
    g = st.groups["large_final"]
    assert m.round == TINY.match_round()
    for s in range(TINY.n_seeds):
        t = list(st.imp.steps).index(m.dense_step[s])
        assert m.dense_acc[s] == pytest.approx(1 - st.imp.curves[0][g[s], t])
        assert m.ticket_acc[s] == pytest.approx(1 - st.imp.curves[m.round][g[s], t])
    # the dense accuracy there is the early-stopping test accuracy of round 0
    assert np.allclose(m.dense_acc, st.imp.test_acc_early[0, g])


def test_supermask_table_has_zhou_rows_and_ranks(res):
    sm = res.supermasks
    df = K.supermask_table(sm, K.pick_on_other_seeds(sm.by_round_init), K.pick_on_other_seeds(sm.by_round_sc))
    assert list(df.index[:5]) == list(K.ZHOU_MNIST_FC)
    assert sorted(df["their rank"][:5]) == [1, 2, 3, 4, 5]
    assert list(df["Zhou et al. MNIST FC (%)"][:5]) == list(K.ZHOU_MNIST_FC.values())
    assert sm.by_round_init.shape == (TINY.rounds, TINY.n_seeds)


def test_pick_on_other_seeds_never_uses_the_held_out_seed():
    c = np.array([[0.5, 0.5, 0.5, 0.5, 0.9],     # round 0 is best for seed 4 alone
                  [0.8, 0.8, 0.8, 0.8, 0.1]])    # round 1 is best on the mean of the others
    out = K.pick_on_other_seeds(c)
    assert out[4] == 0.1                         # seed 4 is read at round 1, chosen without it
    assert list(out[:4]) == [0.8, 0.8, 0.8, 0.8]


def test_instability_and_movement_shapes(res):
    assert res.instability.dense.shape == (len(TINY.rewind_steps), TINY.n_seeds)
    assert res.movement.raw.shape == res.movement.matched.shape == (TINY.rounds, TINY.n_seeds)
    assert res.malach.target_acc.shape == (TINY.n_seeds,)
    assert res.transfer.data_ticket.shape == res.transfer.data_random.shape == (TINY.rounds, TINY.n_seeds)


def test_every_claim_row_is_recomputed_from_the_measurements(res):
    table = K.claims(res, RUN)
    meas = K.measure(res)
    rules = [r for r in K.RULES if r.key in meas]
    assert len(table.claims) == len(rules) == len(K.RULES)
    for row, rule in zip(table.claims, rules):
        j = K.RULES.judge(rule, meas[rule.key])
        assert row.key == rule.key and row.claim == rule.claim
        assert row.measured == pytest.approx(j.estimate.mean, nan_ok=True)
        assert row.verdict == j.verdict or (row.verdict == C.INCONCLUSIVE and row.why)
    R, g = TINY.rounds, res.stage.groups["large_final"]
    a, b = meas["reinit"]
    assert np.array_equal(a, res.stage.imp.test_acc[R, g]) and np.array_equal(b, res.controls.test_acc[R - 1])
    assert table.not_tested and all(reason for _, reason in table.not_tested)


def test_supermask_rule_uses_the_source_gap():
    rule = K.RULES["supermask"]
    assert rule.judge.threshold == pytest.approx(0.024)
    n = 5
    close = (np.full(n, 0.97) + [0.001, -0.001, 0, 0.002, -0.002], np.full(n, 0.96))
    far = (np.full(n, 0.97) + [0.001, -0.001, 0, 0.002, -0.002], np.full(n, 0.93))
    assert rule.judge(close).verdict == C.REPRODUCED
    assert rule.judge(far).verdict == C.NOT_REPRODUCED


def test_bigger_nets_compared_at_one_common_count(res):
    b = res.bigger
    c, big, small = b.at_equal_weights()
    assert c == pytest.approx(max(b.count_big.min(), b.count_small.min()))
    assert big.shape == small.shape == (TINY.n_seeds,)
    assert b.small_widths == (6, 4) and b.big_widths == (12, 8)
    assert b.acc_small.min() <= small.min() and small.max() <= b.acc_small.max()


def test_figures_render(res):
    st = res.stage
    for fig in (K.plot_tickets(st, res.controls), K.plot_movement(st, res.movement),
                K.plot_instability(res.instability), K.plot_bigger(res.bigger), K.plot_transfer(res.transfer),
                K.plot_groups(st, {"t": "large_final", "late": "late"}, "x")):
        assert fig.axes
    assert len(K.summary_table(st, res.controls)) == TINY.rounds + 1
