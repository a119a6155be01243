"""Chapter 5's measurements: per-seed quantities read off the runs, and how well each arm
was trained (its :class:`~overparam.adequacy.TrainState`).

Two stated criteria of adequacy. A *size* has settled when, over the last quarter of the
steps, it moved by less than :data:`SETTLE_SHARE` of what Adam allows there (size_lr per
step): it is no longer held back by the step bound. A *training loss* has plateaued when
its epoch mean fell by less than :data:`LOSS_REL` over the last :data:`LOSS_WINDOW` epochs
(:func:`overparam.adequacy.plateaued`).

Introduced in: Chapter 5
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ...adequacy import TrainState, plateaued

NOISY_EPOCH = 30     # "We observe high amount of noise after 30 epochs" (journal, pre-task results)
SETTLE_SHARE = 0.25  # size settled: moved < 25 % of Adam's bound over the last quarter
LOSS_WINDOW = 3      # loss plateau: over the last 3 epochs ...
LOSS_REL = 0.05      # ... the epoch-mean batch loss fell by less than 5 %


# --------------------------------------------------------------------------- measurements


def slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per seed: least-squares slope of y (S, N) on x (N,)."""
    x = np.asarray(x, float)
    xc = x - x.mean()
    return (np.asarray(y, float) - np.mean(y, 1, keepdims=True)) @ xc / (xc @ xc)


def loo_best(static: np.ndarray) -> np.ndarray:
    """(S,) each seed's static accuracy at the width that is best on the mean of the OTHER
    seeds (a best point picked on other seeds than those that measure it)."""
    static = np.asarray(static, float)
    S = len(static)
    out = np.empty(S)
    for s in range(S):
        j = int(np.argmax(np.delete(static, s, 0).mean(0)))
        out[s] = static[s, j]
    return out


def doubling_ratio(trace: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per seed, from size traces (S, T + 1): the growth over the last half ``s(T) - s(T/2)``
    and its ratio to the growth over the quarter before, ``(s(T) - s(T/2)) / (s(T/2) - s(T/4))``:
    1 for logarithmic growth (equal growth per doubling of time), 2 for linear, < 1 settling."""
    T = trace.shape[1] - 1
    a, b, c = trace[:, T // 4], trace[:, T // 2], trace[:, T]
    d1, d2 = b - a, c - b
    with np.errstate(divide="ignore", invalid="ignore"):
        return d2, np.where(np.abs(d1) > 1e-9, d2 / d1, np.nan)


def reach_slope(starts, bound: float) -> float:
    """The smallest |slope| of log2 final size on log2 start size that Adam's bound allows:
    every size moves as far as ``bound`` units toward one common size c (the best c). Above
    the claim's band, the steps could not show "the same size whatever the start"."""
    return _reach(tuple(float(v) for v in starts), float(bound))


@lru_cache(maxsize=64)
def _reach(starts: tuple, bound: float) -> float:
    s = np.asarray(starts)
    lo, hi = np.maximum(s - bound, 1.0), s + bound
    c = np.geomspace(1.0, 4 * s.max(), 400)[:, None]
    return float(np.abs(slopes(np.log2(np.maximum(s, 1.0)), np.log2(np.clip(c, lo, hi)))).min())


def late_noise(loss: np.ndarray, epoch: int) -> np.ndarray | None:
    """Per seed, from batch losses (S, T): log2 of the spread of the batch loss within an
    epoch, mean over epochs NOISY_EPOCH.. end, over its mean over epochs 10-20. None when the
    run has fewer than 40 epochs."""
    E = loss.shape[-1] // epoch
    if E < 40:
        return None
    sd = loss[..., :E * epoch].reshape(*loss.shape[:-1], E, epoch).std(-1)
    return np.log2(sd[:, NOISY_EPOCH:].mean(1) / sd[:, 10:20].mean(1))


def late_run(x0: np.ndarray) -> np.ndarray:
    """Per seed, from x0 traces (S, T + 1): the mean change of x0 per step over the second
    half, (x0(T) - x0(T/2)) / (T/2) (divide by size_lr for the share of Adam's bound)."""
    T = x0.shape[1] - 1
    return (x0[:, T] - x0[:, T // 2]) / (T // 2)



# --------------------------------------------------------------------------- adequacy


def size_state(traces, size_lr: float, ceiling=None) -> TrainState:
    """How settled the sizes of an arm are: ``traces`` (..., T + 1) size over the steps, one
    member per leading index; met when the last quarter moved < SETTLE_SHARE x size_lr x T/4
    and the size did not end at its layer's width (``ceiling``: the size the width allows)."""
    x = np.asarray(traces, float).reshape(-1, np.shape(traces)[-1])
    T = x.shape[1] - 1
    W = max(1, T // 4)
    moved = np.abs(x[:, -1] - x[:, -1 - W]) / (size_lr * W)
    met = moved < SETTLE_SHARE
    if ceiling is not None:
        met &= x[:, -1] < np.broadcast_to(np.asarray(ceiling, float), np.shape(traces)[:-1]).ravel()
    nan = np.full(len(x), np.nan)
    return TrainState(np.full(len(x), T), nan, nan, met,
                      f"size settled: moved < {SETTLE_SHARE:.0%} of Adam's bound over the last {W} steps "
                      f"(largest: {moved.max():.0%}), below its layer's width")


def loss_state(batch_loss, epoch: int) -> TrainState:
    """How settled the training of an arm is: ``batch_loss`` (..., T) per member; met when
    the epoch-mean batch loss fell by < LOSS_REL over the last LOSS_WINDOW epochs."""
    x = np.asarray(batch_loss, float).reshape(-1, np.shape(batch_loss)[-1])
    E = x.shape[1] // epoch
    em = x[:, :E * epoch].reshape(len(x), E, epoch).mean(-1)
    return TrainState(np.full(len(x), x.shape[1]), em[:, -1], np.full(len(x), np.nan),
                      plateaued(em, LOSS_WINDOW, LOSS_REL),
                      f"train loss plateau: epoch-mean batch loss fell < {LOSS_REL:.0%} over the last "
                      f"{LOSS_WINDOW} epochs")


def steps_state(steps: int, members: int) -> TrainState:
    """An arm of ``members`` trained for ``steps`` steps (rules whose footing is the same
    number of steps: the claim compares arms at equal training, as the journal did)."""
    nan = np.full(members, np.nan)
    return TrainState(np.full(members, int(steps)), nan, nan, np.ones(members, bool), f"{steps} steps")
