"""Chapters as Ray tasks: ``python -m overparam run|book --backend ray [--address auto]``.

Each chapter is one Ray task. The task runs the book's own
:func:`overparam.book.runner.run_chapter` on a worker, in a scratch copy of the chapter's
files: the notebook source and the chapter's current pages (last good executed copy,
claims, failed copy) are sent with the task, the kernel's working directory is the
project root as in a local run, and the runner does there what it does locally: cache
check, papermill execution, claims extraction, run record in the notebook metadata, and
on failure the last good page with its banner (or a failure page) plus
``<chapter>.failed.ipynb``. The task returns the resulting files; the driver writes them
into ``book/chapters`` atomically (:func:`~overparam.book.paths.write_atomic`) while it
holds the chapter's lock, so the pages are exactly those of a local run and a worker
needs no shared file system for them.

A chapter whose task fails outside the runner (its worker killed more often than
``max_retries``, Ray errors) is reported as failed with the error; its pages are left as
they were (nothing finished is lost) and the other chapters go on.

Without ``address`` (and without ``$RAY_ADDRESS``) Ray starts locally on this machine.
Each task takes one CPU (one torch thread per chapter, as with ``--jobs``) and, where the
cluster has GPUs and the device is not ``cpu``, ``num_gpus`` of a GPU (default 0.25:
four chapters share one GPU, as ``--jobs`` does).
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..engine.distributed import ensure_ray, error_line, require_ray
from . import runner
from ..atomicio import remove_stale_temps
from .paths import Paths, write_atomic

#: The files of one chapter in ``book/chapters`` that a run may write or remove.
CHAPTER_FILES = ("{}.ipynb", "{}.claims.json", "{}.failed.ipynb")
#: Environment variables sent with each task (the book's own settings and the import path).
ENV_PREFIXES = ("OVERPARAM_",)
ENV_NAMES = ("PYTHONPATH",)


@dataclasses.dataclass(frozen=True)
class ScratchPaths(Paths):
    """:class:`Paths` whose chapters and build folders lie in a scratch folder on the worker;
    ``root`` (the kernels' working directory) and the notebooks are the project's."""

    scratch: Path = Path(".")

    @property
    def chapters(self) -> Path:
        return self.scratch / "chapters"

    @property
    def build(self) -> Path:
        return self.scratch / "_build"


def chapter_files(chapters_dir: Path, chapter: str) -> dict[str, str]:
    """The chapter's files present in ``chapters_dir``: name -> text."""
    out = {}
    for pattern in CHAPTER_FILES:
        p = chapters_dir / pattern.format(chapter)
        if p.exists():
            out[p.name] = p.read_text()
    return out


def _chapter_task(root: str, chapter: str, source: str, files: Mapping[str, str], profile: str,
                  device: str, seed: int, params: Mapping[str, Any], force: bool,
                  env: Mapping[str, str]) -> dict:
    """Body of one Ray task: :func:`runner.run_chapter` in a scratch copy; return its files."""
    from .paths import default_paths

    os.environ.update(env)
    root_path = Path(root) if Path(root).is_dir() else default_paths().root
    if str(root_path) not in sys.path:  # as when `python -m overparam` runs from the root
        sys.path.insert(0, str(root_path))
    with tempfile.TemporaryDirectory(prefix=f"overparam-{chapter}-") as tmp:
        scratch = Path(tmp)
        (scratch / "notebooks").mkdir()
        (scratch / "chapters").mkdir()
        (scratch / "notebooks" / f"{chapter}.ipynb").write_text(source)
        for name, text in files.items():
            (scratch / "chapters" / name).write_text(text)
        paths = ScratchPaths(root_path, scratch / "notebooks", scratch)
        res = runner.run_chapter(paths, chapter, profile, device, seed, params, force,
                                 log=lambda s: print(s, file=sys.stderr, flush=True))
        return {"result": dataclasses.asdict(res), "files": chapter_files(paths.chapters, chapter),
                "host": platform.node()}


def store_files(paths: Paths, chapter: str, files: Mapping[str, str]) -> None:
    """Make the chapter's files in ``book/chapters`` those of ``files``: each written
    atomically, the notebook last; a file the run removed is removed here."""
    paths.chapters.mkdir(parents=True, exist_ok=True)
    names = [p.format(chapter) for p in CHAPTER_FILES]
    for name in sorted(names, key=lambda n: n == f"{chapter}.ipynb"):
        if name in files:
            write_atomic(paths.chapters / name, files[name])
        else:
            (paths.chapters / name).unlink(missing_ok=True)


def _gpus(ray, device: str, num_gpus: float | None) -> float:
    if device == "cpu" or ray.cluster_resources().get("GPU", 0) <= 0:
        return 0.0
    return 0.25 if num_gpus is None else float(num_gpus)


def run_chapters(paths: Paths, chapters: Sequence[str], profile: str, device: str, seed: int,
                 params: Mapping[str, Any] | None = None, force: bool = False, log=print,
                 address: str | None = None, num_gpus: float | None = None,
                 max_retries: int = 1) -> list[runner.ChapterResult]:
    """Run chapters as Ray tasks; same arguments and results as :func:`runner.run_chapters`.

    Parameters
    ----------
    address : Ray cluster to join (``"auto"``: the one ``ray start`` runs on this node);
        None: ``$RAY_ADDRESS`` or a local instance
    num_gpus : GPU share of one chapter where the cluster has GPUs (None: 0.25)
    max_retries : re-runs of a chapter whose worker died

    Returns one :class:`runner.ChapterResult` per chapter, in the order given; a chapter
    that failed on Ray (not in its notebook) is ``failed`` with the error and its pages
    are left as they were.
    """
    ray = ensure_ray(address)
    n, start = len(chapters), time.time()
    gpus = _gpus(ray, device, num_gpus)
    task = ray.remote(_chapter_task).options(num_cpus=1, num_gpus=gpus, max_retries=max_retries)
    env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES) or k in ENV_NAMES}
    done: dict[str, runner.ChapterResult] = {}
    with contextlib.ExitStack() as locks:
        for ch in chapters:  # one run of a chapter at a time, as locally
            locks.enter_context(runner.chapter_lock(paths, ch, log))
        remove_stale_temps(paths.chapters)
        pending = {}
        for i, ch in enumerate(chapters, 1):
            source = (paths.notebooks / f"{ch}.ipynb").read_text()
            ref = task.remote(str(paths.root), ch, source, chapter_files(paths.chapters, ch), profile,
                              device, int(seed), dict(params or {}), force, env)
            pending[ref] = (i, ch)
            log(f"[{i}/{n}] {ch} submitted to Ray (profile={profile}, device={device}, seed={seed}"
                + (f", {gpus:g} GPU" if gpus else "") + ")")
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                i, ch = pending.pop(ready[0])
                host = ""
                try:
                    out = ray.get(ready[0])
                except Exception as err:  # noqa: BLE001 - worker died, Ray error: pages stay
                    res = runner.ChapterResult(ch, "failed", time.time() - start,
                                               error=f"on Ray: {error_line(err)}")
                else:
                    res, host = runner.ChapterResult(**out["result"]), out["host"]
                    store_files(paths, ch, out["files"])
                done[ch] = res
                log(f"[{i}/{n}] {ch} {res.describe()}" + (f" on {host}" if host else "")
                    + f" (elapsed {time.time() - start:.0f} s)")
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
    return [done[ch] for ch in chapters]


__all__ = ["run_chapters", "store_files", "chapter_files", "ScratchPaths", "CHAPTER_FILES",
           "require_ray"]
