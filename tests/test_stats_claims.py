"""Confidence intervals and computed verdicts."""
import numpy as np
import pytest
from scipy import stats

from overparam import claims as C
from overparam.stats import Estimate, diff_ci, mean_ci, wilson_ci


def test_mean_ci_matches_scipy_t_interval():
    x = np.array([1.0, 2.0, 4.0, 7.0])
    lo, hi = stats.t.interval(0.95, 3, loc=x.mean(), scale=stats.sem(x))
    e = mean_ci(x)
    assert e.mean == pytest.approx(3.5) and e.low == pytest.approx(lo) and e.high == pytest.approx(hi)
    m, l, h = mean_ci(np.stack([x, 2 * x], 1))
    assert h[1] - l[1] == pytest.approx(2 * (hi - lo))


def test_wilson_interval_known_value():
    e = wilson_ci(3, 10)
    assert (round(e.low, 3), round(e.high, 3)) == (0.108, 0.603)
    with pytest.raises(ValueError):
        wilson_ci(11, 10)


def test_diff_ci_covers_known_difference():
    rng = np.random.default_rng(0)
    e = diff_ci(rng.normal(1.0, 1, 400), rng.normal(0.0, 1, 400))
    assert e.low < 1.0 < e.high and e.low > 0.7


@pytest.mark.parametrize("est, verdict", [
    (Estimate(0.5, 0.2, 0.8, 9), C.REPRODUCED), (Estimate(0.1, -0.1, 0.3, 9), C.INCONCLUSIVE),
    (Estimate(-0.1, -0.3, 0.1, 9), C.INCONCLUSIVE), (Estimate(-0.5, -0.8, -0.2, 9), C.NOT_REPRODUCED),
    (Estimate(0.5, 0.2, 0.8, 1), C.INCONCLUSIVE), (Estimate(0.5, float("nan"), 0.8, 9), C.INCONCLUSIVE)])
def test_judge_above(est, verdict):
    assert C.judge_above(est, 0.0) == verdict
    flipped = Estimate(-est.mean, -est.high, -est.low, est.n)
    assert C.judge_below(flipped, 0.0) == verdict


def test_judge_near():
    assert C.judge_near(Estimate(0.98, 0.975, 0.985, 5), 0.98, 0.01) == C.REPRODUCED
    assert C.judge_near(Estimate(0.985, 0.975, 0.995, 5), 0.98, 0.01) == C.INCONCLUSIVE
    assert C.judge_near(Estimate(0.95, 0.948, 0.951, 5), 0.98, 0.01) == C.NOT_REPRODUCED


def test_claims_table_carries_json_payload():
    c = C.make_claim("x rises", "src", Estimate(1, 0.5, 1.5, 3), C.REPRODUCED, "diff > 0", "smoke", 1)
    bundle = C.ClaimsTable([c])._repr_mimebundle_()
    row = bundle[C.CLAIMS_MIME][0]
    assert set(row) >= {"claim", "source", "measured", "ci_low", "ci_high", "verdict", "profile", "seed"}
    assert "reproduced" in bundle["text/html"]
    with pytest.raises(ValueError, match="verdict"):
        C.make_claim("x", "s", Estimate(1, 0, 2, 3), "probably", "r")


def test_judge_all_compound_claims():
    R, N, I = C.REPRODUCED, C.NOT_REPRODUCED, C.INCONCLUSIVE
    assert C.judge_all([R, R]) == R and C.judge_all([N, N]) == N
    assert C.judge_all([R, N]) == C.PARTLY and C.judge_all([R, I]) == C.PARTLY
    assert C.judge_all([N, I]) == N and C.judge_all([I, I]) == I
    with pytest.raises(ValueError):
        C.judge_all([C.PARTLY])


def test_mean_ci_of_one_seed_has_no_interval():
    e = mean_ci([3.0])
    assert e.mean == 3.0 and np.isnan(e.low) and np.isnan(e.high)


def test_exact_and_interval_verdicts_are_checked():
    row = C.exact_claim("F1 of the hand-set net", "src", 0.9495, "closed form")
    assert row.verdict == C.EXACT and row.ci_low == row.ci_high == 0.9495
    with pytest.raises(ValueError, match="exact"):
        C.make_claim("x", "s", Estimate(1, 0, 2, 3), C.EXACT, "r")
    with pytest.raises(ValueError, match=">= 2"):
        C.make_claim("x", "s", Estimate(1, 1, 1, 1), C.REPRODUCED, "r")


@pytest.mark.parametrize("n", [1, 2, 9, 40])
def test_one_interval_formula_for_every_shape(n):
    """An n-d mean_ci, rows_ci and estimates_of give each slice exactly (bit for bit) what
    the 1-d mean_ci gives it; diff_ci is the one-row case of the rows' Welch interval."""
    from overparam.stats import estimates_of, rows_ci, welch
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 4, 3)) * np.array([1e-3, 1.0, 1e3])
    m, lo, hi = mean_ci(x, axis=0)
    for i in range(4):
        for j in range(3):
            e = mean_ci(x[:, i, j])
            np.testing.assert_array_equal([m[i, j], lo[i, j], hi[i, j]], [e.mean, e.low, e.high])
    rows = x.reshape(n, -1).T
    for got, k in zip(rows_ci(rows), ("mean", "low", "high")):
        np.testing.assert_array_equal(got, [getattr(mean_ci(r), k) for r in rows])
    pairs = [(rng.normal(size=n + 1), rng.normal(1.0, 2.0, size=5)) for _ in range(6)]
    d, low, high, size = estimates_of(welch, pairs)
    for i, (a, b) in enumerate(pairs):
        e = diff_ci(a, b)
        np.testing.assert_array_equal([d[i], low[i], high[i], size[i]], [e.mean, e.low, e.high, e.n])
    assert diff_ci([2.0, 2.0], [1.0, 1.0]) == Estimate(1.0, 1.0, 1.0, 4)   # no spread: the point
