"""Goodness-of-fit tools: gamma shape MLE, mixture densities, held-out likelihoods."""
import numpy as np
import pytest

from overparam import distributions as D
from overparam import metrics as M


def test_gamma_shape_recovers_exponential_and_bell():
    rng = np.random.default_rng(0)
    assert D.gamma_shape(rng.exponential(2.0, 4000)) == pytest.approx(1.0, rel=0.08)
    assert D.gamma_shape(rng.gamma(6.0, 0.5, 4000)) == pytest.approx(6.0, rel=0.08)
    assert D.gamma_shape(np.r_[np.zeros(50), rng.gamma(3.0, 1.0, 2000)]) == pytest.approx(3.0, rel=0.1)
    with pytest.raises(ValueError, match="x"):
        D.gamma_shape([1.0, -1.0, 2.0])


def test_mixture_logpdf_integrates_to_about_one():
    rng = np.random.default_rng(1)
    x = np.r_[rng.gamma(1.0, 0.2, 300), rng.gamma(8.0, 0.25, 300)]
    grid = np.linspace(1e-4, 8, 40001)
    for fit in (M.fit_two_gammas(x), M.fit_exp_normal(x)):
        mass = np.trapezoid(np.exp(D.mixture_logpdf(fit, grid)), grid)
        assert 0.9 < mass <= 1.0001, fit.kind   # exp+normal loses the normal's mass below 0


def test_heldout_loglik_prefers_the_true_family():
    rng = np.random.default_rng(2)
    x = np.r_[rng.gamma(1.0, 0.1, 400), rng.gamma(12.0, 0.2, 400)]  # two gammas, skewed bulk
    g = D.heldout_loglik(x, "two_gammas", seed=0)
    e = D.heldout_loglik(x, "exp_normal", seed=0)
    assert g > e
    assert np.isnan(D.heldout_loglik(x[:6], "two_gammas", folds=2))  # 3 training values < 4
    with pytest.raises(ValueError, match="kind"):
        D.heldout_loglik(x, "normal")
    with pytest.raises(ValueError, match="folds"):
        D.heldout_loglik(x, "two_gammas", folds=1)
