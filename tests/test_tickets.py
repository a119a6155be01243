"""Chapter 7 experiments on a tiny config: shapes, controls, tables, claims, validation."""
import dataclasses

import matplotlib
import numpy as np
import pytest

from overparam import claims as C
from overparam import config
from overparam.chapters import lottery_tickets as K
from overparam.chapters.lottery_tickets import verdicts as KV

matplotlib.use("Agg")

TINY = dataclasses.replace(K.PROFILES["smoke"], widths=(12, 8), steps=30, eval_every=10,
                           supermask_steps=30, rewind_steps=(0, 5), late_step=5,
                           small_widths=(6, 4), target_width=4, dwr=True)
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
    assert res.controls.test_acc.shape == (TINY.reinit_rounds, S) and res.controls.rounds[-1] == R
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
    assert res.transfer.data_ticket.shape == res.transfer.data_random.shape == (TINY.transfer_rounds, TINY.n_seeds)


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
    a, b = meas["reinit"].value
    assert np.array_equal(a, res.stage.imp.test_acc[R, g]) and np.array_equal(b, res.controls.test_acc[-1])
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


# --------------------------------------------------------------------------- rules on the chapter's path

def test_source_thresholds_are_the_slides_numbers():
    """He 2021 slides, sparsity part, "Deconstructing lottery tickets": Zhou et al.'s table,
    row MNIST FC (%): mask ⊙ init 79.3, mask ⊙ S.C. 86.3, learned mask ⊙ init 95.3,
    learned mask ⊙ S.C. 96.4, trained weights 97.7."""
    assert KV.ZHOU_GAP == pytest.approx(0.977 - 0.953)
    assert K.RULES["supermask"].judge.threshold == pytest.approx(0.024)
    assert K.ZHOU_MNIST_FC == {"mask ⊙ init": 79.3, "mask ⊙ signed constant": 86.3, "learned mask ⊙ init": 95.3,
                               "learned mask ⊙ signed constant": 96.4, "trained weights": 97.7}
    assert KV.EFFECT["chance"] == pytest.approx(0.793 - 0.30)
    assert KV.EFFECT["signed_constant"] == pytest.approx(0.863 - 0.793)
    assert KV.EFFECT["supermask"] == pytest.approx(0.024 - (0.977 - 0.964))
    assert K.RULES["chance"].judge.threshold == pytest.approx(0.30)      # 3 x chance, ten classes


def test_speed_is_simulated_on_the_measurement_grid_with_censoring():
    cfg = K.PROFILES["quick"]
    it = KV.crossing_iterations(np.array([0.5, 30.0, 50.0, 399.0, 401.0, 5000.0]), cfg)
    assert list(it) == [25, 50, 50, 400, 400, 400]          # first evaluation at or after; censored at 400
    rng = np.random.default_rng(0)
    reinit, ticket = K.RULES["faster"].sim.effect(rng, 2000, cfg)
    assert set(np.unique(np.r_[reinit, ticket])) <= set(range(0, 401, 25))
    assert (reinit == cfg.steps).sum() > 5                    # the censoring is exercised


def _noise(n, k):
    return 0.9 + np.linspace(-0.004, 0.004, n) * (1 + 0.3 * k) + 0.001 * ((np.arange(n) * (k + 3)) % 5)


def _put(res, path, idx, values):
    arr = res
    for part in path.split("."):
        arr = getattr(arr, part)
    arr[idx] = values if np.ndim(arr[idx]) <= 1 else np.broadcast_to(values, arr[idx].shape)


def _arms(res):
    """Per rule key: (the arm that is higher when the claim holds, the other arm), as
    (dotted path in Results, index) - written from the claims, not from measure()."""
    R, g = TINY.rounds, res.stage.groups
    s = slice(None)
    return {
        "lth": (("matching.ticket_acc", s), ("matching.dense_acc", s)),
        "reinit": (("stage.imp.test_acc", (R, g["large_final"])), ("controls.test_acc", (-1,))),
        "long": (("controls.long_ticket", (-1,)), ("controls.long_reinit", (-1,))),
        "random": (("stage.imp.test_acc", (R, g["large_final"])), ("stage.imp.test_acc", (R, g["random"]))),
        "late": (("stage.imp.test_acc", (R, g["late"])), ("stage.imp.test_acc", (R, g["large_final"]))),
        "bigger": (("bigger.acc_big", (s, s)), ("bigger.acc_small", (s, s))),
        "near_init": (("bigger.drift_small", s), ("bigger.drift_big", s)),
        "magnitude_increase": (("stage.imp.test_acc", (R, g["magnitude_increase"])),
                               ("stage.imp.test_acc", (R, g["large_final"]))),
        "signed_constant": (("supermasks.by_round_sc", (s, s)), ("supermasks.by_round_init", (s, s))),
        "supermask": (("supermasks.learned_init", s), ("supermasks.trained", s)),
        "dwr": (("supermasks.learned_dwr", s), ("supermasks.learned_init", s)),
        "malach": (("malach.mask_acc", s), ("malach.target_acc", s)),
        "snip": (("stage.imp.test_acc", (R, g["large_final"])), ("pai.snip", (-1,))),
        "optimizers": (("transfer.adam_ticket_sgd", (-1,)), ("transfer.random_sgd", (-1,))),
        "datasets": (("transfer.data_ticket", (-1,)), ("transfer.data_random", (-1,))),
        "stable_later": (("instability.ticket", (0,)), ("instability.ticket", (-1,))),
    }


def _adequate(r):
    """Every arm trained to its criterion (the footing of the CONVERGED rules holds)."""
    r.controls.long_plateau[...] = True
    r.bigger.train_small[...] = 1.0
    r.bigger.drift_train_small[...] = r.bigger.drift_train_big[...] = 1.0
    r.stage.imp.train_acc[0] = 1.0
    return r


def _verdict(res, key):
    return K.RULES.table({key: K.measure(res)[key]}, RUN).claims[0].verdict


def test_every_paired_rule_reads_the_right_arm(res):
    """Raise the arm the claim favours: reproduced; swap the two arms: not reproduced. A rule
    wired to the wrong field, or reading its arms the wrong way round, fails one of the two."""
    import copy
    n = TINY.n_seeds
    arms = _arms(res)
    paired = [r.key for r in K.RULES if r.judge.estimate in (C.paired, KV.est_picked_diff)]
    assert set(paired) - {"faster"} == set(arms)
    for key, (hi, lo) in arms.items():
        seen = []
        for up, down in ((hi, lo), (lo, hi)):
            r = _adequate(copy.deepcopy(res))
            _put(r, *down, _noise(n, 1) - 0.4)
            _put(r, *up, _noise(n, 2))
            seen.append(_verdict(r, key))
        assert seen == [C.REPRODUCED, C.NOT_REPRODUCED], (key, seen)


def test_speed_rule_reads_the_reinit_minus_the_ticket(res):
    import copy
    R, g = TINY.rounds, res.stage.groups["large_final"]
    steps = res.stage.imp.steps
    seen = []
    for ticket_fast in (True, False):
        r = copy.deepcopy(res)
        cross = np.array([1, 1, 2, 1]) if ticket_fast else np.array([len(steps) - 1] * 4)
        r.stage.imp.val_curves[R][g] = np.where(np.arange(len(steps))[None, :] >= cross[:, None], 0.0, 1.0)
        r.controls.speed[-1] = [steps[-1]] * 4 if ticket_fast else [0, steps[1], 0, 0]
        seen.append(_verdict(r, "faster"))
    assert seen == [C.REPRODUCED, C.NOT_REPRODUCED]


def test_single_value_rules_pass_and_fail_through_measure(res):
    import copy
    n, s = TINY.n_seeds, slice(None)
    cases = {"movement": ("movement.matched", (-1,), 1.0), "chance": ("supermasks.by_round_init", (s, s), 0.30),
             "stable_init": ("instability.dense", (0,), 0.02)}
    for key, (path, idx, t) in cases.items():
        seen = []
        for sign in (1, -1):
            r = copy.deepcopy(res)
            _put(r, path, idx, t * (1 + sign * 0.3 + 0.02 * np.linspace(-1, 1, n)))
            seen.append(_verdict(r, key))
        want = [C.REPRODUCED, C.NOT_REPRODUCED] if K.RULES[key].judge.__class__ is not C.Below \
            else [C.NOT_REPRODUCED, C.REPRODUCED]
        assert seen == want, (key, seen)


def test_every_rule_can_pass_and_fail_on_its_simulated_shape():
    cfg = K.PROFILES["quick"]
    for rule in K.RULES.calibrated:
        rng = np.random.default_rng(1)
        n = K.RULES.replicates(cfg)
        got = {rule.judge(rule.sim.effect(rng, n, cfg)).verdict for _ in range(200)}
        got |= {rule.judge(rule.sim.against(rng, n, cfg)).verdict for _ in range(200)}
        assert {C.REPRODUCED, C.NOT_REPRODUCED} <= got, (rule.key, got)


def test_near_init_drift_is_relative_per_unit():
    import torch
    p0 = [torch.ones(2, 3, 4), torch.zeros(2, 4)]
    pf = [torch.ones(2, 3, 4) * 1.5, torch.zeros(2, 4)]
    np.testing.assert_allclose(K.unit_drift(p0, pf), [0.5, 0.5])


def test_an_under_trained_arm_makes_a_converged_rule_inconclusive(res):
    """'long' needs both long-trained arms' validation loss on a plateau: fed a re-init whose
    validation loss still fell at the end, the row says under-trained and names the arm; fed
    adequate arms, it judges the interval."""
    import copy
    n = TINY.n_seeds
    r = _adequate(copy.deepcopy(res))
    _put(r, "controls.long_ticket", (-1,), _noise(n, 2))
    _put(r, "controls.long_reinit", (-1,), _noise(n, 1) - 0.4)
    ok = K.RULES.table({"long": K.measure(r)["long"]}, RUN).claims[0]
    assert ok.verdict == C.REPRODUCED and not ok.why
    r.controls.long_plateau[1, -1] = False                         # re-init still improving at the end
    bad = K.RULES.table({"long": K.measure(r)["long"]}, RUN).claims[0]
    assert bad.verdict == C.INCONCLUSIVE and bad.why.startswith(C.UNDER_TRAINED) and "long re-init" in bad.why
    # same-steps rules: a re-init trained for fewer iterations than the ticket
    r.controls.steps = r.controls.steps // 2
    _put(r, "stage.imp.test_acc", (TINY.rounds, r.stage.groups["large_final"]), _noise(n, 2))
    _put(r, "controls.test_acc", (-1,), _noise(n, 1) - 0.4)
    row = K.RULES.table({"reinit": K.measure(r)["reinit"]}, RUN).claims[0]
    assert row.verdict == C.INCONCLUSIVE and "same steps" in row.why


def test_dwr_rescales_each_layer_by_its_kept_share_and_is_switched_per_member():
    """Zhou et al.'s dynamic weight rescaling: a layer's masked weights times (weights in the
    layer / ones in its mask), per member; members without the flag are plain masks."""
    import torch
    from overparam import pruning as P
    m = torch.zeros(2, 4, 5)
    m[0, :, :1] = 1                                  # member 0 keeps 4 of 20: factor 5
    m[1] = 1                                         # member 1 keeps all: factor 1
    assert P.dwr_scale(m).flatten().tolist() == [5.0, 1.0]
    assert P.dwr_scale(torch.zeros(1, 3, 3)).item() == 9.0   # empty mask: as if one weight were kept
    arch = P.Arch("mlp", (6,), 64, 10)
    data = K.load_data(TINY)
    from overparam import models
    frozen = P.he_scale(models.init_stack(arch, [0, 0]).params)
    cfg = P.StepConfig(20, 0.1, "adam", 0.9, 30, 20)
    run = P.train_supermask(arch, frozen, data, cfg, order_seeds=[0, 0], dwr=[False, True])
    for j in (0, 2):                                 # weight tensors: effective = frozen x mask (x scale)
        mask = run.masks[j // 2]
        eff = run.run.params[j]
        np.testing.assert_allclose(eff[0].numpy(), (frozen[j][0] * mask[0]).numpy(), rtol=1e-6)
        scale = mask[1].numel() / mask[1].sum().item()
        np.testing.assert_allclose(eff[1].numpy(), (frozen[j][1] * mask[1] * scale).numpy(), rtol=1e-5)
    assert not np.allclose(run.run.val_loss[0], run.run.val_loss[1])   # the rescaling changes training
    with pytest.raises(ValueError, match="dwr has 3 flags"):
        P.train_supermask(arch, frozen, data, cfg, dwr=[True, True, False])


def test_dwr_row_is_switched_off_without_the_arm(res):
    import copy
    r = copy.deepcopy(res)
    r.supermasks.learned_dwr = None
    assert "dwr" not in K.measure(r) and "dwr" in K.measure(res)


def test_near_init_reads_the_longer_dense_runs_when_drift_factor_is_set():
    """drift_factor > 1: both dense nets retrained that long from the IMP's inits; the row's
    arms are those runs (their steps and training accuracy), not the IMP's 'steps' runs."""
    cfg = dataclasses.replace(TINY, drift_factor=3)
    data = K.load_data(cfg)
    stage = K.run_imp(cfg, data)
    b = K.run_bigger(stage, data)
    assert b.drift_steps == 3 * cfg.steps and b.steps == cfg.steps
    assert b.drift_small.shape == b.drift_train_big.shape == (cfg.n_seeds,)
    plain = K.run_bigger(K.run_imp(TINY, data), data)
    assert plain.drift_steps == TINY.steps
    np.testing.assert_allclose(plain.drift_train_small, plain.train_small)
    assert np.all(b.drift_small > plain.drift_small)          # longer training moves the weights further


def test_imp_trains_a_shared_dense_start_once_and_gives_it_to_every_member():
    """Members with the same init seed and batch order share round 0: their dense runs (curves,
    parameters, snapshots) are the one run, equal to that seed's run trained alone."""
    from overparam import pruning as P
    data = K.load_data(TINY)
    cfg = TINY.step_config()
    net = TINY.net(data.d, data.n_classes)
    both = P.imp(net, [3, 3, 4], data, cfg, rate=0.5, rounds=1, criterion=["large_final", "random", "large_final"],
                 snapshot_steps=(5,))
    alone = P.imp(net, [3], data, cfg, rate=0.5, rounds=1, snapshot_steps=(5,))
    np.testing.assert_array_equal(both.curves[0][0], both.curves[0][1])
    np.testing.assert_allclose(both.curves[0][0], alone.curves[0][0])
    np.testing.assert_allclose(both.dense_final[0][1].numpy(), alone.dense_final[0][0].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(both.snapshots[5][0][1].numpy(), alone.snapshots[5][0][0].numpy())
    assert not np.allclose(both.curves[0][0], both.curves[0][2])        # another seed: its own run
    assert both.masks[1][0].shape[0] == 3 and not torch_equal(both.masks[1][0][0], both.masks[1][0][1])


def torch_equal(a, b) -> bool:
    return bool((a == b).all())
