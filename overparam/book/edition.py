"""The published edition: the book's ``full`` run, kept in ``book/published/`` and built as is.

A ``full`` run on a GPU is expensive and cannot be repeated on a reader's laptop, so it is
kept: ``book/published/`` is the one place executed notebooks are committed.

``book/published/`` holds, per chapter that finished:

``NN_slug.ipynb``
    the executed notebook (its ``metadata.overparam`` is the run record too);
``NN_slug.claims.json``
    its claims table;
``NN_slug.run.json``
    its run record: profile, device, GPU, torch, CUDA, date, duration, the commit of the
    code that produced it and the fingerprints of what it depended on (notebook, the
    chapter's own code, the whole package: :func:`.facts.fingerprints`);

and ``edition.json``: per chapter, the outcome of its latest attempt (``ok``, ``failed``,
``missing`` = not run or did not finish in time), with the date.

- :func:`publish` copies the good executed chapters of a run (``book/chapters/``) into a
  published folder, or merges another published folder into it (``--from``: the files a
  GPU machine sent back). A chapter that did not finish keeps its older published files.
- :func:`read_published` reads it back and says, per chapter, whether it is **stale**:
  its notebook, its chapter code or the package changed since it was produced.
- :func:`stage` lays out a copy of the book sources whose chapter pages are the published
  notebooks; :func:`.build.build` builds its HTML (``python -m overparam book --edition
  published``): nothing is executed.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import shutil
from pathlib import Path
from typing import Any, Sequence

from . import cache, registry
from .paths import Paths, chapter_title, message_page, read_meta, write_atomic, write_nb_atomic

RUN_SUFFIX = ".run.json"
CLAIMS_SUFFIX = ".claims.json"
EDITION_FILE = "edition.json"
#: Tag of the note that opens each chapter page of the published edition.
NOTE_TAG = "overparam-edition-note"
#: Folder (under the build folder) where the published edition is staged and built.
STAGE = "published"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


# ---------------------------------------------------------------------- publishing

def _outcome(meta: dict) -> str:
    """``ok``, ``failed`` or ``missing`` for the run metadata of an executed chapter page."""
    if not meta or meta.get("page") == "placeholder":
        return "missing"
    if meta.get("page") == "failed" or meta.get("latest_failure") or not meta.get("ok"):
        return "failed"
    return "ok"


def _merge_edition(dest: Path, entries: dict[str, dict]) -> dict:
    """Update ``dest/edition.json`` with ``entries`` (chapter -> latest attempt); return it."""
    edition = _read_json(dest / EDITION_FILE, {}) or {}
    chapters = dict(edition.get("chapters", {}))
    for name, entry in entries.items():
        old = chapters.get(name, {})
        if entry["status"] != "ok" and old.get("published"):
            entry = {**entry, "published": old["published"]}  # older files stay in place
        chapters[name] = entry
    edition = {"updated": _now(), "chapters": dict(sorted(chapters.items()))}
    write_atomic(dest / EDITION_FILE, json.dumps(edition, indent=1) + "\n")
    return edition


def publish(paths: Paths, dest: Path | None = None, chapters: Sequence[str] | None = None,
            source: Path | None = None, log=print) -> dict:
    """Copy good chapter runs into a published edition; return the updated ``edition.json``.

    Parameters
    ----------
    paths : Paths
    dest : Path, optional
        The published folder (default ``book/published``).
    chapters : sequence of str, optional
        Chapter names ``NN_slug`` (default: every registered chapter).
    source : Path, optional
        Another published folder to merge in (its ``*.run.json`` chapters), instead of
        the executed pages in ``book/chapters``.

    A chapter whose run is not good (failed, or not there: not run or killed before the end)
    is recorded in ``edition.json`` as such, and its older published files, if any, stay.
    """
    dest = paths.published if dest is None else Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if source is not None:
        source = Path(source)
        names = sorted(p.name.removesuffix(RUN_SUFFIX) for p in source.glob(f"*{RUN_SUFFIX}"))
        incoming = (_read_json(source / EDITION_FILE, {}) or {}).get("chapters", {})
        names = [n for n in names if chapters is None or n in chapters]
        entries = {n: e for n, e in incoming.items() if e.get("status") != "ok"
                   and (chapters is None or n in chapters)}
        for name in names:
            for suffix in (".ipynb", CLAIMS_SUFFIX, RUN_SUFFIX):
                if (source / f"{name}{suffix}").exists():
                    shutil.copy2(source / f"{name}{suffix}", dest / f"{name}{suffix}")
                elif suffix == CLAIMS_SUFFIX:
                    (dest / f"{name}{suffix}").unlink(missing_ok=True)
            entries[name] = _entry(_read_json(dest / f"{name}{RUN_SUFFIX}", {}) or {})
            log(f"published {name} (from {source})")
        return _merge_edition(dest, entries)

    names = list(chapters) if chapters is not None else [c.name for c in registry.chapters()]
    entries: dict[str, dict] = {}
    for name in names:
        page = paths.chapters / f"{name}.ipynb"
        meta = read_meta(page)
        status = _outcome(meta)
        if status != "ok":
            entries[name] = {"status": status, "date": meta.get("date", _now()),
                             **({"error": meta.get("error") or meta.get("latest_failure", {}).get("error", "")}
                                if status == "failed" else {})}
            log(f"not published: {name} ({status})")
            continue
        record = {k: v for k, v in meta.items() if k != "latest_failure"}
        shutil.copy2(page, dest / f"{name}.ipynb")
        claims = paths.chapters / f"{name}{CLAIMS_SUFFIX}"
        if claims.exists():
            shutil.copy2(claims, dest / f"{name}{CLAIMS_SUFFIX}")
        else:
            (dest / f"{name}{CLAIMS_SUFFIX}").unlink(missing_ok=True)
        write_atomic(dest / f"{name}{RUN_SUFFIX}", json.dumps(record, indent=1, sort_keys=True) + "\n")
        entries[name] = _entry(record)
        log(f"published {name} ({record.get('profile')}, {record.get('device_resolved')}, "
            f"{record.get('duration_s', 0):.0f} s)")
    return _merge_edition(dest, entries)


def _entry(record: dict) -> dict:
    """The ``edition.json`` line of a published chapter run."""
    return {"status": "ok", "published": record.get("date", ""), "date": record.get("date", ""),
            "profile": record.get("profile", ""), "device": record.get("device_resolved", ""),
            "gpu": record.get("gpu", ""), "duration_s": record.get("duration_s"),
            "commit": record.get("commit", "")}


# ------------------------------------------------------------------- reading back

@dataclasses.dataclass
class Published:
    """One chapter of the published edition, with whether it is still current."""

    chapter: str
    record: dict
    claims: list[dict] | None
    notebook: Path
    stale: list[str]  # why the run predates the current code; [] when it is current

    @property
    def profile(self) -> str:
        return str(self.record.get("profile", ""))


def staleness(paths: Paths, chapter: str, record: dict) -> list[str]:
    """Why a published run predates the current sources ([] when it does not).

    Compares the run's fingerprints with the current notebook (``paths.notebooks``), the
    chapter's own module and the package; a record without fingerprints falls back to
    its cache key.
    """
    src = paths.notebooks / f"{chapter}.ipynb"
    if not src.exists():
        return ["its notebook no longer exists"]
    fp = record.get("fingerprints") or {}
    if not fp:
        params = {"profile": record.get("profile"), "device": record.get("device_resolved"),
                  "seed": record.get("seed"), **(record.get("parameters") or {})}
        same = record.get("key") == cache.cache_key(src, params)
        return [] if same else ["its notebook or the package changed"]
    reasons = []
    if fp.get("notebook") != cache.notebook_fingerprint(src):
        reasons.append("notebook changed")
    try:
        module = registry.by_name(chapter).module
    except KeyError:
        module = ""
    chapter_code = fp.get("chapter_code") != cache.module_fingerprint(module)
    if chapter_code:
        reasons.append("chapter code changed")
    if fp.get("package") != cache.package_fingerprint(chapter=module or None) and not chapter_code:
        reasons.append("package code changed")
    return reasons


#: The committed editions, in order of scale: name -> folder under ``book/published``
#: (``""``: the folder itself, where the GPU ``full`` run lives; ``published`` names it too).
EDITION_FOLDERS = {"long": "long", "full": ""}
ALIASES = {"published": "full"}


def edition_dir(paths: Paths, name: str) -> Path:
    """The folder of the committed edition ``name`` (``long``, ``full`` or ``published``)."""
    name = ALIASES.get(name, name)
    if name not in EDITION_FOLDERS:
        raise ValueError(f"edition={name!r} is not allowed; choose one of: "
                         f"{', '.join(list(EDITION_FOLDERS) + list(ALIASES))}")
    sub = EDITION_FOLDERS[name]
    return paths.published / sub if sub else paths.published


def read_editions(paths: Paths) -> dict[str, dict[str, "Published"]]:
    """Every committed edition that holds at least one chapter, in order of scale."""
    found = {}
    for name in EDITION_FOLDERS:
        pub = read_published(paths, edition_dir(paths, name))
        if pub:
            found[name] = pub
    return found


def read_published(paths: Paths, folder: Path | None = None) -> dict[str, Published]:
    """The chapters of the published edition in ``folder`` (default ``book/published``)."""
    folder = paths.published if folder is None else Path(folder)
    found: dict[str, Published] = {}
    if not folder.is_dir():
        return found
    for run in sorted(folder.glob(f"*{RUN_SUFFIX}")):
        name = run.name.removesuffix(RUN_SUFFIX)
        record = _read_json(run, {}) or {}
        claims = _read_json(folder / f"{name}{CLAIMS_SUFFIX}")
        found[name] = Published(name, record, list(claims) if isinstance(claims, list) else None,
                                folder / f"{name}.ipynb", staleness(paths, name, record))
    return found


def run_line(rec: dict) -> str:
    """``full on NVIDIA H200 (cuda:0), torch 2.11.0, CUDA 13.0, 2026-11-20, 123 s, commit abc1234``."""
    dev = rec.get("gpu") or rec.get("device_resolved") or rec.get("device", "?")
    if rec.get("gpu") and rec.get("device_resolved"):
        dev += f" ({rec['device_resolved']})"
    parts = [f"`{rec.get('profile', '?')}` on {dev}", f"torch {rec.get('torch', '?')}"]
    if rec.get("cuda"):
        parts.append(f"CUDA {rec['cuda']}")
    parts.append(str(rec.get("date", "?"))[:10])
    if rec.get("duration_s") is not None:
        parts.append(f"{float(rec['duration_s']):.0f} s")
    if rec.get("commit"):
        parts.append(f"commit {rec['commit'][:10]}{' (uncommitted changes)' if rec.get('commit_dirty') else ''}")
    return ", ".join(parts)


def status_section(paths: Paths, published: dict[str, Published] | None = None) -> list[str]:
    """Markdown lines of the status page's "Published edition" section ([] if there is none)."""
    published = read_published(paths) if published is None else published
    edition = _read_json(paths.published / EDITION_FILE, {}) or {}
    if not published and not edition:
        return []
    lines = ["## Published edition", "",
             "The `full` run kept in `book/published/` (built by `python -m overparam book "
             "--edition published`). *Stale* means the chapter's notebook or code changed "
             "since that run: its numbers may no longer be what the current code gives.", "",
             "| chapter | published run | current? |", "|---|---|---|"]
    names = sorted(set(published) | set(edition.get("chapters", {})))
    for name in names:
        pub = published.get(name)
        latest = edition.get("chapters", {}).get(name, {})
        run = run_line(pub.record) if pub else "not published"
        if latest and latest.get("status") != "ok":
            run += f"; latest attempt {latest['status']} ({str(latest.get('date', ''))[:10]})"
        cur = ("**stale**: " + ", ".join(pub.stale)) if pub and pub.stale else ("current" if pub else "-")
        lines.append(f"| {name} | {run.replace('|', '/')} | {cur} |")
    return lines + [""]


# ------------------------------------------------------------------------ building

def _note(pub: Published) -> str:
    text = f"Published edition: this page was executed at {run_line(pub.record)}."
    if pub.stale:
        text += (" **Stale**: " + ", ".join(pub.stale) + " since then; the numbers here may "
                 "differ from what the current code gives.")
    kind = "warning" if pub.stale or pub.profile != "full" else "note"
    return f"```{{{kind}}}\n{text}\n```"


def stage(paths: Paths, published: dict[str, Published] | None = None) -> Paths:
    """Lay out the published edition's sources under ``book/_build/published``; return its Paths.

    The copy holds the book's sources (``_config.yml``, ``_toc.yml``, ``book/`` without the
    local executed chapters) and, as chapter pages, the published notebooks (each opening
    with a note naming its run, and whether it is stale); chapters not in the edition get
    a placeholder page, so the numbers never move.
    """
    import nbformat

    published = read_published(paths) if published is None else published
    root = paths.build / STAGE
    if root.exists():
        shutil.rmtree(root)
    (root / "book").mkdir(parents=True)
    for f in ("_config.yml", "_toc.yml"):
        if (paths.root / f).exists():
            shutil.copy2(paths.root / f, root / f)
    skip = {"_build", "chapters", "published", "status.md", "scorecard.md", "synthesis.md", "scale.md"}
    for item in (paths.root / "book").iterdir():
        if item.name in skip or item.name.startswith("."):
            continue
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, root / "book" / item.name)
    staged = Paths(root, paths.notebooks)
    staged.chapters.mkdir(parents=True)
    for name in registry.toc_chapters(staged.toc):
        pub = published.get(name)
        if pub is not None and pub.notebook.exists():
            nb = nbformat.read(str(pub.notebook), as_version=4)
            note = nbformat.v4.new_markdown_cell(_note(pub))
            note.metadata["tags"] = [NOTE_TAG]
            at = next((i + 1 for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
                       and any(l.startswith("# ") for l in c.source.splitlines())), 0)
            nb.cells.insert(at, note)
            write_nb_atomic(nb, staged.chapters / f"{name}.ipynb")
            if pub.claims is not None:
                write_atomic(staged.chapters / f"{name}{CLAIMS_SUFFIX}", json.dumps(pub.claims, indent=1))
        else:
            body = ("This chapter is not in the published edition yet: no `full` run of it "
                    "has been kept in `book/published/`. The local edition (`make book`) has it.")
            write_nb_atomic(message_page(name, chapter_title(paths.notebooks / f"{name}.ipynb", name),
                                               body, {"ok": False, "page": "placeholder"}),
                            staged.chapters / f"{name}.ipynb")
    return staged


def local_claims(paths: Paths) -> dict[str, list[dict]]:
    """Claims of the local edition (``book/chapters/*.claims.json``), per chapter."""
    found = {}
    for f in sorted(paths.chapters.glob(f"*{CLAIMS_SUFFIX}")):
        claims = _read_json(f)
        if isinstance(claims, list):
            found[f.name.removesuffix(CLAIMS_SUFFIX)] = claims
    return found
