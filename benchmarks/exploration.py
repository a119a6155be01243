"""Chapter 1 benchmark: the stacked 1101 sweep vs the source's one-model-at-a-time loop.

Runs the same work both ways in one process and prints the speed-up. The work is the
source's CNN sweep (eval_cnn.py): Naive and RandomConv with 1..7 filters and the
HyperNetwork, 500 trainings per point, 100 SGD steps each (lr 0.1, momentum 0.5), then
accuracy on 1,000 validation pairs. The loop is timed on ``--loop-runs`` trainings per
point and extrapolated to 500 (its cost per training is constant).

    python benchmarks/exploration.py [--device cpu] [--loop-runs 10] [--runs 500]
"""
from __future__ import annotations

import argparse
import platform
import time

import torch
import torch.nn.functional as F

from overparam import config
from overparam.data import make_pattern_1101
from overparam.chapters.exploration import sweep_cnn, validation_1101
from overparam.models import HyperCNN, NaiveCNN


def loop_one(kind: str, n_filters: int, Xv, yv, device) -> float:
    """One training the source's way (an nn.Module, torch.optim); returns accuracy."""
    net = (HyperCNN() if kind == "hyper" else NaiveCNN(n_filters, kind == "random_conv")).to(device)
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1, momentum=0.5)
    y = torch.tensor([0.0, 1.0], device=device)
    for _ in range(100):
        X, _ = make_pattern_1101(1, device=device)
        out = net(X, torch.randn(2, device=device)) if kind == "hyper" else net(X)
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(out, y).backward()
        opt.step()
    with torch.no_grad():
        out = net(Xv, torch.zeros(2, device=device)) if kind == "hyper" else net(Xv)
        return float(((out > 0).float() == yv).float().mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=config.DEVICES)
    ap.add_argument("--loop-runs", type=int, default=10)
    ap.add_argument("--runs", type=int, default=500)
    args = ap.parse_args()
    dev = config.resolve_device(args.device)
    print(f"torch {torch.__version__}, device {dev}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads")
    Xv, yv = validation_1101(1000, 0, dev)
    points = [("naive", f) for f in range(1, 8)] + [("random_conv", f) for f in range(1, 8)] + [("hyper", 1)]
    t0 = time.perf_counter()
    for kind, f in points:
        for _ in range(args.loop_runs):
            loop_one(kind, f, Xv, yv, dev)
    loop_per_training = (time.perf_counter() - t0) / (len(points) * args.loop_runs)
    loop_total = loop_per_training * len(points) * args.runs
    t0 = time.perf_counter()
    sweep_cnn("naive", range(1, 8), args.runs, device=dev)
    sweep_cnn("random_conv", range(1, 8), args.runs, device=dev)
    sweep_cnn("hyper", [1], args.runs, device=dev)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    batched = time.perf_counter() - t0
    n = len(points) * args.runs
    print(f"per-model loop: {1000 * loop_per_training:.1f} ms per training "
          f"-> {loop_total:.0f} s for {n} trainings (extrapolated from {args.loop_runs} per point)")
    print(f"stacked sweep : {batched:.1f} s for the same {n} trainings")
    print(f"speed-up      : {loop_total / batched:.1f}x (goal >= 20x)")


if __name__ == "__main__":
    main()
