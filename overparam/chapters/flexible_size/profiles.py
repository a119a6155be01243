"""Chapter 5 profiles: the knobs of the flexible-size experiments, one frozen config per profile."""
from __future__ import annotations

from dataclasses import dataclass

from ...config import check_choice, check_fraction, check_positive
from ...sizing import GRAY, check_number

SOURCE = "journal (2017)"
TASKS = ("easy", "hard", "digits")


@dataclass(frozen=True)
class FlexConfig:
    """Knobs of Chapter 5; one instance per profile in :data:`PROFILES`.

    Every experiment trains one-hidden-layer MLPs whose hidden units are scaled by
    f_i = sigmoid(k (x0 - i)) (:mod:`overparam.sizing`), with Adam: the weights at ``lr``,
    the size x0 at ``size_lr`` (units per step, about), for ``steps`` steps of
    ``batch_size`` examples. A member's capacity is its start size plus ``headroom``
    (default: Adam's bound size_lr x steps plus two gray zones), so that no size is held
    back by its layer's width.

    Introduced in: Chapter 5
    """

    tasks: tuple = ("easy", "hard")      # easy/hard MNIST-1D: the journal's MNIST/FashionMNIST pair
    n_seeds: int = 4                     # seeds per configuration (intervals need >= 2)
    steps: int = 600                     # 15 epochs of 4,000 examples (the Erratum's 15 epochs)
    lr: float = 3e-3                     # Adam, weights (chapter 4's rate)
    batch_size: int = 100
    size_lr: float = 0.25                # Adam, x0: at most ~0.25 units per step -> 150 units per run
    k: float = 1.0                       # slope of the scaler (gray zone 10 / k units; journal: k = 1)
    starts: tuple = (16, 32, 64, 128, 256)  # start sizes of the start-size comparison
    start: int = 64                      # start size of the other experiments
    sweep_penalty: float = 1e-3          # size penalty of the start-size comparison's regularised runs
    penalties: tuple = (3e-4, 3e-3)      # size penalties (per unit) of the penalty grid
    l2: float = 1e-4                     # L2 weight on both weight matrices where L2 is on
    x0_penalty: float = 1.0              # weight of the "penalty = x0" runs (strong: beats the data)
    static_widths: tuple = (16, 32, 64, 128, 256)  # static grid (best width, plateau width)
    pretrain: tuple = (0, 150, 300)      # pre-training steps before the size is enabled (then `steps` more)
    gray_low: float = 1.0                # random slope: gray zone ~ U[gray_low, gray_high] units
    gray_high: float = 20.0
    plateau_tol: float = 0.01            # static plateau: first width within 1 point of the best
    headroom: int = 0                    # units above the start size (0: size_lr x steps + 2 gray zones)

    def __post_init__(self):
        for t in self.tasks:
            check_choice("tasks", t, TASKS)
        if "easy" not in self.tasks or "hard" not in self.tasks:
            raise ValueError(f"tasks={self.tasks!r} is not allowed; it must include 'easy' and 'hard'")
        check_positive("n_seeds", self.n_seeds, integer=True)
        if self.n_seeds < 2:
            raise ValueError(f"n_seeds={self.n_seeds!r} is not allowed; expected an integer >= 2 (intervals)")
        check_positive("steps", self.steps, integer=True)
        if self.steps < 8:
            raise ValueError(f"steps={self.steps!r} is not allowed; expected an integer >= 8 (quarters of the run)")
        check_positive("lr", self.lr)
        check_positive("batch_size", self.batch_size, integer=True)
        check_positive("size_lr", self.size_lr)
        if check_number("k", self.k) <= 0:
            raise ValueError(f"k={self.k!r} is not allowed; expected a slope > 0")
        for name in ("starts", "static_widths"):
            vals = list(getattr(self, name))
            for v in vals:
                if check_number(name, v) < 0:
                    raise ValueError(f"{name}={vals!r} is not allowed; a start size must be >= 0")
            if len(vals) < 3 or vals != sorted(set(vals)):
                raise ValueError(f"{name}={vals!r} is not allowed; expected >= 3 increasing sizes")
        if check_number("start", self.start) < 0:
            raise ValueError(f"start={self.start!r} is not allowed; a start size must be >= 0")
        check_positive("starts", [max(1, int(s)) for s in self.starts], integer=True)
        check_positive("static_widths", list(self.static_widths), integer=True)
        for name in ("sweep_penalty", "l2", "x0_penalty"):
            if check_number(name, getattr(self, name)) < 0:
                raise ValueError(f"{name}={getattr(self, name)!r} is not allowed; expected a number >= 0")
        pens = list(self.penalties)
        if len(pens) < 1:
            raise ValueError("penalties=() is not allowed; give at least one size penalty")
        for p in pens:
            if check_number("penalties", p) < 0:
                raise ValueError(f"penalties={pens!r} is not allowed; a penalty must be a number >= 0")
        pre = list(self.pretrain)
        check_positive("pretrain", pre, integer=True, allow_zero=True)
        if len(pre) < 2 or pre[0] != 0 or pre != sorted(set(pre)):
            raise ValueError(f"pretrain={pre!r} is not allowed; expected increasing steps starting at 0")
        if not 0 < check_number("gray_low", self.gray_low) <= check_number("gray_high", self.gray_high):
            raise ValueError(f"gray_low={self.gray_low!r}, gray_high={self.gray_high!r} are not allowed; "
                             "expected 0 < gray_low <= gray_high")
        check_fraction("plateau_tol", self.plateau_tol)
        check_positive("headroom", self.headroom, integer=True, allow_zero=True)

    @property
    def gray(self) -> float:
        """Gray-zone width in units (10 at k = 1)."""
        return GRAY / self.k

    @property
    def room(self) -> int:
        """Units a member has above its start size."""
        return self.headroom or int(round(self.size_lr * self.steps + 2 * self.gray))

    def bound(self, steps: int | None = None) -> float:
        """Adam's bound on the size's travel: size_lr x steps (units)."""
        return self.size_lr * (self.steps if steps is None else steps)


PROFILES = {
    "smoke": FlexConfig(n_seeds=2, steps=40, starts=(8, 16, 32), start=16, static_widths=(8, 16, 32),
                        pretrain=(0, 20), size_lr=0.5),
    "quick": FlexConfig(),
    # CPU, committed edition: 60 epochs (the journal's 15 and 30, and past its noisy loss
    # "after 30 epochs"), longer pre-training; the seeds from a power calculation on the
    # measured quick spread (calibration.replicates_for_power, checked by the tests). 60
    # epochs: at 40 one start-256 size of 8 still moved 28 % of Adam's bound over the last
    # quarter; measured to 120 epochs (easy, 2 seeds per start) the start-256 sizes used 7-21 %
    # from epoch 50 on. 200 units of room (20 gray zones: the no-penalty sizes travel ~100
    # units in 40 epochs and grow logarithmically; a size at its layer's width is flagged
    # under-trained by the adequacy check)
    "long": FlexConfig(n_seeds=8, steps=2400, headroom=200, pretrain=(0, 400, 800)),
    "full": FlexConfig(tasks=("easy", "hard", "digits"), n_seeds=8, steps=6000, size_lr=1.0,
                       starts=(16, 32, 64, 128, 256, 512, 1024, 2048, 4096), start=64,
                       static_widths=(16, 32, 64, 128, 256, 512, 1024, 2048),
                       pretrain=(0, 1500, 3000), lr=1e-3),
}
#: Largest values the book's runner accepts for integer knobs.
LIMITS = {"steps": 100_000, "n_seeds": 64, "starts": 8192, "start": 8192, "static_widths": 8192}
