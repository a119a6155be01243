"""Shared fixtures for the pipeline tests: a scratch project and one smoke build per session.

The fixture chapters ``90_tiny`` (works) and ``91_broken`` (fails on purpose) live in
``tests/fixtures/notebooks``; ``tests/fixtures/tinyprofiles.py`` is their chapter module and
holds their registry entries, which the book adds through ``$OVERPARAM_EXTRA_CHAPTERS``.

The book is built once per test session (``smoke_book``): every real chapter in
``notebooks/`` plus the two fixture chapters run at ``profile=smoke, device=cpu`` through
``python -m overparam book --jobs 2`` into a temporary project, and Jupyter Book renders
them. ``tests/notebooks/test_chapters.py`` (the smoke run of every chapter) and
``tests/test_book*.py`` (the built HTML) all read that one build.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE_CHAPTERS = ("90_tiny", "91_broken")
EXTRA = "tinyprofiles:CHAPTERS"


def make_project(root: Path, notebooks: dict[str, Path], toc: str | None = None) -> Path:
    """Lay out a scratch project in ``root``: notebooks/, tinyprofiles.py, book sources.

    ``notebooks`` maps chapter name -> source file; ``toc`` is the ``_toc.yml`` text
    (default: none). Returns ``root``.
    """
    (root / "notebooks").mkdir(parents=True)
    for name, src in notebooks.items():
        shutil.copy(src, root / "notebooks" / f"{name}.ipynb")
    shutil.copy(FIXTURES / "tinyprofiles.py", root / "tinyprofiles.py")
    shutil.copy(REPO / "_config.yml", root / "_config.yml")
    (root / "book").mkdir()
    for f in ("intro.md", "bibliography.md", "references.bib"):
        shutil.copy(REPO / "book" / f, root / "book" / f)
    for d in ("_admonition", "_static"):
        shutil.copytree(REPO / "book" / d, root / "book" / d)
    if toc is not None:
        (root / "_toc.yml").write_text(toc)
    return root


def fixture_notebooks() -> dict[str, Path]:
    return {name: FIXTURES / "notebooks" / f"{name}.ipynb" for name in FIXTURE_CHAPTERS}


def fixture_entries() -> list:
    """The fixture chapters' registry entries (read from tests/fixtures/tinyprofiles.py)."""
    import importlib.util

    from overparam.book import registry

    spec = importlib.util.spec_from_file_location("_tinyprofiles_entries", FIXTURES / "tinyprofiles.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while it executes
    spec.loader.exec_module(mod)
    return [registry.Chapter(**c) for c in mod.CHAPTERS]


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
    """A scratch project holding the two fixture chapters, registered through the env."""
    root = make_project(tmp_path / "proj", fixture_notebooks())
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("OVERPARAM_EXTRA_CHAPTERS", EXTRA)
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
    """Run every chapter (real + fixtures) at smoke on CPU, two at a time, and build the book."""
    import yaml

    from overparam.book import registry

    real = {p.stem: p for p in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))}
    toc = registry.toc_data(list(registry.CHAPTERS) + fixture_entries())
    root = make_project(tmp_path_factory.mktemp("smoke_book"), {**real, **fixture_notebooks()},
                        yaml.safe_dump(toc, sort_keys=False))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OVERPARAM_EXTRA_CHAPTERS": EXTRA,
           "OVERPARAM_CALIBRATION_DRAWS": "60",   # the page's presence is tested, not its rates
           "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(
        [sys.executable, "-m", "overparam", "--root", str(root), "book",
         "--profile", "smoke", "--device", "cpu", "--jobs", "2"],
        capture_output=True, text=True, env=env, cwd=root)
    return SmokeBook(root, sorted(real), proc.returncode, proc.stdout, proc.stderr)
