"""Saved results of sweeps: one file per grid point, keyed by a hash of its configuration.

A sweep saves each point as soon as it is computed (:class:`ResultStore`), so a killed
run resumes from what is saved and a finished grid is reloaded, not recomputed. Keys
come from :func:`config_key`: a stable hash of the configuration in which dataclass
fields equal to their defaults drop out, so adding a field with a default does not
rename old results (open_lth's convention).

The default root is ``$OVERPARAM_RESULTS`` if set, else ``results/`` at the repository
root (git-ignored), else ``~/.cache/overparam/results`` for a non-editable install.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np


def default_results_dir() -> Path:
    """Where results go unless told otherwise (see module docstring).

    Introduced in: Chapter 3
    """
    env = os.environ.get("OVERPARAM_RESULTS")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[1]
    if (repo / "pyproject.toml").exists():
        return repo / "results"
    return Path.home() / ".cache" / "overparam" / "results"


def _canonical(obj: Any) -> Any:
    """Plain JSON-able form of a config; dataclass fields at their default are dropped."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {"__type__": type(obj).__name__}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.default is not dataclasses.MISSING and value == f.default:
                continue
            out[f.name] = _canonical(value)
        return out
    if isinstance(obj, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj)
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot build a result key from {type(obj).__name__}: {obj!r}")


def config_key(config: Any, prefix: str = "run") -> str:
    """A stable name ``<prefix>_<12 hex>`` for a configuration.

    Parameters
    ----------
    config : dataclass, mapping, list or scalar (nested freely)
        Dataclass fields equal to their defaults are left out of the hash.
    prefix : str
        Human-readable kind, e.g. ``"mlp"``.

    Returns
    -------
    str

    Introduced in: Chapter 3
    """
    text = json.dumps(_canonical(config), sort_keys=True, separators=(",", ":"))
    return f"{prefix}_{hashlib.sha1(text.encode()).hexdigest()[:12]}"


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class ResultStore:
    """A folder of results, one ``<key>.npz`` (arrays) + ``<key>.json`` (metadata) per point.

    Writes are atomic (temporary file, then rename); the ``.npz`` is written last and its
    presence marks a complete point, so an interruption never leaves a half point that
    would be loaded.

    Parameters
    ----------
    root : path or None
        Folder; None means :func:`default_results_dir`.
    namespace : str
        Sub-folder (e.g. the chapter, ``"03_double_descent"``).

    Introduced in: Chapter 3
    """

    def __init__(self, root: str | os.PathLike | None = None, namespace: str = ""):
        base = Path(root) if root is not None else default_results_dir()
        self.root = base / namespace if namespace else base

    def _npz(self, key: str) -> Path:
        if not key or "/" in key or key.startswith("."):
            raise ValueError(f"key={key!r} is not allowed; expected a plain file name")
        return self.root / f"{key}.npz"

    def has(self, key: str) -> bool:
        """Whether the point ``key`` is saved completely."""
        return self._npz(key).exists()

    def save(self, key: str, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None) -> Path:
        """Save arrays and JSON metadata of one point atomically; return the ``.npz`` path."""
        npz = self._npz(key)
        meta_text = json.dumps(dict(meta or {}), indent=1, default=str).encode()
        _atomic_write(npz.with_suffix(".json"), lambda fh: fh.write(meta_text))
        _atomic_write(npz, lambda fh: np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()}))
        return npz

    def load(self, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and metadata of a saved point (KeyError if it is not saved)."""
        npz = self._npz(key)
        if not npz.exists():
            raise KeyError(f"no saved result {key!r} in {self.root}")
        with np.load(npz) as f:
            arrays = {k: f[k] for k in f.files}
        meta_path = npz.with_suffix(".json")
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        return arrays, meta

    def keys(self) -> list[str]:
        """Keys of all complete points, sorted."""
        if not self.root.exists():
            return []
        return sorted(p.stem for p in self.root.glob("*.npz"))

    def cached(self, key: str, compute, meta: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
        """Load point ``key`` if saved, else ``arrays = compute()``, save and return them."""
        if self.has(key):
            return self.load(key)[0]
        arrays = compute()
        self.save(key, arrays, meta)
        return {k: np.asarray(v) for k, v in arrays.items()}
