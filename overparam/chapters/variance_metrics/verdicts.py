"""Chapter 4 claims: each rule a pure function of per-seed measurements, calibrated in CHECKS.

Widths enter as log2 (octaves). Every ``rule_*`` takes per-seed numbers (arrays over
seeds) and returns a verdict; :func:`claims` measures those numbers from the results and
calls the rules; :data:`CHECKS` drives each rule with simulated measurements
(:mod:`overparam.calibration`). Noise levels in the checks are the spread over the 5
seeds of one ``quick`` run (seed 0), rounded up; effects are the journal's where it gives
one, else stated in the check's note.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ... import claims as C
from ...calibration import Check, normal_seeds
from ...stats import Estimate, mean_ci
from .experiments import (CONJECTURE_METRICS, VarianceResults, implied_sizes, quadratic_per_seed,
                          slope_per_seed)
from .profiles import PROFILES, SOURCE

LOG_BAND = 0.1       # "logarithmic": local power-law exponent (curvature / slope in log w) within +-0.1
LINEAR_BAND = 0.2    # "about linear": quadratic / linear coefficient over the upper widths within +-0.2
OCTAVE_BAND = 1.0    # "near", "changes nothing": |difference| < 1 octave
EXP_BAND = 0.5       # "looks exponential": |log2 gamma shape| < 0.5 (shape between 0.71 and 1.41)
POISSON_MIN = 1.0    # "Poisson-like": log2 gamma shape > 1 (shape > 2: a clear mode away from 0)


# --------------------------------------------------------------------------- judges


def judge_within(est: Estimate, tol: float) -> str:
    """Verdict for "the quantity is within ``tol`` of 0", strictly: reproduced when the
    interval lies inside (-tol, tol), not reproduced when it lies at or beyond one edge,
    inconclusive otherwise. Strict, so that seeds all on the band's edge of a discrete grid
    (a zero-width interval at exactly 1 octave) never count as inside."""
    if not C._usable(est):
        return C.INCONCLUSIVE
    if -tol < est.low and est.high < tol:
        return C.REPRODUCED
    if est.high <= -tol or est.low >= tol:
        return C.NOT_REPRODUCED
    return C.INCONCLUSIVE


def judge_outside(est: Estimate, tol: float) -> str:
    """Verdict for "the quantity is NOT within ``tol`` of 0" (mirror of :func:`judge_within`)."""
    v = judge_within(est, tol)
    return {C.REPRODUCED: C.NOT_REPRODUCED, C.NOT_REPRODUCED: C.REPRODUCED}.get(v, C.INCONCLUSIVE)


def _ci(x) -> Estimate:
    return mean_ci(np.asarray(x, float))


# --------------------------------------------------------------------------- rules (pure)


def rule_below(x) -> str:
    """Per-seed values; claim "below 0"."""
    return C.judge_below(_ci(x), 0.0)


def rule_above(x) -> str:
    """Per-seed values; claim "above 0"."""
    return C.judge_above(_ci(x), 0.0)


def rule_within_octave(x) -> str:
    """Per-seed octave differences; claim "|difference| < 1 octave"."""
    return judge_within(_ci(x), OCTAVE_BAND)


def rule_outside_octave(x) -> str:
    """Per-seed octave differences; claim "|difference| >= 1 octave"."""
    return judge_outside(_ci(x), OCTAVE_BAND)


def _grows_then_shape(slope, shape, band: float) -> str:
    """"Grows, with this shape": not reproduced when the slope's interval lies at or below 0
    (no growth), inconclusive when it straddles 0, else the verdict of |shape| < band."""
    grows = C.judge_above(_ci(slope), 0.0)
    return judge_within(_ci(shape), band) if grows == C.REPRODUCED else grows


def log_curvature(widths: Sequence[float], totals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per seed: the slope of total variance vs log w, and its local power-law exponent.

    Fits ``y = a + b u + c u^2`` in ``u`` = log w rescaled to [-1, 1]. A logarithm
    ``a + b log w`` has c = 0; a power law ``w^p`` has curvature / slope = p in log w at
    every width. Returns (slope b per seed, exponent ``2 c_s / mean(b) / half-range``).
    """
    L = np.log(np.asarray(widths, float))
    b, c = quadratic_per_seed(L, totals)
    bm = b.mean()
    kappa = 2 * c / bm / (np.ptp(L) / 2) if bm > 0 else np.full_like(c, np.nan)
    return b, kappa


def rule_log_growth(m) -> str:
    """(widths, totals (S, W)); claim "total variance grows logarithmically": the slope in
    log w is > 0 (else not reproduced / inconclusive), then the local power-law exponent is within +-LOG_BAND of 0 (a power law
    w^p with p >= LOG_BAND is told apart; in between the interval says inconclusive)."""
    widths, totals = m
    b, kappa = log_curvature(widths, totals)
    return _grows_then_shape(b, kappa, LOG_BAND)


def linear_curvature(widths: Sequence[float], dead: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per seed: slope of dead units per added unit, and the quadratic / linear coefficient
    ``c_s / mean(b)`` of ``a + b u + c u^2`` (u = width rescaled to [-1, 1]); ~0 when linear,
    ~0.39 (q - 1) for ``w^q`` on one octave-spaced upper half."""
    w = np.asarray(widths, float)
    b, c = quadratic_per_seed(w, dead)
    bm = b.mean()
    rho = c / bm if bm > 0 else np.full_like(c, np.nan)
    return b * 2 / np.ptp(w), rho


def rule_dead_linear(m) -> str:
    """(upper widths, dead counts (S, W')); claim "dead units grow about linearly": slope > 0
    (else not reproduced / inconclusive), then |quadratic / linear| < LINEAR_BAND."""
    widths, dead = m
    slope, rho = linear_curvature(widths, dead)
    return _grows_then_shape(slope, rho, LINEAR_BAND)


def conjecture_scores(readings: np.ndarray) -> np.ndarray:
    """(S, K, 3) readings [M on d1, M on d2, P on d1] -> (S, K) scores: how far the metric
    moves from M's d1 reading toward the properly sized reading on d2, minus half the way
    (``sign(G) (m2 - m1) - |G| / 2``, G = P - M on d1, sign of the mean G). < 0: the metric
    stays nearer to "undersized" although M is exact on d2 (the conjecture)."""
    r = np.asarray(readings, float)
    m1, m2, mp = r[..., 0], r[..., 1], r[..., 2]
    g = mp - m1
    sign = np.sign(np.nanmean(g, axis=0, keepdims=True))
    sign[sign == 0] = 1
    return sign * (m2 - m1) - sign * g / 2


def rule_conjecture(readings) -> str:
    """(S, K, 3) readings, metric 0 the judged one (log2 median unit variance: the
    journal's first size signal, the one metric whose reading moves clearly with width);
    claim "the layer metric does not see that M became exact": score < 0."""
    sc = conjecture_scores(readings)
    return C.judge_below(_ci(sc[:, 0]), 0.0)


def rule_shapes(m) -> str:
    """(log2 gamma shape of the oversized layer, of the undersized layer) per seed; claim
    "oversized looks exponential (|log2 k| < EXP_BAND) and undersized Poisson-like
    (log2 k > POISSON_MIN)"."""
    wide, narrow = m
    return C.judge_all([judge_within(_ci(wide), EXP_BAND), C.judge_above(_ci(narrow), POISSON_MIN)])


def rule_unchanged(m) -> str:
    """(S, K) octave shifts of K sizes after doubling the training; claim "nothing changes":
    every |shift| < 1 octave (compound)."""
    m = np.asarray(m, float)
    return C.judge_all([judge_within(_ci(m[:, k]), OCTAVE_BAND) for k in range(m.shape[1])])


# --------------------------------------------------------------------------- the table


def _make(rows, claim, est, verdict, rule, run):
    rows.append(C.make_claim(claim, SOURCE, est, verdict, rule, run.profile, run.seed))


def claims(results: VarianceResults, run) -> C.ClaimsTable:
    """The chapter's claims table: every row measured per seed, judged by a rule above.

    Rows for the easy and the hard task each (and the reader's MNIST / FashionMNIST when
    swept), dead units for every task, cross-task rows, the conjecture, the distribution
    shapes, the held-out goodness of fit, the doubled training; then the source's claims
    not tested here.

    Introduced in: Chapter 4
    """
    cfg, sweeps = results.cfg, results.sweeps
    rows: list = []

    def add(claim, est, verdict, rule):
        _make(rows, claim, est, verdict, rule, run)

    sizes = {t: implied_sizes(sw, cfg.plateau_tol) for t, sw in sweeps.items()}
    main = [t for t in ("easy", "hard", "mnist", "fashion") if t in sweeps]
    for t in main:
        sw, sz = sweeps[t], sizes[t]
        x = slope_per_seed(np.log2(sw.widths), np.log2(np.maximum(sw.median, 1e-30)))
        add(f"[{t}] the unit-variance distribution shifts toward 0 as width grows", _ci(x),
            rule_below(x), "slope of log2 median variance per octave < 0")
        d = sz["normality peak"] - sz["accuracy plateau"]
        add(f"[{t}] normality (Shapiro W) peaks near the accuracy plateau", _ci(d),
            rule_within_octave(d), "|log2(peak / plateau)| < 1 octave")
        add(f"[{t}] normality overestimates the size (peak beyond the plateau)", _ci(d),
            rule_above(d), "log2(peak / plateau) > 0")
        b, kappa = log_curvature(sw.widths, sw.total)
        add(f"[{t}] total variance grows logarithmically with width (not as a power law)",
            _ci(kappa), rule_log_growth((sw.widths, sw.total)),
            f"slope in log w > 0 and local power-law exponent (curvature / slope in log w; "
            f"0 for a logarithm, p for w^p) within +-{LOG_BAND}; measured: the exponent")
        x = np.mean(sw.share_exp - sw.share_gamma, axis=1)
        add(f"[{t}] exp+normal gives more dead-like units than two gammas", _ci(x), rule_above(x),
            "mean over widths of the share difference > 0")
        d = sz["two gammas > 1/2"] - sz["accuracy plateau"]
        add(f"[{t}] the mixture metric (moderately) underestimates the size", _ci(d), rule_below(d),
            "log2(first width with two-gamma dead share > 1/2, over plateau) < 0")
        d = sz["PCA 99 % after ReLU (widest)"] - sz["accuracy plateau"]
        add(f"[{t}] PCA of the activations does not locate the accuracy plateau", _ci(d),
            rule_outside_octave(d), "|log2(post-ReLU PCA 99 % dimension of the widest layer / "
            "plateau)| >= 1 octave (pre-activations are capped by the input dimension: row below)")
        d_in = int(sw.data.d)
        rows.append(C.exact_claim(
            f"[{t}] the pre-activation PCA dimension cannot exceed the input dimension, whatever "
            "the width (why the journal's PCA could not see size)", "this book", d_in,
            "rank of centred X W <= d; measured k99 <= d on every member: "
            f"{bool(np.all(sw.k99 <= d_in))}", run.profile, run.seed))
        ll = _heldout_per_seed(sw)
        add(f"[{t}] two gammas fit the unit variances better than exponential + normal",
            _ci(ll), rule_above(ll), "held-out log-likelihood per unit (fitted on half the units, "
            "scored on the other half, pooled over widths), two gammas minus exp+normal, > 0")
    for t in [t for t in ("digits", "easy", "hard", "mnist", "fashion") if t in sweeps]:
        sw = sweeps[t]
        up = np.arange(len(sw.widths)) >= min(len(sw.widths) - 3, int(np.sum(sw.widths < np.median(sw.widths))))
        slope, rho = linear_curvature(sw.widths[up], sw.dead[:, up, 0])
        add(f"[{t}] dead units (variance 0) grow about linearly with width", _ci(slope),
            rule_dead_linear((sw.widths[up], sw.dead[:, up, 0])),
            f"upper half of widths (at least 3): slope per added unit > 0 and |quadratic / linear coefficient| "
            f"< {LINEAR_BAND} (w^q: about 0.39 (q - 1)); measured: the slope")
    pairs = [("easy", "hard")] + ([("mnist", "fashion")] if {"mnist", "fashion"} <= set(sweeps) else [])
    for a, b in pairs:
        se, sh = sizes[a], sizes[b]
        tag = f"[{b} vs {a}]"
        d = sh["accuracy plateau"] - se["accuracy plateau"]
        add(f"{tag} the accuracy plateau comes later on the harder task", _ci(d), rule_above(d),
            f"log2(plateau {b} / plateau {a}), paired by seed, > 0")
        for name in ("normality peak", "two gammas > 1/2", "PCA 99 % after ReLU (widest)"):
            d = (sh[name] - se[name]) - (sh["accuracy plateau"] - se["accuracy plateau"])
            add(f"{tag} the {name} size does not follow the harder task", _ci(d), rule_below(d),
                "(shift of the metric's size) - (shift of the plateau), octaves, < 0")
        j = len(sweeps[a].widths) // 2
        d = np.log2(sweeps[b].median[:, j] / sweeps[a].median[:, j])
        add(f"{tag} unit variances are lower on the harder task (width {sweeps[a].widths[j]})",
            _ci(d), rule_below(d), f"log2(median variance {b} / {a}), paired by seed, < 0")
    sw = sweeps["easy"]
    wide, narrow = np.log2(sw.shape[:, -1]), np.log2(sw.shape[:, 0])
    add(f"[easy] oversized layers (width {sw.widths[-1]}) look exponential, undersized ones "
        f"(width {sw.widths[0]}) Poisson-like", _ci(wide), rule_shapes((wide, narrow)),
        f"gamma shape k of the positive variances: |log2 k| < {EXP_BAND} at the widest AND "
        f"log2 k > {POISSON_MIN} at the narrowest; measured: log2 k at the widest")
    if results.conjecture is not None:
        cj = results.conjecture
        sc = conjecture_scores(cj.readings)
        add("[conjecture] a layer metric does not see that M became exact on d2 (noise "
            "labelled by M)", _ci(sc[:, 0]), rule_conjecture(cj.readings),
            f"{CONJECTURE_METRICS[0]} of M moves from d1 to d2 less than half way toward the "
            "plateau net's reading on d1 (score = move - half the gap < 0, in the gap's "
            "direction); the other metrics are shown, not judged")
    if results.doubled is not None:
        t = results.doubled.task
        s1, s2 = sizes[t], implied_sizes(results.doubled, cfg.plateau_tol)
        names = ("normality peak", "two gammas > 1/2")
        m = np.stack([s2[n] - s1[n] for n in names], 1)
        add(f"[{t}] doubling the training ({cfg.epochs} -> {2 * cfg.epochs} epochs) changes "
            "nothing", _ci(np.abs(m).max(1)), rule_unchanged(m),
            f"|shift| < {OCTAVE_BAND:g} octave, paired by seed, for the {' and the '.join(names)} "
            "sizes; measured: the larger |shift|")
    return C.ClaimsTable(rows, not_tested=NOT_TESTED)


def _heldout_per_seed(sw) -> np.ndarray:
    """Per seed: held-out log-likelihood per unit, two gammas minus exp+normal, pooled over
    the widths (weighted by the units behind each layer's score)."""
    d = sw.ll_gamma - sw.ll_exp
    w = np.where(np.isfinite(d), sw.n_pos, 0.0)
    return np.nansum(np.nan_to_num(d) * w, axis=1) / np.maximum(w.sum(1), 1)


NOT_TESTED = [
    ("Total variance is constant (first reading)", "withdrawn by the journal itself"),
    ("The variance metric should tell which neurons can be factored into the next layer",
     "no factoring is done in this chapter"),
    ("The normality test cannot tell whether to grow or shrink a layer",
     "a statement about the test's form (one number per layer), not a measurement"),
    ("Two gammas may fit two Gaussian-like components when the layer is properly sized",
     "no rule separates 'Gaussian-like' components; the mixture shares are shown instead"),
    ("Any positive dead-unit threshold is arbitrary", "a judgement; the figure shows several"),
    ("On FashionMNIST the dead-unit count underestimates the size",
     "FashionMNIST is not shipped (a reader's files can be swept)"),
    ("Hard task: fewer units carry more of the variance because boundaries are misplaced",
     "an explanation the journal offers, not tested"),
    ("PCA reconstruction-error slopes suggest about 350 units on MNIST",
     "MNIST is not shipped; the curves are shown"),
]


# --------------------------------------------------------------------------- calibration


def _discrete(mean, sd, n):
    """Per-seed octave values on the quick grid (whole octaves)."""
    return lambda rng: np.round(rng.normal(mean, sd, n))


def _curves(kind, p, n, rel_sd=0.02, widths=(16, 32, 64, 128, 256, 512, 1024)):
    w = np.asarray(widths, float)
    L = np.log(w) - np.log(w).mean()

    def draw(rng):
        base = np.exp(p * L) if kind == "power" else 1 + 0.35 * L
        y = 300 * base
        return w, y * (1 + rel_sd * rng.normal(size=(n, len(w))))
    return draw


def _dead(rho, n, sd=7.0, widths=(128, 256, 512, 1024)):
    w = np.asarray(widths, float)
    u = 2 * (w - w.min()) / np.ptp(w) - 1

    def draw(rng):
        y = 60 + 50 * (u + rho * (u**2 - 1 / 3))
        return w, y + sd * rng.normal(size=(n, len(w)))
    return draw


def _conjecture(fracs, n, gaps=(-1.5,), sds=(0.2,)):
    def draw(rng):
        out = np.zeros((n, len(gaps), 3))
        for k, (g, sd, f) in enumerate(zip(gaps, sds, fracs)):
            out[:, k, 0] = rng.normal(0.5, sd, n)
            out[:, k, 1] = rng.normal(0.5 + f * g, sd, n)
            out[:, k, 2] = rng.normal(0.5 + g, sd, n)
        return out
    return draw


def _pairs(a, b, sds, n, discrete=False):
    def draw(rng):
        x = rng.normal(a, sds[0], n), rng.normal(b, sds[1], n)
        return tuple(np.round(v) for v in x) if discrete else x
    return draw


def _stack(means, sd, n):
    return lambda rng: np.round(rng.normal(np.asarray(means, float), sd, (n, len(means))))


N = PROFILES["quick"].n_seeds  # the calibration simulates the quick profile's seeds
CHECKS = [
    Check("the unit-variance distribution shifts toward 0 as width grows", rule_below,
          normal_seeds(0, 0.05, N), normal_seeds(-0.5, 0.05, N), normal_seeds(0.5, 0.05, N), N,
          "slope sd 0.05 (quick: 0.014-0.039); effect -0.5 log2 per octave (1/sqrt(h) read-out)"),
    Check("normality peaks near the accuracy plateau", rule_within_octave,
          _discrete(1, 2.0, N), _discrete(0, 2.0, N), _discrete(3, 2.0, N), N,
          "whole octaves, sd 2 (quick: 0.8-2.1); effect 0 ('around the same values'); null at the 1-octave edge"),
    Check("normality overestimates the size", rule_above,
          _discrete(0, 1.5, N), _discrete(2, 1.5, N), _discrete(-2, 1.5, N), N,
          "whole octaves, sd 1.5; effect +2 octaves"),
    Check("total variance grows logarithmically (not as a power law)", rule_log_growth,
          _curves("power", LOG_BAND, N), _curves("log", 0, N), _curves("power", 0.45, N), N,
          "curves on the quick grid, 2 % noise per point (quick: 1-7 %, most ~1.5 %); null: w^0.1 "
          "(band edge); effect: a + b log w; against: w^0.45 (quick's fit)"),
    Check("exp+normal gives more dead-like units than two gammas", rule_above,
          normal_seeds(0, 0.08, N), normal_seeds(0.15, 0.08, N), normal_seeds(-0.15, 0.08, N), N,
          "share sd 0.08 (quick: 0.05-0.08); effect +0.15 ('tends to overestimate')"),
    Check("the mixture metric underestimates the size", rule_below,
          _discrete(0, 2.5, N), _discrete(-3, 2.5, N), _discrete(3, 2.5, N), N,
          "whole octaves, sd 2.5 (quick: 1.4-3.2); effect -3 octaves"),
    Check("PCA of the activations does not locate the accuracy plateau", rule_outside_octave,
          normal_seeds(1, 1.3, N), normal_seeds(3, 1.3, N), normal_seeds(0, 1.3, N), N,
          "log2 ratio sd 1.3 (quick: 0.45-1.3); effect 3 octaves off; null at the 1-octave edge"),
    Check("two gammas fit better than exponential + normal (held out)", rule_above,
          normal_seeds(0, 0.1, N), normal_seeds(0.15, 0.1, N), normal_seeds(-0.15, 0.1, N), N,
          "log-likelihood per unit, sd 0.1 (quick: 0.02-0.1); effect +0.15 nats/unit"),
    Check("dead units grow about linearly with width", rule_dead_linear,
          _dead(LINEAR_BAND, N), _dead(0.0, N), _dead(0.6, N), N,
          "dead counts on 128-1024, sd 7 units (quick digits: 3-8); null at the band edge; "
          "against: quadratic/linear 0.6 (about w^2.5)"),
    Check("the accuracy plateau comes later on the harder task", rule_above,
          _discrete(0, 1.7, N), _discrete(2, 1.7, N), _discrete(-2, 1.7, N), N,
          "whole octaves, sd 1.7 (quick: 1.6); effect +2 octaves (journal: 256 -> 1024)"),
    Check("a metric's size does not follow the harder task", rule_below,
          _discrete(0, 2.5, N), _discrete(-2, 2.5, N), _discrete(2, 2.5, N), N,
          "whole octaves, sd 2.5 (quick: 1.5-2.5); effect -2 (metric still, plateau +2)"),
    Check("unit variances are lower on the harder task", rule_below,
          normal_seeds(0, 0.05, N), normal_seeds(-0.5, 0.05, N), normal_seeds(0.5, 0.05, N), N,
          "log2 ratio sd 0.05 (quick: 0.04); effect -0.5"),
    Check("oversized layers look exponential, undersized ones Poisson-like", rule_shapes,
          _pairs(EXP_BAND, 2.0, (0.1, 0.5), N), _pairs(0.0, 2.0, (0.1, 0.5), N),
          _pairs(1.5, 0.0, (0.1, 0.5), N), N,
          "log2 shape sd 0.1 (widest) and 0.5 (narrowest) (quick: 0.08, 0.46); null: widest at the "
          "band edge; effect: k = 1 and k = 4"),
    Check("no layer metric sees that M became exact (conjecture)", rule_conjecture,
          _conjecture((0.5,), N), _conjecture((0.0,), N), _conjecture((1.0,), N), N,
          "log2 median variance readings sd 0.2, gap M -> plateau net -1.5 (quick: about -0.6 "
          "per octave over 2-3 octaves); null: half way; effect: unmoved; against: all the way"),
    Check("doubling the training changes nothing", rule_unchanged,
          _stack([0, 1], 1.2, N), _stack([0, 0], 1.2, N), _stack([2, 2], 1.2, N), N,
          "whole octaves, sd 1.2 per size; null: one size shifted by exactly 1 octave"),
]
