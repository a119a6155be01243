"""Every chapter notebook is committed clean: no outputs, one literal ``parameters`` cell."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
REQUIRED = ("profile", "device", "seed")


def problems(nb) -> list[str]:
    """What is wrong with a chapter notebook as committed (empty list: nothing)."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
            found.append(f"cell {i} has outputs or an execution count")
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            found.append(f"cell {i} is papermill's injected-parameters cell")
    params = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(params) != 1:
        return found + [f"{len(params)} cells tagged 'parameters' (need exactly one)"]
    try:
        tree = ast.parse(params[0].source)
    except SyntaxError as err:
        return found + [f"parameters cell does not parse: {err}"]
    names = []
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)):
            found.append(f"parameters cell: line {stmt.lineno} is not `name = literal`")
            continue
        try:
            ast.literal_eval(stmt.value)
        except ValueError:
            found.append(f"parameters cell: {stmt.targets[0].id} is not a literal")
        names.append(stmt.targets[0].id)
    found += [f"parameters cell lacks `{n}`" for n in REQUIRED if n not in names]
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_clean(path):
    assert problems(nbformat.read(path, as_version=4)) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_registered_and_in_the_toc(path):
    from overparam.book import registry

    assert path.stem in [c.name for c in registry.CHAPTERS], \
        f"add Chapter({int(path.stem[:2])}, {path.stem[3:]!r}, ...) to overparam/book/registry.py"
    assert path.stem in registry.toc_chapters(REPO / "_toc.yml"), "run `python -m overparam toc`"


HAND_NUMBER = re.compile(r"^#{1,6}\s+(\d+(\.\d+)*[.)]|\d+(\.\d+)+|[IVX]+\.)\s")


def hand_numbered(nb) -> list[str]:
    """Markdown headings that carry a typed number ("## 3. Foo"): the book numbers them."""
    return [line for c in nb.cells if c.cell_type == "markdown"
            for line in c.source.splitlines() if HAND_NUMBER.match(line)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_headings_carry_no_hand_numbers(path):
    assert hand_numbered(nbformat.read(path, as_version=4)) == []


def test_hand_number_check_can_fail():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "# Title\n## 2. Late resetting\n## Late resetting\n### 3.1 Sub\n## 2021 in review\n")])
    assert hand_numbered(nb) == ["## 2. Late resetting", "### 3.1 Sub"]


def test_chapter_notebooks_are_named_nn_slug():
    bad = [p.name for p in NOTEBOOKS if not (p.name[:2].isdigit() and p.name[2] == "_")]
    assert bad == []


def _fixture_nb():
    """The clean fixture chapter and the index of its parameters cell."""
    nb = nbformat.read(REPO / "tests" / "fixtures" / "notebooks" / "90_tiny.ipynb", as_version=4)
    p = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    return nb, p


def test_checker_accepts_the_clean_fixture():
    assert problems(_fixture_nb()[0]) == []


def test_checker_rejects_outputs():
    nb, p = _fixture_nb()
    nb.cells[p + 1].outputs = [nbformat.v4.new_output("stream", text="hello")]
    nb.cells[p + 1].execution_count = 1
    assert problems(nb) == [f"cell {p + 1} has outputs or an execution count"]


def test_checker_rejects_missing_or_doubled_parameters_cell():
    nb, p = _fixture_nb()
    nb.cells[p].metadata["tags"] = []
    assert problems(nb) == ["0 cells tagged 'parameters' (need exactly one)"]
    nb, p = _fixture_nb()
    nb.cells[p + 1].metadata["tags"] = ["parameters"]
    assert problems(nb) == ["2 cells tagged 'parameters' (need exactly one)"]


def test_checker_rejects_non_literal_parameters():
    nb, p = _fixture_nb()
    nb.cells[p].source = 'profile = "quick"\ndevice = "auto"\nseed = 0\nwidth = 2 ** 3\nimport os'
    assert problems(nb) == ["parameters cell: width is not a literal",
                            "parameters cell: line 5 is not `name = literal`"]
    nb.cells[p].source = 'profile = "quick"\nwidth = None'
    assert problems(nb) == ["parameters cell lacks `device`", "parameters cell lacks `seed`"]
