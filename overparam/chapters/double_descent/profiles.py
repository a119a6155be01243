"""Chapter 3's knobs: one frozen config per profile (smoke, quick, long, full)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...config import check_choice, check_fraction, check_positive
from ...engine.store import ResultStore
from ...engine.sweep import TrainConfig

SOURCE = "Zheng He, Over-parametrization and Sparsity (2021), part 2"
MNIST1D_TRAIN = 4000  # MNIST-1D's training set: no sample size can exceed it


@dataclass(frozen=True)
class DoubleDescentConfig:
    """Knobs of Chapter 3 (one instance per profile in :data:`PROFILES`).

    Introduced in: Chapter 3
    """

    # random features (closed form)
    rf_n_train: int = 100            # n; the threshold sits at N = n features
    rf_d: int = 20                   # input dimension of the linear teacher
    rf_noise: float = 0.5            # label noise std: what the interpolating fit amplifies
    rf_n_ratios: int = 40            # N/n values, log-spaced over [0.1, 10]
    rf_lambdas: tuple = (0.0, 1e-3, 1e-2)  # 0 = minimum-norm; ridge flattens the peak
    rf_seeds: int = 10               # seeds are cheap here (SVDs of 100 x 1000 matrices)
    # linear system (a demonstration of the theorem, no verdict)
    ls_rows: int = 40                # m equations; columns grow to 3m
    ls_seeds: int = 10
    # MLPs on MNIST-1D
    n_train: int = 2000              # half of MNIST-1D's training set, so that the EMC sweep
                                     # can measure sample sizes above n (up to 2n)
    widths: tuple = (8, 16, 32, 64, 128, 192, 256, 512, 1024)  # threshold ~128-256
    depth: int = 1                   # 40-h-10: one hidden layer keeps the threshold cheap
    label_noise: tuple = (0.0, 0.2)  # two levels fit the 2-core budget; full runs 0/10/20 %
    n_seeds: int = 5                 # the peak at 20 % noise is a broad hump ~0.02-0.05 above its
                                     # sides with a seed sd ~0.015: 3 seeds gave its rule ~20 % power
    emc_seeds: int = 3               # seeds of the EMC grid: the run's first min(emc_seeds, n_seeds)
                                     # (its n = 4000 makes it the costliest grid per seed)
    epochs: int = 100                # with Adam, width >= 512 fits 20 % noisy labels by then
    optimizer: str = "adam"          # reaches zero training error in fewer epochs than SGD
    lr: float = 0.003                # Adam step that fits fast without diverging (tried 1e-3..1e-2)
    batch_size: int = 100            # as in the MNIST-1D notebooks
    eval_every: int = 5              # epoch-wise curves every 5 epochs
    interp_tol: float = 0.01         # "zero" training error: at most 1 % of the training set
    sample_ns: tuple = (500, 1000, 2000, 4000)  # sample-wise sweep at a fixed width; these
    sample_width: int = 128                      # points are shared with the EMC sweep
    sample_noise: float = 0.2        # = the highest label_noise, so n = n_train reuses the sweep
    emc_ns: tuple = (500, 1000, 2000, 4000)      # up to 2 n: EMC can come out above n
    emc_widths: tuple = (64, 128, 256)  # subset of widths around the threshold (n = n_train is
                                        # reused); 32 fits no n, 512 every n: read at the peak only
                                        # (the 20 %-noise peak sits at 128-256), and 512 cost half
                                        # of the grid's time
    random_n: int = 1000             # random labels: Zhang et al.'s test, on a smaller set
    teacher_width: int = 4           # Livni et al.: a teacher net this wide labels the data
    student_widths: tuple = (4, 16, 64)  # students from the teacher's own width up
    teacher_n: int = 1000            # training examples labelled by the teacher
    weight_decay: float = 1e-3       # explicit regularization arm at the peak width (Adam's L2
                                     # term; chosen on a pilot run with another run seed)
    sharp_rel: float = 0.1           # sharpness proxy: weight perturbation / tensor norm
    cnn_widths: tuple = ()           # channels of a CNN model-wise sweep (full profile)
    results_dir: str = ""            # "" = overparam.engine.store.default_results_dir()

    def __post_init__(self):
        for name in ("rf_n_train", "rf_d", "rf_n_ratios", "rf_seeds", "ls_rows", "ls_seeds",
                     "n_train", "depth", "n_seeds", "emc_seeds", "epochs", "batch_size", "eval_every",
                     "sample_width", "random_n", "teacher_width", "teacher_n"):
            check_positive(name, getattr(self, name), integer=True)
        check_positive("rf_noise", self.rf_noise, allow_zero=True)
        check_positive("rf_lambdas", list(self.rf_lambdas), allow_zero=True)
        if 0.0 not in self.rf_lambdas:
            raise ValueError(f"rf_lambdas={self.rf_lambdas!r} is not allowed; it must contain 0.0 "
                             "(the minimum-norm solution) and ridge strengths >= 0")
        check_positive("lr", self.lr)
        check_positive("weight_decay", self.weight_decay)
        check_positive("sharp_rel", self.sharp_rel)
        check_choice("optimizer", self.optimizer, ("sgd", "adam"))
        for name in ("widths", "sample_ns", "emc_ns", "emc_widths", "student_widths"):
            check_positive(name, list(getattr(self, name)), integer=True)
        if len(self.widths) < 3:
            raise ValueError(f"widths={self.widths!r} is not allowed; expected at least 3 widths")
        if self.cnn_widths:
            check_positive("cnn_widths", list(self.cnn_widths), integer=True)
        check_fraction("label_noise", list(self.label_noise))
        check_fraction("sample_noise", self.sample_noise)
        check_fraction("interp_tol", self.interp_tol)
        for name in ("widths", "emc_widths", "cnn_widths", "student_widths", "emc_ns", "sample_ns"):
            val = tuple(getattr(self, name))
            if any(b <= a for a, b in zip(val, val[1:])):
                raise ValueError(f"{name}={val!r} is not allowed; expected strictly increasing "
                                 "values (peaks and the widest model are read by position)")
        for name in ("label_noise", "sample_ns", "emc_ns", "emc_widths"):
            if len(getattr(self, name)) == 0:
                raise ValueError(f"{name}=() is not allowed; expected at least one value")
        if len(self.student_widths) < 2:
            raise ValueError(f"student_widths={self.student_widths!r} is not allowed; expected "
                             "at least 2 widths (the teacher's width and a wider one)")
        if self.student_widths[0] != self.teacher_width:
            raise ValueError(f"student_widths={self.student_widths!r} is not allowed; the first "
                             f"must equal teacher_width={self.teacher_width} (a student that can "
                             "represent the labels exactly)")
        nz = tuple(self.label_noise)
        if any(b <= a for a, b in zip(nz, nz[1:])):
            raise ValueError(f"label_noise={nz!r} is not allowed; expected strictly increasing "
                             "fractions (the claims compare the highest level with the lowest)")
        for name in ("n_train", "sample_ns", "emc_ns", "random_n", "teacher_n"):
            val = getattr(self, name)
            if max(val if isinstance(val, tuple) else (val,)) > MNIST1D_TRAIN:
                raise ValueError(f"{name}={val!r} is not allowed; expected values up to "
                                 f"{MNIST1D_TRAIN} (MNIST-1D's training set)")

    def train_config(self) -> TrainConfig:
        """The :class:`TrainConfig` shared by every MLP of the chapter."""
        return TrainConfig(epochs=self.epochs, lr=self.lr, optimizer=self.optimizer,
                           momentum=0.9, batch_size=self.batch_size, eval_every=self.eval_every)


PROFILES = {
    "smoke": DoubleDescentConfig(
        rf_n_train=30, rf_n_ratios=12, rf_seeds=3, ls_rows=10, ls_seeds=3, n_train=200,
        widths=(2, 8, 32, 128), label_noise=(0.0, 0.2), n_seeds=3, epochs=4, eval_every=2,
        sample_ns=(100, 200), sample_width=8, emc_ns=(100, 200, 400), emc_widths=(8, 32),
        random_n=100, teacher_width=2, student_widths=(2, 8), teacher_n=100,
        cnn_widths=(2, 4)),
    "quick": DoubleDescentConfig(),
    # long: quick's grids (so that "grid steps" and the EMC widths mean the same), the seeds
    # of the power calculation (the peak-position difference, sd 1.35 octaves per seed at
    # quick, needs ~17 seeds for one octave at 80 %; the cross-fitted peak rules ~15-20 at a
    # 0.03 peak), 8 EMC seeds, and sample sizes every half octave around the EMC of width
    # 128 at 20 % noise (~1,500), where more data would hurt if it does; 20 linear systems
    # (min_norm_square: 10 give ~81 % power at a factor-e effect)
    "long": DoubleDescentConfig(n_seeds=20, emc_seeds=8, ls_seeds=20,
                                sample_ns=(500, 750, 1000, 1500, 2000, 3000, 4000)),
    "full": DoubleDescentConfig(
        rf_n_train=200, rf_seeds=20, ls_seeds=20, n_train=2000,
        widths=tuple(int(round(x)) for x in np.geomspace(4, 2048, 30)),
        label_noise=(0.0, 0.1, 0.2), n_seeds=10, emc_seeds=10, epochs=200, eval_every=5,
        sample_ns=(250, 500, 1000, 2000, 3000, 4000), sample_width=128,
        emc_ns=(250, 500, 1000, 2000, 3000, 4000), emc_widths=(32, 64, 128, 256, 512, 1024),
        random_n=4000, teacher_width=4, student_widths=(4, 8, 16, 32, 64, 128), teacher_n=4000,
        cnn_widths=(2, 4, 8, 16, 32, 64)),
}


def results_store(cfg: DoubleDescentConfig) -> ResultStore:
    """The chapter's result store (``<results_dir>/03_double_descent``).

    Introduced in: Chapter 3
    """
    return ResultStore(cfg.results_dir or None, namespace="03_double_descent")
