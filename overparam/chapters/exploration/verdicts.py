"""Chapter 1 claims: every claim one declared rule, judged on per-training measurements.

The chapter's replicates are independent trainings: every grid point trains hundreds of
nets from their own initial values and data, so intervals are over trainings. Points
picked from the data (the best optimizer and learning rate, the largest Naive net the
HyperNetwork beats) are picked on one half of the trainings, or on trainings of their
own, and measured on the others. :data:`RULES` declares each claim (stable key, text,
source, rule, calibration); :func:`measure` turns the results into the measurements, by
key; :func:`claims` judges them.

Introduced in: Chapter 1
"""
from __future__ import annotations

import numpy as np
from scipy.stats import norm

from ...adequacy import SAME_STEPS
from ...calibration import load_spread, normal, normal_pair
from ...claims import (Above, ClaimsTable, Custom, Judgement, Measured, Near, Rule, RuleBook, Sim,
                       judge_above, paired, proportion, welch)
from ...config import Run
from ...stats import Estimate, diff_ci
from ...data import PATTERN_1101
from .experiments import ExplorationResults, OptimizerStudy, pick_best
from .sweeps import LEAKY_SLOPE, SMOOTH_TEMPERATURE, subset_state
from .profiles import SOURCE

SRC = SOURCE + " README"
DRAWS_TOL = 0.1   # "about 1 - (1 - p1)^n": mean over n of measured - predicted within +- 0.1
#: "it often ends up falling into a local minimum": the source gives no number; "often" is
#: read as "more often than not" (at least half the single-candidate runs), fixed before any run.
OFTEN = 0.5

# --------------------------------------------------------------------------- estimators and judges


def _halves(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, float)
    h = len(x) // 2
    return x[:h], x[h:]


def rule_hyper(m) -> Judgement:
    """``m = (naive, hyper)``: naive {n_filters: accuracies}, hyper: accuracies.

    On the first half of each set of trainings, pick j: the largest Naive size whose
    accuracy lies below the HyperNetwork's (Welch 95 % interval of hyper - Naive(j)
    above 0; j = 1 when none does). On the second half, judge hyper - Naive(j) > 0.
    ``picked`` is j.
    """
    naive, hyper = m
    h_pick, h_test = _halves(hyper)
    j = 1
    for n in sorted(naive):
        if judge_above(diff_ci(h_pick, _halves(naive[n])[0]), 0.0) == "reproduced":
            j = n
    e = diff_ci(h_test, _halves(naive[j])[1])
    return Judgement(judge_above(e, 0.0), e, j)


def rule_optimizer(m) -> Judgement:
    """``m = (selection, test, baseline)``: the best candidate beats the source's recipe.

    ``selection[(name, lr)]`` are the picking trainings' outcomes; the best mean is
    picked there, and ``test[(name, lr)]`` (fresh trainings) minus ``baseline`` (fresh
    trainings of the source's recipe) must be > 0 (Welch 95 % interval). ``picked`` is
    the chosen (name, lr).
    """
    selection, test, baseline = m
    best = pick_best(selection)
    e = diff_ci(test[best], baseline)
    return Judgement(judge_above(e, 0.0), e, best)


def pooled_draws(s1, by_n: dict[int, np.ndarray], level: float = 0.95) -> Estimate:
    """Mean over n > 1 of measured - predicted success, 1 - (1 - p1)^n, and its interval.

    Delta method: the n-filter rates are independent; p1 enters every prediction, so its
    variance is counted once with the mean slope. Rates in the variance get half a
    success on each side, so the interval never has zero width.
    """
    s1 = np.asarray(s1, float)
    ns = sorted(n for n in by_n if n > 1)
    p1 = s1.mean()
    diffs = [np.mean(by_n[n]) - (1 - (1 - p1) ** n) for n in ns]
    q1 = (s1.sum() + 0.5) / (len(s1) + 1)
    var = (np.mean([n * (1 - q1) ** (n - 1) for n in ns]) ** 2 * q1 * (1 - q1) / len(s1))
    for n in ns:
        qn = (np.sum(by_n[n]) + 0.5) / (len(by_n[n]) + 1)
        var += qn * (1 - qn) / len(by_n[n]) / len(ns) ** 2
    half = norm.ppf(0.5 + level / 2) * np.sqrt(var)
    d = float(np.mean(diffs))
    return Estimate(d, d - half, d + half, len(s1) + sum(len(by_n[n]) for n in ns))


def _pooled(m) -> Estimate:
    return pooled_draws(*m)


#: ``m = (s1, by_n)``: 1-filter successes and {n: successes}; mean diff within ± DRAWS_TOL.
rule_more_draws = Near(0.0, DRAWS_TOL, _pooled)

# --------------------------------------------------------------------------- calibration samplers
# Noise: the spread of one replicate per rule, measured by scripts/measure_spread.py over
# quick runs (spread.json beside this module: hundreds of trainings per run). For a Welch
# difference of two arms of N trainings each, that spread is 2 x the per-training sd of
# an arm (both arms drawn with sd / 2 reproduce the measured interval). Effects: the
# source's where it gives one (the hand-set AND net at 0.98), else a stated minimal effect.

_SPREAD = load_spread(__file__).get("sd", {})
MIN_GAIN = 0.05          # stated minimal effect: 5 points of accuracy or F1
MIN_SUCCESS_GAIN = 0.2   # stated minimal effect on a success rate (optimizer study, 1101)
MIN_ANGLE = 5.0          # stated minimal effect: 5 degrees farther from [1, 1, 0, 1] at the start
HANDSET_AND_F1 = 0.98    # the source's value: eval_bool.py draws the hand-set net at (width 2, F1 0.98)
HANDSET_TOL = 0.01       # "0.98" read to its two decimals, with room: within +- 0.01


def _sd(key: str) -> float:
    """The measured spread of one replicate of ``key`` (spread.json: every rule has one)."""
    return float(_SPREAD[key])


def _arms(key: str, gain: float, base: float = 0.8):
    """Two arms of accuracies / F1, each ~ N(., spread / 2): a = base + gain, b = base."""
    s = _sd(key) / 2
    return lambda rng, n, cfg: (rng.normal(base + gain, s, n), rng.normal(base, s, n))


def _hyper_sampler(gain: float):
    """A rising Naive curve (0.7 at 1 filter -> 1.0; quick: 0.74 -> 1.00) and the HyperNetwork
    at the 1-filter mean + ``gain``; every arm ~ N(., spread / 2). The pick of j on half the
    trainings runs as in the rule."""
    def sample(rng, n, cfg):
        s = _sd("hyper") / 2
        naive = {k: rng.normal(1.0 - 0.3 * 0.5 ** (k - 1), s, n) for k in range(1, cfg.max_filters + 1)}
        return naive, rng.normal(0.7 + gain, s, n)
    return sample


def _optimizer_sampler(base, best_gain, others_gain, outcome):
    """Selection over 3 optimizers x the profile's lrs, then a fresh test of the pick and the
    baseline: success rates (Bernoulli) or F1 (normal, the measured spread / 2)."""
    def sample(rng, n, cfg):
        def draw(mean):
            if outcome == "success":
                return (rng.random(n) < np.clip(mean, 0, 1)).astype(float)
            return rng.normal(mean, _sd("optimizer_and") / 2, n)
        means = {(o, i): base + (best_gain if (o, i) == ("adam", 0) else others_gain)
                 for o in ("momentum", "adam", "rmsprop") for i in range(len(cfg.lrs))}
        selection = {k: draw(v) for k, v in means.items()}
        test = {k: draw(v) for k, v in means.items()}
        return selection, test, draw(base)
    return sample


def _draws_sampler(delta, p1=0.235):
    """Bernoulli successes: p1 (quick: 0.235) from cfg.p1_runs trainings, n filters at
    1 - (1 - p1)^n + delta."""
    def sample(rng, n, cfg):
        s1 = (rng.random(cfg.p1_runs) < p1).astype(float)
        by_n = {k: (rng.random(n) < np.clip(1 - (1 - p1) ** k + delta, 0, 1)).astype(float)
                for k in range(2, cfg.max_filters + 1)}
        return s1, by_n
    return sample


P1_QUICK = 0.235   # the 1-filter success rate at quick (the "more draws" p1)


def _angle_sampler(gain: float):
    """Initial angles (degrees) of failed and successful 1-filter trainings, split as at quick
    (p1 successful); per-training sd from the measured spread of the Welch difference
    (replicate sd = s * sqrt(1 / q + 1 / (1 - q)) for groups of shares q and 1 - q)."""
    def sample(rng, n, cfg):
        n_ok = max(int(round(cfg.p1_runs * P1_QUICK)), 2)
        s = _sd("init_far") / np.sqrt(1 / P1_QUICK + 1 / (1 - P1_QUICK))
        return rng.normal(70 + gain, s, cfg.p1_runs - n_ok), rng.normal(70, s, n_ok)
    return sample


def _discordant(gain: float):
    """Paired successes as their differences (smooth - max, each pair -1, 0 or +1) against
    zeros: discordant pairs as often as the measured spread of the difference says
    (share sd^2 + gain^2), split so that their mean is ``gain``."""
    def sample(rng, n, cfg):
        disc = min(_sd("flow_maxpool") ** 2 + gain ** 2, 1.0)
        u = rng.random(cfg.p1_runs)
        d = np.where(u < (disc + gain) / 2, 1.0, np.where(u < disc, -1.0, 0.0))
        return d, np.zeros(cfg.p1_runs)
    return sample


def _bernoulli(p: float):
    return lambda rng, n, cfg: rng.random(cfg.p1_runs) < p


def _pair_sim(key: str, what: str, gain: float = MIN_GAIN, replicates=None) -> Sim:
    return Sim(_arms(key, 0.0), _arms(key, gain), _arms(key, -gain),
               f"{what}; noise: the measured spread ({_sd(key):.3g} per replicate of the difference); "
               f"effect: a stated minimal {gain:+.2f}", replicates)

# --------------------------------------------------------------------------- rules


RULES = RuleBook([
    Rule("naive_size", "Accuracy rises with n_filters (Naive, {big} vs 1 filter)", SRC,
         "validation-accuracy difference > 0, Welch 95 % CI over trainings", Above(0.0, welch),
         _pair_sim("naive_size", "accuracy of the most-filter and the 1-filter Naive nets"),
         footing=SAME_STEPS),
    Rule("random_conv", "RandomConv is more economical than Naive at equal trained parameters "
         "(5k vs k filters, k = {k_lo}..{k_hi})", SRC,
         "RandomConv - Naive accuracy > 0, Welch 95 % CI over trainings", Above(0.0, welch),
         _pair_sim("random_conv", "k = 1..4 pooled", replicates=lambda cfg: cfg.n_runs * min(cfg.max_filters, 4)),
         footing=SAME_STEPS),
    Rule("hyper", "HyperNetwork reaches high accuracy with fewer parameters than conventional nets: its "
         "generated 5-parameter net beats Naive with {j} filter(s) ({j_params} trained parameters)", SRC,
         "j = largest Naive size below the HyperNetwork on half the trainings; on the other "
         "half, HyperNetwork - Naive(j) accuracy > 0 (Welch 95 % CI)", Custom(rule_hyper, (0.0,)),
         Sim(_hyper_sampler(0.0), _hyper_sampler(MIN_GAIN), _hyper_sampler(-MIN_GAIN),
             f"null: the HyperNetwork at the 1-filter mean; noise: the measured spread ({_sd('hyper'):.3g}); "
             f"effect: a stated minimal {MIN_GAIN:+.2f}; the pick of j on half the trainings is simulated"),
         footing=SAME_STEPS),
    Rule("and_width", "Width > 2 helps on AND (F1 at width {wide} vs 2)", SRC,
         "macro-F1 difference > 0, Welch 95 % CI over trainings", Above(0.0, welch),
         _pair_sim("and_width", "macro-F1 at the widest and at width 2", replicates=lambda cfg: cfg.and_runs),
         footing=SAME_STEPS),
    Rule("handset_and", "The hand-set width-2 AND net's macro-F1 (the source's figure draws it at 0.98)", SRC,
         f"mean macro-F1 over {{tests}} fresh test sets of {{n_test}} points within {HANDSET_AND_F1} +- "
         f"{HANDSET_TOL} (95 % CI); closed form for an infinite test set: {{exact:.4f}} (the net errs on "
         "negatives with relu(-x1) + relu(-x2) < 0.1)", Near(HANDSET_AND_F1, HANDSET_TOL),
         Sim(normal(HANDSET_AND_F1 - HANDSET_TOL, _sd("handset_and")), normal(HANDSET_AND_F1, _sd("handset_and")),
             normal(HANDSET_AND_F1 - 2 * HANDSET_TOL, _sd("handset_and")),
             f"per test set F1, noise: the measured spread ({_sd('handset_and'):.3g}); null: the band's lower "
             f"edge; effect: the source's {HANDSET_AND_F1}; against: {HANDSET_TOL} beyond the edge",
             replicates=lambda cfg: cfg.handset_repeats)),
    Rule("handset_1101", "The hand-set kernel [1, 1, 0, 1] (5 parameters) classifies the 1101 task perfectly "
         "(the source's figure draws it at 100 %)", SRC,
         "accuracy on the {n_val} validation sequences",
         exact_because="every positive's best window scores 3 and every negative window at most 1.5, "
         "so 1 * max - 2 separates every draw of the data"),
    Rule("optimizer_cnn", "Other optimizers train smaller nets (1101 CNN, 1 filter: {opt} at lr {lr:g} "
         "vs the source's {base})", SRC,
         "best of {{momentum 0.9, Adam, RMSprop}} x lr picked on one set of trainings; on fresh trainings "
         "its {outcome} - the source's recipe > 0 (Welch 95 % CI)", Custom(rule_optimizer, (0.0,)),
         Sim(_optimizer_sampler(0.2, 0.0, 0.0, "success"), _optimizer_sampler(0.2, MIN_SUCCESS_GAIN, 0.0, "success"),
             _optimizer_sampler(0.2 + MIN_SUCCESS_GAIN, -MIN_SUCCESS_GAIN, -MIN_SUCCESS_GAIN, "success"),
             "success rates (Bernoulli, baseline 0.2 as at quick); null: all candidates at the baseline; "
             f"effect: one candidate {MIN_SUCCESS_GAIN:+.1f} (a stated minimal effect); the pick is simulated",
             replicates=lambda cfg: cfg.optimizer_runs),
         footing=SAME_STEPS),
    Rule("optimizer_and", "Other optimizers train smaller nets (AND net, width 2: {opt} at lr {lr:g} "
         "vs the source's {base})", SRC,
         "best of {{momentum 0.9, Adam, RMSprop}} x lr picked on one set of trainings; on fresh trainings "
         "its {outcome} - the source's recipe > 0 (Welch 95 % CI)", Custom(rule_optimizer, (0.0,)),
         Sim(_optimizer_sampler(0.83, 0.0, 0.0, "f1"), _optimizer_sampler(0.83, MIN_GAIN, 0.0, "f1"),
             _optimizer_sampler(0.83, -MIN_GAIN, -MIN_GAIN, "f1"),
             f"F1, noise: the measured spread ({_sd('optimizer_and'):.3g}); effect: a stated minimal "
             f"{MIN_GAIN:+.2f}; the pick is simulated", replicates=lambda cfg: cfg.optimizer_runs),
         footing=SAME_STEPS),
    Rule("more_draws", "Over-parameterization = more draws: success(n) ≈ 1 - (1 - p1)^n", "this book",
         f"mean over n = 2..{{big}} of measured - predicted success within ± {DRAWS_TOL} "
         "(delta-method 95 % CI; p1 from separate 1-filter trainings)", rule_more_draws,
         Sim(_draws_sampler(DRAWS_TOL), _draws_sampler(0.0), _draws_sampler(-0.25),
             "Bernoulli successes, p1 0.235 as at quick; null: every n off by the band's edge "
             f"(+{DRAWS_TOL}); effect: exactly independent draws; against: -0.25"),
         footing=SAME_STEPS),
    Rule("init_far", "An SGD-trained 4-parameter convolution may fail to converge if its initial weights "
         "start too far from a global optimum (1-filter Naive: {n_fail} failed vs {n_ok} successful trainings)",
         SRC, "angle between the initial kernel and [1, 1, 0, 1] (the optimum the source names; the decision "
         "layer rescales, so the direction is what counts), failed - successful trainings > 0 degrees "
         "(Welch 95 % CI)", Above(0.0, welch),
         Sim(_angle_sampler(0.0), _angle_sampler(MIN_ANGLE), _angle_sampler(-MIN_ANGLE),
             f"angles in degrees, groups split as at quick (p1 {P1_QUICK}); noise: the measured spread "
             f"({_sd('init_far'):.3g} per replicate of the difference); effect: a stated minimal "
             f"{MIN_ANGLE:+.0f} degrees", replicates=lambda cfg: cfg.p1_runs),
         footing=SAME_STEPS),
    Rule("flow_maxpool", "Max pooling cuts the gradient flow for certain inputs, which hampers SGD "
         "(1-filter CNN: a smooth max instead)", SRC,
         f"paired on the same initial values and data (same steps): 1-filter success with a smooth max "
         f"(log-sum-exp at temperature {SMOOTH_TEMPERATURE:g}) - with max pooling > 0 (95 % t-interval of "
         "the paired differences over {n} pairs)", Above(0.0, paired),
         Sim(_discordant(0.0), _discordant(MIN_SUCCESS_GAIN / 2), _discordant(-MIN_SUCCESS_GAIN / 2),
             f"paired success differences, discordant pairs from the measured spread ({_sd('flow_maxpool'):.3g}); "
             f"effect: a stated minimal {MIN_SUCCESS_GAIN / 2:+.1f} success", replicates=lambda cfg: cfg.p1_runs),
         footing=SAME_STEPS),
    Rule("flow_relu", "ReLU cuts the gradient flow for certain inputs, which hampers SGD "
         "(width-2 AND net: LeakyReLU instead)", SRC,
         f"paired on the same initial values and data (same steps): width-2 macro-F1 with LeakyReLU "
         f"(slope {LEAKY_SLOPE:g}) - with ReLU > 0 (95 % t-interval of the paired differences over {{n}} pairs)",
         Above(0.0, paired),
         Sim(normal_pair(0.0, _sd("flow_relu")), normal_pair(MIN_GAIN, _sd("flow_relu")),
             normal_pair(-MIN_GAIN, _sd("flow_relu")),
             f"paired F1 differences, noise: the measured spread ({_sd('flow_relu'):.3g}); effect: a stated "
             f"minimal {MIN_GAIN:+.2f}", replicates=lambda cfg: cfg.flow_runs),
         footing=SAME_STEPS),
    Rule("local_min", "Gradient descent often ends up falling into a local minimum (1-filter Naive, "
         "one candidate per training)", SRC,
         f"share of 1-filter trainings whose training loss plateaued (per-tenth mean down < 5 % over the "
         f"last fifth) short of 100 % validation accuracy > {OFTEN} ('often' read as more often than not: "
         "the source gives no number); Wilson 95 % CI over {n} trainings", Above(OFTEN, proportion),
         Sim(_bernoulli(OFTEN), _bernoulli(OFTEN + 0.1), _bernoulli(OFTEN - 0.1),
             f"Bernoulli per training; null: the threshold {OFTEN}; effect: a stated minimal +0.10",
             replicates=lambda cfg: cfg.p1_runs)),
], replicates=lambda cfg: cfg.n_runs, not_tested=[
    ("Over-parameterization => exploration, in parallel with evolutionary algorithms and PSO",
     "a framing, not a measurable statement; the 'more draws' row tests its simplest form"),
    ("ReLU is easy to replace by gradient-friendly functions; max pooling lacks alternatives",
     "an opinion about which functions exist; the two gradient-flow rows measure what one smooth max "
     "and one LeakyReLU do to training"),
    ("Over-parameterization is underestimated as an exploration device",
     "a judgement about the literature, not a measurable statement"),
    ("The hypernetwork's generated net is less likely to overfit than an over-parameterized one",
     "both tasks draw fresh data at every step, so there is no overfitting to measure"),
    ("Hypernetworks may or may not compete with other ways of adding noise to optimization",
     "the source leaves it open; no comparison is run"),
])
NOT_TESTED = RULES.not_tested

# --------------------------------------------------------------------------- measurements


def matched_random_conv(res: ExplorationResults) -> tuple[list[int], np.ndarray, np.ndarray]:
    """RandomConv with 5k filters and Naive with k filters (both 5k + 1 trained parameters)."""
    naive, rc = res.naive.by_size(), res.random_conv.by_size()
    ks = [k for k in naive if 5 * k in rc]
    return ks, np.concatenate([rc[5 * k] for k in ks]), np.concatenate([naive[k] for k in ks])


def optimizer_measurements(study: OptimizerStudy):
    """``(selection, test, baseline)`` as :func:`rule_optimizer` takes them."""
    return study.at_size(), {study.chosen: study.test["chosen"]}, study.test["baseline"]


def _baseline_words(study: OptimizerStudy) -> str:
    name, lr, mom = study.baseline
    return f"SGD lr {lr}" + (f" with momentum {mom}" if name == "momentum" else "")


def _recorded(*sweeps) -> bool:
    return all(sw.state is not None for sw in sweeps)


def _states(sweep, sizes: dict) -> dict:
    """name -> TrainState of the members of each size (empty when no state was recorded)."""
    return {name: sweep.arm(size) for name, size in sizes.items()} if _recorded(sweep) else {}


def measure(results: ExplorationResults) -> dict:
    """Per-training measurements of every rule, by rule key (what the judges take).

    Introduced in: Chapter 1
    """
    res = results
    naive = res.naive.by_size()
    big = max(naive)
    ks, rc, nv = matched_random_conv(res)
    hyper = (naive, res.hyper.score)
    j = rule_hyper(hyper).picked
    and_ = res.and_naive.by_size()
    wide = max(and_)
    m = {
        "naive_size": Measured((naive[big], naive[1]), {"big": big},
                               _states(res.naive, {f"{big} filters": big, "1 filter": 1})),
        "random_conv": Measured((rc, nv), {"k_lo": ks[0], "k_hi": ks[-1]},
                                {"RandomConv 5k filters": res.random_conv.arm([5 * k for k in ks]),
                                 "Naive k filters": res.naive.arm(ks)} if _recorded(res.naive, res.random_conv) else {}),
        "hyper": Measured(hyper, {"j": j, "j_params": 5 * j + 1},
                          {"HyperNetwork": res.hyper.arm(), f"Naive {j} filter(s)": res.naive.arm(j)}
                          if _recorded(res.naive, res.hyper) else {}),
        "and_width": Measured((and_[wide], and_[2]), {"wide": wide},
                              _states(res.and_naive, {f"width {wide}": wide, "width 2": 2})),
        "handset_and": Measured(res.handset_and, {"tests": len(res.handset_and), "n_test": res.n_test_and,
                                                  "exact": res.handset_and_exact}),
        "handset_1101": Measured(res.handset_1101, {"n_val": 2 * res.n_val_pairs}),
    }
    for key, study in (("optimizer_cnn", res.optimizers_cnn), ("optimizer_and", res.optimizers_and)):
        mo = optimizer_measurements(study)
        opt, lr = pick_best(mo[0])
        m[key] = Measured(mo, {"opt": opt, "lr": lr, "base": _baseline_words(study), "outcome": study.outcome},
                          {f"{opt} lr {lr:g}": study.states["chosen"], "the source's recipe": study.states["baseline"]}
                          if study.states else {})
    m["more_draws"] = Measured((res.p1.by_size("success")[1], res.naive.by_size("success")), {"big": big},
                               {"1 filter (p1)": res.p1.arm(), "Naive 2..": res.naive.arm(range(2, big + 1))}
                               if _recorded(res.p1, res.naive) else {})
    if res.p1.init is not None:
        m["init_far"] = _init_far(res.p1)
    if res.p1.state is not None:
        stuck = res.p1.state.met & ~res.p1.success
        m["local_min"] = Measured(stuck, {"n": len(stuck)})
    if res.smooth is not None:
        m["flow_maxpool"] = Measured((res.smooth.success, res.p1.success), {"n": len(res.p1.success)},
                                     {"smooth max": res.smooth.arm(), "max pooling": res.p1.arm()}
                                     if _recorded(res.p1, res.smooth) else {})
    if res.and_relu is not None and res.and_leaky is not None:
        m["flow_relu"] = Measured((res.and_leaky.score, res.and_relu.score), {"n": len(res.and_relu.score)},
                                  _states(res.and_leaky, {"LeakyReLU": 2}) | _states(res.and_relu, {"ReLU": 2}))
    return m


def initial_angle(init: np.ndarray) -> np.ndarray:
    """Angle (degrees) between each member's first initial kernel and [1, 1, 0, 1]."""
    k = np.asarray(init, float)[:, 0, :]
    t = np.asarray(PATTERN_1101, float)
    cos = k @ t / np.maximum(np.linalg.norm(k, axis=1) * np.linalg.norm(t), 1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def _init_far(p1) -> Measured:
    ang, ok = initial_angle(p1.init), np.asarray(p1.success, bool)
    arms = ({"failed": subset_state(p1.state, ~ok), "successful": subset_state(p1.state, ok)}
            if p1.state is not None else {})
    return Measured((ang[~ok], ang[ok]), {"n_fail": int((~ok).sum()), "n_ok": int(ok.sum())}, arms)


def claims(results: ExplorationResults, run: Run) -> ClaimsTable:
    """The claims-under-test table of Chapter 1, every verdict computed by a rule of :data:`RULES`.

    Introduced in: Chapter 1
    """
    return RULES.table(measure(results), run)
