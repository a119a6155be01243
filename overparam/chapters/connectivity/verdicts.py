"""Chapter 8's claims: per-pair measurements and the chapter's rules, declared once.

Every rule takes per-replicate measurements (one value per independently trained pair
index k: pair k of every grid cell shares no network with pair j) and returns a verdict.
:data:`RULES` declares each claim (stable key, text, source, rule, calibration);
:func:`measure` turns the results into the measurements, by key; :func:`claims` judges them.

Introduced in: Chapter 8
"""
from __future__ import annotations

import numpy as np

from ...calibration import normal
from ...claims import (AllOf, Above, Below, ClaimsTable, Judgement, Measured, Rule, RuleBook, Sim,
                       judge_all, proportion)
from ...config import Run
from .experiments import ConnectivityResults, FeatureResult, GridResult
from .profiles import PROFILES, SOURCE, TOL

GARIPOV = "Garipov et al. 2018; Draxler et al. 2018"
ENTEZARI = "Entezari et al. 2022; Ainsworth et al. 2023"
FRANKLE = "Frankle et al. 2020 (chapter 7's instability)"


# --------------------------------------------------------------------------- measurements


def width_needed(widths, barriers, tol: float = TOL) -> np.ndarray:
    """log2 of the width where a barrier-vs-width curve first falls to ``tol``.

    ``barriers`` (..., J) over increasing ``widths`` (J,). Between the last width above
    ``tol`` and the first at or below it, log barrier is interpolated linearly in log2
    width. NaN where the curve never reaches ``tol`` in the grid or is already there at
    the narrowest width (the crossing is outside the grid: censored, not guessed).

    Introduced in: Chapter 8
    """
    x = np.log2(np.asarray(widths, dtype=float))
    b = np.log(np.clip(np.asarray(barriers, dtype=float), 1e-6, None))
    lt = np.log(tol)
    flat = b.reshape(-1, b.shape[-1])
    out = np.full(flat.shape[0], np.nan)
    for r, row in enumerate(flat):
        hit = np.nonzero(row <= lt)[0]
        if not len(hit) or hit[0] == 0 or not np.all(np.isfinite(row[:hit[0] + 1])):
            continue
        j = hit[0]
        out[r] = x[j - 1] + (lt - row[j - 1]) / (row[j] - row[j - 1]) * (x[j] - x[j - 1])
    return out.reshape(b.shape[:-1])


def sqrt_n_exponent(grid: GridResult, tol: float = TOL) -> np.ndarray:
    """Per pair: the exponent b of width_needed ~ N^b between the smallest and largest N.

    ``(log2 w*(N_max) - log2 w*(N_min)) / log2(N_max / N_min)`` from the Bezier-curve
    barrier; 0.5 is the source's sqrt(N). Shape (P,); NaN where a crossing is censored.
    """
    ws = width_needed(grid.widths, np.moveaxis(grid.barrier("bezier"), 1, -1), tol)  # (I, P)
    return (ws[-1] - ws[0]) / np.log2(grid.n_trains[-1] / grid.n_trains[0])


def dropout_margin(grid: GridResult) -> np.ndarray:
    """Per pair: mean over cells of (larger dropout gap of the two ends - curve barrier)."""
    gap = grid.dropout_gap.max(-1)                       # (I, J, P)
    return (gap - grid.barrier("bezier")).mean((0, 1))


def connected_not_stable(grid: GridResult, tol: float = TOL) -> np.ndarray:
    """Per (pair, N, width) cell, (P, I*J) bool: curve barrier <= tol while an end's
    dropout gap is > tol (connected, but not tol-dropout-stable)."""
    conn = grid.barrier("bezier") <= tol
    unstable = grid.dropout_gap.max(-1) > tol
    both = conn & unstable                                   # (I, J, P)
    return np.moveaxis(both, -1, 0).reshape(both.shape[-1], -1)


def feature_width_gain(feat: FeatureResult, tol: float = TOL) -> np.ndarray:
    """Per pair: log2 w*(trained features) - log2 w*(raw inputs) (negative: less width needed)."""
    ws = width_needed(feat.widths, np.moveaxis(feat.barrier, 1, -1), tol)    # (Q, P)
    return ws[-1] - ws[0]


def tradeoff_slopes(feat: FeatureResult, tol: float = TOL) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: (slope of log2 w* on probe quality across levels, slope of the barrier on
    log2 width averaged over levels). Both negative: better features need less width, and
    more width lowers the barrier on every kind of feature."""
    ws = width_needed(feat.widths, np.moveaxis(feat.barrier, 1, -1), tol)    # (Q, P)
    q = feat.quality - feat.quality.mean()
    slope_q = (q[:, None] * (ws - ws.mean(0))).sum(0) / (q ** 2).sum()   # NaN if a level is censored
    x = np.log2(feat.widths.astype(float))
    xc = x - x.mean()
    slope_w = ((feat.barrier - feat.barrier.mean(1, keepdims=True)) * xc[None, :, None]).sum(1) / (xc ** 2).sum()
    return slope_q, slope_w.mean(0)


def widest(grid: GridResult, method: str) -> np.ndarray:
    """Per pair: training-loss barrier of ``method`` at the widest width and largest N."""
    return grid.barrier(method)[-1, -1]


# --------------------------------------------------------------------------- rules

#: A pooled share of connected-but-not-dropout-stable cells below this counts as "does
#: not hold in practice". Set so that both verdicts are reachable at the quick grid: with
#: no such cell among 32, the Wilson interval's upper end is 0.107.
SHARE_FLOOR = 0.15


def share_estimate(cells):
    """Wilson interval of the pooled share over all (pair, N, width) cells: a proportion
    whose interval never collapses to a point, even when every pair shows the same share."""
    return proportion(cells)


def _tradeoff(slopes) -> Judgement:
    """Compound: slope of width needed on feature quality < 0 and of barrier on width < 0;
    the estimate shown is the first part's, or the second's when the first is censored."""
    j = AllOf((Below(0.0), Below(0.0)))
    js = [p(x) for p, x in zip(j.parts, slopes)]
    shown = 0 if np.all(np.isfinite(slopes[0])) else 1
    return Judgement(judge_all([x.verdict for x in js]), js[shown].estimate)


class _Tradeoff(AllOf):
    def __call__(self, m) -> Judgement:
        return _tradeoff(m)


_SPREAD = "sd = the largest spread over pairs within one quick run (seeds 0, 1, 2)"
_CHANCE = "2 nats: a path rising to about chance-level loss (ln 10 = 2.3 nats)"


def _sim(mean0: float, eff: float, sd: float, note: str) -> Sim:
    """Normal per-pair values: null at ``mean0`` (the threshold), effect ``mean0 + eff``,
    against ``mean0 - eff`` (``eff`` signed towards the claim's side)."""
    return Sim(normal(mean0, sd), normal(mean0 + eff, sd), normal(mean0 - eff, sd), note)


def _binomial_cells(p: float, cells: int):
    return lambda rng, n, cfg: rng.random((n, cells)) < p


def _slopes(mq: float, mw: float, sq: float, sw: float):
    return lambda rng, n, cfg: (rng.normal(mq, sq, n), rng.normal(mw, sw, n))


RULES = RuleBook([
    Rule("path", "SGD solutions from different random initializations can be connected by a path with low loss",
         SOURCE, "trained Bezier curve, {at}: training-loss barrier (max along the path - mean of the ends), "
         f"95 % CI over pairs below {TOL} nats", Below(TOL),
         _sim(TOL, -TOL, 0.03, f"barrier at the threshold {TOL} / 0 / {2 * TOL} nats; sd 0.03 = the quick "
              "spread (0.007 at a mean of 0.025) scaled up to the threshold")),
    Rule("bend", "the low-loss path bends: the straight line between them has a higher barrier than a trained curve",
         f"{SOURCE}; {GARIPOV}", "{at}: straight-line minus curve barrier, CI above 0", Above(0.0),
         _sim(0.0, 2.0, 0.95, f"{_SPREAD}: 0.95 nats; effect {_CHANCE}")),
    Rule("sqrt", "width Omega(sqrt(N)) in the last two hidden layers suffices: the width needed grows no faster "
         "than sqrt(N)", SOURCE, "exponent b of width_needed ~ N^b (width where the curve barrier falls to "
         f"{TOL}, N {{n_min}} -> {{n_max}}); CI below 0.5", Below(0.5),
         _sim(0.5, -0.25, 0.08, f"{_SPREAD}: 0.08; exponent 0.5 / 0.25 (the bound holds with room) / 0.75")),
    Rule("grows", "the width needed for a low-loss path grows with N at all",
         "this book's control for the sqrt(N) bound", "the same exponent b; CI above 0", Above(0.0),
         _sim(0.0, 0.5, 0.08, f"{_SPREAD}: 0.08; exponent 0 / 0.5 (sqrt N) / -0.5")),
    Rule("dropout", "the condition is milder than dropout stability: dropout costs more loss than the path's barrier",
         SOURCE, "per pair, mean over (N, width) of [larger dropout gap of the two ends (half of both hidden "
         "layers dropped, rest x2, best of draws) - curve barrier]; CI above 0", Above(0.0),
         _sim(0.0, 1.0, 0.4, f"{_SPREAD}: 0.4 nats; effect 1 nat (the abstract gives no size)")),
    Rule("share", "satisfied in practical settings even when dropout stability does not hold", SOURCE,
         f"share of (pair, N, width) cells with curve barrier <= {TOL} and dropout gap > {TOL}, "
         f"pooled; Wilson CI above {SHARE_FLOOR}", Above(SHARE_FLOOR, proportion),
         Sim(_binomial_cells(SHARE_FLOOR, 8), _binomial_cells(0.4, 8), _binomial_cells(0.0, 8),
             f"the quick grid's 8 cells per pair, independent: p = {SHARE_FLOOR} (the floor) / 0.4 "
             "(the abstract gives no size) / 0")),
    Rule("features", "with linearly separable features almost no over-parameterization is needed", SOURCE,
         "N={n_feat}: log2 width needed on a trained extractor's features (probe accuracy {q_hi:.2f}) "
         "minus on raw inputs ({q_lo:.2f}); CI below 0", Below(0.0),
         _sim(0.0, -1.0, 0.18, f"{_SPREAD}: 0.18 (log2 width); effect -1: half the width on separable features")),
    Rule("tradeoff", "a trade-off between the quality of features and the over-parameterization", SOURCE,
         "compound: slope of log2 width needed on probe quality < 0 and slope of the curve barrier "
         "on log2 width, mean over feature levels, < 0; shown: the {shown}", _Tradeoff((Below(0.0), Below(0.0))),
         Sim(_slopes(0.0, -0.1, 0.46, 0.036), _slopes(-2.0, -0.1, 0.46, 0.036), _slopes(2.0, 0.1, 0.46, 0.036),
             f"{_SPREAD}: 0.46 and 0.036; null: quality slope 0 while width helps (-0.1 nats per doubling); "
             "effect: slope -2 (probe 0.5 -> 1.0 halves the width needed)")),
    Rule("wm", "weight matching lowers the straight-line barrier", ENTEZARI,
         "{at}: straight-line barrier minus the line's after weight matching; CI above 0", Above(0.0),
         _sim(0.0, 2.0, 1.16, f"{_SPREAD}: 1.16 nats; effect {_CHANCE}")),
    Rule("entezari", "after permutation alignment, the straight-line barrier of wide networks is about zero",
         ENTEZARI, f"{{at}}: straight-line barrier after weight matching, CI below {TOL} nats", Below(TOL),
         _sim(TOL, -TOL, 0.03, f"as the low-loss-path rule: barrier {TOL} / 0 / {2 * TOL} nats, sd 0.03")),
    Rule("same", "two trainings from one start are better connected than independent starts", FRANKLE,
         "N={n_max}: straight-line barrier of independent pairs minus pairs trained from one start with "
         "different batch orders, mean over widths; CI above 0", Above(0.0),
         _sim(0.0, 2.0, 0.82, f"{_SPREAD}: 0.82 nats; effect {_CHANCE}")),
], replicates=lambda cfg: cfg.n_pairs, not_tested=[
    ("the condition is *provably* milder than dropout stability", "a theorem; the table measures the comparison on trained pairs"),
    ("the condition connects low-loss paths to the memorization capacity of neural nets",
     "a proof step; no measurement of memorization capacity is made here"),
    ("Omega(sqrt(N)) suffices 'under generic assumptions on the features at each layer'",
     "the assumptions are not checked on the trained networks; the exponent is measured instead"),
    ("deep networks in practice (the paper's experiments)",
     "the paper's data sets and networks are not in the abstract; MLPs on MNIST-1D stand in"),
])
TEXT = {r.key: r.claim for r in RULES}
NOT_TESTED = RULES.not_tested


def measure(results: ConnectivityResults) -> dict:
    """Per-pair measurements of every rule, by rule key (what the judges take).

    Introduced in: Chapter 8
    """
    g, f = results.grid, results.features
    n_max, w_max = int(g.n_trains[-1]), int(g.widths[-1])
    at = {"at": f"N={n_max}, width {w_max}"}
    b = sqrt_n_exponent(g)
    slopes = tradeoff_slopes(f)
    shown = "first" if np.all(np.isfinite(slopes[0])) else \
        "second (the first is censored: a width needed outside the grid)"
    m = {
        "path": Measured(widest(g, "bezier"), at),
        "bend": Measured(widest(g, "line") - widest(g, "bezier"), at),
        "sqrt": Measured(b, {"n_min": int(g.n_trains[0]), "n_max": n_max}),
        "grows": b,
        "dropout": dropout_margin(g),
        "share": connected_not_stable(g),
        "features": Measured(feature_width_gain(f), {"n_feat": f.n_train, "q_hi": f.quality[-1],
                                                     "q_lo": f.quality[0]}),
        "tradeoff": Measured(slopes, {"shown": shown}),
        "wm": Measured(widest(g, "line") - widest(g, "weight"), at),
        "entezari": Measured(widest(g, "weight"), at),
    }
    if not np.all(np.isnan(g.curves["same_start"]["train_loss"][-1])):
        m["same"] = Measured((g.barrier("line")[-1] - g.barrier("same_start")[-1]).mean(0), {"n_max": n_max})
    return m


def claims(results: ConnectivityResults, run: Run) -> ClaimsTable:
    """The chapter's claims table, every verdict computed by a rule of :data:`RULES`.

    Introduced in: Chapter 8
    """
    return RULES.table(measure(results), run)
