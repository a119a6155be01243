"""The published edition: publish, staleness, scorecard beside, build, GPU script.

A stand-in edition is made at ``smoke`` from the fixture chapters (``90_tiny`` works,
``91_broken`` fails) in a scratch project; nothing is written into the checkout's
``book/published``. The GPU script's device step runs end to end on the CPU (``INSTALL=0``:
this interpreter's packages instead of the wheels).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from overparam.book import cache, cli, edition, pages, runner
from overparam.book.paths import default_paths

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "gpu_edition.sh"
TOC = ("format: jb-book\nroot: book/intro\nparts:\n- caption: Chapters\n  numbered: true\n"
       "  chapters:\n  - file: book/chapters/90_tiny\n  - file: book/chapters/91_broken\n"
       "- caption: Synthesis\n  chapters:\n  - file: book/synthesis\n  - file: book/scale\n"
       "- caption: About this build\n  chapters:\n  - file: book/status\n"
       "  - file: book/scorecard\n  - file: book/calibration\n  - file: book/bibliography\n")


class Quiet:
    def write(self, s):
        pass

    def flush(self):
        pass


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A scratch project whose two fixture chapters ran once at smoke, then were published."""
    from conftest import EXTRA, fixture_notebooks, make_project

    root = make_project(tmp_path_factory.mktemp("published"), fixture_notebooks(), TOC)
    paths = default_paths(root)
    mp = pytest.MonkeyPatch()
    mp.setenv("OVERPARAM_EXTRA_CHAPTERS", EXTRA)
    mp.setenv("OVERPARAM_COMMIT", "0123456789abcdef0123456789abcdef01234567")
    mp.syspath_prepend(str(root))
    for ch in ("90_tiny", "91_broken"):
        runner.run_chapter(paths, ch, "smoke", "cpu", 0, stream=Quiet())
    record = edition.publish(paths, log=lambda s: None)
    yield paths, record
    mp.undo()


@pytest.fixture
def project(made, tmp_path, monkeypatch):
    """A private copy of ``made`` (registered fixture chapters) that a test may change."""
    from conftest import EXTRA

    root = tmp_path / "copy"
    shutil.copytree(made[0].root, root)
    monkeypatch.setenv("OVERPARAM_EXTRA_CHAPTERS", EXTRA)
    monkeypatch.syspath_prepend(str(root))
    return default_paths(root)


def test_publish_copies_good_runs_with_their_records(made):
    paths, record = made
    files = sorted(p.name for p in paths.published.iterdir())
    assert files == ["90_tiny.claims.json", "90_tiny.ipynb", "90_tiny.run.json", "edition.json"]
    run = json.loads((paths.published / "90_tiny.run.json").read_text())
    assert run["profile"] == "smoke" and run["device_resolved"] == "cpu" and run["ok"] is True
    assert run["torch"] and run["date"] and run["duration_s"] > 0
    assert run["commit"] == "0123456789abcdef0123456789abcdef01234567" and run["commit_dirty"] is False
    assert set(run["fingerprints"]) == {"notebook", "chapter_code", "package"}
    assert record["chapters"]["90_tiny"]["status"] == "ok"
    broken = record["chapters"]["91_broken"]
    assert broken["status"] == "failed" and "deliberate failure" in broken["error"]
    assert json.loads((paths.published / "edition.json").read_text()) == record


def test_a_fresh_publication_is_current(made):
    paths = made[0]
    pub = edition.read_published(paths)
    assert list(pub) == ["90_tiny"] and pub["90_tiny"].stale == []
    assert [c["claim"] for c in pub["90_tiny"].claims] == ["the widths are positive"]


def test_stale_when_notebook_or_package_changes(project, monkeypatch):
    src = project.notebooks / "90_tiny.ipynb"
    real = cache.package_fingerprint
    monkeypatch.setattr(cache, "package_fingerprint", lambda pkg=None, chapter=None: "another package")
    assert edition.read_published(project)["90_tiny"].stale == ["package code changed"]
    monkeypatch.setattr(cache, "package_fingerprint", real)
    nb = nbformat.read(src, as_version=4)
    nb.cells[-1].source += "\n# edited"
    nbformat.write(nb, src)
    assert edition.read_published(project)["90_tiny"].stale == ["notebook changed"]
    # a record without fingerprints falls back to the cache key
    run = project.published / "90_tiny.run.json"
    rec = json.loads(run.read_text())
    rec.pop("fingerprints")
    run.write_text(json.dumps(rec))
    assert edition.read_published(project)["90_tiny"].stale == ["its notebook or the package changed"]
    src.unlink()
    assert edition.read_published(project)["90_tiny"].stale == ["its notebook no longer exists"]


def test_chapter_code_change_is_named(project, monkeypatch):
    run = project.published / "90_tiny.run.json"
    rec = json.loads(run.read_text())
    rec["fingerprints"]["chapter_code"] = "older"
    rec["fingerprints"]["package"] = "older too"
    run.write_text(json.dumps(rec))
    assert edition.read_published(project)["90_tiny"].stale == ["chapter code changed"]


def test_a_failed_attempt_keeps_the_older_published_files(project):
    before = (project.published / "90_tiny.ipynb").read_bytes()
    page = project.chapters / "90_tiny.ipynb"
    nb = nbformat.read(page, as_version=4)
    nb.metadata["overparam"]["latest_failure"] = {"date": "2030-01-01", "error": "OOM"}
    nbformat.write(nb, page)
    record = edition.publish(project, log=lambda s: None)
    entry = record["chapters"]["90_tiny"]
    assert entry["status"] == "failed" and entry["error"] == "OOM" and entry["published"]
    assert (project.published / "90_tiny.ipynb").read_bytes() == before
    assert "latest attempt failed" in "\n".join(edition.status_section(project))


def test_publish_from_merges_another_edition(project, tmp_path):
    """The GPU machine's edition (here: a copy with another date) merges into book/published."""
    other = tmp_path / "sent_back"
    shutil.copytree(project.published, other)
    rec = json.loads((other / "90_tiny.run.json").read_text())
    rec["date"] = "2031-02-03T04:05:06+00:00"
    (other / "90_tiny.run.json").write_text(json.dumps(rec))
    ed = json.loads((other / "edition.json").read_text())
    ed["chapters"]["91_broken"] = {"status": "missing", "date": "2031-02-03"}
    (other / "edition.json").write_text(json.dumps(ed))
    dest = tmp_path / "dest"
    code = cli.main(["--root", str(project.root), "publish", "--from", str(other), "--dest", str(dest)])
    assert code == 0
    merged = json.loads((dest / "edition.json").read_text())
    assert merged["chapters"]["90_tiny"]["date"].startswith("2031")
    assert merged["chapters"]["91_broken"]["status"] == "missing"
    assert json.loads((dest / "90_tiny.run.json").read_text())["date"].startswith("2031")


def _rows(card: str) -> list[list[str]]:
    body = card.split('<table class="scorecard scorecard-', 1)[1].split("<tbody>", 1)[1].split("</table>", 1)[0]
    return [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in re.findall(r"<tr[^>]*>(.*?)</tr>", body)]


def test_local_scorecard_shows_published_verdict_beside(project):
    local = project.chapters / "90_tiny.claims.json"
    claims = json.loads(local.read_text())
    assert claims[0]["verdict"] == "inconclusive"
    claims[0]["verdict"], claims[0]["profile"] = "reproduced", "quick"
    local.write_text(json.dumps(claims))
    card = pages.scorecard_markdown(project)
    head = card.split('<table class="scorecard scorecard-2">', 1)[1].split("</thead>", 1)[0]
    assert "<th>quick</th><th>smoke · full</th><th>claim</th>" in head
    row = _rows(card)[0]
    assert "verdict-reproduced" in row[0] and "verdict-inconclusive" in row[1]
    assert "depends on scale" in row[1] and "stale" not in row[1]
    # same verdicts: no mark
    claims[0]["verdict"] = "inconclusive"
    local.write_text(json.dumps(claims))
    assert "depends on scale" not in _rows(pages.scorecard_markdown(project))[0][1]


def test_scorecard_marks_a_stale_published_verdict(project):
    src = project.notebooks / "90_tiny.ipynb"
    nb = nbformat.read(src, as_version=4)
    nb.cells[-1].source += "\n# edited"
    nbformat.write(nb, src)
    row = _rows(pages.scorecard_markdown(project))[0]
    assert 'class="stale-mark" title="notebook changed">stale</span>' in row[1]
    status = pages.status_markdown(project)
    line = next(l for l in status.splitlines() if l.startswith("| 90_tiny |") and "smoke" in l
                and "stale" in l)
    assert "**stale**: notebook changed" in line and "commit 0123456789" in line


def test_scorecard_without_published_edition_has_one_verdict_column(project):
    shutil.rmtree(project.published)
    card = pages.scorecard_markdown(project)
    assert "published" not in card and len(_rows(card)[0]) == 4


def test_published_claims_of_a_chapter_without_local_run_are_listed(project):
    (project.chapters / "90_tiny.claims.json").unlink()
    row = _rows(pages.scorecard_markdown(project))[0]
    assert row[0] == "-" and "verdict-inconclusive" in row[1]


def test_synthesis_reads_each_theme_at_the_largest_scale(project):
    from overparam.book import scale

    text = scale.synthesis_markdown(project)
    assert text.startswith("# What over-parameterization buys")
    grid = text.split('<table class="synthesis-grid">', 1)[1].split("</table>", 1)[0]
    # one row per theme (the fixture entries have no theme: their titles stand in), one
    # column per scale: this build (smoke) and the committed full edition (smoke too here)
    assert "A tiny fixture chapter" in grid and "<th>smoke · full</th>" in grid
    assert "not run" in grid.split("A broken fixture chapter", 1)[1]
    assert "`smoke` profile, which only proves" in text
    tiny = text.split("## A tiny fixture chapter", 1)[1].split("##", 1)[0]
    assert "At `smoke · full`, the largest scale present" in tiny and "1 inconclusive" in tiny
    # the numbers come from the claims files: change the edition's file, the reading follows
    f = project.published / "90_tiny.claims.json"
    claims = json.loads(f.read_text())
    claims[0].update(verdict="not reproduced", measured=-1.25, ci_low=-2.0, ci_high=-0.5)
    f.write_text(json.dumps(claims))
    tiny = scale.synthesis_markdown(project).split("## A tiny fixture chapter", 1)[1].split("##", 1)[0]
    assert "1 not reproduced" in tiny and "What they contradict: the widths are positive" in tiny
    assert "-1.25 [-2, -0.5]" in tiny


def _long_edition(project, verdict: str, claim_text: str, why: str = "") -> None:
    """A stand-in long edition: the full one copied into book/published/long, then changed."""
    dest = edition.edition_dir(project, "long")
    dest.mkdir(parents=True)
    for f in project.published.glob("90_tiny.*"):
        shutil.copy2(f, dest / f.name)
    run = json.loads((dest / "90_tiny.run.json").read_text())
    run["profile"] = "long"
    (dest / "90_tiny.run.json").write_text(json.dumps(run))
    claims = json.loads((dest / "90_tiny.claims.json").read_text())
    claims[0].update(verdict=verdict, claim=claim_text, profile="long", why=why)
    (dest / "90_tiny.claims.json").write_text(json.dumps(claims))


def test_scorecard_has_a_column_per_edition_matched_by_stable_key(project):
    local = project.chapters / "90_tiny.claims.json"
    claims = json.loads(local.read_text())
    assert claims[0]["key"], "claims files carry the rule's stable key"
    claims[0]["profile"] = "quick"
    local.write_text(json.dumps(claims))
    # the long edition's text differs (a profile value in it): the key still matches it
    _long_edition(project, "reproduced", claims[0]["claim"] + " at width 1024")
    card = pages.scorecard_markdown(project)
    head = card.split('<table class="scorecard scorecard-3">', 1)[1].split("</thead>", 1)[0]
    assert "<th>quick</th><th>long</th><th>smoke · full</th><th>claim</th>" in head
    rows = _rows(card)
    assert len(rows) == len(claims)          # matched, not listed twice
    assert "verdict-reproduced" in rows[0][1] and "depends on scale" in rows[0][1]
    assert "verdict-inconclusive" in rows[0][2] and "depends on scale" not in rows[0][2]


def test_scale_page_counts_agreement_and_names_each_change_with_its_reason(project):
    from overparam.book import scale

    local = project.chapters / "90_tiny.claims.json"
    claims = json.loads(local.read_text())
    claims[0].update(profile="quick", verdict="not reproduced",
                     why="under-trained: wide: 40% of members met 'plateau'")
    local.write_text(json.dumps(claims))
    _long_edition(project, "reproduced", claims[0]["claim"])
    page = scale.scale_markdown(project)
    assert "**quick vs long**: 1 claims in both; 1 decided" in page and "0 agree (0%)" in page
    assert "quick → long: under-trained at quick: wide: 40% of members met" in page
    # same verdict at both scales: agreement, no reason
    claims[0].update(verdict="reproduced", why="")
    local.write_text(json.dumps(claims))
    page = scale.scale_markdown(project)
    assert "1 agree (100%)" in page and "quick → long" not in page
    # inconclusive at quick with a low-powered rule: put down to power
    claims[0].update(verdict="inconclusive")
    local.write_text(json.dumps(claims))
    (project.root / "book").mkdir(exist_ok=True)
    (project.root / "book" / "calibration.json").write_text(json.dumps(
        [{"chapter": "90_tiny", "key": claims[0]["key"], "profile": "quick", "n": 2, "null_rate": 0.0,
          "power": 0.3, "against_rate": 0.0}]))
    page = scale.scale_markdown(project)
    assert "1 inconclusive at quick and decided at long" in page
    assert "under-powered at quick (power 30% at its replicates)" in page


def test_book_edition_published_builds_without_running(project, monkeypatch, capsys, tmp_path):
    import papermill

    from overparam.book import rules

    def boom(*a, **k):
        raise AssertionError("papermill.execute_notebook was called")
    monkeypatch.setattr(papermill, "execute_notebook", boom)
    monkeypatch.setattr(rules, "calibration_rows", lambda draws=1000, profiles=None, cache_dir=None: [])
    local_before = (project.chapters / "90_tiny.ipynb").read_bytes()
    code = cli.main(["--root", str(project.root), "book", "--edition", "published"])
    out = capsys.readouterr().out
    staged = project.build / edition.STAGE
    html = staged / "book" / "_build" / "html"
    assert code == 0, out
    assert str(html / "index.html") in out
    page = (html / "book" / "chapters" / "90_tiny.html").read_text()
    assert "Published edition: this page was executed at" in page and "smoke" in page
    assert "not in the published edition yet" in (html / "book" / "chapters" / "91_broken.html").read_text()
    card = (html / "book" / "scorecard.html").read_text()
    assert "smoke · local" in card  # the local verdicts beside the published ones
    assert "Published edition" in (html / "book" / "status.html").read_text()
    assert "1 inconclusive" in (html / "book" / "synthesis.html").read_text()
    assert "What over-parameterization buys" in (html / "book" / "synthesis.html").read_text()
    assert (project.chapters / "90_tiny.ipynb").read_bytes() == local_before
    _fits_1280_px(html / "book" / "scorecard.html", tmp_path)


def _fits_1280_px(page: Path, tmp_path: Path) -> None:
    """Both verdict columns visible at 1280 px without sideways scrolling (if Chromium is here)."""
    from test_book_html import CHROMIUM, MEASURE, _chromium

    if not CHROMIUM.exists():
        return
    import html as htmllib

    probe = page.with_name(f"_probe_{page.name}")
    probe.write_text(page.read_text().replace("</body>", MEASURE, 1))
    dom = _chromium(probe.as_uri(), tmp_path, "--window-size=1280,900")
    probe.unlink()
    m = re.search(r"data-measure=\"([^\"]+)\"", dom)
    assert m, dom[-2000:]
    measured = json.loads(htmllib.unescape(m.group(1)))
    assert measured["n"] >= 2 and measured["hidden"] == 0 and not measured["wide"], measured


def test_book_edition_published_needs_an_edition(project, capsys):
    shutil.rmtree(project.published)
    assert cli.main(["--root", str(project.root), "book", "--edition", "published"]) == 1
    assert "no published edition" in capsys.readouterr().out
    assert cli.main(["--root", str(project.root), "book", "--edition", "paper"]) == 2
    assert "edition='paper' is not allowed" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("timeout") is None or shutil.which("split") is None,
                    reason="the script needs coreutils' timeout and split")
def test_gpu_script_device_step_end_to_end_on_cpu(tmp_path):
    """The device step at smoke on the CPU: run, publish, parts under $OUT; then unpack."""
    from conftest import EXTRA, fixture_notebooks, make_project

    root = make_project(tmp_path / "proj", fixture_notebooks(), TOC)
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "ROOT": str(root), "INSTALL": "0", "PROFILE": "smoke",
           "DEVICE": "cpu", "JOBS": "2", "BUDGET": "300", "PYTHON": sys.executable,
           "OVERPARAM_EXTRA_CHAPTERS": EXTRA, "WHEELS": str(tmp_path / "no_wheels"),
           "OVERPARAM_RESULTS": str(tmp_path / "results"), "OVERPARAM_COMMIT": "feedbeef+dirty",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(["bash", str(SCRIPT), "device"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    parts = sorted(p.name for p in out.iterdir())
    assert parts == ["gpu_edition.log", "published.tgz.00"]
    log = (out / "gpu_edition.log").read_text()
    assert "90_tiny done in" in log and "91_broken FAILED" in log
    assert re.search(r"90_tiny\s+ok\s+smoke", log) and re.search(r"91_broken\s+failed", log)
    # back here: unpack into another project, which then builds (tested above) from it
    other = make_project(tmp_path / "other", fixture_notebooks(), TOC)
    env2 = {**env, "ROOT": str(other)}
    proc = subprocess.run(["bash", str(SCRIPT), "unpack", str(out)], env=env2,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    published = other / "book" / "published"
    assert sorted(p.name for p in published.iterdir()) == [
        "90_tiny.claims.json", "90_tiny.ipynb", "90_tiny.run.json", "edition.json"]
    run = json.loads((published / "90_tiny.run.json").read_text())
    assert run["commit"] == "feedbeef" and run["commit_dirty"] is True and run["profile"] == "smoke"
    ed = json.loads((published / "edition.json").read_text())
    assert ed["chapters"]["91_broken"]["status"] == "failed"


@pytest.mark.skipif(shutil.which("timeout") is None, reason="needs coreutils' timeout")
def test_gpu_script_budget_stops_the_run_and_records_missing_chapters(tmp_path):
    """A budget too short for any chapter: nothing published, every chapter `missing`."""
    from conftest import EXTRA, fixture_notebooks, make_project

    root = make_project(tmp_path / "proj", fixture_notebooks(), TOC)
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "ROOT": str(root), "INSTALL": "0", "PROFILE": "smoke",
           "DEVICE": "cpu", "JOBS": "1", "BUDGET": "1", "PYTHON": sys.executable,
           "OVERPARAM_EXTRA_CHAPTERS": EXTRA, "WHEELS": str(tmp_path / "no_wheels"),
           "OVERPARAM_RESULTS": str(tmp_path / "results"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(["bash", str(SCRIPT), "device"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    log = (out / "gpu_edition.log").read_text()
    assert "the budget of 1s ended the run" in log
    assert re.search(r"90_tiny\s+missing", log) and re.search(r"91_broken\s+missing", log)
