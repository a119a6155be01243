"""Chapter 2 "Hessian spectra": the Sagun 2017 talk's experiments on Gaussian blobs, re-run.

A 2-hidden-layer ReLU MLP is trained with constant-step SGD on k Gaussian blobs in d
dimensions (the talk: k = 50, d = 100), and the Hessian of the training loss at the end
of training is measured with :mod:`overparam.hessian`: its bulk and outliers, how the
outliers follow k, what width and batch size do, the Gauss-Newton split, the
fluctuations of the top eigenvalue over retrainings, SGD vs GD (small vs large nets, on
MNIST-1D) and the line from a large-batch solution to its small-batch continuation.

- :mod:`.profiles`: :class:`SpectraConfig` and :data:`PROFILES`
- :mod:`.training`: stacked SGD through the engine's loop, the blob task, spectrum helpers
- :mod:`.experiments`: one function per section, each returning a result dataclass
- :mod:`.figures`: ``plot_*`` and the SGD/GD table
- :mod:`.verdicts`: the rules :data:`RULES`, :func:`measure` and :func:`claims`
"""
from .verdicts import RULES, claims, count_ratio, loss_spread, measure
from .experiments import (TALK_MISCLASSIFICATIONS, BulkResult, Curves, FluctuationResult,
                          GaussNewtonResult, LargeSmallResult, SgdGdResult, SpectraResults,
                          SweepResult, bulk_and_outliers, gauss_newton_split, heldout_loglik_diff,
                          large_then_small, match_train_error, outliers_vs_classes, sgd_vs_gd,
                          top_eigenvalue_fluctuations, top_vs_batch, zeros_vs_width)
from .figures import (plot_bulk, plot_fluctuations, plot_gauss_newton, plot_line, plot_sgd_gd,
                      plot_sweep, sgd_gd_table)
from .profiles import DATASETS, PROFILES, SpectraConfig
from .limits import LIMITS, estimate_cost
from .training import (Trained, blob_arch, count_outliers, outlier_window, sgd_stack, slopes,
                       spectrum_of, stacked_loss, top_of, train_blobs)

__all__ = [
    "RULES", "claims", "count_ratio", "loss_spread", "measure", "TALK_MISCLASSIFICATIONS",
    "BulkResult", "Curves", "FluctuationResult", "GaussNewtonResult", "LargeSmallResult",
    "SgdGdResult", "SpectraResults", "SweepResult", "bulk_and_outliers", "gauss_newton_split",
    "heldout_loglik_diff", "large_then_small", "match_train_error", "outliers_vs_classes",
    "sgd_vs_gd", "top_eigenvalue_fluctuations", "top_vs_batch", "zeros_vs_width", "plot_bulk",
    "plot_fluctuations", "plot_gauss_newton", "plot_line", "plot_sgd_gd", "plot_sweep",
    "sgd_gd_table", "DATASETS", "LIMITS", "estimate_cost", "PROFILES", "SpectraConfig",
    "Trained", "blob_arch",
    "count_outliers", "outlier_window", "sgd_stack", "slopes", "spectrum_of", "stacked_loss",
    "top_of", "train_blobs",
]
