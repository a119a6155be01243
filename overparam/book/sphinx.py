"""The book's Sphinx extension (``_config.yml``: ``extra_extensions: [overparam.book.sphinx]``).

- Chapter numbers equal file numbers: Sphinx numbers the chapters of a numbered toctree
  1, 2, 3, ... in order; this renumbers every page ``book/chapters/NN_slug`` (its title,
  its sections, its entries in the navigation) to chapter ``NN``, so ``07_lottery_tickets``
  reads "7 Lottery tickets" and its second section "7.2", whatever slots are empty.
- ``book/_static/overparam.css``: code cells wrap instead of scrolling sideways, and the
  scorecard's verdict badges and tables fit a 1280 px page.
- Keeps the pages offline: drops sphinx-thebe's scripts, which name a CDN.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_CHAPTER = re.compile(r"^book/chapters/(\d{2})_")
STATIC = Path(__file__).resolve().parents[2] / "book" / "_static"


def _drop_network_scripts(app: Any, pagename: str, templatename: str, context: dict,
                          doctree: Any) -> None:
    """Remove sphinx-thebe's scripts, which point at a CDN (thebe from unpkg.com)."""
    def keep(script: Any) -> bool:
        text = str(script) + str(getattr(script, "attributes", {}).get("body", ""))
        return "thebe" not in text

    for name in ("script_files", "css_files"):
        if name in context:
            context[name] = [s for s in context[name] if keep(s)]


def _renumber(number: Any, first: int) -> Any:
    if not number:
        return number
    new = [first, *list(number)[1:]]
    return tuple(new) if isinstance(number, tuple) else new


def renumber_chapters(app: Any, env: Any) -> list[str]:
    """After Sphinx numbered the sections: chapter ``book/chapters/NN_*`` becomes chapter NN.

    Rewrites ``env.toc_secnumbers`` (the numbers in the page body) and the ``secnumber``
    of the page's title and navigation entries. Returns the pages whose numbers changed.
    """
    from docutils import nodes

    changed = []
    for docname, secnums in list(env.toc_secnumbers.items()):
        m = _CHAPTER.match(docname)
        if not m or not secnums:
            continue
        first = int(m.group(1))
        current = secnums.get("") or next(iter(secnums.values()), ())
        if current and current[0] == first:
            continue
        env.toc_secnumbers[docname] = {k: _renumber(v, first) for k, v in secnums.items()}
        for node in env.tocs[docname].findall(nodes.reference):
            if node.get("secnumber"):
                node["secnumber"] = _renumber(node["secnumber"], first)
        title = env.titles.get(docname)
        if title is not None and title.get("secnumber"):
            title["secnumber"] = _renumber(title["secnumber"], first)
        changed.append(docname)
    return changed


def _add_static(app: Any) -> None:
    """Serve ``book/_static`` of the project (else of this checkout) as static files."""
    local = Path(app.srcdir) / "book" / "_static"
    folder = local if (local / "overparam.css").exists() else STATIC
    if folder.is_dir() and str(folder) not in app.config.html_static_path:
        app.config.html_static_path.append(str(folder))


def setup(app: Any) -> dict:
    """Sphinx extension hook: renumbering, the book's CSS, no CDN scripts."""
    app.connect("html-page-context", _drop_network_scripts, priority=900)
    app.connect("env-get-updated", renumber_chapters, priority=900)
    app.connect("builder-inited", _add_static)
    app.add_css_file("overparam.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
