"""Was an arm trained well enough to be compared? The training state of trained members.

A verdict is only as good as the training under it. The engine records, for every trained
member, a :class:`TrainState`: steps taken, final training loss and error, and whether it
met the stopping criterion the chapter states (a plateau of the training loss over a
window, or a target training error). A rule that compares arms states its *footing*
(:data:`FOOTINGS`) and checks it with :func:`check_footing`; when the check fails the
verdict is "inconclusive: under-trained", naming the arm and how far it is from the
criterion, never "not reproduced".
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

SAME_STEPS = "same steps"              # arms trained for the same number of steps
SAME_TRAIN_ERROR = "same train error"  # arms reached the same training error (within a tolerance)
CONVERGED = "converged"                # every arm met its stopping criterion
FOOTINGS = (SAME_STEPS, SAME_TRAIN_ERROR, CONVERGED)


@dataclass(frozen=True)
class TrainState:
    """How far an arm's members were trained (one entry per member, e.g. per seed).

    ``criterion`` says in words what ``met`` means for this arm (e.g. "train loss plateau:
    < 1 % drop over the last 200 steps", "train error <= 0.01").
    """

    steps: np.ndarray          # (M,) steps taken
    train_loss: np.ndarray     # (M,) final training loss
    train_error: np.ndarray    # (M,) final training error (NaN for regression)
    met: np.ndarray            # (M,) bool: the stated stopping criterion held at the end
    criterion: str = ""

    def __post_init__(self):
        for name in ("steps", "train_loss", "train_error", "met"):
            object.__setattr__(self, name, np.atleast_1d(np.asarray(getattr(self, name))))

    @property
    def share_met(self) -> float:
        return float(np.mean(self.met)) if self.met.size else float("nan")

    @staticmethod
    def concat(states: Sequence["TrainState"]) -> "TrainState":
        """The members of several states as one (e.g. one state per seed)."""
        crit = {s.criterion for s in states}
        return TrainState(*(np.concatenate([getattr(s, f) for s in states])
                            for f in ("steps", "train_loss", "train_error", "met")),
                          criterion="; ".join(sorted(c for c in crit if c)))


def plateaued(losses, window: int, rel_tol: float = 0.01) -> np.ndarray:
    """Whether a training-loss curve has reached a plateau at its end.

    ``losses`` (..., T) recorded at equal intervals; a plateau: over the last ``window``
    records the loss fell by less than ``rel_tol`` of its value at the window's start (or
    is already below 1e-4). Shape (...,) bool; False when fewer than ``window + 1`` records.
    """
    x = np.asarray(losses, dtype=float)
    if x.shape[-1] <= window:
        return np.zeros(x.shape[:-1], dtype=bool)
    start, end = x[..., -window - 1], x[..., -1]
    drop = (start - end) / np.maximum(np.abs(start), 1e-12)
    return np.isfinite(end) & ((drop < rel_tol) | (end < 1e-4))


def _mean(x) -> float:
    """Mean of the finite values (NaN when there are none, without a warning)."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else float("nan")


def check_footing(footing: str, arms: Mapping[str, TrainState], min_share: float = 1.0,
                  error_tol: float = 0.02) -> str | None:
    """``None`` when ``arms`` stand on ``footing``; otherwise why not (which arm, how far).

    - ``same steps``: every member of every arm took the same number of steps;
    - ``same train error``: the arms' mean final training errors differ by <= ``error_tol``;
    - ``converged``: in every arm at least ``min_share`` of the members met the criterion.
    """
    if footing not in FOOTINGS:
        raise ValueError(f"footing={footing!r} is not allowed; choose one of: {FOOTINGS}")
    if not arms:
        return None
    if footing == SAME_STEPS:
        steps = {name: np.unique(s.steps) for name, s in arms.items()}
        allsteps = np.unique(np.concatenate(list(steps.values())))
        if len(allsteps) > 1:
            desc = ", ".join(f"{n} {int(v.min())}-{int(v.max())}" if len(v) > 1 else f"{n} {int(v[0])}"
                             for n, v in steps.items())
            return f"arms not trained for the same steps ({desc})"
        return None
    if footing == SAME_TRAIN_ERROR:
        errs = {name: _mean(s.train_error) for name, s in arms.items()}
        lo, hi = min(errs, key=errs.get), max(errs, key=errs.get)
        if errs[hi] - errs[lo] > error_tol:
            return (f"{hi} reached train error {errs[hi]:.3f}, {lo} {errs[lo]:.3f} "
                    f"(gap {errs[hi] - errs[lo]:.3f} > {error_tol})")
        return None
    short = {name: s for name, s in arms.items() if not (s.share_met >= min_share)}
    if short:
        return "; ".join(f"{n}: {s.share_met:.0%} of members met '{s.criterion or 'the criterion'}'"
                         f" (need {min_share:.0%}{_final(s)})" for n, s in short.items())
    return None


def _final(s: TrainState) -> str:
    """Where an arm ended, from what its run recorded: the mean final training loss, else
    the mean final training error, else nothing (a run that records neither, e.g. one
    judged on a validation loss, is not said to end at a loss of "nan")."""
    for name, x in (("train loss", s.train_loss), ("train error", s.train_error)):
        v = _mean(x)
        if math.isfinite(v):
            return f"; final {name} {v:.3g}"
    return ""
