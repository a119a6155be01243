"""The Sphinx extension gives each chapter page the number of its file."""
from __future__ import annotations

from types import SimpleNamespace

from docutils import nodes

from overparam.book import sphinx


def _env(docname: str, sphinx_number: int) -> SimpleNamespace:
    """A stand-in for Sphinx's env after it numbered ``docname`` as chapter ``sphinx_number``."""
    toc = nodes.bullet_list()
    for anchor, num in (("", [sphinx_number]), ("#late-resetting", [sphinx_number, 2])):
        toc += nodes.reference("", "", anchorname=anchor, secnumber=num)
    title = nodes.title("", "Lottery tickets", secnumber=[sphinx_number])
    return SimpleNamespace(
        toc_secnumbers={docname: {"": (sphinx_number,), "#late-resetting": (sphinx_number, 2)},
                        "book/status": {"": ()}},
        tocs={docname: toc}, titles={docname: title})


def test_chapter_takes_its_file_number():
    env = _env("book/chapters/07_lottery_tickets", 5)
    assert sphinx.renumber_chapters(None, env) == ["book/chapters/07_lottery_tickets"]
    assert env.toc_secnumbers["book/chapters/07_lottery_tickets"] == {"": (7,), "#late-resetting": (7, 2)}
    assert [r["secnumber"] for r in env.tocs["book/chapters/07_lottery_tickets"].findall(nodes.reference)] \
        == [[7], [7, 2]]
    assert env.titles["book/chapters/07_lottery_tickets"]["secnumber"] == [7]
    assert env.toc_secnumbers["book/status"] == {"": ()}


def test_a_chapter_already_right_is_left_alone():
    env = _env("book/chapters/03_double_descent", 3)
    assert sphinx.renumber_chapters(None, env) == []
    assert env.toc_secnumbers["book/chapters/03_double_descent"]["#late-resetting"] == (3, 2)
