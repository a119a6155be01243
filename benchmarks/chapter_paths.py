"""Chapters 1 and 4: the faster paths against the ones they replaced, in one process.

- Chapter 1, validation accuracy of a stacked 1101 sweep (RandomConv sizes 1..7, 10, 15, 20,
  as the chapter trains them): each chunk's kernels trimmed to its live filters and the max
  over a contiguous axis (:func:`accuracy_1101`) vs every padded filter, max over the middle
  axis (the replaced path, rebuilt here). Same accuracies, printed.
- Chapter 4, training one task's width x seed grid at ``quick`` with the chapter's
  ``BUCKET_OVERHEAD`` vs the engine's default (narrow widths in stacks of their own).

CPU clock (time.process_time), one thread. Prints each pair's times and their ratio.

    python benchmarks/chapter_paths.py [--task hard] [--members 420]
"""
from __future__ import annotations

import argparse
import time

import torch

from overparam.chapters.exploration import accuracy_1101, validation_1101
from overparam.chapters.variance_metrics import PROFILES
from overparam.chapters.variance_metrics import experiments as X
from overparam.engine.sweep import Member, train_ensemble
from overparam.models import StackedCNN


@torch.no_grad()
def padded_accuracy(model, Xv, yv, chunk=64, batch=250):
    """The replaced path: every member at the stack's widest, max over the positions axis."""
    windows = Xv.unfold(-1, 4, 1)
    B, P = windows.shape[:2]
    out = []
    for s in range(0, model.n_models, chunk):
        k, w, b = (model.params[n][s:s + chunk] for n in ("kernels", "w", "b"))
        M, F = k.shape[:2]
        hits = 0
        for i in range(0, B, batch):
            win = windows[i:i + batch]
            h = (win.reshape(-1, 4) @ k.reshape(M * F, 4).T).reshape(len(win), P, M, F).amax(1).transpose(0, 1)
            logits = torch.einsum("mbf,mf->mb", h, w) + b[:, None]
            hits = hits + ((logits > 0).float() == yv[i:i + batch]).float().sum(-1)
        out.append(hits / B)
    return torch.cat(out)


def clock(fn):
    t = time.process_time()
    out = fn()
    return time.process_time() - t, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="hard")
    ap.add_argument("--members", type=int, default=420)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    sizes = [1, 2, 3, 4, 5, 6, 7, 10, 15, 20]
    model = StackedCNN([sizes[i * len(sizes) // a.members] for i in range(a.members)], random_conv=True,
                       generator=torch.Generator().manual_seed(0))
    model.params["w"] = torch.randn(model.params["w"].shape, generator=torch.Generator().manual_seed(1)) * (
        model.params["kernels"].abs().sum(-1) > 0)
    Xv, yv = validation_1101(1000, 0)
    t_old, acc_old = clock(lambda: padded_accuracy(model, Xv, yv))
    t_new, acc_new = clock(lambda: accuracy_1101(model, Xv, yv))
    print(f"ch01 validation accuracy, {a.members} RandomConv members: padded {t_old:.2f} s, trimmed "
          f"{t_new:.2f} s, ratio {t_old / t_new:.2f}x; same accuracies: {torch.equal(acc_old, acc_new)}")
    cfg = PROFILES["quick"]
    data = X.load_task(a.task, cfg)
    members = [Member(int(w), seed=X.member_seed(0, s)) for s in range(cfg.n_seeds) for w in cfg.widths]
    times = {}
    for name, bo in (("engine default", None), (f"chapter {X.BUCKET_OVERHEAD:g}", X.BUCKET_OVERHEAD)):
        times[name], _ = clock(lambda: train_ensemble(members, data, cfg.train_config(), keep_params=True,
                                                      mode="batched", bucket_overhead=bo, log=None))
    (n0, t0), (n1, t1) = times.items()
    print(f"ch04 {a.task} grid at quick: {n0} {t0:.2f} s, {n1} {t1:.2f} s, ratio {t0 / t1:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
