"""Result keys and the result store: stable hashes, defaults drop out, atomic round trips."""
from dataclasses import dataclass

import numpy as np
import pytest

from overparam.engine.store import ResultStore, config_key
from overparam.engine.sweep import Member, TrainConfig


@dataclass(frozen=True)
class _Old:
    width: int = 4
    lr: float = 0.1


@dataclass(frozen=True)
class _Old2:  # the same config after a field with a default was added
    width: int = 4
    lr: float = 0.1
    momentum: float = 0.0


def test_key_is_stable_and_defaults_drop_out():
    # a fixed expected value: a change in the hashing would rename every saved result
    assert config_key({"a": 1, "b": [1.5, "x"]}, prefix="t") == config_key({"b": [1.5, "x"], "a": 1}, prefix="t")
    assert config_key({"a": 1, "b": [1.5, "x"]}, prefix="t") == "t_" + __import__("hashlib").sha1(
        b'{"a":1,"b":[1.5,"x"]}').hexdigest()[:12]
    # the class name is part of the key; fields at their defaults are not
    assert config_key(_Old(width=8)).split("_")[1] != config_key(_Old(width=9)).split("_")[1]
    assert config_key(_Old()) == config_key(_Old(width=4, lr=0.1))
    k_old = config_key({"m": _Old(width=8)})
    k_new = config_key({"m": _Old2(width=8)})
    assert k_old != k_new  # different class names ...
    renamed = _Old2.__name__
    _Old2.__name__ = "_Old"
    try:  # ... but with the same name, the new default field does not change the key
        assert config_key({"m": _Old2(width=8)}) == k_old
        assert config_key({"m": _Old2(width=8, momentum=0.9)}) != k_old
    finally:
        _Old2.__name__ = renamed


def test_member_and_train_configs_hash_differently():
    a = config_key({"member": Member(8), "train": TrainConfig()})
    assert a != config_key({"member": Member(8, seed=1), "train": TrainConfig()})
    assert a != config_key({"member": Member(8), "train": TrainConfig(lr=0.02)})
    with pytest.raises(TypeError):
        config_key({"x": object()})


def test_store_round_trip_is_atomic(tmp_path):
    store = ResultStore(tmp_path, namespace="ch")
    assert not store.has("p_1") and store.keys() == []
    arrays = {"curve": np.arange(5.0), "probs": np.ones((2, 3), dtype=np.float32)}
    path = store.save("p_1", arrays, {"width": 8, "note": "x"})
    assert path.parent == tmp_path / "ch" and store.has("p_1") and store.keys() == ["p_1"]
    got, meta = store.load("p_1")
    np.testing.assert_array_equal(got["curve"], arrays["curve"])
    assert got["probs"].dtype == np.float32 and meta == {"width": 8, "note": "x"}
    assert not [p for p in (tmp_path / "ch").iterdir() if p.name.endswith(".tmp")]
    with pytest.raises(KeyError):
        store.load("p_2")
    with pytest.raises(ValueError, match="key"):
        store.has("../evil")


def test_cached_computes_once(tmp_path):
    store = ResultStore(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.array([1.0, 2.0])}

    a = store.cached("k_1", compute)
    b = store.cached("k_1", compute)
    assert len(calls) == 1
    np.testing.assert_array_equal(a["x"], b["x"])


def test_default_dir_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("OVERPARAM_RESULTS", str(tmp_path / "r"))
    assert ResultStore(namespace="n").root == tmp_path / "r" / "n"
