"""Small tabular data sets for compress training (chapter 6): Add10, a procedural Poker Hand,
sklearn's breast cancer and wine, and loaders for a user's Airfoil and Census (adult) files.

Every loader returns a dict ``x``, ``y``, ``x_test``, ``y_test`` (float32 inputs
standardised with the training set's mean and standard deviation; int64 classes or a
float32 regression target, standardised too) plus ``task`` ("classification" or
"regression") and ``n_classes`` (1 for regression).

- :func:`make_add10`: Friedman #1 (``sklearn.datasets.make_friedman1``), 10 inputs of which
  5 matter, ``y = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5 + noise`` (Delve's
  "Add10", the journal's regression set).
- :func:`make_poker`: hands of five cards dealt from a shuffled deck and labelled by the
  UCI Poker Hand rules (0 nothing ... 9 royal flush); each card one-hot (suit 4 + rank 13).
- :func:`load_small`: ``"breast_cancer"`` or ``"wine"`` from sklearn, a stratified split.
- :func:`load_airfoil`, :func:`load_census`: the UCI files a user downloads
  (``airfoil_self_noise.dat``: 6 numeric columns; ``adult.data``: 15 columns, income last),
  checked column by column; a wrong file gives one ValueError naming it.

Introduced in: Chapter 6 (to be folded into :mod:`overparam.data`)
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..config import check_choice, check_fraction, check_positive

SMALL_SETS = ("breast_cancer", "wine")
TABULAR_SETS = ("add10", "poker", "breast_cancer", "wine")
POKER_CLASSES = ("nothing", "one pair", "two pairs", "three of a kind", "straight", "flush",
                 "full house", "four of a kind", "straight flush", "royal flush")
AIRFOIL_COLUMNS = ("frequency", "angle", "chord", "velocity", "thickness", "sound_pressure")
CENSUS_COLUMNS = ("age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
                  "occupation", "relationship", "race", "sex", "capital_gain", "capital_loss",
                  "hours_per_week", "native_country", "income")
CENSUS_NUMERIC = ("age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week")


def _standardise(x: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu, sd = x.mean(0), x.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    return ((x - mu) / sd).astype(np.float32), ((x_test - mu) / sd).astype(np.float32)


def _pack(x, y, x_test, y_test, task: str, n_classes: int) -> dict:
    x, x_test = _standardise(np.asarray(x, float), np.asarray(x_test, float))
    if task == "regression":
        mu, sd = float(np.mean(y)), float(np.std(y)) or 1.0
        y, y_test = ((np.asarray(y) - mu) / sd).astype(np.float32), ((np.asarray(y_test) - mu) / sd).astype(np.float32)
    else:
        y, y_test = np.asarray(y, np.int64), np.asarray(y_test, np.int64)
    return {"x": x, "y": y, "x_test": x_test, "y_test": y_test, "task": task, "n_classes": n_classes}


def _split(n: int, test_fraction: float, seed: int, labels=None) -> tuple[np.ndarray, np.ndarray]:
    """Train/test indices; stratified by ``labels`` when given."""
    rng = np.random.default_rng(seed)
    if labels is None:
        perm = rng.permutation(n)
        k = int(round(n * test_fraction))
        return perm[k:], perm[:k]
    tr, te = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(len(idx) * test_fraction))
        te.append(idx[:k])
        tr.append(idx[k:])
    return rng.permutation(np.concatenate(tr)), rng.permutation(np.concatenate(te))


def make_add10(n_train: int = 2000, n_test: int = 1000, *, noise: float = 1.0, seed: int = 0) -> dict:
    """Friedman #1 ("Add10"): 10 uniform inputs, 5 used; Gaussian noise of sd ``noise``.

    Introduced in: Chapter 6
    """
    from sklearn.datasets import make_friedman1
    check_positive("n_train", n_train, integer=True)
    check_positive("n_test", n_test, integer=True)
    check_positive("noise", noise, allow_zero=True)
    x, y = make_friedman1(n_train + n_test, n_features=10, noise=noise, random_state=seed)
    return _pack(x[:n_train], y[:n_train], x[n_train:], y[n_train:], "regression", 1)


def poker_class(suits: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """UCI Poker Hand class of hands (n, 5): suits 1-4, ranks 1-13 (1 = ace).

    Straights are five consecutive ranks, the ace low (A-2-3-4-5) or high (10-J-Q-K-A),
    no wrapping around; a royal flush is the ace-high straight flush.
    """
    suits, ranks = np.asarray(suits), np.asarray(ranks)
    n = len(ranks)
    counts = np.zeros((n, 14), int)
    np.add.at(counts, (np.repeat(np.arange(n), 5), ranks.ravel()), 1)
    mult = -np.sort(-counts, axis=1)[:, :2]               # largest two multiplicities
    flush = (suits == suits[:, :1]).all(1)
    distinct = mult[:, 0] == 1
    s = np.sort(ranks, 1)
    consecutive = distinct & (s[:, 4] - s[:, 0] == 4)
    broadway = distinct & (s == np.array([1, 10, 11, 12, 13])).all(1)
    straight = consecutive | broadway
    out = np.zeros(n, np.int64)
    out[mult[:, 0] == 2] = 1
    out[(mult[:, 0] == 2) & (mult[:, 1] == 2)] = 2
    out[mult[:, 0] == 3] = 3
    out[straight] = 4
    out[flush] = 5
    out[(mult[:, 0] == 3) & (mult[:, 1] == 2)] = 6
    out[mult[:, 0] == 4] = 7
    out[straight & flush] = 8
    out[broadway & flush] = 9
    return out


def deal_poker(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` hands of five distinct cards: (suits, ranks), each (n, 5)."""
    rng = np.random.default_rng(seed)
    cards = np.argsort(rng.random((n, 52)), axis=1)[:, :5]
    return cards // 13 + 1, cards % 13 + 1


def make_poker(n_train: int = 5000, n_test: int = 2000, *, seed: int = 0) -> dict:
    """A procedural Poker Hand set (the UCI rules; the same class frequencies as dealing).

    Inputs: each card one-hot, 4 suits + 13 ranks, 85 features. Classes 0-9.

    Introduced in: Chapter 6
    """
    check_positive("n_train", n_train, integer=True)
    check_positive("n_test", n_test, integer=True)
    suits, ranks = deal_poker(n_train + n_test, seed)
    y = poker_class(suits, ranks)
    x = np.concatenate([np.eye(4)[suits - 1], np.eye(13)[ranks - 1]], axis=2).reshape(len(y), -1)
    return _pack(x[:n_train], y[:n_train], x[n_train:], y[n_train:], "classification", 10)


def load_small(name: str, *, test_fraction: float = 0.3, seed: int = 0) -> dict:
    """sklearn's ``"breast_cancer"`` (569 x 30, 2 classes) or ``"wine"`` (178 x 13, 3 classes).

    Introduced in: Chapter 6
    """
    from sklearn import datasets
    check_choice("dataset", name, SMALL_SETS)
    check_fraction("test_fraction", test_fraction)
    raw = datasets.load_breast_cancer() if name == "breast_cancer" else datasets.load_wine()
    tr, te = _split(len(raw.target), test_fraction, seed, raw.target)
    return _pack(raw.data[tr], raw.target[tr], raw.data[te], raw.target[te], "classification",
                 int(raw.target.max()) + 1)


def load_tabular(name: str, *, seed: int = 0, n_train: int | None = None) -> dict:
    """One of :data:`TABULAR_SETS` with its defaults (``n_train`` for the generated ones)."""
    check_choice("dataset", name, TABULAR_SETS)
    if name == "add10":
        return make_add10(n_train or 2000, seed=seed)
    if name == "poker":
        return make_poker(n_train or 5000, seed=seed)
    return load_small(name, seed=seed)


# --------------------------------------------------------------------------- a user's files


def _rows(path, sep: str | None) -> list[list[str]]:
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"path={str(path)!r} is not allowed; no such file")
    text = p.read_text(errors="replace").strip().splitlines()
    if sep is None:
        return [ln.split() for ln in text if ln.strip()]
    return [[c.strip() for c in r] for r in csv.reader(text, delimiter=sep) if r and any(c.strip() for c in r)]


def load_airfoil(path, *, test_fraction: float = 0.3, seed: int = 0) -> dict:
    """UCI Airfoil Self-Noise (``airfoil_self_noise.dat``): 6 numeric columns, whitespace or
    comma separated, no header; the last (sound pressure, dB) is the regression target.

    Introduced in: Chapter 6
    """
    check_fraction("test_fraction", test_fraction)
    first = Path(path).read_text(errors="replace").lstrip()[:200] if Path(path).is_file() else ""
    rows = _rows(path, "," if "," in first else None)
    bad = [i for i, r in enumerate(rows) if len(r) != len(AIRFOIL_COLUMNS)]
    if not rows or bad:
        n = len(rows[bad[0]]) if bad else 0
        raise ValueError(f"path={str(path)!r}: an Airfoil file has {len(AIRFOIL_COLUMNS)} numeric columns "
                         f"{AIRFOIL_COLUMNS}; line {bad[0] + 1 if bad else 1} has {n}")
    try:
        a = np.array(rows, dtype=float)
    except ValueError:
        raise ValueError(f"path={str(path)!r}: an Airfoil file has only numbers in its "
                         f"{len(AIRFOIL_COLUMNS)} columns {AIRFOIL_COLUMNS}") from None
    tr, te = _split(len(a), test_fraction, seed)
    return _pack(a[tr, :5], a[tr, 5], a[te, :5], a[te, 5], "regression", 1)


def load_census(path, *, test_fraction: float = 0.3, seed: int = 0) -> dict:
    """UCI Census Income (``adult.data``): 15 comma-separated columns, income (``<=50K`` or
    ``>50K``, a trailing ``.`` allowed) last; categorical columns one-hot ("?" is a category).

    Introduced in: Chapter 6
    """
    check_fraction("test_fraction", test_fraction)
    rows = _rows(path, ",")
    bad = [i for i, r in enumerate(rows) if len(r) != len(CENSUS_COLUMNS)]
    if not rows or bad:
        n = len(rows[bad[0]]) if bad else 0
        raise ValueError(f"path={str(path)!r}: a Census (adult) file has {len(CENSUS_COLUMNS)} "
                         f"comma-separated columns {CENSUS_COLUMNS}; line {bad[0] + 1 if bad else 1} has {n}")
    labels = [r[-1].rstrip(".") for r in rows]
    wrong = sorted(set(labels) - {"<=50K", ">50K"})
    if wrong:
        raise ValueError(f"path={str(path)!r}: the income column must be '<=50K' or '>50K'; found {wrong[:3]}")
    cols = []
    for j, name in enumerate(CENSUS_COLUMNS[:-1]):
        vals = [r[j] for r in rows]
        if name in CENSUS_NUMERIC:
            try:
                cols.append(np.array(vals, dtype=float)[:, None])
            except ValueError:
                raise ValueError(f"path={str(path)!r}: column {name!r} must be numeric") from None
        else:
            cats = sorted(set(vals))
            cols.append(np.array([[v == c for c in cats] for v in vals], dtype=float))
    x = np.concatenate(cols, 1)
    y = np.array([lab == ">50K" for lab in labels], dtype=np.int64)
    tr, te = _split(len(y), test_fraction, seed, y)
    return _pack(x[tr], y[tr], x[te], y[te], "classification", 2)
