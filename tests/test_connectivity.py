"""Chapter 8 "Connectivity of solutions": profiles, measurements, rules and the claims table."""
import importlib

import numpy as np
import pytest
import torch

from overparam import claims as C
from overparam.chapters import connectivity as ch
from overparam.config import Run, resolve_profile

K = importlib.import_module("overparam.chapters.connectivity.verdicts")
RUN = Run("smoke", torch.device("cpu"), 0)


def test_profiles_validate_their_knobs():
    for prof in ("smoke", "quick", "long", "full"):
        cfg = ch.PROFILES[prof]
        assert cfg.matched_cells()
    long = ch.PROFILES["long"]   # widths 1 to 1024 at three N (the sqrt(N) test's range)
    assert long.widths[0] == 1 and long.widths[-1] >= 1024 and len(long.n_trains) >= 3
    assert len(long.matched_cells()) >= 2 * (len(long.n_trains) - 1)
    with pytest.raises(ValueError, match="n_pairs"):
        resolve_profile(ch.PROFILES, "quick", n_pairs=1)
    with pytest.raises(ValueError, match="n_trains"):
        resolve_profile(ch.PROFILES, "quick", n_trains=(256, 64))
    with pytest.raises(ValueError, match="sqrt"):
        resolve_profile(ch.PROFILES, "quick", n_trains=(64, 128), widths=(4, 8))
    with pytest.raises(ValueError, match="widths"):
        resolve_profile(ch.PROFILES, "quick", widths=(8, 0))
    assert resolve_profile(ch.PROFILES, "quick", widths=[4, 8]).widths == (4, 8)


def test_width_needed_interpolates_in_log_width_and_censors_as_bounds():
    widths = [4, 8, 16, 32]
    tol = 0.1
    b = np.array([1.0, 0.2, 0.05, 0.01])   # log-linear between 8 (0.2) and 16 (0.05)
    got = K.width_needed(widths, b, tol)
    want = 3 + (np.log(tol) - np.log(0.2)) / (np.log(0.05) - np.log(0.2))
    assert got == pytest.approx(want)
    assert K.width_needed_bounds(widths, b, tol) == (pytest.approx(want), pytest.approx(want))
    # never reached: at least the widest width; reached at once: at most the narrowest
    assert K.width_needed_bounds(widths, [1, 1, 1, 1.0], tol) == (5.0, np.inf)
    assert K.width_needed_bounds(widths, [0.01, 0.01, 0, 0.0], tol) == (0.0, 2.0)
    assert np.isnan(K.width_needed(widths, [1, 1, 1, 1.0], tol))      # the point value: censored
    # widths not trained (NaN) are skipped: the bound is the widest trained width
    assert K.width_needed_bounds(widths, [1, 1, np.nan, np.nan], tol) == (3.0, np.inf)
    assert K.width_needed_bounds(widths, [1, 0.2, 0.05, np.nan], tol)[0] == pytest.approx(want)
    both = K.width_needed(widths, np.array([b, b * 10]), tol)
    assert both[0] == pytest.approx(want) and both[1] > both[0]
    # a flat path between two dead narrow networks does not count: the crossing follows the
    # last width above tol (a width-1 pair at barrier 0 before width 4 at 1.0)
    dead = [0.0, 1.0, 0.2, 0.05, 0.01]
    assert K.width_needed([1] + widths, dead, tol) == pytest.approx(want)
    assert K.width_needed_bounds([1] + widths, [0.0, 0.05, 0.01, 0.01, 0.0], tol) == (0.0, 0.0)   # w* = 1
    assert K.width_needed_bounds(widths, [0.01, 1.0, 0.01, 1.0], tol) == (5.0, np.inf)       # fails at the widest


def test_slope_bounds_cover_every_slope_in_the_box():
    x = np.log2([64, 256, 1024.0])
    lo, hi = np.array([[4.0, 5.0, 5.5]]), np.array([[4.0, 5.5, 7.0]])
    s_lo, s_hi = K.slope_bounds(x, lo, hi)
    rng = np.random.default_rng(0)
    for _ in range(200):
        y = lo + rng.random(lo.shape) * (hi - lo)
        s = np.polyfit(x, y[0], 1)[0]
        assert s_lo[0] - 1e-12 <= s <= s_hi[0] + 1e-12
    assert K.slope_bounds(x, lo, lo)[0] == pytest.approx(np.polyfit(x, lo[0], 1)[0])
    # an unbounded end makes the slope unbounded on that side only
    top = K.slope_bounds(x, lo, np.array([[4.0, 5.5, np.inf]]))
    assert np.isinf(top[1]) and np.isfinite(top[0])


def _grid(bezier, line=None, weight=None, same=None, gap=None, n_trains=(64, 256), widths=(4, 8, 16, 32), met=None):
    """A GridResult whose paths are triangles with the given barriers (ends at loss 0)."""
    I, J, P = bezier.shape
    T = 3

    def tri(bar):
        c = np.zeros((I, J, P, T))
        c[..., 1] = bar
        return c
    curves = {}
    for m, bar in (("line", line), ("weight", weight), ("activation", weight), ("bezier", bezier),
                   ("same_start", same)):
        bar = np.full((I, J, P), np.nan) if bar is None else bar
        curves[m] = {k: tri(bar) for k in ch.experiments.METRICS}
    gap = np.full((I, J, P, 2), 5.0) if gap is None else gap
    met = {"ends": np.ones((I, J, P, 2), bool), "bezier": np.ones((I, J, P), bool),
           "same_start": np.ones((I, J, P), bool)} if met is None else met
    steps = {k: np.full((I, J), 100) for k in met}
    return ch.GridResult(np.array(n_trains), np.array(widths), np.linspace(0, 1, T), curves, gap, met, steps,
                         "plateau")


def _features(barrier, quality=(0.6, 0.8, 1.0), widths=(4, 8, 16, 32)):
    Q, J, P = barrier.shape
    met = {"ends": np.ones((Q, J, P, 2), bool), "bezier": np.ones((Q, J, P), bool)}
    return ch.FeatureResult(["raw", "random", "trained"], np.array(quality), np.array(widths), barrier,
                            barrier * 5, np.zeros((Q, J, P, 2)), 256, met, np.full((Q, J), 100), "plateau")


def _decay(w_star, widths=(4, 8, 16, 32), tol=ch.TOL):
    """Barrier curves over widths that cross tol at log2 width w_star (per pair), slope -2 in log."""
    x = np.log2(np.array(widths, float))
    return tol * np.exp(-2 * (x[None, :] - np.asarray(w_star)[:, None]))   # (P, J)


def test_sqrt_n_exponent_recovers_the_scaling_of_synthetic_curves():
    P = 3
    for b_true in (0.25, 0.5, 0.75):   # crossings stay inside the widths 4..32
        w1 = np.array([3.1, 3.2, 3.3])
        w2 = w1 + b_true * 2          # N grows 4x: log2 width grows by 2 b
        bez = np.stack([_decay(w1), _decay(w2)])   # (I, P, J)
        g = _grid(np.moveaxis(bez, 1, 2))
        e = K.sqrt_n_exponent(g)
        np.testing.assert_allclose(e["lo"], b_true, atol=1e-9)
        np.testing.assert_allclose(e["hi"], b_true, atol=1e-9)
        np.testing.assert_allclose(e["last_lo"], b_true, atol=1e-9)
    assert g.barrier("bezier").shape == (2, 4, P)


def _holds(P=3, rng=None):
    """Synthetic results where every claim of the source holds."""
    rng = rng or np.random.default_rng(0)
    w1 = 3.0 + 0.05 * rng.standard_normal(P)
    bez = np.moveaxis(np.stack([_decay(w1), _decay(w1 + 0.6 + 0.02 * rng.standard_normal(P))]), 1, 2)  # b ~ 0.3
    line = bez + 3 + 0.1 * rng.standard_normal(bez.shape)
    weight = 0.02 + 0.01 * rng.random(bez.shape)
    same = 0.5 * (line - 3)
    gap = 5.0 + rng.random(bez.shape + (2,))
    grid = _grid(bez, line, weight, same, gap)
    fb = np.moveaxis(np.stack([_decay(4.5 + 0.05 * rng.standard_normal(P)),
                               _decay(3.7 + 0.05 * rng.standard_normal(P)),
                               _decay(3.0 + 0.05 * rng.standard_normal(P))]), 1, 2)
    return ch.ConnectivityResults(grid, _features(fb), ch.PROFILES["smoke"])


def _fails(P=3, rng=None):
    """Synthetic results where every claim fails."""
    rng = rng or np.random.default_rng(1)
    w1 = 3.0 + 0.05 * rng.standard_normal(P)
    bez = np.moveaxis(np.stack([_decay(w1 - 1.0), _decay(w1 + 0.4)]), 1, 2) + 1.0  # never below tol
    line = 0.03 + 0.005 * rng.standard_normal(bez.shape)        # the straight line is already low
    weight = line + 0.3 + 0.05 * rng.standard_normal(bez.shape)
    same = line + 1.0 + 0.05 * rng.standard_normal(bez.shape)
    gap = np.full(bez.shape + (2,), 0.01)
    return _grid(bez, line, weight, same, gap)


def test_claims_table_every_row_follows_its_rule_when_the_source_holds():
    res = _holds()
    table = ch.claims(res, RUN)
    verdicts = {c.claim: c.verdict for c in table.claims}
    assert set(verdicts) == set(K.TEXT.values())
    for key, text in K.TEXT.items():
        assert verdicts[text] == C.REPRODUCED, key
    # measured values are the per-pair measurements' means
    rows = {c.claim: c for c in table.claims}
    assert rows[K.TEXT["sqrt"]].measured == pytest.approx(0.3, abs=0.03)
    assert rows[K.TEXT["features"]].measured == pytest.approx(3.0 - 4.5, abs=0.1)
    assert table.not_tested and all(r for _, r in table.not_tested)


def test_claims_table_rows_turn_when_the_source_fails():
    g = _fails()
    rising = (1.0 + 0.1 * np.arange(4)[None, :, None]
              + 0.01 * np.random.default_rng(2).standard_normal((3, 4, 3)))   # wider is worse
    res = ch.ConnectivityResults(g, _features(rising), ch.PROFILES["smoke"])
    rows = {c.claim: c.verdict for c in ch.claims(res, RUN).claims}
    # flat feature barriers: more width does not help, so the compound trade-off fails
    for key in ("path", "bend", "dropout", "wm", "entezari", "same", "tradeoff"):
        assert rows[K.TEXT[key]] == C.NOT_REPRODUCED, key
    # every crossing censored (barrier >= 1 everywhere): the width-needed rows cannot decide,
    # and no cell is connected, so the share of connected cells has nothing to average
    for key in ("sqrt", "grows", "features", "share"):
        assert rows[K.TEXT[key]] == C.INCONCLUSIVE, key


WIDE = (2, 4, 8, 16, 32, 64, 128)


def _growth(steps, P=4, seed=3):
    """Curve barriers over WIDE at N = 64 * 4^i whose width needed moves by ``steps[i]``
    (log2) from one N to the next."""
    rng = np.random.default_rng(seed)
    w = 2.5 + 0.05 * rng.standard_normal(P)
    ws = [w]
    for d in steps:
        ws.append(ws[-1] + d + 0.02 * rng.standard_normal(P))
    bez = np.moveaxis(np.stack([_decay(x, widths=WIDE) for x in ws]), 1, 2)
    return _grid(bez, bez + 1, bez + 1, n_trains=tuple(64 * 4 ** i for i in range(len(ws))), widths=WIDE)


def test_sqrt_rule_refutes_only_with_three_sizes_and_growth_to_the_end():
    sqrt, grows = K.RULES["sqrt"].judge, K.RULES["grows"].judge
    lin3 = K.sqrt_n_exponent(_growth([2.0, 2.0]))                 # b = 1 over three sizes
    assert sqrt(lin3).verdict == C.NOT_REPRODUCED
    assert grows((lin3["lo"], lin3["hi"])).verdict == C.REPRODUCED
    lin2 = K.sqrt_n_exponent(_growth([2.0]))                      # b = 1 from two sizes only
    j = sqrt(lin2)
    assert j.verdict == C.INCONCLUSIVE and "cannot refute" in j.why
    level = K.sqrt_n_exponent(_growth([2.6, 0.4]))                # fast, then w*/sqrt(N) levels off
    j = sqrt(level)
    assert level["lo"].mean() > 0.5 and j.verdict == C.INCONCLUSIVE and "level off" in j.why
    ok = K.sqrt_n_exponent(_growth([0.5, 0.5]))                   # b = 0.25
    assert sqrt(ok).verdict == C.REPRODUCED and grows((ok["lo"], ok["hi"])).verdict == C.REPRODUCED
    flat = K.sqrt_n_exponent(_growth([-0.6, -0.6]))               # shrinks with N
    assert grows((flat["lo"], flat["hi"])).verdict == C.NOT_REPRODUCED


def test_censored_widths_are_bounds_that_still_decide():
    """A pair connected already at the narrowest width gives an upper bound on w*; the bound
    decides the sqrt rule where it is tight enough and leaves it open where it is not."""
    def censored(i, value):
        g = _growth([0.5, 0.5])
        c = g.curves["bezier"]["train_loss"].copy()
        c[i, :, :, 1] = value
        g.curves["bezier"] = {k: c for k in g.curves["bezier"]}
        return K.sqrt_n_exponent(g)
    top = censored(-1, 0.01)             # the largest N connects at every width: w* <= 2
    assert np.all(top["lo"] < top["hi"])
    j = K.RULES["sqrt"].judge(top)       # an upper bound at the largest N bounds b from above
    assert j.verdict == C.REPRODUCED and "censored" in j.why
    first = censored(0, 0.01)            # the smallest N connects at every width: w* in [1, 2]
    assert K.RULES["sqrt"].judge(first).verdict == C.INCONCLUSIVE   # b only bounded below 0.875
    never = censored(-1, 5.0)            # the largest N never connects: w* >= 128, b unbounded above,
    assert np.all(np.isinf(never["hi"]))  # and its lower bound (about 1.1) already refutes sqrt(N)
    assert K.RULES["sqrt"].judge(never).verdict == C.NOT_REPRODUCED
    assert K.RULES["grows"].judge((never["lo"], never["hi"])).verdict == C.REPRODUCED


def test_bounded_judge_decides_both_ways_and_reads_the_right_bound():
    above = K.Bounded(0.0, above=True)
    x = np.array([1.0, 1.2, 0.9, 1.1])
    assert above((x, x)).verdict == C.REPRODUCED
    assert above((-x, -x)).verdict == C.NOT_REPRODUCED
    assert above((-x, x)).verdict == C.INCONCLUSIVE           # bounds straddle: undecided
    assert above((x, np.full(4, np.inf))).verdict == C.REPRODUCED   # lower bounds suffice
    below = K.Bounded(0.0, above=False)
    assert below((-x, -x)).verdict == C.REPRODUCED and below((x, x)).verdict == C.NOT_REPRODUCED
    assert below((np.full(4, -np.inf), -x)).verdict == C.REPRODUCED


def test_share_rule_reads_dropout_gaps_of_connected_cells_only():
    res = _holds()
    g = res.grid
    conn = g.barrier("bezier") <= ch.TOL
    assert conn.any() and (~conn).any()
    rng = np.random.default_rng(5)
    stable = g.dropout_gap.copy()
    stable[conn] = 0.01 + 0.005 * rng.random(stable[conn].shape)   # connected cells: dropout-stable
    g.dropout_gap = stable                                         # unconnected cells keep gap 5
    assert K.RULES["share"].judge(K.connected_dropout_excess(g)).verdict == C.NOT_REPRODUCED
    unstable = stable.copy()
    unstable[conn] = 3.0 + rng.random(stable[conn].shape)
    unstable[~conn] = 0.01
    g.dropout_gap = unstable
    assert K.RULES["share"].judge(K.connected_dropout_excess(g)).verdict == C.REPRODUCED


def test_paired_rules_read_the_right_arm():
    """Swapping the arms of a paired measurement flips its verdict."""
    res = _holds()
    g = res.grid
    m = K.measure(res)
    assert K.RULES["wm"].judge(m["wm"].value).verdict == C.REPRODUCED
    assert K.RULES["same"].judge(m["same"].value).verdict == C.REPRODUCED
    g.curves["line"], g.curves["weight"] = g.curves["weight"], g.curves["line"]
    assert K.RULES["wm"].judge(K.measure(res)["wm"].value).verdict == C.NOT_REPRODUCED
    g = _holds().grid
    g.curves["same_start"], g.curves["line"] = g.curves["line"], g.curves["same_start"]
    res.grid = g
    assert K.RULES["same"].judge(K.measure(res)["same"].value).verdict == C.NOT_REPRODUCED
    f = res.features
    f.barrier = f.barrier[::-1].copy()            # raw <-> trained features
    assert K.RULES["features"].judge(K.measure(res)["features"].value).verdict == C.NOT_REPRODUCED


def test_an_under_trained_arm_makes_a_verdict_inconclusive_not_refuted():
    res = _holds()
    ok = {c.key: c for c in ch.claims(res, RUN).claims}
    assert ok["path"].verdict == C.REPRODUCED and not ok["path"].why
    res.grid.met["bezier"][-1, -1, 0] = False     # one curve at the widest cell never plateaued
    rows = {c.key: c for c in ch.claims(res, RUN).claims}
    assert rows["path"].verdict == C.INCONCLUSIVE and rows["path"].why.startswith(C.UNDER_TRAINED)
    assert "curves" in rows["path"].why
    assert rows["wm"].verdict == C.REPRODUCED     # reads the ends only: unaffected


def test_plateau_criterion_and_stop():
    import torch
    from overparam.engine.loop import FitState
    p = ch.Plateau(block=10, rel_tol=0.05, abs_tol=0.01, stop=True, min_steps=30)
    st = FitState(params=[torch.zeros(2, 1)], optimizer=None)
    for step in range(1, 41):
        st.step = step
        st.loss = torch.tensor([1.0, 2.0 * 0.9 ** step])   # member 0 flat, member 1 falling
        p(st)
    assert list(p.met()) == [True, False] and not st.stop
    q = ch.Plateau(block=10, stop=True, min_steps=30)
    st = FitState(params=[torch.zeros(2, 1)], optimizer=None)
    for step in range(1, 41):
        st.step, st.loss = step, torch.tensor([1.0, 0.5])
        q(st)
        if st.stop:
            break
    assert st.stop and q.steps == 30 and q.met().all()


def test_smoke_run_paths_share_their_ends_and_the_table_is_complete():
    """The whole chapter at the smoke profile: every path of a pair starts and ends at the
    same two functions (alignment permutes units, the bend leaves the ends alone)."""
    cfg = ch.PROFILES["smoke"]
    task = ch.load_task()
    grid = ch.connectivity_grid(cfg, task, seed=0)
    I, J, P, T = len(cfg.n_trains), len(cfg.widths), cfg.n_pairs, cfg.n_points
    line = grid.curves["line"]
    for m in ("weight", "activation", "bezier"):
        for metric in ("train_loss", "test_error"):
            c = grid.curves[m][metric]
            assert c.shape == (I, J, P, T)
            np.testing.assert_allclose(c[..., [0, -1]], line[metric][..., [0, -1]], rtol=1e-4, atol=1e-5)
    same = grid.curves["same_start"]["train_loss"]
    assert np.all(np.isnan(same[:-1])) and np.all(np.isfinite(same[-1]))
    np.testing.assert_allclose(same[-1][..., 0], line["train_loss"][-1][..., 0], rtol=1e-5)
    assert np.all(np.isfinite(grid.dropout_gap))
    feat = ch.feature_grid(cfg, task, grid, seed=0)
    assert feat.barrier.shape == (len(feat.levels), J, P)
    np.testing.assert_allclose(feat.barrier[0], grid.barrier("bezier")[-1])
    table = ch.claims(ch.ConnectivityResults(grid, feat, cfg), RUN)
    assert [c.claim for c in table.claims] == list(K.TEXT.values())


def test_every_width_connecting_gives_bounds_and_strict_json():
    """A grid where every width already connects at every N (widths 4..256, N to 1024):
    the width needed is censored below at every N, so the width rows rest on bounds
    (inconclusive, with a why) and the claims file holds no NaN."""
    import json
    W = (4, 8, 16, 32, 64, 128, 256)
    rng = np.random.default_rng(0)
    bez = 0.01 + 0.01 * rng.random((3, len(W), 4))
    g = _grid(bez, bez + 2 + rng.random(bez.shape), 0.02 + 0.01 * rng.random(bez.shape),
              bez + 0.5 * rng.random(bez.shape), n_trains=(64, 256, 1024), widths=W)
    res = ch.ConnectivityResults(g, _features(0.01 + 0.01 * rng.random((3, 4, 4))), ch.PROFILES["quick"])
    m = K.measure(res)
    lo, hi = m["grows"].value
    assert np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(lo < hi)
    text = ch.claims(res, RUN).to_json()
    assert "NaN" not in text and "Infinity" not in text
    rows = {r["key"]: r for r in json.loads(text)}
    for key in ("sqrt", "grows", "features"):
        assert rows[key]["verdict"] == C.INCONCLUSIVE and "censored" in rows[key]["why"], key
    assert rows["path"]["verdict"] == C.REPRODUCED
