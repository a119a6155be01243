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
    for prof in ("smoke", "quick", "full"):
        cfg = ch.PROFILES[prof]
        assert cfg.matched_cells()
    with pytest.raises(ValueError, match="n_pairs"):
        resolve_profile(ch.PROFILES, "quick", n_pairs=1)
    with pytest.raises(ValueError, match="n_trains"):
        resolve_profile(ch.PROFILES, "quick", n_trains=(256, 64))
    with pytest.raises(ValueError, match="sqrt"):
        resolve_profile(ch.PROFILES, "quick", n_trains=(64, 128), widths=(4, 8))
    with pytest.raises(ValueError, match="widths"):
        resolve_profile(ch.PROFILES, "quick", widths=(8, 0))
    assert resolve_profile(ch.PROFILES, "quick", widths=[4, 8]).widths == (4, 8)


def test_width_needed_interpolates_in_log_width_and_censors():
    widths = [4, 8, 16, 32]
    # barrier halves... then crosses 0.1 exactly at width 8 * 2**0.5
    tol = 0.1
    b = np.array([1.0, 0.2, 0.05, 0.01])   # log-linear between 8 (0.2) and 16 (0.05)
    got = K.width_needed(widths, b, tol)
    want = 3 + (np.log(tol) - np.log(0.2)) / (np.log(0.05) - np.log(0.2))
    assert got == pytest.approx(want)
    assert np.isnan(K.width_needed(widths, [1, 1, 1, 1.0], tol))       # never reached
    assert np.isnan(K.width_needed(widths, [0.01, 0.01, 0, 0.0], tol))  # reached at once
    both = K.width_needed(widths, np.array([b, b * 10]), tol)
    assert both[0] == pytest.approx(want) and both[1] > both[0]


def _grid(bezier, line=None, weight=None, same=None, gap=None, n_trains=(64, 256), widths=(4, 8, 16, 32)):
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
    return ch.GridResult(np.array(n_trains), np.array(widths), np.linspace(0, 1, T), curves, gap)


def _features(barrier, quality=(0.6, 0.8, 1.0), widths=(4, 8, 16, 32)):
    Q, J, P = barrier.shape
    return ch.FeatureResult(["raw", "random", "trained"], np.array(quality), np.array(widths), barrier,
                            barrier * 5, np.zeros((Q, J, P, 2)), 256)


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
        np.testing.assert_allclose(K.sqrt_n_exponent(g), b_true, atol=1e-9)
    assert g.barrier("bezier").shape == (2, 4, P)


def _holds(P=3, rng=None):
    """Synthetic results where every claim of the source holds."""
    rng = rng or np.random.default_rng(0)
    w1 = 3.0 + 0.05 * rng.standard_normal(P)
    bez = np.moveaxis(np.stack([_decay(w1), _decay(w1 + 0.6 + 0.02 * rng.standard_normal(P))]), 1, 2)  # b ~ 0.3
    line = bez + 3 + 0.1 * rng.standard_normal(bez.shape)
    weight = 0.02 + 0.01 * rng.random(bez.shape)
    same = 0.5 * (line - 3)
    grid = _grid(bez, line, weight, same)
    fb = np.moveaxis(np.stack([_decay(4.5 + 0.05 * rng.standard_normal(P)),
                               _decay(3.7 + 0.05 * rng.standard_normal(P)),
                               _decay(3.0 + 0.05 * rng.standard_normal(P))]), 1, 2)
    return ch.ConnectivityResults(grid, _features(fb), ch.PROFILES["smoke"])


def _fails(P=3, rng=None):
    """Synthetic results where every claim fails."""
    rng = rng or np.random.default_rng(1)
    w1 = 3.0 + 0.05 * rng.standard_normal(P)
    bez = np.moveaxis(np.stack([_decay(w1 - 1.0), _decay(w1 + 0.4)]), 1, 2) + 1.0  # never below tol
    line = bez - 0.5 + 0.05 * rng.standard_normal(bez.shape)
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
    for key in ("path", "bend", "dropout", "share", "wm", "entezari", "same", "tradeoff"):
        assert rows[K.TEXT[key]] == C.NOT_REPRODUCED, key
    # every crossing censored (barrier >= 1 everywhere): the width-needed rows cannot decide
    for key in ("sqrt", "grows", "features"):
        assert rows[K.TEXT[key]] == C.INCONCLUSIVE, key


def test_sqrt_rule_says_not_reproduced_for_linear_growth():
    rng = np.random.default_rng(3)
    w1 = 3.0 + 0.05 * rng.standard_normal(3)
    bez = np.moveaxis(np.stack([_decay(w1, widths=(2, 4, 8, 16, 32, 64)),
                                _decay(w1 + 2.0, widths=(2, 4, 8, 16, 32, 64))]), 1, 2)   # b = 1
    g = _grid(bez, bez + 1, bez + 1, widths=(2, 4, 8, 16, 32, 64))
    assert K.RULES['sqrt'].judge(K.sqrt_n_exponent(g)).verdict == C.NOT_REPRODUCED
    assert K.RULES['grows'].judge(K.sqrt_n_exponent(g)).verdict == C.REPRODUCED


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
