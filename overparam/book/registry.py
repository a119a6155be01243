"""The one table of the book's chapters.

Every chapter is one :class:`Chapter` entry in :data:`CHAPTERS`: its number, slug and
title. From it follow its notebook ``notebooks/NN_slug.ipynb``, its executed page
``book/chapters/NN_slug.ipynb`` and its module ``overparam.chapters.<slug>``. The CLI's
validation, the runner, the generated ``_toc.yml`` (:func:`toc_yaml`, checked by a test)
and the tests all read this table. **Adding a chapter is one entry here** (then
``python -m overparam toc`` rewrites ``_toc.yml``).

An entry may name a chapter whose notebook does not exist yet: the runner skips it and
the book shows a placeholder page in its slot, so the numbers of the others never move.

What the runner asks of a chapter module (all optional but ``PROFILES``):

``PROFILES``
    dict profile -> frozen config dataclass; ``-p`` values that name a field are
    validated through :func:`overparam.config.resolve_profile`.
``estimate_cost(config) -> int``
    Bytes of memory the run of ``config`` needs at its peak (members x parameters x data,
    activations...). The runner refuses, before anything runs, a request whose estimate
    exceeds the machine's memory (RAM, or the GPU's memory on ``cuda``), with one
    ``error:`` line naming the ``-p`` parameters and the estimate.
``LIMITS``
    dict field -> largest allowed value of an integer knob (or of every element of a list
    of integers), e.g. ``{"n_train": 4000}``. An integer knob without an entry may be at
    most :data:`FALLBACK_FACTOR` times the largest value any profile uses.
``EXTRA_PARAMETERS``
    dict name -> type of notebook parameters that are not profile fields (e.g.
    ``{"results_dir": str}``); names ending in ``_dir`` or ``_path`` are ``str`` by default.

Tests add fixture chapters through ``$OVERPARAM_EXTRA_CHAPTERS`` (``module:attribute`` of a
list of dicts with the keys of :class:`Chapter`).
"""
from __future__ import annotations

import dataclasses
import importlib
import os
import re
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable, Mapping, Sequence

from ..budget import FALLBACK_FACTOR  # noqa: F401 - re-exported for the docs above
EXTRA_ENV = "OVERPARAM_EXTRA_CHAPTERS"


@dataclasses.dataclass(frozen=True)
class Chapter:
    """One chapter of the book.

    Parameters
    ----------
    number : int
        The chapter's number in the book, equal to the number of its file (1..99).
    slug : str
        ``[a-z0-9_]+``; the notebook is ``NN_slug.ipynb``.
    title : str
        Title for placeholder pages (the notebook's ``#`` heading wins once it exists).
    module : str, optional
        Python module holding the chapter's code (default ``overparam.chapters.<slug>``);
        ``""`` for none.
    theme : str, optional
        What over-parameterization buys, as the chapter measures it (the synthesis page
        groups the chapters' verdicts by theme; default: the title).
    """

    number: int
    slug: str
    title: str
    module: str | None = None
    theme: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.number, int) or not 1 <= self.number <= 99:
            raise ValueError(f"number={self.number!r} is not allowed; expected an integer in 1..99")
        if not re.fullmatch(r"[a-z0-9_]+", str(self.slug)):
            raise ValueError(f"slug={self.slug!r} is not allowed; expected [a-z0-9_]+")
        if self.module is None:
            object.__setattr__(self, "module", f"overparam.chapters.{self.slug}")

    @property
    def name(self) -> str:
        """``NN_slug``: the stem of the notebook and of the executed page."""
        return f"{self.number:02d}_{self.slug}"

    @property
    def notebook(self) -> str:
        """File name of the source notebook, ``NN_slug.ipynb``."""
        return f"{self.name}.ipynb"

    @property
    def docname(self) -> str:
        """The page in the book (``_toc.yml`` entry), ``book/chapters/NN_slug``."""
        return f"book/chapters/{self.name}"

    def load(self) -> ModuleType | None:
        """Import the chapter's module (None if it has none)."""
        return importlib.import_module(self.module) if self.module else None

    def profiles(self) -> Mapping[str, Any] | None:
        """The chapter's ``PROFILES`` table (None if it has no module or no table)."""
        mod = self.load()
        return getattr(mod, "PROFILES", None) if mod is not None else None

    def has_full_profile(self) -> bool:
        """Whether the chapter has a ``full`` profile (its page then gets the GPU note)."""
        try:
            table = self.profiles()
        except ImportError:
            return False
        return bool(table) and "full" in table


CHAPTERS: tuple[Chapter, ...] = (
    Chapter(1, "exploration", "Over-parameterization as exploration",
            theme="Exploration: more units, more directions to search"),
    Chapter(2, "hessian_spectra", "Hessian spectra: a bulk at zero and a few outliers",
            theme="A flat bulk: most directions of the loss are flat"),
    Chapter(3, "double_descent", "Double descent",
            theme="The interpolation peak, and the descent after it"),
    Chapter(4, "variance_metrics", "Variance metrics: can a layer tell whether it is too big?",
            theme="Size proxies: can a layer tell it is too big?"),
    Chapter(5, "flexible_size", "Flexible size: can a network learn its own width?",
            theme="Learned sizes: training that removes what it does not need"),
    Chapter(6, "sparsifiers", "Sparsifiers: gates that remove units during training",
            theme="Learned sizes: training that removes what it does not need"),
    Chapter(7, "lottery_tickets", "Lottery tickets",
            theme="Tickets: small trainable networks inside big ones"),
    Chapter(8, "connectivity", "Connectivity of solutions",
            theme="Connected solutions: a valley rather than isolated minima"),
)


def chapters() -> tuple[Chapter, ...]:
    """Every chapter: :data:`CHAPTERS` plus fixture chapters named by ``$OVERPARAM_EXTRA_CHAPTERS``.

    Sorted by number; two entries with one number or one name raise ValueError.
    """
    found = list(CHAPTERS)
    extra = os.environ.get(EXTRA_ENV)
    if extra:
        mod, _, attr = extra.partition(":")
        for item in getattr(importlib.import_module(mod), attr or "CHAPTERS"):
            found.append(item if isinstance(item, Chapter) else Chapter(**item))
    found.sort(key=lambda c: c.number)
    numbers = [c.number for c in found]
    dup = sorted({n for n in numbers if numbers.count(n) > 1})
    if dup:
        raise ValueError(f"chapter numbers {dup} are used twice in the registry")
    return tuple(found)


def by_name(name: str, table: Sequence[Chapter] | None = None) -> Chapter:
    """The entry whose name is ``NN_slug`` (KeyError if none)."""
    for c in chapters() if table is None else table:
        if c.name == name:
            return c
    raise KeyError(name)


def available(notebooks: Path, table: Sequence[Chapter] | None = None) -> list[Chapter]:
    """Registered chapters whose notebook exists in ``notebooks``, in book order."""
    return [c for c in (chapters() if table is None else table) if (Path(notebooks) / c.notebook).exists()]


def unregistered(notebooks: Path, table: Sequence[Chapter] | None = None) -> list[str]:
    """Notebooks ``NN_*.ipynb`` in ``notebooks`` that no entry names (a test wants none)."""
    names = {c.name for c in (chapters() if table is None else table)}
    return sorted(p.stem for p in Path(notebooks).glob("[0-9][0-9]_*.ipynb")
                  if p.stem not in names and not p.name.endswith(".failed.ipynb"))


def resolve(requested: Sequence[str], avail: Sequence[Chapter]) -> list[Chapter]:
    """Turn ``07``, ``7``, ``lottery_tickets`` or ``07_lottery_tickets`` into chapters.

    Empty ``requested`` means every available chapter. Raises a ValueError naming the
    parameter ``chapter`` and the allowed values; a registered chapter whose notebook does
    not exist yet is named as such.
    """
    if not requested:
        return list(avail)
    chosen: list[Chapter] = []
    for req in requested:
        key = Path(req).stem if str(req).endswith(".ipynb") else str(req)

        def matches(c: Chapter) -> bool:
            return key in (c.name, c.slug, f"{c.number:02d}", str(c.number))
        hits = [c for c in avail if matches(c)]
        if len(hits) != 1:
            allowed = ", ".join(repr(c.name) for c in avail) or "(no notebooks found)"
            later = [c for c in chapters() if matches(c) and c not in avail]
            why = f" (its notebook {later[0].notebook} does not exist yet)" if later else ""
            raise ValueError(f"chapter={req!r} is not allowed{why}; choose one of: {allowed} "
                             "(or their number or slug)")
        if hits[0] not in chosen:
            chosen.append(hits[0])
    return [c for c in avail if c in chosen]


# ------------------------------------------------------------------------ _toc.yml

TOC_HEADER = """\
# Table of contents (Jupyter Book 1, external-toc format).
# GENERATED from overparam/book/registry.py by `python -m overparam toc`; do not edit by
# hand (tests/test_book_registry.py checks that it matches the registry).
# A chapter page is the papermill-executed copy book/chapters/NN_slug.ipynb (generated,
# git-ignored). A registered chapter whose notebook does not exist yet gets a placeholder
# page, so the book's chapter numbers always equal the file numbers.
"""
AFTER = ("book/status", "book/scorecard", "book/calibration", "book/bibliography")
#: The closing page, after the chapters (generated by ``pages.synthesis_page``).
SYNTHESIS = ("book/synthesis", "book/scale")


def toc_data(table: Iterable[Chapter] | None = None) -> dict:
    """The ``_toc.yml`` structure: numbered chapters, the synthesis, the pages about the build."""
    table = CHAPTERS if table is None else table
    return {"format": "jb-book", "root": "book/intro", "parts": [
        {"caption": "Chapters", "numbered": True,
         "chapters": [{"file": c.docname} for c in table]},
        {"caption": "Synthesis", "chapters": [{"file": f} for f in SYNTHESIS]},
        {"caption": "About this build", "chapters": [{"file": f} for f in AFTER]},
    ]}


def toc_yaml(table: Iterable[Chapter] | None = None) -> str:
    """The text of ``_toc.yml`` for the registry (:data:`CHAPTERS` by default)."""
    import yaml

    return TOC_HEADER + yaml.safe_dump(toc_data(table), sort_keys=False)


def toc_chapters(toc_file: Path) -> list[str]:
    """Chapter names listed in a ``_toc.yml`` (entries ``book/chapters/<name>``), in order."""
    import yaml

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


def chapter_module(name: str) -> str | None:
    """The module of the registered chapter ``name`` (None when it is not registered or has none)."""
    try:
        return by_name(name).module or None
    except KeyError:
        return None


def chapter_number(name: str) -> int | None:
    """The number of a chapter page name ``NN_slug`` (None if it does not start with one)."""
    m = re.match(r"(\d{2})_", name)
    return int(m.group(1)) if m else None
