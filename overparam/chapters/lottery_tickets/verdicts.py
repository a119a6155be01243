"""Chapter 7 claims: per-seed measurements and the chapter's rules, declared once.

:data:`RULES` declares every claim (stable key, text, source, judge, calibration);
:func:`measure` turns a :class:`Results` bundle into the per-seed measurements, by key;
:func:`claims` judges them.

Points picked from the data (the best pruning round of the untrained masks) are picked on
the other seeds and measured on the held-out one (:func:`pick_on_other_seeds`); every other
point (the sparsest round, the hypothesis round, the common weight count of the bigger-net
comparison) is fixed by the profile before the run.

Introduced in: Chapter 7
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import pruning as P
from ...calibration import load_spread
from ...adequacy import CONVERGED, SAME_STEPS, TrainState
from ...claims import Above, Below, ClaimsTable, Measured, Rule, RuleBook, Sim, mean_of, paired
from ...config import Run
from ...stats import Estimate, mean_ci
from .experiments import PLATEAU, Bigger, Controls, ImpStage, Matching, Movement
from .extras import ZHOU_DWR_MNIST_FC, ZHOU_MNIST_FC, AtInit, Instability, Malach, Supermasks, Transfer

CHANCE = 0.10        # ten classes
FAR_ABOVE = 3.0      # "far above chance": more than three times chance (this book's bar)
MATCH_MARGIN = 0.01  # "matches": no more than 1 pp below (this book's non-inferiority margin)
#: the source's gap, trained weights (97.7 %) vs learned mask ⊙ init (95.3 %): He 2021 slides,
#: sparsity part, the "Deconstructing lottery tickets" table (Zhou et al.), row MNIST FC
ZHOU_GAP = (ZHOU_MNIST_FC["trained weights"] - ZHOU_MNIST_FC["learned mask ⊙ init"]) / 100


@dataclass
class Results:
    """Everything the chapter measures (the argument of :func:`claims`).

    Introduced in: Chapter 7
    """

    stage: ImpStage
    controls: Controls
    matching: Matching
    movement: Movement
    bigger: Bigger
    supermasks: Supermasks
    malach: Malach
    instability: Instability
    pai: AtInit | None = None
    transfer: Transfer | None = None


def pick_on_other_seeds(curves: np.ndarray) -> np.ndarray:
    """Per seed s, the value at the round that is best on the mean of the *other* seeds.

    Parameters
    ----------
    curves : (R, S) one value per round and seed

    Returns
    -------
    ndarray (S,): ``curves[argmax_r mean_{s' != s} curves[r, s'], s]``

    Introduced in: Chapter 7
    """
    c = np.asarray(curves, float)
    S = c.shape[1]
    if S < 2:
        return np.full(S, np.nan)
    others = (c.sum(1, keepdims=True) - c) / (S - 1)   # (R, S): mean over the other seeds
    return c[np.argmax(others, axis=0), np.arange(S)]


def est_picked(curves) -> Estimate:
    """Mean over seeds of :func:`pick_on_other_seeds`."""
    return mean_ci(pick_on_other_seeds(curves))


def est_picked_diff(pair) -> Estimate:
    """Paired difference of two arms, each at its round picked on the other seeds."""
    a, b = pair
    return mean_ci(pick_on_other_seeds(a) - pick_on_other_seeds(b))



# --------------------------------------------------------------------------- calibration

# The source's numbers (He 2021 slides, sparsity part, "Deconstructing lottery tickets": the
# table of Zhou et al.'s MNIST FC row, in %): mask ⊙ init 79.3, mask ⊙ S.C. 86.3, learned
# mask ⊙ init 95.3, learned mask ⊙ S.C. 96.4, trained weights 97.7.
ZHOU = {k: v / 100 for k, v in ZHOU_MNIST_FC.items()}
#: Frankle & Carbin's speed-up of tickets over re-inits, "about a quarter of training", in
#: iterations of this chapter's run (the slides: "random initialization makes networks
#: learn slower"; the paper's LeNet figure: early stopping at ~1/4 fewer iterations).
SPEEDUP = 0.25

# Seed spread of one replicate per rule: the measured ``spread.json`` beside this module
# (scripts/measure_spread.py); FALLBACK only for a rule not yet in it (the largest sd of the
# earlier quick runs with seeds 0, 1, 2, rounded up).
FALLBACK = {"lth": 0.006, "reinit": 0.008, "faster": 100.0, "long": 0.015, "random": 0.045, "late": 0.01,
            "bigger": 0.008, "movement": 0.01, "magnitude_increase": 0.008, "chance": 0.03,
            "signed_constant": 0.025, "supermask": 0.015, "malach": 0.017, "snip": 0.017, "optimizers": 0.09,
            "datasets": 0.07, "stable_init": 0.004, "stable_later": 0.002, "near_init": 0.02,
            "dwr": 0.015}
_MEASURED = load_spread(__file__).get("sd", {})
SPREAD = {k: float(_MEASURED.get(k, v)) for k, v in FALLBACK.items()}
# Effect of the size the source claims (in the rule's units, on the claim's side of the threshold).
EFFECT = {"lth": 0.01, "reinit": 0.03, "long": 0.03, "random": 0.05, "late": 0.02,
          "bigger": 0.02, "movement": 0.3, "magnitude_increase": 0.01,
          "chance": ZHOU["mask ⊙ init"] - FAR_ABOVE * CHANCE,
          "signed_constant": ZHOU["mask ⊙ signed constant"] - ZHOU["mask ⊙ init"],
          "supermask": ZHOU_GAP - (ZHOU["trained weights"] - ZHOU["learned mask ⊙ signed constant"]),
          "malach": 0.01, "snip": 0.03, "optimizers": 0.15, "datasets": 0.05, "stable_init": 0.02,
          "stable_later": 0.04, "near_init": 1 - 2 ** -0.5,
          "dwr": (ZHOU_DWR_MNIST_FC["DWR learned mask ⊙ init"] - ZHOU_MNIST_FC["learned mask ⊙ init"]) / 100}
_NOTE = ("sd {sd:.3g} = {sd_from}; effect {eff:.3g} (source: {why})")
_WHY = {"chance": "Zhou's MNIST FC 79.3 % vs the 30 % bar", "signed_constant": "Zhou's 86.3 - 79.3 %",
        "supermask": "Zhou's learned mask ⊙ S.C. gap, 1.3 pp",
        "dwr": "Zhou's DWR learned mask ⊙ init 97.8 % vs learned mask ⊙ init 95.3 %, MNIST FC",
        "random": "a stated minimal effect, 5 pp at the sparsest round (the slides: randomly pruned networks "
                  "'optimize and generalize difficultly'; no size given)",
        "optimizers": "a stated minimal effect, 15 pp (the slides give no size; a random mask under SGD "
                      "at ~3 % of the weights trains poorly, so a transferred ticket's edge is large or absent)",
        "datasets": "a stated minimal effect, 5 pp (the slides give no size)",
        "near_init": "Du et al.: movement ~ 1/sqrt(width); the 2x wider net moves 1/sqrt(2) as far, "
                     "as a share of the narrower net's drift (drift ~0.3-1)"}


def _sd_from(key: str) -> str:
    return ("the measured seed spread (spread.json)" if key in _MEASURED
            else "fallback: the earlier quick runs' spread (no spread.json entry yet)")


def _paired(delta: float, sd: float):
    """Two arms whose per-seed difference a - b is N(delta, sd)."""
    def draw(rng, n, cfg):
        b = rng.normal(0.9, 0.02, n)
        return b + rng.normal(delta, sd, n), b
    return draw


def _single(mean: float, sd: float):
    return lambda rng, n, cfg: rng.normal(mean, sd, n)


def _curves(top: float, sd: float, drop: float = 0.1):
    """(R, S) untrained-mask accuracies: a peak of height ``top`` at a random round, other
    rounds ``drop`` lower, noise ``sd``; ``top`` at the threshold makes every round at most it."""
    def draw(rng, n, cfg):
        base = np.full(cfg.rounds, top - drop)
        base[rng.integers(cfg.rounds)] = top
        return base[:, None] + rng.normal(0, sd, (cfg.rounds, n))
    return draw


def _curve_pair(delta: float, sd: float):
    def draw(rng, n, cfg):
        shape = rng.uniform(0.3, 0.8, cfg.rounds)[:, None]
        common = rng.normal(0, sd, (1, n))
        b = shape + common + rng.normal(0, sd / 2, (cfg.rounds, n))
        return b + delta + rng.normal(0, sd / 2, (cfg.rounds, n)), b
    return draw


def crossing_iterations(latent, cfg) -> np.ndarray:
    """The speed measurement's own path for latent crossing times (iterations): a validation
    error curve that crosses ``cfg.speed_threshold`` at each latent time, evaluated every
    ``cfg.eval_every`` iterations up to ``cfg.steps`` and read by
    :func:`overparam.pruning.iterations_to` (first evaluation at or below the threshold;
    ``steps`` when it never gets there: censored)."""
    grid = np.arange(0, cfg.steps + 1, cfg.eval_every)
    if grid[-1] != cfg.steps:
        grid = np.r_[grid, cfg.steps]
    t = np.asarray(latent, float)
    err = cfg.speed_threshold * np.exp((t[:, None] - grid[None, :]) / cfg.steps)   # = threshold at t
    return P.iterations_to(err, grid, cfg.speed_threshold).astype(float)


def _speed(speedup: float, sd: float):
    """(re-init, ticket) iterations to the validation threshold, per seed, on the real grid and
    censoring: latent crossings at half of training (the quick run's tickets: 150-400 of 400
    iterations; shared per seed), the re-init's
    ``speedup`` x steps later, each arm with its own noise so that their difference has the
    measured seed spread ``sd`` (under no effect the two arms are exchangeable)."""
    def draw(rng, n, cfg):
        base = 0.5 * cfg.steps
        ticket = (base + rng.normal(0, sd / 2 ** 0.5, n)).clip(1, None)
        reinit = (base + speedup * cfg.steps + rng.normal(0, sd / 2 ** 0.5, n)).clip(1, None)
        return crossing_iterations(reinit, cfg), crossing_iterations(ticket, cfg)
    return draw


def _sim(key: str, threshold: float, kind: str, sign: float = 1.0) -> Sim:
    """The rule's null (at the threshold), effect and reversed effect, of the measurement's shape."""
    sd = SPREAD[key]
    if kind == "speed":
        return Sim(_speed(0.0, sd), _speed(SPEEDUP, sd), _speed(-SPEEDUP, sd), _NOTE.format(
            sd=sd, sd_from=_sd_from(key), eff=SPEEDUP, why="Frankle & Carbin's speed-up, about a quarter of "
            "training; simulated as crossing times read on the run's evaluation grid, censored at its end"))
    eff = EFFECT[key]
    mk = {"paired": lambda d: _paired(threshold + d, sd), "value": lambda d: _single(threshold + d, sd),
          "picked": lambda d: _curves(threshold + d, sd),
          "picked_pair": lambda d: _curve_pair(threshold + d, sd)}[kind]
    note = _NOTE.format(sd=sd, sd_from=_sd_from(key), eff=eff,
                        why=_WHY.get(key, "assumed, of the order of the gaps in the paper's figures"))
    return Sim(mk(0.0), mk(sign * eff), mk(-sign * eff), note)


def _rule(key, claim, source, text, threshold, kind="paired", side="above", footing=None) -> Rule:
    est = {"paired": paired, "speed": paired, "value": mean_of, "picked": est_picked,
           "picked_pair": est_picked_diff}[kind]
    judge = (Above if side == "above" else Below)(threshold, est)
    return Rule(key, claim, source, text, judge, _sim(key, threshold, kind, 1.0 if side == "above" else -1.0),
                footing)


FC = "Frankle & Carbin 2019 [11]"
ZHOU = "Zhou et al. 2019 [13]"
_NOT_TESTED = [
    ("... as a theorem (gradient descent, one hidden layer, width polynomial in n)", "the near-init row "
     "measures the drift of this chapter's nets (Adam, two hidden layers); the proof is not re-derived"),
    ("The CIFAR Conv2/4/6 rows of Zhou et al.'s table", "needs CIFAR-10 and convolutional nets on a GPU; "
     "this chapter uses digits (no download at run time)"),
    ("Finding Malach's subnetwork is computationally hard", "a complexity statement, not a measurement"),
    ("Tickets transfer from large data sets (ImageNet) to small ones", "no large data set here; the "
     "transfer row uses two halves of digits"),
    ("Early-phase learning and robust early learning with noisy labels", "listed as further reading"),
]



RULES = RuleBook([
    _rule("lth", "A winning ticket reaches the dense network's test accuracy in no more iterations "
          "(the lottery ticket hypothesis; ticket of about 13 % of the weights)", FC,
          "ticket - dense accuracy, both at the dense net's early-stopping iteration, > -0.01", -MATCH_MARGIN),
    _rule("reinit", "Winning tickets beat the same mask re-initialized (sparsest round)", FC,
          "ticket - re-init accuracy > 0", 0.0, footing=SAME_STEPS),
    _rule("faster", "Tickets learn faster than the same mask re-initialized", FC,
          "re-init - ticket iterations to the validation threshold > 0 (censored at the end)", 0.0, "speed",
          footing=SAME_STEPS),
    _rule("long", "Better, not only faster: the ticket's edge survives longer training",
          "this chapter's control", "long ticket - long re-init accuracy > 0, both arms' validation "
          "loss on a plateau", 0.0, footing=CONVERGED),
    _rule("random", "Randomly pruned networks do worse than tickets", FC,
          "ticket - random pruning accuracy > 0", 0.0, footing=SAME_STEPS),
    _rule("late", "Late resetting beats rewinding to 0 at the sparsest level", "Frankle et al. 2019/2020",
          "late - rewind-0 accuracy > 0", 0.0, footing=SAME_STEPS),
    _rule("bigger", "Tickets from a bigger starting net are better at equal remaining weights", FC,
          "big-start - small-start accuracy at the smallest common count > 0", 0.0, footing=SAME_STEPS),
    _rule("near_init", "Over-parameterization keeps every weight vector close to its initialization: the "
          "wider net's hidden-unit weight vectors move less, relative to their initial norm",
          "Du et al. 2018, as cited in He 2021 slides (004)",
          "dense nets, same seeds and steps: mean over first-layer units of |w_r(T) - w_r(0)| / |w_r(0)|, "
          "width {w_small} minus width {w_big}; CI above 0", 0.0, footing=CONVERGED),
    _rule("movement", "Ticket weights move more during training than the rest, at equal final magnitude", FC,
          "movement ticket / pruned weights in the same |w_final| bins > 1 (sparsest ticket)", 1.0, "value"),
    _rule("magnitude_increase", "magnitude_increase works as well as large_final (within 1 pp or better)",
          ZHOU, "magnitude_increase - large_final accuracy > -0.01", -MATCH_MARGIN, footing=SAME_STEPS),
    _rule("chance", "Untrained: a ticket mask on its initial weights is far above chance", ZHOU,
          "mask ⊙ init accuracy (round picked on the other seeds) > 3 x chance = 0.30",
          FAR_ABOVE * CHANCE, "picked"),
    _rule("signed_constant", "Untrained: mask ⊙ signed constant beats mask ⊙ init", ZHOU,
          "accuracy difference (each arm's round picked on the other seeds) > 0", 0.0, "picked_pair"),
    _rule("supermask", "A learned supermask on random weights comes within the source's gap (2.4 pp) "
          "of trained weights", f"{ZHOU} (95.3 vs 97.7, MNIST FC)",
          "trained - learned-mask accuracy < 0.024", ZHOU_GAP, side="below"),
    _rule("dwr", "DWR learned masks (dynamic weight rescaling) beat plain learned masks", f"{ZHOU} (97.8 vs 95.3, "
          "MNIST FC)", "DWR - plain learned-mask accuracy over the same He-scaled init, same steps and "
          "batches, paired by seed, > 0", 0.0, footing=SAME_STEPS),
    _rule("malach", "Pruning alone is enough: a mask over a random net of depth 2 matches a trained "
          "net of depth 1", "Malach et al. 2020 [14]",
          "learned-mask (depth 2) - trained target (depth 1) accuracy > -0.01", -MATCH_MARGIN),
    _rule("snip", "IMP tickets beat SNIP pruning at init at the same sparsity",
          "Lee et al. 2019; Frankle et al. 2021", "IMP - SNIP accuracy > 0", 0.0),
    _rule("optimizers", "A ticket found with one optimizer (Adam) beats a random mask under another (SGD)",
          "Morcos et al. 2019 [15]", "transferred - random accuracy > 0", 0.0),
    _rule("datasets", "A ticket found on one data set beats a random mask on another "
          "(digits 0-4 -> 5-9)", "Morcos et al. 2019 [15]",
          "transferred - random-mask accuracy on the target (sparsest) > 0", 0.0),
    _rule("stable_init", "A LeNet-size net is stable already at init (error barrier at k = 0 below 2 pp)",
          "Frankle et al. 2020", "barrier at k = 0 < 0.02", 0.02, "value", "below"),
    _rule("stable_later", "The sparse ticket becomes more stable when rewound later", "Frankle et al. 2020",
          "barrier(k = 0) - barrier(k = last) > 0", 0.0),
], replicates=lambda cfg: cfg.n_seeds, not_tested=_NOT_TESTED)


FIT = 0.01
FIT_CRITERION = f"fits the training set (train error <= {FIT})"


def arm(steps, train_acc, met=None, criterion: str = "") -> TrainState:
    """An arm's :class:`~overparam.adequacy.TrainState` from what the run recorded: iterations
    trained, final training accuracy per seed, whether each met ``criterion`` (None: the
    criterion is :data:`FIT_CRITERION`, read off the training accuracy)."""
    acc = np.atleast_1d(np.asarray(train_acc, float)).ravel()
    st = np.broadcast_to(np.asarray(steps, float), acc.shape).copy()
    if met is None:
        met, criterion = 1 - acc <= FIT, FIT_CRITERION
    return TrainState(st, np.full(acc.shape, np.nan), 1 - acc, np.asarray(met, bool).ravel(), criterion)


def measure(res: Results) -> dict:
    """Per-seed measurements of every rule, by rule key (what the judges take).

    Introduced in: Chapter 7
    """
    st, ctl = res.stage, res.controls
    cfg, imp, g = st.cfg, st.imp, st.groups
    R = cfg.rounds
    lf = imp.test_acc[:, g["large_final"]]
    sp = st.speed()
    c, ab, asm = res.bigger.at_equal_weights()
    sm, ins = res.supermasks, res.instability
    done = int(imp.steps[-1])
    ticket = arm(done, imp.train_acc[R, g["large_final"]])
    reinit = arm(ctl.steps or done, ctl.train_acc[-1])   # the sparsest round is last
    same = {"ticket": ticket, "re-init": reinit}
    m = {
        "lth": (res.matching.ticket_acc, res.matching.dense_acc),    # paired: read at one iteration per seed
        "reinit": Measured((lf[R], ctl.test_acc[-1]), arms=same),
        "faster": Measured((ctl.speed[-1], sp[R]), arms=same),
        "long": (ctl.long_ticket[-1], ctl.long_reinit[-1]) if ctl.long_plateau is None else Measured(
            (ctl.long_ticket[-1], ctl.long_reinit[-1]), arms={
                "long ticket": arm(ctl.long_steps, ctl.long_ticket_train[-1], ctl.long_plateau[0, -1], PLATEAU),
                "long re-init": arm(ctl.long_steps, ctl.long_reinit_train[-1], ctl.long_plateau[1, -1], PLATEAU)}),
        "random": Measured((lf[R], imp.test_acc[R, g["random"]]), arms={
            "ticket": ticket, "random": arm(done, imp.train_acc[R, g["random"]])}),
        "late": Measured((imp.test_acc[R, g["late"]], lf[R]), arms={
            "late": arm(done, imp.train_acc[R, g["late"]]), "rewind 0": ticket}),
        "bigger": Measured((ab, asm), arms={} if res.bigger.train_small is None else {
            "big start": arm(done, imp.train_acc[0, g["large_final"]]),
            "small start": arm(res.bigger.steps, res.bigger.train_small)}),
        "movement": res.movement.matched[-1],
        "chance": sm.by_round_init,
        "signed_constant": (sm.by_round_sc, sm.by_round_init),
        "supermask": (sm.trained, sm.learned_init),
        "malach": (res.malach.mask_acc, res.malach.target_acc),
        "stable_init": ins.dense[0],
        "stable_later": (ins.ticket[0], ins.ticket[-1]),
    }
    if sm.learned_dwr is not None:
        m["dwr"] = Measured((sm.learned_dwr, sm.learned_init), arms={
            "DWR mask": arm(sm.steps, sm.train_dwr), "plain mask": arm(sm.steps, sm.train_init)})
    if res.bigger.drift_small is not None:
        b = res.bigger
        if b.drift_train_small is not None:
            states = {"small dense": arm(b.drift_steps, b.drift_train_small),
                      "big dense": arm(b.drift_steps, b.drift_train_big)}
        else:
            states = {} if b.train_small is None else {
                "small dense": arm(b.steps, b.train_small), "big dense": arm(done, imp.train_acc[0, g["large_final"]])}
        m["near_init"] = Measured((b.drift_small, b.drift_big),
                                  {"w_small": b.small_widths[0], "w_big": b.big_widths[0]}, states)
    if "magnitude_increase" in g:
        mi = g["magnitude_increase"]
        m["magnitude_increase"] = Measured((imp.test_acc[R, mi], lf[R]), arms={
            "magnitude_increase": arm(done, imp.train_acc[R, mi]), "large_final": ticket})
    if res.pai is not None:
        m["snip"] = (lf[R], res.pai.snip[-1])
    if res.transfer is not None:
        m["optimizers"] = (res.transfer.adam_ticket_sgd[-1], res.transfer.random_sgd[-1])
        m["datasets"] = (res.transfer.data_ticket[-1], res.transfer.data_random[-1])
    return m


def claims(res: Results, run: Run) -> ClaimsTable:
    """The chapter's claims table, every verdict computed by a rule of :data:`RULES`.

    Introduced in: Chapter 7
    """
    return RULES.table(measure(res), run)
