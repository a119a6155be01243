"""Chapter 1 profiles: the knobs of every experiment, one frozen config per profile."""
from __future__ import annotations

from dataclasses import dataclass

from ...config import check_positive

SOURCE = "rom1mouret/exploration"


@dataclass(frozen=True)
class ExplorationConfig:
    """Knobs of Chapter 1; one instance per profile in :data:`PROFILES`.

    Introduced in: Chapter 1
    """

    n_runs: int = 200            # trainings per CNN grid point (source: 500); even: half pick, half test
    max_filters: int = 7         # Naive/RandomConv n_filters 1..max_filters (source: 7)
    cnn_steps: int = 100         # SGD steps, one negative + one positive each (source: 100)
    n_val_pairs: int = 1000      # validation pairs (source: 1000)
    and_runs: int = 50           # trainings per AND width (source: 50)
    max_width: int = 22          # AND widths 1..max_width (source: 22)
    and_steps: int = 500         # AND iterations of batch 16 (source: 500)
    n_test_and: int = 5000       # fresh AND test points (source: 5000)
    optimizer_runs: int = 100    # trainings per (optimizer, lr) to pick the best, and again to test it
    lrs: tuple = (0.03, 0.1, 0.3)  # lr grid of each candidate optimizer
    handset_repeats: int = 20    # fresh test sets on which the hand-set AND net is measured
    p1_runs: int = 1000          # extra 1-filter trainings: p1 of the "more draws" prediction; also
    #                              retrained with a smooth max on the same inits (paired)
    flow_runs: int = 200         # width-2 AND trainings, ReLU and LeakyReLU on the same inits (paired)

    def __post_init__(self):
        for name in ("n_runs", "max_filters", "cnn_steps", "n_val_pairs", "and_runs",
                     "max_width", "and_steps", "n_test_and", "optimizer_runs", "handset_repeats", "p1_runs", "flow_runs"):
            check_positive(name, getattr(self, name), integer=True)
        check_positive("lrs", list(self.lrs))
        if self.max_width < 3:
            raise ValueError(f"max_width={self.max_width!r} is not allowed; expected an integer >= 3")
        if self.max_filters < 2:
            raise ValueError(f"max_filters={self.max_filters!r} is not allowed; expected an integer >= 2")
        for name in ("n_runs", "optimizer_runs"):
            if getattr(self, name) < 4:
                raise ValueError(f"{name}={getattr(self, name)!r} is not allowed; expected an "
                                 "integer >= 4 (half the trainings pick a point, half measure it)")

    @property
    def random_conv_filters(self) -> tuple[int, ...]:
        """RandomConv sizes: 1..max_filters plus 5k filters (k <= 4), which train 5k+1
        parameters, as many as Naive with k filters."""
        matched = {5 * k for k in range(1, min(self.max_filters, 4) + 1)}
        return tuple(sorted(set(range(1, self.max_filters + 1)) | matched))


PROFILES = {
    "smoke": ExplorationConfig(n_runs=8, max_filters=3, cnn_steps=20, n_val_pairs=100, and_runs=4,
                               max_width=4, and_steps=40, n_test_and=500, optimizer_runs=4,
                               lrs=(0.1,), handset_repeats=3, p1_runs=16, flow_runs=8),
    "quick": ExplorationConfig(),
    # long: the source's 500 trainings per CNN point; replicates from the power calculation
    # (calibration.replicates_for_power with the measured spread and the stated minimal
    # effects: naive_size needs ~300 trainings per arm for 80 %, every other rule has it at
    # quick's counts); a wider lr grid for the optimizer study. Arms: same steps by design.
    "long": ExplorationConfig(n_runs=500, and_runs=100, optimizer_runs=200,
                              lrs=(0.01, 0.03, 0.1, 0.3, 1.0), handset_repeats=40, p1_runs=2000,
                              flow_runs=400),
    "full": ExplorationConfig(n_runs=1000, max_filters=12, and_runs=500, max_width=32,
                              optimizer_runs=500, lrs=(0.003, 0.01, 0.03, 0.1, 0.3, 1.0),
                              handset_repeats=100, p1_runs=5000, flow_runs=1000),
}
