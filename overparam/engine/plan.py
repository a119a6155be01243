"""How the engine groups members and picks batched or loop: cost model, buckets, probe.

- :func:`flops_per_example` / :func:`training_flops` – the cost model (forward FLOPs).
- :func:`make_buckets` – members grouped into stacks of least modelled cost;
  :func:`buckets_for` – those cut to stacks whose step fits the cache (:func:`step_bytes`).
- :func:`stack_bytes` – a bucket's estimated peak memory (the memory fallback).
- :func:`probe` / :func:`probe_threads` – a short timed run of the stack against the
  per-model loop (both through :func:`~overparam.engine.loop.fit`), and
  :func:`choose_mode`.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from .. import config
from .stackrun import StackRun


def flops_per_example(member, d: int, n_classes: int) -> float:
    """Forward multiply-adds x 2 per example of a member (the cost model)."""
    return member.spec(d, n_classes).flops_per_example()


def training_flops(member, d: int, n_classes: int, n_examples: int) -> float:
    """FLOPs of one pass of training (forward + backward ~ 3x forward) over n_examples.

    Introduced in: Chapter 3
    """
    return 3.0 * flops_per_example(member, d, n_classes) * n_examples


def make_buckets(members: Sequence, datas: Sequence, overhead: float, max_members: int) -> list[list[int]]:
    """Group member indices into stacks (same arch, depth, n_train) of least modelled cost.

    A stack costs per step ``overhead + (members) x (cost of its widest member)``, with
    cost = forward FLOPs per example and ``overhead`` the fixed per-step cost of one stack
    (kernel launches, optimizer, gathers) in the same units. Within a group, members are
    sorted by cost and cut into contiguous buckets by dynamic programming over the
    distinct cost levels, so narrow members share a stack while wide ones are not padded
    to a much wider neighbour. Buckets hold at most ``max_members`` members.
    """
    groups: dict[tuple, list[int]] = {}
    for i, m in enumerate(members):
        groups.setdefault((m.arch, m.depth, datas[m.data].n_train), []).append(i)
    buckets = []
    for key in sorted(groups):
        d0 = datas[members[groups[key][0]].data]
        cost = {i: flops_per_example(members[i], d0.d, d0.n_classes) for i in groups[key]}
        levels = sorted(set(cost.values()))
        count = [sum(1 for i in groups[key] if cost[i] == c) for c in levels]
        # best[b] = least cost of levels[:b]; cut[b] = start of the last bucket
        best, cut = [0.0] + [math.inf] * len(levels), [0] * (len(levels) + 1)
        for b in range(1, len(levels) + 1):
            total = 0
            for a in range(b - 1, -1, -1):
                total += count[a]
                c = best[a] + math.ceil(total / max_members) * overhead + total * levels[b - 1]
                if c < best[b]:
                    best[b], cut[b] = c, a
        spans, b = [], len(levels)
        while b > 0:
            spans.append((cut[b], b))
            b = cut[b]
        for a, b in reversed(spans):
            inside = {levels[j] for j in range(a, b)}
            idx = sorted((i for i in groups[key] if cost[i] in inside), key=lambda i: (cost[i], i))
            buckets += [idx[s:s + max_members] for s in range(0, len(idx), max_members)]
    return buckets


#: Activation bytes of one training step that a batched stack may touch on the CPU: a stack
#: whose step works on more than this runs from memory instead of cache, and a wide stack of
#: 32 members measured up to 1.5x slower per member than stacks of 8-16 (width 256, batch 100).
CACHE_BYTES_CPU = 4e6
#: ... but a stack is not cut below this many members: stacks of 2-4 wide members (width
#: 1024-2048, over the cache already) measured 10-20 % faster per member than stacks of one.
MIN_STACK = 4


def step_bytes(member, d: int, n_classes: int, batch: int) -> float:
    """Activation bytes one training step of ``member`` touches: three fp32 tensors
    (pre-activation, output, gradient) per hidden unit (per position for a CNN) per example."""
    arch = member.spec(d, n_classes)
    units = (sum(arch.widths) if arch.arch == "mlp"
             else sum(w * L for w, L in zip(arch.widths, arch.lengths()[1:])))
    return 12.0 * batch * units


#: The keyword arguments of :func:`buckets_for` that the engine's callers pass through.
BUCKETING = ("mode", "bucket_overhead", "max_members", "cache_bytes")


def buckets_for(members: Sequence, datas: Sequence, cfg, device, *, mode: str = "auto",
                bucket_overhead: float | None = None, max_members: int = 512,
                cache_bytes: float | None = None) -> list[list[int]]:
    """The engine's buckets (stacks) of a grid: :func:`make_buckets` by cost, each then cut
    into even stacks whose step fits ``cache_bytes`` (:func:`step_bytes`; None:
    :data:`CACHE_BYTES_CPU` on the CPU, no limit on CUDA), of :data:`MIN_STACK` members at
    least. ``mode="loop"``: one per member.

    ``bucket_overhead`` None: 3e4 FLOPs per example on the CPU (about one member of width
    300), 1e6 on CUDA, where launches dominate.
    """
    if mode == "loop":
        return [[i] for i in range(len(members))]
    cuda = torch.device(device).type == "cuda"
    overhead = bucket_overhead or (1e6 if cuda else 3e4)
    cap = (math.inf if cuda else CACHE_BYTES_CPU) if cache_bytes is None else cache_bytes
    out = []
    for b in make_buckets(members, datas, overhead, max_members):
        d0 = datas[members[b[0]].data]
        B = cfg.batch_size if 0 < cfg.batch_size < d0.n_train else d0.n_train
        per = max(step_bytes(members[i], d0.d, d0.n_classes, B) for i in b)
        parts = max(1, math.ceil(len(b) * per / cap)) if math.isfinite(cap) else 1
        size = max(math.ceil(len(b) / min(parts, len(b))), min(MIN_STACK, len(b)))
        out += [b[s:s + size] for s in range(0, len(b), size)]
    return out


def stack_bytes(members, datas, cfg) -> float:
    """Rough peak memory of a batched bucket: parameters x 4 (grad, 2 Adam moments)
    plus activations of one batch and of one evaluation chunk."""
    d0 = datas[members[0].data]
    widest = max(members, key=lambda m: m.width)
    n_par = widest.spec(d0.d, d0.n_classes).n_params
    B = cfg.batch_size if cfg.batch_size else d0.n_train
    act = max(B, min(2048, max(d0.n_train, len(d0.X_test)))) * widest.width * widest.depth * 3
    if widest.arch == "cnn":
        act *= d0.d
    return 4.0 * len(members) * (4 * n_par + act)


#: The CPU cost model for runs too short to probe: a stack pays when its members are small
#: enough that the per-step fixed cost of the loop (Python, dispatch, one optimizer call per
#: member: ~0.15 ms) and the cost of narrow kernels are a real share of a member's step.
#: Measured with ``benchmarks/ensemble.py`` (one thread, 4-32 members, glibc keeping freed
#: memory: :func:`overparam.config.keep_freed_memory`): batched beat or equalled the loop up
#: to width 512 x 3 layers (5.5e5 parameters) at every batch size (32-500), and at width 1024
#: and 2048 with one hidden layer (5e4 and 1e5); from width 1024 x 2 layers (1.1e6) the two
#: were even within 5 % or the loop won. (Before glibc kept freed memory, a wide stack's
#: tensors of over 32 MB were fresh pages every step, and the loop won from 4e5 parameters
#: or 1e8 FLOPs a step; the FLOPs limit no longer separates the two.)
BATCH_PARAMS_CPU = 6e5


def batching_pays(members, datas, cfg, device) -> bool:
    """The cost model (no timing): on CUDA always; on the CPU when the bucket's widest member
    has at most :data:`BATCH_PARAMS_CPU` parameters. Used for runs too short for a timed
    :func:`probe` to pay back.

    Introduced in: the engine
    """
    if torch.device(device).type == "cuda":
        return True
    d0 = datas[members[0].data]
    return max(m.spec(d0.d, d0.n_classes).n_params for m in members) <= BATCH_PARAMS_CPU


def choose_mode(t_batched: float, t_loop: float) -> str:
    """``"batched"`` when the probe's batched step is faster than the loop, else ``"loop"``.

    Introduced in: Chapter 3
    """
    return "batched" if t_batched < t_loop else "loop"


def probe(members, datas, cfg, device, steps: int = 3, loop_sample: int = 3,
          repeats: int = 3) -> tuple[float, float]:
    """Seconds per optimizer step: the batched stack of all members vs the per-model loop.

    Both are timed through :func:`fit` on one fixed batch, with throw-away parameters
    (no member's seed or state is touched). The loop time is measured on up to
    ``loop_sample`` members spread over the bucket (each a stack of one) and scaled to
    all of them. Batched and loop timings are interleaved up to ``repeats`` times (fewer
    when one is more than twice as fast) and the fastest of each is kept, so a burst of
    load on a shared machine does not decide.
    """
    n = datas[members[0].data].n_train
    B = cfg.batch_size if 0 < cfg.batch_size < n else n
    run = StackRun(members, datas, cfg, device, init=False)
    idx = torch.randint(0, run.n, (run.M, B), device=device)
    picks = sorted({round(k * (len(members) - 1) / max(1, loop_sample - 1)) for k in range(loop_sample)})
    loops = [StackRun([members[k]], datas, cfg, device, init=False) for k in picks]

    def time_loop() -> float:
        return sum(r.time_steps(steps, idx[:1]) for r in loops) * len(members) / len(picks)

    run.time_steps(1, idx)  # warm-up
    time_loop()
    tb, tl = [], []
    for _ in range(repeats):
        tb.append(run.time_steps(steps, idx))
        tl.append(time_loop())
        if max(min(tb), min(tl)) > 2 * min(min(tb), min(tl)):
            break  # a clear winner: more repeats would only cost time
    return min(tb), min(tl)


def probe_threads(members, datas, cfg, device) -> tuple[float, float, int]:
    """:func:`probe` at the current CPU thread count and, if that is > 1, at one thread.

    Small kernels gain little from threads, and on a machine shared with other jobs an
    OpenMP team waiting on a descheduled thread can make a step 10-30x slower (measured
    here: 46 ms vs 1.6 ms). Returns (batched s, loop s, threads); more threads are kept
    only when their faster mode beats one thread's by 30 %.
    """
    n = torch.get_num_threads()
    tb, tl = probe(members, datas, cfg, device)
    if torch.device(device).type != "cpu" or n == 1:
        return tb, tl, n
    with config.threads(1):
        tb1, tl1 = probe(members, datas, cfg, device)
    # more threads only when clearly faster: the probe is a snapshot of a machine whose
    # load changes, and a team of threads degrades far worse under load than one thread
    return (tb, tl, n) if min(tb, tl) < 0.7 * min(tb1, tl1) else (tb1, tl1, 1)
