"""Run the chapter notebooks with papermill, cache the results and build the HTML book.

The flow (DESIGN.md): ``notebooks/NN_slug.ipynb`` is executed by papermill with a profile
into ``book/chapters/NN_slug.ipynb`` (atomically: a temp file in the same folder, then
``os.replace``), its claims table is extracted to ``book/chapters/NN_slug.claims.json``, and
Jupyter Book 1 renders the executed copies without executing anything.

A chapter is skipped when its cache key is unchanged since its last good run. The key is a
hash of the notebook with outputs stripped, the parameters (profile, resolved device, seed,
``-p`` values) and the package (version plus the source of every ``overparam/*.py`` that can
change a result). It is stored, with the facts of the run, in the executed notebook's
``metadata.overparam``, from which ``status`` writes ``book/status.md``.

Every path is relative to a :class:`Paths` object, so tests can run the whole pipeline in
a temporary copy of the project (``--root`` / ``OVERPARAM_ROOT``).
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from . import __version__, config
from .claims import CLAIMS_MIME, VERDICTS

# Chapter name -> "module:attribute" of its profile table, used to validate ``-p`` values
# before anything runs. Each chapter adds its line here.
PROFILE_TABLES: dict[str, str] = {
    "01_exploration": "overparam.chapters.exploration:PROFILES",
    "03_double_descent": "overparam.chapters.double_descent:PROFILES",
    "02_hessian_spectra": "overparam.chapters.hessian_spectra:PROFILES",
    "04_variance_metrics": "overparam.chapters.variance_metrics:PROFILES",
    "07_lottery_tickets": "overparam.chapters.lottery_tickets:PROFILES",
}

# Names every chapter's parameters cell holds; they are set with --profile/--device/--seed.
COMMON_PARAMETERS = ("profile", "device", "seed")
# Package files that do not change any result, left out of the cache key.
_NOT_IN_KEY = {"book.py", "__main__.py"}
# Tag that myst-nb understands: the cell is not rendered in the HTML.
HIDE_TAG = "remove-cell"
METADATA_KEY = "overparam"


@dataclasses.dataclass(frozen=True)
class Paths:
    """Where the pipeline reads and writes.

    Parameters
    ----------
    root : Path
        Project root: holds ``_config.yml``, ``_toc.yml`` and ``book/``; the kernels'
        working directory.
    notebooks : Path
        Folder of chapter sources ``NN_slug.ipynb``.

    Introduced in: Chapter 1 (the book pipeline)
    """

    root: Path
    notebooks: Path

    @property
    def chapters(self) -> Path:
        """Folder of executed chapters and their claims files."""
        return self.root / "book" / "chapters"

    @property
    def build(self) -> Path:
        """Jupyter Book output folder (``<root>/book/_build``)."""
        return self.root / "book" / "_build"

    @property
    def html_index(self) -> Path:
        """The built book's entry page."""
        return self.build / "html" / "index.html"


def default_paths(root: str | os.PathLike | None = None,
                  notebooks: str | os.PathLike | None = None) -> Paths:
    """Resolve the project paths from arguments, then environment, then defaults.

    Parameters
    ----------
    root : path, optional
        Project root; else ``$OVERPARAM_ROOT``; else the current directory when it holds a
        ``_toc.yml``; else the folder above this package (an editable install).
    notebooks : path, optional
        Chapter sources; else ``$OVERPARAM_NOTEBOOKS``; else ``<root>/notebooks``.

    Returns
    -------
    Paths

    Introduced in: Chapter 1 (the book pipeline)
    """
    if root is None:
        root = os.environ.get("OVERPARAM_ROOT")
    if root is None:
        root = Path.cwd() if (Path.cwd() / "_toc.yml").exists() else Path(__file__).resolve().parents[1]
    root = Path(root).resolve()
    if notebooks is None:
        notebooks = os.environ.get("OVERPARAM_NOTEBOOKS") or root / "notebooks"
    return Paths(root=root, notebooks=Path(notebooks).resolve())


# --------------------------------------------------------------------------- chapters

def available_chapters(paths: Paths) -> list[str]:
    """Names (``NN_slug``) of the chapter notebooks in ``paths.notebooks``, sorted.

    Introduced in: Chapter 1 (the book pipeline)
    """
    if not paths.notebooks.is_dir():
        return []
    return sorted(p.stem for p in paths.notebooks.glob("[0-9][0-9]_*.ipynb")
                  if not p.name.endswith(".failed.ipynb"))


def resolve_chapters(requested: Sequence[str], available: Sequence[str]) -> list[str]:
    """Turn ``01``, ``exploration`` or ``01_exploration`` into chapter names.

    Parameters
    ----------
    requested : sequence of str
        What the user typed; empty means every available chapter.
    available : sequence of str
        The chapter names found in the notebooks folder.

    Returns
    -------
    list of str
        The chapter names, in book order, without duplicates.

    Raises
    ------
    ValueError
        Naming the parameter ``chapter`` and the allowed values.

    Introduced in: Chapter 1 (the book pipeline)
    """
    if not requested:
        return list(available)
    chosen = []
    for req in requested:
        req_name = Path(req).stem if req.endswith(".ipynb") else req
        hits = [c for c in available
                if req_name in (c, c.split("_", 1)[0], c.split("_", 1)[-1])]
        if len(hits) != 1:
            allowed = ", ".join(repr(c) for c in available) or "(no notebooks found)"
            raise ValueError(f"chapter={req!r} is not allowed; choose one of: {allowed} "
                             "(or their number or slug)")
        if hits[0] not in chosen:
            chosen.append(hits[0])
    return [c for c in available if c in chosen]


def toc_chapters(paths: Paths) -> list[str]:
    """Chapter names listed in ``_toc.yml`` (entries ``book/chapters/<name>``).

    Introduced in: Chapter 1 (the book pipeline)
    """
    import yaml

    toc_file = paths.root / "_toc.yml"
    if not toc_file.exists():
        return []
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            f = node.get("file")
            if isinstance(f, str) and f.startswith("book/chapters/"):
                found.append(Path(f).name.removesuffix(".ipynb"))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(yaml.safe_load(toc_file.read_text()))
    return found


# ----------------------------------------------------------------------- parameters

def parse_value(text: str) -> Any:
    """Parse a ``-p NAME VALUE`` value as a YAML literal (``3``, ``0.5``, ``[1, 2]``, ``null``).

    Introduced in: Chapter 1 (the book pipeline)
    """
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def notebook_parameters(nb_path: Path) -> list[str]:
    """Names assigned in a notebook's ``parameters`` cell, in order.

    Read with :mod:`ast` rather than papermill's ``inspect_notebook``, whose line parser
    skips some valid lines (e.g. a trailing comment holding ``..``).

    Introduced in: Chapter 1 (the book pipeline)
    """
    import ast

    import nbformat

    nb = nbformat.read(str(nb_path), as_version=4)
    names: list[str] = []
    for cell in nb.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            for stmt in ast.parse(cell.source).body:
                if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                    names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def load_profile_table(chapter: str,
                       registry: Mapping[str, str] | None = None) -> Mapping[str, Any] | None:
    """Import a chapter's profile table from :data:`PROFILE_TABLES`; None if not registered.

    Introduced in: Chapter 1 (the book pipeline)
    """
    spec = (PROFILE_TABLES if registry is None else registry).get(chapter)
    if spec is None:
        return None
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr or "PROFILES")


def validate_request(paths: Paths, chapters: Sequence[str], profile: str, device: str,
                     seed: Any, params: Mapping[str, Any]) -> None:
    """Check every input of a run before anything executes or is written.

    Parameters
    ----------
    paths : Paths
    chapters : sequence of str
        Resolved chapter names.
    profile, device : str
        Checked against :data:`config.PROFILES` and :data:`config.DEVICES`; ``cuda`` must
        be present.
    seed : int
        A non-negative integer.
    params : mapping
        ``-p`` values (already parsed). Each must be a parameter of every chapter's
        notebook, and a knob that is a field of the chapter's profile dataclass is
        validated by ``config.resolve_profile`` (e.g. a negative width).

    Raises
    ------
    ValueError
        One message naming the parameter and the allowed values.

    Introduced in: Chapter 1 (the book pipeline)
    """
    config.check_choice("profile", profile, config.PROFILES)
    config.resolve_device(device)
    config.check_positive("seed", seed, integer=True, allow_zero=True)
    for name in params:
        if name in COMMON_PARAMETERS:
            raise ValueError(f"-p {name}: set it with --{name}, not -p")
    if not params:
        return
    for chapter in chapters:
        names = notebook_parameters(paths.notebooks / f"{chapter}.ipynb")
        knobs = [n for n in names if n not in COMMON_PARAMETERS]
        for name in params:
            if name not in names:
                raise ValueError(f"-p {name} is not a parameter of chapter {chapter}; "
                                 f"choose one of: {', '.join(knobs) or '(none)'}")
        table = load_profile_table(chapter)
        if table is None:
            continue
        fields = {f.name for f in dataclasses.fields(next(iter(table.values())))}
        overrides = {k: v for k, v in params.items() if k in fields}
        try:
            config.resolve_profile(table, profile, **overrides)
        except (ValueError, TypeError) as err:
            raise ValueError(f"chapter {chapter}: {err}") from None


# ------------------------------------------------------------------------ cache key

def _strip(nb: Any) -> dict:
    """The parts of a notebook that define what it computes (no outputs, no ids)."""
    return {"cells": [{"type": c.cell_type, "source": c.source,
                       "tags": sorted(c.get("metadata", {}).get("tags", []))} for c in nb.cells]}


def package_fingerprint(pkg: Path | None = None) -> str:
    """Hash of the package version and the source of every result-relevant ``*.py`` file.

    Parameters
    ----------
    pkg : Path, optional
        The package folder (default: this package).

    Introduced in: Chapter 1 (the book pipeline)
    """
    h = hashlib.sha256(__version__.encode())
    pkg = Path(__file__).resolve().parent if pkg is None else Path(pkg)
    for f in sorted(pkg.rglob("*.py")):
        if f.name in _NOT_IN_KEY and f.parent == pkg:
            continue
        h.update(str(f.relative_to(pkg)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def cache_key(nb_path: Path, parameters: Mapping[str, Any]) -> str:
    """Cache key of one run: notebook without outputs, parameters, package fingerprint.

    Parameters
    ----------
    nb_path : Path
        The chapter's source notebook.
    parameters : mapping
        Everything injected into it (profile, resolved device, seed, ``-p`` values).

    Returns
    -------
    str
        A hex digest.

    Introduced in: Chapter 1 (the book pipeline)
    """
    import nbformat

    nb = nbformat.read(str(nb_path), as_version=4)
    blob = json.dumps({"notebook": _strip(nb), "parameters": dict(parameters),
                       "package": package_fingerprint()}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def read_meta(nb_path: Path) -> dict:
    """``metadata.overparam`` of an executed notebook ({} if absent or unreadable).

    Introduced in: Chapter 1 (the book pipeline)
    """
    if not nb_path.exists():
        return {}
    try:
        with open(nb_path) as f:
            return dict(json.load(f).get("metadata", {}).get(METADATA_KEY, {}))
    except (OSError, ValueError):
        return {}


# ---------------------------------------------------------------------- execution

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
        return f"done in {self.duration_s:.1f} s"


def environment_facts(device: str) -> dict:
    """Versions and hardware of this run: Python, torch, CUDA, GPU name, resolved device.

    Introduced in: Chapter 1 (the book pipeline)
    """
    import torch

    resolved = config.resolve_device(device)
    gpu = torch.cuda.get_device_name(resolved) if resolved.type == "cuda" else ""
    return {"device_resolved": str(resolved), "python": platform.python_version(),
            "torch": torch.__version__, "cuda": torch.version.cuda or "",
            "gpu": gpu, "overparam": __version__, "host_cpus": os.cpu_count()}


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file in the same folder and os.replace."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_nb_atomic(nb: Any, path: Path) -> None:
    import nbformat

    _write_atomic(path, nbformat.writes(nb))


def extract_claims(nb: Any) -> list[dict] | None:
    """The claims payload (mime :data:`CLAIMS_MIME`) of an executed notebook, or None.

    If several cells display one, the last wins (a chapter has one claims table).

    Introduced in: Chapter 1 (the book pipeline)
    """
    found = None
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if CLAIMS_MIME in data:
                payload = data[CLAIMS_MIME]
                found = json.loads(payload) if isinstance(payload, str) else payload
    return found


def _error_line(ename: str, evalue: str) -> str:
    """First line of ``ename: evalue``, without backticks (it goes into Markdown)."""
    line = f"{ename}: {evalue}".strip().replace("`", "'")
    return line.splitlines()[0] if line else "unknown error"


def _failed_source_cell(nb: Any) -> int | None:
    """Index, in the source notebook, of the cell whose output is an error (None if none).

    papermill's output copy holds cells the source does not (``injected-parameters`` and,
    on failure, error banners tagged ``papermill-error-cell-tag``); the user should hear
    about the cell of the notebook they edit.
    """
    index = 0
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags or "papermill-error-cell-tag" in tags:
            continue
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return index
        index += 1
    return None


def message_page(chapter: str, title: str, body: str, meta: dict) -> Any:
    """A one-cell notebook standing in for a chapter page (never run, or failed).

    Introduced in: Chapter 1 (the book pipeline)
    """
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\n{body}")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata[METADATA_KEY] = {"chapter": chapter, **meta}
    return nb


def _chapter_title(src: Path, chapter: str) -> str:
    """The first ``# `` heading of a chapter notebook, or a title made from its slug."""
    import nbformat

    if src.exists():
        try:
            for cell in nbformat.read(str(src), as_version=4).cells:
                if cell.cell_type == "markdown":
                    for line in cell.source.splitlines():
                        if line.startswith("# "):
                            return line[2:].strip()
        except Exception:  # noqa: BLE001 - a broken source still gets a page
            pass
    return chapter.split("_", 1)[-1].replace("_", " ").capitalize()


def run_chapter(paths: Paths, chapter: str, profile: str, device: str, seed: int,
                params: Mapping[str, Any] | None = None, force: bool = False) -> ChapterResult:
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
        Extra parameters (``-p``), already validated by :func:`validate_request`.
    force : bool
        Re-run even when the cache key matches the last good run.

    Returns
    -------
    ChapterResult
        ``cached``, ``ok`` or ``failed``. On failure the last good copy stays in place,
        the failed copy is kept as ``<chapter>.failed.ipynb``, and a chapter with no good
        copy gets a "This chapter failed to execute" page.

    Introduced in: Chapter 1 (the book pipeline)
    """
    params = dict(params or {})
    src = paths.notebooks / f"{chapter}.ipynb"
    out = paths.chapters / f"{chapter}.ipynb"
    facts = environment_facts(device)
    injected = {"profile": profile, "device": device, "seed": int(seed), **params}
    key = cache_key(src, {**injected, "device": facts["device_resolved"]})

    previous = read_meta(out)
    if not force and previous.get("ok") and previous.get("key") == key:
        return ChapterResult(chapter, "cached")

    paths.chapters.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=paths.chapters, prefix=f".{chapter}.", suffix=".ipynb")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        return _execute(paths, chapter, src, out, tmp, profile, device, seed, params,
                        facts, key, previous)
    finally:  # whatever happened (even Ctrl-C), leave no temp file behind
        tmp.unlink(missing_ok=True)


def _execute(paths: Paths, chapter: str, src: Path, out: Path, tmp: Path, profile: str,
             device: str, seed: int, params: dict, facts: dict, key: str,
             previous: dict) -> ChapterResult:
    """Body of :func:`run_chapter` once the temp file exists: execute, then store."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    failed_out = paths.chapters / f"{chapter}.failed.ipynb"
    claims_out = paths.chapters / f"{chapter}.claims.json"
    injected = {"profile": profile, "device": device, "seed": int(seed), **params}
    # The kernel "python3" may resolve to a kernelspec whose argv is plain "python":
    # make that this interpreter, so the kernel sees the same packages as the runner.
    env_path = os.environ.get("PATH", "")
    bindir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bindir + os.pathsep + env_path
    started = time.time()
    error: PapermillExecutionError | BaseException | None = None
    try:
        papermill.execute_notebook(str(src), str(tmp), parameters=injected, kernel_name="python3",
                                   progress_bar=False, log_output=False, cwd=str(paths.root))
    except PapermillExecutionError as err:
        error = err
    except Exception as err:  # kernel died, bad notebook JSON, ...
        error = err
    finally:
        os.environ["PATH"] = env_path
    duration = time.time() - started
    meta = {"chapter": chapter, "key": key, "profile": profile, "device": device, "seed": int(seed),
            "parameters": params, **facts, "duration_s": round(duration, 2),
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
        nb.metadata[METADATA_KEY] = meta
        _write_nb_atomic(nb, tmp)
        os.replace(tmp, out)
        claims = extract_claims(nb)
        if claims is None:
            claims_out.unlink(missing_ok=True)
        else:
            for row in claims:
                row.setdefault("profile", profile)
            _write_atomic(claims_out, json.dumps(claims, indent=1))
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
        _write_nb_atomic(nb, tmp)
        os.replace(tmp, failed_out)
    else:
        tmp.unlink(missing_ok=True)
    where = f"cell index {cell} of `notebooks/{chapter}.ipynb`" if cell is not None else f"`notebooks/{chapter}.ipynb`"
    if previous.get("ok") and out.exists():
        # Tell the reader the page is the last good run, not the latest source.
        good = nbformat.read(str(out), as_version=4)
        note = nbformat.v4.new_markdown_cell(
            f"```{{warning}}\nThe latest run of this chapter ({meta['date']}, profile "
            f"`{profile}`) failed at {where}:\n`{line}`.\nThis page shows the last good run, "
            f"from {previous.get('date', '?')} (profile `{previous.get('profile', '?')}`).\n```")
        note.metadata["tags"] = ["overparam-stale-warning"]
        good.cells = [c for c in good.cells
                      if "overparam-stale-warning" not in c.get("metadata", {}).get("tags", [])]
        good.cells.insert(0, note)
        good.metadata[METADATA_KEY] = {**previous, "latest_failure": {
            k: meta[k] for k in ("date", "profile", "device", "failed_cell", "error")}}
        _write_nb_atomic(good, out)
    else:
        title = _chapter_title(src, chapter)
        body = (f"```{{error}}\nThis chapter failed to execute: `{line}`\n```\n\n"
                f"The error is in {where} (profile `{profile}`, device `{device}`, {meta['date']}). "
                f"The executed copy with the traceback is `book/chapters/{chapter}.failed.ipynb`.")
        _write_nb_atomic(message_page(chapter, title, body, {**meta, "page": "failed"}), out)
        claims_out.unlink(missing_ok=True)
    return ChapterResult(chapter, "failed", duration, cell, line)


def run_chapters(paths: Paths, chapters: Sequence[str], profile: str, device: str, seed: int,
                 params: Mapping[str, Any] | None = None, force: bool = False,
                 log=print) -> list[ChapterResult]:
    """Run chapters one after another, printing ``[i/n] chapter started / done in 12.3 s``.

    A failing chapter does not stop the others. Returns one result per chapter.

    Introduced in: Chapter 1 (the book pipeline)
    """
    results = []
    n = len(chapters)
    start = time.time()
    for i, chapter in enumerate(chapters, 1):
        log(f"[{i}/{n}] {chapter} started (profile={profile}, device={device}, seed={seed})")
        res = run_chapter(paths, chapter, profile, device, seed, params, force)
        log(f"[{i}/{n}] {chapter} {res.describe()} (elapsed {time.time() - start:.0f} s)")
        results.append(res)
    return results


# ------------------------------------------------------------------ generated pages

def ensure_pages(paths: Paths) -> list[str]:
    """Give every chapter listed in ``_toc.yml`` a page file; return those written.

    A chapter never run (or whose notebook does not exist yet) gets a placeholder that
    says how to produce it, so the build never breaks on a missing file.

    Introduced in: Chapter 1 (the book pipeline)
    """
    written = []
    for chapter in toc_chapters(paths):
        page = paths.chapters / f"{chapter}.ipynb"
        if page.exists():
            continue
        src = paths.notebooks / f"{chapter}.ipynb"
        if src.exists():
            body = ("This chapter has not been run yet. Run it with\n\n"
                    f"    python -m overparam run {chapter} --profile quick\n\n"
                    "then rebuild the book (`make book`).")
        else:
            body = ("This chapter is not written yet: there is no "
                    f"`notebooks/{chapter}.ipynb` in this version of the book.")
        paths.chapters.mkdir(parents=True, exist_ok=True)
        _write_nb_atomic(message_page(chapter, _chapter_title(src, chapter), body,
                                      {"ok": False, "page": "placeholder"}), page)
        written.append(chapter)
    return written


def _md_escape(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def status_markdown(paths: Paths) -> str:
    """The text of ``book/status.md``: one row per chapter from its run metadata.

    Introduced in: Chapter 1 (the book pipeline)
    """
    chapters = list(dict.fromkeys(toc_chapters(paths) + available_chapters(paths)
                                  + sorted(p.stem for p in paths.chapters.glob("[0-9][0-9]_*.ipynb")
                                           if not p.name.endswith(".failed.ipynb"))))
    head = ("| chapter | result | profile | device | seed | parameters | torch | CUDA | GPU "
            "| duration | date (UTC) |\n|---|---|---|---|---|---|---|---|---|---:|---|")
    rows, failures, profiles = [], [], set()
    for chapter in chapters:
        meta = read_meta(paths.chapters / f"{chapter}.ipynb")
        page = meta.get("page")
        if not meta or page == "placeholder":
            rows.append(f"| {chapter} | never run | | | | | | | | | |")
            continue
        if page == "failed":
            result = "**failed** (no good run)"
            failures.append((chapter, meta))
        elif meta.get("latest_failure"):
            result = "ok, but the latest run **failed**"
            failures.append((chapter, meta["latest_failure"]))
        else:
            result = "ok"
        if meta.get("ok"):
            profiles.add(meta.get("profile"))
        params = ", ".join(f"{k}={v!r}" for k, v in (meta.get("parameters") or {}).items()) or "-"
        dev = meta.get("device_resolved") or meta.get("device", "")
        rows.append("| " + " | ".join(_md_escape(x) for x in (
            chapter, result, meta.get("profile", ""), dev, meta.get("seed", ""), params,
            meta.get("torch", ""), meta.get("cuda") or "-", meta.get("gpu") or "-",
            f"{meta.get('duration_s', 0):.1f} s", meta.get("date", ""))) + " |")
    lines = ["# Status of this build", "",
             "Which profile produced each chapter you read, on which device and with which "
             "versions. Written by `python -m overparam status` from the metadata that the "
             "runner stores in every executed notebook (Sphinx executes nothing).", ""]
    if profiles == {"smoke"}:
        lines += ["```{warning}", "Every chapter here ran with the `smoke` profile: it proves "
                  "that the code runs, and its numbers and verdicts mean nothing.", "```", ""]
    lines += [head, *rows, ""]
    if failures:
        lines += ["## Failures", ""]
        for chapter, m in failures:
            lines.append(f"- **{chapter}**: cell {m.get('failed_cell')}, `{_md_escape(m.get('error', ''))}` "
                         f"({m.get('date', '')}, profile `{m.get('profile', '')}`)")
        lines.append("")
    lines += [f"Python {platform.python_version()}, overparam {__version__}; "
              f"generated {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}.", ""]
    return "\n".join(lines)


def scorecard_markdown(paths: Paths) -> str:
    """The text of ``book/scorecard.md``: every chapter's claims and verdict counts.

    Introduced in: Chapter 1 (the book pipeline)
    """
    rows, counts = [], {v: 0 for v in VERDICTS}
    in_toc = set(toc_chapters(paths))  # link only pages the book has (else: a broken ref)
    for f in sorted(paths.chapters.glob("*.claims.json")):
        chapter = f.name.removesuffix(".claims.json")
        label = f"{{doc}}`{chapter} </book/chapters/{chapter}>`" if chapter in in_toc else chapter
        try:
            claims = json.loads(f.read_text())
        except ValueError:
            continue
        for c in claims:
            verdict = c.get("verdict", "?")
            counts[verdict] = counts.get(verdict, 0) + 1
            measured = (f"{c.get('measured', float('nan')):.3g} "
                        f"[{c.get('ci_low', float('nan')):.3g}, {c.get('ci_high', float('nan')):.3g}]")
            rows.append("| " + " | ".join(_md_escape(x) for x in (
                label, c.get("claim", ""),
                c.get("source", ""), measured, f"**{verdict}**", c.get("profile", ""))) + " |")
    lines = ["# Scorecard", "",
             "Every claim under test in the book, with what we measured (mean and 95 % "
             "interval) and the verdict computed from it by the rule stated in the chapter. "
             "Generated from the chapters' `*.claims.json` by `python -m overparam status`.", ""]
    total = sum(counts.values())
    if total:
        lines += ["| verdict | claims |", "|---|---:|",
                  *[f"| {v} | {n} |" for v, n in counts.items()], f"| total | {total} |", ""]
        lines += ["| chapter | claim | source | measured [95 % CI] | verdict | profile |",
                  "|---|---|---|---|---|---|", *rows, ""]
    else:
        lines += ["No chapter has produced a claims table yet.", ""]
    return "\n".join(lines)


def write_status(paths: Paths) -> tuple[Path, Path]:
    """Write ``book/status.md`` and ``book/scorecard.md`` (atomically); return their paths.

    Introduced in: Chapter 1 (the book pipeline)
    """
    (paths.root / "book").mkdir(parents=True, exist_ok=True)
    status, score = paths.root / "book" / "status.md", paths.root / "book" / "scorecard.md"
    _write_atomic(status, status_markdown(paths))
    _write_atomic(score, scorecard_markdown(paths))
    return status, score


# --------------------------------------------------------------------------- build

def build_html(paths: Paths, log=print) -> int:
    """Build the HTML with Jupyter Book 1 into ``<root>/book/_build/html``.

    Runs ``jupyter-book build <root> --path-output <root>/book -W --keep-going``: Sphinx
    warnings fail the build (exit code) but every page is still written.

    Returns
    -------
    int
        The builder's exit code.

    Introduced in: Chapter 1 (the book pipeline)
    """
    exe = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(paths.root),
           "--path-output", str(paths.root / "book"), "-W", "--keep-going"]
    log("building the HTML: " + " ".join(cmd))
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        log(f"jupyter-book exited with {proc.returncode}:\n{tail}")
    return proc.returncode


def failure_report(results: Iterable[ChapterResult]) -> str:
    """A short plain-text summary of failed chapters (empty if none).

    Introduced in: Chapter 1 (the book pipeline)
    """
    return "\n".join(f"chapter {r.chapter} failed: {r.describe()}" for r in results
                     if r.status == "failed")


__all__ = [
    "Paths", "default_paths", "available_chapters", "resolve_chapters", "toc_chapters",
    "parse_value", "notebook_parameters", "load_profile_table", "validate_request",
    "package_fingerprint", "cache_key", "read_meta", "ChapterResult", "environment_facts",
    "extract_claims", "message_page", "run_chapter", "run_chapters", "ensure_pages",
    "status_markdown", "scorecard_markdown", "write_status", "build_html", "failure_report",
    "PROFILE_TABLES",
]


# ------------------------------------------------------------- Sphinx extension

def _drop_network_scripts(app: Any, pagename: str, templatename: str, context: dict,
                          doctree: Any) -> None:
    """Remove sphinx-thebe's scripts, which point at a CDN (thebe from unpkg.com).

    Jupyter Book 1 always loads ``sphinx_thebe``; the book has no live-code button, so
    its loader and the ``THEBE_JS_URL`` constant are dead weight that names a CDN.
    """
    def keep(script: Any) -> bool:
        text = str(script) + str(getattr(script, "attributes", {}).get("body", ""))
        return "thebe" not in text

    for name in ("script_files", "css_files"):
        if name in context:
            context[name] = [s for s in context[name] if keep(s)]


def setup(app: Any) -> dict:
    """Sphinx extension hook (``_config.yml``: ``extra_extensions: [overparam.book]``).

    Keeps the built pages offline: drops sphinx-thebe's CDN-pointing scripts.

    Introduced in: Chapter 1 (the book pipeline)
    """
    app.connect("html-page-context", _drop_network_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
