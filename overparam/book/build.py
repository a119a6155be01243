"""Build the book's HTML: the one place that does it, for either edition.

- ``local`` (``python -m overparam book``, after the runner): every chapter gets a page
  (placeholders for those never run), then the status, scorecard, calibration and
  synthesis pages, then Jupyter Book renders ``book/chapters/`` into ``book/_build/html``.
- ``published`` (``python -m overparam book --edition published``): the published
  edition is staged by :func:`.edition.stage` and built the same way, its scorecard showing
  the local verdicts beside the published ones. Nothing is executed.

This module sits on top of :mod:`.pages` and :mod:`.edition`; neither imports it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterable

from . import edition, pages, scale
from .paths import Paths

EDITIONS = ("local", "published", "long", "full")


def build_html(paths: Paths, log=print) -> int:
    """Build the HTML with Jupyter Book 1 into ``<root>/book/_build/html``; return its exit code.

    Runs ``jupyter-book build <root> --path-output <root>/book -W --keep-going``: Sphinx
    warnings fail the build (exit code) but every page is still written.
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


def build(paths: Paths, which: str = "local", log=print) -> tuple[int, Path]:
    """Write the book's own pages and build the HTML of edition ``which``; (exit code, index.html)."""
    if which != "local":
        return _build_published(paths, which, log)
    pages.ensure_pages(paths)
    pages.write_status(paths)
    pages.calibration_page(paths)
    scale.scale_page(paths)
    scale.synthesis_page(paths)
    return build_html(paths, log=log), paths.html_index


def _build_published(paths: Paths, which: str = "published", log=print) -> tuple[int, Path]:
    """A committed edition's HTML (``long``, or ``full`` = ``published``) without executing
    anything.

    Its scorecard shows that edition's verdicts first, beside the local edition's verdicts
    (``book/chapters``) where it has some; its status page shows its run records.
    """
    folder = edition.edition_dir(paths, which)
    published = edition.read_published(paths, folder)
    if not published:
        log(f"no {which} edition in {folder}: make one with `python -m overparam publish --dest {folder}` "
            "after a run at that profile (see README.md, 'The published editions')")
        return 1, paths.build / edition.STAGE / "book" / "_build" / "html" / "index.html"
    staged = edition.stage(paths, published)
    beside = {name: pages.Beside(claims, profile=_profile(claims, "quick"), edition="local")
              for name, claims in edition.local_claims(paths).items()}
    pages.write_status(staged, beside=beside, published=published, source=paths)
    scale.synthesis_page(staged)
    for f in ("calibration.md", "calibration.json"):
        if (paths.root / "book" / f).exists():
            shutil.copy2(paths.root / "book" / f, staged.root / "book" / f)
    pages.calibration_page(staged)
    scale.scale_page(staged)
    return build_html(staged, log=log), staged.html_index


def _profile(claims: Iterable[dict], default: str) -> str:
    profiles = {str(c.get("profile")) for c in claims if c.get("profile")}
    return profiles.pop() if len(profiles) == 1 else default
