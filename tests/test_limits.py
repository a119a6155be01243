"""Issue 12 item 1: every chapter bounds its sizes (``LIMITS``) and estimates its memory
(``estimate_cost``), and the CLI refuses what exceeds either before anything runs."""
from __future__ import annotations

import dataclasses
import importlib
import shutil
from pathlib import Path

import pytest

from overparam.book import cli, registry, validate

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
            ints = validate._ints(getattr(cfg, name))
            if ints:
                assert max(ints) <= bound, (profile, name, getattr(cfg, name), bound)
        need = mod.estimate_cost(cfg)
        assert isinstance(need, int) and need > 0, (profile, need)
        budget = GPU_BUDGET if profile == "full" else CPU_BUDGET
        assert need < budget, f"{profile}: {need / GIB:.1f} GiB"


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
    monkeypatch.setattr(validate, "machine_memory", lambda device: (CPU_BUDGET, "memory"))
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
