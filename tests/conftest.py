"""Shared fixtures for the pipeline tests: a scratch project and one smoke build per session.

The book is built once per test session (``smoke_book``): every real chapter in
``notebooks/`` plus two fixture chapters (one that works, one that fails on purpose) run
at ``profile=smoke, device=cpu`` through ``python -m overparam book`` into a temporary
project, and Jupyter Book renders them. ``tests/notebooks/test_chapters.py`` (the smoke
run of every chapter) and ``tests/test_book.py`` (the built HTML) both read that one build.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# Names the fixture chapters take inside the session build (after the real chapters).
FIXTURE_CHAPTERS = {"01_tiny": "90_tiny", "02_broken": "91_broken"}


def make_project(root: Path, notebooks: dict[str, Path]) -> Path:
    """Lay out a scratch project in ``root``: notebooks/, tinyprofiles.py, book sources.

    ``notebooks`` maps chapter name -> source file. Returns ``root``.
    """
    (root / "notebooks").mkdir(parents=True)
    for name, src in notebooks.items():
        shutil.copy(src, root / "notebooks" / f"{name}.ipynb")
    shutil.copy(FIXTURES / "tinyprofiles.py", root / "tinyprofiles.py")
    shutil.copy(REPO / "_config.yml", root / "_config.yml")
    (root / "book").mkdir()
    for f in ("intro.md", "bibliography.md", "references.bib"):
        shutil.copy(REPO / "book" / f, root / "book" / f)
    shutil.copytree(REPO / "book" / "_admonition", root / "book" / "_admonition")
    return root


def tree(root: Path) -> dict[str, float]:
    """Every file under ``root`` with its modification time (to prove nothing changed)."""
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture(name="tree")
def tree_fixture():
    """The :func:`tree` helper, as a fixture (test modules do not import conftest)."""
    return tree


@pytest.fixture
def tiny_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch project holding the two fixture chapters, registered for ``-p`` checks."""
    from overparam import book

    root = make_project(tmp_path / "proj", {
        "01_tiny": FIXTURES / "notebooks" / "01_tiny.ipynb",
        "02_broken": FIXTURES / "notebooks" / "02_broken.ipynb",
    })
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setitem(book.PROFILE_TABLES, "01_tiny", "tinyprofiles:PROFILES")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return root


@dataclasses.dataclass
class SmokeBook:
    """The session's smoke build: where it is and what the command printed."""

    root: Path
    chapters: list[str]       # the real chapters of notebooks/
    returncode: int
    stdout: str
    stderr: str

    @property
    def html(self) -> Path:
        return self.root / "book" / "_build" / "html"

    @property
    def executed(self) -> Path:
        return self.root / "book" / "chapters"


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory: pytest.TempPathFactory) -> SmokeBook:
    """Run every chapter (real + fixtures) at smoke on CPU and build the book, once."""
    real = {p.stem: p for p in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))}
    fixtures = {new: FIXTURES / "notebooks" / f"{old}.ipynb" for old, new in FIXTURE_CHAPTERS.items()}
    root = make_project(tmp_path_factory.mktemp("smoke_book"), {**real, **fixtures})
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    toc["parts"].insert(1, {"caption": "Pipeline fixtures",
                            "chapters": [{"file": f"book/chapters/{n}"} for n in fixtures]})
    (root / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "overparam", "--root", str(root), "book",
         "--profile", "smoke", "--device", "cpu"],
        capture_output=True, text=True, env=env, cwd=root)
    return SmokeBook(root, sorted(real), proc.returncode, proc.stdout, proc.stderr)
