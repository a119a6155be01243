"""The built HTML (the session's one smoke build, conftest.smoke_book) as a reader gets it."""
from __future__ import annotations

import html as htmllib
import re
import subprocess
from pathlib import Path

import pytest

from overparam.book import registry
from overparam.book.paths import default_paths

EXTERNAL_TAG = re.compile(
    r"<(script|link|img|iframe|source|embed|video|audio)\b[^>]*?\b(src|href)\s*=\s*[\"']?(https?:)?//",
    re.I)
EXTERNAL_CSS = re.compile(r"(url\(\s*[\"']?|@import\s+[\"'])(https?:)?//", re.I)
EXTERNAL_JS = re.compile(
    r"(\.src\s*=\s*|loadScript\(\s*|importScripts\(\s*|fetch\(\s*|<script[^>]*src=\\?)[\"'](https?:)?//", re.I)
HEADING = re.compile(r"<h([1-6])[^>]*>(.*?)</h\1>", re.S)
CHROMIUM = Path("/usr/bin/chromium")


def _pages(smoke_book):
    return [p for p in smoke_book.html.rglob("*.html") if "_static" not in p.parts]


def _toc(smoke_book) -> list[str]:
    return registry.toc_chapters(default_paths(smoke_book.root).toc)


def test_book_builds_with_pages_for_every_chapter(smoke_book):
    index = smoke_book.html / "index.html"
    assert f"book: {index}" in smoke_book.stdout
    assert index.exists()
    assert "jupyter-book exited" not in smoke_book.stdout, smoke_book.stdout[-3000:]
    for chapter in _toc(smoke_book):
        assert (smoke_book.html / "book" / "chapters" / f"{chapter}.html").exists(), chapter
    for page in ("status", "scorecard", "calibration", "bibliography", "synthesis"):
        assert (smoke_book.html / "book" / f"{page}.html").exists()


def test_book_exit_code_names_the_failed_chapter(smoke_book):
    assert smoke_book.returncode == 1
    assert "chapter 91_broken failed" in smoke_book.stderr
    assert "cell index 3" in smoke_book.stderr and "RuntimeError" in smoke_book.stderr
    html = (smoke_book.html / "book" / "chapters" / "91_broken.html").read_text()
    assert "This chapter failed to execute" in html


def test_terminal_shows_progress_and_no_kernel_noise(smoke_book):
    assert "  [90_tiny] tiny progress: 1/1" in smoke_book.stderr
    both = smoke_book.stdout + smoke_book.stderr
    assert "running over TCP" not in both and "IPKernelApp" not in both
    for line in smoke_book.stdout.splitlines():  # --jobs 2: no line holds two chapters' output
        assert len(re.findall(r"\[\d+/\d+\]", line)) <= 1, line
    page = (smoke_book.html / "book" / "chapters" / "90_tiny.html").read_text()
    assert page.count("tiny progress") == 1  # in the cell's source, not as an output


def test_chapter_page_holds_figure_claims_and_no_error(smoke_book):
    html = (smoke_book.html / "book" / "chapters" / "90_tiny.html").read_text()
    imgs = re.findall(r"<img[^>]*src=\"([^\"]+\.png)\"", html)
    assert imgs and all((smoke_book.html / "book" / "chapters" / i).resolve().exists() for i in imgs)
    assert "class='claims'" in html and "the widths are positive" in html
    assert "Traceback" not in html and "traceback" not in html  # no error output rendered
    assert "# Parameters" not in html  # papermill's injected cell is hidden
    assert "_sources/book/chapters/90_tiny.ipynb" in html  # download .ipynb button
    assert (smoke_book.html / "_sources" / "book" / "chapters" / "90_tiny.ipynb").exists()


def test_gpu_note_on_every_chapter_with_a_full_profile(smoke_book):
    from conftest import fixture_entries

    table = list(registry.CHAPTERS) + fixture_entries()
    for chapter in smoke_book.chapters + ["90_tiny"]:
        html = (smoke_book.html / "book" / "chapters" / f"{chapter}.html").read_text()
        if registry.by_name(chapter, table).has_full_profile():
            assert html.count("<p class=\"admonition-title\">GPU</p>") == 1, chapter


def _headings(page: Path) -> list[tuple[int, str, str]]:
    """(level, section number, text) of every h1-h3 of a page body."""
    body = page.read_text().split("<article", 1)[-1].split("</article>", 1)[0]
    found = []
    for level, inner in HEADING.findall(body):
        if 'class="headerlink"' not in inner:  # not a section of the page (e.g. "Contents")
            continue
        num = re.search(r'<span class="section-number">([^<]*)</span>', inner)
        text = htmllib.unescape(re.sub(r"<[^>]+>", "", re.sub(r'<span class="section-number">[^<]*</span>', "", inner)))
        found.append((int(level), num.group(1).strip() if num else "", text.strip().rstrip("#").strip()))
    return [h for h in found if h[0] <= 3]


def test_chapter_numbers_equal_file_numbers_and_headings_carry_one_number(smoke_book):
    for chapter in _toc(smoke_book):
        page = smoke_book.html / "book" / "chapters" / f"{chapter}.html"
        heads = _headings(page)
        n = registry.chapter_number(chapter)
        assert heads and heads[0][1] == f"{n}.", (chapter, heads[:1])
        for level, num, text in heads:
            if num:
                assert num.split(".")[0] == str(n), (chapter, num, text)
            assert not re.match(r"^\d+(\.\d+)*[.)]?\s", text), f"{chapter}: hand-numbered heading {text!r}"


def test_sidebar_numbers_match_the_files(smoke_book):
    index = (smoke_book.html / "book" / "scorecard.html").read_text()
    for chapter in _toc(smoke_book):
        link = re.search(rf'href="chapters/{chapter}.html">([^<]*)<', index)
        assert link, chapter
        assert link.group(1).startswith(f"{registry.chapter_number(chapter)}. "), (chapter, link.group(1))


def test_no_page_shows_a_path_of_the_build_machine(smoke_book):
    root = str(smoke_book.root)
    offenders = [str(p.relative_to(smoke_book.html)) for p in _pages(smoke_book) if root in p.read_text()]
    assert offenders == []


def test_scorecard_has_badges_first_and_links_to_claims_sections(smoke_book):
    card = (smoke_book.html / "book" / "scorecard.html").read_text()
    rows = re.findall(r"<tr>\s*<td>(.*?)</td>", card.split('class="scorecard scorecard-', 1)[1], re.S)
    assert rows and all('class="verdict verdict-' in r for r in rows)
    targets = set(re.findall(r'href="chapters/([0-9]{2}_[a-z0-9_]+)\.html#claims-under-test"', card))
    assert "90_tiny" in targets
    for chapter in targets:
        page = (smoke_book.html / "book" / "chapters" / f"{chapter}.html").read_text()
        assert 'id="claims-under-test"' in page, chapter
    assert "(source 0" not in card


def test_book_css_wraps_code_and_is_linked(smoke_book):
    css = smoke_book.html / "_static" / "overparam.css"
    assert "pre-wrap" in css.read_text() and "table-layout: fixed" in css.read_text()
    page = (smoke_book.html / "book" / "chapters" / "90_tiny.html").read_text()
    assert "_static/overparam.css" in page


def test_status_page_in_book(smoke_book):
    html = (smoke_book.html / "book" / "status.html").read_text()
    assert "90_tiny" in html and "smoke" in html and "91_broken" in html


def test_synthesis_page_gathers_every_chapter_by_theme(smoke_book):
    """Each registered chapter appears under its theme, linked, with its verdict counts read
    from its claims file; the page is linked from the navigation."""
    import json
    from collections import Counter

    page = (smoke_book.html / "book" / "synthesis.html").read_text()
    page = htmllib.unescape(page).replace("\u2019", "'")  # Sphinx's smart quotes
    assert "What over-parameterization buys" in page and 'class="synthesis-grid"' in page
    per_theme: dict[str, Counter] = {}
    for entry in registry.CHAPTERS:
        assert entry.theme.split(":")[0] in page, entry.name
        assert f'href="chapters/{entry.name}.html"' in page, entry.name
        claims = smoke_book.executed / f"{entry.name}.claims.json"
        theme = per_theme.setdefault(entry.theme or entry.title, Counter())
        theme.update(c["verdict"] for c in json.loads(claims.read_text()) if claims.exists())
    for theme, counts in per_theme.items():
        for verdict, n in counts.items():
            assert f"{n} {verdict}" in page, (theme, verdict, n)
    assert 'href="book/synthesis.html"' in (smoke_book.html / "book" / "intro.html").read_text() \
        or 'href="synthesis.html"' in (smoke_book.html / "book" / "intro.html").read_text()


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


def _chromium(url: str, tmp_path: Path, *extra: str) -> str:
    proc = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'chromium'}",
         "--proxy-server=127.0.0.1:9", "--virtual-time-budget=5000", *extra, "--dump-dom", url],
        capture_output=True, text=True, timeout=120)
    return proc.stdout


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium not installed")
def test_page_renders_math_offline_in_chromium(smoke_book, tmp_path):
    page = smoke_book.html / "book" / "chapters" / "90_tiny.html"
    assert "mjx-container" in _chromium(page.as_uri(), tmp_path)


MEASURE = """<script>
window.addEventListener('load', () => setTimeout(() => {
  const w = document.documentElement.clientWidth;
  const badges = [...document.querySelectorAll('table.scorecard span.verdict')];
  const hidden = badges.filter(b => b.getBoundingClientRect().right > w).length;
  const wide = document.documentElement.scrollWidth > w;
  const codes = [...document.querySelectorAll('div.highlight pre')];
  const codeWide = codes.filter(p => p.scrollWidth > p.clientWidth + 1).length;
  document.body.setAttribute('data-measure', JSON.stringify({w, n: badges.length, hidden, wide, codeWide}));
}, 500));
</script></body>"""


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium not installed")
def test_scorecard_and_code_fit_1280_px_in_chromium(smoke_book, tmp_path):
    import json

    results = {}
    for rel in ["book/scorecard.html"] + [f"book/chapters/{c}.html" for c in smoke_book.chapters]:
        page = smoke_book.html / rel
        probe = page.with_name(f"_probe_{page.name}")
        probe.write_text(page.read_text().replace("</body>", MEASURE, 1))
        dom = _chromium(probe.as_uri(), tmp_path, "--window-size=1280,900")
        probe.unlink()
        m = re.search(r"data-measure=\"([^\"]+)\"", dom)
        assert m, rel
        results[rel] = json.loads(htmllib.unescape(m.group(1)))
    card = results["book/scorecard.html"]
    assert card["n"] > 0 and card["hidden"] == 0 and not card["wide"], card
    assert all(r["codeWide"] == 0 for r in results.values()), results
