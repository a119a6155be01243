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

from . import edition, pages
from .paths import Paths

EDITIONS = ("local", "published")


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
    if which == "published":
        return _build_published(paths, log)
    pages.ensure_pages(paths)
    pages.write_status(paths)
    pages.calibration_page(paths)
    pages.synthesis_page(paths)
    return build_html(paths, log=log), paths.html_index


def _build_published(paths: Paths, log=print) -> tuple[int, Path]:
    """The published edition's HTML without executing anything.

    Its scorecard shows the published verdicts first, beside the local edition's verdicts
    (``book/chapters``) where it has some; its status page shows the published run records.
    """
    published = edition.read_published(paths)
    if not published:
        log(f"no published edition in {paths.published}: make one with scripts/gpu_edition.sh "
            "(see README.md, 'The published edition')")
        return 1, paths.build / edition.STAGE / "book" / "_build" / "html" / "index.html"
    staged = edition.stage(paths, published)
    beside = {name: pages.Beside(claims, profile=_profile(claims, "quick"), edition="local")
              for name, claims in edition.local_claims(paths).items()}
    pages.write_status(staged, beside=beside, published=published, source=paths)
    pages.synthesis_page(staged)
    if (paths.root / "book" / "calibration.md").exists():
        shutil.copy2(paths.root / "book" / "calibration.md", staged.root / "book" / "calibration.md")
    pages.calibration_page(staged)
    return build_html(staged, log=log), staged.html_index


def _profile(claims: Iterable[dict], default: str) -> str:
    profiles = {str(c.get("profile")) for c in claims if c.get("profile")}
    return profiles.pop() if len(profiles) == 1 else default
