"""Chapter 7 knobs: :class:`TicketsConfig`, one instance per profile in :data:`PROFILES`,
and the chapter's data (through :mod:`overparam.data`).

Introduced in: Chapter 7
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ... import data as D
from ... import pruning as P
from ...config import check_choice, check_positive

DATASETS = ("digits", "mnist1d")
SOURCE = "He 2021 slides (004), sparsity part"


@dataclass(frozen=True)
class TicketsConfig:
    """Knobs of Chapter 7; one instance per profile in :data:`PROFILES`.

    Introduced in: Chapter 7
    """

    dataset: str = "digits"        # sklearn digits: a LeNet-like MLP saturates near 97 %
    arch: str = "mlp"              # "mlp" (LeNet-300-100 spirit) or "cnn" (1-d, mnist1d)
    widths: tuple = (300, 100)     # LeNet-300-100, Frankle & Carbin's MNIST net
    n_val: int = 200               # held out of the training set for early stopping
    steps: int = 400               # iterations per training (digits: 22 epochs of 60)
    lr: float = 1.2e-3             # Frankle & Carbin's Adam rate for LeNet
    optimizer: str = "adam"        # the source's setting for LeNet
    batch_size: int = 60           # Frankle & Carbin's batch size
    eval_every: int = 25           # iterations between validation evaluations (early stop)
    n_seeds: int = 4               # seeds per curve (bands are 95 % t-intervals); 4 keeps quick
    #                                near its CPU budget (the GEMMs already run at ~60 % of SGEMM)
    rate: float = 0.5              # fraction pruned per round (the paper: 0.2, full uses it)
    rounds: int = 5                # IMP rounds: 0.5^5 -> about 3.5 % of weights remain
    match_density: float = 0.13    # the hypothesis row: the round closest to this density
    #                                (fixed in advance; Frankle & Carbin's tickets match at 10-20 %)
    late_step: int = 100           # late resetting: rewind to iteration j (a few % of training)
    criteria: tuple = ("large_final", "magnitude_increase", "random")  # full: all of Zhou's
    long_factor: int = 3           # the longer-training control trains 3x longer
    long_rounds: int = 1           # ... on the sparsest rounds only (the cost)
    drift_factor: int = 1          # near-init drift: dense nets trained this many times steps (1: read off
    #                                the IMP's dense runs; more: both dense nets retrained that long)
    reinit_rounds: int = 2         # re-init control on the sparsest 2 rounds (the rules read the sparsest)
    pai_rounds: int = 1            # SNIP / GraSP at the sparsest round(s) only (the rule reads the sparsest)
    transfer_rounds: int = 1       # transferred tickets trained at the sparsest round(s) only (likewise)
    supermask_steps: int = 400     # iterations of learned-mask training
    supermask_lr: float = 0.1      # Adam on the scores: scores must move by O(1)
    estimator: str = "sigmoid_bernoulli"  # Zhou et al.'s estimator
    target_width: int = 32         # Malach: width of the trained one-hidden-layer target net
    rewind_steps: tuple = (0, 25, 100, 250)  # instability scan: copies start here
    pai: bool = True               # run the SNIP / GraSP section
    speed_threshold: float = 0.1   # "learns faster": iterations to 90 % validation accuracy
    small_widths: tuple | None = None  # smaller starting net; None = half the widths
    transfer: bool = True          # run the transfer section (optimizers and data sets)
    in_place_sgd: bool = True      # transfer: also find tickets with SGD itself (the figure's reference line;
    #                                no rule reads it)
    dwr: bool = False              # supermasks: also learn a mask with dynamic weight rescaling (Zhou et al.)
    sgd_lr: float = 0.05           # transfer: SGD (momentum 0.9) rate for this MLP

    def __post_init__(self):
        check_choice("dataset", self.dataset, DATASETS)
        check_choice("arch", self.arch, ("mlp", "cnn"))
        check_choice("optimizer", self.optimizer, P.OPTIMIZERS)
        check_choice("estimator", self.estimator, P.ESTIMATORS)
        for n in ("n_val", "steps", "batch_size", "eval_every", "n_seeds", "rounds", "long_factor",
                  "long_rounds", "reinit_rounds", "pai_rounds", "transfer_rounds", "drift_factor", "supermask_steps",
                  "target_width"):
            check_positive(n, getattr(self, n), integer=True)
        check_positive("late_step", self.late_step, integer=True, allow_zero=True)
        check_positive("lr", self.lr)
        check_positive("supermask_lr", self.supermask_lr)
        check_positive("sgd_lr", self.sgd_lr)
        if not 0 < self.speed_threshold < 1:
            raise ValueError(f"speed_threshold={self.speed_threshold!r} is not allowed; expected 0 < x < 1")
        P.check_rate(self.match_density, "match_density")
        if self.small_widths is not None:
            check_positive("small_widths", list(self.small_widths), integer=True)
        P.check_rate(self.rate)
        if not isinstance(self.widths, tuple) or not self.widths:
            raise ValueError(f"widths={self.widths!r} is not allowed; expected a tuple of integers > 0")
        check_positive("widths", list(self.widths), integer=True)
        if self.n_seeds < 4:
            raise ValueError(f"n_seeds={self.n_seeds} is not allowed; expected >= 4 (intervals over "
                             "seeds, and rounds picked on the other seeds)")
        for c in self.criteria:
            check_choice("criteria", c, P.CRITERIA)
        if "large_final" not in self.criteria or "random" not in self.criteria:
            raise ValueError(f"criteria={self.criteria!r} is not allowed; it must contain "
                             "'large_final' (the tickets) and 'random' (random pruning)")
        for n in ("long_rounds", "reinit_rounds", "pai_rounds", "transfer_rounds"):
            if getattr(self, n) > self.rounds:
                raise ValueError(f"{n}={getattr(self, n)} is not allowed; expected <= rounds={self.rounds}")
        check_positive("rewind_steps", list(self.rewind_steps), integer=True, allow_zero=True)
        if self.late_step >= self.steps:
            raise ValueError(f"late_step={self.late_step!r} is not allowed; expected an integer "
                             f">= 0 and < steps={self.steps}")
        if any(k >= self.steps for k in self.rewind_steps):
            raise ValueError(f"rewind_steps={self.rewind_steps!r} is not allowed; expected integers "
                             f">= 0 and < steps={self.steps}")

    def net(self, d: int, n_classes: int) -> P.Arch:
        w = self.widths if self.arch == "mlp" else (self.widths[0],) * len(self.widths)
        return P.Arch(self.arch, tuple(w), d, n_classes)

    def step_config(self, steps: int | None = None) -> P.StepConfig:
        return P.StepConfig(steps or self.steps, self.lr, self.optimizer, 0.9, self.batch_size,
                            self.eval_every)

    def end_only(self, optimizer: str | None = None, lr: float | None = None, steps: int | None = None
                 ) -> P.StepConfig:
        """:meth:`step_config` evaluated only at the end (for runs whose curves nothing reads)."""
        steps = steps or self.steps
        return P.StepConfig(steps, lr or self.lr, optimizer or self.optimizer, 0.9, self.batch_size, steps)

    def sparsest(self, n: int) -> list[int]:
        """The sparsest ``n`` IMP rounds, in order (the last is the sparsest)."""
        return list(range(self.rounds - n + 1, self.rounds + 1))

    def match_round(self) -> int:
        """The IMP round whose nominal density (1 - rate)^r is closest to ``match_density``
        (a design choice fixed before any run, not read off the data)."""
        dens = [(1 - self.rate) ** r for r in range(1, self.rounds + 1)]
        return 1 + min(range(self.rounds), key=lambda r: abs(dens[r] - self.match_density))


PROFILES = {
    "smoke": TicketsConfig(widths=(40, 20), n_val=100, steps=60, eval_every=20, n_seeds=4, rounds=2,
                           late_step=10, long_factor=2, long_rounds=1, supermask_steps=60,
                           target_width=8, rewind_steps=(0, 10)),
    # quick: the rules' points only where a section's extra points serve a figure alone (instability at
    # k = 0 and the last k; no in-place SGD tickets; no DWR arm), for the quick book's time budget
    "quick": TicketsConfig(rewind_steps=(0, 250), in_place_sgd=False),
    # long: the quick geometry with the seeds of the power calculation (80 % power for every
    # rule at its stated effect and the measured spread: the largest need is "faster", 13 at
    # 400 draws, 79 % at 13 with 1000; 14 leaves a margin); the longer-training control 6x
    # longer, so that its validation loss can reach a plateau (3x: still falling at quick)
    # long_factor 10 and drift_factor 4: at 6x, 1 of 14 re-inits' validation loss still fell at the end,
    # and at 400 steps the half-width dense net fitted the training set in 2 of 14 seeds (near_init's footing)
    "long": TicketsConfig(n_seeds=14, long_factor=10, drift_factor=4, dwr=True),
    "full": TicketsConfig(steps=3000, eval_every=50, n_seeds=8, rate=0.2, rounds=17, late_step=200,
                          criteria=("large_final", "magnitude_increase", "movement", "large_init",
                                    "small_final", "large_final_same_sign", "random"),
                          long_factor=4, long_rounds=4, reinit_rounds=17, pai_rounds=17, transfer_rounds=17,
                          supermask_steps=3000,
                          rewind_steps=(0, 25, 50, 100, 200, 500, 1000), dwr=True),
}


def load_data(cfg: TicketsConfig, device="cpu") -> P.SplitData:
    """Digits (1097 train / n_val validation / 500 test, d = 64) or MNIST-1D (d = 40), from
    :mod:`overparam.data`. The validation set is the first ``n_val`` training examples.

    Introduced in: Chapter 7
    """
    if cfg.dataset == "mnist1d":
        ds = D.load_mnist1d()
    else:
        ds = D.load_digits_split(n_test=500, seed=0)
    X, y, Xt, yt = (torch.as_tensor(ds[k]) for k in ("x", "y", "x_test", "y_test"))
    v = cfg.n_val
    return P.SplitData(X[v:], y[v:], X[:v], y[:v], Xt, yt, 10, cfg.dataset).to(device)
