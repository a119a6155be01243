"""MNIST-1D generated locally and cached; label noise; the linear teacher."""
import numpy as np
import pytest
import torch

from overparam import data


def test_mnist1d_generated_cached_on_disk_and_in_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_MNIST1D_MEMORY", {})
    np.random.seed(123)
    expected_next = np.random.rand()
    np.random.seed(123)
    ds = data.load_mnist1d(cache_dir=tmp_path)
    assert np.random.rand() == expected_next  # make_dataset's reseeding is undone
    assert ds["x"].shape == (4000, 40) and ds["x_test"].shape == (1000, 40)
    assert ds["x"].dtype == np.float32 and ds["y"].dtype == np.int64
    assert set(np.unique(ds["y"])) == set(range(10))
    assert (tmp_path / "mnist1d_default.npz").exists()
    assert data.load_mnist1d(cache_dir=tmp_path) is ds  # memory
    monkeypatch.setattr(data, "_MNIST1D_MEMORY", {})
    again = data.load_mnist1d(cache_dir=tmp_path)  # disk
    assert again is not ds
    np.testing.assert_array_equal(again["x"], ds["x"])


def test_label_noise_flips_exactly_the_fraction_to_other_classes():
    y = torch.arange(200) % 10
    noisy, flipped = data.add_label_noise(y, 0.15, 10, seed=3)
    assert flipped.sum() == 30 and torch.all(noisy[flipped] != y[flipped])
    assert torch.equal(noisy[~flipped], y[~flipped])
    again, _ = data.add_label_noise(y, 0.15, 10, seed=3)
    other, _ = data.add_label_noise(y, 0.15, 10, seed=4)
    assert torch.equal(noisy, again) and not torch.equal(noisy, other)
    assert torch.equal(data.add_label_noise(y, 0.0, 10)[0], y)
    with pytest.raises(ValueError, match="noise"):
        data.add_label_noise(y, 1.5, 10)


def test_teacher_has_unit_signal_and_stated_noise():
    X, y, Xt, ft = data.make_teacher_regression(20000, 10, 5, noise_std=0.5, seed=1)
    assert X.shape == (20000, 5) and ft.shape == (10,)
    beta = torch.linalg.lstsq(X, y[:, None]).solution[:, 0]
    assert abs(beta.norm().item() - 1) < 0.02
    resid = y - X @ beta
    assert abs(resid.std().item() - 0.5) < 0.02
    torch.testing.assert_close(Xt @ beta, ft, atol=0.05, rtol=0)
