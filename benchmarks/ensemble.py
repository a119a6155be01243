"""Speed of the stacked-ensemble engine against a plain per-member PyTorch loop, per cell.

For MLPs 40-h-...-h-10 (MNIST-1D inputs) it sweeps widths h x depths x batch sizes and, in
each cell, trains the same members for the same steps four ways, in one process, on the
same threads:

- ``torch``: the reference, a plain per-member PyTorch loop: each member alone as an
  ``nn.Sequential`` with fused ``torch.optim.SGD`` (momentum; ``--optimizer adam``: fused
  ``torch.optim.Adam``, the optimizer of chapters 4 and 5's stacks), its own shuffled
  mini-batches, and the same two evaluations as the engine (train + test loss and error,
  before and after training);
- ``loop``: the engine's loop mode (``train_ensemble(mode="loop")``: stacks of one);
- ``batched``: the engine forced to batch (``mode="batched"``);
- ``auto``: what the engine chooses (``mode="auto"``), its decision included in the time.

It prints the speed-ups over ``torch`` (time of torch / time), the mode ``auto`` chose,
and the batched run's achieved GFLOP/s as a share of this machine's fp32 SGEMM rate
(square 1024 GEMMs), measured in the same run on the same clock.

Goals: ``auto`` >= 1.0x in every cell; batched >= 10x at h = 8 and >= 4x at h = 64;
batched >= 40 % of SGEMM at h >= 256.

Each cell runs a short training (the number of steps is set from the cell's cost so that
one ``torch`` run takes about ``--budget`` seconds; whole epochs of the first n_train
examples), each way ``--repeats`` times, interleaved. A cell's speed-up of a way is the
median over repetitions of the ratio within a repetition (the ways of one repetition run
back to back): a burst of load moves one repetition, not the verdict, and a slow drift of
the machine (measured: the same run of a width-2048 cell taking 1.95 s early in a process
and 2.2 s half a minute later) cancels in each ratio instead of landing on whichever way
ran late. The orders are the rows of a Williams square (:data:`ORDERS`): over four repetitions each
way runs once in each position and follows each other way once (a rotation would put
``auto`` after ``batched`` every time, whose large stacks leave the caches and the heap in
another state: a bias of several per cent measured in the widest cells). Before the timed
runs, one untimed batched run grows the heap to the cell's largest footprint, so no timed
way pays that growth's first-touch page faults. ``auto`` runs with the engine's defaults: a run this short
(fewer steps than ``probe_min_steps``) is decided by the engine's cost model, without a
timed probe; its whole time (stack build, initialisation, evaluations) counts, as does
the reference's. Clock: ``--clock cpu`` (the default with one CPU thread) is the
process's CPU time, which on a machine shared with other jobs stays close to the time
alone; ``wall`` is elapsed time (the default on a GPU or with several threads).

Memory: the engine switches glibc's malloc to keep freed memory
(:func:`overparam.config.keep_freed_memory`, process-wide) at its first training, which is
the warm-up here, so every way, the reference included, runs under that policy: the ratios
compare compute, not page faults (before that policy the batched runs of widths 512-2048
spent 10-15 % of their CPU time faulting in fresh pages, the reference less).

    python benchmarks/ensemble.py [--optimizer sgd|adam] [--widths 8,64,256,512,1024,2048] [--depths 1,2,3]
                                  [--batches 32,100,500] [--members 16] [--budget 0.4]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from overparam import config, data
from overparam.engine.sweep import Member, TrainConfig, TrainData, train_ensemble, training_flops

CLOCK = time.perf_counter  # set by main(): time.process_time for --clock cpu
WAYS = ["torch", "loop", "batched", "auto"]
#: A Williams square for four ways: in four rows each way is once in each position and
#: directly follows each other way once (balanced for first-order carry-over).
ORDERS = [[0, 1, 3, 2], [1, 2, 0, 3], [2, 3, 1, 0], [3, 0, 2, 1]]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device) -> float:
    sync(device)
    t0 = CLOCK()
    fn()
    sync(device)
    return CLOCK() - t0


def sgemm_rate(device: torch.device, size: int = 1024, seconds: float = 1.0) -> float:
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


def torch_loop(members, datas, cfg, device) -> None:
    """The reference: each member alone as an ``nn.Sequential`` with fused ``torch.optim.SGD``
    (momentum), shuffled mini-batches by index, an evaluation (train + test loss and error)
    before and after training, as the engine does."""
    for m in members:
        d = datas[m.data]
        torch.manual_seed(m.seed)
        layers, width_in = [], d.X_train.shape[1]
        for _ in range(m.depth):
            layers += [torch.nn.Linear(width_in, m.width), torch.nn.ReLU()]
            width_in = m.width
        net = torch.nn.Sequential(*layers, torch.nn.Linear(width_in, d.n_classes)).to(device)
        fused = device.type in ("cpu", "cuda")
        opt = (torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, fused=fused)
               if cfg.optimizer == "sgd" else torch.optim.Adam(net.parameters(), lr=cfg.lr, fused=fused))
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


def cell_steps(member: Member, n_members: int, batch: int, budget: float, gflops: float) -> int:
    """Steps for a cell so that the reference loop takes about ``budget`` seconds: a member
    step costs its FLOPs at a fifth of the SGEMM rate plus ~0.15 ms of fixed cost."""
    per_step = training_flops(member, 40, 10, batch) / (0.2 * gflops * 1e9) + 1.5e-4
    return int(min(60, max(2, round(budget / (n_members * per_step)))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", type=str, default="8,64,256,512,1024,2048")
    ap.add_argument("--depths", type=str, default="1,2,3")
    ap.add_argument("--batches", type=str, default="32,100,500")
    ap.add_argument("--members", type=int, default=32,
                    help="members per cell below width 1024 (a quarter at 1024, an eighth above: time, memory)")
    ap.add_argument("--budget", type=float, default=0.2, help="seconds of the reference loop per cell")
    ap.add_argument("--n-train", type=int, default=1500, help="most training examples per cell")
    ap.add_argument("--n-test", type=int, default=250)
    ap.add_argument("--repeats", type=int, default=8,
                    help="timings per cell and way (the median ratio is kept); 8 = two Williams squares")
    ap.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd",
                    help="sgd: momentum 0.9, lr 0.01; adam: lr 3e-3 (the shape of chapters 4 and 5's stacks)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--clock", choices=("auto", "cpu", "wall"), default="auto")
    args = ap.parse_args()
    device = config.resolve_device(args.device)
    lr = 0.01 if args.optimizer == "sgd" else 3e-3
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
    X_all = torch.tensor(ds["x"], device=device)
    y_all = torch.tensor(ds["y"], device=device)
    Xt = torch.tensor(ds["x_test"][: args.n_test], device=device)
    yt = torch.tensor(ds["y_test"][: args.n_test], device=device)
    # warm-up: first calls pay one-time costs (allocator, kernels, imports) that are no one's
    warm = TrainData(X_all[:200], y_all[:200], Xt, yt, 10, "warm")
    for mode in ("loop", "batched", "auto"):
        train_ensemble([Member(8, seed=s) for s in range(2)], warm, TrainConfig(epochs=1, batch_size=50),
                       device=device, mode=mode, log=None, probe_min_steps=0)
    torch_loop([Member(8)], [warm], TrainConfig(epochs=1, batch_size=50), device)
    peak = sgemm_rate(device)
    print(f"SGEMM rate (fp32 1024^3, {clock} clock): {peak:.1f} GFLOP/s")
    print(f"clock: {clock} time; each cell: `steps` steps (whole epochs), {args.optimizer} lr {lr}, "
          f"test set {args.n_test}; M members per cell; stacks = the batched run's stacks\n")
    head = (f"{'width':>5} {'depth':>5} {'batch':>5} {'M':>3} {'steps':>5} {'torch s':>8} "
            f"{'loop x':>7} {'batched x':>9} {'stacks':>6} {'auto x':>7} {'auto mode':>9} {'% SGEMM':>8}")
    print(head)
    worst = {"auto": float("inf")}
    below = []
    t_start = time.perf_counter()
    for h in [int(w) for w in args.widths.split(",")]:
        for depth in [int(v) for v in args.depths.split(",")]:
            for B in [int(v) for v in args.batches.split(",")]:
                M = args.members if h < 1024 else max(4, args.members // (4 if h == 1024 else 8))
                want = cell_steps(Member(h, depth), M, B, args.budget, peak)
                n = max(B, min(want * B, args.n_train))  # one epoch if the data suffice, else more
                spe = -(-n // B)
                epochs = -(-want // spe)
                steps = epochs * spe
                X, y = X_all[:n], y_all[:n]
                datas = [TrainData(X, data.add_label_noise(y, 0.1, 10, seed=s)[0], Xt, yt, 10, f"b{s}")
                         for s in range(4)]
                members = [Member(h, depth, seed=s, data=s % len(datas)) for s in range(M)]
                cfg = TrainConfig(epochs=epochs, optimizer=args.optimizer, lr=lr, batch_size=B, eval_every=epochs)
                times, chosen, stacks = {k: [] for k in WAYS}, "", 0
                train_ensemble(members, datas, cfg, device=device, mode="batched", log=None)  # untimed: heap grown
                for rep in range(args.repeats):  # interleaved, Williams-square orders; median ratios kept
                    for way in (WAYS[k] for k in ORDERS[rep % len(ORDERS)]):
                        if way == "torch":
                            times[way].append(timed(lambda: torch_loop(members, datas, cfg, device), device))
                            continue
                        out = {}
                        times[way].append(timed(lambda: out.setdefault("r", train_ensemble(
                            members, datas, cfg, device=device, mode=way, log=None)), device))
                        if way == "auto":
                            chosen = "+".join(sorted(set(out["r"].modes)))
                        if way == "batched":
                            stacks = (sum(1 for line in out["r"].log if "batched (forced)" in line)
                                      + out["r"].modes.count("loop"))   # a bucket of one trains alone
                # paired: the ratio within each repetition (the four ways ran back to back), then
                # the median over repetitions, so a slow drift of the machine cancels
                x = {k: statistics.median(t / v for t, v in zip(times["torch"], times[k]))
                     for k in ("loop", "batched", "auto")}
                times = {k: statistics.median(v) for k, v in times.items()}
                flops = sum(training_flops(m, 40, 10, n * epochs) + 2 * training_flops(m, 40, 10, n + len(Xt)) / 3
                            for m in members)
                eff = 100 * flops / times["batched"] / 1e9 / peak
                worst["auto"] = min(worst["auto"], x["auto"])
                if x["auto"] < 1.0 or (h == 8 and x["batched"] < 10) or (h == 64 and x["batched"] < 4) \
                        or (h >= 256 and eff < 40):
                    below.append(f"{h}/{depth}/{B}")
                print(f"{h:>5} {depth:>5} {B:>5} {M:>3} {steps:>5} {times['torch']:>8.2f} "
                      f"{x['loop']:>6.2f}x {x['batched']:>8.2f}x {stacks:>6} {x['auto']:>6.2f}x {chosen:>9} "
                      f"{eff:>7.0f}%", flush=True)
    print(f"\nx = median over repetitions of torch loop time / time (same members, steps, threads, process); % SGEMM = FLOPs "
          f"(training 3 x forward + 2 evaluations) / batched time / SGEMM rate.\nworst auto: "
          f"{worst['auto']:.2f}x; sweep took {time.perf_counter() - t_start:.0f} s wall."
          f"\ncells below a goal (width/depth/batch): {', '.join(below) or 'none'}")


if __name__ == "__main__":
    main()
