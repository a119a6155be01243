"""Chapter 7 "Lottery tickets": profiles, experiments, figures and claims.

Everything trains through :mod:`overparam.pruning` (stacked masked networks, on the
engine's one loop). :func:`run_imp` runs one IMP stack holding every seed x criterion x
rewind point; the controls, supermasks, pruning at init, instability and transfer reuse
its masks. :func:`run_all` runs every section and returns the :class:`Results` bundle
that :func:`claims` judges.

Introduced in: Chapter 7
"""
from __future__ import annotations

from .verdicts import (RULES, Results, claims, measure,
                     pick_on_other_seeds)
from .experiments import (Bigger, Controls, ImpStage, Matching, Movement, matching, pct_remaining, unit_drift,
                          run_bigger, run_controls, run_imp, weight_movement)
from .extras import (ZHOU_MNIST_FC, AtInit, Instability, Malach, Supermasks, Transfer, run_instability,
                     run_malach, run_pai, run_supermasks, run_transfer)
from .figures import (plot_bigger, plot_groups, plot_instability, plot_movement, plot_tickets,
                      plot_transfer, summary_table, supermask_table)
from .limits import LIMITS, estimate_cost
from .profiles import DATASETS, PROFILES, SOURCE, TicketsConfig, load_data


def run_all(cfg: TicketsConfig, device="cpu", seed: int = 0) -> Results:
    """Every section of the chapter, in order (the notebook calls the pieces one by one).

    Introduced in: Chapter 7
    """
    data = load_data(cfg, device)
    stage = run_imp(cfg, data, seed)
    sm = run_supermasks(stage, data, seed)
    return Results(stage, run_controls(stage, data, seed), matching(stage), weight_movement(stage),
                   run_bigger(stage, data, seed), sm, run_malach(stage, sm, data, seed),
                   run_instability(stage, data, seed), run_pai(stage, data, seed) if cfg.pai else None,
                   run_transfer(stage, data, seed) if cfg.transfer else None)


__all__ = [
    "RULES", "Results", "claims", "measure", "pick_on_other_seeds",
    "Bigger", "Controls", "ImpStage", "Matching", "Movement", "matching", "pct_remaining", "run_bigger",
    "run_controls", "run_imp", "weight_movement", "unit_drift", "ZHOU_MNIST_FC", "AtInit", "Instability", "Malach",
    "Supermasks", "Transfer", "run_instability", "run_malach", "run_pai", "run_supermasks", "run_transfer",
    "plot_bigger", "plot_groups", "plot_instability", "plot_movement", "plot_tickets", "plot_transfer",
    "summary_table", "supermask_table", "DATASETS", "PROFILES", "SOURCE", "TicketsConfig", "load_data",
    "run_all", "LIMITS", "estimate_cost",
]
