"""Speed of the batched sweep engine against a per-model loop, in one run on one machine.

For MLPs 40-h-10 with h = 8, 64, 256, 512 it trains the same grid of members (different
seeds and label-noise draws) on MNIST-1D three ways through ``overparam.engine.sweep``:
``mode="loop"`` (one model at a time), ``mode="batched"`` (one stacked computation) and
``mode="auto"`` (what the engine chooses, with its fallback). It prints the speed-ups over
the loop and the achieved training GFLOP/s as a share of this machine's own fp32 matmul
rate, measured in the same run.

Goals (issue 4): >= 10x at h = 8, >= 4x at h = 64, auto never below 1x; >= 40 % of the
matmul rate at h >= 256.

The engine's loop mode trains stacks of one member through the same ``fit``; so that a
slow loop cannot flatter the ratios, a textbook per-model PyTorch loop (``nn.Sequential``,
fused ``torch.optim.SGD``, the same batches and the same two evaluations) is timed too,
and the speed-ups over it are printed beside the others.

Clock: ``--clock cpu`` (the default with one CPU thread) measures the process's CPU time,
which on a machine shared with other jobs stays close to the time the run would take
alone; ``wall`` is the elapsed time (the default on a GPU or with several threads).

    python benchmarks/ensemble.py [--members 32] [--epochs 10] [--device auto] [--clock cpu|wall]
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time

import torch

from overparam import config, data
from overparam.engine.sweep import Member, TrainConfig, TrainData, train_ensemble, training_flops


CLOCK = time.perf_counter  # set by main(): time.process_time for --clock cpu


def matmul_rate(device: torch.device, size: int = 1024, seconds: float = 1.0) -> float:
    """This machine's fp32 GEMM rate in GFLOP/s (square matmuls of ``size``), on CLOCK."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    for _ in range(3):
        a @ b
    sync(device)
    n, t0 = 0, CLOCK()
    while CLOCK() - t0 < seconds:
        a @ b
        n += 1
    sync(device)
    return 2 * size ** 3 * n / (CLOCK() - t0) / 1e9


def textbook_loop(members, datas, cfg, device) -> None:
    """The reference: each member alone as an ``nn.Sequential`` with fused ``torch.optim.SGD``
    (momentum), shuffled mini-batches by index, an evaluation (train + test loss and error)
    before and after training, as the engine does."""
    import torch.nn.functional as F
    for m in members:
        d = datas[m.data]
        torch.manual_seed(m.seed)
        net = torch.nn.Sequential(torch.nn.Linear(d.X_train.shape[1], m.width), torch.nn.ReLU(),
                                  torch.nn.Linear(m.width, d.n_classes)).to(device)
        opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                              fused=device.type in ("cpu", "cuda"))
        n = len(d.y_train)
        g = torch.Generator().manual_seed(m.seed)

        @torch.no_grad()
        def evaluate():
            for X, y in ((d.X_train, d.y_train), (d.X_test, d.y_test)):
                out = net(X)
                F.cross_entropy(out, y).item(), (out.argmax(1) != y).float().mean().item()

        evaluate()
        for _ in range(cfg.epochs):
            perm = torch.randperm(n, generator=g).to(device)
            for s in range(0, n, cfg.batch_size):
                i = perm[s:s + cfg.batch_size]
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(net(d.X_train[i]), d.y_train[i]).backward()
                opt.step()
        evaluate()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=32, help="models per grid (seeds x noise draws)")
    ap.add_argument("--epochs", type=int, default=10,
                    help="long enough that the auto mode's fixed probe (~0.5 s) is amortised")
    ap.add_argument("--n-train", type=int, default=2000)
    ap.add_argument("--widths", type=str, default="8,64,256,512")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--clock", choices=("auto", "cpu", "wall"), default="auto",
                    help="cpu: process CPU time (default on a CPU with one thread); wall: elapsed")
    args = ap.parse_args()
    device = config.resolve_device(args.device)
    global CLOCK
    clock = args.clock
    if clock == "auto":
        clock = "cpu" if device.type == "cpu" and torch.get_num_threads() == 1 else "wall"
    CLOCK = time.process_time if clock == "cpu" else time.perf_counter
    print(f"torch {torch.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else
             f" ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
             f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})"))
    ds = data.load_mnist1d()
    X = torch.tensor(ds["x"][: args.n_train], device=device)
    y = torch.tensor(ds["y"][: args.n_train], device=device)
    Xt, yt = torch.tensor(ds["x_test"], device=device), torch.tensor(ds["y_test"], device=device)
    datas = [TrainData(X, data.add_label_noise(y, 0.1, 10, seed=s)[0], Xt, yt, 10, f"b{s}")
             for s in range(4)]
    cfg = TrainConfig(epochs=args.epochs, optimizer="sgd", lr=0.01, batch_size=100,
                      eval_every=args.epochs)
    # warm-up: first calls pay one-time costs (allocator, kernels) that are not the engine's
    for mode in ("loop", "batched"):
        train_ensemble([Member(8, seed=s) for s in range(2)], datas, dataclasses.replace(cfg, epochs=1),
                       device=device, mode=mode, log=None)
    peak = matmul_rate(device)
    print(f"matmul rate (fp32 {1024}^3 GEMM): {peak:.1f} GFLOP/s")
    print(f"grid: {args.members} members per width, n_train={args.n_train}, batch 100, "
          f"{args.epochs} epochs, SGD+momentum\n")
    print(f"clock: {clock} time\n")
    print(f"{'h':>5} {'torch s':>8} {'loop s':>8} {'batched s':>10} {'auto s':>8} {'batched x':>10} "
          f"{'auto x':>7} {'vs torch':>9} {'auto mode':>10} {'GFLOP/s':>8} {'% GEMM':>7}")
    for h in [int(w) for w in args.widths.split(",")]:
        members = [Member(h, seed=s, data=s % len(datas)) for s in range(args.members)]
        # training (3 x forward per example-epoch) plus the engine's two evaluations
        # (epoch 0 and the last; forward over train + test), which the loop does too
        flops = sum(training_flops(m, 40, 10, args.n_train * args.epochs)
                    + 2 * training_flops(m, 40, 10, args.n_train + len(Xt)) / 3 for m in members)
        times = {}
        modes = {}
        sync(device)
        t0 = CLOCK()
        textbook_loop(members, datas, cfg, device)
        sync(device)
        times["torch"] = CLOCK() - t0
        for mode in ("loop", "batched", "auto"):
            sync(device)
            t0 = CLOCK()
            r = train_ensemble(members, datas, cfg, device=device, mode=mode, log=None,
                               probe_min_steps=0)
            sync(device)
            times[mode] = CLOCK() - t0
            modes[mode] = sorted(set(r.modes))
        best = min(times["batched"], times["auto"])
        gflops = flops / best / 1e9
        print(f"{h:>5} {times['torch']:>8.2f} {times['loop']:>8.2f} {times['batched']:>10.2f} "
              f"{times['auto']:>8.2f} {times['loop'] / times['batched']:>9.1f}x "
              f"{times['loop'] / times['auto']:>6.1f}x {times['torch'] / times['auto']:>8.1f}x "
              f"{'+'.join(modes['auto']):>10} {gflops:>8.1f} {100 * gflops / peak:>6.0f}%")
    print("\nx = engine loop-mode time / time; vs torch = textbook per-model loop time / auto time;"
          " GFLOP/s = FLOPs (training 3 x forward + 2 evaluations) / best of batched, auto."
          f"\nauto includes its timed probe (the probe itself times wall-clock). Clock: {clock}"
          " time on this machine, with whatever else it is running.")


if __name__ == "__main__":
    main()
