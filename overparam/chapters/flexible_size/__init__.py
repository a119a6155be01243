"""Chapter 5: can a network learn its own width? The journal's flexible size re-measured.

A hidden layer whose unit i is scaled by f_i = sigmoid(k (x0 - i)) learns its size x0 with
its weights, under a size penalty (:mod:`overparam.sizing`). The chapter re-runs the
journal's October-November 2017 entries ("Implement a metric-less resizing" through "Try to
break the plateau"): does the size converge whatever the start, does a flexible net match a
static one, why does the size plateau (L2), and does it keep growing without L2?
Source: a 2017 research journal (cite key ``journal2017activations``).

Layout: :mod:`.profiles` (PROFILES), :mod:`.experiments` (runs and result dataclasses),
:mod:`.figures` (plot_*), :mod:`.verdicts` (:data:`RULES`, every claim declared once,
:func:`measure`, :func:`claims`).
"""
from .verdicts import RULES, claims, measure
from .experiments import *  # noqa: F401,F403
from .experiments import __all__ as _exp_all
from .figures import *  # noqa: F401,F403
from .figures import __all__ as _fig_all
from .limits import LIMITS, estimate_cost
from .profiles import PROFILES, SOURCE, TASKS, FlexConfig

__all__ = ["PROFILES", "LIMITS", "estimate_cost", "SOURCE", "TASKS", "FlexConfig", "RULES",
           "claims", "measure",
           *_exp_all, *_fig_all]
