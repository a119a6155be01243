"""Pruning inside stacked networks: masks, IMP with rewinding, criteria, supermasks, SNIP/GraSP.

Many networks (seeds x tickets x sparsities x criteria) are stacked along a leading member
dimension ``M`` and trained as one batched computation through the engine's one loop
(:func:`overparam.engine.loop.fit`, with gradient masks, snapshots for rewinding and
evaluation callbacks). Networks are the model family of :mod:`overparam.models`
(:class:`~overparam.models.Arch`, ``models.init_stack``, ``models.forward``). Masks live in
the computation, not in ``torch.nn.utils.prune`` hooks: a masked network starts with its
masked weights at zero and every gradient is multiplied by the mask, so masked weights stay
exactly zero (tested; ``benchmarks/pruning.py`` measures the cost).

- :mod:`.masks` – :data:`CRITERIA`, :func:`criterion_scores`, :func:`prune` (layer-wise or
  global), :func:`random_masks_like`, :func:`density`, :func:`rewind`, movement ratios.
- :mod:`.training` – :class:`SplitData`, :class:`StepConfig`, :func:`train_stack`,
  :func:`imp` (iterative magnitude pruning with rewinding to iteration 0 or j).
- :mod:`.supermask` – :func:`signed_constant`, :func:`train_supermask`.
- :mod:`.at_init` – :func:`snip_scores`, :func:`grasp_scores`, :func:`prune_at_init`,
  :func:`instability` (error barrier between two copies; Frankle et al. 2020).

Introduced in: Chapter 7
"""
from ..models import Arch
from .at_init import (InstabilityResult, grasp_scores, instability, instability_vs_rewind, prune_at_init,
                      snip_scores)
from .masks import (CRITERIA, SCOPES, apply_masks, check_rate, criterion_scores, density, mask_scores,
                    matched_movement_ratio, movement_ratio, ones_masks, prune, random_masks_like, repeat_params,
                    rewind, select, stack_rounds, weights)
from .supermask import (ESTIMATORS, HE_GAIN, SupermaskRun, dwr_scale, he_scale, signed_constant, supermask,
                        train_supermask)
from .training import (OPTIMIZERS, ImpResult, SplitData, StepConfig, TrainRun, evaluate, imp, iterations_to,
                       train_loop, train_stack)

__all__ = [
    "Arch", "InstabilityResult", "grasp_scores", "instability", "instability_vs_rewind", "prune_at_init",
    "snip_scores", "CRITERIA", "SCOPES", "apply_masks", "check_rate", "criterion_scores", "density",
    "mask_scores", "matched_movement_ratio", "movement_ratio", "ones_masks", "prune", "random_masks_like",
    "repeat_params", "rewind", "select", "stack_rounds", "weights", "ESTIMATORS", "HE_GAIN", "SupermaskRun",
    "he_scale", "dwr_scale", "signed_constant", "supermask", "train_supermask", "OPTIMIZERS", "ImpResult", "SplitData",
    "StepConfig", "TrainRun", "evaluate", "imp", "iterations_to", "train_loop", "train_stack",
]
