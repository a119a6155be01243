"""Chapter 1 experiments: the optimizer study and the whole chapter (:func:`run_chapter`).

The sweeps live in :mod:`.sweeps`, the hand-set nets and analyses in :mod:`.analyses`.
Source: rom1mouret/exploration (README, ``eval_cnn.py``, ``eval_bool.py``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ...config import log, threads
from .analyses import handset_1101_accuracy, handset_and_f1, handset_and_f1_exact
from .profiles import ExplorationConfig
from .sweeps import BASELINES, CANDIDATES, SweepResult, sweep_and, sweep_cnn

# --------------------------------------------------------------------------- optimizers


def pick_best(selection: dict[tuple[str, float], np.ndarray]) -> tuple[str, float]:
    """The (optimizer, lr) with the best mean outcome (ties: the first in order)."""
    return max(selection, key=lambda k: float(np.mean(selection[k])))


@dataclass
class OptimizerStudy:
    """Other optimizers vs the source's recipe at the smallest sizes, picked then tested.

    ``selection[(name, lr)]`` holds per-size outcomes of the picking trainings;
    ``chosen`` is the best candidate at ``size`` on them; ``test`` holds fresh
    trainings at ``size`` of the chosen candidate and of the baseline.
    """

    task: str                     # "cnn" or "and"
    sizes: tuple[int, ...]
    size: int                     # the size the claim is about (the smallest)
    baseline: tuple[str, float, float]   # (optimizer, lr, momentum) of the source
    selection: dict = field(default_factory=dict)   # (name, lr) -> {size: outcomes}
    chosen: tuple[str, float] = ("", 0.0)
    test: dict = field(default_factory=dict)        # "chosen" / "baseline" -> outcomes
    states: dict = field(default_factory=dict)      # "chosen" / "baseline" -> TrainState
    outcome: str = ""             # what an outcome is

    def at_size(self, size: int | None = None) -> dict[tuple[str, float], np.ndarray]:
        """Selection outcomes of the candidates (not the baseline) at ``size``."""
        s = self.size if size is None else size
        return {k: v[s] for k, v in self.selection.items() if k[0] != "baseline"}


def optimizer_study(task: str, sizes: Sequence[int], n_runs: int, lrs: Sequence[float],
                    candidates: Sequence[str] = CANDIDATES, *, steps: int, seed: int = 0,
                    device="cpu", **task_kw) -> OptimizerStudy:
    """Does another optimizer train the smallest nets better than the source's recipe?

    Each candidate (SGD with momentum 0.9, Adam, RMSprop) trains ``n_runs`` nets per size
    and learning rate of ``lrs`` (one stack per optimizer, per-member learning rates);
    the source's recipe (:data:`BASELINES`: SGD lr 0.1 with momentum 0.5 on the 1101
    task, plain SGD lr 0.1 on AND) trains on the same stream. The best candidate and lr
    at the smallest size is picked on these trainings, then it and the baseline train
    ``n_runs`` fresh nets at that size (another random stream), which the claim uses.
    The outcome is the success rate (100 % validation accuracy) for ``task="cnn"``
    (Naive CNN) and the macro-F1 for ``task="and"``.
    Introduced in: Chapter 1
    """
    if task not in BASELINES:
        raise ValueError(f"task={task!r} is not allowed; choose one of: 'cnn', 'and'")
    sweep = sweep_cnn if task == "cnn" else sweep_and
    what = "success" if task == "cnn" else "score"
    base_name, base_lr, base_mom = BASELINES[task]
    study = OptimizerStudy(task, tuple(sizes), min(sizes), BASELINES[task],
                           outcome="share reaching 100 %" if task == "cnn" else "macro-F1")

    def outcomes(r: SweepResult, lr: float) -> dict[int, np.ndarray]:
        sel = r.lr == lr
        x = getattr(r, what).astype(float)
        return {int(s): x[sel & (r.sizes == s)] for s in sizes}

    pick = f"optimizers {task} pick"
    for name in candidates:
        r = sweep("naive", sizes, n_runs, steps=steps, optimizer=name, lr=list(lrs), momentum=0.9,
                  seed=seed, stream=pick, device=device, **task_kw)
        for lr in lrs:
            study.selection[(name, float(lr))] = outcomes(r, float(lr))
    r = sweep("naive", sizes, n_runs, steps=steps, optimizer=base_name, lr=base_lr,
              momentum=base_mom, seed=seed, stream=pick, device=device, **task_kw)
    study.selection[("baseline", base_lr)] = outcomes(r, base_lr)
    study.chosen = pick_best(study.at_size())
    test = f"optimizers {task} test"
    for key, (name, lr, mom) in (("chosen", (study.chosen[0], study.chosen[1], 0.9)),
                                 ("baseline", BASELINES[task])):
        r = sweep("naive", [study.size], n_runs, steps=steps, optimizer=name, lr=lr, momentum=mom,
                  seed=seed, stream=test, device=device, **task_kw)
        study.test[key] = outcomes(r, lr)[study.size]
        study.states[key] = r.arm(study.size)
    return study

# --------------------------------------------------------------------------- the chapter


@dataclass
class ExplorationResults:
    """Everything Chapter 1 measures (one seed of the notebook, many trainings each)."""

    naive: SweepResult
    random_conv: SweepResult
    hyper: SweepResult
    and_naive: SweepResult
    and_hyper: SweepResult
    handset_and: np.ndarray        # macro-F1 of the hand-set AND net on fresh test sets
    handset_and_exact: float       # its closed form
    handset_1101: float            # accuracy of the hand-set 1101 kernel
    p1: SweepResult                # extra 1-filter Naive trainings (the "more draws" p1)
    optimizers_cnn: OptimizerStudy
    optimizers_and: OptimizerStudy
    n_test_and: int = 0            # points per AND test set
    n_val_pairs: int = 0           # 1101 validation pairs
    seconds: float = 0.0
    smooth: SweepResult | None = None     # the p1 trainings again, max pooling -> a smooth max
    and_relu: SweepResult | None = None   # width-2 AND nets with ReLU ...
    and_leaky: SweepResult | None = None  # ... and with LeakyReLU, same inits and data


def run_chapter(cfg: ExplorationConfig, seed: int = 0, device="cpu") -> ExplorationResults:
    """Run every experiment of Chapter 1 at the sizes of ``cfg`` (one CPU thread).

    Introduced in: Chapter 1
    """
    t0 = time.perf_counter()
    filters = list(range(1, cfg.max_filters + 1))
    kw = dict(steps=cfg.cnn_steps, n_val_pairs=cfg.n_val_pairs, seed=seed, device=device)
    and_kw = dict(steps=cfg.and_steps, n_test=cfg.n_test_and, seed=seed, device=device)
    out = {}
    jobs = [
        ("naive", lambda: sweep_cnn("naive", filters, cfg.n_runs, **kw)),
        ("random_conv", lambda: sweep_cnn("random_conv", cfg.random_conv_filters, cfg.n_runs, **kw)),
        ("hyper", lambda: sweep_cnn("hyper", [1], cfg.n_runs, **kw)),
        ("p1", lambda: sweep_cnn("naive", [1], cfg.p1_runs, stream="1101 naive p1", **kw)),
        ("smooth", lambda: sweep_cnn("naive", [1], cfg.p1_runs, stream="1101 naive p1", pool="smooth", **kw)),
        ("and_naive", lambda: sweep_and("naive", range(1, cfg.max_width + 1), cfg.and_runs, **and_kw)),
        ("and_hyper", lambda: sweep_and("hyper", [2], cfg.and_runs, **and_kw)),
        ("and_relu", lambda: sweep_and("naive", [2], cfg.flow_runs, stream="and flow", **and_kw)),
        ("and_leaky", lambda: sweep_and("naive", [2], cfg.flow_runs, stream="and flow", act="leaky", **and_kw)),
        ("optimizers_cnn", lambda: optimizer_study("cnn", [1, 2], cfg.optimizer_runs, cfg.lrs, **kw)),
        ("optimizers_and", lambda: optimizer_study("and", [2, 3], cfg.optimizer_runs, cfg.lrs, **and_kw)),
    ]
    with threads(1, device):
        for i, (name, job) in enumerate(jobs, 1):
            log.info(f"[{i}/{len(jobs)}] {name} (elapsed {time.perf_counter() - t0:.0f} s)")
            out[name] = job()
        res = ExplorationResults(
            **out, handset_and=handset_and_f1(cfg.handset_repeats, cfg.n_test_and, seed, device),
            handset_and_exact=handset_and_f1_exact(),
            handset_1101=handset_1101_accuracy(cfg.n_val_pairs, seed, device),
            n_test_and=cfg.n_test_and, n_val_pairs=cfg.n_val_pairs)
    res.seconds = time.perf_counter() - t0
    log.info(f"done in {res.seconds:.0f} s")
    return res
