"""The book pipeline on fixture notebooks: run, cache, failure handling, locks, pages.

The tests run the two fixture chapters (``tests/fixtures/notebooks``: 90_tiny works,
91_broken fails at its third cell) once per module in a scratch project; the built HTML
is tested in ``test_book_html.py``.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from pathlib import Path

import nbformat
import pytest

from overparam.book import cache, cli, pages, registry, runner
from overparam.atomicio import remove_stale_temps
from overparam.book.paths import default_paths, read_meta
from overparam.claims import VERDICTS

FIXTURES = Path(__file__).resolve().parent / "fixtures"
package_fingerprint = cache.package_fingerprint  # the real one (``ran`` pins the cache's)


class Lines:
    """A stream that keeps what the kernel wrote to stderr."""

    def __init__(self):
        self.text = ""

    def write(self, s):
        self.text += s

    def flush(self):
        pass


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """A scratch project where both fixture chapters ran once at smoke (one ok, one failed)."""
    from conftest import EXTRA, fixture_notebooks, make_project

    root = make_project(tmp_path_factory.mktemp("ran"), fixture_notebooks(),
                        "format: jb-book\nroot: book/intro\nchapters:\n"
                        "  - file: book/chapters/90_tiny\n  - file: book/chapters/91_broken\n")
    paths = default_paths(root)
    mp = pytest.MonkeyPatch()
    mp.setenv("OVERPARAM_EXTRA_CHAPTERS", EXTRA)
    mp.syspath_prepend(str(root))
    # Pin the package part of the cache key: other work on overparam/*.py while the
    # tests run must not turn a cache hit into a miss (package_fingerprint has its own test).
    mp.setattr(cache, "package_fingerprint", lambda pkg=None, chapter=None: "pinned-for-tests")
    streams = {c: Lines() for c in ("90_tiny", "91_broken")}
    results = {c: runner.run_chapter(paths, c, "smoke", "cpu", 0, stream=streams[c])
               for c in streams}
    yield paths, results, streams
    mp.undo()


@pytest.fixture
def project(ran, tmp_path):
    """A private copy of ``ran`` that a test may change."""
    paths = ran[0]
    root = tmp_path / "copy"
    shutil.copytree(paths.root, root)
    return default_paths(root)


@pytest.fixture
def never_execute(monkeypatch):
    import papermill

    def boom(*a, **k):
        raise AssertionError("papermill.execute_notebook was called")
    monkeypatch.setattr(papermill, "execute_notebook", boom)


def test_run_writes_executed_copy_with_metadata_and_claims(ran):
    paths, results, _ = ran
    assert results["90_tiny"].status == "ok"
    nb = nbformat.read(paths.chapters / "90_tiny.ipynb", as_version=4)
    meta = nb.metadata["overparam"]
    assert meta["ok"] is True and meta["profile"] == "smoke" and meta["device"] == "cpu"
    assert meta["device_resolved"] == "cpu" and meta["seed"] == 0
    assert len(meta["key"]) == 64 and meta["duration_s"] > 0 and meta["torch"]
    assert any(o.get("output_type") == "display_data" and "image/png" in o.get("data", {})
               for c in nb.cells for o in c.get("outputs", []))
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and runner.HIDE_TAG in injected[0].metadata["tags"]
    assert 'profile = "smoke"' in injected[0].source
    claims = json.loads((paths.chapters / "90_tiny.claims.json").read_text())
    assert [c["claim"] for c in claims] == ["the widths are positive"]
    # smoke profile of the fixture has width 3: x = 1, 2, 3, mean 2, and the t interval
    # over three points (2 +- 4.30 * 0.577) reaches below 0: the rule cannot decide
    assert claims[0]["verdict"] == "inconclusive" and claims[0]["profile"] == "smoke"
    assert claims[0]["measured"] == pytest.approx(2.0)


def test_gpu_note_follows_the_title_of_a_chapter_with_a_full_profile(ran):
    paths = ran[0]
    nb = nbformat.read(paths.chapters / "90_tiny.ipynb", as_version=4)
    assert nb.cells[0].source.startswith("# A tiny fixture chapter")
    assert nb.cells[1].source == runner.GPU_NOTE
    assert [c for c in nb.cells if runner.GPU_TAG in c.metadata.get("tags", [])] == [nb.cells[1]]
    # a second call adds nothing; a chapter without a module gets none
    assert runner.add_gpu_note(nb, registry.by_name("90_tiny")) is False
    bare = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# T")])
    assert runner.add_gpu_note(bare, registry.by_name("91_broken")) is False
    assert runner.add_gpu_note(bare, registry.by_name("90_tiny")) is True and len(bare.cells) == 2


def test_kernel_stderr_is_streamed_and_kept_out_of_stdout(ran):
    _, _, streams = ran
    assert "tiny progress: 1/1" in streams["90_tiny"].text
    assert "running over TCP" not in streams["90_tiny"].text


def test_line_stream_writes_whole_prefixed_lines(tmp_path):
    out = tmp_path / "out.txt"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT)
    s = runner.LineStream("[03] ", fd)
    s.write("grid: 1/4")
    s.write(", eta 3 s\nsecond\rsecond, redrawn\n\n")
    s.write("unfinished")
    s.close()
    os.close(fd)
    assert out.read_text() == "[03] grid: 1/4, eta 3 s\n[03] second, redrawn\n[03] unfinished\n"


def test_no_temp_files_left(ran):
    paths = ran[0]
    assert sorted(p.name for p in paths.chapters.iterdir()) == [
        "90_tiny.claims.json", "90_tiny.ipynb", "91_broken.failed.ipynb", "91_broken.ipynb"]


def test_second_run_is_a_cache_hit(project, capsys, never_execute, monkeypatch):
    monkeypatch.setattr(cache, "package_fingerprint", lambda pkg=None, chapter=None: "pinned-for-tests")
    code = cli.main(["--root", str(project.root), "run", "90", "--profile", "smoke", "--device", "cpu"])
    assert code == 0
    assert "[1/1] 90_tiny cached" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["", "null"])
def test_empty_p_value_is_exactly_no_p(project, capsys, never_execute, monkeypatch, value):
    """``-p width ""`` / ``null`` reuses the run without -p (same key, no ``width=None``)."""
    monkeypatch.setattr(cache, "package_fingerprint", lambda pkg=None, chapter=None: "pinned-for-tests")
    code = cli.main(["--root", str(project.root), "run", "90", "--profile", "smoke",
                     "--device", "cpu", "-p", "width", value])
    assert code == 0 and "[1/1] 90_tiny cached" in capsys.readouterr().out
    assert "width" not in (project.root / "book" / "status.md").read_text()


def test_changed_inputs_are_not_cache_hits(project, never_execute, monkeypatch):
    """Another seed, another -p value or an edited notebook means a new run."""
    monkeypatch.setattr(cache, "package_fingerprint", lambda pkg=None, chapter=None: "pinned-for-tests")
    for kwargs in ({"seed": 1}, {"params": {"width": 2}}, {"profile": "quick"}):
        args = {"profile": "smoke", "seed": 0, **kwargs}
        res = runner.run_chapter(project, "90_tiny", args["profile"], "cpu", args["seed"],
                                 args.get("params"), stream=Lines())
        assert res.status == "failed" and "execute_notebook was called" in res.error
    # the tree still holds the good copy after those (forced) failures
    assert read_meta(project.chapters / "90_tiny.ipynb")["ok"] is True


def test_cache_key_tracks_source_and_parameters(project):
    src = project.notebooks / "90_tiny.ipynb"
    base = cache.cache_key(src, {"profile": "smoke", "seed": 0})
    assert base == cache.cache_key(src, {"seed": 0, "profile": "smoke"})
    assert base != cache.cache_key(src, {"profile": "smoke", "seed": 1})
    nb = nbformat.read(src, as_version=4)
    nb.cells[-1].outputs = [nbformat.v4.new_output("stream", text="stale output")]
    nbformat.write(nb, src)  # outputs do not change what the notebook computes
    assert cache.cache_key(src, {"profile": "smoke", "seed": 0}) == base
    nb.cells[-1].source += "\n# edited"
    nbformat.write(nb, src)
    assert cache.cache_key(src, {"profile": "smoke", "seed": 0}) != base


def test_package_fingerprint_tracks_sources_but_not_the_book(tmp_path):
    pkg = tmp_path / "pkg"
    shutil.copytree(Path(cache.__file__).parents[1], pkg, ignore=shutil.ignore_patterns("__pycache__"))
    base = package_fingerprint(pkg)
    assert base == package_fingerprint(pkg)
    (pkg / "book" / "runner.py").write_text("# the runner does not change results\n")
    (pkg / "__main__.py").write_text("# nor does the entry point\n")
    assert package_fingerprint(pkg) == base
    with open(pkg / "stats.py", "a") as f:
        f.write("\n# a change to the science\n")
    assert package_fingerprint(pkg) != base


def test_failed_chapter_without_good_copy_gets_a_failure_page(ran):
    paths, results, _ = ran
    res = results["91_broken"]
    assert res.status == "failed" and res.failed_cell == 3
    assert res.error == "RuntimeError: deliberate failure for the pipeline tests"
    page = nbformat.read(paths.chapters / "91_broken.ipynb", as_version=4)
    assert "This chapter failed to execute" in page.cells[0].source
    assert "RuntimeError" in page.cells[0].source
    assert page.metadata["overparam"]["ok"] is False
    failed = nbformat.read(paths.chapters / "91_broken.failed.ipynb", as_version=4)
    assert any(o.get("output_type") == "error" for c in failed.cells for o in c.get("outputs", []))
    assert not (paths.chapters / "91_broken.claims.json").exists()


def _break_then_fix(project, capsys):
    """Run 90_tiny with the broken source (fails), then put the good source back."""
    good_src = (project.notebooks / "90_tiny.ipynb").read_bytes()
    shutil.copy(FIXTURES / "notebooks" / "91_broken.ipynb", project.notebooks / "90_tiny.ipynb")
    code = cli.main(["--root", str(project.root), "run", "90_tiny", "--profile", "smoke",
                     "--device", "cpu"])
    (project.notebooks / "90_tiny.ipynb").write_bytes(good_src)
    return code, capsys.readouterr()


def test_failing_rerun_keeps_last_good_copy(project, capsys, monkeypatch):
    monkeypatch.setattr(cache, "package_fingerprint", lambda pkg=None, chapter=None: "pinned-for-tests")
    good_before = nbformat.read(project.chapters / "90_tiny.ipynb", as_version=4)
    claims_before = (project.chapters / "90_tiny.claims.json").read_text()
    code, (out, err) = _break_then_fix(project, capsys)
    assert code == 1
    assert "90_tiny FAILED" in out and "at cell index 3" in out
    assert "chapter 90_tiny failed" in err and "RuntimeError: deliberate failure" in err
    good = nbformat.read(project.chapters / "90_tiny.ipynb", as_version=4)
    meta = good.metadata["overparam"]
    assert meta["ok"] is True and meta["key"] == good_before.metadata["overparam"]["key"]
    assert meta["latest_failure"]["failed_cell"] == 3
    assert "latest run of this chapter" in good.cells[0].source  # a warning for readers
    assert [c.source for c in good.cells[1:]] == [c.source for c in good_before.cells]
    assert (project.chapters / "90_tiny.claims.json").read_text() == claims_before
    assert (project.chapters / "90_tiny.failed.ipynb").exists()
    assert not [p for p in project.chapters.iterdir() if p.name.startswith(".")]


def test_cache_hit_after_the_fix_clears_the_failure(project, capsys, monkeypatch, never_execute):
    """The banner and .failed.ipynb go once the good run is current again."""
    monkeypatch.setattr(cache, "package_fingerprint", lambda pkg=None, chapter=None: "pinned-for-tests")
    _break_then_fix(project, capsys)
    assert "failed" in (project.root / "book" / "status.md").read_text()
    code = cli.main(["--root", str(project.root), "run", "90", "--profile", "smoke", "--device", "cpu"])
    assert code == 0 and "[1/1] 90_tiny cached" in capsys.readouterr().out
    good = nbformat.read(project.chapters / "90_tiny.ipynb", as_version=4)
    assert "latest_failure" not in good.metadata["overparam"]
    assert not [c for c in good.cells if runner.STALE_TAG in c.metadata.get("tags", [])]
    assert not (project.chapters / "90_tiny.failed.ipynb").exists()
    row = next(l for l in (project.root / "book" / "status.md").read_text().splitlines()
               if l.startswith("| 90_tiny"))
    assert "| ok |" in row


def test_temp_files_of_a_killed_run_are_removed(project, never_execute, monkeypatch):
    """Leftovers of a dead process go; a live process's stay."""
    monkeypatch.setattr(cache, "package_fingerprint", lambda pkg=None, chapter=None: "pinned-for-tests")
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = [project.chapters / f".90_tiny.{dead}.abc123.ipynb",
             project.chapters / f".90_tiny.claims.json.{dead}.xyz.tmp"]
    live = project.chapters / f".91_broken.{os.getpid()}.live.ipynb"
    for p in stale + [live]:
        p.write_text("{half")
    res = runner.run_chapter(project, "90_tiny", "smoke", "cpu", 0, stream=Lines())
    assert res.status == "cached"
    assert not any(p.exists() for p in stale) and live.exists()
    assert remove_stale_temps(project.chapters) == []


def test_second_run_of_a_chapter_waits_for_the_first(project, never_execute, monkeypatch):
    """One run of a chapter at a time; the second says who holds the lock."""
    monkeypatch.setattr(cache, "package_fingerprint", lambda pkg=None, chapter=None: "pinned-for-tests")
    said, results = [], []
    with runner.chapter_lock(project, "90_tiny"):
        t = threading.Thread(target=lambda: results.append(runner.run_chapter(
            project, "90_tiny", "smoke", "cpu", 0, stream=Lines(), log=said.append)))
        t.start()
        for _ in range(200):
            if said:
                break
            time.sleep(0.05)
        assert results == []  # still waiting while the lock is held
        assert said and f"waiting for pid {os.getpid()}" in said[0]
    t.join(30)
    assert [r.status for r in results] == ["cached"]


def test_ensure_pages_writes_placeholders_for_toc_chapters(project):
    (project.root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n"
        "  - file: book/chapters/90_tiny\n  - file: book/chapters/05_flexible_size\n")
    assert registry.toc_chapters(project.toc) == ["90_tiny", "05_flexible_size"]
    assert pages.ensure_pages(project) == ["05_flexible_size"]
    page = nbformat.read(project.chapters / "05_flexible_size.ipynb", as_version=4)
    assert "not written yet" in page.cells[0].source
    assert page.cells[0].source.startswith("# " + registry.by_name("05_flexible_size").title)
    assert read_meta(project.chapters / "05_flexible_size.ipynb")["page"] == "placeholder"


def test_status_page(project):
    status, _ = pages.write_status(project)
    text = status.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| 90_tiny"))
    assert "| ok |" in row and "| smoke |" in row and "| cpu |" in row
    assert "**failed** (no good run)" in text and "RuntimeError: deliberate failure" in text
    assert "`smoke` profile" in text  # the smoke warning: only smoke runs here


def _rows(card: str, table: str) -> list[list[str]]:
    """Cells (tags stripped) of every body row of the first HTML table of class ``table``."""
    body = re.split(rf'<table class="{table}( {table}-\d+)?">', card, maxsplit=1)[-1].split("</table>", 1)[0]
    body = body.split("<tbody>", 1)[1]
    return [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r)]
            for r in re.findall(r"<tr[^>]*>(.*?)</tr>", body)]


def test_scorecard_badges_first_counts_per_chapter_links_and_source_names(project):
    claims = [dict(claim=f"claim {v}", source="Sagun 2017 talk (source 001)" if i else "(source 000)",
                   measured=1.0, ci_low=0.5, ci_high=1.5, verdict=v, profile="smoke")
              for i, v in enumerate(VERDICTS)]
    (project.chapters / "90_tiny.claims.json").write_text(json.dumps(claims + claims[:1]))
    card = pages.scorecard_markdown(project)
    counts = _rows(card, "scorecard-counts")
    assert counts[0][0] == "90 · A tiny fixture chapter"
    assert counts[0][1:] == ["2"] + ["1"] * (len(VERDICTS) - 1) + [str(len(VERDICTS) + 1)]
    assert counts[-1][0] == "all chapters"
    rows = _rows(card, "scorecard")
    assert [r[0] for r in rows] == list(VERDICTS) + [VERDICTS[0]]  # verdict first
    assert rows[0][3] == "Mouret n.d. · smoke" and rows[1][3] == "Sagun 2017 talk · smoke"
    assert "(source" not in card
    assert '<span class="verdict verdict-not-reproduced">not reproduced</span>' in card
    assert '<a href="chapters/90_tiny.html#claims-under-test">claim reproduced</a>' in card
    assert "## 90 · A tiny fixture chapter" in card


def test_scorecard_links_only_chapters_in_the_toc(project):
    (project.root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: book/chapters/91_broken\n")
    card = pages.scorecard_markdown(project)
    assert "the widths are positive" in card and "chapters/90_tiny.html" not in card
    (project.root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: book/chapters/90_tiny\n")
    assert "chapters/90_tiny.html#claims-under-test" in pages.scorecard_markdown(project)


def test_readable_source():
    names = {"001": "Sagun 2017"}
    assert pages.readable_source("Sagun 2017 talk (source 001)", names) == "Sagun 2017 talk"
    assert pages.readable_source("He 2021 slides (004), sparsity part", names) == "He 2021 slides, sparsity part"
    assert pages.readable_source("(source 001)", names) == "Sagun 2017"
    assert pages.readable_source("(source 009)", names) == "source 009"
    bib = pages.source_names(Path(__file__).resolve().parents[1] / "book" / "references.bib")
    assert bib["001"] == "Sagun 2017" and bib["000"] == "Mouret n.d."


def test_calibration_page_is_written_once_per_package(project, monkeypatch):
    from overparam.book import rules

    calls = []
    monkeypatch.setattr(rules, "calibration_rows", lambda draws=1000, profiles=None, cache_dir=None: calls.append(draws) or [])
    monkeypatch.setattr(cache, "package_fingerprint", lambda pkg=None, chapter=None: "v1")
    page = pages.calibration_page(project, draws=10)
    assert "# How the verdicts are made" in page.read_text() and calls == [10]
    pages.calibration_page(project, draws=10)
    assert calls == [10]  # same package: not recomputed
    monkeypatch.setattr(cache, "package_fingerprint", lambda pkg=None, chapter=None: "v2")
    pages.calibration_page(project, draws=10)
    assert calls == [10, 10]

    def broken(draws=1000, profiles=None, cache_dir=None):
        raise RuntimeError("a chapter's RULES do not import")
    monkeypatch.setattr(rules, "calibration_rows", broken)
    monkeypatch.setattr(cache, "package_fingerprint", lambda pkg=None, chapter=None: "v3")
    assert "could not be computed" in pages.calibration_page(project).read_text()


def test_calibration_rows_are_cached_per_chapter_by_the_rules_fingerprint(tmp_path, monkeypatch):
    """A second build reads the rows back (the same numbers); a chapter whose code, spread or
    draws changed is computed again, the others are not."""
    from overparam import calibration
    from overparam.book import rules

    real = rules.calibrate_book
    computed = []

    def counting(book, profiles, chapter="", names=None, draws=1000, seed=0):
        computed.append((chapter, tuple(names)))
        return real(book, profiles, chapter, names, draws, seed)
    monkeypatch.setattr(rules, "calibrate_book", counting)
    first = rules.calibration_rows(20, profiles=("quick",), cache_dir=tmp_path)
    chapters = [cr.name for cr in rules.chapter_rules()]
    assert [c for c, _ in computed] == chapters and all(n == ("quick",) for _, n in computed)
    assert sorted(f.stem for f in tmp_path.glob("*.json")) == sorted(chapters)
    computed.clear()
    again = rules.calibration_rows(20, profiles=("quick",), cache_dir=tmp_path)
    assert computed == [] and again == first          # floats and infinities round-trip exactly
    both = rules.calibration_rows(20, profiles=("quick", "long"), cache_dir=tmp_path)
    assert all(n == ("long",) for _, n in computed) and [r for r in both if r.profile == "quick"] == first
    computed.clear()
    real_fp = rules.rules_fingerprint
    monkeypatch.setattr(rules, "rules_fingerprint",
                        lambda cr, d, s: real_fp(cr, d, s) + ("x" if cr.name == chapters[0] else ""))
    rules.calibration_rows(20, profiles=("quick",), cache_dir=tmp_path)
    assert computed == [(chapters[0], ("quick",))]
    monkeypatch.setattr(rules, "rules_fingerprint", real_fp)
    cr = rules.chapter_rules()[0]
    assert real_fp(cr, 20, 0) != real_fp(cr, 21, 0) != real_fp(cr, 20, 1)
    assert isinstance(first[0], calibration.RuleCalibration)


def test_the_committed_calibration_cache_holds_what_the_code_computes(monkeypatch):
    """Where the committed cache of a cheap chapter is current, its rows are the rows this
    code computes now (the cache cannot carry numbers the rules would not give)."""
    from overparam.book import rules

    monkeypatch.setattr(cache, "package_fingerprint", package_fingerprint)  # not ``ran``'s pinned one

    folder = Path(__file__).resolve().parents[1] / "book" / "published" / "calibration"
    checked = 0
    for cr in rules.chapter_rules():
        if cr.name[:2] not in ("06", "08"):
            continue
        stored = rules._read_cache(folder / f"{cr.name}.json", rules.rules_fingerprint(cr, pages.CALIBRATION_DRAWS, 0))
        for profile, rows in stored.items():
            assert rows == rules.calibrate_book(cr.book, cr.profiles, cr.name, [profile], pages.CALIBRATION_DRAWS)
            checked += 1
    if not checked:
        pytest.skip("the committed calibration cache of chapters 6 and 8 is not current")


def test_calibration_page_states_its_draws_and_their_monte_carlo_error():
    from overparam.book import rules

    text = rules.calibration_markdown([], draws=1000)
    assert "1000 simulated data sets" in text and "Monte Carlo standard error" in text
    assert "0.7% at a rate of 5%" in text and "1.3% at 80%" in text and "at most 1.6%" in text
    assert "at most 3.5%" in rules.calibration_markdown([], draws=200)


def test_interrupted_run_leaves_good_copy_and_no_temp_file(project, monkeypatch):
    import papermill

    monkeypatch.setattr(cache, "package_fingerprint", lambda pkg=None, chapter=None: "pinned-for-tests")
    good = (project.chapters / "90_tiny.ipynb").read_bytes()

    def interrupted(src, dst, **kwargs):
        Path(dst).write_text("{half a notebook")
        raise KeyboardInterrupt
    monkeypatch.setattr(papermill, "execute_notebook", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.run_chapter(project, "90_tiny", "smoke", "cpu", 0, force=True, stream=Lines())
    assert (project.chapters / "90_tiny.ipynb").read_bytes() == good
    assert not [p for p in project.chapters.iterdir() if p.name.startswith(".")]


def test_ctrl_c_is_one_line(project, capsys, monkeypatch):
    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(runner, "run_chapters", interrupted)
    code = cli.main(["--root", str(project.root), "run", "90", "--profile", "smoke", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 130 and len(err.strip().splitlines()) == 1 and err.startswith("interrupted")


def test_jobs_run_chapters_side_by_side(project, capfd, monkeypatch):
    """--jobs 2: each chapter in its own process, whole lines, results in chapter order."""
    res = runner.run_chapters(project, ["90_tiny", "91_broken"], "smoke", "cpu", 0, force=True, jobs=2)
    assert [(r.chapter, r.status) for r in res] == [("90_tiny", "ok"), ("91_broken", "failed")]
    out, err = capfd.readouterr()
    assert out.count("90_tiny started") == 1 and out.count("91_broken started") == 1
    assert "[90_tiny] tiny progress: 1/1" in err
    assert read_meta(project.chapters / "90_tiny.ipynb")["ok"] is True
    assert not [p for p in project.chapters.iterdir() if p.name.startswith(".")]


_FINGERPRINT = cache.package_fingerprint   # the real one (fixtures of this module pin it)


def test_a_chapters_fingerprint_ignores_the_other_chapters_code(tmp_path):
    """Chapters never import one another: a change in one neither re-runs nor stales another."""
    pkg = tmp_path / "overparam"
    for rel in ("engine/loop.py", "chapters/__init__.py", "chapters/alpha/verdicts.py", "chapters/beta/verdicts.py"):
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(f"# {rel}\n")
    alpha = lambda: _FINGERPRINT(pkg, chapter="overparam.chapters.alpha")  # noqa: E731
    whole = lambda: _FINGERPRINT(pkg)  # noqa: E731
    a0, w0 = alpha(), whole()
    (pkg / "chapters/beta/verdicts.py").write_text("# beta changed\n")
    assert alpha() == a0 and whole() != w0
    (pkg / "chapters/alpha/verdicts.py").write_text("# alpha changed\n")
    a1 = alpha()
    assert a1 != a0
    (pkg / "engine/loop.py").write_text("# shared code changed\n")
    assert alpha() != a1


def test_calibration_page_shows_a_claims_run_fields_as_placeholders():
    """The calibration page has no run: a claim's ``{field}`` reads as ``⟨field⟩``, never raw."""
    from overparam.book.rules import template_text

    assert template_text("Naive, {big} vs 1 filter ({n:.2f}, {{x}})") == "Naive, ⟨big⟩ vs 1 filter (⟨n⟩, {x})"
    assert template_text("no fields") == "no fields"
    assert template_text("a lone { brace") == "a lone { brace"
