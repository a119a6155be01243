"""Bad input to ``python -m overparam`` fails early, clearly, and writes nothing."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch

from overparam import config
from overparam.book import cli, registry, validate


def run_cli(root, *args):
    return cli.main(["--root", str(root), *args])


def assert_rejected(capsys, tree, root, before, *needles):
    """Exactly one ``error:`` line naming ``needles``, and the project tree unchanged."""
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert tree(root) == before
    assert not (root / "book" / "chapters").exists()


@pytest.fixture
def never_execute(monkeypatch):
    """Fail the test if papermill is asked to execute anything."""
    import papermill

    def boom(*a, **k):
        raise AssertionError("papermill.execute_notebook was called")
    monkeypatch.setattr(papermill, "execute_notebook", boom)


def test_unknown_profile(tiny_project, capsys, tree, never_execute):
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "90", "--profile", "huge") == 2
    assert_rejected(capsys, tree, tiny_project, before, "profile='huge'",
                    ", ".join(repr(p) for p in config.PROFILES))


def test_unknown_profile_for_book(tiny_project, capsys, tree, never_execute):
    before = tree(tiny_project)
    assert run_cli(tiny_project, "book", "--profile", "Quick") == 2
    assert_rejected(capsys, tree, tiny_project, before, "profile='Quick'", "'quick'")


def test_unknown_chapter(tiny_project, capsys, tree, never_execute):
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "42", "--profile", "smoke") == 2
    assert_rejected(capsys, tree, tiny_project, before, "chapter='42'", "'90_tiny'", "'91_broken'")


def test_registered_chapter_without_notebook(tiny_project, capsys, tree, never_execute):
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "07", "--profile", "smoke") == 2
    assert_rejected(capsys, tree, tiny_project, before, "chapter='07'",
                    "07_lottery_tickets.ipynb does not exist yet")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_on_cpu_machine(tiny_project, capsys, tree, never_execute):
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "90", "--device", "cuda") == 2
    assert_rejected(capsys, tree, tiny_project, before, "device='cuda'", "'auto', 'cpu'")


def test_unknown_device(tiny_project, capsys, tree, never_execute):
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "--device", "tpu") == 2
    assert_rejected(capsys, tree, tiny_project, before, "device='tpu'", "'auto', 'cpu', 'cuda'")


def test_negative_width_via_p(tiny_project, capsys, tree, never_execute):
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "tiny", "--profile", "smoke", "-p", "width", "-3") == 2
    assert_rejected(capsys, tree, tiny_project, before, "width=-3", "> 0", "90_tiny")


def test_width_of_wrong_type_via_p(tiny_project, capsys, tree, never_execute):
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "90", "-p", "width", "2.5") == 2
    assert_rejected(capsys, tree, tiny_project, before, "width=2.5", "integer")


def test_string_for_an_integer_knob(tiny_project, capsys, tree, never_execute):
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "90", "-p", "width", "not a number") == 2
    assert_rejected(capsys, tree, tiny_project, before, "width='not a number'", "expected an integer")


def test_p_name_not_a_parameter(tiny_project, capsys, tree, never_execute):
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "90", "-p", "depth", "3") == 2
    assert_rejected(capsys, tree, tiny_project, before, "-p depth", "90_tiny", "width")


def test_p_common_parameter_needs_its_flag(tiny_project, capsys, tree, never_execute):
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "90", "-p", "profile", "full") == 2
    assert_rejected(capsys, tree, tiny_project, before, "-p profile", "--profile")


def test_negative_seed(tiny_project, capsys, tree, never_execute):
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "90", "--seed", "-1") == 2
    assert_rejected(capsys, tree, tiny_project, before, "seed=-1", ">= 0")


@pytest.mark.parametrize("seed", [str(2**64), str(2**63), "1e3", "seven"])
def test_seed_out_of_range_or_not_an_integer(tiny_project, capsys, tree, never_execute, seed):
    """A seed >= 2**63 (torch takes < 2**64) is refused before the kernel."""
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "90", "--seed", seed) == 2
    assert_rejected(capsys, tree, tiny_project, before, "seed=")


def test_dir_parameter_must_be_a_string(tiny_project, capsys, tree, never_execute):
    """``-p results_dir 5`` is exit 2 with nothing written."""
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "90", "-p", "results_dir", "5") == 2
    assert_rejected(capsys, tree, tiny_project, before, "results_dir=5", "expected a str")


def test_huge_value_is_refused_fast_naming_the_parameter(tiny_project, capsys, tree, never_execute):
    """No declared limit -> 100 x the largest profile value."""
    before = tree(tiny_project)
    t0 = time.perf_counter()
    assert run_cli(tiny_project, "run", "90", "-p", "reps", "99999999999999999999999") == 2
    took = time.perf_counter() - t0
    assert_rejected(capsys, tree, tiny_project, before, "reps=99999999999999999999999",
                    "at most 300")
    print(f"refused in {took:.2f} s")


def test_size_beyond_memory_is_refused_with_the_estimate(tiny_project, capsys, tree, never_execute):
    """The chapter's estimate_cost against the machine's memory."""
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "90", "-p", "width", str(10**8)) == 2
    assert_rejected(capsys, tree, tiny_project, before, "width=100000000", "would need about 104857.6 GB",
                    "of memory")


def test_declared_limit_wins_over_the_fallback(tiny_project):
    # width's LIMITS entry (10**12) is far above 100 x 5, so 600 passes the limit check
    entry = registry.by_name("90_tiny")
    validate.validate_request([entry], tiny_project / "notebooks", "smoke", "cpu", 0, {"width": 600})
    with pytest.raises(ValueError, match="at most 300"):
        validate.validate_request([entry], tiny_project / "notebooks", "smoke", "cpu", 0, {"reps": 301})


def test_type_checks_against_the_profile_value():
    with pytest.raises(ValueError, match=r"widths='not a list' is not allowed; expected a list like \[8, 16\]"):
        validate._check_type("widths", "not a list", (8, 16))
    with pytest.raises(ValueError, match="expected a number"):
        validate._check_type("lr", "fast", 0.1)
    validate._check_type("lr", 1, 0.1)        # an int is a fine float
    validate._check_type("widths", [4], (8, 16))
    with pytest.raises(ValueError, match="expected true or false"):
        validate._check_type("flag", 1, True)


def test_empty_values_count_as_no_p():
    assert validate.clean_params([("n_runs", ""), ("k", "null"), ("w", "3")]) == {"w": 3}
    assert validate.clean_params([("w", "3"), ("w", "")]) == {}


def test_bad_jobs(tiny_project, capsys, tree, never_execute):
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "90", "--jobs", "0") == 2
    assert_rejected(capsys, tree, tiny_project, before, "jobs=0", "> 0")


def test_bad_backend(tiny_project, capsys, tree, never_execute):
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "90", "--backend", "slurm") == 2
    assert_rejected(capsys, tree, tiny_project, before, "backend='slurm'", "'local', 'ray'")


def test_chapter_names_resolve():
    avail = [registry.by_name("01_exploration"), registry.by_name("07_lottery_tickets")]
    names = lambda req: [c.name for c in registry.resolve(req, avail)]  # noqa: E731
    assert names(["01"]) == ["01_exploration"]
    assert names(["7"]) == ["07_lottery_tickets"]
    assert names(["lottery_tickets", "exploration"]) == ["01_exploration", "07_lottery_tickets"]
    assert names(["01_exploration.ipynb", "01"]) == ["01_exploration"]
    assert names([]) == ["01_exploration", "07_lottery_tickets"]
    with pytest.raises(ValueError, match="chapter='03'"):
        registry.resolve(["03"], avail)


def test_parse_value_reads_yaml_literals():
    assert validate.parse_value("-3") == -3
    assert validate.parse_value("0.25") == 0.25
    assert validate.parse_value("[1, 2, 4]") == [1, 2, 4]
    assert validate.parse_value("null") is None
    assert validate.parse_value("sgd") == "sgd"


def test_module_entry_point_rejects_unknown_profile(tmp_path):
    """The real ``python -m overparam`` (a new process): one line on stderr, exit 2."""
    proc = subprocess.run([sys.executable, "-m", "overparam", "--root", str(tmp_path),
                           "run", "--profile", "nope"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: profile='nope' is not allowed; choose one of: " + ", ".join(map(repr, config.PROFILES))]
    assert list(tmp_path.iterdir()) == []


def test_address_needs_the_ray_backend(tiny_project, capsys, tree, never_execute):
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "90", "--profile", "smoke", "--address", "auto") == 2
    assert_rejected(capsys, tree, tiny_project, before, "--address needs --backend ray")


def test_ray_backend_without_ray_is_one_error_line(tiny_project, capsys, tree, never_execute, monkeypatch):
    import overparam.engine.distributed as dist

    def missing():
        raise ImportError("Ray is not installed: pip install -e '.[ray]'")
    monkeypatch.setattr(dist, "require_ray", missing)
    monkeypatch.setattr("overparam.book.ray_backend.require_ray", missing)
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "90", "--profile", "smoke", "--backend", "ray") == 2
    assert_rejected(capsys, tree, tiny_project, before, "Ray is not installed")


def test_empty_value_of_an_unknown_name_is_still_an_error(tiny_project, capsys, tree, never_execute):
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "90", "--profile", "smoke", "-p", "bogus", "") == 2
    assert_rejected(capsys, tree, tiny_project, before, "-p bogus is not a parameter")


def test_a_profile_the_chapter_does_not_have_is_one_error_line(tiny_project, capsys, tree, never_execute):
    """A profile the package knows but this chapter does not define: refused, not a KeyError."""
    missing = [p for p in config.PROFILES if p not in ("smoke", "quick", "full")]
    if not missing:
        pytest.skip("every profile of the package is defined by the fixture chapter")
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "90", "--profile", missing[0]) == 2
    assert_rejected(capsys, tree, tiny_project, before, f"profile={missing[0]!r}", "'smoke', 'quick', 'full'")
