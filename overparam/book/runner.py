"""Execute chapter notebooks with papermill, cache them, run several side by side.

The flow (DESIGN.md): ``notebooks/NN_slug.ipynb`` is executed by papermill with a profile
into ``book/chapters/NN_slug.ipynb`` (atomically: a temp file in the same folder, then
``os.replace``), its claims table is extracted to ``book/chapters/NN_slug.claims.json``, and
Jupyter Book 1 renders the executed copies without executing anything.

- A chapter is skipped when its cache key (:mod:`.cache`) is unchanged since its last
  good run; the key and the facts of the run live in the executed notebook's
  ``metadata.overparam``. A cache hit of a good run also clears the banner and the
  ``.failed.ipynb`` of a failure that came after it.
- While a chapter runs, the kernel's stderr (the engine's progress lines) is streamed to
  the terminal, one whole line at a time, prefixed with the chapter; it stays out of the
  pages (``nb_output_stderr: remove``). The kernel's own start-up log is silenced.
- One run of a chapter at a time: a lock under ``book/_build/.locks``; a second run waits and
  says who holds it. Temp files of a killed run are removed by the next run.
- ``jobs > 1`` runs chapters in separate processes; on a CPU each kernel gets one thread.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .. import config
from ..claims import CLAIMS_MIME
from . import cache, registry
from .estimate import eta_line
from .facts import environment_facts, fingerprints, source_commit
from ..atomicio import remove_stale_temps, temp_prefix
from .paths import (METADATA_KEY, Paths, chapter_title, message_page, read_meta, write_atomic,
                    write_nb_atomic)

#: Tag that myst-nb understands: the cell is not rendered in the HTML.
HIDE_TAG = "remove-cell"
STALE_TAG = "overparam-stale-warning"
GPU_TAG = "overparam-gpu-note"
GPU_NOTE = "```{include} ../_admonition/gpu.md\n```"
NUMERIC_FIELDS = ("measured", "ci_low", "ci_high")
#: Arguments for every kernel: no start-up warnings ("running over TCP ...") on the
#: terminal, and no "KeyboardInterrupt caught in kernel" (logged at ERROR) from the SIGINT
#: that jupyter_client sends to every kernel it shuts down. A cell's error still reaches
#: the runner through papermill; a dying kernel through its exception.
KERNEL_ARGS = ["--IPKernelApp.log_level=CRITICAL"]


@dataclasses.dataclass
class ChapterResult:
    """Outcome of one chapter in a run: ``ok``, ``cached`` or ``failed`` (with where and why)."""

    chapter: str
    status: str
    duration_s: float = 0.0
    failed_cell: int | None = None
    error: str = ""

    def describe(self) -> str:
        """One line for the console."""
        if self.status == "failed":
            where = f"at cell index {self.failed_cell}" if self.failed_cell is not None else "before any cell"
            return f"FAILED in {self.duration_s:.1f} s {where}: {self.error}"
        if self.status == "cached":
            return "cached (up to date; --force to re-run)"
        if self.status == "interrupted":
            return "interrupted"
        return f"done in {self.duration_s:.1f} s"


class LineStream:
    """A file-like sink that writes whole lines, each prefixed, with one ``os.write``.

    Several processes writing to one terminal then never interleave inside a line.
    """

    def __init__(self, prefix: str, fd: int = 2):
        self.prefix, self.fd, self.buf = prefix, fd, ""

    def write(self, text: str) -> int:
        self.buf += text
        *lines, self.buf = self.buf.split("\n")
        for line in lines:
            line = line.rstrip("\r")
            if "\r" in line:  # a tqdm-style redraw: keep the last state
                line = line.rsplit("\r", 1)[-1]
            if line.strip():
                os.write(self.fd, f"{self.prefix}{line}\n".encode(errors="replace"))
        return len(text)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self.buf.strip():
            self.write("\n")


def extract_claims(nb: Any) -> list[dict] | None:
    """The claims payload (mime :data:`CLAIMS_MIME`) of an executed notebook (last wins), or None."""
    found = None
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if CLAIMS_MIME in data:
                payload = data[CLAIMS_MIME]
                found = json.loads(payload) if isinstance(payload, str) else payload
    if found is None:
        return None
    rows = [dict(row) for row in found]
    for row in rows:  # the kernel's JSON turns NaN/inf into strings ("nan"): back to numbers
        for k in NUMERIC_FIELDS:
            if isinstance(row.get(k), str) and row[k].strip().lower() in ("nan", "inf", "-inf", "+inf"):
                row[k] = float(row[k])
    return rows


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (the kernels): a run's own CPU time,
    which another program's load on the machine does not inflate as it does wall time."""
    import resource

    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def _error_line(ename: str, evalue: str) -> str:
    """First line of ``ename: evalue``, without backticks (it goes into Markdown)."""
    line = f"{ename}: {evalue}".strip().replace("`", "'")
    return line.splitlines()[0] if line else "unknown error"


def _failed_source_cell(nb: Any) -> int | None:
    """Index, in the source notebook, of the cell whose output is an error (None if none)."""
    index = 0
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags or "papermill-error-cell-tag" in tags:
            continue
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return index
        index += 1
    return None


def _entry(chapter: str) -> registry.Chapter | None:
    try:
        return registry.by_name(chapter)
    except (KeyError, ValueError, ImportError):
        return None


def add_gpu_note(nb: Any, entry: registry.Chapter | None) -> bool:
    """Insert the GPU admonition after the title cell if the chapter has a ``full`` profile.

    Nothing is added when the notebook already includes ``_admonition/gpu.md``.
    """
    import nbformat

    if entry is None or not entry.has_full_profile():
        return False
    if any("_admonition/gpu.md" in c.source for c in nb.cells if c.cell_type == "markdown"):
        return False
    at = next((i + 1 for i, c in enumerate(nb.cells)
               if c.cell_type == "markdown" and any(l.startswith("# ") for l in c.source.splitlines())), 0)
    note = nbformat.v4.new_markdown_cell(GPU_NOTE)
    note.metadata["tags"] = [GPU_TAG]
    nb.cells.insert(at, note)
    return True


@contextlib.contextmanager
def chapter_lock(paths: Paths, chapter: str, log=print):
    """Hold ``book/_build/.locks/<chapter>.lock``; a second run of the chapter waits for the first."""
    import fcntl

    paths.locks.mkdir(parents=True, exist_ok=True)
    with open(paths.locks / f"{chapter}.lock", "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            log(f"{chapter}: waiting for {holder}, which is running this chapter")
            fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def clear_failure(paths: Paths, chapter: str) -> bool:
    """After a good run is current again: drop the stale-page banner and ``.failed.ipynb``."""
    import nbformat

    out = paths.chapters / f"{chapter}.ipynb"
    changed = False
    failed = paths.chapters / f"{chapter}.failed.ipynb"
    if failed.exists():
        failed.unlink()
        changed = True
    meta = read_meta(out)
    if meta.get("latest_failure"):
        nb = nbformat.read(str(out), as_version=4)
        nb.cells = [c for c in nb.cells if STALE_TAG not in c.get("metadata", {}).get("tags", [])]
        nb.metadata[METADATA_KEY].pop("latest_failure", None)
        write_nb_atomic(nb, out)
        changed = True
    return changed


def run_chapter(paths: Paths, chapter: str, profile: str, device: str, seed: int,
                params: Mapping[str, Any] | None = None, force: bool = False,
                stream: Any = None, log=print) -> ChapterResult:
    """Execute one chapter with papermill into ``book/chapters/<chapter>.ipynb``, or skip it.

    Parameters
    ----------
    paths : Paths
    chapter : str
        Name ``NN_slug`` of a notebook in ``paths.notebooks``.
    profile, device : str
        Injected as parameters; ``device`` is resolved ("auto" -> cuda/cpu) for the key.
    seed : int
    params : mapping, optional
        Extra parameters (``-p``), already validated by :func:`validate.validate_request`.
    force : bool
        Re-run even when the cache key matches the last good run.
    stream : file-like, optional
        Where the kernel's stderr goes while it runs (default: the terminal, each line
        prefixed with the chapter).

    Returns
    -------
    ChapterResult
        ``cached``, ``ok`` or ``failed``. On failure the last good copy stays in place,
        the failed copy is kept as ``<chapter>.failed.ipynb``, and a chapter with no good
        copy gets a "This chapter failed to execute" page.
    """
    params = dict(params or {})
    src = paths.notebooks / f"{chapter}.ipynb"
    out = paths.chapters / f"{chapter}.ipynb"
    facts = environment_facts(device)
    injected = {"profile": profile, "device": device, "seed": int(seed), **params}
    package = cache.package_fingerprint(chapter=registry.chapter_module(chapter))
    key = cache.run_key(src, profile, device, seed, params, package)
    paths.chapters.mkdir(parents=True, exist_ok=True)
    with chapter_lock(paths, chapter, log):
        remove_stale_temps(paths.chapters)
        previous = read_meta(out)
        if not force and previous.get("ok") and previous.get("key") == key:
            clear_failure(paths, chapter)
            return ChapterResult(chapter, "cached")
        fd, tmp_name = tempfile.mkstemp(dir=paths.chapters, prefix=temp_prefix(chapter), suffix=".ipynb")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            facts = {**facts, **source_commit(paths.root),
                     "fingerprints": fingerprints(src, chapter, package)}
            return _execute(paths, chapter, src, out, tmp, injected, facts, key, previous,
                            stream if stream is not None else LineStream(f"  [{chapter}] "))
        finally:  # whatever happened (even Ctrl-C), leave no temp file behind
            tmp.unlink(missing_ok=True)


def _execute(paths: Paths, chapter: str, src: Path, out: Path, tmp: Path, injected: dict,
             facts: dict, key: str, previous: dict, stream: Any) -> ChapterResult:
    """Body of :func:`run_chapter` once the lock and the temp file are held: execute, then store."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    failed_out = paths.chapters / f"{chapter}.failed.ipynb"
    claims_out = paths.chapters / f"{chapter}.claims.json"
    profile, device = injected["profile"], injected["device"]
    params = {k: v for k, v in injected.items() if k not in ("profile", "device", "seed")}
    # The kernel "python3" may resolve to a kernelspec whose argv is plain "python":
    # make that this interpreter, so the kernel sees the same packages as the runner.
    env_path = os.environ.get("PATH", "")
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env_path
    started, cpu0 = time.time(), _children_cpu()
    error: BaseException | None = None
    try:
        papermill.execute_notebook(str(src), str(tmp), parameters=injected, kernel_name="python3",
                                   progress_bar=False, log_output=False, cwd=str(paths.root),
                                   stderr_file=stream, extra_arguments=KERNEL_ARGS)
    except PapermillExecutionError as err:
        error = err
    except Exception as err:  # kernel died, bad notebook JSON, ...
        error = err
    finally:
        os.environ["PATH"] = env_path
        if hasattr(stream, "close"):
            stream.close()
    duration = time.time() - started
    meta = {"chapter": chapter, "key": key, "profile": profile, "device": device,
            "seed": int(injected["seed"]), "parameters": params, **facts,
            "duration_s": round(duration, 2), "cpu_s": round(_children_cpu() - cpu0, 2),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "ok": error is None}
    try:
        nb = nbformat.read(str(tmp), as_version=4) if tmp.stat().st_size else None
    except Exception:  # noqa: BLE001 - papermill failed before writing a notebook
        nb = None

    if error is None and nb is not None:
        for cell in nb.cells:
            tags = cell.metadata.setdefault("tags", [])
            if "injected-parameters" in tags and HIDE_TAG not in tags:
                tags.append(HIDE_TAG)
        add_gpu_note(nb, _entry(chapter))
        nb.metadata[METADATA_KEY] = meta
        write_nb_atomic(nb, tmp)
        os.replace(tmp, out)
        claims = extract_claims(nb)
        if claims is None:
            claims_out.unlink(missing_ok=True)
        else:
            for row in claims:
                row.setdefault("profile", profile)
            write_atomic(claims_out, json.dumps(claims, indent=1))
        failed_out.unlink(missing_ok=True)
        return ChapterResult(chapter, "ok", duration)

    # ----- failure: keep the last good copy, keep the failed copy beside it
    if isinstance(error, PapermillExecutionError):
        cell = _failed_source_cell(nb) if nb is not None else None
        line = _error_line(error.ename, error.evalue)
    else:
        cell, line = None, _error_line(type(error).__name__, str(error))
    meta.update(failed_cell=cell, error=line)
    if nb is not None:
        nb.metadata[METADATA_KEY] = meta
        write_nb_atomic(nb, tmp)
        os.replace(tmp, failed_out)
    else:
        tmp.unlink(missing_ok=True)
    where = (f"cell index {cell} of `notebooks/{chapter}.ipynb`" if cell is not None
             else f"`notebooks/{chapter}.ipynb`")
    if previous.get("ok") and out.exists():
        # Tell the reader the page is the last good run, not the latest source.
        good = nbformat.read(str(out), as_version=4)
        note = nbformat.v4.new_markdown_cell(
            f"```{{warning}}\nThe latest run of this chapter ({meta['date']}, profile "
            f"`{profile}`) failed at {where}:\n`{line}`.\nThis page shows the last good run, "
            f"from {previous.get('date', '?')} (profile `{previous.get('profile', '?')}`).\n```")
        note.metadata["tags"] = [STALE_TAG]
        good.cells = [c for c in good.cells if STALE_TAG not in c.get("metadata", {}).get("tags", [])]
        good.cells.insert(0, note)
        good.metadata[METADATA_KEY] = {**previous, "latest_failure": {
            k: meta[k] for k in ("date", "profile", "device", "failed_cell", "error")}}
        write_nb_atomic(good, out)
    else:
        body = (f"```{{error}}\nThis chapter failed to execute: `{line}`\n```\n\n"
                f"The error is in {where} (profile `{profile}`, device `{device}`, {meta['date']}). "
                f"The executed copy with the traceback is `book/chapters/{chapter}.failed.ipynb`.")
        write_nb_atomic(message_page(chapter, chapter_title(src, chapter), body,
                                     {**meta, "page": "failed"}), out)
        claims_out.unlink(missing_ok=True)
    return ChapterResult(chapter, "failed", duration, cell, line)


# --------------------------------------------------------------- several chapters

def default_jobs(device: str, n_chapters: int) -> int:
    """Chapters to run side by side: one per core on a CPU, up to 4 sharing one GPU."""
    cores = os.cpu_count() or 1
    cap = min(4, cores) if config.resolve_device(device).type == "cuda" else cores
    return max(1, min(cap, n_chapters))


def _worker(root: str, notebooks: str, chapter: str, profile: str, device: str, seed: int,
            params: dict, force: bool, one_thread: bool, label: str) -> ChapterResult:
    """One chapter in a worker process (``--jobs``): its own kernel, one thread on a CPU."""
    if one_thread:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")

    def say(text: str) -> None:
        os.write(1, (text + "\n").encode())
    say(f"{label} {chapter} started (profile={profile}, device={device}, seed={seed})")
    try:
        return run_chapter(Paths(Path(root), Path(notebooks)), chapter, profile, device, seed,
                           params, force, log=say)
    except KeyboardInterrupt:
        return ChapterResult(chapter, "interrupted")


def _whole_line(text: str) -> None:
    """Print ``text`` as one write of a whole line to stdout's file descriptor, as the
    ``--jobs`` workers do, so that a buffered half line never meets a worker's line."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # no real file (e.g. inside a notebook)
        print(text, flush=True)
        return
    sys.stdout.flush()
    os.write(fd, (text + "\n").encode())


def _longest_first(chapters: Sequence[str], estimates: Mapping[str, Any] | None):
    """``(i, chapter)`` in the order to start them: the longest estimated first, so that a
    long chapter never starts last while the other workers sit idle (chapters without an
    estimate keep their place after those with one)."""
    est = estimates or {}
    order = list(enumerate(chapters, 1))
    return sorted(order, key=lambda ic: -(est[ic[1]].seconds if est.get(ic[1]) else 0.0))


def run_chapters(paths: Paths, chapters: Sequence[str], profile: str, device: str, seed: int,
                 params: Mapping[str, Any] | None = None, force: bool = False,
                 log=print, jobs: int = 1,
                 estimates: Mapping[str, Any] | None = None) -> list[ChapterResult]:
    """Run chapters, printing ``[i/n] chapter started`` and ``... done in 12.3 s, eta ~ 40 s``
    (the eta from ``estimates``, :func:`.estimate.eta_line`).

    ``jobs > 1`` runs up to ``jobs`` chapters at once, each in its own process (and on a
    CPU with one thread each, unless ``OMP_NUM_THREADS`` says otherwise), the longest
    estimated first. A failing chapter
    does not stop the others. Returns one result per chapter, in the order given.
    """
    n = len(chapters)
    start = time.time()
    if jobs <= 1 or n <= 1:
        results = []
        for i, chapter in enumerate(chapters, 1):
            log(f"[{i}/{n}] {chapter} started (profile={profile}, device={device}, seed={seed})")
            res = run_chapter(paths, chapter, profile, device, seed, params, force, log=log)
            results.append(res)
            eta = eta_line({r.chapter: r for r in results}, chapters, estimates, 1)
            log(f"[{i}/{n}] {chapter} {res.describe()} (elapsed {time.time() - start:.0f} s{eta})")
        return results

    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    one_thread = config.resolve_device(device).type == "cpu"
    sys.stdout.flush()
    if log is print:  # workers write whole lines to fd 1: so must this process
        log = _whole_line
    done: dict[str, ChapterResult] = {}
    with ProcessPoolExecutor(max_workers=min(jobs, n), mp_context=mp.get_context("spawn")) as pool:
        futures = {pool.submit(_worker, str(paths.root), str(paths.notebooks), ch, profile, device,
                               int(seed), dict(params or {}), force, one_thread, f"[{i}/{n}]"): (i, ch)
                   for i, ch in _longest_first(chapters, estimates)}
        for fut in as_completed(futures):
            i, ch = futures[fut]
            try:
                res = fut.result()
            except Exception as err:  # noqa: BLE001 - a worker that died
                res = ChapterResult(ch, "failed", error=_error_line(type(err).__name__, str(err)))
            done[ch] = res
            eta = eta_line(done, chapters, estimates, jobs)
            log(f"[{i}/{n}] {ch} {res.describe()} (elapsed {time.time() - start:.0f} s{eta})")
    return [done[ch] for ch in chapters]


# ------------------------------------------------------------------------ report

def failure_report(results: Iterable[ChapterResult]) -> str:
    """A short plain-text summary of failed chapters (empty if none)."""
    return "\n".join(f"chapter {r.chapter} failed: {r.describe()}" for r in results
                     if r.status == "failed")
