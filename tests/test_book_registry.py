"""The chapter registry is the one list of chapters: notebooks, _toc.yml and modules agree."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from overparam.book import registry

REPO = Path(__file__).resolve().parents[1]


def test_toc_is_generated_from_the_registry():
    assert (REPO / "_toc.yml").read_text() == registry.toc_yaml(), \
        "run `python -m overparam toc` to regenerate _toc.yml from overparam/book/registry.py"


def test_every_notebook_is_registered():
    assert registry.unregistered(REPO / "notebooks") == []


def test_entries_are_consistent():
    names = [c.name for c in registry.CHAPTERS]
    numbers = [c.number for c in registry.CHAPTERS]
    assert len(set(numbers)) == len(numbers) and numbers == sorted(numbers)
    assert len(set(names)) == len(names)
    for c in registry.CHAPTERS:
        assert c.notebook == f"{c.number:02d}_{c.slug}.ipynb"
        assert c.module == f"overparam.chapters.{c.slug}"
        assert c.docname == f"book/chapters/{c.name}"


@pytest.mark.parametrize("chapter", [c for c in registry.CHAPTERS if (REPO / "notebooks" / c.notebook).exists()],
                         ids=lambda c: c.name)
def test_chapter_with_a_notebook_has_its_module(chapter):
    assert importlib.util.find_spec(chapter.module) is not None, chapter.module


def test_future_chapters_keep_their_slots():
    by_number = {c.number: c.slug for c in registry.CHAPTERS}
    assert by_number[5] == "flexible_size" and by_number[6] == "sparsifiers"
    assert by_number[7] == "lottery_tickets" and by_number[8] == "connectivity"
    toc = registry.toc_chapters(REPO / "_toc.yml")
    assert [registry.chapter_number(n) for n in toc] == sorted(by_number)


def test_bad_entries_are_refused(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="number=0"):
        registry.Chapter(0, "x", "X")
    with pytest.raises(ValueError, match="slug='Bad Slug'"):
        registry.Chapter(9, "Bad Slug", "X")
    (tmp_path / "dupes.py").write_text("CHAPTERS = [{'number': 1, 'slug': 'again', 'title': 'A'}]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(registry.EXTRA_ENV, "dupes:CHAPTERS")
    with pytest.raises(ValueError, match=r"chapter numbers \[1\] are used twice"):
        registry.chapters()


def test_extra_chapters_join_in_number_order(monkeypatch, tmp_path):
    (tmp_path / "extra.py").write_text("CHAPTERS = [{'number': 9, 'slug': 'later', 'title': 'L', 'module': ''}]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(registry.EXTRA_ENV, "extra:CHAPTERS")
    names = [c.name for c in registry.chapters()]
    assert names[-1] == "09_later" and names.index("08_connectivity") == len(names) - 2
    assert registry.by_name("09_later").load() is None
