"""Chapter 4: can a layer tell whether it is too big? Variance metrics re-measured.

One-hidden-layer ReLU MLPs over a grid of widths x seeds are trained per task; each
member's hidden layer is measured with the layer-local metrics of :mod:`overparam.metrics`
(activation variance, Shapiro normality, total variance, dead units, EM mixtures, PCA) and
the goodness-of-fit tools of :mod:`overparam.distributions`. The chapter compares what
each metric says about size with where the test accuracy stops improving, on an easy and
a hard task of the same shape, and ends with the journal's conjecture that no layer-local
metric can decide size. Source: a 2017 research journal (cite key ``journal2017activations``).

Layout: :mod:`.profiles` (PROFILES), :mod:`.experiments` (sweeps and result dataclasses),
:mod:`.figures` (plot_*), :mod:`.judges` (bands and curve read-outs), :mod:`.verdicts`
(:data:`RULES`, every claim declared once;
:func:`measure`; :func:`claims`).
"""
from .verdicts import (NOT_TESTED, RULES, claims, conjecture_scores, linear_curvature,
                       log_curvature, measure)
from .experiments import *  # noqa: F401,F403
from .experiments import __all__ as _exp_all
from .figures import *  # noqa: F401,F403
from .figures import __all__ as _fig_all
from .limits import LIMITS, estimate_cost
from .profiles import PROFILES, SOURCE, TASKS, VarianceConfig, sqrt2_grid

__all__ = ["PROFILES", "LIMITS", "estimate_cost", "SOURCE",
           "TASKS", "VarianceConfig", "sqrt2_grid", "RULES", "NOT_TESTED",
           "claims", "measure", "conjecture_scores", "linear_curvature", "log_curvature", *_exp_all, *_fig_all]
