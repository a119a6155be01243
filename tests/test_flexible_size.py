"""Chapter 5 (flexible size): profiles, bad parameters, the smoke run end to end, every row of
the claims table, and rules that can pass and fail."""
import dataclasses
import json

import numpy as np
import pytest

from overparam import claims as C
from overparam import config
from overparam.chapters import flexible_size as fx
import importlib

FC = importlib.import_module("overparam.chapters.flexible_size.verdicts")


def test_profiles_are_valid_and_full_is_sized_for_a_gpu():
    for name, cfg in fx.PROFILES.items():
        assert isinstance(cfg, fx.FlexConfig), name
    full, quick = fx.PROFILES["full"], fx.PROFILES["quick"]
    assert max(full.starts) == 4096 and full.n_seeds > quick.n_seeds and full.steps > quick.steps
    # every profile gives its sizes room to travel from the largest start down to 0
    assert full.bound() >= max(full.starts) / 2
    assert quick.room > quick.bound()


@pytest.mark.parametrize("kw, name", [
    (dict(starts=(-16, 32, 64)), "starts"), (dict(start=-1), "start"), (dict(k=0.0), "k"),
    (dict(k=-1.0), "k"), (dict(penalties=("lots",)), "penalties"),
    (dict(penalties=(float("nan"),)), "penalties"), (dict(sweep_penalty="x"), "sweep_penalty"),
    (dict(l2=-1.0), "l2"), (dict(n_seeds=1), "n_seeds"), (dict(tasks=("easy",)), "tasks"),
    (dict(pretrain=(10, 20)), "pretrain"), (dict(starts=(64, 32, 16)), "starts")])
def test_bad_parameters_raise_one_clear_error_before_training(kw, name):
    with pytest.raises(ValueError, match=name):
        config.resolve_profile(fx.PROFILES, "smoke", **kw)


@pytest.fixture(scope="module")
def smoke():
    cfg = fx.PROFILES["smoke"]
    num = fx.numerics(cfg)
    sw = fx.start_sweep(cfg, seed=0)
    grids = {t: fx.penalty_grid(cfg, t, seed=0) for t in cfg.tasks}
    gr = fx.growth(cfg, seed=0)
    pt = fx.pretraining(cfg, seed=0)
    return fx.FlexResults(cfg, num, sw, grids, gr, pt)


def test_smoke_results_have_their_shapes(smoke):
    cfg = smoke.cfg
    S, N = cfg.n_seeds, len(cfg.starts)
    assert smoke.starts.size.shape == (2, S, N)
    assert smoke.starts.traces.shape == (2, S, N, cfg.steps + 1)
    # every size starts at its start size (the Erratum's bug ignored it)
    x0_start = smoke.starts.traces[..., 0]
    np.testing.assert_allclose(np.log2(x0_start), np.log2(np.broadcast_to(cfg.starts, (2, S, N))), atol=0.05)
    g = smoke.grids["easy"]
    assert g.size.shape == (len(cfg.penalties), 2, S) and g.static_acc.shape == (S, len(cfg.static_widths))
    assert smoke.pretraining.size.shape == (len(cfg.pretrain), S, cfg.steps + 1)
    assert smoke.numerics.naive_nan == 1.0 and smoke.numerics.stable_nan == 0.0
    # the size never moved faster than Adam's worst case allows
    assert smoke.starts.max_step.max() <= 3.2


def test_every_row_of_the_claims_table(smoke):
    run = config.Run("smoke", config.resolve_device("cpu"), 0)
    table = fx.claims(smoke, run)
    measured = fx.measure(smoke)
    assert [c.key for c in table.claims] == [r.key for r in fx.RULES if r.key in measured]
    assert len(table.claims) == 23 and table.not_tested
    for c in table.claims:
        assert c.verdict in C.VERDICTS and c.profile == "smoke" and c.claim and c.rule
        assert "{" not in c.claim and "{" not in c.rule
        if c.verdict == C.EXACT:
            assert c.ci_low == c.measured == c.ci_high
        elif c.verdict in (C.REPRODUCED, C.NOT_REPRODUCED):
            assert c.ci_low <= c.measured <= c.ci_high
    assert table.claims[0].measured == 1.0           # the journal's NaN gradients
    assert table.claims[1].measured < 1e-6           # closed form = numerical integral
    json.loads(table.to_json())


def _verdict(key, m):
    return fx.RULES[key].judge(m).verdict


def test_the_size_rules_can_pass_and_fail():
    same = np.array([0.02, -0.03, 0.01, 0.0])
    stays = np.array([0.9, 0.95, 1.0, 0.92])
    assert _verdict("same_size", same) == C.REPRODUCED
    assert _verdict("same_size", stays) == C.NOT_REPRODUCED
    assert _verdict("erratum", (stays, np.full(4, 0.3) + [0, .01, .02, .03])) == C.REPRODUCED
    assert _verdict("erratum", (same, np.array([-0.5, -0.4, -0.45, -0.5]))) == C.NOT_REPRODUCED
    # traces sampled at steps 0..8: logarithmic growth (equal per doubling) vs linear growth
    steps = np.arange(9.0)
    logtr = np.stack([10 * np.log2(1 + steps) + e for e in (0, 0.3, -0.2)])
    lintr = np.stack([5 * steps + e for e in (0, 0.3, -0.2)])
    assert _verdict("log_growth", FC.doubling_ratio(logtr)) == C.REPRODUCED
    assert _verdict("log_growth", FC.doubling_ratio(lintr)) == C.NOT_REPRODUCED
    flat = np.stack([np.full(9, 50.0) + e for e in (0, 0.3, -0.2)])
    assert _verdict("log_growth", FC.doubling_ratio(flat)) != C.REPRODUCED


def test_best_static_width_is_picked_on_the_other_seeds():
    # seed 0 alone peaks at width 0; the others at width 2: seed 0 is measured at width 2
    static = np.array([[0.9, 0.1, 0.5], [0.1, 0.2, 0.8], [0.1, 0.2, 0.7]])
    np.testing.assert_allclose(FC.loo_best(static), [0.5, 0.8, 0.7])


def test_every_rule_is_declared_once_with_a_source_and_a_calibration():
    keys = [r.key for r in fx.RULES]
    assert len(keys) == len(set(keys)) == 25
    for r in fx.RULES:
        assert r.source and "issue" not in r.source.lower()
        assert r.exact or r.sim is not None
    assert [r.key for r in fx.RULES if r.exact] == ["naive_nan", "closed_form"]
