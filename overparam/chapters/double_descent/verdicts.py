"""Chapter 3's claims, declared once: :data:`RULES` (stable key, claim, source, rule,
calibration), :func:`measure` (results -> per-seed measurements by key) and :func:`claims`.
The judges, with the cross-fitting of picked points, are in :mod:`.judges`, the calibration
samplers in :mod:`.samplers`.

Introduced in: Chapter 3
"""
from __future__ import annotations

import numpy as np

from ...adequacy import CONVERGED, SAME_STEPS, TrainState
from ...claims import Above, Below, ClaimsTable, Custom, Measured, Near, Rule, RuleBook, Sim, paired, proportion
from .experiments import crossing_position, peak_position
from .judges import (EMC_REACH, EMC_TOL, PEAK_STEPS, RF_TOL, RIDGE_MAX, crossfit, crossfit_batch,  # noqa: F401
                     emc_at_peak, jackknife_batch,
                     epochwise_rise, keeps_falling, more_data_hurts, peak_exists, peak_grows,
                     peak_vs_widest, second_descent, threshold_shift)
from .profiles import SOURCE, DoubleDescentConfig
from .results import DoubleDescentResults
from .samplers import (_FLAT_EFFECT, PEAK, PEAK_SEEN, SD_EPOCH, SD_ERR, SD_LOG2, SD_SAMPLE, _at_boundary,  # noqa: F401
                       _bump, _bump_curves, _cells, _curves, _emc, _epochs, _indep, _normal3, _pair, _paired,
                       _probe_curves, _samples, _sd, _second_curves, _threshold)

NAKKIRAN = "Nakkiran et al. 2019, via " + SOURCE
BELKIN = "Belkin et al. 2019, via " + SOURCE
INTERP_TOL = DoubleDescentConfig().interp_tol   # "zero" training error (every profile's)


_RF = lambda cfg: cfg.rf_seeds                          # noqa: E731
_LS = lambda cfg: cfg.ls_seeds                          # noqa: E731
_EMC_SEEDS = lambda cfg: min(cfg.emc_seeds, cfg.n_seeds)  # noqa: E731
_ABOVE0 = "reproduced if the CI lies above 0"
_JACK = " (jackknife over seeds, picks redone)"
_FIT = (f"pooled share of training examples misclassified over every seed; reproduced if the Wilson "
        f"95 % CI lies below {INTERP_TOL:.0%} (0 errors of N examples bound the rate above, by about 3.7/N)")
_SPREAD_NOTE = "sd from spread.json (quick, 5 seeds)"


RULES = RuleBook([
    Rule("rf_peak", "Min-norm random-features regression peaks at the interpolation threshold N = n "
         "(measured: log2 of N/n at each seed's peak)", BELKIN,
         f"reproduced if the 95 % CI lies within ±{RF_TOL} of 0", Near(0.0, RF_TOL),
         _normal3(RF_TOL, 0.0, 1.5, _sd("rf_peak", 0.15), f"{_SPREAD_NOTE}; null: the peak at the "
                  "band's edge (log2 0.5); effect: at N = n; against: 1.5 octaves off", _RF)),
    Rule("ridge_flattens", "Ridge (λ = {lam:g}) flattens the peak (measured: its highest test MSE / "
         "the min-norm peak, per seed)", BELKIN, f"reproduced if the CI lies below {RIDGE_MAX}",
         Below(RIDGE_MAX),
         _normal3(RIDGE_MAX, 0.1, 1.0, _sd("ridge_flattens", 0.05), f"{_SPREAD_NOTE}; effect: ridge "
                  "at a tenth of the peak; against: no flattening", _RF)),
    Rule("peak_exists", "A model-wise test-error peak exists ({nz_hi} label noise; measured: held-out "
         "seed's error at the peak chosen on the other seeds, minus the larger of its errors at the "
         "classical minimum before it and at width {w_max})", NAKKIRAN, _ABOVE0 + _JACK,
         Custom(peak_exists, (0.0,), many=peak_exists.many),
         Sim(_at_boundary(peak_exists, _bump_curves, 0.0, PEAK), _bump_curves(PEAK_SEEN),
             _curves(lambda w: np.linspace(0.5, 0.3, w)),
             f"curves over the profile's widths, sd {SD_ERR} per point; null: the peak height at "
             "which the estimate is centred on 0 (about 0.8 sd of a point above a plateau at the "
             f"classical minimum's level: the larger of two noisy points leans up); effect: a "
             f"{PEAK_SEEN} peak, the smallest this jackknifed rule sees with 80 % power at long's 20 "
             f"seeds ({PEAK} gave 74 %); against: a steady descent"), footing=SAME_STEPS),
    Rule("peak_at_threshold", "With {nz_hi} label noise the test-error peak sits where training error "
         "first reaches ≤ {tol:.0%} (measured: per seed, peak position minus interpolation position, "
         "in grid steps; a seed that never fits makes it inconclusive)", NAKKIRAN,
         f"reproduced if the CI lies within ±{PEAK_STEPS} grid steps", Near(0.0, PEAK_STEPS),
         _normal3(PEAK_STEPS, 0.0, 4.0, _sd("peak_at_threshold", 0.6), f"{_SPREAD_NOTE}; null: at the "
                  f"band's edge {PEAK_STEPS}; against: 4 grid steps apart"), footing=SAME_STEPS),
    Rule("second_descent", "The second descent falls below the classical minimum ({nz_hi} noise; "
         "measured: held-out seed's error at the classical minimum chosen on the other seeds, minus "
         "at width {w_max})", "Belkin et al. 2019; Nakkiran et al. 2019, via " + SOURCE, _ABOVE0 + _JACK,
         Custom(second_descent, (0.0,), many=second_descent.many),
         Sim(_at_boundary(second_descent, _second_curves, -PEAK, PEAK), _second_curves(PEAK),
             _second_curves(-PEAK), "null: the widest model's gap below the classical minimum at "
             "which the estimate is centred on 0 (a few thousandths: the minimum of three noisy "
             f"points leans down); sd {SD_ERR} per point; effect {PEAK}"), footing=SAME_STEPS),
    Rule("peak_grows", "The peak grows with label noise (measured: per seed, peak height above the "
         "widest model, {nz_hi} minus {nz_lo} noise; peaks chosen on the other seeds)", NAKKIRAN,
         _ABOVE0 + _JACK, Custom(peak_grows, (0.0,), many=peak_grows.many),
         Sim(_pair(_bump(PEAK), _bump(PEAK)), _pair(_bump(2 * PEAK), _bump(0.0)),
             _pair(_bump(0.0), _bump(2 * PEAK)), f"sd {SD_ERR} per point; effect: peak {2 * PEAK} vs none"),
         footing=SAME_STEPS),
    Rule("threshold_moves", "Label noise moves the interpolation threshold to larger models (measured: "
         "per seed, log2 of the width where training error first reaches ≤ {tol:.0%}, {nz_hi} minus "
         "{nz_lo}; never fitting at {nz_hi} counts as width {w_cap})", NAKKIRAN,
         "reproduced if the CI lies above 0; inconclusive if a seed never fits at the lower noise",
         Above(0.0, threshold_shift),
         Sim(_threshold(0.0, _sd("threshold_moves", 0.15)), _threshold(1.0, _sd("threshold_moves", 0.15)),
             _threshold(-1.0, _sd("threshold_moves", 0.15)), f"{_SPREAD_NOTE}; effect: one octave"),
         footing=SAME_STEPS),
    Rule("threshold_moves_n", "More training samples move the interpolation threshold to larger models "
         "(measured: per EMC seed, log2 of the width where training error first reaches ≤ {tol:.0%} at "
         "n = {n_hi} minus at n = {n_lo}, {nz} noise; never fitting at n = {n_hi} counts as width "
         "{w_cap})", NAKKIRAN,
         "reproduced if the CI lies above 0; inconclusive if a seed never fits at the smaller n",
         Above(0.0, threshold_shift),
         Sim(_threshold(0.0, _sd("threshold_moves_n", 0.3)), _threshold(1.0, _sd("threshold_moves_n", 0.3)),
             _threshold(-1.0, _sd("threshold_moves_n", 0.3)), f"{_SPREAD_NOTE}; effect: one octave",
             _EMC_SEEDS)),
    Rule("longer_training", "Longer training raises the effective model complexity: the interpolation "
         "threshold moves to smaller models ({nz_hi} noise; measured: per seed, log2 of the width where "
         "training error first reaches ≤ {tol:.0%} after {ep_half} epochs minus after {ep}, read from the "
         "same runs, constant-step Adam; never fitting after {ep_half} counts as width {w_cap})", NAKKIRAN,
         "reproduced if the CI lies above 0; inconclusive if a seed never fits after all epochs",
         Above(0.0, threshold_shift),
         Sim(_threshold(0.0, _sd("longer_training", 0.3)), _threshold(1.0, _sd("longer_training", 0.3)),
             _threshold(-1.0, _sd("longer_training", 0.3)), "sd from spread.json, else a stated 0.3 "
             "(the quick seed-0 run's 5 seeds gave 0.13); effect: one octave")),
    Rule("peak_moves", "Label noise moves the test-error peak to larger models (measured: per seed, "
         "log2 of its peak width, {nz_hi} minus {nz_lo})", NAKKIRAN, _ABOVE0 + " (paired by seed)",
         Above(0.0, paired),
         Sim(_indep(7.0, 7.0, _sd("peak_moves", 1.0) / np.sqrt(2)),
             _indep(8.0, 7.0, _sd("peak_moves", 1.0) / np.sqrt(2)),
             _indep(6.0, 7.0, _sd("peak_moves", 1.0) / np.sqrt(2)),
             f"{_SPREAD_NOTE} (of the difference; each arm sd/sqrt 2); effect: one octave"),
         footing=SAME_STEPS),
    Rule("emc_at_peak", "At the test-error peak EMC ≈ n (measured: per seed, log2(EMC / n) at the EMC "
         "width nearest the peak chosen on the other seeds; EMC interpolated between n = {emc_ns}; "
         "{emc_seeds} seeds)", NAKKIRAN,
         f"reproduced if the CI lies within ±{EMC_TOL} (EMC within a factor 1.4 of n); inconclusive "
         f"if the peak is more than {EMC_REACH} octaves from every EMC width" + _JACK,
         Custom(emc_at_peak, (-EMC_TOL, EMC_TOL), many=emc_at_peak.many),
         Sim(_emc(EMC_TOL), _emc(0.0), _emc(1.5),
             f"the real path: peak on the width grid, nearest EMC width, EMC from training errors over "
             f"the profile's sample sizes (censored); seed sd {SD_LOG2} in log2 EMC; null at the band's "
             f"edge {EMC_TOL}; against 1.5 (censored at the largest n)", _EMC_SEEDS)),
    Rule("epochwise_rise", "Epoch-wise: the widest model's test error rises after its early minimum "
         "({nz_hi} noise; measured: mean error over the second half of training minus at the early "
         "minimum, the minimum's epoch chosen in the first half on half of the seeds, measured on the "
         "other half)", NAKKIRAN, _ABOVE0, Custom(epochwise_rise, (0.0,)),
         Sim(_at_boundary(epochwise_rise, _epochs, -PEAK, PEAK), _epochs(PEAK), _epochs(-2 * PEAK),
             f"the profile's evaluations, sd {SD_EPOCH}; null: the rise at which the estimate is "
             "centred on 0 (a few thousandths: a minimum read next to the descent leans up); effect: a "
             f"rise of {PEAK}; against: a further fall of {2 * PEAK}")),
    Rule("more_data_hurts", "More data can hurt: at width {width}, test error rises between some n and "
         "a larger n (measured: the change over the step where the mean of half of the seeds rises "
         "most, on the other half)", NAKKIRAN, _ABOVE0, Custom(more_data_hurts, (0.0,)),
         Sim(_samples(0.0, flat=True), _samples(PEAK), _samples(-PEAK),
             f"the profile's sample sizes, sd {SD_SAMPLE}; null: every step flat; effect: one step up "
             f"by {PEAK} in a falling curve; against: that step down")),
    Rule("keeps_falling", "{noise_text}, test error keeps falling past the width that fits the training "
         "set ({detail}; fits: every seed's training error <= {tol:.0%} at each of its last 3 evaluations)", "Neyshabur et al. 2015, via " + SOURCE,
         "paired by seed: reproduced if the whole CI lies above 0; inconclusive when no width short of "
         "the widest fits the training set (no wider model to compare)", Custom(keeps_falling, (0.0,)),
         Sim(_paired(0.0, _sd("keeps_falling", 0.011)), _paired(PEAK, _sd("keeps_falling", 0.011)),
             _paired(-PEAK, _sd("keeps_falling", 0.011)), f"{_SPREAD_NOTE}; effect {PEAK}"),
         footing=CONVERGED),
    Rule("zero_train_error", "Over-parameterized networks reach zero training error (measured: "
         "training error of width {w_max}, {n_params:,} parameters for n = {n_train}, {nz_lo} noise)",
         "Soudry & Carmon 2016; Du et al. 2019, via " + SOURCE, _FIT, Below(INTERP_TOL, proportion),
         Sim(_cells(INTERP_TOL, lambda c: c.n_train), _cells(0.0, lambda c: c.n_train),
             _cells(5 * INTERP_TOL, lambda c: c.n_train),
             f"every example of every seed an independent error with rate {INTERP_TOL} (the "
             f"tolerance) / 0 / {5 * INTERP_TOL}"), footing=CONVERGED),
    Rule("random_labels", "Networks fit random labels (measured: training error of width {width} on "
         "{n} examples with uniformly random labels)", "Zhang et al. 2017, via " + SOURCE, _FIT,
         Below(INTERP_TOL, proportion),
         Sim(_cells(INTERP_TOL, lambda c: c.random_n), _cells(0.0, lambda c: c.random_n),
             _cells(5 * INTERP_TOL, lambda c: c.random_n),
             f"every example of every seed an independent error with rate {INTERP_TOL} / 0 / "
             f"{5 * INTERP_TOL}"), footing=CONVERGED),
    Rule("larger_easier", "Larger networks are easier to train (measured: training error on the labels "
         "of a {labels}, student width {w0} minus width {w1})", "Livni et al. 2014, via " + SOURCE,
         _ABOVE0 + " (same epochs for both students)", Above(0.0),
         _normal3(0.0, 0.05, -0.05, _sd("larger_easier", 0.05), f"{_SPREAD_NOTE}; effect: 5 points of "
                  "training error"), footing=SAME_STEPS),
    Rule("min_norm_square", "The minimum-norm solution of Ax = b is largest where columns = rows (Gaussian "
         "A and b, {rows} rows; measured: per seed, log of ||x|| at {rows} columns minus log of the larger "
         "of ||x|| at {half} and at {double} columns)", SOURCE, _ABOVE0, Above(0.0),
         _normal3(0.0, 1.0, -1.0, _sd("min_norm_square", 1.0), f"{_SPREAD_NOTE}; effect: a norm e times "
                  "the larger neighbour's (stated minimal effect); against: e times smaller", _LS)),
    Rule("smoother_wide", "In the modern regime generalization rests on functional smoothness: the "
         "widest model's learned function is smoother than the one at the test-error peak ({nz_hi} "
         "noise; measured: per held-out seed, log of the input sensitivity - the Frobenius norm of the "
         "softmax output's input Jacobian on the test inputs, Novak et al. 2018 - at the peak chosen on "
         "the other seeds' test error, minus at width {w_max})", SOURCE, _ABOVE0 + _JACK,
         Custom(peak_vs_widest, (0.0,), many=peak_vs_widest.many),
         Sim(_probe_curves(0.0, _sd("smoother_wide", 0.3) / np.sqrt(2)),
             _probe_curves(np.log(2), _sd("smoother_wide", 0.3) / np.sqrt(2)),
             _probe_curves(-np.log(2), _sd("smoother_wide", 0.3) / np.sqrt(2)),
             f"{_SPREAD_NOTE} (of the difference; per point sd/sqrt 2); test-error curves with a "
             f"{PEAK_SEEN} peak (sd {SD_ERR}); effect: twice the sensitivity at the peak (stated minimal "
             "effect); against: half"), footing=SAME_STEPS),
    Rule("flat_wide", "Optimizers converge to flat minima, good minima having the larger basin (a "
         "sharpness proxy of basin volume, not a volume: the training-loss rise under random weight "
         "perturbations of {rel:g} x each tensor's norm; {nz_hi} noise; measured: per held-out seed, "
         "the rise at the test-error peak chosen on the other seeds, minus at width {w_max})",
         "Wu & Zhu 2017, via " + SOURCE, _ABOVE0 + _JACK, Custom(peak_vs_widest, (0.0,), many=peak_vs_widest.many),
         Sim(_probe_curves(0.0, _sd("flat_wide", 0.1) / np.sqrt(2)),
             _probe_curves(_FLAT_EFFECT, _sd("flat_wide", 0.1) / np.sqrt(2)),
             _probe_curves(-_FLAT_EFFECT, _sd("flat_wide", 0.1) / np.sqrt(2)),
             f"{_SPREAD_NOTE} (of the difference; per point sd/sqrt 2); test-error curves with a "
             f"{PEAK_SEEN} peak (sd {SD_ERR}); effect: a loss rise {_FLAT_EFFECT} (nats) larger at the "
             "peak (stated minimal effect); against: that much smaller"), footing=SAME_STEPS),
    Rule("decay_helps", "Explicit regularization shapes generalization: weight decay lowers the test "
         "error at the test-error peak ({nz}; measured: per seed, test error without minus with "
         "weight decay {wd:g}, at the peak width chosen on the other seeds: {widths})", SOURCE,
         _ABOVE0 + " (paired by seed; same steps)", Above(0.0, paired),
         Sim(_indep(0.30, 0.30, _sd("decay_helps", 0.02) / np.sqrt(2)),
             _indep(0.30 + PEAK, 0.30, _sd("decay_helps", 0.02) / np.sqrt(2)),
             _indep(0.30 - PEAK, 0.30, _sd("decay_helps", 0.02) / np.sqrt(2)),
             f"{_SPREAD_NOTE} (of the difference; each arm sd/sqrt 2); effect: {PEAK}"), footing=SAME_STEPS),
], replicates=lambda cfg: cfg.n_seeds, not_tested=[
    ("Capacity bounds O(sqrt(c/n)) are too loose to be useful for neural networks",
     "no bound is computed here"),
    ("In the modern regime every local minimum is global (Soudry & Carmon; Nguyen & Hein)",
     "a theorem about the loss surface; the table tests only that wide nets reach zero "
     "training error"),
    ("SGD/GD find global minima of over-parameterized nets in polynomial time (Allen-Zhu et al.; Du et al.)",
     "a theorem; not measured"),
    ("Classical regime: SGD with a fixed step converges slowly; modern: small-batch SGD as fast as GD",
     "needs SGD vs GD at matched budgets on both sides of the threshold; not run here"),
    ("Data augmentation moves the interpolation threshold",
     "no augmentation is implemented for MNIST-1D sequences here (longer training: longer_training)"),
    ("More training samples shift the test-error peak to larger models",
     "needs a width sweep per sample size (about a quarter of the quick book's budget for one more n; "
     "the EMC grid's three widths cannot place a peak); the threshold's move with n is measured "
     "(threshold_moves_n)"),
    ("Implicit regularization (SGD, dropout, batch norm) shapes generalization",
     "every MLP is trained with Adam, without dropout or batch norm; only explicit regularization "
     "is tested (decay_helps, and ridge in random features: ridge_flattens)"),
    ("The basin of good minima dominates the volume of poor ones (Wu & Zhu)",
     "needs poor minima (the source's attack-set training) and basin volumes by sampling; flat_wide "
     "tests only a sharpness proxy, the peak width against the widest"),
    ("Large-batch training finds sharp minima that generalize worse (Keskar et al.)",
     "batch size is not swept; every MLP uses one batch size"),
    ("SGD selects global minima by dynamical stability: it filters out minima with large "
     "non-uniformity (Wu, Ma & E 2018)", "needs sharpness and non-uniformity of GD vs SGD minima; "
     "not measured"),
    ("Variance over seeds makes the peak (Yang et al. 2020; the book's addition)",
     "the variance is a statistic across seeds, not a per-seed measurement, so no "
     "calibrated rule at a handful of seeds; section 8 shows it as a demonstration"),
])
NOT_TESTED = RULES.not_tested


# --------------------------------------------------------------------------- measurements

FIT_EVALS = 3   # interpolation criterion: training error <= interp_tol at the last 3 evaluations


def train_state(train_err_curve, final_loss, steps: int, tol: float) -> TrainState:
    """TrainState of members from their training-error curves (M, T): met = training error
    <= ``tol`` at each of the last :data:`FIT_EVALS` evaluations (the fit reached and held).

    Introduced in: Chapter 3
    """
    c = np.asarray(train_err_curve, dtype=float).reshape(-1, np.shape(train_err_curve)[-1])
    met = np.all(c[:, -FIT_EVALS:] <= tol, axis=1)
    return TrainState(np.full(len(c), steps), np.asarray(final_loss, float).ravel(), c[:, -1], met,
                      f"train error <= {tol:.0%} at each of the last {FIT_EVALS} evaluations")


def _steps(cfg, n: int) -> int:
    return int(cfg.epochs * -(-n // cfg.batch_size))


def _error_cells(train_err, n: int) -> np.ndarray:
    """Per-seed training error rates (S,) as (S, n) error indicators (k = round(rate x n))."""
    k = np.rint(np.asarray(train_err, float) * n).astype(int)
    return np.arange(n)[None, :] < k[:, None]


def _log2_cross(train_err, widths) -> np.ndarray:
    """Per row of (S, W) training errors: log2 of the width where it first reaches interp_tol."""
    idx, lw = np.arange(len(widths)), np.log2(np.asarray(widths, float))
    return np.interp([crossing_position(t, INTERP_TOL) for t in train_err], idx, lw)


def measure(results: DoubleDescentResults) -> dict:
    """Per-seed measurements of every rule, by rule key (what the judges take).

    Introduced in: Chapter 3
    """
    cfg, rf, sw = results.cfg, results.rf, results.sweep
    if cfg.interp_tol != INTERP_TOL:
        raise ValueError(f"interp_tol={cfg.interp_tol!r} is not allowed; the rules judge "
                         f"training error against {INTERP_TOL}")
    tol, k = cfg.interp_tol, len(sw.noises) - 1
    hi, lo = sw.test_err[k], sw.test_err[0]
    widths = sw.widths.astype(float)
    lw = np.log2(widths)
    idx = np.arange(len(sw.widths))
    nz = {"nz_hi": f"{sw.noises[k]:.0%}", "nz_lo": f"{sw.noises[0]:.0%}",
          "w_max": int(sw.widths[-1]), "tol": tol}
    steps = _steps(cfg, sw.n_train)
    # model-wise rules compare widths trained for the same epochs (Nakkiran et al.'s budget)
    by_width = {f"width {w}": train_state(sw.train_err_curve[:, :, j], sw.train_loss[:, :, j], steps, tol)
                for j, w in enumerate(sw.widths)}
    cross_hi = np.array([crossing_position(t, tol) for t in sw.train_err[k]])
    cross_lo = np.array([crossing_position(t, tol) for t in sw.train_err[0]])
    peak_hi = np.array([peak_position(e) for e in hi])
    peak_lo = np.array([peak_position(e) for e in lo])

    i0 = int(np.flatnonzero(rf.lambdas == 0)[0])
    big = int(np.argmax(rf.lambdas))
    m = {
        "rf_peak": np.log2(rf.ratios[np.argmax(rf.test_mse[i0], axis=1)]),
        "ridge_flattens": Measured(rf.test_mse[big].max(1) / rf.test_mse[i0].max(1),
                                   {"lam": float(rf.lambdas[big])}),
        "peak_exists": Measured((hi, widths), nz, by_width),
        "peak_at_threshold": Measured(peak_hi - cross_hi, nz, by_width),
        "second_descent": Measured((hi, widths), nz, by_width),
    }
    if len(sw.noises) >= 2:
        m["peak_grows"] = Measured(((hi, lo), widths), nz, by_width)
        m["threshold_moves"] = Measured(
            (np.interp(cross_lo, idx, lw), np.interp(cross_hi, idx, lw), float(lw[-1] + 1)),
            nz | {"w_cap": 2 * int(sw.widths[-1])}, by_width)
        m["peak_moves"] = Measured((np.interp(peak_hi, idx, lw), np.interp(peak_lo, idx, lw)), nz, by_width)
    # the same runs read at half their epochs (constant-step Adam: a run stopped there)
    jh = int(np.searchsorted(sw.epochs, sw.epochs[-1] / 2))
    cross_half = np.array([crossing_position(t, tol) for t in sw.train_err_curve[k][..., jh]])
    m["longer_training"] = Measured(
        (np.interp(cross_hi, idx, lw), np.interp(cross_half, idx, lw), float(lw[-1] + 1)),
        nz | {"ep": int(sw.epochs[-1]), "ep_half": int(sw.epochs[jh]), "w_cap": 2 * int(sw.widths[-1])})
    emc = results.emc
    if emc is not None:
        rel = emc.log2_emc - np.log2(sw.n_train)
        se = rel.shape[0]  # the EMC grid's seeds: the run's first se seeds
        m["emc_at_peak"] = Measured((hi, lw, np.log2(emc.widths.astype(float)), rel),
                                    {"emc_ns": ", ".join(map(str, emc.ns)), "emc_seeds": se})
        ew = emc.widths.astype(float)
        m["threshold_moves_n"] = Measured(
            (_log2_cross(emc.train_err[0], ew), _log2_cross(emc.train_err[-1], ew), float(np.log2(2 * ew[-1]))),
            {"n_lo": int(emc.ns[0]), "n_hi": int(emc.ns[-1]), "nz": f"{emc.noise:.0%}",
             "w_cap": 2 * int(ew[-1]), "tol": tol})
    m["epochwise_rise"] = Measured((sw.test_err_curve[k, :, -1], np.asarray(sw.epochs)), nz)
    ss = results.samples
    if ss is not None:
        m["more_data_hurts"] = Measured((ss.test_err, ss.ns), {"width": ss.width})
    # Neyshabur
    # "the width that fits": the first whose every seed meets the interpolation criterion
    # (train error <= tol at each of the last FIT_EVALS evaluations), so both arms are converged
    held = [bool(train_state(sw.train_err_curve[0, :, j], sw.train_loss[0, :, j], steps, tol).met.all())
            for j in range(len(sw.widths))]
    i0n = held.index(True) if any(held) else None
    text = ("Without label noise" if sw.noises[0] == 0 else
            f"With the lowest label noise ({nz['nz_lo']}; the source has none)")
    if i0n is not None and i0n < len(sw.widths) - 1:
        detail = f"measured: test error at the first fitting width {sw.widths[i0n]} minus at width {sw.widths[-1]}"
        arms = {f"width {sw.widths[j]}": train_state(sw.train_err_curve[0, :, j], sw.train_loss[0, :, j],
                                                     steps, tol) for j in (i0n, -1)}
        m["keeps_falling"] = Measured((lo[:, i0n], lo[:, -1], ""), {"noise_text": text, "detail": detail, "tol": tol}, arms)
    else:
        why = "no width fits" if i0n is None else "only the widest model fits"
        detail = f"{why}: measured value is the lowest mean training error"
        low = sw.train_err[0][:, int(np.argmin(sw.train_err[0].mean(0)))]
        m["keeps_falling"] = Measured((low, low, f"{why} the training set, so no wider model to compare"),
                                      {"noise_text": text, "detail": detail, "tol": tol})
    m["zero_train_error"] = Measured(
        _error_cells(sw.train_err[0][:, -1], sw.n_train),
        nz | {"n_params": int(sw.n_params[-1]), "n_train": sw.n_train},
        {f"width {sw.widths[-1]}": train_state(sw.train_err_curve[0, :, -1], sw.train_loss[0, :, -1], steps, tol)})
    rl = results.random_labels
    if rl is not None:
        m["random_labels"] = Measured(
            _error_cells(rl.train_err[:, 0], rl.n_train), {"width": int(rl.widths[0]), "n": rl.n_train},
            {f"width {rl.widths[0]}": train_state(rl.train_err_curve[:, 0], np.full(len(rl.train_err), np.nan),
                                                  _steps(cfg, rl.n_train), tol)})
    pr = results.probes
    if pr is not None:
        m["smoother_wide"] = Measured(((hi, np.log(pr.sensitivity)), widths), nz, by_width)
        m["flat_wide"] = Measured(((hi, pr.sharpness), widths), nz | {"rel": pr.rel}, by_width)
        d = pr.decay
        m["decay_helps"] = Measured(
            (d.test_err_plain, d.test_err_decay),
            {"nz": f"{d.noise:.0%} label noise", "wd": d.weight_decay, "widths": ", ".join(map(str, d.widths))},
            {"no decay": train_state(d.train_err_curve_plain, d.train_loss_plain, steps, tol),
             "weight decay": train_state(d.train_err_curve_decay, d.train_loss_decay, steps, tol)})
    ls = results.ls
    if ls is not None:
        cols, r = list(ls.cols), int(ls.rows)
        if r in cols and 2 * r in cols and r // 2 in cols:
            lg = np.log(ls.norm)
            m["min_norm_square"] = Measured(
                lg[:, cols.index(r)] - np.maximum(lg[:, cols.index(r // 2)], lg[:, cols.index(2 * r)]),
                {"rows": r, "half": r // 2, "double": 2 * r})
    ts = results.teacher
    if ts is not None:
        m["larger_easier"] = Measured(
            ts.train_err[:, 0] - ts.train_err[:, -1],
            {"labels": ts.labels, "w0": int(ts.widths[0]), "w1": int(ts.widths[-1])},
            {f"student {ts.widths[j]}": train_state(ts.train_err_curve[:, j], np.full(len(ts.train_err), np.nan),
                                                    _steps(cfg, ts.n_train), tol) for j in (0, -1)})
    return m


def claims(results: DoubleDescentResults, run) -> ClaimsTable:
    """The chapter's claims table, every verdict computed by a rule of :data:`RULES`.

    Introduced in: Chapter 3
    """
    return RULES.table(measure(results), run)
