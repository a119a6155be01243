"""Chapter 8's claims: per-pair measurements, one pure rule per claim, and their calibration.

Every rule takes per-replicate measurements (one value per independently trained pair
index k: pair k of every grid cell shares no network with pair j) and returns a verdict;
:func:`claims` computes the measurements from the results and applies the rules;
:data:`CHECKS` calibrates every rule (null rate, power) at the quick profile's number of
pairs.

Introduced in: Chapter 8
"""
from __future__ import annotations

import numpy as np

from ...calibration import Check, normal_seeds
from ...claims import ClaimsTable, judge_above, judge_all, judge_below, make_claim
from ...config import Run
from ...stats import mean_ci, wilson_ci
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


# --------------------------------------------------------------------------- rules (pure)


def rule_low_loss_path(barriers) -> str:
    """Reproduced when the curve barrier's interval lies below TOL."""
    return judge_below(mean_ci(barriers), TOL)


def rule_positive(diffs) -> str:
    """Reproduced when the interval of a per-pair difference lies above 0."""
    return judge_above(mean_ci(diffs), 0.0)


def rule_negative(diffs) -> str:
    """Reproduced when the interval of a per-pair difference lies below 0."""
    return judge_below(mean_ci(diffs), 0.0)


def rule_sqrt_n(exponents) -> str:
    """Reproduced when the exponent of width_needed ~ N^b lies below 1/2 (sqrt(N) suffices)."""
    return judge_below(mean_ci(exponents), 0.5)


#: A pooled share of connected-but-not-dropout-stable cells below this counts as "does
#: not hold in practice". Set so that both verdicts are reachable at the quick grid: with
#: no such cell among 32, the Wilson interval's upper end is 0.107.
SHARE_FLOOR = 0.15


def share_estimate(cells):
    """Wilson interval of the pooled share over all (pair, N, width) cells: a proportion
    whose interval never collapses to a point, even when every pair shows the same share."""
    cells = np.asarray(cells, dtype=bool)
    return wilson_ci(int(cells.sum()), cells.size)


def rule_share(cells) -> str:
    """Reproduced when the pooled share's Wilson interval lies above SHARE_FLOOR; not
    reproduced when it lies below."""
    return judge_above(share_estimate(cells), SHARE_FLOOR)


def rule_tradeoff(slopes) -> str:
    """Compound: slope of width needed on feature quality < 0 and of barrier on width < 0."""
    slope_q, slope_w = slopes
    return judge_all([judge_below(mean_ci(slope_q), 0.0), judge_below(mean_ci(slope_w), 0.0)])


# --------------------------------------------------------------------------- the table

TEXT = {
    "path": "SGD solutions from different random initializations can be connected by a path with low loss",
    "bend": "the low-loss path bends: the straight line between them has a higher barrier than a trained curve",
    "sqrt": "width Omega(sqrt(N)) in the last two hidden layers suffices: the width needed grows no faster than sqrt(N)",
    "grows": "the width needed for a low-loss path grows with N at all",
    "dropout": "the condition is milder than dropout stability: dropout costs more loss than the path's barrier",
    "share": "satisfied in practical settings even when dropout stability does not hold",
    "features": "with linearly separable features almost no over-parameterization is needed",
    "tradeoff": "a trade-off between the quality of features and the over-parameterization",
    "wm": "weight matching lowers the straight-line barrier",
    "entezari": "after permutation alignment, the straight-line barrier of wide networks is about zero",
    "same": "two trainings from one start are better connected than independent starts",
}

NOT_TESTED = [
    ("the condition is *provably* milder than dropout stability", "a theorem; the table measures the comparison on trained pairs"),
    ("the condition connects low-loss paths to the memorization capacity of neural nets",
     "a proof step; no measurement of memorization capacity is made here"),
    ("Omega(sqrt(N)) suffices 'under generic assumptions on the features at each layer'",
     "the assumptions are not checked on the trained networks; the exponent is measured instead"),
    ("deep networks in practice (the paper's experiments)",
     "the paper's data sets and networks are not in the abstract; MLPs on MNIST-1D stand in"),
]


def _row(key: str, source: str, values, verdict: str, rule: str, run: Run):
    return make_claim(TEXT[key], source, mean_ci(values), verdict, rule, run.profile, run.seed)


def claims(results: ConnectivityResults, run: Run) -> ClaimsTable:
    """The chapter's claims table, every verdict computed by a rule of this module.

    Introduced in: Chapter 8
    """
    g, f = results.grid, results.features
    n_max, w_max = int(g.n_trains[-1]), int(g.widths[-1])
    at = f"N={n_max}, width {w_max}"
    curve = widest(g, "bezier")
    bend = widest(g, "line") - curve
    b = sqrt_n_exponent(g)
    margin = dropout_margin(g)
    share = connected_not_stable(g)
    gain = feature_width_gain(f)
    slopes = tradeoff_slopes(f)
    shown_q = bool(np.all(np.isfinite(slopes[0])))
    wm = widest(g, "line") - widest(g, "weight")
    aligned = widest(g, "weight")
    rows = [
        _row("path", SOURCE, curve, rule_low_loss_path(curve),
             f"trained Bezier curve, {at}: training-loss barrier (max along the path - mean of the ends), "
             f"95 % CI over pairs below {TOL} nats", run),
        _row("bend", f"{SOURCE}; {GARIPOV}", bend, rule_positive(bend),
             f"{at}: straight-line minus curve barrier, CI above 0", run),
        _row("sqrt", SOURCE, b, rule_sqrt_n(b),
             f"exponent b of width_needed ~ N^b (width where the curve barrier falls to {TOL}, "
             f"N {int(g.n_trains[0])} -> {n_max}); CI below 0.5", run),
        _row("grows", "issue 15: is the bound much more than needed?", b, rule_positive(b),
             "the same exponent b; CI above 0", run),
        _row("dropout", SOURCE, margin, rule_positive(margin),
             "per pair, mean over (N, width) of [larger dropout gap of the two ends (half of both hidden "
             "layers dropped, rest x2, best of draws) - curve barrier]; CI above 0", run),
        make_claim(TEXT["share"], SOURCE, share_estimate(share), rule_share(share),
                   f"share of (pair, N, width) cells with curve barrier <= {TOL} and dropout gap > {TOL}, "
                   f"pooled; Wilson CI above {SHARE_FLOOR}", run.profile, run.seed),
        _row("features", SOURCE, gain, rule_negative(gain),
             f"N={f.n_train}: log2 width needed on a trained extractor's features (probe accuracy "
             f"{f.quality[-1]:.2f}) minus on raw inputs ({f.quality[0]:.2f}); CI below 0", run),
        _row("tradeoff", SOURCE, slopes[0] if shown_q else slopes[1], rule_tradeoff(slopes),
             "compound: slope of log2 width needed on probe quality < 0 and slope of the curve barrier "
             "on log2 width, mean over feature levels, < 0; shown: the "
             + ("first" if shown_q else "second (the first is censored: a width needed outside the grid)"), run),
        _row("wm", ENTEZARI, wm, rule_positive(wm),
             f"{at}: straight-line barrier minus the line's after weight matching; CI above 0", run),
        _row("entezari", ENTEZARI, aligned, rule_low_loss_path(aligned),
             f"{at}: straight-line barrier after weight matching, CI below {TOL} nats", run),
    ]
    if not np.all(np.isnan(g.curves["same_start"]["train_loss"][-1])):
        same = (g.barrier("line")[-1] - g.barrier("same_start")[-1]).mean(0)
        rows.append(_row("same", FRANKLE, same, rule_positive(same),
                         f"N={n_max}: straight-line barrier of independent pairs minus pairs trained from "
                         "one start with different batch orders, mean over widths; CI above 0", run))
    return ClaimsTable(rows, not_tested=NOT_TESTED)


# --------------------------------------------------------------------------- calibration

_P = PROFILES["quick"].n_pairs


def _binomial_cells(p: float, cells: int, n: int):
    return lambda rng: rng.random((n, cells)) < p


def _slopes(mq: float, mw: float, sq: float, sw: float, n: int):
    return lambda rng: (rng.normal(mq, sq, n), rng.normal(mw, sw, n))


_SPREAD = "sd = the largest spread over pairs within one quick run (seeds 0, 1, 2)"
_CHANCE = "2 nats: a path rising to about chance-level loss (ln 10 = 2.3 nats)"

CHECKS = [
    Check(TEXT["path"], rule_low_loss_path, normal_seeds(TOL, 0.03, _P), normal_seeds(0.0, 0.03, _P),
          normal_seeds(2 * TOL, 0.03, _P), _P,
          f"barrier at the threshold {TOL} / 0 / {2 * TOL} nats; sd 0.03 = the quick spread (0.007 at "
          "a mean of 0.025) scaled up to the threshold"),
    Check(TEXT["bend"], rule_positive, normal_seeds(0.0, 0.95, _P), normal_seeds(2.0, 0.95, _P),
          normal_seeds(-2.0, 0.95, _P), _P, f"{_SPREAD}: 0.95 nats; effect {_CHANCE}"),
    Check(TEXT["sqrt"], rule_sqrt_n, normal_seeds(0.5, 0.08, _P), normal_seeds(0.25, 0.08, _P),
          normal_seeds(0.75, 0.08, _P), _P,
          f"{_SPREAD}: 0.08; exponent 0.5 / 0.25 (the bound holds with room) / 0.75"),
    Check(TEXT["grows"], rule_positive, normal_seeds(0.0, 0.08, _P), normal_seeds(0.5, 0.08, _P),
          normal_seeds(-0.5, 0.08, _P), _P, f"{_SPREAD}: 0.08; exponent 0 / 0.5 (sqrt N) / -0.5"),
    Check(TEXT["dropout"], rule_positive, normal_seeds(0.0, 0.4, _P), normal_seeds(1.0, 0.4, _P),
          normal_seeds(-1.0, 0.4, _P), _P, f"{_SPREAD}: 0.4 nats; effect 1 nat (the abstract gives no size)"),
    Check(TEXT["share"], rule_share, _binomial_cells(SHARE_FLOOR, 8, _P), _binomial_cells(0.4, 8, _P),
          _binomial_cells(0.0, 8, _P), _P,
          f"the quick grid's 8 cells per pair, independent: p = {SHARE_FLOOR} (the floor) / 0.4 (the abstract gives no size) / 0"),
    Check(TEXT["features"], rule_negative, normal_seeds(0.0, 0.18, _P), normal_seeds(-1.0, 0.18, _P),
          normal_seeds(1.0, 0.18, _P), _P,
          f"{_SPREAD}: 0.18 (log2 width); effect -1: half the width on separable features"),
    Check(TEXT["tradeoff"], rule_tradeoff, _slopes(0.0, -0.1, 0.46, 0.036, _P), _slopes(-2.0, -0.1, 0.46, 0.036, _P),
          _slopes(2.0, 0.1, 0.46, 0.036, _P), _P,
          f"{_SPREAD}: 0.46 and 0.036; null: quality slope 0 while width helps (-0.1 nats per doubling); "
          "effect: slope -2 (probe 0.5 -> 1.0 halves the width needed)"),
    Check(TEXT["wm"], rule_positive, normal_seeds(0.0, 1.16, _P), normal_seeds(2.0, 1.16, _P),
          normal_seeds(-2.0, 1.16, _P), _P, f"{_SPREAD}: 1.16 nats; effect {_CHANCE}"),
    Check(TEXT["entezari"], rule_low_loss_path, normal_seeds(TOL, 0.03, _P), normal_seeds(0.0, 0.03, _P),
          normal_seeds(2 * TOL, 0.03, _P), _P,
          f"as the low-loss-path rule: barrier {TOL} / 0 / {2 * TOL} nats, sd 0.03"),
    Check(TEXT["same"], rule_positive, normal_seeds(0.0, 0.82, _P), normal_seeds(2.0, 0.82, _P),
          normal_seeds(-2.0, 0.82, _P), _P, f"{_SPREAD}: 0.82 nats; effect {_CHANCE}"),
]
