"""Chapter 1: over-parameterization as exploration (the 1101 CNN and the AND net).

Public API: :data:`PROFILES`, the experiments (:func:`run_chapter` and the sweeps it
runs), the figures (``plot_*``), and the claims: :data:`RULES` (every claim, declared once), :func:`measure`,
:func:`claims`.
Source: rom1mouret/exploration.
"""
from .profiles import PROFILES, SOURCE, ExplorationConfig
from .limits import LIMITS, estimate_cost
from .sweeps import (BASELINES, CANDIDATES, SweepResult, accuracy_1101, and_skip_rule, macro_f1,
                     LeakyMLP1, SmoothMaxCNN, sweep_and, sweep_cnn, train_online, train_state,
                     validation_1101)
from .analyses import (KernelAnalysis, draws_estimate, handset_1101_accuracy, handset_and_f1,
                       handset_and_f1_exact, handset_and_margin, kernel_analysis, more_draws)
from .experiments import ExplorationResults, OptimizerStudy, optimizer_study, pick_best, run_chapter
from .verdicts import (DRAWS_TOL, NOT_TESTED, OFTEN, RULES, claims, initial_angle, matched_random_conv, measure,
                       optimizer_measurements, pooled_draws, rule_hyper, rule_more_draws,
                       rule_optimizer)
from .figures import (flow_table, handset_summary, kernel_summary, optimizer_table, plot_and_sweep,
                      plot_cnn_sweep, plot_kernels, plot_more_draws, plot_optimizers, sweep_table)
