"""Grids and chapters on a local Ray instance (``ray.init(num_cpus=2)``, one per module).

Grid points trained in Ray tasks are byte-for-byte the points trained locally; a worker
killed mid-bucket is re-run; a bucket that keeps failing is reported with its points, the
others are saved and a second run trains only what is missing; a chapter raising on a
worker leaves its last good page. Skipped only where the ``ray`` extra is not installed.
"""
from __future__ import annotations

import functools
import os
import shutil
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray", reason="Ray is not installed (optional extra: pip install -e '.[ray]')")

from overparam import config  # noqa: E402
from overparam.book import ray_backend, runner  # noqa: E402
from overparam.book.paths import default_paths  # noqa: E402
from overparam.engine.distributed import GridFailed, RayBackend  # noqa: E402
from overparam.engine.store import ResultStore  # noqa: E402
from overparam.engine.sweep import CURVES, Member, TrainConfig, TrainData, train_ensemble, train_grid  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray instance for the module; the worker-side helpers below travel by value."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


# ------------------------------------------------------------------ worker-side helpers


def _note_pid(folder: str, members) -> None:
    Path(folder, f"pid-{os.getpid()}").touch()


def _die_once(folder: str, label: str, members) -> None:
    """Kill the worker the first time it trains the chunk holding ``label`` (marker file)."""
    marker = Path(folder, "killed-once")
    if any(m.label() == label for m in members) and not marker.exists():
        marker.touch()
        os._exit(1)


def _fail(label: str, how: str, members) -> None:
    if any(m.label() == label for m in members):
        if how == "crash":
            os._exit(1)
        raise RuntimeError(f"deliberate failure on {label}")


# ------------------------------------------------------------------ grids


def _grid():
    g = torch.Generator().manual_seed(0)
    X, Xt = torch.randn(60, 10, generator=g), torch.randn(30, 10, generator=g)
    y, yt = (X[:, :3].sum(1) > 0).long(), (Xt[:, :3].sum(1) > 0).long()
    noisy = y.clone()
    noisy[:12] = 1 - noisy[:12]
    datas = [TrainData(X, y, Xt, yt, 2, key="toy clean"), TrainData(X, noisy, Xt, yt, 2, key="toy noisy")]
    members = [Member(w, seed=s, data=s % 2) for w in (2, 5, 16) for s in (0, 1)]
    return members, datas, TrainConfig(epochs=4, lr=0.05, batch_size=16, eval_every=2)


def _same(a, b):
    for k in CURVES:
        assert np.array_equal(a.curves[k], b.curves[k], equal_nan=True), k


@pytest.fixture(scope="module")
def local_grid(tmp_path_factory):
    members, datas, cfg = _grid()
    store = ResultStore(tmp_path_factory.mktemp("local"), stamp=None)
    with config.threads(1):  # a Ray task has one CPU: one thread, as here
        res = train_grid(members, datas, cfg, store=store, chunk_size=2, keep_probs=True, log=None)
    return res, store


def test_grid_on_ray_is_byte_for_byte_the_local_grid(local_grid, tmp_path):
    members, datas, cfg = _grid()
    local, local_store = local_grid
    store = ResultStore(tmp_path / "ray", stamp=None)
    backend = RayBackend(before_chunk=functools.partial(_note_pid, str(tmp_path)))
    res = train_grid(members, datas, cfg, store=store, chunk_size=2, keep_probs=True, log=None,
                     backend=backend)
    pids = {int(p.name.split("-")[1]) for p in tmp_path.glob("pid-*")}
    assert pids and os.getpid() not in pids  # trained in worker processes
    _same(res, local)
    assert np.array_equal(res.test_probs, local.test_probs)
    assert res.modes == local.modes
    assert store.keys() == local_store.keys() and len(store.keys()) == len(members)
    for key in store.keys():
        a, b = store.load(key)[0], local_store.load(key)[0]
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_ensemble_on_ray_returns_the_local_parameters():
    members, datas, cfg = _grid()
    with config.threads(1):
        local = train_ensemble(members, datas, cfg, keep_params=True, log=None)
    remote = train_ensemble(members, datas, cfg, keep_params=True, log=None, backend="ray")
    _same(remote, local)
    for p, q in zip(remote.params, local.params):
        assert all(torch.equal(a, b) for a, b in zip(p, q))


def test_worker_killed_mid_bucket_is_rerun(local_grid, tmp_path):
    members, datas, cfg = _grid()
    victim = members[3].label()
    store = ResultStore(tmp_path / "store", stamp=None)
    backend = RayBackend(max_retries=1, before_chunk=functools.partial(_die_once, str(tmp_path), victim))
    res = train_grid(members, datas, cfg, store=store, chunk_size=2, keep_probs=True, log=None,
                     backend=backend)
    assert (tmp_path / "killed-once").exists()  # the worker did die once
    _same(res, local_grid[0])
    assert len(store.keys()) == len(members)


@pytest.mark.parametrize("how", ["raise", "crash"])
def test_failed_bucket_is_reported_others_saved_and_a_rerun_trains_only_it(local_grid, tmp_path, how):
    members, datas, cfg = _grid()
    victim = members[4].label()
    store = ResultStore(tmp_path / "store", stamp=None)
    lines = []
    backend = RayBackend(max_retries=0, before_chunk=functools.partial(_fail, victim, how))
    with pytest.raises(GridFailed) as info:
        train_grid(members, datas, cfg, store=store, chunk_size=2, log=lines.append, backend=backend,
                   keep_probs=True)
    failed = [p for f in info.value.failures for p in f.points]
    assert victim in failed and len(failed) == 2  # its chunk (chunk_size 2), nothing else
    assert victim in str(info.value)
    if how == "raise":
        assert "RuntimeError: deliberate failure on " + victim in str(info.value)
    assert any("FAILED" in l and victim in l for l in lines)
    assert len(store.keys()) == len(members) - 2  # every other point was saved
    chunks = []
    again = train_grid(members, datas, cfg, store=store, chunk_size=2, log=None, backend="ray",
                       keep_probs=True, on_chunk=chunks.append)
    assert chunks == [1] and again.modes.count("stored") == len(members) - 2
    _same(again, local_grid[0])


def test_bad_backend_names_the_parameter():
    members, datas, cfg = _grid()
    with pytest.raises(ValueError, match="backend"):
        train_grid(members, datas, cfg, backend="dask", log=None)
    with pytest.raises(ValueError, match="num_gpus"):
        RayBackend(num_gpus=-1)


# ------------------------------------------------------------------ chapters


@pytest.fixture
def project(tiny_project):
    return default_paths(tiny_project)


def test_chapters_on_ray_equal_local_and_a_raising_chapter_keeps_its_last_good_page(project, tmp_path):
    from conftest import fixture_notebooks, make_project

    lines = []
    res = ray_backend.run_chapters(project, ["90_tiny", "91_broken"], "smoke", "cpu", 0, log=lines.append)
    assert [r.status for r in res] == ["ok", "failed"]  # the broken one does not stop the other
    assert res[1].failed_cell == 3 and res[1].error.startswith("RuntimeError: deliberate failure")
    assert "This chapter failed to execute" in nbformat.read(project.chapters / "91_broken.ipynb", 4).cells[0].source
    assert (project.chapters / "91_broken.failed.ipynb").exists()
    assert any("90_tiny done" in l for l in lines)

    # the same chapter run locally: same claims, same record (but the run's own date and time)
    local = default_paths(make_project(tmp_path / "local", fixture_notebooks()))
    assert runner.run_chapter(local, "90_tiny", "smoke", "cpu", 0, stream=open(os.devnull, "w")).status == "ok"
    assert (project.chapters / "90_tiny.claims.json").read_text() == (local.chapters / "90_tiny.claims.json").read_text()
    good = nbformat.read(project.chapters / "90_tiny.ipynb", 4)
    there = nbformat.read(local.chapters / "90_tiny.ipynb", 4)
    # the run record's facts (not the date, duration, key or commit: other work goes on meanwhile)
    same = ("chapter", "profile", "device", "seed", "parameters", "ok", "device_resolved", "python",
            "torch", "cuda", "gpu", "overparam", "host_cpus")
    assert ({k: good.metadata["overparam"].get(k, "-") for k in same}
            == {k: there.metadata["overparam"].get(k, "-") for k in same})
    assert [c.source for c in good.cells] == [c.source for c in there.cells]

    # now the chapter raises on the worker: the last good page stays, with a banner
    claims_before = (project.chapters / "90_tiny.claims.json").read_text()
    shutil.copy(FIXTURES / "notebooks" / "91_broken.ipynb", project.notebooks / "90_tiny.ipynb")
    (bad,) = ray_backend.run_chapters(project, ["90_tiny"], "smoke", "cpu", 0, log=lines.append)
    assert bad.status == "failed" and bad.failed_cell == 3 and "deliberate failure" in bad.error
    page = nbformat.read(project.chapters / "90_tiny.ipynb", 4)
    assert page.metadata["overparam"]["ok"] is True
    assert page.metadata["overparam"]["latest_failure"]["failed_cell"] == 3
    assert runner.STALE_TAG in page.cells[0].metadata["tags"]
    assert [c.source for c in page.cells[1:]] == [c.source for c in good.cells]
    assert (project.chapters / "90_tiny.claims.json").read_text() == claims_before
    assert (project.chapters / "90_tiny.failed.ipynb").exists()
    assert not [p for p in project.chapters.iterdir() if p.name.startswith(".")]


def test_cli_backend_ray_runs_the_chapter_on_a_worker(project, capsys):
    from overparam.book import cli

    code = cli.main(["--root", str(project.root), "run", "90", "--profile", "smoke", "--device", "cpu",
                     "--backend", "ray"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "90_tiny submitted to Ray" in out and "90_tiny done" in out
    meta = nbformat.read(project.chapters / "90_tiny.ipynb", 4).metadata["overparam"]
    assert meta["ok"] is True and meta["profile"] == "smoke"
    assert (project.chapters / "90_tiny.claims.json").exists()
    assert "| 90_tiny" in (project.root / "book" / "status.md").read_text()
