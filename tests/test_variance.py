"""Chapter 4 experiment logic: profiles validate, the size read-outs (plateau, peak,
"oversized", curvature of the trends) are right on hand-made curves, the rules decide
both ways, the conjecture's noise data set makes the net exact, and a tiny end-to-end
sweep yields a full claims table."""
import dataclasses

import numpy as np
import pytest

from overparam import claims as C
from overparam import config
from overparam.chapters import variance_metrics as V
from overparam.stats import Estimate

K = __import__("overparam.chapters.variance_metrics.verdicts", fromlist=["x"])


def test_profiles_resolve_and_validate():
    for p in V.PROFILES:
        cfg = config.resolve_profile(V.PROFILES, p)
        assert cfg.n_seeds >= 3 and len(cfg.widths) >= 3
    assert V.PROFILES["full"].n_seeds >= 11 and V.PROFILES["full"].widths[-1] == 2896
    with pytest.raises(ValueError, match="widths"):
        config.resolve_profile(V.PROFILES, "smoke", widths=[8, 4, 16])
    with pytest.raises(ValueError, match="widths"):
        config.resolve_profile(V.PROFILES, "smoke", widths=[2, 4, 16])
    with pytest.raises(ValueError, match="n_seeds"):
        config.resolve_profile(V.PROFILES, "smoke", n_seeds=2)
    with pytest.raises(ValueError, match="tasks"):
        config.resolve_profile(V.PROFILES, "smoke", tasks=["easy", "cifar"])
    with pytest.raises(ValueError, match="mnist_path"):
        config.resolve_profile(V.PROFILES, "smoke", tasks=["easy", "hard", "mnist"])
    with pytest.raises(ValueError, match="double_task"):
        config.resolve_profile(V.PROFILES, "smoke", double_task="digits", tasks=["easy", "hard"])
    with pytest.raises(ValueError, match="heldout_folds"):
        config.resolve_profile(V.PROFILES, "smoke", heldout_folds=1)


def test_sqrt2_grid_is_the_journals():
    g = V.sqrt2_grid(64, 2896)
    assert g[:4] == (64, 91, 128, 181) and g[-1] == 2896 and len(g) == 12


def test_size_readouts_on_hand_made_curves():
    widths = np.array([8, 16, 32, 64, 128])
    acc = np.array([[0.5, 0.7, 0.85, 0.9, 0.895],
                    [0.5, 0.89, 0.9, 0.9, 0.9]])
    np.testing.assert_array_equal(V.plateau_width(acc, widths, 0.01), [64, 16])
    lucky = np.array([[0.5, 0.9, 0.9, 0.9, 0.95], [0.5, 0.9, 0.9, 0.9, 0.85]])
    np.testing.assert_array_equal(V.plateau_width(lucky, widths, 0.01), [16, 16])
    np.testing.assert_array_equal(V.argmax_width(acc, widths), [64, 32])  # first maximum
    share = np.array([[0.1, 0.2, 0.6, 0.7, 0.8], [0.1, 0.1, 0.1, 0.2, 0.3]])
    np.testing.assert_allclose(V.oversized_width(share, widths), [32, 128 * np.sqrt(2)])
    np.testing.assert_allclose(V.slope_per_seed([0, 1, 2], [[1, 3, 5], [2, 2, 2]]), [2, 0])
    # leave-one-out plateau: seed 0's own curve (late plateau) does not pick its point
    acc3 = np.array([[0.5, 0.6, 0.7, 0.9, 0.9], [0.5, 0.9, 0.9, 0.9, 0.9], [0.5, 0.9, 0.9, 0.9, 0.9]])
    np.testing.assert_array_equal(V.loo_plateau_index(acc3, 0.01), [1, 3, 3])


def test_log_curvature_tells_a_logarithm_from_a_small_power_law():
    w = np.array([16, 32, 64, 128, 256, 512, 1024], float)
    logc = np.tile(10 + 5 * np.log(w), (3, 1))
    power = np.tile(3 * w**0.3, (3, 1))
    _, k_log = V.log_curvature(w, logc)
    _, k_pow = V.log_curvature(w, power)
    np.testing.assert_allclose(k_log, 0, atol=1e-9)
    np.testing.assert_allclose(k_pow, 0.3, atol=0.01)
    assert K.rule_log_growth((w, logc + 1e-3 * np.arange(3)[:, None])).verdict == C.REPRODUCED
    assert K.rule_log_growth((w, power * (1 + 1e-3 * np.arange(3)[:, None]))).verdict == C.NOT_REPRODUCED
    assert K.rule_log_growth((w, np.tile(-np.log(w), (3, 1)) + 1e-3 * np.arange(3)[:, None])).verdict \
        == C.NOT_REPRODUCED  # shrinks: no growth


def test_linear_curvature_tells_linear_from_quadratic():
    w = np.array([128, 256, 512, 1024], float)
    lin = np.tile(0.1 * w, (3, 1)) + np.arange(3)[:, None]
    quad = np.tile(1e-4 * w**2, (3, 1)) + np.arange(3)[:, None]
    s, rho = V.linear_curvature(w, lin)
    np.testing.assert_allclose(s, 0.1)
    np.testing.assert_allclose(rho, 0, atol=1e-9)
    assert V.linear_curvature(w, quad)[1].mean() > 0.3
    assert K.rule_dead_linear((w, lin)).verdict == C.REPRODUCED
    assert K.rule_dead_linear((w, quad)).verdict == C.NOT_REPRODUCED
    assert K.rule_dead_linear((w, np.zeros((3, 4)))).verdict == C.NOT_REPRODUCED  # no dead units at all


def test_judges_within_and_outside_are_strict_mirrors():
    assert K.judge_within(Estimate(0.1, -0.2, 0.4, 5), 1) == C.REPRODUCED
    assert K.judge_within(Estimate(1.0, 1.0, 1.0, 5), 1) == C.NOT_REPRODUCED  # edge is outside
    assert K.judge_within(Estimate(0.9, 0.5, 1.5, 5), 1) == C.INCONCLUSIVE
    assert K.judge_outside(Estimate(3.0, 2.5, 3.5, 5), 1) == C.REPRODUCED
    assert K.judge_outside(Estimate(0.1, -0.2, 0.4, 5), 1) == C.NOT_REPRODUCED
    assert K.judge_outside(Estimate(0.9, 0.5, 1.5, 5), 1) == C.INCONCLUSIVE
    assert K.judge_within(Estimate(0.0, np.nan, np.nan, 1), 1) == C.INCONCLUSIVE


def test_conjecture_scores_measure_the_move_toward_the_plateau_reading():
    # metric 0: M at 0 on d1, P at -2; on d2 M stays (score -1), moves all the way (+1)
    stay = np.array([[[0.0, 0.0, -2.0]]] * 4) + np.arange(4)[:, None, None] * 1e-3
    move = np.array([[[0.0, -2.0, -2.0]]] * 4) + np.arange(4)[:, None, None] * 1e-3
    np.testing.assert_allclose(V.conjecture_scores(stay)[:, 0], -1, atol=0.01)
    np.testing.assert_allclose(V.conjecture_scores(move)[:, 0], 1, atol=0.01)
    assert K.rule_conjecture(stay + np.random.default_rng(0).normal(0, 0.01, stay.shape)).verdict == C.REPRODUCED
    assert K.rule_conjecture(move + np.random.default_rng(0).normal(0, 0.01, move.shape)).verdict == C.NOT_REPRODUCED


def test_shapes_rule_reaches_every_verdict():
    n = np.array
    assert K.rule_shapes((n([0.1, -0.1, 0.0]), n([2.0, 2.5, 1.8]))).verdict == C.REPRODUCED
    assert K.rule_shapes((n([1.5, 1.6, 1.4]), n([0.1, 0.0, 0.2]))).verdict == C.NOT_REPRODUCED
    assert K.rule_shapes((n([1.5, 1.6, 1.4]), n([2.0, 2.5, 1.8]))).verdict == C.PARTLY


@pytest.fixture(scope="module")
def tiny():
    cfg = dataclasses.replace(V.PROFILES["smoke"], widths=(8, 12, 16), epochs=1,
                              tasks=("easy", "hard"), n_noise=100, double_task="hard")
    sweeps = V.sweep_tasks(cfg, seed=0)
    conj = V.conjecture_demo(sweeps["easy"], cfg, seed=0)
    doubled = V.sweep_doubled(cfg, seed=0)
    return cfg, V.VarianceResults(cfg, sweeps, conj, doubled)


def test_tiny_sweep_measures_every_member(tiny):
    cfg, res = tiny
    sw = res.sweeps["easy"]
    assert sw.acc.shape == sw.shapiro.shape == sw.share_gamma.shape == sw.shape.shape == (3, 3)
    assert sw.dead.shape == (3, 3, len(cfg.dead_tols))
    assert [len(v) for v in sw.variances[1]] == [8, 12, 16]
    assert np.all(sw.k99 <= sw.data.d) and np.all(sw.k99_post <= np.array([8, 12, 16]))
    p = sw.params[0][2]
    h = np.maximum(sw.data.X_test.numpy() @ p[0].numpy() + p[1].numpy(), 0)
    np.testing.assert_allclose(sw.variances[0][2], h.var(0), rtol=1e-4, atol=1e-7)
    # the doubled run starts from the same members: same seeds, twice the epochs
    assert res.doubled.epochs == 2 * cfg.epochs and res.doubled.task == cfg.double_task
    assert not np.allclose(res.doubled.params[0][0][0].numpy(), res.sweeps["hard"].params[0][0][0].numpy())


def test_conjecture_net_is_exact_on_its_noise_data(tiny):
    cfg, res = tiny
    cj = res.conjecture
    np.testing.assert_array_equal(cj.acc_d2, 1.0)
    assert np.all(cj.acc_d1 < 1.0)
    assert cj.readings.shape == (3, len(V.CONJECTURE_METRICS), 3)
    assert cj.table().shape == (1 + len(V.CONJECTURE_METRICS), 3)


def test_claims_table_has_every_row_with_a_consistent_interval(tiny):
    cfg, res = tiny
    table = V.claims(res, config.Run("smoke", __import__("torch").device("cpu"), 0))
    rows = table.claims
    # per task, dead units, dead majority, dead size (hard), pair, shapes, conjecture
    assert len(rows) == 9 * 2 + 2 + 2 + 1 + 5 + 1 + 1
    assert [r.key for r in rows] == [k for k in V.measure(res)]
    for r in rows:
        if r.verdict == C.EXACT:
            assert r.measured == r.ci_low == r.ci_high == res.sweeps["easy"].data.d
        elif np.isfinite(r.ci_low):
            assert r.ci_low <= r.measured <= r.ci_high, r.claim
        assert r.profile == "smoke" and r.rule
    assert len({r.claim for r in rows}) == len(rows)
    assert table.not_tested and all(reason for _, reason in table.not_tested)
    sizes = V.sizes_table(res.sweeps, cfg.plateau_tol)
    assert list(sizes.columns) == ["easy", "hard"] and "accuracy plateau" in sizes.index


def test_user_mnist_task_loads_through_the_chapter_config(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "m.npz", x_train=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
             y_train=np.arange(20) % 10, x_test=rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
             y_test=np.arange(10))
    cfg = config.resolve_profile(V.PROFILES, "smoke", tasks=["easy", "hard", "mnist"],
                                 mnist_path=str(tmp_path / "m.npz"))
    data = V.load_task("mnist", cfg)
    assert (data.n_train, data.d, len(data.X_test)) == (20, 784, 10)
    bad = dataclasses.replace(cfg, mnist_path=str(tmp_path / "missing.npz"))
    with pytest.raises(ValueError, match="missing.npz"):
        V.load_task("mnist", bad)


# --------------------------------------------------------------------------- every rule, both ways


@pytest.mark.parametrize("key", [r.key for r in V.RULES.calibrated if not r.key.endswith(("_mnist", "_fashion"))])
def test_every_rule_can_pass_and_can_fail_on_data_of_its_shape(key):
    """The rule's own effect / reversed-effect samplers at 60 seeds (the measurement's shape,
    decisive size): reproduced on the effect, not reproduced on the reversed effect."""
    rule = V.RULES[key]
    cfg = V.PROFILES["quick"]
    rng = np.random.default_rng(0)
    assert rule.judge(rule.sim.effect(rng, 60, cfg)).verdict == C.REPRODUCED
    assert rule.judge(rule.sim.against(rng, 60, cfg)).verdict == C.NOT_REPRODUCED


def test_noise_maps_of_the_curve_samplers_are_the_simulated_ones():
    """The calibration turns a measured per-seed spread of the exponent / of rho into noise
    per point with KAPPA_PER_NOISE and RHO_PER_UNIT: check them by simulation."""
    cfg, rng = V.PROFILES["quick"], np.random.default_rng(1)
    kappa = [V.log_curvature(*K._curves("power", 0.1, 0.01)(rng, 5, cfg))[1].std(ddof=1) for _ in range(1500)]
    rho = [V.linear_curvature(*K._dead(0.2, 1.0)(rng, 5, cfg))[1].std(ddof=1) for _ in range(1500)]
    assert np.mean(kappa) == pytest.approx(K.KAPPA_PER_NOISE * 0.01, rel=0.1)
    assert np.mean(rho) == pytest.approx(K.RHO_PER_UNIT, rel=0.1)


def test_dead_units_floor_and_the_dead_size_stand_in():
    w = np.array([128, 256, 512, 1024], float)
    none = K.rule_dead_linear((w, np.zeros((5, 4))))
    assert none.verdict == C.NOT_REPRODUCED and "no dead units" in none.why
    assert none.estimate.low == pytest.approx(0, abs=1e-12) and 0 < none.estimate.high < K.DEAD_FLOOR  # a bound
    linear = K.rule_dead_linear((w, np.tile(0.12 * w, (5, 1)) + np.arange(5)[:, None]))
    assert linear.verdict == C.REPRODUCED
    # the journal's oversized criterion: more dead than live units (share > 1/2)
    assert K.DEAD_OVERSIZED == 0.5
    np.testing.assert_allclose(V.oversized_width(np.array([[0.2, 0.5, 0.51, 0.9]]), w), [512])
    judge = V.RULES["dead_size_hard"].judge
    assert judge(np.array([-3.0, -2, -4, -3, -2])).verdict == C.REPRODUCED
    assert judge(np.array([2.5, 4.5, 0.5, 0.5, 3.5])).verdict == C.NOT_REPRODUCED


def test_dead_majority_needs_an_oversized_width_and_never_a_zero_width_interval():
    """'More dead than live units': share > 1/2 at the widest width, judged only when that
    width lies >= 1 octave beyond the accuracy plateau (of >= 80 % of the seeds)."""
    judge = V.RULES["dead_majority_easy"].judge
    over = np.full(5, np.log2(1024) - 3)
    many = judge((np.array([700, 650, 720, 680, 600]), 1024, over))
    assert many.verdict == C.REPRODUCED and many.estimate.mean > 0.5
    none = judge((np.zeros(5), 1024, over))      # MNIST-1D: no dead unit at all
    assert none.verdict == C.NOT_REPRODUCED and 0 == none.estimate.low < none.estimate.high < 0.01
    at_plateau = judge((np.zeros(5), 1024, np.array([10, 10, 9, 7, 7.0])))   # 2 of 5 seeds not oversized
    assert at_plateau.verdict == C.INCONCLUSIVE and "not oversized" in at_plateau.why
    assert K.OVERSIZED_SHARE == 0.8 and judge.edges == (0.5,)


def test_cross_task_rules_read_the_harder_task_as_the_harder_one(tiny):
    """Swapping the easy and the hard sweeps negates every paired measurement: the rules
    read the arms in the claim's order."""
    cfg, res = tiny
    swapped = V.VarianceResults(cfg, {"easy": res.sweeps["hard"], "hard": res.sweeps["easy"]})
    m, ms = V.measure(res), V.measure(swapped)
    keys = [k for k in m if k.endswith("_hard_easy")]
    assert len(keys) == 5
    for k in keys:
        a = getattr(m[k], "value", m[k])
        b = getattr(ms[k], "value", ms[k])
        np.testing.assert_allclose(a, -np.asarray(b), atol=1e-12)
        clear = np.array([2.0, 3.0, 2.5, 3.0, 2.0]) * (1 if V.RULES[k].judge.__class__.__name__ == "Above" else -1)
        assert V.RULES[k].judge(clear).verdict == C.REPRODUCED
        assert V.RULES[k].judge(-clear).verdict == C.NOT_REPRODUCED


# --------------------------------------------------------------------------- adequacy


def test_sweeps_record_a_training_state_and_an_unconverged_width_is_named(tiny):
    from overparam.adequacy import TrainState
    cfg, res = tiny
    sw = res.sweeps["easy"]
    st = sw.arm()
    assert len(st.met) == sw.acc.size and np.all(st.steps == st.steps[0]) and st.criterion
    assert len(sw.arm(sw.widths[1]).met) == cfg.n_seeds
    run = config.Run("smoke", __import__("torch").device("cpu"), 0)
    # every member converged: no size rule says under-trained
    for s in res.sweeps.values():
        n = len(s.state.met)
        s.state = TrainState(s.state.steps, s.state.train_loss, s.state.train_error, np.ones(n, bool), "test")
    rows = {c.key: c for c in V.claims(res, run).claims}
    assert not any(c.why.startswith(C.UNDER_TRAINED) for c in rows.values())
    # the widest easy width still falling in every seed: the rules comparing widths say so
    met = np.ones(sw.acc.size, bool)
    met[len(sw.widths) - 1::len(sw.widths)] = False
    sw.state = TrainState(sw.state.steps, sw.state.train_loss, sw.state.train_error, met, "test")
    rows = {c.key: c for c in V.claims(res, run).claims}
    for key in ("shift_easy", "plateau_later_hard_easy", "shapes_easy", "conjecture"):
        assert rows[key].verdict == C.INCONCLUSIVE and rows[key].why.startswith(C.UNDER_TRAINED), key
        assert f"easy width {sw.widths[-1]}" in rows[key].why
    for key in ("shift_hard", "exp_dead_easy", "gamma_fit_easy", "pca_cap_easy"):
        assert not rows[key].why.startswith(C.UNDER_TRAINED), key


def test_train_state_criterion_reads_the_last_quarter_of_the_error_curve():
    from types import SimpleNamespace
    err = np.array([[0.9, 0.5, 0.30, 0.295, 0.29],     # flat at the end: converged
                    [0.9, 0.7, 0.50, 0.40, 0.30],      # still falling: not
                    [0.9, 0.2, 0.05, 0.02, 0.005]])    # at most 1 %: converged
    res = SimpleNamespace(curves={"train_err": err, "train_loss": err}, epochs=np.array([0, 5, 10, 15, 20]),
                          final=lambda c: err[:, -1])
    st = V.train_state(res, 20, 40)
    np.testing.assert_array_equal(st.met, [True, False, True])
    assert np.all(st.steps == 800) and "epoch 15 to 20" in st.criterion
