"""Easy/hard MNIST-1D pair, sklearn digits, and the loader of a user's MNIST files
(IDX folder or NPZ) with one clear error naming the file when it is missing or malformed."""
import gzip

import numpy as np
import pytest
import torch

from overparam.data import (
    IDX_FILES, UserDataError, load_digits_split, load_mnist1d_task, load_user_mnist, read_idx,
)


def _idx_bytes(arr: np.ndarray) -> bytes:
    head = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def _write_idx_folder(folder, n=6, n_test=4, gz=False, rng=np.random.default_rng(0)):
    arrays = {"x": rng.integers(0, 256, (n, 28, 28)), "y": rng.integers(0, 10, n),
              "x_test": rng.integers(0, 256, (n_test, 28, 28)), "y_test": rng.integers(0, 10, n_test)}
    for k, stem in IDX_FILES.items():
        data = _idx_bytes(arrays[k])
        if gz:
            (folder / (stem + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)
    return arrays


def test_easy_and_hard_tasks_share_shape_and_classes():
    easy, hard = load_mnist1d_task("easy"), load_mnist1d_task("hard")
    for k in ("x", "y", "x_test", "y_test"):
        assert easy[k].shape == hard[k].shape and easy[k].dtype == hard[k].dtype
    for d in (easy, hard):  # same (uniform) label distribution: 400 +- 2 sd per class
        assert np.all(np.abs(np.bincount(d["y"], minlength=10) - 400) < 40)
    assert not np.allclose(easy["x"], hard["x"])  # a different task, not a copy
    with pytest.raises(ValueError, match="task"):
        load_mnist1d_task("medium")


def test_digits_split_is_scaled_and_disjoint():
    d = load_digits_split(n_test=200, seed=1)
    assert d["x"].shape == (1597, 64) and d["x_test"].shape == (200, 64)
    assert d["x"].min() == 0.0 and d["x"].max() == 1.0
    assert set(np.unique(d["y"])) == set(range(10))
    with pytest.raises(ValueError, match="n_test"):
        load_digits_split(n_test=5000)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder_round_trip(tmp_path, gz):
    arrays = _write_idx_folder(tmp_path, gz=gz)
    d = load_user_mnist(tmp_path)
    assert d["x"].shape == (6, 784) and d["x_test"].shape == (4, 784) and d["x"].dtype == np.float32
    np.testing.assert_allclose(d["x"], arrays["x"].reshape(6, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(d["y_test"], arrays["y_test"])


def test_npz_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    x, xt = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "fashion.npz", x_train=x, y_train=np.arange(5), x_test=xt, y_test=np.arange(3))
    d = load_user_mnist(tmp_path / "fashion.npz")
    np.testing.assert_allclose(d["x_test"], xt.reshape(3, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(d["y"], np.arange(5))


def test_missing_idx_file_names_it(tmp_path):
    _write_idx_folder(tmp_path)
    (tmp_path / IDX_FILES["y_test"]).unlink()
    with pytest.raises(UserDataError, match=IDX_FILES["y_test"] + ".*file not found"):
        load_user_mnist(tmp_path)


def test_malformed_idx_files_name_the_file(tmp_path):
    bad = tmp_path / "bad-idx"
    bad.write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(UserDataError, match="bad-idx.*magic number"):
        read_idx(bad)
    short = tmp_path / "short-idx"
    short.write_bytes(_idx_bytes(np.zeros((3, 4, 4)))[:-5])
    with pytest.raises(UserDataError, match=r"short-idx.*\(3, 4, 4\)"):
        read_idx(short)


def test_npz_errors_name_file_and_expectation(tmp_path):
    p = tmp_path / "mine.npz"
    np.savez(p, x_train=np.zeros((2, 784)), y_train=np.zeros(2, int))
    with pytest.raises(UserDataError, match=r"mine.npz.*missing array.*x_test"):
        load_user_mnist(p)
    np.savez(p, x_train=np.zeros((2, 784)), y_train=np.zeros(3, int),
             x_test=np.zeros((1, 784)), y_test=np.zeros(1, int))
    with pytest.raises(UserDataError, match=r"y_train.*expected \(2,\)"):
        load_user_mnist(p)
    with pytest.raises(UserDataError, match="nothere.npz.*file not found"):
        load_user_mnist(tmp_path / "nothere.npz")
    with pytest.raises(UserDataError, match="expected a folder"):
        load_user_mnist(tmp_path / "data.csv")
    assert issubclass(UserDataError, ValueError)


def test_one_digits_split_behind_both_loaders():
    from overparam.data import DIGITS_N_TEST, load_classification
    d = load_digits_split()
    X, y, Xt, yt = load_classification("digits")
    assert d["x_test"].shape == (DIGITS_N_TEST, 64) and Xt.shape == (DIGITS_N_TEST, 64)
    assert X.shape == (1797 - DIGITS_N_TEST, 64) and X.dtype == torch.float32 and y.dtype == torch.int64
    np.testing.assert_array_equal(Xt.numpy(), d["x_test"])
    np.testing.assert_array_equal(y.numpy(), d["y"])
    train_rows = {r.tobytes() for r in d["x"]}  # no test image is also a training image
    assert not any(r.tobytes() in train_rows for r in d["x_test"])
    with pytest.raises(ValueError, match="dataset"):
        load_classification("cifar")


def test_load_classification_mnist1d_matches_load_mnist1d():
    from overparam.data import load_classification, load_mnist1d
    X, y, Xt, yt = load_classification("mnist1d")
    ds = load_mnist1d()
    assert X.shape == (4000, 40) and Xt.shape == (1000, 40)
    np.testing.assert_array_equal(yt.numpy(), ds["y_test"])
