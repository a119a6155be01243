"""The smoke run of every chapter: each notebook in notebooks/ executed by papermill.

The execution happens once per session in ``smoke_book`` (tests/conftest.py):
``python -m overparam book --profile smoke --device cpu`` runs every chapter through
papermill into a scratch project and builds the HTML; these tests read its results, so
the chapters are not executed twice in CI.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from overparam.claims import VERDICTS

from overparam.book import registry

REPO = Path(__file__).resolve().parents[2]
CHAPTERS = [c.name for c in registry.available(REPO / "notebooks", registry.CHAPTERS)]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_at_smoke(smoke_book, chapter):
    path = smoke_book.executed / f"{chapter}.ipynb"
    meta = nbformat.read(path, as_version=4).metadata.get("overparam", {})
    assert meta.get("ok") is True, f"{chapter} failed at cell {meta.get('failed_cell')}: {meta.get('error')}"
    assert (meta["profile"], meta["device"]) == ("smoke", "cpu")
    nb = nbformat.read(path, as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    widgets = [o for c in nb.cells for o in c.get("outputs", [])
               if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widgets == [], "no widget outputs (tqdm.notebook) in the book"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_has_claims_table(smoke_book, chapter):
    text = (smoke_book.executed / f"{chapter}.claims.json").read_text()
    claims = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in a claims file: not strict JSON"))
    assert claims, "the Claims under test section displays a ClaimsTable"
    keys = [c["key"] for c in claims]
    assert all(keys) and len(set(keys)) == len(keys), "every row carries its rule's unique stable key"
    for c in claims:
        assert c["verdict"] in VERDICTS
        lo, m, hi = (c[k] for k in ("ci_low", "measured", "ci_high"))
        assert all(v is None or isinstance(v, (int, float)) for v in (lo, m, hi)), c
        if any(v is None for v in (lo, m, hi)):  # no usable interval: the rule cannot decide
            assert c["verdict"] in ("inconclusive", "partly") and c["why"], c
        else:
            assert lo <= m <= hi, c
            if c["verdict"] != "exact":
                assert lo < hi or c["verdict"] == "inconclusive", f"zero-width interval: {c}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_page_has_figures_and_no_error(smoke_book, chapter):
    html = (smoke_book.html / "book" / "chapters" / f"{chapter}.html").read_text()
    imgs = re.findall(r"<img[^>]*src=\"([^\"]+\.png)\"", html)
    assert imgs, f"{chapter}'s page shows no figure"
    assert "Traceback" not in html
