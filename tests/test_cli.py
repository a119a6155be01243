"""Bad input to ``python -m overparam`` fails early, clearly, and writes nothing."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from overparam import __main__ as cli
from overparam import book


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
    assert run_cli(tiny_project, "run", "01", "--profile", "huge") == 2
    assert_rejected(capsys, tree, tiny_project, before, "profile='huge'", "'smoke', 'quick', 'full'")


def test_unknown_profile_for_book(tiny_project, capsys, tree, never_execute):
    before = tree(tiny_project)
    assert run_cli(tiny_project, "book", "--profile", "Quick") == 2
    assert_rejected(capsys, tree, tiny_project, before, "profile='Quick'", "'quick'")


def test_unknown_chapter(tiny_project, capsys, tree, never_execute):
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "07", "--profile", "smoke") == 2
    assert_rejected(capsys, tree, tiny_project, before, "chapter='07'", "'01_tiny'", "'02_broken'")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_on_cpu_machine(tiny_project, capsys, tree, never_execute):
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "01", "--device", "cuda") == 2
    assert_rejected(capsys, tree, tiny_project, before, "device='cuda'", "'auto', 'cpu'")


def test_unknown_device(tiny_project, capsys, tree, never_execute):
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "--device", "tpu") == 2
    assert_rejected(capsys, tree, tiny_project, before, "device='tpu'", "'auto', 'cpu', 'cuda'")


def test_negative_width_via_p(tiny_project, capsys, tree, never_execute):
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "tiny", "--profile", "smoke", "-p", "width", "-3") == 2
    assert_rejected(capsys, tree, tiny_project, before, "width=-3", "> 0", "01_tiny")


def test_width_of_wrong_type_via_p(tiny_project, capsys, tree, never_execute):
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "01", "-p", "width", "2.5") == 2
    assert_rejected(capsys, tree, tiny_project, before, "width=2.5", "integer")


def test_p_name_not_a_parameter(tiny_project, capsys, tree, never_execute):
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "01", "-p", "depth", "3") == 2
    assert_rejected(capsys, tree, tiny_project, before, "-p depth", "01_tiny", "width")


def test_p_common_parameter_needs_its_flag(tiny_project, capsys, tree, never_execute):
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "01", "-p", "profile", "full") == 2
    assert_rejected(capsys, tree, tiny_project, before, "-p profile", "--profile")


def test_negative_seed(tiny_project, capsys, tree, never_execute):
    before = tree(tiny_project)
    assert run_cli(tiny_project, "run", "01", "--seed", "-1") == 2
    assert_rejected(capsys, tree, tiny_project, before, "seed=-1", ">= 0")


def test_chapter_names_resolve():
    avail = ["01_exploration", "02_hessian_spectra"]
    assert book.resolve_chapters(["01"], avail) == ["01_exploration"]
    assert book.resolve_chapters(["hessian_spectra", "exploration"], avail) == avail
    assert book.resolve_chapters(["01_exploration.ipynb", "01"], avail) == ["01_exploration"]
    assert book.resolve_chapters([], avail) == avail
    with pytest.raises(ValueError, match="chapter='03'"):
        book.resolve_chapters(["03"], avail)


def test_parse_value_reads_yaml_literals():
    assert book.parse_value("-3") == -3
    assert book.parse_value("0.25") == 0.25
    assert book.parse_value("[1, 2, 4]") == [1, 2, 4]
    assert book.parse_value("null") is None
    assert book.parse_value("sgd") == "sgd"


def test_module_entry_point_rejects_unknown_profile(tmp_path):
    """The real ``python -m overparam`` (a new process): one line on stderr, exit 2."""
    proc = subprocess.run([sys.executable, "-m", "overparam", "--root", str(tmp_path),
                           "run", "--profile", "nope"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: profile='nope' is not allowed; choose one of: 'smoke', 'quick', 'full'"]
    assert list(tmp_path.iterdir()) == []
