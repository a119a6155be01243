"""Every chapter bounds its sizes (``LIMITS``) and estimates its memory
(``estimate_cost``), and the CLI refuses what exceeds either before anything runs."""
from __future__ import annotations

import dataclasses
import importlib
import shutil
from pathlib import Path

import pytest

from overparam import budget
from overparam.book import cli, registry

REPO = Path(__file__).resolve().parents[1]
GIB = 2**30
#: the memory the estimates are held to at smoke/quick (a laptop), and at full (the H200
#: the full profile is written for: 139 GiB of GPU memory)
CPU_BUDGET, GPU_BUDGET = 8 * GIB, 139 * GIB
CHAPTERS = [c for c in registry.CHAPTERS if (REPO / "notebooks" / c.notebook).exists()]
IDS = [c.name for c in CHAPTERS]


def limits_module(chapter):
    return importlib.import_module(f"{chapter.module}.limits")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_chapter_exports_limits_and_estimate(chapter):
    mod = chapter.load()
    lim = limits_module(chapter)
    assert mod.LIMITS is lim.LIMITS and mod.estimate_cost is lim.estimate_cost
    assert lim.LIMITS, "a chapter without limits falls back to 100x its profiles"
    fields = {f.name for f in dataclasses.fields(next(iter(mod.PROFILES.values())))}
    unknown = sorted(set(lim.LIMITS) - fields)
    assert not unknown, f"LIMITS names no field of the config: {unknown}"
    for name, bound in lim.LIMITS.items():
        assert isinstance(bound, int) and not isinstance(bound, bool) and bound > 0, (name, bound)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_every_profile_within_limits_and_memory(chapter):
    mod = chapter.load()
    for profile, cfg in mod.PROFILES.items():
        for name, bound in mod.LIMITS.items():
            ints = budget._ints(getattr(cfg, name))
            if ints:
                assert max(ints) <= bound, (profile, name, getattr(cfg, name), bound)
        need = mod.estimate_cost(cfg)
        assert isinstance(need, int) and need > 0, (profile, need)
        cap = GPU_BUDGET if profile == "full" else CPU_BUDGET
        assert need < cap, f"{profile}: {need / GIB:.1f} GiB"


#: a knob per chapter whose growth must raise the estimate (members, widths or data)
GROWS = {
    "01_exploration": ("n_runs", 2000),
    "02_hessian_spectra": ("n_retrain", 4000),
    "03_double_descent": ("rf_n_train", 5000),   # the n x 10n feature matrix (the grids sit near the engine budget)
    "04_variance_metrics": ("n_seeds", 50),
    "05_flexible_size": ("n_seeds", 40),
    "06_sparsifiers": ("start_width", 5000),
    "07_lottery_tickets": ("widths", (3000, 1000)),
    "08_connectivity": ("n_pairs", 40),
}


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_estimate_grows_with_the_grid(chapter):
    mod = chapter.load()
    name, value = GROWS[chapter.name]
    quick = mod.PROFILES["quick"]
    bigger = dataclasses.replace(quick, **{name: value})
    assert mod.estimate_cost(bigger) > 2 * mod.estimate_cost(quick)


# ------------------------------------------------------------------------------- the CLI

@pytest.fixture
def project(tmp_path, monkeypatch):
    """A scratch root holding the real chapters' notebooks; results under it."""
    root = tmp_path / "proj"
    (root / "notebooks").mkdir(parents=True)
    for c in CHAPTERS:
        shutil.copy(REPO / "notebooks" / c.notebook, root / "notebooks" / c.notebook)
    monkeypatch.setenv("OVERPARAM_RESULTS", str(root / "results"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # the estimate is judged against a fixed 8 GiB, whatever this machine has
    monkeypatch.setattr(budget, "machine_memory", lambda device: (CPU_BUDGET, "memory"))
    import papermill

    def boom(*a, **k):
        raise AssertionError("papermill.execute_notebook was called")
    monkeypatch.setattr(papermill, "execute_notebook", boom)
    return root


def refused(capsys, tree, root, args, *needles):
    before = tree(root)
    code = cli.main(["--root", str(root), "run", *args])
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert tree(root) == before
    assert not (root / "results").exists() and not (root / "book").exists()
    return lines[0]


BIG = str(10**23)


@pytest.mark.parametrize("args,needles", [
    # the case
    (["01", "--profile", "smoke", "-p", "n_runs", BIG], ["n_runs=" + BIG, "at most 100000"]),
    (["01", "--profile", "quick", "-p", "max_width", BIG], ["max_width", "at most 1024"]),
    (["02", "--profile", "smoke", "-p", "widths", "[4, 1000000000]"], ["widths", "at most 8192"]),
    (["02", "--profile", "smoke", "-p", "n_retrain", BIG], ["n_retrain", "at most 10000"]),
    (["03", "--profile", "smoke", "-p", "n_train", str(10**6)], ["n_train=1000000", "at most 4000"]),
    (["03", "--profile", "smoke", "-p", "widths", "[2, 8, 1000000000]"], ["widths", "at most 16384"]),
    (["04", "--profile", "smoke", "-p", "n_seeds", BIG], ["n_seeds", "at most 100"]),
    (["05", "--profile", "smoke", "-p", "starts", "[8, 16, 1000000000]"], ["starts", "at most 8192"]),
    (["06", "--profile", "smoke", "-p", "start_width", str(10**9)], ["start_width", "at most 8192"]),
    (["07", "--profile", "smoke", "-p", "rounds", "1000"], ["rounds=1000", "at most 100"]),
    (["07", "--profile", "smoke", "-p", "widths", "[1000000000, 20]"], ["widths", "at most 8192"]),
    (["08", "--profile", "smoke", "-p", "n_trains", "[32, 1000000]"], ["n_trains", "at most 4000"]),
    (["08", "--profile", "smoke", "-p", "n_pairs", BIG], ["n_pairs", "at most 1000"]),
])
def test_huge_value_refused_by_its_limit(project, capsys, tree, args, needles):
    # "the chapter's limit": the bound comes from LIMITS, not the 100x-the-profiles fallback
    refused(capsys, tree, project, args, *needles, "the chapter's limit for")


@pytest.mark.parametrize("args,needles", [
    # each value within its limit, together more than 8 GiB: the estimate refuses
    (["01", "--profile", "smoke", "-p", "n_runs", "100000", "-p", "max_filters", "61"],
     ["n_runs=100000", "max_filters=61", "GB", "memory"]),
    (["02", "--profile", "smoke", "-p", "widths", "[4, 8192]", "-p", "ks", "[2, 1000]"],
     ["widths=[4, 8192]", "ks=[2, 1000]", "GB"]),
    # 16,384 widths x 2 noise levels x 100 seeds: 3.3 million members' test outputs
    (["03", "--profile", "smoke", "-p", "widths", str(list(range(1, 16385))), "-p", "n_seeds", "100"],
     ["widths=[1, 2, 3,", "n_seeds=100", "GB"]),
    (["08", "--profile", "smoke", "-p", "widths", "[4, 8, 4096]", "-p", "n_pairs", "1000"],
     ["widths=[4, 8, 4096]", "n_pairs=1000", "GB"]),
])
def test_grid_beyond_memory_refused_by_its_estimate(project, capsys, tree, args, needles):
    refused(capsys, tree, project, args, *needles)


# ----------------------------------------------------------------- the time estimate

@pytest.fixture
def probe_cache(tmp_path, monkeypatch):
    """The probe's cache in a scratch file, the probe itself counted and fixed at 2x the reference."""
    calls = []

    def probe(device=None, repeats=3):
        calls.append(device)
        return 2 * budget.REFERENCE_PROBE_S
    monkeypatch.setenv(budget.PROBE_CACHE_ENV, str(tmp_path / "probe.json"))
    monkeypatch.setattr(budget, "probe_seconds", probe)
    monkeypatch.delenv(budget.CONFIRM_ENV, raising=False)
    monkeypatch.delenv(budget.MAX_HOURS_ENV, raising=False)
    return calls


def _estimate(chapter, **changes):
    mod = registry.by_name(chapter).load()
    cfg = dataclasses.replace(mod.PROFILES["quick"], **changes)
    return budget.estimate_seconds(budget.chapter_module(mod.PROFILES), mod.PROFILES, "quick", cfg)


def test_estimate_is_the_reference_time_scaled_by_machine_and_grid(probe_cache):
    quick = _estimate("06_sparsifiers")
    assert quick.factor == 2.0 and quick.growth == 1.0
    assert quick.seconds == 2.0 * budget.MEASURED["sparsifiers"]
    more = _estimate("06_sparsifiers", epochs=80)           # 10x the quick profile's epochs
    assert more.growth == pytest.approx(10.0) and more.seconds == pytest.approx(10 * quick.seconds)
    both = _estimate("06_sparsifiers", epochs=80, n_seeds=6)
    assert both.growth == pytest.approx(20.0)
    assert _estimate("06_sparsifiers", lr=0.1).growth == 1.0   # a float knob sizes no work
    assert _estimate("06_sparsifiers", batch_size=1000, check_every=100).growth == 1.0
    assert budget._ratio("budget_s", 20.0, 2.0) == pytest.approx(10.0)  # a float in seconds counts
    assert budget._ratio("widths", (8, 16, 32), (8, 8)) == pytest.approx(56 / 16)
    assert budget._ratio("sets", ("a", "b", "c"), ("a",)) == 3.0
    mod = registry.by_name("06_sparsifiers").load()
    module = budget.chapter_module(mod.PROFILES)
    # nothing measured to scale from: other profiles, a GPU
    assert budget.estimate_seconds(module, mod.PROFILES, "full", mod.PROFILES["full"]) is None
    assert budget.estimate_seconds(module, mod.PROFILES, "quick", mod.PROFILES["quick"], "cuda") is None
    assert len(probe_cache) == 1, "the probe runs once per machine, then comes from the cache"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_every_chapter_has_a_reference_time_and_quick_is_far_below_the_cap(chapter, probe_cache):
    est = _estimate(chapter.name)
    assert est is not None and 0 < est.seconds < 3600, est


def test_over_the_cap_is_one_line_naming_the_estimate_and_how_to_go_on(probe_cache, monkeypatch):
    est = _estimate("06_sparsifiers", epochs=8000, n_seeds=30)
    assert est.seconds > 12 * 3600
    with pytest.raises(ValueError) as err:
        budget.check_time(est, "quick", {"epochs": 8000, "n_seeds": 30})
    msg = str(err.value)
    assert "\n" not in msg
    for needle in ("epochs=8000", "n_seeds=30", budget.duration(est.seconds), "12 h cap", "--yes",
                   f"{budget.CONFIRM_ENV}=1", "--max-hours"):
        assert needle in msg, (needle, msg)
    monkeypatch.setenv(budget.CONFIRM_ENV, "1")
    budget.check_time(est, "quick", {"epochs": 8000})               # confirmed: goes on
    monkeypatch.delenv(budget.CONFIRM_ENV)
    monkeypatch.setenv(budget.MAX_HOURS_ENV, str(est.seconds / 3600 * 1.01))
    budget.check_time(est, "quick", {"epochs": 8000})               # under a raised cap
    monkeypatch.setenv(budget.MAX_HOURS_ENV, "0.001")
    with pytest.raises(ValueError, match="0.001 h cap"):
        budget.check_time(_estimate("06_sparsifiers"), "quick", {})  # a lowered cap bites too


def test_duration_reads_like_a_person_would_say_it():
    assert [budget.duration(s) for s in (4.4, 80, 3 * 3600 + 65, 5 * 86400)] == \
        ["4 s", "1 min 20 s", "3 h 01 min", "5 days"]


DAYS = ["06", "--profile", "quick", "-p", "epochs", "8000", "-p", "n_seeds", "30"]


def test_a_days_long_grid_stops_with_its_estimate(project, capsys, tree, probe_cache):
    line = refused(capsys, tree, project, DAYS, "chapter 06_sparsifiers", "epochs=8000",
                   "would take ~", "over the 12 h cap", "--yes")
    assert "days" in line or " h " in line


def test_yes_and_max_hours_let_it_pass_validation(project, probe_cache, monkeypatch):
    entry = registry.by_name("06_sparsifiers")
    params = {"epochs": 8000, "n_seeds": 30}
    from overparam.book import validate

    monkeypatch.setenv(budget.CONFIRM_ENV, "1")
    est = validate.validate_request([entry], project / "notebooks", "quick", "cpu", 0, params)
    assert est["06_sparsifiers"].seconds > 12 * 3600
    code = cli.main(["--root", str(project), "run", *DAYS, "--max-hours", "-1"])
    assert code == 2   # a bad cap is bad input


def test_a_normal_run_prints_its_estimate_before_training(project, capsys, probe_cache, monkeypatch):
    from overparam.book import runner

    seen = []

    def run_chapters(*a, **k):  # training would start here: what was printed by then?
        seen.append((capsys.readouterr().out, k["estimates"]))
        return []
    monkeypatch.setattr(runner, "run_chapters", run_chapters)
    assert cli.main(["--root", str(project), "run", "03", "06", "--jobs", "2"]) == 0
    out, est = seen[0]
    assert f"estimate: 03_double_descent ~ {budget.duration(est['03_double_descent'].seconds)} at quick" in out
    assert "estimate: 06_sparsifiers ~" in out and "estimate: 2 chapters ~" in out


def test_papermill_direct_is_refused_with_the_same_message(project, capsys, tree, probe_cache, tmp_path):
    """The README's papermill example: the notebook's own profile resolution refuses the same
    values as the CLI, with the same message (less the CLI's ``chapter NN_slug:`` prefix)."""
    from papermill.exceptions import PapermillExecutionError
    from papermill.execute import execute_notebook  # the fixture stubs only papermill's own name

    cli_line = refused(capsys, tree, project, DAYS, "would take")
    with pytest.raises(PapermillExecutionError) as err:
        execute_notebook(str(REPO / "notebooks" / "06_sparsifiers.ipynb"),
                                   str(tmp_path / "out.ipynb"), kernel_name="python3",
                                   parameters={"profile": "quick", "device": "cpu", "epochs": 8000,
                                               "n_seeds": 30},
                                   progress_bar=False, cwd=str(tmp_path))
    assert err.value.ename == "ValueError"
    assert cli_line == f"error: chapter 06_sparsifiers: {err.value.evalue}"


def test_side_by_side_the_longest_estimated_chapter_starts_first():
    from overparam.book import runner

    est = {"a": budget.Estimate("a", 10.0, 1, 1, "cpu"), "b": None,
           "c": budget.Estimate("c", 99.0, 1, 1, "cpu"), "d": budget.Estimate("d", 50.0, 1, 1, "cpu")}
    assert runner._longest_first(["a", "b", "c", "d"], est) == [(3, "c"), (4, "d"), (1, "a"), (2, "b")]
    assert runner._longest_first(["a", "b"], None) == [(1, "a"), (2, "b")]


def test_the_eta_stretches_with_how_the_finished_chapters_went():
    from overparam.book.estimate import eta_line
    from overparam.book.runner import ChapterResult

    est = {c: budget.Estimate(c, s, 1, 1, "cpu") for c, s in (("a", 100.0), ("b", 60.0), ("c", 40.0))}
    assert eta_line({}, ["a", "b", "c"], est, 2) == ", eta ~ 1 min 40 s"        # max(200/2, 100)
    on_time = {"a": ChapterResult("a", "ok", 100.0)}
    assert eta_line(on_time, ["a", "b", "c"], est, 2) == ", eta ~ 1 min 00 s"   # max(100/2, 60)
    twice = {"a": ChapterResult("a", "ok", 200.0)}
    assert eta_line(twice, ["a", "b", "c"], est, 2) == ", eta ~ 2 min 00 s"
    cached = {"a": ChapterResult("a", "cached")}                                # no pace from it
    assert eta_line(cached, ["a", "b", "c"], est, 2) == ", eta ~ 1 min 00 s"
    assert eta_line(twice, ["a"], est, 2) == "" and eta_line({}, ["a"], None, 1) == ""


def test_book_too_stops_with_its_estimate_over_the_cap(project, capsys, probe_cache):
    """`book` checks the same cap as `run`: one line naming the estimate and how to go on."""
    code = cli.main(["--root", str(project), "book", "--profile", "quick", "--max-hours", "0.001"])
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, (code, out, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in ("would take ~", "cap", "--yes"):
        assert needle in lines[0], (needle, lines[0])
    assert not (project / "results").exists()


def test_book_prints_every_chapters_estimate_before_training(project, capsys, probe_cache, monkeypatch):
    from overparam.book import runner

    seen = []

    def run_chapters(*a, **k):  # training would start here: what was printed by then?
        seen.append(capsys.readouterr().out)
        raise SystemExit(0)
    monkeypatch.setattr(runner, "run_chapters", run_chapters)
    with pytest.raises(SystemExit):
        cli.main(["--root", str(project), "book", "--profile", "quick", "--jobs", "2"])
    out = seen[0]
    assert len(registry.CHAPTERS) == 8
    assert all(f"estimate: {e.name} ~" in out or f"estimate: {e.name} cached" in out
               for e in registry.CHAPTERS), out
    assert "estimate: 8 chapters ~" in out
