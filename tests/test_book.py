"""The book pipeline on fixture notebooks: run, cache, failure handling, pages, HTML build.

The fast tests run the two fixture chapters (``tests/fixtures/notebooks``) once per module
in a scratch project; the HTML tests read the session's one smoke build (conftest.py).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from overparam import __main__ as cli
from overparam import book
from overparam.claims import VERDICTS

FIXTURES = Path(__file__).resolve().parent / "fixtures"
package_fingerprint = book.package_fingerprint  # the real one (``ran`` pins book's copy)


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """A scratch project where both fixture chapters ran once at smoke (one ok, one failed)."""
    from conftest import make_project

    root = make_project(tmp_path_factory.mktemp("ran"), {
        "01_tiny": FIXTURES / "notebooks" / "01_tiny.ipynb",
        "02_broken": FIXTURES / "notebooks" / "02_broken.ipynb"})
    paths = book.default_paths(root)
    # Pin the package part of the cache key: other work on overparam/*.py while the
    # tests run must not turn a cache hit into a miss (package_fingerprint has its own test).
    mp = pytest.MonkeyPatch()
    mp.setattr(book, "package_fingerprint", lambda pkg=None: "pinned-for-tests")
    results = book.run_chapters(paths, ["01_tiny", "02_broken"], "smoke", "cpu", 0,
                                log=lambda *_: None)
    yield paths, {r.chapter: r for r in results}
    mp.undo()


@pytest.fixture
def project(ran, tmp_path):
    """A private copy of ``ran`` that a test may change."""
    paths, _ = ran
    root = tmp_path / "copy"
    shutil.copytree(paths.root, root)
    return book.default_paths(root)


@pytest.fixture
def never_execute(monkeypatch):
    import papermill

    def boom(*a, **k):
        raise AssertionError("papermill.execute_notebook was called")
    monkeypatch.setattr(papermill, "execute_notebook", boom)


def test_run_writes_executed_copy_with_metadata_and_claims(ran):
    paths, results = ran
    assert results["01_tiny"].status == "ok"
    nb = nbformat.read(paths.chapters / "01_tiny.ipynb", as_version=4)
    meta = nb.metadata["overparam"]
    assert meta["ok"] is True and meta["profile"] == "smoke" and meta["device"] == "cpu"
    assert meta["device_resolved"] == "cpu" and meta["seed"] == 0
    assert len(meta["key"]) == 64 and meta["duration_s"] > 0 and meta["torch"]
    assert any(o.get("output_type") == "display_data" and "image/png" in o.get("data", {})
               for c in nb.cells for o in c.get("outputs", []))
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and book.HIDE_TAG in injected[0].metadata["tags"]
    assert 'profile = "smoke"' in injected[0].source
    claims = json.loads((paths.chapters / "01_tiny.claims.json").read_text())
    assert [c["claim"] for c in claims] == ["the widths are positive"]
    assert claims[0]["verdict"] in VERDICTS and claims[0]["profile"] == "smoke"
    # smoke profile of the fixture has width 3: x = 1, 2, 3, mean 2
    assert claims[0]["measured"] == pytest.approx(2.0)


def test_no_temp_files_left(ran):
    paths, _ = ran
    assert sorted(p.name for p in paths.chapters.iterdir()) == [
        "01_tiny.claims.json", "01_tiny.ipynb", "02_broken.failed.ipynb", "02_broken.ipynb"]


def test_second_run_is_a_cache_hit(project, capsys, never_execute):
    code = cli.main(["--root", str(project.root), "run", "01", "--profile", "smoke", "--device", "cpu"])
    assert code == 0
    assert "[1/1] 01_tiny cached" in capsys.readouterr().out


def test_changed_inputs_are_not_cache_hits(project, never_execute):
    """Another seed, another -p value or an edited notebook means a new run."""
    for kwargs in ({"seed": 1}, {"params": {"width": 2}}, {"profile": "quick"}):
        args = {"profile": "smoke", "seed": 0, **kwargs}
        res = book.run_chapter(project, "01_tiny", args["profile"], "cpu", args["seed"],
                               args.get("params"))
        assert res.status == "failed" and "execute_notebook was called" in res.error
    # the tree still holds the good copy after those (forced) failures
    assert book.read_meta(project.chapters / "01_tiny.ipynb")["ok"] is True


def test_cache_key_tracks_source_and_parameters(project):
    src = project.notebooks / "01_tiny.ipynb"
    base = book.cache_key(src, {"profile": "smoke", "seed": 0})
    assert base == book.cache_key(src, {"seed": 0, "profile": "smoke"})
    assert base != book.cache_key(src, {"profile": "smoke", "seed": 1})
    nb = nbformat.read(src, as_version=4)
    nb.cells[-1].outputs = [nbformat.v4.new_output("stream", text="stale output")]
    nbformat.write(nb, src)  # outputs do not change what the notebook computes
    assert book.cache_key(src, {"profile": "smoke", "seed": 0}) == base
    nb.cells[-1].source += "\n# edited"
    nbformat.write(nb, src)
    assert book.cache_key(src, {"profile": "smoke", "seed": 0}) != base


def test_package_fingerprint_tracks_sources_but_not_the_runner(tmp_path):
    pkg = tmp_path / "pkg"
    shutil.copytree(Path(book.__file__).parent, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    base = package_fingerprint(pkg)
    assert base == package_fingerprint(pkg)
    (pkg / "book.py").write_text("# the runner does not change results\n")
    assert package_fingerprint(pkg) == base
    with open(pkg / "stats.py", "a") as f:
        f.write("\n# a change to the science\n")
    assert package_fingerprint(pkg) != base


def test_failed_chapter_without_good_copy_gets_a_failure_page(ran):
    paths, results = ran
    res = results["02_broken"]
    assert res.status == "failed" and res.failed_cell == 3
    assert res.error == "RuntimeError: deliberate failure for the pipeline tests"
    page = nbformat.read(paths.chapters / "02_broken.ipynb", as_version=4)
    assert "This chapter failed to execute" in page.cells[0].source
    assert "RuntimeError" in page.cells[0].source
    assert page.metadata["overparam"]["ok"] is False
    failed = nbformat.read(paths.chapters / "02_broken.failed.ipynb", as_version=4)
    assert any(o.get("output_type") == "error" for c in failed.cells for o in c.get("outputs", []))
    assert not (paths.chapters / "02_broken.claims.json").exists()


def test_failing_rerun_keeps_last_good_copy(project, capsys):
    good_before = nbformat.read(project.chapters / "01_tiny.ipynb", as_version=4)
    claims_before = (project.chapters / "01_tiny.claims.json").read_text()
    shutil.copy(FIXTURES / "notebooks" / "02_broken.ipynb", project.notebooks / "01_tiny.ipynb")
    code = cli.main(["--root", str(project.root), "run", "01_tiny", "--profile", "smoke",
                     "--device", "cpu"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "01_tiny FAILED" in out and "at cell index 3" in out
    assert "chapter 01_tiny failed" in err and "RuntimeError: deliberate failure" in err
    good = nbformat.read(project.chapters / "01_tiny.ipynb", as_version=4)
    meta = good.metadata["overparam"]
    assert meta["ok"] is True and meta["key"] == good_before.metadata["overparam"]["key"]
    assert meta["latest_failure"]["failed_cell"] == 3
    assert "latest run of this chapter" in good.cells[0].source  # a warning for readers
    assert [c.source for c in good.cells[1:]] == [c.source for c in good_before.cells]
    assert (project.chapters / "01_tiny.claims.json").read_text() == claims_before
    assert (project.chapters / "01_tiny.failed.ipynb").exists()
    assert not [p for p in project.chapters.iterdir() if p.name.startswith(".")]


def test_ensure_pages_writes_placeholders_for_toc_chapters(project):
    (project.root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n"
        "  - file: book/chapters/01_tiny\n  - file: book/chapters/05_not_written\n")
    assert book.toc_chapters(project) == ["01_tiny", "05_not_written"]
    assert book.ensure_pages(project) == ["05_not_written"]
    page = nbformat.read(project.chapters / "05_not_written.ipynb", as_version=4)
    assert "not written yet" in page.cells[0].source
    assert book.read_meta(project.chapters / "05_not_written.ipynb")["page"] == "placeholder"


def test_status_and_scorecard_pages(project):
    status, score = book.write_status(project)
    text = status.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| 01_tiny"))
    assert "| ok |" in row and "| smoke |" in row and "| cpu |" in row
    assert "**failed** (no good run)" in text and "RuntimeError: deliberate failure" in text
    assert "`smoke` profile" in text  # the smoke warning: only smoke runs here
    card = score.read_text()
    assert "the widths are positive" in card
    counts = dict(re.findall(r"^\| (reproduced|partly|not reproduced|total) \| (\d+) \|$", card, re.M))
    assert counts["total"] == "1" and sum(int(counts[v]) for v in VERDICTS) == 1


# ----------------------------------------------------------------- the HTML build

EXTERNAL_TAG = re.compile(
    r"<(script|link|img|iframe|source|embed|video|audio)\b[^>]*?\b(src|href)\s*=\s*[\"']?(https?:)?//",
    re.I)
EXTERNAL_CSS = re.compile(r"(url\(\s*[\"']?|@import\s+[\"'])(https?:)?//", re.I)
EXTERNAL_JS = re.compile(
    r"(\.src\s*=\s*|loadScript\(\s*|importScripts\(\s*|fetch\(\s*|<script[^>]*src=\\?)[\"'](https?:)?//", re.I)


def test_book_builds_with_pages_for_every_chapter(smoke_book):
    index = smoke_book.html / "index.html"
    assert f"book: {index}" in smoke_book.stdout
    assert index.exists()
    assert "jupyter-book exited" not in smoke_book.stdout, smoke_book.stdout[-3000:]
    for chapter in book.toc_chapters(book.default_paths(smoke_book.root)):
        assert (smoke_book.html / "book" / "chapters" / f"{chapter}.html").exists(), chapter
    for page in ("status", "scorecard", "bibliography"):
        assert (smoke_book.html / "book" / f"{page}.html").exists()


def test_book_exit_code_names_the_failed_chapter(smoke_book):
    assert smoke_book.returncode == 1
    assert "chapter 91_broken failed" in smoke_book.stderr
    assert "cell index 3" in smoke_book.stderr and "RuntimeError" in smoke_book.stderr
    html = (smoke_book.html / "book" / "chapters" / "91_broken.html").read_text()
    assert "This chapter failed to execute" in html


def test_chapter_page_holds_figure_claims_and_no_error(smoke_book):
    html = (smoke_book.html / "book" / "chapters" / "90_tiny.html").read_text()
    imgs = re.findall(r"<img[^>]*src=\"([^\"]+\.png)\"", html)
    assert imgs and all((smoke_book.html / "book" / "chapters" / i).resolve().exists() for i in imgs)
    assert "class='claims'" in html and "the widths are positive" in html
    assert "Traceback" not in html and "traceback" not in html  # no error output rendered
    assert "# Parameters" not in html  # papermill's injected cell is hidden
    assert "_sources/book/chapters/90_tiny.ipynb" in html  # download .ipynb button
    assert "<p class=\"admonition-title\">GPU</p>" in html  # book/_admonition/gpu.md included
    assert (smoke_book.html / "_sources" / "book" / "chapters" / "90_tiny.ipynb").exists()


def test_status_page_in_book(smoke_book):
    html = (smoke_book.html / "book" / "status.html").read_text()
    assert "90_tiny" in html and "smoke" in html and "91_broken" in html


def test_built_html_requests_nothing_from_outside(smoke_book):
    offenders = []
    for f in smoke_book.html.rglob("*"):
        if f.suffix not in (".html", ".js", ".css"):
            continue
        text = f.read_text(errors="replace")
        pattern = {".html": EXTERNAL_TAG, ".css": EXTERNAL_CSS, ".js": EXTERNAL_JS}[f.suffix]
        offenders += [f"{f.relative_to(smoke_book.html)}: {m.group(0)[:120]}"
                      for m in pattern.finditer(text)]
    assert offenders == []


def test_scanner_catches_a_cdn_script():
    """The offline check can fail: it flags the tags a CDN-backed page would have."""
    assert EXTERNAL_TAG.search('<script defer src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex.js">')
    assert EXTERNAL_TAG.search("<link rel='stylesheet' href='//fonts.googleapis.com/css'>")
    assert not EXTERNAL_TAG.search('<a href="https://github.com/rom1mouret/exploration">repo</a>')
    assert EXTERNAL_CSS.search("@font-face{src:url(https://fonts.gstatic.com/x.woff2)}")
    assert EXTERNAL_JS.search('s.src = "https://unpkg.com/thebe@0.8.2/lib/index.js"')


def test_mathjax_is_served_locally(smoke_book):
    html = (smoke_book.html / "book" / "chapters" / "90_tiny.html").read_text()
    srcs = re.findall(r"<script[^>]*src=\"([^\"]*mathjax[^\"]*)\"", html, re.I)
    assert srcs == ["../../_static/mathjax/tex-chtml.js"]
    assert (smoke_book.html / "_static" / "mathjax" / "tex-chtml.js").exists()
    assert (smoke_book.html / "_static" / "mathjax" / "output" / "chtml" / "fonts").is_dir()


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="/usr/bin/chromium not installed")
def test_page_renders_math_offline_in_chromium(smoke_book, tmp_path):
    page = smoke_book.html / "book" / "chapters" / "90_tiny.html"
    proc = subprocess.run(
        ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'chromium'}",
         "--proxy-server=127.0.0.1:9", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert "mjx-container" in proc.stdout  # MathJax typeset the page without the network


def test_scorecard_links_only_chapters_in_the_toc(project):
    (project.root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: book/chapters/02_broken\n")
    card = book.scorecard_markdown(project)
    assert "| 01_tiny | the widths are positive |" in card and "{doc}`01_tiny" not in card
    (project.root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: book/chapters/01_tiny\n")
    assert "{doc}`01_tiny </book/chapters/01_tiny>`" in book.scorecard_markdown(project)


def test_interrupted_run_leaves_good_copy_and_no_temp_file(project, monkeypatch):
    import papermill

    good = (project.chapters / "01_tiny.ipynb").read_bytes()

    def interrupted(src, dst, **kwargs):
        Path(dst).write_text("{half a notebook")
        raise KeyboardInterrupt
    monkeypatch.setattr(papermill, "execute_notebook", interrupted)
    with pytest.raises(KeyboardInterrupt):
        book.run_chapter(project, "01_tiny", "smoke", "cpu", 0, force=True)
    assert (project.chapters / "01_tiny.ipynb").read_bytes() == good
    assert not [p for p in project.chapters.iterdir() if p.name.startswith(".")]
