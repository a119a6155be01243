"""Chapter 5 claims: each rule a pure function of per-seed measurements, calibrated in CHECKS.

Sizes enter as log2 (octaves). Every ``rule_*`` takes per-seed numbers (arrays over the
run's seeds) and returns a verdict; :func:`claims` measures those numbers from the results
and calls the rules; :data:`CHECKS` drives each rule with simulated measurements
(:mod:`overparam.calibration`). Noise levels in the checks are the spread over the 3 seeds
of ``quick`` runs (run seeds 0 and 1, at 3 seeds each), rounded up; effects are the journal's where it gives
one, else stated in the check's note.
"""
from __future__ import annotations

import numpy as np

from ... import claims as C
from ...calibration import Check, normal_seeds
from ...stats import Estimate, mean_ci
from .experiments import FlexResults, plateau_width
from .profiles import PROFILES, SOURCE

SLOPE_TOL = 0.25     # "the same size whatever the start": |d log2 size / d log2 start| < 0.25
ACC_TOL = 0.01       # "as good", "does not depend": within 1 accuracy point (per octave for slopes)
ROOM_MAX = 0.25      # "room to move": the last quarter used < 25 % of Adam's bound
ZERO_MAX = 0.25      # "weights are zero": under a quarter of their initial size
NOISE_TOL = 0.5      # "as noisy as at the beginning": |log2 (end / start)| < 0.5
SHAPE_TOL = 0.5      # "logarithmic": growth per doubling of time constant, ratio within 1 +- 0.5
LOSS_TOL = 0.05      # "same loss": within 0.05 nats
SOMETIMES = 0.05     # "sometimes positive": more than 5 % of the steps
X0_RUN = -0.5        # "diverges": x0 travels more than half of Adam's bound downward
OCTAVE = 1.0         # "finds the width": within one octave
TWICE_TOL = 0.5      # "2x bigger": log2 ratio within 1 +- 0.5


def _ci(x) -> Estimate:
    return mean_ci(np.asarray(x, float))


# --------------------------------------------------------------------------- measurements


def slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per seed: least-squares slope of y (S, N) on x (N,)."""
    x = np.asarray(x, float)
    xc = x - x.mean()
    return (np.asarray(y, float) - np.mean(y, 1, keepdims=True)) @ xc / (xc @ xc)


def loo_best(static: np.ndarray) -> np.ndarray:
    """(S,) each seed's static accuracy at the width that is best on the mean of the OTHER
    seeds (a best point picked on other seeds than those that measure it)."""
    static = np.asarray(static, float)
    S = len(static)
    out = np.empty(S)
    for s in range(S):
        j = int(np.argmax(np.delete(static, s, 0).mean(0)))
        out[s] = static[s, j]
    return out


def doubling_ratio(trace: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per seed, from size traces (S, T + 1): the growth over the last half ``s(T) - s(T/2)``
    and its ratio to the growth over the quarter before, ``(s(T) - s(T/2)) / (s(T/2) - s(T/4))``:
    1 for logarithmic growth (equal growth per doubling of time), 2 for linear, < 1 settling."""
    T = trace.shape[1] - 1
    a, b, c = trace[:, T // 4], trace[:, T // 2], trace[:, T]
    d1, d2 = b - a, c - b
    with np.errstate(divide="ignore", invalid="ignore"):
        return d2, np.where(np.abs(d1) > 1e-9, d2 / d1, np.nan)


def late_run(x0: np.ndarray) -> np.ndarray:
    """Per seed, from x0 traces (S, T + 1): the mean change of x0 per step over the second
    half, (x0(T) - x0(T/2)) / (T/2) (divide by size_lr for the share of Adam's bound)."""
    T = x0.shape[1] - 1
    return (x0[:, T] - x0[:, T // 2]) / (T // 2)


# --------------------------------------------------------------------------- rules (pure)


def rule_same_size(b) -> str:
    """Per-seed slopes of log2 final size on log2 start size; claim "the same size whatever
    the start": |slope| < SLOPE_TOL."""
    return C.judge_near(_ci(b), 0.0, SLOPE_TOL)


def rule_erratum(m) -> str:
    """(slopes, min over starts of log2(final / start)) per seed; claim "not the same size,
    and the size increases in every case": slope > SLOPE_TOL AND growth > 0 (compound)."""
    b, grow = m
    return C.judge_all([C.judge_above(_ci(b), SLOPE_TOL), C.judge_above(_ci(grow), 0.0)])


def rule_flat(b) -> str:
    """Per-seed slopes of test accuracy per octave of start size; claim "no dependence":
    |slope| < ACC_TOL."""
    return C.judge_near(_ci(b), 0.0, ACC_TOL)


def rule_room(q) -> str:
    """Per seed, the largest share of Adam's bound any member used in the last quarter;
    claim "the sizes had room to move (were not held back by the step bound)": < ROOM_MAX."""
    return C.judge_below(_ci(q), ROOM_MAX)


def rule_as_good(d) -> str:
    """Per-seed accuracy differences flexible - static; claim "as good": |d| < ACC_TOL."""
    return C.judge_near(_ci(d), 0.0, ACC_TOL)


def rule_worse(d) -> str:
    """Per-seed accuracy differences flexible - static; claim "not as good": d < -ACC_TOL."""
    return C.judge_below(_ci(d), -ACC_TOL)


def rule_gap_larger(m) -> str:
    """(static easy (S, W), flexible easy (S,), static hard (S, W), flexible hard (S,));
    claim "the loss in accuracy against the best static width is higher on the hard task":
    (best - flexible)_hard - (best - flexible)_easy > 0, the best width of each seed picked
    on the other seeds."""
    se, fe, sh, fh = m
    return C.judge_above(_ci((loo_best(sh) - fh) - (loo_best(se) - fe)), 0.0)


def rule_above(x) -> str:
    """Per-seed values; claim "> 0"."""
    return C.judge_above(_ci(x), 0.0)


def rule_below(x) -> str:
    """Per-seed values; claim "< 0"."""
    return C.judge_below(_ci(x), 0.0)


def rule_zero(r) -> str:
    """Per-seed ratios end / start of disabled units' outgoing weights; claim "zero":
    < ZERO_MAX."""
    return C.judge_below(_ci(r), ZERO_MAX)


def rule_unchanged(lr) -> str:
    """Per-seed log2(end / start) of disabled units' outgoing weights; claim "as they were
    at the beginning": |log2 ratio| < NOISE_TOL."""
    return C.judge_near(_ci(lr), 0.0, NOISE_TOL)


def rule_twice(x) -> str:
    """Per-seed log2 size ratios; claim "2x": within 1 +- TWICE_TOL."""
    return C.judge_near(_ci(x), 1.0, TWICE_TOL)


def rule_log_growth(m) -> str:
    """(late growth, doubling ratio) per seed; claim "keeps growing, logarithmically":
    late growth > 0 (else not reproduced / inconclusive), then the doubling ratio within
    1 +- SHAPE_TOL (a linear, step-bound growth has ratio 2; a plateau ratio 0)."""
    late, ratio = m
    grows = C.judge_above(_ci(late), 0.0)
    if grows != C.REPRODUCED:
        return grows
    return C.judge_near(_ci(ratio), 1.0, SHAPE_TOL)


def rule_always_higher(d) -> str:
    """(S, Q) loss differences random - fixed per quarter (2nd to 4th); claim "always
    higher": > 0 in every quarter (compound)."""
    d = np.asarray(d, float)
    return C.judge_all([C.judge_above(_ci(d[:, q]), 0.0) for q in range(d.shape[1])])


def rule_diverges(v) -> str:
    """Per-seed (x0(T) - x0(0)) / Adam's bound; claim "x0 runs toward minus infinity":
    < X0_RUN (moves down at more than half the fastest rate Adam allows)."""
    return C.judge_below(_ci(v), X0_RUN)


def rule_same_loss(d) -> str:
    """Per-seed loss differences; claim "the same loss": |d| < LOSS_TOL nats."""
    return C.judge_near(_ci(d), 0.0, LOSS_TOL)


def rule_sometimes(p) -> str:
    """Per-seed shares of steps; claim "sometimes": > SOMETIMES."""
    return C.judge_above(_ci(p), SOMETIMES)


def rule_near_octave(d) -> str:
    """Per-seed log2 size ratios; claim "finds that width": |d| < OCTAVE."""
    return C.judge_near(_ci(d), 0.0, OCTAVE)


# --------------------------------------------------------------------------- the table


def claims(results: FlexResults, run) -> C.ClaimsTable:
    """The chapter's claims table: every row measured per seed, judged by a rule above.

    Introduced in: Chapter 5
    """
    cfg, sw, grids, gr, pt, num = (results.cfg, results.starts, results.grids, results.growth,
                                   results.pretraining, results.numerics)
    rows: list = []

    def add(claim, x, verdict, rule, source=SOURCE):
        rows.append(C.make_claim(claim, source, _ci(x), verdict, rule, run.profile, run.seed))

    rows.append(C.exact_claim(
        "The journal's scaler 1 - 1/(1 + exp(-k (i - x0))) gives NaN gradients for x0 and k "
        f"(its initialisation x0 = N = {num.n}, k = 1)", SOURCE, num.naive_nan,
        f"share of NaN among d(sum of scales)/d(x0, k) in float32; exp overflows from k (x0 - i) = "
        f"{num.naive_nan_from:g}; the softplus closed form: {num.stable_nan:g} NaN", run.profile, run.seed))
    rows.append(C.exact_claim(
        "The size integral in closed form, (softplus(k x0) - softplus(k (x0 - N))) / k, is the "
        "integral of the scaler and stays finite", "this book", num.integral_error,
        f"largest |closed form - numerical integral| over x0 in [-20, 300], k in [0.1, 5]; values and "
        f"gradients finite for |x0| <= 1e6, k in [1e-3, 1e3]: {num.extreme_finite}", run.profile, run.seed))
    L = np.log2(sw.starts)
    logsize = np.log2(np.maximum(sw.size, 1e-3))
    b_reg, b_none = slopes(L, logsize[0]), slopes(L, logsize[1])
    add(f"[{sw.task}] \"whatever the starting size is the NN always converge (roughly) to the same "
        "number of neurons\" (size penalty + L2)", b_reg, rule_same_size(b_reg),
        f"slope of log2 final size on log2 start size ({int(sw.starts[0])}-{int(sw.starts[-1])}), "
        f"|slope| < {SLOPE_TOL}; measured: the slope")
    grow = np.min(logsize[1] - L, axis=1)
    add(f"[{sw.task}] Erratum: without penalty the size is \"not converging to the same size\"; "
        "\"in every case the size increases\" and gets stuck", b_none, rule_erratum((b_none, grow)),
        f"no penalty, no L2: slope > {SLOPE_TOL} AND min over starts of log2(final / start) > 0; "
        "measured: the slope")
    q = sw.quarter.reshape(len(sw.regimes), cfg.n_seeds, -1).transpose(1, 0, 2).reshape(cfg.n_seeds, -1).max(1)
    add(f"[{sw.task}] start-size comparison: the sizes had room to move (Adam's bound "
        f"{sw.bound:.0f} units per run)", q, rule_room(q),
        f"largest share of the bound size_lr x T/4 used in the last quarter, over starts and "
        f"regimes, < {ROOM_MAX}", "this book")
    for r, reg in enumerate(sw.regimes):
        a = slopes(L, sw.acc[r])
        add(f"[{sw.task}] final accuracy does not depend on the starting size ({reg})", a, rule_flat(a),
            f"slope of test accuracy per octave of start size, |slope| < {ACC_TOL}")
    for task, g in grids.items():
        d = (g.acc - g.retrain_acc).mean((0, 1))
        if task == "hard":
            add(f"[{task}] the flexible net is worse than a static net of its converged size "
                "(FashionMNIST: \"not the case at all\")", d, rule_worse(d),
                f"test accuracy flexible - static retrained from scratch at round(size) (same seed and "
                f"steps), mean over penalties and L2 on/off, < -{ACC_TOL}")
        else:
            add(f"[{task}] the flexible net is as good as a static net of its converged size "
                "(MNIST: \"as good as the static model\")", d, rule_as_good(d),
                f"test accuracy flexible - static retrained from scratch at round(size) (same seed and "
                f"steps), mean over penalties and L2 on/off, |d| < {ACC_TOL}")
    ge, gh = grids["easy"], grids["hard"]
    fe, fh = ge.acc[:, 0].mean(0), gh.acc[:, 0].mean(0)
    gap = (loo_best(gh.static_acc) - fh) - (loo_best(ge.static_acc) - fe)
    add("[hard vs easy] \"the loss in accuracy is much higher\" on the harder task (against the "
        "best static width)", gap, rule_gap_larger((ge.static_acc, fe, gh.static_acc, fh)),
        "(best static - flexible)_hard - (...)_easy > 0, L2 on; each seed's best width picked on "
        "the other seeds")
    x = np.log2(ge.size[:, 0] / gh.size[:, 0]).mean(0)
    add("[easy vs hard] \"The size MNIST converge to is higher than the size FashionMNIST does\"",
        x, rule_above(x), "log2(size easy / size hard), paired by penalty and seed, L2 on, > 0")
    r_l2 = np.nanmean(np.stack([g.w_ratio[:, 0] for g in grids.values()]), axis=(0, 1))
    add("With L2, \"all the weights associated to disabled neurons are zero\"", r_l2, rule_zero(r_l2),
        f"|outgoing weights| of disabled units (f < 0.007), end / start, mean over tasks and "
        f"penalties, < {ZERO_MAX}")
    r0 = np.log2(np.nanmean(np.stack([g.w_ratio[:, 1] for g in grids.values()]), axis=(0, 1)))
    add("Without L2 they are \"as noisy as they were at the beginning of training\"", r0,
        rule_unchanged(r0), f"log2(end / start) of the same ratio without L2, |.| < {NOISE_TOL}")
    x = np.mean(np.stack([np.log2(g.size[:, 1] / g.size[:, 0]) for g in grids.values()]), axis=(0, 1))
    add("Without L2 the size plateau is bigger (\"2x bigger now\")", x, rule_twice(x),
        f"log2(size without L2 / with L2), paired by task, penalty and seed, within 1 +- {TWICE_TOL} "
        "(1.4x to 2.8x)")
    late, ratio = doubling_ratio(gr.fixed)
    add(f"[{gr.task}] without L2 the size \"diverges in a logarithmic fashion\"", ratio,
        rule_log_growth((late, ratio)),
        f"no penalty: growth over the last half > 0, then (growth over the last half) / (over the "
        f"quarter before) within 1 +- {SHAPE_TOL} (linear: 2); measured: that ratio; Adam's bound "
        f"{gr.bound:.0f} units")
    x = np.log2(gr.fixed[:, -1] / gr.random[:, -1])
    add(f"[{gr.task}] the random slope \"converge[s] to infinity slower\"", x, rule_above(x),
        "log2(final size fixed slope / random slope), paired by seed, > 0")
    T = gr.loss_fixed.shape[1]
    qs = [slice(q * T // 4, (q + 1) * T // 4) for q in (1, 2, 3)]
    d = np.stack([gr.loss_random[:, s].mean(1) - gr.loss_fixed[:, s].mean(1) for s in qs], 1)
    add(f"[{gr.task}] with the random slope the \"loss is always higher\"", d.mean(1), rule_always_higher(d),
        "mean batch loss random - fixed > 0 in each of the 2nd, 3rd and 4th quarters (compound); "
        "measured: the mean difference")
    v = late_run(gr.x0_pen) / (gr.bound / gr.steps)
    add(f"[{gr.task}] the penalty = x0 lets the size run toward minus infinity (\"the loss can be as "
        "low as -infinity\")", v, rule_diverges(v),
        f"(x0(T) - x0(T/2)) / Adam's bound over that half < {X0_RUN} (still running down); the "
        "integral penalty of the same weight is shown for contrast")
    x = np.log2(np.maximum(pt.final[-1], 1e-3) / np.maximum(pt.final[0], 1e-3))
    add(f"[{pt.task}] \"The more we train the network before enabling the variable size, the lower the "
        "size it converges to\"", x, rule_below(x),
        f"log2(final size after {pt.pretrain[-1]} pre-training steps / after none), same size steps "
        "and bound, paired by seed, < 0")
    d = pt.train_loss[-1] - pt.train_loss[0]
    add(f"[{pt.task}] pre-trained or not, they reach \"the same loss on average\"", d, rule_same_loss(d),
        f"training-set loss at the end, most pre-trained - none, |d| < {LOSS_TOL} nats")
    p = pt.pos_grad[0]
    add(f"[{pt.task}] \"the gradient on the size is sometimes positive\" (no penalty)", p,
        rule_sometimes(p), f"share of steps with d loss / d x0 > 0, > {SOMETIMES:.0%}")
    for task, g in grids.items():
        S = g.static_acc.shape[0]
        plat = np.array([plateau_width(np.delete(g.static_acc, s, 0).mean(0), g.static_widths, cfg.plateau_tol)
                         for s in range(S)])
        d = np.log2(np.maximum(g.size[0, 1], 1) / plat)
        add(f"[{task}] the flexible net finds the width where static accuracy plateaus (smallest "
            "penalty, no L2)", d, rule_near_octave(d),
            f"log2(final size / first static width within {cfg.plateau_tol:.0%} of the best), the "
            f"plateau picked on the other seeds, |.| < {OCTAVE} octave", "this book (beyond the journal)")
    return C.ClaimsTable(rows, not_tested=NOT_TESTED)


NOT_TESTED = [
    ("Training the slope k with x0 (the first implementation)", "the journal settled on a fixed slope; "
     "the chapter tests the fixed and the random slope"),
    ("Random activation: \"gradients will always be zero\"", "the journal did not run it (\"code was not "
     "even checked in\")"),
    ("Two-phase training (right part at a higher learning rate)", "the journal abandoned it after the "
     "pre-task; the pre-training rows test the pre-task"),
    ("FashionMNIST converges smaller because decisions about the gray zone are noisier",
     "an explanation, not a measurement (the easy vs hard row measures the sizes)"),
    ("Adam gets noisy at very low loss (AdaMax comparison)", "an entry without results in the journal"),
    ("Sorting neurons by importance / learning the order (sparsifiers)", "chapter 6"),
    ("A differentiable-size net grows when the task gets harder, not shrink when easier (Miconi 2016)",
     "beyond the journal; task switching mid-training is not run at this scale"),
    ("The learned width against the width that first fits the training set (chapter 3's reference)",
     "beyond the journal; static nets do not fit MNIST-1D within quick's 15 epochs, so that width "
     "is not defined here (the plateau-width rows compare with chapter 4's reference)"),
]


# --------------------------------------------------------------------------- calibration

N = PROFILES["quick"].n_seeds  # the calibration simulates the quick profile's seeds


def _pairs(b_mean, g_mean, sd_b, sd_g, n=N):
    return lambda rng: (rng.normal(b_mean, sd_b, n), rng.normal(g_mean, sd_g, n))


def _growth(late, ratio, sd_late, sd_ratio, n=N):
    return lambda rng: (rng.normal(late, sd_late, n), rng.normal(ratio, sd_ratio, n))


def _quarters(mean, sd, n=N):
    return lambda rng: rng.normal(mean, sd, (n, 3))


def _gap(delta, sd_acc=0.012, widths=5, n=N):
    """Static curves rising to a plateau (true best at the widest), flexible accuracies;
    (best - flexible) larger on the hard task by ``delta``."""
    def draw(rng):
        base = 0.9 - 0.2 * np.exp(-np.arange(widths))
        se = base + rng.normal(0, sd_acc, (n, widths))
        sh = base - 0.3 + rng.normal(0, sd_acc, (n, widths))
        fe = base[-1] - 0.02 + rng.normal(0, sd_acc, n)
        fh = base[-1] - 0.3 - 0.02 - delta + rng.normal(0, sd_acc, n)
        return se, fe, sh, fh
    return draw


CHECKS = [
    Check("whatever the starting size, the size converges to the same number of neurons", rule_same_size,
          normal_seeds(SLOPE_TOL, 0.1, N), normal_seeds(0.0, 0.1, N), normal_seeds(0.6, 0.1, N), N,
          "slope sd 0.1 (quick: 0.02-0.1); null at the band edge; effect 0 (the journal); against 0.6 (quick)"),
    Check("Erratum: not the same size, and the size increases from every start", rule_erratum,
          _pairs(SLOPE_TOL, 0.0, 0.05, 0.05), _pairs(0.5, 0.25, 0.05, 0.05), _pairs(0.0, -0.25, 0.05, 0.05), N,
          "slope sd 0.05, min log2 growth sd 0.05 (quick: 0.03, 0.01); "
          "effect: slope 0.5 with growth 0.25 octave (quick); against: converging and shrinking; null: both at their thresholds"),
    Check("final accuracy does not depend on the starting size", rule_flat,
          normal_seeds(ACC_TOL, 0.005, N), normal_seeds(0.0, 0.005, N), normal_seeds(0.03, 0.005, N), N,
          "accuracy per octave sd 0.005 (quick: 0.002-0.005); null at the edge; against +3 points/octave"),
    Check("start-size comparison: the sizes had room to move", rule_room,
          normal_seeds(ROOM_MAX, 0.03, N), normal_seeds(0.15, 0.03, N), normal_seeds(0.6, 0.03, N), N,
          "share sd 0.03 (quick: 0.01-0.03); effect 0.15 (quick's no-penalty growth); against 0.6"),
    Check("the flexible net is as good as a static net of its converged size", rule_as_good,
          normal_seeds(ACC_TOL, 0.006, N), normal_seeds(0.0, 0.006, N), normal_seeds(-0.04, 0.006, N), N,
          "per-seed mean accuracy difference sd 0.006 (quick, 4 seeds: 0.005); null at the edge; "
          "against -4 points"),
    Check("the flexible net is worse than a static net of its converged size", rule_worse,
          normal_seeds(-ACC_TOL, 0.006, N), normal_seeds(-0.05, 0.006, N), normal_seeds(0.01, 0.006, N), N,
          "per-seed mean accuracy difference sd 0.006 (quick, 4 seeds: 0.005); null at -1 point; "
          "effect -5 points ('not the case at all')"),
    Check("the loss in accuracy against the best static width is higher on the harder task", rule_gap_larger,
          _gap(0.0), _gap(0.05), _gap(-0.05), N,
          "static curves and flexible accuracies with sd 0.012 per point (quick: 0.005-0.02), best "
          "width picked on the other seeds; effect 5 points ('much higher')"),
    Check("the easy task converges to a larger size than the hard one", rule_above,
          normal_seeds(0.0, 0.12, N), normal_seeds(0.4, 0.12, N), normal_seeds(-0.4, 0.12, N), N,
          "log2 ratio sd 0.12 (quick: 0.05-0.1); effect 0.4 octave (quick seed 0)"),
    Check("with L2 the weights of disabled units are zero", rule_zero,
          normal_seeds(ZERO_MAX, 0.03, N), normal_seeds(0.02, 0.03, N), normal_seeds(1.0, 0.03, N), N,
          "ratio sd 0.03 (quick: 0.01-0.02); null at the threshold; effect ~0; against unchanged (1)"),
    Check("without L2 the weights of disabled units stay as at the start", rule_unchanged,
          normal_seeds(NOISE_TOL, 0.04, N), normal_seeds(0.0, 0.04, N), normal_seeds(-3.0, 0.04, N), N,
          "log2 ratio sd 0.04 (quick: 0.01-0.03); null at the band edge; against: shrunk 8x"),
    Check("without L2 the size is 2x bigger", rule_twice,
          normal_seeds(1 - TWICE_TOL, 0.05, N), normal_seeds(1.0, 0.05, N), normal_seeds(0.0, 0.05, N), N,
          "log2 ratio sd 0.05 (quick: 0.03); null at the band edge; effect 1 (journal); against 0"),
    Check("without L2 the size diverges logarithmically", rule_log_growth,
          _growth(10.0, 1 + SHAPE_TOL, 2.0, 0.2), _growth(10.0, 1.0, 2.0, 0.2), _growth(10.0, 2.0, 2.0, 0.2), N,
          "late growth sd 2 units, doubling ratio sd 0.2 (quick: 1-2, 0.1-0.15); null: ratio at the "
          "band edge; effect 1 (log); against 2 (linear, step-bound)"),
    Check("the random slope grows more slowly", rule_above,
          normal_seeds(0.0, 0.03, N), normal_seeds(0.08, 0.03, N), normal_seeds(-0.08, 0.03, N), N,
          "log2 ratio sd 0.03 (quick: 0.01-0.03); effect 0.08 (quick)"),
    Check("with the random slope the loss is always higher", rule_always_higher,
          _quarters(0.0, 0.012), _quarters(0.03, 0.012), _quarters(-0.03, 0.012), N,
          "loss difference per quarter sd 0.012 nats (quick: 0.005-0.012); effect 0.03 nats"),
    Check("penalty = x0 lets the size run toward minus infinity", rule_diverges,
          normal_seeds(X0_RUN, 0.1, N), normal_seeds(-1.0, 0.1, N), normal_seeds(0.0, 0.1, N), N,
          "share of the step bound sd 0.1; effect -1 (Adam's fastest descent); against 0 (settled)"),
    Check("the more pre-training, the lower the size", rule_below,
          normal_seeds(0.0, 0.25, N), normal_seeds(-0.7, 0.25, N), normal_seeds(0.7, 0.25, N), N,
          "log2 ratio sd 0.25 (quick: 0.1-0.2); effect -0.7 octave (journal's plots, read roughly)"),
    Check("pre-trained or not, the same loss", rule_same_loss,
          normal_seeds(LOSS_TOL, 0.02, N), normal_seeds(0.0, 0.02, N), normal_seeds(0.2, 0.02, N), N,
          "loss difference sd 0.02 nats (quick: 0.01-0.02); null at the band edge"),
    Check("the gradient on the size is sometimes positive", rule_sometimes,
          normal_seeds(SOMETIMES, 0.03, N), normal_seeds(0.25, 0.03, N), normal_seeds(0.0, 0.03, N), N,
          "share sd 0.03 (quick: 0.02-0.03); effect 0.25 (quick)"),
    Check("the flexible net finds the static plateau width", rule_near_octave,
          normal_seeds(OCTAVE, 0.4, N), normal_seeds(0.0, 0.4, N), normal_seeds(-3.0, 0.4, N), N,
          "log2 ratio sd 0.4 (quick: 0.05-0.6, plateau picked on the other seeds); null at the edge"),
]
