"""What a chapter run records about itself: versions, hardware, commit, fingerprints.

Stored in the executed notebook's ``metadata.overparam`` by :mod:`.runner` and, for the
published edition, in its ``*.run.json`` records (:mod:`.edition`).
"""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from .. import __version__, config
from . import cache, registry


def environment_facts(device: str) -> dict:
    """Versions and hardware of this run: Python, torch, CUDA, GPU name, resolved device."""
    import torch

    resolved = config.resolve_device(device)
    gpu = torch.cuda.get_device_name(resolved) if resolved.type == "cuda" else ""
    return {"device_resolved": str(resolved), "python": platform.python_version(),
            "torch": torch.__version__, "cuda": torch.version.cuda or "",
            "gpu": gpu, "overparam": __version__, "host_cpus": os.cpu_count()}


def source_commit(root: Path) -> dict:
    """The commit of the code that runs: ``{"commit": sha, "commit_dirty": bool | None}``.

    ``$OVERPARAM_COMMIT`` wins (a copy of the tree without ``.git``, e.g. on the GPU
    machine, gets it from the script that sent the tree: ``sha`` or ``sha+dirty``); else
    ``git rev-parse HEAD`` in ``root``, dirty when ``overparam/`` or ``notebooks/`` differ
    from it; else empty.
    """
    env = os.environ.get("OVERPARAM_COMMIT", "").strip()
    if env:
        sha, _, flag = env.partition("+")
        return {"commit": sha, "commit_dirty": flag == "dirty"}
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10)
        if sha.returncode != 0:
            return {"commit": "", "commit_dirty": None}
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "overparam", "notebooks"],
                               cwd=root, capture_output=True, text=True, timeout=10)
        return {"commit": sha.stdout.strip(), "commit_dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "", "commit_dirty": None}


def fingerprints(src: Path, chapter: str, package: str | None = None) -> dict:
    """What a run depends on, hashed part by part (to tell later *what* changed since).

    ``notebook`` (cells without outputs), ``chapter_code`` (the chapter's own module) and
    ``package`` (every result-relevant source but the other chapters',
    :func:`cache.package_fingerprint`).
    """
    try:
        module = registry.by_name(chapter).module
    except (KeyError, ValueError, ImportError):
        module = ""
    return {"notebook": cache.notebook_fingerprint(src),
            "chapter_code": cache.module_fingerprint(module),
            "package": cache.package_fingerprint(chapter=module or None) if package is None else package}
