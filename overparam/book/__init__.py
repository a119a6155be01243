"""The book's face: command line, chapter registry, runner and cache, pages, Sphinx extension.

- :mod:`.registry`: the one table of chapters (number, slug, notebook, module, title);
- :mod:`.validate`: every input of a run checked once (types, ranges, sizes);
- :mod:`.runner` (+ :mod:`.cache`, :mod:`.paths`): papermill execution, cache, ``--jobs``;
- :mod:`.pages`: status, scorecard, calibration and synthesis pages (over :mod:`.edition`);
- :mod:`.build`: the one "build the book" (either edition) on top of them;
- :mod:`.sphinx`: the Sphinx extension (chapter numbers, CSS, offline pages);
- :mod:`.cli`: ``python -m overparam`` (:func:`main`).

Nothing in the package imports this one except ``overparam/__main__.py`` (and Sphinx).
"""
from .cli import main

__all__ = ["main"]
