"""Every data set of the book, generated or embedded locally: nothing is downloaded.

Sections: the 1101 pattern and the AND quadrants (Chapter 1); Gaussian blobs (Chapter 2);
MNIST-1D, label noise and the linear teacher (Chapter 3); the easy/hard MNIST-1D pair,
sklearn digits and a reader's MNIST files (Chapter 4); :func:`load_classification`, the
one entry point of the 10-class sets that chapters 2 and 7 train on. The tabular sets of
chapter 6 (Add10, a procedural Poker Hand, breast_cancer, wine, a reader's Airfoil and
Census files) are in :mod:`overparam.data.tabular`.
"""
from __future__ import annotations

import torch

from ..config import check_positive

PATTERN_1101 = (1.0, 1.0, 0.0, 1.0)  # the kernel that separates the 1101 task perfectly


def make_pattern_1101(n: int, length: int = 64, *, generator: torch.Generator | None = None,
                      device: torch.device | str = "cpu", batch_shape: tuple[int, ...] = ()):
    """Sample the 1101 task: n negative and n positive sequences of U[-0.5, 0.5] floats.

    A positive example has the values at positions i, i+1, i+3 set to 1 for a random
    i in [0, length - 5] (as the source script draws it)
    (position i+2 stays noise), so the kernel [1, 1, 0, 1] followed by a max over
    positions scores every positive above 2.5 and every negative below 1.5.

    Parameters
    ----------
    n : int
        Number of pairs; the output holds n negatives then n positives.
    length : int
        Sequence length (64 in the source).
    batch_shape : tuple of int
        Leading dimensions, one independent draw per index (e.g. ``(n_models,)`` to give
        every member of a stacked ensemble its own examples).

    Returns
    -------
    X : Tensor, shape (*batch_shape, 2n, length)
    y : Tensor, shape (*batch_shape, 2n), 0. for negatives, 1. for positives

    Introduced in: Chapter 1
    """
    check_positive("n", n, integer=True)
    check_positive("length", length, integer=True)
    if length < 4:
        raise ValueError(f"length={length!r} is not allowed; expected an integer >= 4")
    X = torch.rand(*batch_shape, 2 * n, length, generator=generator, device=device) - 0.5
    pos = X[..., n:, :]
    start = torch.randint(0, length - 4, (*batch_shape, n, 1), generator=generator, device=device)
    for offset in (0, 1, 3):
        pos.scatter_(-1, start + offset, 1.0)
    y = torch.cat([torch.zeros(*batch_shape, n, device=device), torch.ones(*batch_shape, n, device=device)], -1)
    return X, y


def make_and_task(n: int, *, generator: torch.Generator | None = None,
                  device: torch.device | str = "cpu", batch_shape: tuple[int, ...] = ()):
    """Sample the AND task: x ~ N(0, I_2), y = (x1 > 0) and (x2 > 0).

    Returns
    -------
    X : Tensor, shape (*batch_shape, n, 2)
    y : Tensor, shape (*batch_shape, n), float 0./1.

    Introduced in: Chapter 1
    """
    check_positive("n", n, integer=True)
    X = torch.randn(*batch_shape, n, 2, generator=generator, device=device)
    y = ((X[..., 0] > 0) & (X[..., 1] > 0)).float()
    return X, y


# ---------------------------------------------------------------------------- Gaussian blobs
def make_blob_centres(k: int, d: int, *, scale: float = 1.0, generator: torch.Generator | None = None,
                      device: torch.device | str = "cpu") -> torch.Tensor:
    """Draw the centres of k Gaussian blobs in d dimensions, each ``N(0, scale^2 I_d)``.

    Returns
    -------
    centres : Tensor, shape (k, d)

    Introduced in: Chapter 2
    """
    check_positive("k", k, integer=True)
    check_positive("d", d, integer=True)
    check_positive("scale", scale)
    return (torch.randn(k, d, generator=generator) * scale).to(device)


def sample_blobs(centres: torch.Tensor, n: int, *, sigma: float = 0.5,
                 generator: torch.Generator | None = None):
    """Sample n points from the blobs around ``centres`` (k, d), classes balanced.

    Example i has label ``i mod k`` and lies at ``centres[label] + sigma * N(0, I_d)``;
    the order is then shuffled.

    Returns
    -------
    X : Tensor, shape (n, d), float32
    y : LongTensor, shape (n,), labels in 0..k-1

    Introduced in: Chapter 2
    """
    check_positive("n", n, integer=True)
    check_positive("sigma", sigma, allow_zero=True)
    k, d = centres.shape
    y = torch.arange(n) % k
    y = y[torch.randperm(n, generator=generator)]
    X = centres.cpu()[y] + sigma * torch.randn(n, d, generator=generator)
    return X.to(centres.device), y.to(centres.device)


def make_blobs(n_train: int, n_test: int, k: int, d: int, *, sigma: float = 0.5,
               scale: float = 1.0, seed: int = 0, device: torch.device | str = "cpu"):
    """Train and test sets of k Gaussian blobs in d dimensions (one draw of centres).

    The talk's Hessian experiments use k = 50 blobs in d = 100 dimensions.

    Returns
    -------
    X_train (n_train, d), y_train (n_train,), X_test (n_test, d), y_test (n_test,)

    Introduced in: Chapter 2
    """
    check_positive("seed", seed, integer=True, allow_zero=True)
    g = torch.Generator().manual_seed(int(seed))
    centres = make_blob_centres(k, d, scale=scale, generator=g)
    X_tr, y_tr = sample_blobs(centres, n_train, sigma=sigma, generator=g)
    X_te, y_te = sample_blobs(centres, n_test, sigma=sigma, generator=g)
    return X_tr.to(device), y_tr.to(device), X_te.to(device), y_te.to(device)


# ---------------------------------------------------------------------------- MNIST-1D
_MNIST1D_MEMORY: dict[str, dict] = {}


def load_mnist1d(*, cache_dir=None) -> dict:
    """The MNIST-1D data set (4,000 train / 1,000 test sequences of length 40, 10 classes).

    Generated locally with ``mnist1d.data.make_dataset(get_dataset_args())`` (its default
    arguments, seed 42) -- never ``get_dataset``, which tries a URL. Generation takes a
    few seconds, so the arrays are kept in memory and on disk
    (``<cache_dir>/mnist1d_default.npz``; default ``results/cache`` of
    :func:`overparam.engine.store.default_results_dir`, git-ignored). The global NumPy random
    state, which ``make_dataset`` reseeds, is restored afterwards.

    Returns
    -------
    dict with ``x`` (4000, 40) float32, ``y`` (4000,) int64, ``x_test`` (1000, 40)
    float32, ``y_test`` (1000,) int64

    Introduced in: Chapter 3
    """
    return _cached_mnist1d("default", {}, cache_dir)


def _cached_mnist1d(name: str, overrides: dict, cache_dir) -> dict:
    """Generate MNIST-1D with ``get_dataset_args()`` changed by ``overrides``, once.

    Kept in memory under ``name`` and on disk as ``<cache_dir>/mnist1d_<name>.npz``
    (written atomically; a corrupt file is regenerated). The global NumPy random state,
    which ``make_dataset`` reseeds, is restored afterwards.
    """
    import os
    from pathlib import Path

    import numpy as np

    if name in _MNIST1D_MEMORY:
        return _MNIST1D_MEMORY[name]
    if cache_dir is None:
        from ..engine.store import default_results_dir
        cache_dir = default_results_dir() / "cache"
    path = Path(cache_dir) / f"mnist1d_{name}.npz"
    keys = ("x", "y", "x_test", "y_test")
    ds = None
    if path.exists():
        try:
            with np.load(path) as f:
                ds = {k: f[k] for k in keys}
        except (OSError, ValueError, KeyError):  # a corrupt cache is regenerated
            ds = None
    if ds is None:
        from mnist1d.data import get_dataset_args, make_dataset
        args = get_dataset_args()
        for k, v in overrides.items():
            setattr(args, k, v)
        state = np.random.get_state()
        try:
            raw = make_dataset(args)
        finally:
            np.random.set_state(state)
        ds = {"x": raw["x"].astype(np.float32), "y": raw["y"].astype(np.int64),
              "x_test": raw["x_test"].astype(np.float32), "y_test": raw["y_test"].astype(np.int64)}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, **ds)
        os.replace(tmp, path)
    _MNIST1D_MEMORY[name] = ds
    return ds


def add_label_noise(y: torch.Tensor, noise: float, n_classes: int, *, seed: int = 0):
    """Replace a fraction ``noise`` of labels by a uniformly drawn *different* class.

    Exactly ``round(noise * n)`` labels, chosen at random, are changed (as in Nakkiran
    et al.'s label-noise experiments, where a corrupted label is never the true one).

    Parameters
    ----------
    y : Tensor, shape (n,), int64 labels
    noise : float in [0, 1]
    n_classes : int (>= 2)
    seed : int
        Seeds which labels flip and to what; one seed per member gives each its own noise.

    Returns
    -------
    y_noisy : Tensor, shape (n,), int64 (same device as y)
    flipped : Tensor, shape (n,), bool -- which labels were changed

    Introduced in: Chapter 3
    """
    from ..config import check_fraction
    check_fraction("noise", noise)
    check_positive("n_classes", n_classes, integer=True)
    if n_classes < 2:
        raise ValueError(f"n_classes={n_classes!r} is not allowed; expected an integer >= 2")
    check_positive("seed", seed, integer=True, allow_zero=True)
    g = torch.Generator().manual_seed(int(seed))
    n = len(y)
    k = int(round(noise * n))
    idx = torch.randperm(n, generator=g)[:k]
    shift = torch.randint(1, n_classes, (k,), generator=g)
    y_cpu = y.detach().cpu().clone()
    y_cpu[idx] = (y_cpu[idx] + shift) % n_classes
    flipped = torch.zeros(n, dtype=torch.bool)
    flipped[idx] = True
    return y_cpu.to(y.device), flipped.to(y.device)


# ---------------------------------------------------------------------------- teacher
def make_teacher_regression(n_train: int, n_test: int, d: int, *, noise_std: float = 0.5,
                            seed: int = 0, device: torch.device | str = "cpu"):
    """Linear teacher: x ~ N(0, I_d), y = x . beta + eps with |beta| = 1, eps ~ N(0, noise_std^2).

    The closed-form playground of Chapter 3's random-features double descent: its
    Bayes risk is ``noise_std**2`` and ``Var(y) = 1 + noise_std**2``.

    Returns
    -------
    X_train (n_train, d), y_train (n_train,) noisy, X_test (n_test, d),
    f_test (n_test,) noise-free targets x . beta

    Introduced in: Chapter 3
    """
    check_positive("n_train", n_train, integer=True)
    check_positive("n_test", n_test, integer=True)
    check_positive("d", d, integer=True)
    check_positive("noise_std", noise_std, allow_zero=True)
    g = torch.Generator().manual_seed(int(seed))
    beta = torch.randn(d, generator=g, dtype=torch.float64)
    beta /= beta.norm()
    X = torch.randn(n_train, d, generator=g, dtype=torch.float64)
    Xt = torch.randn(n_test, d, generator=g, dtype=torch.float64)
    y = X @ beta + noise_std * torch.randn(n_train, generator=g, dtype=torch.float64)
    return X.to(device), y.to(device), Xt.to(device), (Xt @ beta).to(device)


# ---------------------------------------------------------------------------- Easy/hard MNIST-1D and user files
MNIST1D_TASKS = ("easy", "hard")
# The "easy" MNIST-1D keeps the default generator but translates less and does not shear:
# a 40-h-10 MLP plateaus at h ~ 64 on it vs h ~ 512 on the default ("hard") set, the
# journal's MNIST vs FashionMNIST kind of contrast (same shape, classes and label split).
_MNIST1D_EASY = {"max_translation": 12, "shear_scale": 0.0}


def load_mnist1d_task(task: str = "hard", *, cache_dir=None) -> dict:
    """An easy or hard MNIST-1D task with identical shapes, classes and label distribution.

    ``"hard"`` is the default MNIST-1D (:func:`load_mnist1d`); ``"easy"`` is generated with
    the same arguments and seed except ``max_translation=12, shear_scale=0``. Cached in
    memory and on disk like :func:`load_mnist1d`.

    Parameters
    ----------
    task : "easy" | "hard"
    cache_dir : folder for the ``.npz`` cache (default ``results/cache``)

    Returns
    -------
    dict with ``x`` (4000, 40) float32, ``y`` (4000,) int64, ``x_test`` (1000, 40),
    ``y_test`` (1000,)

    Introduced in: Chapter 4
    """
    from ..config import check_choice
    check_choice("task", task, MNIST1D_TASKS)
    if task == "hard":
        return load_mnist1d(cache_dir=cache_dir)
    return _cached_mnist1d("easy", _MNIST1D_EASY, cache_dir)


DIGITS_N_TEST = 500  # the book's one digits split: 1,297 train / 500 test (chapters 2, 4, 7)


def load_digits_split(*, n_test: int = DIGITS_N_TEST, seed: int = 0) -> dict:
    """sklearn's 8x8 digits (1,797 images shipped with sklearn), scaled to [0, 1], split.

    Sparse non-negative inputs: unlike MNIST-1D, wide ReLU layers grow dead units here.
    The defaults give the book's one digits split (1,297 train / 500 test, the shuffle of
    ``numpy.random.default_rng(0)``), used by every chapter that trains on digits.

    Parameters
    ----------
    n_test : int, test examples (the rest train)
    seed : int, seeds the shuffle before the split

    Returns
    -------
    dict with ``x`` (n_train, 64) float32 in [0, 1], ``y`` int64, ``x_test``, ``y_test``

    Introduced in: Chapter 4
    """
    import numpy as np
    from sklearn.datasets import load_digits

    check_positive("n_test", n_test, integer=True)
    check_positive("seed", seed, integer=True, allow_zero=True)
    raw = load_digits()
    if n_test >= len(raw.target):
        raise ValueError(f"n_test={n_test!r} is not allowed; expected an integer < {len(raw.target)}")
    perm = np.random.default_rng(seed).permutation(len(raw.target))
    x = (raw.data / 16.0).astype(np.float32)[perm]
    y = raw.target.astype(np.int64)[perm]
    return {"x": x[n_test:], "y": y[n_test:], "x_test": x[:n_test], "y_test": y[:n_test]}


CLASSIFICATION_SETS = ("mnist1d", "digits")  # the 10-class sets of load_classification


def load_classification(name: str, device: torch.device | str = "cpu"):
    """A 10-class data set as tensors: MNIST-1D (4000/1000, d = 40) or digits (1297/500, d = 64).

    ``"mnist1d"`` is :func:`load_mnist1d`; ``"digits"`` is :func:`load_digits_split` with
    its defaults (the book's one digits split).

    Parameters
    ----------
    name : "mnist1d" | "digits"
    device : where the tensors go

    Returns
    -------
    X (n_train, d) float32, y (n_train,) int64, X_test (n_test, d), y_test (n_test,)

    Introduced in: Chapter 2
    """
    from ..config import check_choice
    check_choice("dataset", name, CLASSIFICATION_SETS)
    ds = load_mnist1d() if name == "mnist1d" else load_digits_split()
    return tuple(torch.as_tensor(ds[k]).to(device) for k in ("x", "y", "x_test", "y_test"))


class UserDataError(ValueError):
    """A user's data file is missing or not in the expected format (names the file)."""


# Names the MNIST / FashionMNIST distributions use for their four IDX files.
IDX_FILES = {"x": "train-images-idx3-ubyte", "y": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")  # as in keras' mnist.npz


def read_idx(path) -> "np.ndarray":
    """Read one IDX file (optionally ``.gz``) of unsigned bytes into an array.

    Raises :class:`UserDataError` naming the file when it is missing, truncated or not
    an IDX file of unsigned bytes.

    Introduced in: Chapter 4
    """
    import gzip
    from pathlib import Path

    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise UserDataError(f"{path}: file not found; expected an IDX file (MNIST format, optionally .gz)")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except OSError as e:
        raise UserDataError(f"{path}: cannot be read ({e}); expected an IDX file (MNIST format)") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or not 1 <= raw[3] <= 4:
        raise UserDataError(f"{path}: not an IDX file of unsigned bytes; expected the magic "
                            "number 0x0000080N (N = 1..4 dimensions) in the first 4 bytes")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise UserDataError(f"{path}: truncated header; expected {ndim} dimension sizes")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    n = int(np.prod(shape))
    body = raw[4 + 4 * ndim:]
    if len(body) != n:
        raise UserDataError(f"{path}: header says shape {shape} ({n} bytes) but the file holds "
                            f"{len(body)} bytes of data")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def _idx_path(folder, stem: str):
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return folder / stem  # missing: read_idx names it


def load_user_mnist(path) -> dict:
    """Load a reader's own MNIST or FashionMNIST copy: a folder of IDX files or one ``.npz``.

    A folder must hold the four files of :data:`IDX_FILES` (each optionally ``.gz``); an
    ``.npz`` must hold the arrays :data:`NPZ_KEYS` (images ``(n, 28, 28)`` or ``(n, 784)``,
    labels ``(n,)``). Images are flattened and scaled to [0, 1].

    Parameters
    ----------
    path : str or Path, a folder or an ``.npz`` file

    Returns
    -------
    dict with ``x`` (n_train, 784) float32, ``y`` (n_train,) int64, ``x_test``, ``y_test``

    Raises
    ------
    UserDataError (a ValueError) naming the missing or malformed file and what was expected.

    Introduced in: Chapter 4
    """
    from pathlib import Path

    import numpy as np

    path = Path(path)
    if path.is_dir():
        arrays = {k: read_idx(_idx_path(path, stem)) for k, stem in IDX_FILES.items()}
        names = {k: str(_idx_path(path, stem)) for k, stem in IDX_FILES.items()}
    elif path.suffix == ".npz":
        if not path.is_file():
            raise UserDataError(f"{path}: file not found; expected an .npz with arrays {', '.join(NPZ_KEYS)}")
        try:
            with np.load(path, allow_pickle=False) as f:
                missing = [k for k in NPZ_KEYS if k not in f.files]
                if missing:
                    raise UserDataError(f"{path}: missing array(s) {missing}; expected an .npz with "
                                        f"arrays {', '.join(NPZ_KEYS)}")
                raw = {k: f[k] for k in NPZ_KEYS}
        except UserDataError:
            raise
        except (OSError, ValueError) as e:
            raise UserDataError(f"{path}: not a readable .npz ({e}); expected arrays "
                                f"{', '.join(NPZ_KEYS)}") from e
        arrays = {"x": raw["x_train"], "y": raw["y_train"], "x_test": raw["x_test"], "y_test": raw["y_test"]}
        names = {k: f"{path}[{src}]" for k, src in zip(("x", "y", "x_test", "y_test"), NPZ_KEYS)}
    else:
        raise UserDataError(f"{path}: not found or not a folder / .npz file; expected a folder with "
                            f"{', '.join(IDX_FILES.values())} (optionally .gz) or an .npz with arrays "
                            f"{', '.join(NPZ_KEYS)}")
    out = {}
    for xk, yk in (("x", "y"), ("x_test", "y_test")):
        x, y = np.asarray(arrays[xk]), np.asarray(arrays[yk])
        if x.ndim not in (2, 3) or x.shape[0] == 0:
            raise UserDataError(f"{names[xk]}: images of shape {x.shape}; expected (n, 28, 28) or (n, 784)")
        if y.ndim != 1 or len(y) != len(x):
            raise UserDataError(f"{names[yk]}: labels of shape {y.shape}; expected ({len(x)},) to match "
                                f"{names[xk]}")
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() > 9:
            raise UserDataError(f"{names[yk]}: labels must be integers in 0..9")
        x = x.reshape(len(x), -1).astype(np.float32)
        if x.max() > 1.0:
            x = x / 255.0
        out[xk], out[yk] = x, y.astype(np.int64)
    if out["x"].shape[1] != out["x_test"].shape[1]:
        raise UserDataError(f"{names['x_test']}: {out['x_test'].shape[1]} pixels per image but "
                            f"{names['x']} has {out['x'].shape[1]}; expected the same image size")
    return out
