"""Cache keys: a chapter is re-run only when what it computes could have changed.

The key of a run is a hash of the notebook with outputs stripped, the parameters
(profile, resolved device, seed, ``-p`` values) and the package (version plus the source of
every ``overparam/**/*.py`` that can change a result: everything but this ``book/``
package and ``__main__.py``).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

from .. import __version__

#: Parts of the package that never change a result, left out of the fingerprint
#: (``budget.py`` only estimates a run's time and memory and refuses or allows it: its
#: reference times are refreshed after each long edition without staling that edition).
NOT_IN_KEY = ("book", "__main__.py", "budget.py")


def _strip(nb: Any) -> dict:
    """The parts of a notebook that define what it computes (no outputs, no ids)."""
    return {"cells": [{"type": c.cell_type, "source": c.source,
                       "tags": sorted(c.get("metadata", {}).get("tags", []))} for c in nb.cells]}


def package_fingerprint(pkg: Path | None = None, chapter: str | None = None) -> str:
    """Hash of the package version and the source of every result-relevant ``*.py`` file.

    ``pkg`` is the package folder (default: this package); files under ``pkg/book/`` and
    ``pkg/__main__.py`` are left out. With ``chapter`` (a module name such as
    ``overparam.chapters.connectivity``), the other chapters' code is left out too: a chapter
    never imports another (a test checks), so their code cannot change its results, and a
    change in one chapter neither re-runs nor marks stale the others.
    """
    h = hashlib.sha256(__version__.encode())
    pkg = Path(__file__).resolve().parents[1] if pkg is None else Path(pkg)
    own = chapter.rsplit(".", 1)[-1] if chapter else None
    for f in sorted(pkg.rglob("*.py")):
        rel = f.relative_to(pkg)
        if rel.parts[0] in NOT_IN_KEY:
            continue
        if chapter is not None and len(rel.parts) > 2 and rel.parts[0] == "chapters" and rel.parts[1] != own:
            continue
        h.update(str(rel).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def notebook_fingerprint(nb_path: Path) -> str:
    """Hash of what a notebook computes: its cells' sources and tags, not its outputs."""
    import nbformat

    nb = nbformat.read(str(nb_path), as_version=4)
    return hashlib.sha256(json.dumps(_strip(nb), sort_keys=True).encode()).hexdigest()


def module_fingerprint(module: str | None, pkg: Path | None = None) -> str:
    """Hash of the source of one module of the package (a file, or a subpackage's files).

    ``module`` is a dotted name under ``overparam`` (``overparam.chapters.double_descent``);
    ``""`` for a module outside the package or none at all (then the hash of nothing).
    Used to say *which* code changed since a published run: the chapter's own, or shared.
    """
    h = hashlib.sha256()
    pkg = Path(__file__).resolve().parents[1] if pkg is None else Path(pkg)
    parts = (module or "").split(".")
    if parts[0] != pkg.name:
        return h.hexdigest()
    base = pkg.joinpath(*parts[1:])
    files = sorted(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]
    for f in files:
        if f.exists():
            h.update(str(f.relative_to(pkg)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def cache_key(nb_path: Path, parameters: Mapping[str, Any], fingerprint: str | None = None) -> str:
    """Cache key of one run: notebook without outputs, parameters, package fingerprint."""
    import nbformat

    nb = nbformat.read(str(nb_path), as_version=4)
    blob = json.dumps({"notebook": _strip(nb), "parameters": dict(parameters),
                       "package": package_fingerprint() if fingerprint is None else fingerprint},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def run_key(src: Path, profile: str, device: str, seed: int, params: Mapping[str, Any],
            package: str | None = None) -> str:
    """The cache key of running notebook ``src`` with these parameters on this machine
    (``device`` resolved: "auto" becomes cpu or cuda:0)."""
    from .. import config

    injected = {"profile": profile, "device": str(config.resolve_device(device)),
                "seed": int(seed), **dict(params)}
    return cache_key(src, injected, package)
