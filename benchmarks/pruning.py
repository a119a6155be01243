"""Benchmark of the masked training of Chapter 7; prints ratios, not a timed test.

Time per training step of M stacked networks with masks (half the weights pruned,
gradients masked every step) over the same training without masks (goal <= 1.03x).
Both runs go through ``overparam.pruning.train_stack`` (on ``engine.loop.fit``) with the same data, network and
batch order; they are interleaved ``--repeats`` times and the fastest of each is kept,
so a burst of load on a shared machine does not decide.

Run:  .venv/bin/python benchmarks/pruning.py  [--device cpu] [--members 12] [--repeats 5]
"""
from __future__ import annotations

import argparse
import platform
import time

import torch

from overparam import models
from overparam import pruning as P
from overparam.chapters import lottery_tickets as tickets
from overparam.config import resolve_device


CLOCK = time.perf_counter  # main(): time.process_time on a CPU with one thread


def _time(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = CLOCK()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return CLOCK() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--members", type=int, default=12, help="stacked networks (e.g. 3 seeds x 4 tickets)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--clock", choices=("auto", "cpu", "wall"), default="auto",
                    help="cpu: process CPU time (default on a CPU with one thread: on a shared "
                         "machine it stays close to the time alone); wall: elapsed")
    args = ap.parse_args()
    device = resolve_device(args.device)
    global CLOCK
    clock = args.clock
    if clock == "auto":
        clock = "cpu" if device.type == "cpu" and torch.get_num_threads() == 1 else "wall"
    CLOCK = time.process_time if clock == "cpu" else time.perf_counter
    cfg = tickets.PROFILES["quick"]
    data = tickets.load_data(tickets.TicketsConfig(dataset=args.dataset), device)
    net = cfg.net(data.d, data.n_classes)
    params = models.init_stack(net, list(range(args.members))).params
    g = torch.Generator().manual_seed(0)
    masks = [(torch.rand(w.shape, generator=g) < 0.5).float() for w in P.weights(params)]
    # one evaluation at the end only, identical in both runs
    step_cfg = P.StepConfig(args.steps, cfg.lr, cfg.optimizer, 0.9, cfg.batch_size, args.steps)

    def dense():
        P.train_stack(net, params, None, data, step_cfg)

    def masked():
        P.train_stack(net, params, masks, data, step_cfg)

    dense(), masked()  # warm-up
    td, tm = [], []
    for _ in range(args.repeats):
        td.append(_time(dense, device))
        tm.append(_time(masked, device))
    d, m = min(td) / args.steps, min(tm) / args.steps
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"torch {torch.__version__}, device {device} ({name}), threads {torch.get_num_threads()}")
    print(f"{args.members} stacked {net.arch} {net.widths} on {args.dataset}, batch {cfg.batch_size}, "
          f"{args.steps} steps x {args.repeats} repeats (fastest kept), {clock} time")
    print(f"dense  : {1e3 * d:.3f} ms/step")
    print(f"masked : {1e3 * m:.3f} ms/step (50 % of the weights pruned)")
    print(f"mask overhead: {m / d:.3f}x  (goal <= 1.03x)")


if __name__ == "__main__":
    main()
