"""Chapter 6, sparsifiers: L1-penalised liveness gates that remove hidden units while the
network trains (:mod:`overparam.gates`), on easy and hard MNIST-1D; the starting size;
growth by blocks on Add10; compress training against static networks for the same
wall-clock time on several data sets; the memory of a gated CNN; and, beyond the journal,
L1 gates against network slimming and hard-concrete L0 gates (:mod:`.others`).

The chapter's shape: :data:`PROFILES` (:mod:`.profiles`); experiments returning result
dataclasses (:mod:`.experiments`, bundled in :class:`SparsifierResults`); figures
(:mod:`.figures`); :func:`claims`, :func:`measure` and the rules :data:`RULES` (:mod:`.verdicts`).
"""
from .verdicts import RULES, SparsifierResults, claims, measure
from .experiments import (CompressResult, GrowthResult, MemoryResult, SweepResult, compress_vs_static,
                          growth_by_blocks, lambda_sweep, load_set, member_seeds, memory_compare,
                          slow_gates, start_sweep)
from .figures import (plot_compress, plot_growth, plot_memory, plot_pareto, plot_starts, plot_sweep,
                      plot_training)
from .others import METHODS, ParetoResult, compare_sparsifiers
from .limits import LIMITS, TIME_EXPONENTS, estimate_cost
from .profiles import COMPRESS_SETS, PROFILES, SOURCE, SparsifierConfig

__all__ = [
    "RULES", "SparsifierResults", "claims", "measure", "CompressResult", "GrowthResult",
    "MemoryResult", "SweepResult", "compress_vs_static", "growth_by_blocks", "lambda_sweep",
    "load_set", "member_seeds", "memory_compare", "slow_gates", "start_sweep", "plot_compress",
    "plot_growth", "plot_memory", "plot_starts", "plot_sweep", "plot_training", "COMPRESS_SETS",
    "PROFILES", "SOURCE", "SparsifierConfig", "plot_pareto", "METHODS", "ParetoResult",
    "compare_sparsifiers", "LIMITS", "TIME_EXPONENTS", "estimate_cost",
]
