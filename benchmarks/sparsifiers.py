"""What removing units during training buys, in one run on one machine (chapter 6).

1. Speed: one gated 40-w-10 MLP on easy MNIST-1D that compresses (L1 gates, units removed
   during training) against a static net of the same start size, both trained for the
   same epochs in this process, interleaved per repeat. Prints the per-epoch time ratio
   compressing / static, epoch by epoch, and the same gated net with removal switched off
   (dead units kept in place: the cost of the gates without the speed-up).
2. Memory: the bytes a 2-d CNN keeps for backward (plain, naive gate, hand-written gate),
   as ratios to the plain CNN, on 28x28x1 and 32x32x3 images.

Goals: later epochs of the compressing net cheaper than the static net's;
hand-written gate <= 1.1 x plain, naive ~ 2 x.

    python benchmarks/sparsifiers.py [--width 1000] [--epochs 8] [--lam 3e-3] [--device auto]
"""
from __future__ import annotations

import argparse
import platform

import numpy as np
import torch

from overparam import config, gates
from overparam.chapters.sparsifiers import PROFILES, load_set, memory_compare
from overparam.models import Arch


def epoch_times(width: int, epochs: int, lam: float, device, gated: bool, remove: bool = True) -> np.ndarray:
    ds, task, C = load_set("easy", 0, device)
    arch = Arch("mlp", (width,), ds["x"].shape[1], C)
    spec = gates.GateSpec(lam=lam if gated else 0.0, seed=0, gate_scale=10.0, widths=(width,))
    run = gates.train_gated(arch, [spec], ds, epochs=epochs, batch_size=100, lr=3e-3, task=task,
                            gated=gated, remove=remove, device=device, check_every=10, label="bench")
    return run.epoch_time, run.size[:, 0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--lam", type=float, default=3e-3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    dev = config.resolve_device(args.device)
    torch.set_num_threads(1)
    print(f"{platform.processor() or platform.machine()} | torch {torch.__version__} | device {dev} | 1 thread")
    static, comp, kept, size = [], [], [], None
    for _ in range(args.repeats):  # interleaved, so that a change in machine load hits all three
        static.append(epoch_times(args.width, args.epochs, args.lam, dev, gated=False)[0])
        t, size = epoch_times(args.width, args.epochs, args.lam, dev, gated=True)
        comp.append(t)
        kept.append(epoch_times(args.width, args.epochs, args.lam, dev, gated=True, remove=False)[0])
    s, c, k = (np.median(np.array(x), 0) for x in (static, comp, kept))
    print(f"\nper-epoch time, start width {args.width}, lambda {args.lam:g} (median of {args.repeats})")
    print("epoch | live units | compress / static | gates kept in place / static")
    for e in range(args.epochs):
        print(f"{e + 1:5d} | {int(size[e + 1]):10d} | {c[e] / s[e]:17.2f} | {k[e] / s[e]:.2f}")
    print(f"whole run: compress / static = {c.sum() / s.sum():.2f}; last epoch {c[-1] / s[-1]:.2f}")

    cfg = PROFILES["full"] if dev.type == "cuda" else PROFILES["quick"]
    m = memory_compare(cfg, 0, dev)
    print(f"\nmemory for backward (2-d CNN, {m.channels} channels x {m.depth} blocks, batch {m.batch}, saved tensors):")
    for shape in m.per_example:
        print(f"{shape}: naive gate / plain = {m.ratio(shape, 'naive'):.2f}; hand-written / plain = "
              f"{m.ratio(shape, 'hand'):.2f}; activations' share = {m.share(shape):.2f}")

if __name__ == "__main__":
    main()
