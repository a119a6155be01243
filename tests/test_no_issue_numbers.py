"""No issue numbers in the book, the code or its comments: readers see documents as sources.

Issue trackers are the developers' business; a reader of the book (or of the package's
code and comments) should find the claim's source document, never "issue 15".
"""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATTERN = re.compile(r"\bissues?\s*#?\d+", re.IGNORECASE)
WHERE = ("overparam", "notebooks", "tests", "benchmarks", "scripts", "book")
SUFFIXES = {".py", ".ipynb", ".md", ".yml", ".yaml", ".sh", ".bib", ".txt", ".css", ".json"}
SKIP = {"_build", "chapters", "__pycache__"}   # generated pages (the kept runs are checked)


def _files():
    for top in WHERE:
        for f in (ROOT / top).rglob("*"):
            if f.is_file() and f.suffix in SUFFIXES and not SKIP & set(f.relative_to(ROOT).parts[1:-1]) \
                    and f.name != Path(__file__).name:
                yield f
    for name in ("README.md", "Makefile", "pyproject.toml", "_config.yml", "_toc.yml"):
        if (ROOT / name).exists():
            yield ROOT / name


def test_the_pattern_finds_an_issue_number():
    assert PATTERN.search('source: "issue 15: is the bound much more than needed?"')
    assert PATTERN.search("(Issues 16, 18)") and not PATTERN.search("tissue 5 ms")


def test_no_issue_numbers_in_the_sources_of_the_book():
    found = [f"{f.relative_to(ROOT)}:{i}: {line.strip()[:80]}"
             for f in _files() for i, line in enumerate(f.read_text(errors="replace").splitlines(), 1)
             if PATTERN.search(line)]
    assert not found, "\n".join(found)
