"""Where the book pipeline reads and writes, how it writes (atomically), and the one-cell
stand-in page of a chapter (:func:`message_page`, :func:`chapter_title`).

Every path is relative to a :class:`Paths` object, so tests can run the whole pipeline in
a temporary copy of the project (``--root`` / ``$OVERPARAM_ROOT``).
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from ..atomicio import write_atomic
from . import registry

#: Key of the run facts in an executed notebook's metadata.
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
    """

    root: Path
    notebooks: Path

    @property
    def chapters(self) -> Path:
        """Folder of executed chapters and their claims files."""
        return self.root / "book" / "chapters"

    @property
    def locks(self) -> Path:
        """Folder of the per-chapter run locks (under the build folder; `make clean` removes it)."""
        return self.build / ".locks"

    @property
    def build(self) -> Path:
        """Jupyter Book output folder (``<root>/book/_build``)."""
        return self.root / "book" / "_build"

    @property
    def html_index(self) -> Path:
        """The built book's entry page."""
        return self.build / "html" / "index.html"

    @property
    def published(self) -> Path:
        """The committed published edition (``<root>/book/published``, see :mod:`.edition`)."""
        return self.root / "book" / "published"

    @property
    def toc(self) -> Path:
        """The book's table of contents."""
        return self.root / "_toc.yml"


def default_paths(root: str | os.PathLike | None = None,
                  notebooks: str | os.PathLike | None = None) -> Paths:
    """Resolve the project paths from arguments, then environment, then defaults.

    ``root``: else ``$OVERPARAM_ROOT``; else the current directory when it holds a
    ``_toc.yml``; else the folder above this package (an editable install).
    ``notebooks``: else ``$OVERPARAM_NOTEBOOKS``; else ``<root>/notebooks``.
    """
    if root is None:
        root = os.environ.get("OVERPARAM_ROOT")
    if root is None:
        root = Path.cwd() if (Path.cwd() / "_toc.yml").exists() else Path(__file__).resolve().parents[2]
    root = Path(root).resolve()
    if notebooks is None:
        notebooks = os.environ.get("OVERPARAM_NOTEBOOKS") or root / "notebooks"
    return Paths(root=root, notebooks=Path(notebooks).resolve())


def write_nb_atomic(nb: Any, path: Path) -> None:
    """Write a notebook atomically (:func:`write_atomic`)."""
    import nbformat

    write_atomic(path, nbformat.writes(nb))


def read_meta(nb_path: Path) -> dict:
    """``metadata.overparam`` of an executed notebook ({} if absent or unreadable)."""
    if not nb_path.exists():
        return {}
    try:
        with open(nb_path) as f:
            return dict(json.load(f).get("metadata", {}).get(METADATA_KEY, {}))
    except (OSError, ValueError):
        return {}


def message_page(chapter: str, title: str, body: str, meta: dict) -> Any:
    """A one-cell notebook standing in for a chapter page (never run, or failed)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\n{body}")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata[METADATA_KEY] = {"chapter": chapter, **meta}
    return nb


def chapter_title(src: Path, chapter: str) -> str:
    """The first ``# `` heading of a notebook; else the registry's title; else the slug."""
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
    try:
        return registry.by_name(chapter).title
    except KeyError:
        return chapter.split("_", 1)[-1].replace("_", " ").capitalize()
