"""Result keys and the result store: stable hashes, defaults drop out, atomic round trips."""
import logging
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from overparam import config
from overparam.engine import store as store_mod
from overparam.engine.store import STAMP_FIELD, CorruptResult, ResultStore, code_fingerprint, config_key
from overparam.engine.sweep import Member, TrainConfig, TrainData, train_grid


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
    assert got["probs"].dtype == np.float32
    assert meta == {"width": 8, "note": "x", STAMP_FIELD: code_fingerprint()}
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


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture
def logged():
    h = _Lines()
    config.log.addHandler(h)
    yield h.lines
    config.log.removeHandler(h)


def _grid(tmp_path, **kw):
    g = torch.Generator().manual_seed(0)
    X, Xt = torch.randn(40, 6, generator=g), torch.randn(20, 6, generator=g)
    data = TrainData(X, (X[:, 0] > 0).long(), Xt, (Xt[:, 0] > 0).long(), n_classes=2, key="toy")
    members = [Member(w, seed=s) for w in (2, 4) for s in (0, 1)]
    cfg = TrainConfig(epochs=2, lr=0.05, batch_size=10, eval_every=1)
    return train_grid(members, data, cfg, log=None, mode="batched", **kw)


def test_corrupt_file_is_named_moved_aside_and_recomputed(tmp_path, logged):
    store = ResultStore(tmp_path)
    store.save("p_1", {"x": np.arange(1000.0)})
    npz = tmp_path / "p_1.npz"
    with open(npz, "r+b") as fh:  # as `truncate -s 100` does
        fh.truncate(100)
    with pytest.raises(CorruptResult, match="p_1.npz"):
        store.load("p_1")
    assert not npz.exists() and (tmp_path / "p_1.npz.corrupt").exists()
    assert any("p_1.npz" in s and "corrupt" in s for s in logged)
    assert not store.has("p_1")
    calls = []
    got = store.cached("p_1", lambda: calls.append(1) or {"x": np.arange(3.0)})
    assert calls == [1] and store.load("p_1")[0]["x"].tolist() == [0.0, 1.0, 2.0] == got["x"].tolist()
    (tmp_path / "p_2.json").write_text("{not json")
    store.save("p_3", {"x": np.zeros(1)})
    (tmp_path / "p_3.json").write_text("{not json")
    assert store.get("p_3") is None and (tmp_path / "p_3.json.corrupt").exists()


def test_grid_retrains_exactly_the_corrupt_point(tmp_path, logged):
    store = ResultStore(tmp_path)
    first = _grid(tmp_path, store=store)
    victim = sorted(tmp_path.glob("*.npz"))[1]
    victim.write_bytes(victim.read_bytes()[:100])
    again = _grid(tmp_path, store=store)
    assert again.modes.count("stored") == 3  # the other one is trained again (alone: "loop")
    assert any(victim.name in s for s in logged)
    for k in first.curves:
        np.testing.assert_allclose(again.curves[k], first.curves[k], atol=2e-5)


def test_points_from_other_code_are_retrained(tmp_path, monkeypatch):
    _grid(tmp_path, store=ResultStore(tmp_path))
    assert _grid(tmp_path, store=ResultStore(tmp_path)).modes == ["stored"] * 4
    # another engine fingerprint (a changed source file or torch version) retrains every point
    monkeypatch.setattr(store_mod, "code_fingerprint", lambda *a, **k: "0123456789abcdef")
    r = _grid(tmp_path, store=ResultStore(tmp_path))
    assert "stored" not in r.modes
    assert _grid(tmp_path, store=ResultStore(tmp_path)).modes == ["stored"] * 4
    assert ResultStore(tmp_path, stamp="x").get(ResultStore(tmp_path).keys()[0]) is None


def test_fingerprint_follows_sources_and_torch_version(tmp_path):
    f = tmp_path / "engine.py"
    f.write_text("a = 1\n")
    before = code_fingerprint([f], "torch 2.13.0")
    assert code_fingerprint([f], "torch 2.13.0") == before
    assert code_fingerprint([f], "torch 2.14.0") != before
    f.write_text("a = 2\n")
    assert code_fingerprint([f], "torch 2.13.0") != before
    assert code_fingerprint() == code_fingerprint(None, f"torch {torch.__version__}")
    names = {p.name for p in store_mod._fingerprint_files()}
    assert {"loop.py", "sweep.py", "stackrun.py", "family.py"} <= names


def test_default_results_dir_is_the_checkouts_results_folder(monkeypatch):
    from pathlib import Path

    from overparam.engine.store import default_results_dir
    monkeypatch.delenv("OVERPARAM_RESULTS", raising=False)
    repo = Path(__file__).resolve().parents[1]
    assert default_results_dir() == repo / "results"
    monkeypatch.setenv("OVERPARAM_RESULTS", "/tmp/elsewhere")
    assert default_results_dir() == Path("/tmp/elsewhere")


def test_points_are_written_0644_and_a_killed_writers_temp_file_is_removed(tmp_path):
    import os
    import subprocess
    import sys

    store = ResultStore(tmp_path, "grid")
    store.save("p", {"x": np.arange(3)}, {"a": 1})
    for f in (tmp_path / "grid").iterdir():
        assert f.stat().st_mode & 0o777 == 0o644, f
    # a process that dies half way through writing a point leaves .<name>.<pid>.<random>.tmp
    code = ("import os, sys; from pathlib import Path; from overparam.engine.store import _atomic_write;"
            f"_atomic_write(Path({str(tmp_path / 'grid' / 'q.npz')!r}), lambda fh: (fh.write(b'x'), os._exit(9)))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    left = [p for p in (tmp_path / "grid").iterdir() if p.name.endswith(".tmp")]
    assert len(left) == 1
    ResultStore(tmp_path, "grid")  # the next run's store cleans it up
    assert not [p for p in (tmp_path / "grid").iterdir() if p.name.endswith(".tmp")]
    assert store.load("p")[0]["x"].tolist() == [0, 1, 2]
    assert not os.path.exists(tmp_path / "grid" / "q.npz")
