"""Overhead of Ray tasks for grid points: the same grid through Ray and through the local engine.

A grid of many small points (MLP 40-8-10 on random data, one seed each) is cut into
chunks (buckets) of k points, k = 1, 2, 4, ..., and each chunk is trained by
:func:`overparam.engine.sweep.train_ensemble`, as :func:`~overparam.engine.sweep.train_grid`
does: in this process (the local engine), and as one Ray task per chunk through
:func:`overparam.engine.distributed.run_chunks` (the path of ``train_grid(backend="ray")``).
Ray is started with ONE task slot, so its tasks run one after another with one thread
each, like the local engine.

This 2-core machine is shared, and the training time of the same chunk varies by tens of
percent between runs, more than Ray's cost per task. So the overhead is measured within
each run: the wall time of the whole grid minus the time the chunks spent training (each
chunk's own ``EnsembleResult.seconds``, measured where it trained). For Ray that is
scheduling, sending each chunk and the data reference, and returning the results; the
local engine's own bookkeeping is measured the same way and subtracted.

Printed, all measured in this one process (fastest of ``--repeats`` interleaved runs):

- per k: tasks, local and Ray wall seconds and their ratio, training seconds per task,
  Ray's overhead per task and as a share of a task's training time;
- the bucket size above which Ray's overhead is below 5 % of the training time.

    python benchmarks/ray_overhead.py [--points 256] [--epochs 20] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from overparam import config
from overparam.engine.distributed import RayBackend, require_ray, run_chunks
from overparam.engine.sweep import Member, TrainConfig, TrainData, train_ensemble


def grid(points: int, d: int = 40, n: int = 256, n_test: int = 128, classes: int = 10):
    g = torch.Generator().manual_seed(0)
    X, Xt = torch.randn(n, d, generator=g), torch.randn(n_test, d, generator=g)
    y, yt = torch.randint(0, classes, (n,), generator=g), torch.randint(0, classes, (n_test,), generator=g)
    return [Member(8, seed=s) for s in range(points)], [TrainData(X, y, Xt, yt, classes, key="bench")]


def run_local(members, datas, cfg, chunks) -> tuple[float, float]:
    """(wall seconds, training seconds) of the chunks trained one after another here."""
    t0, train = time.perf_counter(), 0.0
    for chunk in chunks:
        train += train_ensemble([members[i] for i in chunk], datas, cfg, log=None).seconds
    return time.perf_counter() - t0, train


def run_ray(members, datas, cfg, chunks, backend) -> tuple[float, float]:
    """(wall seconds, training seconds) of the chunks as Ray tasks."""
    train = []
    t0 = time.perf_counter()
    run_chunks(chunks, members, datas, cfg, train=train_ensemble, device="cpu", backend=backend, engine={"log": None},
               on_result=lambda c, chunk, r: train.append(r.seconds))
    wall = time.perf_counter() - t0
    if len(train) != len(chunks):
        raise RuntimeError("a Ray task failed during the benchmark")
    return wall, sum(train)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    ray = require_ray()
    members, datas = grid(args.points)
    cfg = TrainConfig(epochs=args.epochs, lr=0.05, batch_size=32, eval_every=args.epochs)
    sizes = [k for k in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512) if k <= args.points]
    chunks = {k: [list(range(s, min(s + k, args.points))) for s in range(0, args.points, k)] for k in sizes}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {args.points} points (MLP 40-8-10, "
          f"{cfg.epochs} epochs of {datas[0].n_train // cfg.batch_size} steps); fastest of {args.repeats}")
    t0 = time.perf_counter()
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    print(f"ray.init (local, 1 task slot): {time.perf_counter() - t0:.1f} s (not counted below)")
    backend = RayBackend(num_cpus=1)
    inf = (float("inf"), float("inf"))
    local, remote = {k: inf for k in sizes}, {k: inf for k in sizes}
    with config.threads(1):
        run_ray(members, datas, cfg, chunks[sizes[-1]], backend)  # warm-up: worker starts, imports torch
        run_local(members, datas, cfg, chunks[sizes[-1]])
        for _ in range(args.repeats):
            for k in sizes:  # interleaved: a burst of load hits both sides
                local[k] = min(local[k], run_local(members, datas, cfg, chunks[k]))
                remote[k] = min(remote[k], run_ray(members, datas, cfg, chunks[k], backend))
    ray.shutdown()
    print(f"{'bucket k':>8} {'tasks':>6} {'local s':>8} {'ray s':>8} {'ray/local':>9} "
          f"{'train/task ms':>14} {'ray overhead/task ms':>21} {'overhead/train':>15}")
    share = {}
    for k in sizes:
        n = len(chunks[k])
        (wl, trl), (wr, trr) = local[k], remote[k]
        per_task = ((wr - trr) - (wl - trl)) / n  # Ray's wall time not training, less the local engine's
        train_task = trr / n
        share[k] = per_task / train_task
        print(f"{k:>8} {n:>6} {wl:>8.3f} {wr:>8.3f} {wr / wl:>9.3f} {train_task * 1e3:>14.1f} "
              f"{per_task * 1e3:>21.1f} {share[k]:>15.3f}")
    above = [k for i, k in enumerate(sizes) if all(share[j] < 0.05 for j in sizes[i:])]
    print("Ray's overhead is below 5 % of the training time "
          + (f"from buckets of {above[0]} points on" if above else f"at no bucket size up to {sizes[-1]}")
          + f" (points of {cfg.epochs} epochs here: bigger points need smaller buckets)")


if __name__ == "__main__":
    main()
