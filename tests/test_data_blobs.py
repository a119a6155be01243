"""Gaussian blobs (Chapter 2): shapes, balance, reproducibility, separation, errors."""
import pytest
import torch

from overparam import data


def test_blobs_shapes_balance_and_labels():
    X, y, Xt, yt = data.make_blobs(60, 30, k=6, d=4, seed=1)
    assert X.shape == (60, 4) and y.shape == (60,) and Xt.shape == (30, 4)
    assert y.dtype == torch.long and set(y.tolist()) == set(range(6))
    assert torch.bincount(y).tolist() == [10] * 6


def test_blobs_reproducible_and_seed_dependent():
    a = data.make_blobs(20, 10, k=2, d=3, seed=5)
    b = data.make_blobs(20, 10, k=2, d=3, seed=5)
    c = data.make_blobs(20, 10, k=2, d=3, seed=6)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a[0], c[0])


def test_points_lie_around_their_centre():
    g = torch.Generator().manual_seed(0)
    centres = data.make_blob_centres(4, 50, scale=3.0, generator=g)
    X, y = data.sample_blobs(centres, 400, sigma=0.1, generator=g)
    nearest = torch.cdist(X, centres).argmin(1)
    assert torch.equal(nearest, y)
    assert (X - centres[y]).std().item() == pytest.approx(0.1, rel=0.1)


@pytest.mark.parametrize("kwargs, name", [({"k": 0}, "k"), ({"d": -1}, "d"), ({"sigma": -0.5}, "sigma")])
def test_bad_values_raise_naming_the_parameter(kwargs, name):
    args = dict(n_train=10, n_test=5, k=2, d=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        data.make_blobs(**args)
