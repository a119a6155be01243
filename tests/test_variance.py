"""Chapter 4 experiment logic: profiles validate, the size read-outs (plateau, peak,
"oversized", trend fits) are right on hand-made curves, the conjecture's noise data set
makes the net exact, and a tiny end-to-end sweep yields computed verdicts."""
import dataclasses

import numpy as np
import pytest

from overparam import claims as C
from overparam import config
from overparam.chapters import variance_metrics as V
from overparam.stats import Estimate


def test_profiles_resolve_and_validate():
    for p in config.PROFILES:
        cfg = config.resolve_profile(V.PROFILES, p)
        assert cfg.n_seeds >= 2 and len(cfg.widths) >= 3
    assert V.PROFILES["full"].n_seeds >= 11 and V.PROFILES["full"].widths[-1] == 2896
    with pytest.raises(ValueError, match="widths"):
        config.resolve_profile(V.PROFILES, "smoke", widths=[8, 4, 16])
    with pytest.raises(ValueError, match="widths"):
        config.resolve_profile(V.PROFILES, "smoke", widths=[2, 4, 16])
    with pytest.raises(ValueError, match="n_seeds"):
        config.resolve_profile(V.PROFILES, "smoke", n_seeds=1)
    with pytest.raises(ValueError, match="tasks"):
        config.resolve_profile(V.PROFILES, "smoke", tasks=["easy", "cifar"])
    with pytest.raises(ValueError, match="mnist_path"):
        config.resolve_profile(V.PROFILES, "smoke", tasks=["easy", "hard", "mnist"])


def test_sqrt2_grid_is_the_journals():
    g = V.sqrt2_grid(64, 2896)
    assert g[:4] == (64, 91, 128, 181) and g[-1] == 2896 and len(g) == 12


def test_size_readouts_on_hand_made_curves():
    widths = np.array([8, 16, 32, 64, 128])
    acc = np.array([[0.5, 0.7, 0.85, 0.9, 0.895],
                    [0.5, 0.89, 0.9, 0.9, 0.9]])
    np.testing.assert_array_equal(V.plateau_width(acc, widths, 0.01), [64, 16])
    # a lucky seed's high maximum does not push its plateau out: best = mean curve's best
    lucky = np.array([[0.5, 0.9, 0.9, 0.9, 0.95], [0.5, 0.9, 0.9, 0.9, 0.85]])
    np.testing.assert_array_equal(V.plateau_width(lucky, widths, 0.01), [16, 16])
    np.testing.assert_array_equal(V.argmax_width(acc, widths), [64, 32])  # first maximum
    share = np.array([[0.1, 0.2, 0.6, 0.7, 0.8], [0.1, 0.1, 0.1, 0.2, 0.3]])
    np.testing.assert_allclose(V.oversized_width(share, widths), [32, 128 * np.sqrt(2)])
    np.testing.assert_allclose(V.slope_per_seed([0, 1, 2], [[1, 3, 5], [2, 2, 2]]), [2, 0])


def test_total_variance_trend_picks_the_true_model():
    w = np.array([16, 32, 64, 128, 256, 512, 1024], float)
    rng = np.random.default_rng(0)
    log_curve = 10 + 5 * np.log(w) + 0.05 * rng.normal(size=len(w))
    power_curve = 3 * w**0.6 * (1 + 0.002 * rng.normal(size=len(w)))
    flat = 7 + 0.01 * rng.normal(size=len(w))
    assert V.total_variance_trend(w, log_curve)["winner"] == "logarithmic"
    assert V.total_variance_trend(w, power_curve)["winner"] == "power"
    fit = V.total_variance_trend(w, log_curve)
    assert fit["log_fit"][1] == pytest.approx(5, abs=0.05)
    assert abs(V.total_variance_trend(w, flat)["log_fit"][1]) < 0.01


def test_judge_outside_mirrors_judge_near():
    assert V.judge_outside(Estimate(3.0, 2.5, 3.5, 5), 0, 1) == C.REPRODUCED
    assert V.judge_outside(Estimate(0.1, -0.2, 0.4, 5), 0, 1) == C.NOT_REPRODUCED
    assert V.judge_outside(Estimate(0.9, 0.5, 1.5, 5), 0, 1) == C.PARTLY


@pytest.fixture(scope="module")
def tiny_sweeps():
    cfg = dataclasses.replace(V.PROFILES["smoke"], widths=(4, 6, 8), epochs=1, tasks=("easy", "hard"),
                              n_noise=100)
    return cfg, V.sweep_tasks(cfg, seed=0)


def test_tiny_sweep_measures_every_member(tiny_sweeps):
    cfg, sweeps = tiny_sweeps
    sw = sweeps["easy"]
    assert sw.acc.shape == sw.shapiro.shape == sw.share_gamma.shape == (2, 3)
    assert sw.dead.shape == (2, 3, len(cfg.dead_tols))
    assert [len(v) for v in sw.variances[1]] == [4, 6, 8]
    assert np.all((sw.share_exp >= 0) & (sw.share_exp <= 1))
    assert np.all(sw.k99 <= np.array([4, 6, 8]))
    # variances agree with a direct forward pass of the stored parameters
    p = sw.params[0][2]
    h = np.maximum(sw.data.X_test.numpy() @ p[0].numpy() + p[1].numpy(), 0)
    np.testing.assert_allclose(sw.variances[0][2], h.var(0), rtol=1e-4, atol=1e-7)


def test_conjecture_net_is_exact_on_its_noise_data(tiny_sweeps):
    cfg, sweeps = tiny_sweeps
    table, per = V.conjecture_demo(sweeps["easy"], cfg)
    np.testing.assert_array_equal(per["acc_d2"], 1.0)
    assert np.all(per["acc_d1"] < 1.0)
    assert table.shape == (6, 2)
    row = table.loc["weights: components for 99 % of ||W||^2"]
    assert row.iloc[0] == row.iloc[1]


def test_claim_rows_have_computed_verdicts(tiny_sweeps):
    cfg, sweeps = tiny_sweeps
    _, per = V.conjecture_demo(sweeps["easy"], cfg)
    rows = V.claim_rows(sweeps, cfg, per, profile="smoke", seed=0)
    assert len(rows) == 7 * 2 + 2 + 5 + 1
    assert all(r.verdict in C.VERDICTS and r.ci_low <= r.measured <= r.ci_high for r in rows)
    table = V.sizes_table(sweeps, cfg.plateau_tol)
    assert list(table.columns) == ["easy", "hard"] and "accuracy plateau" in table.index


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
