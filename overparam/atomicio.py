"""Files written so that a reader never sees half of one, and a killed writer leaves nothing.

Every file the book keeps (pages, claims, run records, stored grid points) is written to
a temp file ``.<name>.<pid>.<random>.tmp`` in the same folder, flushed and fsync'd, given
mode 0644 and renamed over the target. A writer killed half way leaves only such a temp
file; :func:`remove_stale_temps` deletes those whose process is gone.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable


def temp_prefix(name: str) -> str:
    """Prefix of this process's temp files for ``name``: ``.<name>.<pid>.``."""
    return f".{name}.{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete temp files ``.<name>.<pid>.*`` in ``folder`` whose process is gone; return them."""
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for p in folder.iterdir():
        parts = p.name.split(".")
        if not p.name.startswith(".") or len(parts) < 4 or not p.is_file():
            continue
        pid = next((int(x) for x in parts[2:] if x.isdigit()), None)
        if pid is not None and not _alive(pid):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def write_atomic_bytes(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(fh)`` on a temp file beside ``path``; fsync, mode 0644, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path.name), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`write_atomic_bytes`)."""
    write_atomic_bytes(path, lambda fh: fh.write(text.encode()))
