"""Knobs of chapter 8 "Connectivity of solutions", one frozen config per profile.

Introduced in: Chapter 8
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ...config import check_positive

SOURCE = "Nguyen 2021 (abstract, source 003)"
TOL = 0.1  # nats: a path "with low loss" rises at most this far above its ends (fixed in advance)


@dataclass(frozen=True)
class ConnectivityConfig:
    """Knobs of chapter 8; one instance per profile in :data:`PROFILES`.

    The networks are MLPs d-w-w-10 (two hidden layers of width w: "the last two hidden
    layers" of the source) on MNIST-1D, inputs standardised; one training set of N
    examples is the first N of MNIST-1D's 4,000 (nested subsets).

    Introduced in: Chapter 8
    """

    n_trains: tuple = (16, 64, 256)  # training-set sizes N; consecutive sizes differ by 4x,
    #                                 so width x 2 keeps width / sqrt(N) fixed; three sizes, as
    #                                 a sufficiency bound is refuted only by growth that goes on;
    #                                 small N keeps the width where paths flatten inside the grid
    widths: tuple = (4, 8, 16, 32)  # width of both hidden layers (powers of 2: x2 steps)
    n_pairs: int = 4                # independently trained pairs per (N, width): the replicates
    #                                 behind every interval (pair k of every cell shares nothing
    #                                 with pair j)
    steps: int = 1500               # Adam steps per network (N=256: 750 epochs of 128)
    lr: float = 3e-3                # Adam, fast convergence of small MLPs on standardised inputs
    batch_size: int = 128           # examples per step, drawn with replacement
    curve_steps: int = 1500         # Adam steps training the Bezier bend (as long as an end,
    #                                 like Garipov et al.; 600 left the wide curves unconverged)
    n_points: int = 11              # points on each path, t = 0, 0.1, ..., 1
    same_start: bool = True         # also train pairs from ONE start (chapter 7's instability)
    feature_dim: int = 64           # width of the feature extractor (one hidden layer)
    feature_steps: tuple = (0, 1500)  # extractor checkpoints used as features: 0 = random
    #                                   features, last = trained (linearly separable) features
    probe_steps: int = 600          # Adam steps of the linear probe that scores feature quality
    dropout_draws: int = 8          # random halves tried per network (dropout stability: the best)
    narrow_max: int | None = None   # widest width trained at every N but the largest (None: all
    #                                 widths at every N); the widest widths serve the rows read
    #                                 at the largest N, and the width needed at small N lies far below
    feature_widths: tuple | None = None  # head widths on features (None: ``widths``; a subset of them)
    stop_on_plateau: bool = False   # end a stack's training once every member's loss has
    #                                 plateaued (then ``steps`` / ``curve_steps`` are the most;
    #                                 quick and long set it)
    block: int = 100                # steps per block of the plateau criterion (training.Plateau)
    min_steps: int = 300            # no plateau stop before this many steps

    def __post_init__(self):
        for name in ("steps", "batch_size", "curve_steps", "n_points", "feature_dim",
                     "probe_steps", "dropout_draws", "block"):
            check_positive(name, getattr(self, name), integer=True)
        check_positive("lr", self.lr)
        check_positive("min_steps", self.min_steps, integer=True, allow_zero=True)
        for name in ("n_trains", "widths", "feature_steps"):
            v = getattr(self, name)
            if isinstance(v, list):
                object.__setattr__(self, name, tuple(v))
            if not isinstance(getattr(self, name), tuple) or not getattr(self, name):
                raise ValueError(f"{name}={v!r} is not allowed; expected a non-empty tuple of integers")
        check_positive("n_trains", list(self.n_trains), integer=True)
        check_positive("widths", list(self.widths), integer=True)
        check_positive("feature_steps", list(self.feature_steps), integer=True, allow_zero=True)
        if list(self.n_trains) != sorted(set(self.n_trains)) or max(self.n_trains) > 4000:
            raise ValueError(f"n_trains={self.n_trains!r} is not allowed; expected increasing sizes <= 4000")
        if list(self.widths) != sorted(set(self.widths)):
            raise ValueError(f"widths={self.widths!r} is not allowed; expected increasing widths")
        if list(self.feature_steps) != sorted(set(self.feature_steps)) or len(self.feature_steps) < 1:
            raise ValueError(f"feature_steps={self.feature_steps!r} is not allowed; expected increasing steps")
        if isinstance(self.feature_widths, list):
            object.__setattr__(self, "feature_widths", tuple(self.feature_widths))
        if self.feature_widths is not None and (not self.feature_widths
                                                or not set(self.feature_widths) <= set(self.widths)):
            raise ValueError(f"feature_widths={self.feature_widths!r} is not allowed; expected a "
                             f"non-empty subset of widths {self.widths!r}")
        if self.narrow_max is not None:
            check_positive("narrow_max", self.narrow_max, integer=True)
            if self.narrow_max not in self.widths:
                raise ValueError(f"narrow_max={self.narrow_max!r} is not allowed; expected one of "
                                 f"widths {self.widths!r}")
        if self.n_pairs < 2:
            raise ValueError(f"n_pairs={self.n_pairs!r} is not allowed; expected >= 2 (for intervals)")
        if self.n_points < 3:
            raise ValueError(f"n_points={self.n_points!r} is not allowed; expected >= 3")
        if len(self.n_trains) >= 2 and not self.matched_cells():
            raise ValueError(f"n_trains={self.n_trains!r} and widths={self.widths!r}: no width w with "
                             "w * sqrt(N'/N) also in widths; the sqrt(N) test needs such pairs")

    def matched_cells(self) -> list[tuple[int, int, int, int]]:
        """Cells (i, j, i', j') with N' = n_trains[i'] > N = n_trains[i] consecutive and
        widths[j'] = widths[j] * sqrt(N'/N): the same width / sqrt(N)."""
        out = []
        for i in range(len(self.n_trains) - 1):
            r = math.sqrt(self.n_trains[i + 1] / self.n_trains[i])
            for j, w in enumerate(self.widths):
                for jj, w2 in enumerate(self.widths):
                    if abs(w2 - w * r) <= 0.01 * w * r:
                        out.append((i, j, i + 1, jj))
        return out


PROFILES = {
    # seconds: proves the code path; numbers meaningless
    "smoke": ConnectivityConfig(n_trains=(32, 128), widths=(4, 8), n_pairs=2, steps=40,
                                curve_steps=20, n_points=5, feature_dim=16, feature_steps=(0, 40),
                                probe_steps=30, dropout_draws=2),
    # <= 45 s on one CPU thread; a stack stops once every member's loss has plateaued (the
    # widest stacks at about half of ``steps``: training past the plateau changed no verdict)
    "quick": ConnectivityConfig(stop_on_plateau=True),
    # one CPU thread: widths 1 to 1024 (above 128 at the largest N only; widths 1 and 2 so
    # that a pair connected at width 4 still gives a width needed, not only a bound), three N
    # to 1024, every network and curve trained until its loss plateaus (at most steps /
    # curve_steps), pairs from the power calculation (calibration.replicates_for_power:
    # dropout needs 6). Width 1024 fits since the stacks train with torch's fused Adam (one
    # kernel per tensor: the per-member stacked Adam took 3/4 of a width-1024 step)
    "long": ConnectivityConfig(n_trains=(64, 256, 1024),
                               widths=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
                               narrow_max=128, n_pairs=6, steps=3000, curve_steps=3000, stop_on_plateau=True,
                               min_steps=400, feature_widths=(1, 2, 4, 8, 16, 32, 64), feature_dim=128,
                               feature_steps=(0, 2000), probe_steps=800, dropout_draws=16),
    # one GPU: more sizes, widths up to 256, 8 pairs, longer training
    "full": ConnectivityConfig(n_trains=(250, 1000, 4000), widths=(4, 8, 16, 32, 64, 128, 256),
                               n_pairs=8, steps=8000, curve_steps=4000, n_points=21,
                               feature_dim=256, feature_steps=(0, 100, 8000), probe_steps=2000,
                               dropout_draws=32),
}
