"""The bundle of Chapter 3's results that :func:`~.claims.claims` judges."""
from __future__ import annotations

from dataclasses import dataclass

from .closed_form import LinearSystemResult, RandomFeaturesResult
from .experiments import EMCResult, SampleSweep, WidthSweep
from .fitting import FitResult
from .generalization import GeneralizationProbes
from .profiles import DoubleDescentConfig


@dataclass
class DoubleDescentResults:
    """Everything the chapter measured (None: that experiment was not run).

    Introduced in: Chapter 3
    """

    cfg: DoubleDescentConfig
    rf: RandomFeaturesResult
    ls: LinearSystemResult | None
    sweep: WidthSweep
    emc: EMCResult | None = None
    samples: SampleSweep | None = None
    random_labels: FitResult | None = None
    teacher: FitResult | None = None
    probes: GeneralizationProbes | None = None
