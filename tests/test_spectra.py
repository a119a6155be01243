"""Chapter 2 experiments (overparam.chapters.hessian_spectra): tiny configs, CPU, fixed seeds."""
import dataclasses

import numpy as np
import pytest
import torch

from overparam import claims, config, hessian
from overparam.chapters import hessian_spectra as spectra

TINY = dataclasses.replace(spectra.PROFILES["smoke"], n_seeds=2, steps=40)


def test_profiles_resolve_and_validate():
    for name in config.PROFILES:
        assert isinstance(spectra.PROFILES[name], spectra.SpectraConfig)
    cfg = config.resolve_profile(spectra.PROFILES, "smoke", ks=[2, 4], k=None)
    assert cfg.ks == (2, 4)
    with pytest.raises(ValueError, match="ks"):
        config.resolve_profile(spectra.PROFILES, "smoke", ks=[1, 3])
    with pytest.raises(ValueError, match="width"):
        config.resolve_profile(spectra.PROFILES, "smoke", width=-3)
    with pytest.raises(ValueError, match="dataset"):
        config.resolve_profile(spectra.PROFILES, "smoke", dataset="cifar")
    # the claims compare the last setting of a sweep with the first: order matters
    with pytest.raises(ValueError, match="widths=.*strictly increasing"):
        config.resolve_profile(spectra.PROFILES, "smoke", widths=[8, 4])
    with pytest.raises(ValueError, match="batch_sizes"):
        config.resolve_profile(spectra.PROFILES, "smoke", batch_sizes=[5, 5])


def test_outlier_window_and_slopes():
    cfg = config.resolve_profile(spectra.PROFILES, "smoke", ks=[2, 7], k=3)
    assert spectra.outlier_window(cfg) == 2 * 7 + 10
    Y = np.array([[1.0, 3.0, 5.0], [2.0, 2.0, 2.0], [0.0, 1.0, 5.0]])
    np.testing.assert_allclose(spectra.slopes([1, 2, 3], Y), [2.0, 0.0, 2.5], atol=1e-12)


def test_count_outliers_finds_the_gap():
    ev = np.r_[[9.0, 8.0, 7.5], np.linspace(0.5, 0.0, 50), -np.ones(3) * 0.01]
    assert spectra.count_outliers(ev, window=20) == 3
    assert spectra.count_outliers(np.r_[10.0, np.full(5, 1e-3)], window=20) == 1


def test_stacked_sgd_equals_one_network_trained_alone():
    """Batched training must equal training each net alone with the same batches."""
    mlp = hessian.FlatMLP((3, 5, 2))
    g = torch.Generator().manual_seed(0)
    X = torch.randn(20, 3, generator=g)
    y = torch.randint(0, 2, (20,), generator=g)
    th0 = mlp.init(g, batch_shape=(2,))
    out = spectra.train_sgd(mlp, th0, X, y, lr=0.1, steps=5, batch_size=4,
                            generator=torch.Generator().manual_seed(1))
    gen = torch.Generator().manual_seed(1)
    th = th0.clone()
    for _ in range(5):
        idx = torch.randint(0, 20, (2, 4), generator=gen)
        for r in range(2):
            gr = torch.func.grad(lambda t: hessian.output_loss(mlp(t, X[idx[r]]), y[idx[r]]))(th[r])
            th[r] = th[r] - 0.1 * gr
    assert torch.allclose(out, th, atol=1e-6)
    # full batch (batch_size >= N) is gradient descent and lowers the loss
    gd = spectra.train_sgd(mlp, th0, X, y, lr=0.5, steps=30, batch_size=20)
    l0 = hessian.output_loss(mlp(th0[0], X), y)
    assert hessian.output_loss(mlp(gd[0], X), y) < l0


def test_training_fits_blobs_and_spectrum_has_bulk_at_zero():
    cfg = dataclasses.replace(TINY, steps=200, width=8, k=3, d=10, n_train=90, sigma=0.3)
    res = spectra.bulk_and_outliers(cfg)
    assert res.train_loss.max() < 0.2
    assert res.n_params == hessian.FlatMLP((10, 8, 8, 3)).n_params
    sp = res.spectra[0]
    assert sp.exact and sp.eigenvalues.size == res.n_params
    assert np.all(res.frac_zero > 0.5)  # mostly flat after training
    assert np.all(res.top == np.array([s.eigenvalues[0] for s in res.spectra]))


def test_gauss_newton_section_matches_hessian_outliers():
    cfg = dataclasses.replace(TINY, steps=200, width=8, k=3, d=10, n_train=90, sigma=0.3)
    gn = spectra.gauss_newton_split(cfg)
    assert gn.rank_G <= gn.rank_bound
    assert gn.H.exact and gn.G.exact and gn.R.exact
    np.testing.assert_allclose(gn.top_H[:, 0], gn.top_G[:, 0], rtol=0.2)
    assert np.all(gn.top_R > 0)


def test_fluctuations_and_line_sections_run_and_claims_are_computed():
    fl = spectra.top_eigenvalue_fluctuations(TINY)
    assert fl.lam.shape == (TINY.n_retrain,) and np.all(np.isfinite(fl.lam))
    line = spectra.large_then_small(TINY, alphas=[-0.5, 0.0, 0.5, 1.0, 1.5])
    assert len(line.scans) == TINY.n_seeds and line.top_lb.shape == (TINY.n_seeds,)
    rows = spectra.chapter_claims(TINY, "smoke", 0, fluct=fl, line=line)
    assert len(rows) == 3 and all(r.verdict in claims.VERDICTS for r in rows)
    assert rows[1].measured == pytest.approx(np.mean(np.log(line.top_lb / line.top_sb)))


def test_sections_restore_the_callers_thread_count():
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen = []
        wrapped = spectra._threads(lambda device="cpu": seen.append(torch.get_num_threads()))
        wrapped(device="cpu")
        assert seen == [spectra.CPU_THREADS] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(old)
