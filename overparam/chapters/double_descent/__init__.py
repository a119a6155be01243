"""Chapter 3, double descent: random features in closed form, the linear-system view, and
model-wise / epoch-wise / sample-wise sweeps of MLPs on MNIST-1D with label noise, plus
how easily networks fit (random labels, a teacher's labels), and probes of what generalizes
(input sensitivity, a sharpness proxy, weight decay at the peak: :mod:`.generalization`).

The chapter's shape: :data:`PROFILES` (:mod:`.profiles`); experiments returning result
dataclasses (:mod:`.closed_form`, :mod:`.experiments`, :mod:`.fitting`, bundled in
:class:`DoubleDescentResults`); figures (:mod:`.figures`); the rules :data:`RULES`, :func:`measure` and :func:`claims`
(:mod:`.verdicts`, judges in :mod:`.judges`). The MLP sweeps run on the
engine's :func:`~overparam.engine.sweep.train_grid` and save every grid point in the
chapter's result store, so a killed run resumes.
"""
from .judges import crossfit, crossfit_estimate
from .verdicts import NOT_TESTED, RULES, claims, measure, train_state
from .closed_form import (LinearSystemResult, RandomFeaturesResult, linear_system_sweep,
                          random_features_sweep, ridge_fit)
from .experiments import (EMCResult, SampleSweep, WidthSweep, bias_variance, classical_min_index,
                          crossing_position, divergence_report, emc_log2, emc_log2_grid, emc_slope, emc_sweep,
                          interpolation_index, member_seeds, mnist1d_sets, n_params_mlp,
                          peak_index, peak_position, sample_sweep, width_sweep)
from .figures import (linear_system_summary, plot_bias_variance, plot_emc, plot_epochwise,
                      plot_fits, plot_linear_system, plot_neyshabur, plot_probes, plot_random_features,
                      plot_sample_sweep, plot_width_sweep, random_features_summary, width_table)
from .fitting import FitResult, random_label_fit, teacher_labels, teacher_student_fit
from .generalization import (GeneralizationProbes, WeightDecayArm, generalization_probes, held_out_peaks,
                             input_sensitivity, perturbed_loss_rise, weight_decay_arm)
from .limits import LIMITS, estimate_cost
from .profiles import PROFILES, SOURCE, DoubleDescentConfig, results_store
from .results import DoubleDescentResults

__all__ = [
    "RULES", "NOT_TESTED", "measure", "claims", "crossfit", "crossfit_estimate", "train_state",
    "LinearSystemResult", "RandomFeaturesResult", "linear_system_sweep", "random_features_sweep",
    "ridge_fit", "EMCResult", "SampleSweep", "WidthSweep", "bias_variance", "classical_min_index",
    "crossing_position", "divergence_report", "emc_log2", "emc_log2_grid", "emc_slope", "emc_sweep", "interpolation_index",
    "member_seeds", "mnist1d_sets", "n_params_mlp", "peak_index", "peak_position",
    "sample_sweep", "width_sweep", "linear_system_summary", "plot_bias_variance", "plot_emc",
    "plot_epochwise", "plot_fits", "plot_linear_system", "plot_neyshabur",
    "plot_random_features", "plot_sample_sweep", "plot_width_sweep", "random_features_summary",
    "width_table", "FitResult", "random_label_fit", "teacher_labels", "teacher_student_fit",
    "PROFILES", "SOURCE", "DoubleDescentConfig", "results_store", "DoubleDescentResults",
    "LIMITS", "estimate_cost", "GeneralizationProbes", "WeightDecayArm", "generalization_probes",
    "held_out_peaks", "input_sensitivity", "perturbed_loss_rise", "weight_decay_arm", "plot_probes",
]
