"""Chapter 8 "Connectivity of solutions": when are two SGD solutions joined by a low-loss path?

Source: the abstract of Nguyen (2021), "On Connectivity of Solutions in Deep Learning: The
Role of Over-parameterization and Feature Quality". Pairs of MLPs trained from independent
starts on MNIST-1D; paths between them (straight line, aligned lines, trained Bezier
curve, tools in :mod:`overparam.landscape` and :mod:`overparam.alignment`); their barriers
against width, training-set size N, dropout stability and feature quality.

- :mod:`.profiles` – :data:`PROFILES` (smoke / quick / long / full) of :class:`ConnectivityConfig`
- :mod:`.experiments` – :func:`connectivity_grid` (typed results); :mod:`.features` –
  :func:`feature_grid`; :mod:`.training` – :func:`train_networks`, :class:`Plateau`
- :mod:`.figures` – ``plot_*``
- :mod:`.verdicts` – :data:`RULES` (every claim, declared once), :func:`measure`, :func:`claims`

Introduced in: Chapter 8
"""
from .verdicts import RULES, claims, measure, width_needed
from .experiments import (METHODS, ConnectivityResults, GridResult, Task, connectivity_grid, load_task,
                          pair_paths)
from .features import FeatureResult, feature_grid
from .training import Plateau, train_networks
from .figures import plot_barriers, plot_dropout, plot_features, plot_paths, plot_sqrt_n
from .limits import LIMITS, estimate_cost
from .profiles import PROFILES, SOURCE, TOL, ConnectivityConfig

__all__ = [
    "RULES", "claims", "measure", "width_needed", "METHODS", "ConnectivityResults", "FeatureResult",
    "GridResult", "Task", "connectivity_grid", "feature_grid", "load_task", "pair_paths",
    "train_networks", "Plateau", "plot_barriers", "plot_dropout", "plot_features", "plot_paths",
    "plot_sqrt_n", "PROFILES", "SOURCE", "TOL", "ConnectivityConfig",
    "LIMITS", "estimate_cost",
]
