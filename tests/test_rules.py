"""The one rule form: every chapter's rules declared once, calibrated from the declarations.

For every rule of every chapter (``RULES`` of each registered chapter module), at each
profile the book calibrates: the null (no effect, the estimate centred on the rule's
threshold) is called "reproduced" in at most 5 % of draws, the reversed effect too, every
verdict is reachable, and at the ``long`` profile the rule has >= 80 % power. The harness
itself is checked on rules wired wrong.
"""
import json
import math

import numpy as np
import pytest

from overparam import claims as C
from overparam.adequacy import CONVERGED, SAME_STEPS, TrainState
from overparam.book.rules import chapter_rules
from overparam.calibration import (MAX_AGAINST_RATE, MAX_NULL_OFFSET, MAX_NULL_RATE, TARGET_POWER,
                                   _builtin_many, calibrate_rule, judge_many, normal, normal_pair, replicates_of)
from overparam.config import Run

BOOKS = chapter_rules()
CASES = [(cr.name, profile, rule) for cr in BOOKS for profile in ("quick", "long") if profile in cr.profiles
         for rule in cr.book.calibrated]
_BY_NAME = {cr.name: cr for cr in BOOKS}


def _book(*rules):
    return C.RuleBook(list(rules), replicates=lambda cfg: cfg)


def _sim(mean0, eff, sd=1.0):
    return C.Sim(normal(mean0, sd), normal(mean0 + eff, sd), normal(mean0 - eff, sd), "test")


# --------------------------------------------------------------------------- the harness


def test_harness_catches_a_rule_that_judges_on_the_point_estimate():
    def sloppy(m):
        e = C.mean_of(m)
        return C.Judgement(C.REPRODUCED if e.mean > 0 else C.NOT_REPRODUCED, e)
    r = C.Rule("sloppy", "x > 0", "test", "mean > 0", C.Custom(sloppy, (0.0,)), _sim(0.0, 2.0))
    cal = calibrate_rule(r, _book(r), 5, draws=400)
    assert cal.null_rate > 0.3 and C.INCONCLUSIVE in cal.unreachable


def test_harness_catches_a_rule_that_reads_the_wrong_side():
    """A claim "above" judged with Below: the reversed effect is called reproduced."""
    r = C.Rule("swapped", "x > 0", "test", "CI below 0 (wrong)", C.Below(0.0), _sim(0.0, 2.0))
    cal = calibrate_rule(r, _book(r), 5, draws=400)
    assert cal.against_rate > MAX_AGAINST_RATE


def test_harness_catches_a_null_placed_away_from_the_threshold():
    r = C.Rule("away", "x > 0", "test", "CI above 0", C.Above(0.0), _sim(-1.0, 3.0))
    cal = calibrate_rule(r, _book(r), 5, draws=400)
    assert cal.null_offset > MAX_NULL_OFFSET
    good = C.Rule("good", "x > 0", "test", "CI above 0", C.Above(0.0), _sim(0.0, 2.0))
    cal = calibrate_rule(good, _book(good), 5, draws=2000)
    assert cal.null_offset <= MAX_NULL_OFFSET and cal.null_rate <= MAX_NULL_RATE
    assert cal.against_rate <= MAX_AGAINST_RATE and cal.power > 0.8 and cal.unreachable == []


def test_welch_estimator_equals_scipys_welch_interval():
    from scipy import stats
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 1.0, 7), rng.normal(0.2, 2.0, 11)
    e = C.welch((a, b))
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (e.low, e.high) == pytest.approx((ci.low, ci.high), rel=1e-10)
    assert e.mean == pytest.approx(a.mean() - b.mean())


def test_paired_and_proportion_estimators():
    a, b = np.array([1.0, 2.0, 4.0]), np.array([0.5, 1.0, 1.5])
    assert C.paired((a, b)).mean == pytest.approx(np.mean(a - b))
    assert C.paired((a, b)).low == pytest.approx(C.mean_of(a - b).low)
    p = C.proportion(np.zeros((4, 8), bool))
    assert p.mean == 0 and p.low <= 0 < p.high          # never zero width


# --------------------------------------------------------------------------- the form


def _run():
    return Run(profile="quick", device="cpu", seed=3)


def test_a_rulebook_judges_by_key_and_lists_what_it_did_not_measure():
    a = C.Rule("a", "a claim about {what}", "doc A", "CI above 0 ({what})", C.Above(0.0), _sim(0.0, 2.0))
    b = C.Rule("b", "b claim", "doc B", "CI below 0", C.Below(0.0), _sim(0.0, -2.0))
    x = C.Rule("x", "closed form", "doc C", "the formula", exact_because="a formula of the profile")
    book = C.RuleBook([a, b, x], replicates=lambda cfg: 5, not_tested=[("c claim", "no data")])
    t = book.table({"a": C.Measured([1.0, 1.2, 0.9, 1.1], {"what": "w"}), "x": 0.25}, _run())
    keys = [c.key for c in t.claims]
    assert keys == ["a", "x"]
    assert t.claims[0].claim == "a claim about w" and t.claims[0].verdict == C.REPRODUCED
    assert t.claims[1].verdict == C.EXACT and t.claims[1].measured == 0.25
    assert ("b claim", "switched off in this profile") in t.not_tested and ("c claim", "no data") in t.not_tested
    rows = json.loads(t.to_json())
    assert [r["key"] for r in rows] == ["a", "x"] and rows[0]["profile"] == "quick" and rows[0]["seed"] == 3
    with pytest.raises(KeyError):
        book.table({"nope": [1.0]}, _run())
    with pytest.raises(ValueError):
        C.RuleBook([a, a], replicates=lambda cfg: 5)


def test_a_rule_off_at_a_profile_is_listed_with_its_reason_not_judged():
    a = C.Rule("a", "a claim", "doc", "CI above 0", C.Above(0.0), _sim(0.0, 2.0), off_at=("quick",),
               off_reason="no power within the budget")
    t = C.RuleBook([a], replicates=lambda cfg: 5).table({"a": [1.0, 1.2, 0.9]}, _run())
    assert t.claims == [] and ("a claim", "not published at quick: no power within the budget") in t.not_tested
    with pytest.raises(ValueError, match="off_reason"):
        C.Rule("b", "b", "doc", "CI above 0", C.Above(0.0), _sim(0.0, 2.0), off_at=("long",))


def test_claims_files_are_strict_json_with_null_and_a_reason():
    a = C.Rule("a", "a", "doc", "CI above 0", C.Above(0.0), _sim(0.0, 2.0))
    t = C.RuleBook([a], replicates=lambda cfg: 5).table({"a": [np.nan, 1.0]}, _run())
    text = t.to_json()
    assert "NaN" not in text
    row = json.loads(text)[0]
    assert row["verdict"] == C.INCONCLUSIVE and row["ci_low"] is None and row["why"]


def test_a_zero_width_interval_is_never_a_verdict():
    a = C.Rule("a", "a", "doc", "CI above 0", C.Above(0.0), _sim(0.0, 2.0))
    row = C.RuleBook([a], replicates=lambda cfg: 5).table({"a": [0.375] * 4}, _run()).claims[0]
    assert row.verdict == C.INCONCLUSIVE and "zero-width" in row.why


def _state(steps, met, err=0.0):
    n = len(steps)
    return TrainState(np.array(steps), np.full(n, 0.1), np.full(n, err), np.array(met), "plateau")


def test_an_under_trained_arm_makes_the_verdict_inconclusive_and_says_which():
    r = C.Rule("r", "ticket beats re-init", "doc", "CI above 0", C.Above(0.0, C.paired), _sim(0.0, 2.0),
               footing=CONVERGED)
    book = C.RuleBook([r], replicates=lambda cfg: 4)
    data = (np.array([1.0, 1.1, 1.2, 1.0]), np.array([0.0, 0.1, 0.0, 0.2]))   # clearly above
    ok = book.table({"r": C.Measured(data, arms={"ticket": _state([100] * 4, [True] * 4),
                                                 "reinit": _state([100] * 4, [True] * 4)})}).claims[0]
    assert ok.verdict == C.REPRODUCED and not ok.why
    bad = book.table({"r": C.Measured((data[1], data[0]), arms={
        "ticket": _state([100] * 4, [True] * 4), "reinit": _state([100] * 4, [True, False, False, True])})}).claims[0]
    assert bad.verdict == C.INCONCLUSIVE and bad.why.startswith(C.UNDER_TRAINED) and "reinit" in bad.why
    assert C.shown_verdict(bad.verdict, bad.why) == "inconclusive: under-trained"
    s = C.Rule("s", "same steps", "doc", "CI above 0", C.Above(0.0, C.paired), _sim(0.0, 2.0), footing=SAME_STEPS)
    row = C.RuleBook([s], replicates=lambda cfg: 4).table({"s": C.Measured(data, arms={
        "a": _state([100] * 4, [True] * 4), "b": _state([60] * 4, [True] * 4)})}).claims[0]
    assert row.verdict == C.INCONCLUSIVE and "same steps" in row.why


# --------------------------------------------------------------------------- every chapter


def test_every_registered_chapter_declares_its_rules_once():
    assert BOOKS, "no chapter declares RULES"
    for cr in BOOKS:
        assert len({r.key for r in cr.book}) == len(cr.book)
        assert all(r.source and "issue" not in r.source.lower() for r in cr.book), cr.name


@pytest.mark.parametrize("chapter, profile, rule", CASES, ids=[f"{c}:{p}:{r.key}" for c, p, r in CASES])
def test_every_rule_is_calibrated(chapter, profile, rule):
    cr = _BY_NAME[chapter]
    cal = calibrate_rule(rule, cr.book, cr.profiles[profile], chapter, profile, draws=1000)
    assert cal.null_rate <= MAX_NULL_RATE, f"null rate {cal.null_rate:.1%}"
    assert cal.against_rate <= MAX_AGAINST_RATE, f"reversed effect called reproduced {cal.against_rate:.1%}"
    assert cal.null_offset <= MAX_NULL_OFFSET, (
        f"the null sits {cal.null_offset:.2f} sd from the rule's threshold {rule.judge.edges}")
    assert cal.unreachable == [], f"never says {cal.unreachable}"
    if profile == "long" and profile not in rule.off_at:
        assert cal.power >= TARGET_POWER, f"power {cal.power:.0%} at long ({cal.n} replicates)"


def _has_fast_path(rule) -> bool:
    return callable(getattr(rule.judge, "many", None)) or type(rule.judge) in (C.Above, C.Below, C.Near, C.AllOf)


FAST = [c for c in CASES if _has_fast_path(c[2])]


@pytest.mark.parametrize("chapter, profile, rule", FAST, ids=[f"{c}:{p}:{r.key}" for c, p, r in FAST])
def test_judging_many_draws_at_once_gives_each_draws_own_verdict(chapter, profile, rule):
    """The calibration judges a kind's draws together (a judge's ``many``, the rule form's
    array path): the same verdicts and estimates, bit for bit, as one call per draw."""
    cr = _BY_NAME[chapter]
    cfg = cr.profiles[profile]
    n = replicates_of(rule, cr.book, cfg)
    for kind in ("null", "effect", "against"):
        rng = np.random.default_rng(7)
        ms = [getattr(rule.sim, kind)(rng, n, cfg) for _ in range(40)]
        verdicts, means = judge_many(rule.judge, ms)
        one = [rule.judge(m) for m in ms]
        assert verdicts == [j.verdict for j in one], kind
        np.testing.assert_array_equal(means, [j.estimate.mean for j in one], err_msg=kind)


def test_the_array_path_covers_every_estimate_and_falls_back_where_it_cannot():
    """Above / Below / Near on mean_of, paired, welch and proportion, across the whole range
    of verdicts (NaN, one replicate, zero spread included); ragged data and other estimators
    fall back to one call per draw."""
    rng = np.random.default_rng(3)
    one = [rng.normal(rng.choice([-2.0, 0.0, 2.0]), 1.0, 6) for _ in range(300)]
    one[0][2] = np.nan
    one[1][:] = 0.5
    pairs = [(a, rng.normal(0.0, 1.0, 6)) for a in one]
    cells = [rng.random((40, 50)) < p for p in rng.uniform(0, 0.2, 300)]
    cases = [(C.Above(0.0), one), (C.Below(0.5), one), (C.Near(0.0, 1.0), one), (C.Above(0.0, C.paired), pairs),
             (C.Below(0.0, C.welch), pairs), (C.Near(2.0, 2.0, C.welch), pairs), (C.Below(0.1, C.proportion), cells),
             (C.Above(0.0), [x[:1] for x in one]),
             (C.AllOf((C.Above(0.0), C.Below(0.0, C.welch)), shown=1), list(zip(one, pairs)))]
    for judge, ms in cases:
        assert _builtin_many(judge, ms) is not None
        verdicts, means = judge_many(judge, ms)
        js = [judge(m) for m in ms]
        assert verdicts == [j.verdict for j in js], judge
        np.testing.assert_array_equal(means, [j.estimate.mean for j in js])
        assert len(set(verdicts)) >= (1 if len(ms[0]) == 1 else 3), judge
    assert _builtin_many(C.Above(0.0), [np.zeros(3), np.zeros(4)]) is None
    assert _builtin_many(C.Above(0.0, lambda m: C.mean_of(m)), one) is None
    calls = []

    def many(ms):
        calls.append(len(ms))
        return [C.INCONCLUSIVE] * len(ms), np.zeros(len(ms))
    assert judge_many(C.Custom(lambda m: None, (0.0,), many=many), one)[0] == [C.INCONCLUSIVE] * 300
    assert calls == [300]


def test_a_single_replicate_or_a_nan_is_inconclusive_never_reproduced():
    judge = C.Above(0.0)
    assert judge([5.0]).verdict == C.INCONCLUSIVE
    assert judge([1.0, np.nan, 2.0]).verdict == C.INCONCLUSIVE


def test_replicates_for_power_matches_the_t_test_power():
    """Effect 1 sd, one-sided 2.5 % t-interval: 80 % power needs about 10 replicates."""
    from scipy import stats

    from overparam.calibration import power_at, replicates_for_power

    r = C.Rule("r", "x > 0", "test", "CI above 0", C.Above(0.0), _sim(0.0, 1.0))
    book = C.RuleBook([r], replicates=lambda cfg: cfg)
    n = replicates_for_power(r, book, lambda n: n, ns=range(2, 30), draws=2000)

    def exact(k):   # noncentral t power of the one-sided test at level 2.5 %
        return 1 - stats.nct.cdf(stats.t.ppf(0.975, k - 1), k - 1, np.sqrt(k))
    expected = next(k for k in range(2, 30) if exact(k) >= 0.8)
    assert abs(n - expected) <= 1
    assert power_at(r, book, 4, draws=2000) < power_at(r, book, 16, draws=2000)
