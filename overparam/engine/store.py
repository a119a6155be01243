"""Saved results of sweeps: one file per grid point, keyed by a hash of its configuration.

A sweep saves each point as soon as it is computed (:class:`ResultStore`), so a killed
run resumes from what is saved and a finished grid is reloaded, not recomputed. Keys
come from :func:`config_key`: a stable hash of the configuration in which dataclass
fields equal to their defaults drop out, so adding a field with a default does not
rename old results (open_lth's convention).

Stored points are tied to the code that made them: every point's metadata carries the
store's *stamp*, by default :func:`code_fingerprint` (a hash of the engine's and the
model family's source files and the torch version). A point with another stamp is
treated as absent (logged as stale) and is retrained and overwritten, never reloaded
silently. A point whose files cannot be read (truncated ``.npz``, broken JSON) is named
in the log, moved aside to ``<file>.corrupt`` and treated as absent.

The default root is ``$OVERPARAM_RESULTS`` if set, else ``results/`` at the repository
root (git-ignored), else ``~/.cache/overparam/results`` for a non-editable install.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from ..atomicio import remove_stale_temps, write_atomic_bytes
from ..config import log

#: Metadata field that holds the stamp of the code that made a point.
STAMP_FIELD = "code_fingerprint"


class CorruptResult(KeyError):
    """A stored point's files could not be read; they were moved aside (``.corrupt``)."""


def _fingerprint_files() -> list[Path]:
    pkg = Path(__file__).resolve().parents[1]
    return sorted([*(pkg / "engine").glob("*.py"), *(pkg / "models").glob("*.py")])


def code_fingerprint(files: Iterable[str | os.PathLike] | None = None, extra: str | None = None) -> str:
    """A 16-hex hash of what determines a trained point's numbers.

    Parameters
    ----------
    files : source files to hash; None: every ``.py`` file of ``overparam/engine`` and
        ``overparam/models`` (the training code and the model family)
    extra : more text to include; None: the torch version

    Introduced in: the engine
    """
    if files is None and extra is None:
        return _default_fingerprint()
    h = hashlib.sha1()
    for f in (_fingerprint_files() if files is None else [Path(f) for f in files]):
        h.update(Path(f).name.encode() + b"\0" + Path(f).read_bytes() + b"\0")
    if extra is None:
        import torch
        extra = f"torch {torch.__version__}"
    h.update(extra.encode())
    return h.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def _default_fingerprint() -> str:
    return code_fingerprint(_fingerprint_files(), None)


def default_results_dir() -> Path:
    """Where results go unless told otherwise (see module docstring).

    Introduced in: Chapter 3
    """
    env = os.environ.get("OVERPARAM_RESULTS")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]  # overparam/engine/store.py -> the checkout
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


_atomic_write = write_atomic_bytes  # fsync'd, mode 0644, temp named by pid (overparam.atomicio)


class ResultStore:
    """A folder of results, one ``<key>.npz`` (arrays) + ``<key>.json`` (metadata) per point.

    Writes are atomic (temporary file, then rename); the ``.npz`` is written last and its
    presence marks a complete point, so an interruption never leaves a half point that
    would be loaded. Points made by other code (another stamp) count as absent; points
    whose files cannot be read are moved aside to ``<file>.corrupt`` and count as absent.

    Parameters
    ----------
    root : path or None
        Folder; None means :func:`default_results_dir`.
    namespace : str
        Sub-folder (e.g. the chapter, ``"03_double_descent"``).
    stamp : str, "code" or None
        Written into every saved point and required of every loaded one; ``"code"``
        (default) is :func:`code_fingerprint`; None: no check.

    Introduced in: Chapter 3
    """

    def __init__(self, root: str | os.PathLike | None = None, namespace: str = "",
                 stamp: str | None = "code"):
        base = Path(root) if root is not None else default_results_dir()
        self.root = base / namespace if namespace else base
        self.stamp = code_fingerprint() if stamp == "code" else stamp
        remove_stale_temps(self.root)  # half-written points of a killed run

    def _npz(self, key: str) -> Path:
        if not key or "/" in key or key.startswith("."):
            raise ValueError(f"key={key!r} is not allowed; expected a plain file name")
        return self.root / f"{key}.npz"

    def _read(self, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        """Arrays and metadata of ``key``; None if absent, stale or corrupt (moved aside)."""
        npz = self._npz(key)
        if not npz.exists():
            return None
        meta_path = npz.with_suffix(".json")
        try:
            meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
            if not isinstance(meta, dict):
                raise ValueError("metadata is not a JSON object")
        except (ValueError, UnicodeDecodeError, OSError) as e:
            self._set_aside(meta_path, e)
            self._set_aside(npz, "its metadata is corrupt")
            return None
        if self.stamp is not None and meta.get(STAMP_FIELD) != self.stamp:
            log.info(f"store: {npz} was made by other code (fingerprint {meta.get(STAMP_FIELD)} "
                     f"!= {self.stamp}); it will be recomputed")
            return None
        try:
            with np.load(npz) as f:
                arrays = {k: f[k] for k in f.files}
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
            self._set_aside(npz, e)
            return None
        return arrays, meta

    def _set_aside(self, path: Path, why) -> None:
        if not path.exists():
            return
        dest = path.with_name(path.name + ".corrupt")
        os.replace(path, dest)
        log.warning(f"store: corrupt result file {path} ({why}); moved to {dest.name}, "
                    f"the point will be recomputed")

    def has(self, key: str) -> bool:
        """Whether the point ``key`` is saved completely, by this store's code stamp, and readable
        (a corrupt point is moved aside here)."""
        return self._read(key) is not None

    def get(self, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        """``(arrays, meta)`` of a saved point, or None (absent, stale or corrupt)."""
        return self._read(key)

    def save(self, key: str, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None) -> Path:
        """Save arrays and JSON metadata of one point atomically; return the ``.npz`` path."""
        npz = self._npz(key)
        meta = dict(meta or {})
        if self.stamp is not None:
            meta[STAMP_FIELD] = self.stamp
        meta_text = json.dumps(meta, indent=1, default=str).encode()
        _atomic_write(npz.with_suffix(".json"), lambda fh: fh.write(meta_text))
        _atomic_write(npz, lambda fh: np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()}))
        return npz

    def load(self, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and metadata of a saved point.

        Raises KeyError if it is not saved or stale, :class:`CorruptResult` (a KeyError)
        naming the file if it cannot be read (the file is moved aside first).
        """
        npz = self._npz(key)
        existed = npz.exists()
        got = self._read(key)
        if got is None:
            if existed and not npz.exists():
                raise CorruptResult(f"result file {npz} is corrupt; moved to {npz.name}.corrupt")
            raise KeyError(f"no saved result {key!r} (by this code) in {self.root}")
        return got

    def keys(self) -> list[str]:
        """Keys of all complete points (any stamp), sorted."""
        if not self.root.exists():
            return []
        return sorted(p.stem for p in self.root.glob("*.npz"))

    def cached(self, key: str, compute, meta: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
        """Load point ``key`` if saved, else ``arrays = compute()``, save and return them."""
        got = self.get(key)
        if got is not None:
            return got[0]
        arrays = compute()
        self.save(key, arrays, meta)
        return {k: np.asarray(v) for k, v in arrays.items()}
